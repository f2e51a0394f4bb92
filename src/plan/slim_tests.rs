//! Table tests of `slim_after`: which kept checkpoints are slimmed, with which reasons, and
//! what a slimmed one looks like in the plan.

use std::time::Duration;

use super::tests::{ck, now, ten};
use super::{plan, Decision, Plan, Reason};
use crate::checkpoint::{Checkpoint, Protection, Slim};
use crate::policy::Policy;

fn whole(mut c: Checkpoint) -> Checkpoint {
    c.slim = Slim::Whole {
        bytes: 60,
        files: 3,
    };
    c
}

fn slimming(keep_last: u64, slim_after: u64) -> Policy {
    Policy {
        slim_after: Some(slim_after),
        ..Policy::keep_last(keep_last)
    }
}

fn decisions(p: &Plan) -> Vec<(&str, Decision)> {
    p.verdicts
        .iter()
        .map(|v| (v.name.as_str(), v.decision))
        .collect()
}

#[test]
fn kept_checkpoints_older_than_the_slim_after_newest_are_slimmed() {
    let run: Vec<Checkpoint> = ten().into_iter().map(whole).collect();
    let p = plan(&run, &slimming(4, 2), now());
    let slimmed: Vec<&str> = p.slims().map(|v| v.name.as_str()).collect();
    // keep_last 4 keeps 700..1000; the 2 newest complete (900, 1000) stay whole.
    assert_eq!(slimmed, ["checkpoint-700", "checkpoint-800"]);
    let v = p.verdict("checkpoint-700").unwrap();
    assert_eq!(v.reasons, [Reason::Last, Reason::Slim]);
    assert_eq!(v.detail, "older than the 2 newest complete (slim_after 2)");
    assert_eq!(p.deletions().count(), 6);
    assert_eq!(
        p.verdict("checkpoint-1000").unwrap().decision,
        Decision::Keep
    );
}

#[test]
fn slim_after_zero_spares_the_newest_complete_only() {
    let run: Vec<Checkpoint> = ten().into_iter().map(whole).collect();
    let p = plan(&run, &slimming(3, 0), now());
    assert_eq!(
        decisions(&p)[7..],
        [
            ("checkpoint-800", Decision::Slim),
            ("checkpoint-900", Decision::Slim),
            ("checkpoint-1000", Decision::Keep),
        ]
    );
}

#[test]
fn protected_pending_incomplete_and_nothing_to_slim_are_never_slimmed() {
    let mut run: Vec<Checkpoint> = ten().into_iter().map(whole).collect();
    run[5].protections.push(Protection::Pinned);
    run[6]
        .protections
        .push(Protection::Pointer("latest".to_owned()));
    run[7].slim = Slim::Nothing;
    run[8].slim = Slim::Off;
    // Written a second ago: incomplete.
    let mut fresh = whole(ck("checkpoint-1100", 1100, 1));
    fresh.stable_since = Some(now() - Duration::from_secs(1));
    run.push(fresh);
    let p = plan(&run, &slimming(10, 0), now());
    assert_eq!(
        p.slims().map(|v| v.name.as_str()).collect::<Vec<_>>(),
        [
            "checkpoint-100",
            "checkpoint-200",
            "checkpoint-300",
            "checkpoint-400",
            "checkpoint-500"
        ]
    );
    assert_eq!(
        p.verdict("checkpoint-1100").unwrap().reasons,
        [Reason::Incomplete]
    );
}

#[test]
fn newest_by_completion_time_is_never_slimmed() {
    // A reused directory: step 100 completed last (HF #26961).
    let run = vec![
        whole(ck("checkpoint-100", 100, 10)),
        whole(ck("checkpoint-200", 200, 3600)),
        whole(ck("checkpoint-300", 300, 3000)),
    ];
    let p = plan(&run, &slimming(3, 0), now());
    assert_eq!(
        decisions(&p),
        [
            ("checkpoint-100", Decision::Keep),
            ("checkpoint-200", Decision::Slim),
            ("checkpoint-300", Decision::Keep),
        ]
    );
}

#[test]
fn a_slimmed_checkpoint_keeps_its_place_by_its_original_completion_time() {
    // Slimming moved its directory's mtime to "just now"; the record dates it back, so it
    // does not become the newest by completion time and the rules see it where it was.
    let mut old = ck("checkpoint-100", 100, 7200);
    old.fingerprint.as_mut().unwrap().newest_mtime = now();
    old.slim = Slim::Slimmed {
        completed_at: now() - Duration::from_hours(2),
        interrupted: false,
    };
    let run = vec![old, ck("checkpoint-200", 200, 3600)];
    let p = plan(&run, &Policy::keep_last(1), now());
    let v = p.verdict("checkpoint-100").unwrap();
    assert_eq!(v.decision, Decision::Delete);
    assert_eq!(v.reasons, [Reason::Slimmed, Reason::Unkept]);
    let kept = plan(&run, &slimming(2, 1), now());
    let v = kept.verdict("checkpoint-100").unwrap();
    assert_eq!(v.decision, Decision::Keep);
    assert_eq!(v.reasons, [Reason::Last, Reason::Slimmed]);
    assert_eq!(
        kept.verdict("checkpoint-200").unwrap().reasons,
        [Reason::NewestComplete, Reason::Last]
    );
}

#[test]
fn an_interrupted_slimming_shows_as_slimmed_and_says_so() {
    let mut old = ck("checkpoint-100", 100, 7200);
    old.slim = Slim::Slimmed {
        completed_at: now() - Duration::from_hours(2),
        interrupted: true,
    };
    let run = vec![old, ck("checkpoint-200", 200, 3600)];
    let p = plan(&run, &slimming(2, 1), now());
    let v = p.verdict("checkpoint-100").unwrap();
    assert_eq!(v.decision, Decision::Keep);
    assert!(v.reasons.contains(&Reason::Slimmed));
    assert!(
        v.detail
            .contains("slimming interrupted; finished at the next pass"),
        "{}",
        v.detail
    );
}
