//! Table tests of the pressure step: DESIGN's order, the never-list, budgets per run,
//! floors and headroom per filesystem, slimming before deleting, and orders checked again
//! against a fresh plan.

use std::num::NonZeroU64;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;
use crate::checkpoint::{Checkpoint, MetricObservation, Protection, Slim};
use crate::plan::tests::{ck, now};
use crate::plan::{plan, Decision, Plan, Reason};
use crate::policy::{BestRule, Mode, Policy};

const MIB: u64 = 1 << 20;
const HOUR: u64 = 3600;

/// A complete checkpoint of `mib` MiB at `step`, completed `age` seconds ago.
fn sized(step: u64, age: u64, mib: u64) -> Checkpoint {
    let mut c = ck(&format!("checkpoint-{step}"), step, age);
    let f = c.fingerprint.as_mut().unwrap();
    f.bytes = mib * MIB;
    f.files = 4;
    c
}

/// Steps 100..=N*100, one an hour, each `mib` MiB; the newest completed an hour ago.
fn run_of(n: u64, mib: u64) -> Vec<Checkpoint> {
    (1..=n)
        .map(|i| sized(i * 100, (n + 1 - i) * HOUR, mib))
        .collect()
}

fn input(run: &Path, plan: &Plan) -> RunSummary {
    RunSummary::new(run, plan, false)
}

fn slimming(run: &Path, plan: &Plan) -> RunSummary {
    RunSummary::new(run, plan, true)
}

fn data(min_free: Option<Floor>, headroom: bool) -> FilesystemTarget {
    FilesystemTarget {
        path: PathBuf::from("/data"),
        min_free,
        min_free_inodes: None,
        headroom,
    }
}

/// A filesystem of 1000 MiB with `free` MiB free and plenty of inodes.
fn fs_state(free: u64) -> FsState {
    FsState {
        total_bytes: 1000 * MIB,
        free_bytes: free * MIB,
        total_inodes: 100_000,
        free_inodes: 90_000,
    }
}

fn ordered(relief: &Relief) -> Vec<(usize, &str, Action)> {
    relief
        .orders
        .iter()
        .map(|o| (o.run, o.checkpoint.as_str(), o.action))
        .collect()
}

fn keep_within_and_last() -> Policy {
    Policy {
        keep_within: Some(Duration::from_secs(3 * HOUR + 60)),
        ..Policy::keep_last(6)
    }
}

#[test]
fn a_met_floor_orders_nothing() {
    let p = plan(&run_of(5, 10), &Policy::keep_last(5), now());
    let target = data(Some(Floor::Percent(10.0)), false);
    let relief = relieve(
        &[input(Path::new("/data/a"), &p)],
        Some(Filesystem {
            target: &target,
            state: fs_state(100),
            coming: (0, 0),
        }),
        now(),
    );
    assert!(relief.orders.is_empty());
    assert!(relief.unmet.is_none());
    assert!(relief.before.is_met());
    assert_eq!(relief.before.want_bytes, 100 * MIB);
}

#[test]
fn a_crossed_floor_deletes_in_designs_order_and_stops_when_met() {
    // Steps 100..800, 10 MiB each. keep_last 6 keeps 300..800; keep_within 3h keeps the
    // newest three (600, 700, 800); 100 and 200 are the rules' own deletions.
    let p = plan(&run_of(8, 10), &keep_within_and_last(), now());
    assert_eq!(
        p.deletions().map(|v| v.name.as_str()).collect::<Vec<_>>(),
        ["checkpoint-100", "checkpoint-200"]
    );
    // The floor is 100 MiB; 55 MiB are free, 20 come from the rules' deletions: 25 missing,
    // so three of the oldest `last`-only checkpoints go (300, 400, 500), oldest first.
    let target = data(Some(Floor::Amount(100 * MIB)), false);
    let relief = relieve(
        &[input(Path::new("/data/a"), &p)],
        Some(Filesystem {
            target: &target,
            state: fs_state(55),
            coming: (0, 0),
        }),
        now(),
    );
    assert_eq!(
        ordered(&relief),
        [
            (0, "checkpoint-300", Action::Delete),
            (0, "checkpoint-400", Action::Delete),
            (0, "checkpoint-500", Action::Delete),
        ]
    );
    assert_eq!(relief.before.bytes, 25 * MIB);
    assert!(relief.unmet.is_none());
    let detail = &relief.orders[0].detail;
    assert!(
        detail.starts_with("min_free 100.0 MiB on /data: 55.0 MiB free (5.5%)"),
        "{detail}"
    );
    assert!(
        detail.ends_with("oldest `last` beyond the newest"),
        "{detail}"
    );
}

