//! Table-driven tests of the planner: one case per rule and per interaction, plus regression
//! tests named after the upstream bugs that DESIGN.md lists.

use std::num::NonZeroU64;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{plan, Decision, Plan, Reason};
use crate::checkpoint::{
    Checkpoint, Fingerprint, Kind, Marker, MetricObservation, Protection, Writers,
};
use crate::policy::{BestRule, Mode, Policy};

/// A fixed "now", well away from the epoch, so ages are easy to read.
pub(crate) fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(2_000_000_000)
}

/// A complete checkpoint `name` at `step`, finished `age_secs` before `now()`.
pub(crate) fn ck(name: &str, step: u64, age_secs: u64) -> Checkpoint {
    let t = now() - Duration::from_secs(age_secs);
    Checkpoint {
        name: name.to_owned(),
        step: Some(step),
        epoch: None,
        kind: Kind::Dir,
        fingerprint: Some(Fingerprint {
            files: 1,
            bytes: 100,
            newest_mtime: t,
            newest_ctime: t,
            inodes: 0,
        }),
        stable_since: Some(t),
        marker: Marker::NotRequired,
        writers: Writers::Checked { open: false },
        confirmed: None,
        metric: MetricObservation::NotWanted,
        metrics: crate::metrics::Metrics::default(),
        protections: Vec::new(),
        scan_problem: None,
        slim: crate::checkpoint::Slim::Off,
    }
}

fn with_metric(mut c: Checkpoint, v: f64) -> Checkpoint {
    c.metric = MetricObservation::Final(Some(v));
    c
}

/// Ten checkpoints at steps 100..=1000, one every hour, the newest finished an hour ago.
pub(super) fn ten() -> Vec<Checkpoint> {
    (1..=10)
        .map(|i| ck(&format!("checkpoint-{}", i * 100), i * 100, (11 - i) * 3600))
        .collect()
}

/// A `keep_best` rule, wrapped for `Policy { keep_best: … }`.
#[allow(clippy::unnecessary_wraps)]
fn best(count: u64, metric: &str, mode: Mode) -> Option<BestRule> {
    Some(BestRule {
        count: NonZeroU64::new(count).unwrap(),
        metric: metric.to_owned(),
        mode,
    })
}

pub(super) fn kept(plan: &Plan) -> Vec<&str> {
    plan.verdicts
        .iter()
        .filter(|v| v.decision == Decision::Keep)
        .map(|v| v.name.as_str())
        .collect()
}

pub(super) fn reasons<'a>(plan: &'a Plan, name: &str) -> &'a [Reason] {
    &plan.verdict(name).expect(name).reasons
}

#[test]
fn keep_last_keeps_the_newest_n_by_step() {
    let p = plan(&ten(), &Policy::keep_last(3), now());
    assert_eq!(
        kept(&p),
        ["checkpoint-800", "checkpoint-900", "checkpoint-1000"]
    );
    assert_eq!(reasons(&p, "checkpoint-800"), [Reason::Last]);
    assert_eq!(
        reasons(&p, "checkpoint-1000"),
        [Reason::NewestComplete, Reason::Last]
    );
    assert_eq!(reasons(&p, "checkpoint-100"), [Reason::Unkept]);
    assert_eq!(
        p.verdict("checkpoint-100").unwrap().detail,
        "older than the last 3"
    );
}

