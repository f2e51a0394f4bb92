use std::time::{Duration, Instant, UNIX_EPOCH};

use super::*;
use crate::checkpoint::Fingerprint;
use crate::plan::Reason;

fn digest(bytes: u64) -> Option<Digest> {
    let fingerprint = Fingerprint {
        files: 1,
        bytes,
        newest_mtime: UNIX_EPOCH,
        newest_ctime: UNIX_EPOCH,
        inodes: 1,
    };
    // As the daemon has it: `None` when the checkpoint could not be fingerprinted.
    (bytes > 0).then(|| fingerprint.digest())
}

/// Content `bytes`, hook `/usr/bin/HOOK`, deleted for `reason`.
fn about(bytes: u64, hook: &str, reason: Reason) -> Subject {
    Subject {
        digest: digest(bytes),
        argv: vec![format!("/usr/bin/{hook}")],
        reasons: reason.bit(),
    }
}

fn unkept(bytes: u64) -> Subject {
    about(bytes, "a", Reason::Unkept)
}

const RETRY: Duration = Duration::from_mins(1);
const TIMEOUT: Duration = Duration::from_secs(10);

fn at(start: Instant, secs: u64) -> Clock {
    Clock {
        now: start + Duration::from_secs(secs),
        retry: RETRY,
        timeout: TIMEOUT,
    }
}

#[test]
fn one_hook_at_a_time_and_an_approval_holds_for_its_subject_and_a_minute() {
    let t0 = Instant::now();
    let mut answers = HookAnswers::default();
    assert_eq!(answers.next("x", &unkept(1), at(t0, 0)), Next::Ask);
    answers.asked("x", unkept(1), t0);
    assert_eq!(answers.next("x", &unkept(1), at(t0, 1)), Next::Wait);
    // Another checkpoint of the same run waits for the running hook.
    assert_eq!(answers.next("y", &unkept(1), at(t0, 1)), Next::Wait);
    answers.answered("x", unkept(1), Ok(()), at(t0, 2));
    assert_eq!(answers.next("x", &unkept(1), at(t0, 3)), Next::Approved);
    // Still approved for a deferred deletion, but not after a minute.
    assert_eq!(answers.next("x", &unkept(1), at(t0, 61)), Next::Approved);
    assert_eq!(answers.next("x", &unkept(1), at(t0, 63)), Next::Ask);
    // Written again since: asked again.
    answers.answered("x", unkept(1), Ok(()), at(t0, 70));
    assert_eq!(answers.next("x", &unkept(2), at(t0, 71)), Next::Ask);
    answers.forget("x");
    assert!(answers.is_empty());
}

#[test]
fn an_answer_about_another_command_or_other_reasons_is_void() {
    let t0 = Instant::now();
    let mut answers = HookAnswers::default();
    // A reload changed before_delete while the old hook ran.
    answers.asked("x", about(1, "old", Reason::Unkept), t0);
    answers.answered("x", about(1, "old", Reason::Unkept), Ok(()), at(t0, 1));
    assert_eq!(
        answers.next("x", &about(1, "new", Reason::Unkept), at(t0, 2)),
        Next::Ask
    );
    // Approved as a pressure deletion: not an approval to delete it as unkept.
    answers.answered("x", about(1, "a", Reason::Pressure), Ok(()), at(t0, 3));
    assert_eq!(answers.next("x", &unkept(1), at(t0, 4)), Next::Ask);
}

#[test]
fn a_veto_stands_until_the_retry_for_any_reason_and_is_said_once() {
    let t0 = Instant::now();
    let mut answers = HookAnswers::default();
    answers.asked("x", unkept(1), t0);
    answers.answered(
        "x",
        unkept(1),
        Err("exit status 1: busy".to_owned()),
        at(t0, 1),
    );
    let argv = unkept(1).argv;
    let standing = |first| {
        Some(StandingVeto {
            why: "exit status 1: busy".to_owned(),
            first,
            until: t0 + Duration::from_secs(61),
        })
    };
    assert_eq!(
        answers.standing_veto("x", digest(1), &argv, at(t0, 2).now),
        standing(true)
    );
    // Passes woken meanwhile neither ask nor say it again; pressure's reasons too.
    assert_eq!(
        answers.standing_veto("x", digest(1), &argv, at(t0, 3).now),
        standing(false)
    );
    assert_eq!(
        answers.next("x", &about(1, "a", Reason::Pressure), at(t0, 4)),
        Next::Ask,
        "next() about other reasons drops the veto: the plan marks it before that"
    );
    answers.answered("x", unkept(1), Err("busy".to_owned()), at(t0, 5));
    assert_eq!(
        answers.standing_veto("x", digest(2), &argv, at(t0, 6).now),
        None
    );
    assert_eq!(
        answers.standing_veto("x", digest(1), &argv, at(t0, 66).now),
        None
    );
    assert_eq!(answers.next("x", &unkept(1), at(t0, 66)), Next::Ask);
}

#[test]
fn a_hook_whose_answer_never_came_is_given_up_after_its_timeout() {
    let t0 = Instant::now();
    let mut answers = HookAnswers::default();
    answers.asked("x", unkept(1), t0);
    assert_eq!(answers.next("y", &unkept(1), at(t0, 39)), Next::Wait);
    assert_eq!(answers.next("y", &unkept(1), at(t0, 41)), Next::Ask);
    assert_eq!(answers.next("x", &unkept(1), at(t0, 41)), Next::Ask);
}

#[test]
fn answers_about_checkpoints_protected_since_are_dropped_but_a_running_hook_is_not() {
    let t0 = Instant::now();
    let mut answers = HookAnswers::default();
    answers.answered("pinned-now", unkept(1), Ok(()), at(t0, 0));
    answers.asked("running", unkept(1), t0);
    answers.retain(|_| false);
    assert_eq!(
        answers.next("pinned-now", &unkept(1), at(t0, 1)),
        Next::Wait
    );
    answers.answered("running", unkept(1), Ok(()), at(t0, 2));
    assert_eq!(answers.next("pinned-now", &unkept(1), at(t0, 3)), Next::Ask);
}