#[test]
fn within_only_goes_before_last_whatever_the_age() {
    // keep_last 2 keeps 400 and 500; keep_within keeps everything: 100..300 are kept only by
    // `within` and go first, even though a `last` one is older than none of them.
    let policy = Policy {
        keep_within: Some(Duration::from_secs(100 * HOUR)),
        ..Policy::keep_last(2)
    };
    let p = plan(&run_of(5, 10), &policy, now());
    let target = data(Some(Floor::Amount(100 * MIB)), false);
    let relief = relieve(
        &[input(Path::new("/data/a"), &p)],
        Some(Filesystem {
            target: &target,
            state: fs_state(60),
            coming: (0, 0),
        }),
        now(),
    );
    let steps: Vec<Step> = relief.orders.iter().map(|o| o.step).collect();
    assert_eq!(
        ordered(&relief),
        [
            (0, "checkpoint-100", Action::Delete),
            (0, "checkpoint-200", Action::Delete),
            (0, "checkpoint-300", Action::Delete),
            (0, "checkpoint-400", Action::Delete),
        ]
    );
    assert_eq!(
        steps,
        [Step::Window, Step::Window, Step::Window, Step::Last]
    );
}

#[test]
fn the_never_list_stays_and_an_unmet_floor_says_what_is_protected() {
    let mut cps = run_of(6, 10);
    cps[0].protections.push(Protection::Pinned);
    cps[1]
        .protections
        .push(Protection::Pointer("latest".to_owned()));
    for (c, v) in cps.iter_mut().zip([0.5, 0.4, 0.1, 0.3, 0.6, 0.7]) {
        c.metric = MetricObservation::Final(Some(v));
    }
    // In progress: never counted, never deleted.
    let mut writing = sized(700, 0, 10);
    writing.stable_since = Some(now());
    cps.push(writing);
    let policy = Policy {
        keep_best: Some(BestRule {
            count: NonZeroU64::new(2).unwrap(),
            metric: "loss".to_owned(),
            mode: Mode::Min,
        }),
        ..Policy::keep_last(6)
    };
    let p = plan(&cps, &policy, now());
    assert_eq!(p.best.as_deref(), Some("checkpoint-300"));
    let target = data(Some(Floor::Percent(50.0)), false);
    let relief = relieve(
        &[input(Path::new("/data/a"), &p)],
        Some(Filesystem {
            target: &target,
            state: fs_state(10),
            coming: (0, 0),
        }),
        now(),
    );
    // Only 400 (kept by `last` and rank 2 by `best`) and 500 (`last`) may go: 100 is pinned,
    // 200 a pointer target, 300 the single best, 600 the newest complete, 700 in progress.
    assert_eq!(
        ordered(&relief),
        [
            (0, "checkpoint-500", Action::Delete),
            (0, "checkpoint-400", Action::Delete),
        ]
    );
    let unmet = relief.unmet.expect("500 MiB cannot be found");
    assert_eq!(unmet.missing.bytes, (500 - 10 - 20) * MIB);
    assert_eq!(unmet.protected_count, 5);
    assert_eq!(unmet.protected_bytes, 50 * MIB);
}