#[test]
fn every_rule_says_what_it_thinks_of_every_checkpoint() {
    let cps: Vec<Checkpoint> = ten()
        .into_iter()
        .zip([0.9, 0.8, 0.1, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.35])
        .map(|(c, v)| with_metric(c, v))
        .collect();
    let policy = Policy {
        keep_best: best(2, "eval_loss", Mode::Min),
        keep_every_steps: NonZeroU64::new(500),
        ..Policy::keep_last(3)
    };
    let p = super::plan_with_views(&cps, &policy, now());
    // Without asking for them, a plan has none (and the same decisions).
    let plain = plan(&cps, &policy, now());
    assert!(plain.verdicts.iter().all(|v| v.views.is_empty()));
    assert_eq!(
        plain
            .verdicts
            .iter()
            .map(|v| (&v.name, v.decision, &v.reasons, &v.detail))
            .collect::<Vec<_>>(),
        p.verdicts
            .iter()
            .map(|v| (&v.name, v.decision, &v.reasons, &v.detail))
            .collect::<Vec<_>>()
    );
    let views = |name: &str| -> Vec<(String, bool, String)> {
        p.verdict(name)
            .unwrap()
            .views
            .iter()
            .map(|v| (v.rule.clone(), v.keeps, v.text.clone()))
            .collect()
    };
    let view = |rule: &str, keeps: bool, text: &str| (rule.to_owned(), keeps, text.to_owned());
    assert_eq!(
        views("checkpoint-300"),
        [
            view(
                "keep_last 3",
                false,
                "older than the last 3 (the 8th newest)"
            ),
            view(
                "keep_best 2 by eval_loss (min)",
                true,
                "rank 1 of 10 by eval_loss (0.1000)"
            ),
            view(
                "keep_every_steps 500",
                false,
                "not the first checkpoint in steps [0, 500) (checkpoint-100 is)"
            ),
        ]
    );
    assert_eq!(
        views("checkpoint-900"),
        [
            view("keep_last 3", true, "the 2nd newest"),
            view(
                "keep_best 2 by eval_loss (min)",
                true,
                "rank 2 of 10 by eval_loss (0.2000)"
            ),
            view(
                "keep_every_steps 500",
                false,
                "not the first checkpoint in steps [500, 1000) (checkpoint-500 is)"
            ),
        ]
    );
    // The deletion's detail is what the rules said against it, as before.
    assert_eq!(
        p.verdict("checkpoint-200").unwrap().detail,
        "older than the last 3; rank 9 of 10 by eval_loss, keep_best is 2; not the first \
         checkpoint in steps [0, 500) (checkpoint-100 is)"
    );
}

#[test]
fn keep_last_zero_still_protects_the_newest_complete() {
    let p = plan(&ten(), &Policy::keep_last(0), now());
    assert_eq!(kept(&p), ["checkpoint-1000"]);
    assert_eq!(reasons(&p, "checkpoint-1000"), [Reason::NewestComplete]);
}

#[test]
fn plan_lists_checkpoints_in_step_order_whatever_the_input_order() {
    let mut input = ten();
    input.reverse();
    let p = plan(&input, &Policy::keep_last(1), now());
    let steps: Vec<u64> = p.verdicts.iter().map(|v| v.step.unwrap()).collect();
    assert_eq!(steps, (1..=10).map(|i| i * 100).collect::<Vec<_>>());
}

#[test]
fn keep_best_min_keeps_the_lowest_values() {
    let values = [0.9, 0.5, 0.7, 0.2, 0.8, 0.6, 0.95, 0.3, 0.99, 0.97];
    let input: Vec<Checkpoint> = ten()
        .into_iter()
        .zip(values)
        .map(|(c, v)| with_metric(c, v))
        .collect();
    let policy = Policy {
        keep_last: None,
        keep_best: best(2, "eval_loss", Mode::Min),
        ..Policy::keep_last(0)
    };
    let p = plan(&input, &policy, now());
    assert_eq!(
        kept(&p),
        ["checkpoint-400", "checkpoint-800", "checkpoint-1000"]
    );
    assert_eq!(reasons(&p, "checkpoint-400"), [Reason::Best]);
    assert_eq!(reasons(&p, "checkpoint-1000"), [Reason::NewestComplete]);
    assert_eq!(
        p.verdict("checkpoint-200").unwrap().detail,
        "rank 3 of 10 by eval_loss, keep_best is 2"
    );
}

#[test]
fn keep_best_max_keeps_the_highest_values() {
    let input: Vec<Checkpoint> = ten()
        .into_iter()
        .enumerate()
        .map(|(i, c)| with_metric(c, if i == 2 { 0.99 } else { 0.1 }))
        .collect();
    let policy = Policy {
        keep_last: None,
        keep_best: best(1, "accuracy", Mode::Max),
        ..Policy::keep_last(0)
    };
    let p = plan(&input, &policy, now());
    assert_eq!(kept(&p), ["checkpoint-300", "checkpoint-1000"]);
}

#[test]
fn keep_best_ties_go_to_the_higher_step() {
    let input: Vec<Checkpoint> = ten().into_iter().map(|c| with_metric(c, 0.5)).collect();
    let policy = Policy {
        keep_last: None,
        keep_best: best(2, "loss", Mode::Min),
        ..Policy::keep_last(0)
    };
    let p = plan(&input, &policy, now());
    assert_eq!(kept(&p), ["checkpoint-900", "checkpoint-1000"]);
    assert_eq!(reasons(&p, "checkpoint-900"), [Reason::Best]);
}

#[test]
fn nan_is_never_best_while_a_number_exists() {
    let mut input: Vec<Checkpoint> = ten()
        .into_iter()
        .map(|c| with_metric(c, f64::NAN))
        .collect();
    input[0] = with_metric(input[0].clone(), 7.0);
    for mode in [Mode::Min, Mode::Max] {
        let policy = Policy {
            keep_last: None,
            keep_best: best(1, "loss", mode),
            ..Policy::keep_last(0)
        };
        let p = plan(&input, &policy, now());
        assert_eq!(kept(&p), ["checkpoint-100", "checkpoint-1000"], "{mode:?}");
    }
}

#[test]
fn a_missing_final_metric_is_unranked_never_worst() {
    // Unreadable metric = no metric: keep_best skips it, and it is not "the worst" either.
    let mut input: Vec<Checkpoint> = ten().into_iter().map(|c| with_metric(c, 1.0)).collect();
    input[4].metric = MetricObservation::Final(None);
    let policy = Policy {
        keep_last: Some(1),
        keep_best: best(9, "loss", Mode::Min),
        ..Policy::keep_last(0)
    };
    let p = plan(&input, &policy, now());
    // Nine ranked checkpoints fill keep_best; the unranked one is deleted, not ranked last.
    assert_eq!(
        p.deletions().map(|v| v.name.as_str()).collect::<Vec<_>>(),
        ["checkpoint-500"]
    );
    assert_eq!(
        p.verdict("checkpoint-500").unwrap().detail,
        "older than the last 1; unranked: no loss found"
    );
    assert_eq!(p.unranked().count(), 1);
}

#[test]
fn a_run_where_no_checkpoint_has_the_metric_is_held() {
    // DESIGN invariant 9 (0.1 deleted all but the newest): `metric = "eval_los"`, a typo, finds
    // nothing anywhere; keep_best must not become "delete the best".
    let input: Vec<Checkpoint> = ten()
        .into_iter()
        .map(|mut c| {
            c.metric = MetricObservation::Final(None);
            c
        })
        .collect();
    let policy = Policy {
        keep_last: Some(1),
        keep_best: best(1, "eval_los", Mode::Min),
        ..Policy::keep_last(0)
    };
    let p = plan(&input, &policy, now());
    assert!(p.held());
    assert_eq!(p.deletions().count(), 0);
    assert!(p.verdicts.iter().all(|v| v.reasons.contains(&Reason::Held)));
    assert!(p
        .verdicts
        .iter()
        .all(|v| v.detail == "no complete checkpoint has a readable eval_los"));
    // One checkpoint with the metric: ranked as usual, not held, the unranked ones may go.
    let mut one = input.clone();
    one[3] = with_metric(one[3].clone(), 0.5);
    let p = plan(&one, &policy, now());
    assert!(!p.held());
    assert_eq!(kept(&p), ["checkpoint-400", "checkpoint-1000"]);
}

#[test]
fn a_run_level_metric_is_pending_until_a_later_record_or_the_timeout() {
    let policy = Policy {
        keep_last: Some(1),
        keep_best: best(1, "val_loss", Mode::Min),
        metric_timeout: Duration::from_hours(1),
        ..Policy::keep_last(0)
    };
    let mut old = ck("step-100", 100, 600);
    old.metric = MetricObservation::RunLevel {
        value: None,
        later_record_seen: false,
    };
    let mut newest = ck("step-200", 200, 60);
    newest.metric = MetricObservation::RunLevel {
        value: Some(0.5),
        later_record_seen: false,
    };
    let p = plan(&[old.clone(), newest.clone()], &policy, now());
    assert_eq!(reasons(&p, "step-100"), [Reason::MetricPending]);

    // A later record settles it: unranked, and no other rule keeps it.
    old.metric = MetricObservation::RunLevel {
        value: None,
        later_record_seen: true,
    };
    let p = plan(&[old.clone(), newest.clone()], &policy, now());
    assert_eq!(reasons(&p, "step-100"), [Reason::Unkept]);

    // So does the timeout, counted from completion.
    old.metric = MetricObservation::RunLevel {
        value: None,
        later_record_seen: false,
    };
    let p = plan(&[old, newest], &policy, now() + Duration::from_mins(50));
    assert_eq!(reasons(&p, "step-100"), [Reason::Unkept]);
}