#[test]
fn headroom_is_the_next_save_of_each_active_run() {
    // Two active runs (20 and 30 MiB saves) and an idle one (completed 10 hours ago, over
    // stale_after 6h): headroom 50 MiB. 40 MiB are free, so 10 MiB must come free.
    let (a, b, idle) = (run_of(3, 20), run_of(3, 30), {
        let mut old = run_of(3, 40);
        for c in &mut old {
            let f = c.fingerprint.as_mut().unwrap();
            f.newest_mtime -= Duration::from_secs(10 * HOUR);
        }
        old
    });
    let policy = Policy::keep_last(3);
    let plans = [
        plan(&a, &policy, now()),
        plan(&b, &policy, now()),
        plan(&idle, &policy, now()),
    ];
    let paths = [
        Path::new("/data/a"),
        Path::new("/data/b"),
        Path::new("/data/idle"),
    ];
    let inputs: Vec<RunSummary> = paths.iter().zip(&plans).map(|(r, p)| input(r, p)).collect();
    let target = data(None, true);
    let relief = relieve(
        &inputs,
        Some(Filesystem {
            target: &target,
            state: fs_state(40),
            coming: (0, 0),
        }),
        now(),
    );
    assert_eq!(relief.before.want_bytes, 50 * MIB);
    // The oldest `last` across all runs: the idle run's first (completed 13 hours ago).
    assert_eq!(ordered(&relief), [(2, "checkpoint-100", Action::Delete)]);
    assert!(relief.orders[0]
        .detail
        .starts_with("headroom 50.0 MiB for the next saves on /data"));
}

#[test]
fn headroom_counts_only_what_the_save_in_progress_has_still_to_write() {
    // One active run of 20 MiB saves; the next save has written 15 MiB already (they are
    // gone from the 10 MiB free). Headroom is the 5 MiB still to come: met, nothing goes.
    // An older incomplete checkpoint (a crashed save) does not count as in progress.
    let mut cps = run_of(3, 20);
    let mut crashed = sized(150, 2 * HOUR + 60, 7);
    crashed.writers = crate::checkpoint::Writers::Checked { open: true };
    cps.push(crashed);
    let mut writing = sized(400, 0, 15);
    writing.stable_since = Some(now());
    cps.push(writing);
    let p = plan(&cps, &Policy::keep_last(3), now());
    let run = input(Path::new("/data/a"), &p);
    assert_eq!(run.in_progress(), 15 * MIB);
    assert_eq!(run.next_save(now()), 5 * MIB);
    let target = data(None, true);
    let relieved = |free| {
        relieve(
            std::slice::from_ref(&run),
            Some(Filesystem {
                target: &target,
                state: fs_state(free),
                coming: (0, 0),
            }),
            now(),
        )
    };
    let relief = relieved(10);
    assert!(relief.orders.is_empty(), "{:?}", relief.orders);
    assert_eq!(relief.before.want_bytes, 5 * MIB);
    // With 3 MiB free, 2 MiB are missing: the oldest `last` goes.
    assert_eq!(
        ordered(&relieved(3)),
        [(0, "checkpoint-100", Action::Delete)]
    );
}

#[test]
fn only_the_save_being_written_counts_as_in_progress_not_every_incomplete_since_the_newest() {
    // A save of 20 MiB died half-way 30 minutes ago (checkpoint-400: 15 MiB, its marker
    // never written); the save under way since has written 2 MiB. Only the latter is the
    // next save: 18 MiB are still to come, not 20 - (15 + 2) = 3.
    let mut cps = run_of(3, 20);
    let mut died = sized(400, 30 * 60, 15);
    died.marker = crate::checkpoint::Marker::Missing("no marker".into());
    cps.push(died);
    let mut writing = sized(410, 0, 2);
    writing.stable_since = Some(now());
    cps.push(writing);
    let p = plan(&cps, &Policy::keep_last(3), now());
    let run = input(Path::new("/data/a"), &p);
    assert_eq!(run.in_progress(), 2 * MIB);
    assert_eq!(run.next_save(now()), 18 * MIB);
}

#[test]
fn max_bytes_on_one_run_leaves_the_others_alone() {
    let policy = Policy::keep_last(5);
    let (a, b) = (
        plan(&run_of(5, 10), &policy, now()),
        plan(&run_of(5, 10), &policy, now()),
    );
    let mut limited = input(Path::new("/data/a"), &a);
    limited.max_bytes = Some(25 * MIB);
    let relief = relieve(&[limited, input(Path::new("/data/b"), &b)], None, now());
    assert_eq!(
        ordered(&relief),
        [
            (0, "checkpoint-100", Action::Delete),
            (0, "checkpoint-200", Action::Delete),
            (0, "checkpoint-300", Action::Delete),
        ]
    );
    assert!(relief.orders[0]
        .detail
        .starts_with("max_bytes 25.0 MiB on /data/a: it holds 50.0 MiB"));
    assert!(relief.budgets_unmet.is_empty());
}

#[test]
fn max_bytes_counts_checkpoints_in_progress_and_says_when_it_cannot_be_met() {
    let mut cps = run_of(2, 10);
    let mut writing = sized(300, 0, 30);
    writing.stable_since = Some(now());
    cps.push(writing);
    let p = plan(&cps, &Policy::keep_last(2), now());
    let mut limited = input(Path::new("/data/a"), &p);
    limited.max_bytes = Some(15 * MIB);
    let relief = relieve(&[limited], None, now());
    // 50 MiB held; 100 goes (`last` beyond the newest), 200 is the newest complete.
    assert_eq!(ordered(&relief), [(0, "checkpoint-100", Action::Delete)]);
    let (run, unmet) = &relief.budgets_unmet[0];
    assert_eq!(*run, 0);
    assert_eq!(unmet.missing.bytes, 25 * MIB);
}

#[test]
fn pressure_slims_before_it_deletes() {
    let mut cps = run_of(4, 10);
    for c in &mut cps {
        c.slim = Slim::Whole {
            bytes: 8 * MIB,
            files: 3,
        };
    }
    let policy = Policy {
        slim_after: Some(3),
        ..Policy::keep_last(4)
    };
    let p = plan(&cps, &policy, now());
    let run = slimming(Path::new("/data/a"), &p);
    let target = data(Some(Floor::Amount(100 * MIB)), false);
    let relief = relieve(
        &[run],
        Some(Filesystem {
            target: &target,
            state: fs_state(80),
            coming: (0, 0),
        }),
        now(),
    );
    // 20 MiB missing. slim_after 3 already slims 100 (8 MiB, counted as coming free);
    // pressure slims 200 and 300 for the other 12 (the newest is never slimmed) and deletes
    // nothing.
    assert_eq!(
        p.verdict("checkpoint-100").unwrap().decision,
        Decision::Slim
    );
    assert_eq!(
        ordered(&relief),
        [
            (0, "checkpoint-200", Action::Slim),
            (0, "checkpoint-300", Action::Slim),
        ]
    );
}

#[test]
fn a_deletion_after_a_slim_counts_only_what_the_slim_left() {
    let mut cps = run_of(3, 10);
    for c in &mut cps {
        c.slim = Slim::Whole {
            bytes: 8 * MIB,
            files: 3,
        };
    }
    let p = plan(&cps, &Policy::keep_last(3), now());
    let run = slimming(Path::new("/data/a"), &p);
    let target = data(Some(Floor::Amount(100 * MIB)), false);
    let relief = relieve(
        &[run],
        Some(Filesystem {
            target: &target,
            state: fs_state(80),
            coming: (0, 0),
        }),
        now(),
    );
    assert_eq!(
        ordered(&relief),
        [
            (0, "checkpoint-100", Action::Slim),
            (0, "checkpoint-200", Action::Slim),
            (0, "checkpoint-100", Action::Delete),
            (0, "checkpoint-200", Action::Delete),
        ]
    );
    // 20 MiB missing: the slims free 16, each deletion after them only the 2 they left.
    assert_eq!(relief.orders[2].bytes, 2 * MIB);
    assert_eq!(relief.orders[3].bytes, 2 * MIB);
}