#[test]
fn keep_within_keeps_everything_completed_recently() {
    let policy = Policy {
        keep_last: None,
        keep_within: Some(Duration::from_hours(3)),
        ..Policy::keep_last(0)
    };
    let p = plan(&ten(), &policy, now());
    assert_eq!(
        kept(&p),
        ["checkpoint-800", "checkpoint-900", "checkpoint-1000"]
    );
    assert_eq!(
        p.verdict("checkpoint-700").unwrap().detail,
        "completed 4h ago, outside keep_within 3h"
    );
}

#[test]
fn rules_add_up_as_a_union() {
    // orbax #526, HF #25129: keep-last and keep-best are separate sets; the best checkpoint is
    // kept even when it is not among the last N, and the last N are kept even when worse.
    let input: Vec<Checkpoint> = ten()
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            with_metric(
                c,
                if i == 1 {
                    0.01
                } else {
                    1.0 + f64::from(u32::try_from(i).unwrap())
                },
            )
        })
        .collect();
    let policy = Policy {
        keep_last: Some(2),
        keep_best: best(1, "eval_loss", Mode::Min),
        keep_every_steps: NonZeroU64::new(500),
        ..Policy::keep_last(0)
    };
    let p = plan(&input, &policy, now());
    // keep_every_steps keeps the first of [0, 500), [500, 1000) and [1000, 1500).
    assert_eq!(
        kept(&p),
        [
            "checkpoint-100",
            "checkpoint-200",
            "checkpoint-500",
            "checkpoint-900",
            "checkpoint-1000"
        ]
    );
    assert_eq!(
        reasons(&p, "checkpoint-1000"),
        [Reason::NewestComplete, Reason::Last, Reason::EverySteps]
    );
}

#[test]
fn regression_hf_25129_best_checkpoint_survives_save_total_limit() {
    // HF #25129: with save_total_limit = 1 and load_best_model_at_end the best checkpoint was
    // rotated away. Here the best and the last are both kept.
    let input = vec![
        with_metric(ck("checkpoint-10", 10, 200), 0.1),
        with_metric(ck("checkpoint-20", 20, 100), 0.9),
    ];
    let policy = Policy {
        keep_last: Some(1),
        keep_best: best(1, "eval_loss", Mode::Min),
        ..Policy::keep_last(0)
    };
    assert_eq!(
        kept(&plan(&input, &policy, now())),
        ["checkpoint-10", "checkpoint-20"]
    );
}

#[test]
fn regression_hf_26961_reused_directory_keeps_both_newest() {
    // HF #26961 / #37260: a run resumed into a directory holding checkpoints from a longer
    // earlier attempt. The highest step is not the latest written; both are resume candidates.
    let input = vec![
        ck("checkpoint-100", 100, 5000),
        ck("checkpoint-900", 900, 4000), // from the old attempt
        ck("checkpoint-200", 200, 100),  // the resumed run, written last
    ];
    let p = plan(&input, &Policy::keep_last(0), now());
    assert_eq!(kept(&p), ["checkpoint-200", "checkpoint-900"]);
    assert_eq!(reasons(&p, "checkpoint-200"), [Reason::NewestComplete]);
    assert_eq!(reasons(&p, "checkpoint-900"), [Reason::NewestComplete]);
}

#[test]
fn regression_torchtitan_incomplete_is_never_counted_nor_deleted() {
    // torchtitan #4197 / Megatron-Bridge #4678: an in-progress save counted toward the limit,
    // so the last complete checkpoint was deleted and the run could not resume.
    let mut input = ten();
    let mut writing = ck("checkpoint-1100", 1100, 1);
    writing.marker = Marker::Missing("trainer_state.json missing".to_owned());
    input.push(writing);
    let p = plan(&input, &Policy::keep_last(1), now());
    assert_eq!(kept(&p), ["checkpoint-1000", "checkpoint-1100"]);
    assert_eq!(reasons(&p, "checkpoint-1100"), [Reason::Incomplete]);
    assert_eq!(
        p.verdict("checkpoint-1100").unwrap().detail,
        "trainer_state.json missing"
    );
    assert_eq!(
        reasons(&p, "checkpoint-1000"),
        [Reason::NewestComplete, Reason::Last]
    );
}