#[test]
fn deleting_what_the_rules_slim_counts_only_what_the_slim_leaves() {
    // slim_after 2 slims 100: 8 of its 10 MiB, counted as coming free.
    let mut cps = run_of(3, 10);
    for c in &mut cps {
        c.slim = Slim::Whole {
            bytes: 8 * MIB,
            files: 3,
        };
    }
    let policy = Policy {
        slim_after: Some(2),
        ..Policy::keep_last(3)
    };
    let p = plan(&cps, &policy, now());
    assert_eq!(
        p.verdict("checkpoint-100").unwrap().decision,
        Decision::Slim
    );
    let run = slimming(Path::new("/data/a"), &p);
    let target = data(Some(Floor::Amount(100 * MIB)), false);
    let relief = relieve(
        &[run],
        Some(Filesystem {
            target: &target,
            state: fs_state(82),
            coming: (0, 0),
        }),
        now(),
    );
    // 18 MiB missing: 8 (the rule's slim of 100) + 8 (pressure slims 200) + 2 (deleting
    // 100 frees only what its slim leaves).
    assert_eq!(
        ordered(&relief),
        [
            (0, "checkpoint-200", Action::Slim),
            (0, "checkpoint-100", Action::Delete),
        ]
    );
    assert_eq!(relief.orders[1].bytes, 2 * MIB);
    assert!(relief.unmet.is_none());
}

#[test]
fn an_inode_floor_is_met_like_a_byte_floor() {
    let p = plan(&run_of(4, 1), &Policy::keep_last(4), now());
    let target = FilesystemTarget {
        min_free_inodes: Some(Floor::Amount(90_007)),
        ..data(None, false)
    };
    let relief = relieve(
        &[input(Path::new("/data/a"), &p)],
        Some(Filesystem {
            target: &target,
            state: fs_state(900),
            coming: (0, 0),
        }),
        now(),
    );
    // Each checkpoint is 4 files and its directory: two of them free the 7 inodes missing.
    assert_eq!(relief.orders.len(), 2);
    assert_eq!(relief.before.inodes, 7);
}

#[test]
fn rule_deletions_still_to_come_count_only_when_pending() {
    let p = plan(&run_of(5, 10), &Policy::keep_last(3), now());
    let target = data(Some(Floor::Amount(100 * MIB)), false);
    let fs = Filesystem {
        target: &target,
        state: fs_state(85),
        coming: (0, 0),
    };
    let pending = input(Path::new("/data/a"), &p);
    assert!(relieve(std::slice::from_ref(&pending), Some(fs), now())
        .orders
        .is_empty());
    let mut done = pending;
    done.plan_pending = false;
    assert_eq!(relieve(&[done], Some(fs), now()).orders.len(), 2);
}

#[test]
fn apply_turns_orders_into_pressure_decisions_and_drops_stale_ones() {
    let p = plan(&run_of(5, 10), &Policy::keep_last(5), now());
    let order = |name: &str, action, step| Order {
        run: 0,
        checkpoint: name.to_owned(),
        action,
        step,
        bytes: 10 * MIB,
        inodes: 5,
        detail: "min_free 10% on /data: 5.0% free, oldest `last` beyond the newest".to_owned(),
    };
    let orders = [
        order("checkpoint-100", Action::Delete, Step::Last),
        // The newest complete: protected in the fresh plan, dropped.
        order("checkpoint-500", Action::Delete, Step::Last),
        // Gone since.
        order("checkpoint-50", Action::Delete, Step::Last),
        // Not slimmable: the scan found no training state.
        order("checkpoint-200", Action::Slim, Step::Slim),
        // Ordered as `within`, but `last` keeps it now: a stronger rule than ordered.
        order("checkpoint-300", Action::Delete, Step::Window),
    ];
    let mut fresh = p.clone();
    assert_eq!(apply(&mut fresh, &orders), 4);
    let v = fresh.verdict("checkpoint-100").unwrap();
    assert_eq!(v.decision, Decision::Delete);
    assert_eq!(v.reasons, [Reason::Pressure]);
    assert!(v.detail.starts_with("min_free 10% on /data"));
    for name in [
        "checkpoint-200",
        "checkpoint-300",
        "checkpoint-400",
        "checkpoint-500",
    ] {
        assert_eq!(fresh.verdict(name), p.verdict(name), "{name}");
    }
}

#[test]
fn percent_floors_round_up() {
    assert_eq!(Floor::Percent(10.0).of(1_000_001), 100_001);
    assert_eq!(Floor::Percent(50.0).of(10), 5);
    assert_eq!(Floor::Amount(7).of(10), 7);
}