#[test]
fn a_checkpoint_younger_than_settle_is_incomplete() {
    let mut input = ten();
    input.push(ck("checkpoint-1100", 1100, 10));
    let p = plan(&input, &Policy::keep_last(1), now());
    assert_eq!(reasons(&p, "checkpoint-1100"), [Reason::Incomplete]);
    assert_eq!(
        p.verdict("checkpoint-1100").unwrap().detail,
        "written 10s ago, settle is 30s"
    );
    assert_eq!(kept(&p), ["checkpoint-1000", "checkpoint-1100"]);
}

#[test]
fn unreadable_open_or_future_checkpoints_are_incomplete() {
    let mut unreadable = ck("checkpoint-1100", 1100, 9999);
    unreadable.fingerprint = None;
    unreadable.stable_since = None;
    unreadable.scan_problem = Some("cannot read x: permission denied".to_owned());
    let mut open = ck("checkpoint-1200", 1200, 9999);
    open.writers = Writers::Checked { open: true };
    let mut future = ck("checkpoint-1300", 1300, 0);
    future.stable_since = Some(now() + Duration::from_mins(1));
    let mut input = ten();
    input.extend([unreadable, open, future]);
    let p = plan(&input, &Policy::keep_last(0), now());
    for name in ["checkpoint-1100", "checkpoint-1200", "checkpoint-1300"] {
        assert_eq!(reasons(&p, name), [Reason::Incomplete], "{name}");
    }
    assert_eq!(kept(&p).len(), 4);
}

#[test]
fn protected_checkpoints_are_kept_and_counted_like_any_other() {
    // DESIGN invariant 4 (changed from 0.1, where protected checkpoints were never counted and
    // the policy kept up to twice what it said): rules select from every complete checkpoint;
    // protection only adds.
    let mut input = ten();
    input[9].protections.push(Protection::Pinned);
    input[2]
        .protections
        .push(Protection::Pointer("symlink best".to_owned()));
    let p = plan(&input, &Policy::keep_last(2), now());
    // The pinned newest uses a keep_last slot: 900 and 1000 are the last two; 300 is kept by
    // its pointer alone.
    assert_eq!(
        kept(&p),
        ["checkpoint-300", "checkpoint-900", "checkpoint-1000"]
    );
    assert_eq!(
        reasons(&p, "checkpoint-1000"),
        [Reason::NewestComplete, Reason::Pinned, Reason::Last]
    );
    assert_eq!(reasons(&p, "checkpoint-300"), [Reason::Pointer]);
}

#[test]
fn a_pointer_on_the_newest_does_not_keep_a_second_checkpoint() {
    // DeepSpeed's `latest` and Megatron's tracker always name the newest: keep_last = 1 leaves
    // exactly one (0.1 left two).
    let mut input = ten();
    input[9]
        .protections
        .push(Protection::Pointer("latest".to_owned()));
    let p = plan(&input, &Policy::keep_last(1), now());
    assert_eq!(kept(&p), ["checkpoint-1000"]);
}

#[test]
fn an_alias_is_kept_never_counted_and_never_the_newest() {
    // NeMo `…-last` is a copy of the newest: it must not displace the real checkpoint.
    let mut input = ten();
    let mut alias = ck("model-step=1000-last", 1000, 100);
    alias.protections.push(Protection::Alias);
    input.push(alias);
    let p = plan(&input, &Policy::keep_last(1), now());
    assert_eq!(kept(&p), ["checkpoint-1000", "model-step=1000-last"]);
    assert_eq!(reasons(&p, "model-step=1000-last"), [Reason::Alias]);
    assert_eq!(
        reasons(&p, "checkpoint-1000"),
        [Reason::NewestComplete, Reason::Last]
    );
}

#[test]
fn ties_in_step_are_ordered_by_completion_time_then_name() {
    let input = vec![ck("b", 5, 100), ck("a", 5, 100), ck("c", 5, 200)];
    let p = plan(&input, &Policy::keep_last(1), now());
    let order: Vec<&str> = p.verdicts.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(order, ["c", "a", "b"]);
    assert_eq!(kept(&p), ["b"]);
}

#[test]
fn an_empty_checkpoint_directory_is_never_complete() {
    // A trainer that makes checkpoint-1100/ before writing into it: quiet for an hour, still
    // not a save, so checkpoint-1000 stays the newest complete.
    let mut input = ten();
    let mut empty = ck("checkpoint-1100", 1100, 3600);
    empty.fingerprint = Some(Fingerprint {
        files: 0,
        bytes: 0,
        ..empty.fingerprint.unwrap()
    });
    input.push(empty);
    let p = plan(&input, &Policy::keep_last(1), now());
    assert_eq!(reasons(&p, "checkpoint-1100"), [Reason::Incomplete]);
    assert_eq!(
        p.verdict("checkpoint-1100").unwrap().detail,
        "empty directory: nothing written in it yet"
    );
    assert_eq!(kept(&p), ["checkpoint-1000", "checkpoint-1100"]);
}

fn too_large(mut c: Checkpoint) -> Checkpoint {
    c.metric = MetricObservation::TooLarge(crate::checkpoint::OverCap {
        path: format!("/run/{}/trainer_state.json", c.name).into(),
        bytes: 40 << 20,
        cap: 32 << 20,
        offset: None,
    });
    c
}

#[test]
fn a_metric_over_max_metric_bytes_keeps_the_checkpoint_and_is_never_ranked() {
    // HF's trainer_state.json only grows: past the cap every newer checkpoint's metric is
    // unknown. Treated as "no metric", the newer ones would be unranked and checkpoint-700
    // (truly the best, say) deleted once out of keep_last while old ranked ones stay.
    let mut input: Vec<Checkpoint> = ten().into_iter().map(|c| with_metric(c, 1.0)).collect();
    for c in &mut input[6..] {
        *c = too_large(c.clone());
    }
    input[2] = with_metric(input[2].clone(), 0.5);
    let policy = Policy {
        keep_last: Some(1),
        keep_best: best(1, "eval_loss", Mode::Min),
        // Long past: a timeout never turns an unknown metric into "unranked".
        metric_timeout: Duration::from_mins(1),
        ..Policy::keep_last(0)
    };
    let p = plan(&input, &policy, now());
    assert_eq!(reasons(&p, "checkpoint-300"), [Reason::Best]);
    for name in ["checkpoint-700", "checkpoint-800", "checkpoint-900"] {
        assert_eq!(reasons(&p, name), [Reason::MetricTooLarge], "{name}");
    }
    assert_eq!(
        reasons(&p, "checkpoint-1000"),
        [Reason::NewestComplete, Reason::MetricTooLarge, Reason::Last]
    );
    assert_eq!(
        p.verdict("checkpoint-700").unwrap().detail,
        "metric unknown: /run/checkpoint-700/trainer_state.json is 40.0 MiB (41943040 bytes), \
         over max_metric_bytes 32.0 MiB"
    );
    // Ranked ones beyond keep_best go as usual; unknown ones are not "unranked" (no such WARN)
    // and not ranked worst (they would then be deleted).
    assert_eq!(
        p.deletions().map(|v| v.name.as_str()).collect::<Vec<_>>(),
        [
            "checkpoint-100",
            "checkpoint-200",
            "checkpoint-400",
            "checkpoint-500",
            "checkpoint-600"
        ]
    );
    assert_eq!(p.unranked().count(), 0);
    assert_eq!(p.verdict("checkpoint-700").unwrap().metric.value(), None);
}

#[test]
fn an_incomplete_checkpoint_over_the_cap_says_why_it_is_incomplete() {
    let mut c = too_large(ck("checkpoint-100", 100, 5));
    c.marker = Marker::Missing("trainer_state.json missing or not parseable yet".to_owned());
    let newest = with_metric(ck("checkpoint-50", 50, 60), 1.0);
    let policy = Policy {
        keep_best: best(1, "eval_loss", Mode::Min),
        ..Policy::keep_last(0)
    };
    let p = plan(&[c, newest], &policy, now());
    let v = p.verdict("checkpoint-100").unwrap();
    assert_eq!(v.reasons, [Reason::Incomplete]);
    assert_eq!(v.detail, "trainer_state.json missing or not parseable yet");
}