#[test]
fn a_run_ckptd_does_not_act_on_is_held_and_the_others_take_the_pressure() {
    // The dry-run run holds the oldest checkpoints of all and would delete two by its rules;
    // neither frees anything, so pressure takes from the acting run instead.
    let policy = Policy::keep_last(3);
    let dry = plan(&run_of(5, 10), &policy, now());
    let acting = plan(&run_of(4, 10), &Policy::keep_last(4), now());
    let target = data(Some(Floor::Amount(100 * MIB)), false);
    let runs = [
        input(Path::new("/data/dry"), &dry).not_acting(),
        input(Path::new("/data/live"), &acting),
    ];
    let relief = relieve(
        &runs,
        Some(Filesystem {
            target: &target,
            state: fs_state(55),
            coming: (0, 0),
        }),
        now(),
    );
    assert_eq!(
        ordered(&relief),
        [
            (1, "checkpoint-100", Action::Delete),
            (1, "checkpoint-200", Action::Delete),
            (1, "checkpoint-300", Action::Delete),
        ]
    );
    // 45 MiB missing, 30 found: what is protected is the dry-run run's five checkpoints, all
    // on disk, and the acting run's newest.
    let unmet = relief.unmet.expect("15 MiB cannot be found");
    assert_eq!(unmet.missing.bytes, 15 * MIB);
    assert_eq!(unmet.not_acting_runs, 1);
    assert_eq!(unmet.protected_count, 5 + 1);
}

#[test]
fn deletions_left_for_the_next_pass_still_count_as_coming_free() {
    // keep_last 2 deletes 100..300 (30 MiB); 100 and 200 are done (the filesystem shows them),
    // 300 was deferred: 10 MiB still to come.
    let p = plan(&run_of(5, 10), &Policy::keep_last(2), now());
    let target = data(Some(Floor::Amount(100 * MIB)), false);
    let fs = Filesystem {
        target: &target,
        state: fs_state(90),
        coming: (0, 0),
    };
    let mut done = input(Path::new("/data/a"), &p);
    done.plan_pending = false;
    let deferred = done
        .clone()
        .still_to_come(&p, &|v| v.name == "checkpoint-300");
    assert_eq!(relieve(&[done], Some(fs), now()).orders.len(), 1);
    assert!(relieve(&[deferred], Some(fs), now()).orders.is_empty());
}

#[test]
fn a_vetoed_checkpoint_is_never_a_deletion_but_may_be_slimmed() {
    let mut cps = run_of(4, 10);
    for c in &mut cps {
        c.slim = Slim::Whole {
            bytes: 8 * MIB,
            files: 3,
        };
    }
    let mut p = plan(&cps, &Policy::keep_last(4), now());
    // The daemon marks a checkpoint whose before_delete veto stands.
    let vetoed = p
        .verdicts
        .iter_mut()
        .find(|v| v.name == "checkpoint-100")
        .unwrap();
    vetoed.reasons.push(Reason::Vetoed);
    vetoed.reasons.sort_unstable();
    // Deleting only: 200 and 300 go, never 100.
    let mut run = input(Path::new("/data/a"), &p);
    run.max_bytes = Some(20 * MIB);
    let relief = relieve(&[run], None, now());
    assert_eq!(
        ordered(&relief),
        [
            (0, "checkpoint-200", Action::Delete),
            (0, "checkpoint-300", Action::Delete),
        ]
    );
    // With slimming, 100 is slimmed like the others (the hook is about deletions).
    let mut run = slimming(Path::new("/data/a"), &p);
    run.max_bytes = Some(20 * MIB);
    let relief = relieve(&[run], None, now());
    assert_eq!(
        ordered(&relief),
        [
            (0, "checkpoint-100", Action::Slim),
            (0, "checkpoint-200", Action::Slim),
            (0, "checkpoint-300", Action::Slim),
        ]
    );
    // An order to delete it from an older look is dropped against the fresh plan.
    let order = Order {
        run: 0,
        checkpoint: "checkpoint-100".to_owned(),
        action: Action::Delete,
        step: Step::Last,
        detail: String::new(),
        bytes: 10 * MIB,
        inodes: 5,
    };
    assert_eq!(apply(&mut p, [&order]), 1);
    assert_eq!(
        p.verdict("checkpoint-100").unwrap().decision,
        Decision::Keep
    );
}
