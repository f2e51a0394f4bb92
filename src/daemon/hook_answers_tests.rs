use std::time::{Duration, Instant, UNIX_EPOCH};

use super::*;
use crate::checkpoint::Fingerprint;

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

fn hook(name: &str) -> Vec<String> {
    vec![format!("/usr/bin/{name}")]
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
fn one_hook_at_a_time_and_an_approval_holds_for_its_content_and_a_while() {
    let t0 = Instant::now();
    let a = hook("a");
    let mut answers = HookAnswers::default();
    assert_eq!(answers.next("x", digest(1), &a, at(t0, 0)), Next::Ask);
    answers.asked("x", digest(1), &a, t0);
    assert_eq!(answers.next("x", digest(1), &a, at(t0, 1)), Next::Wait);
    // Another checkpoint of the same run waits for the running hook.
    assert_eq!(answers.next("y", digest(1), &a, at(t0, 1)), Next::Wait);
    answers.answered("x", (digest(1), &a), Ok(()), at(t0, 2));
    assert_eq!(answers.next("x", digest(1), &a, at(t0, 3)), Next::Approved);
    // Still approved for a deferred deletion, but not forever.
    assert_eq!(answers.next("x", digest(1), &a, at(t0, 61)), Next::Approved);
    assert_eq!(answers.next("x", digest(1), &a, at(t0, 63)), Next::Ask);
    // Written again since: asked again.
    answers.answered("x", (digest(1), &a), Ok(()), at(t0, 70));
    assert_eq!(answers.next("x", digest(2), &a, at(t0, 71)), Next::Ask);
    answers.forget("x");
    assert!(answers.is_empty());
}

#[test]
fn an_answer_from_another_command_is_void() {
    // A reload changed before_delete while the old hook ran: its approval is not the new
    // hook's.
    let t0 = Instant::now();
    let mut answers = HookAnswers::default();
    answers.asked("x", digest(1), &hook("old"), t0);
    answers.answered("x", (digest(1), &hook("old")), Ok(()), at(t0, 1));
    assert_eq!(
        answers.next("x", digest(1), &hook("new"), at(t0, 2)),
        Next::Ask
    );
}

#[test]
fn a_veto_stands_until_the_retry_and_is_said_once() {
    let t0 = Instant::now();
    let a = hook("a");
    let mut answers = HookAnswers::default();
    answers.asked("x", digest(1), &a, t0);
    answers.answered(
        "x",
        (digest(1), &a),
        Err("exit status 1: busy".to_owned()),
        at(t0, 1),
    );
    let vetoed = |first| Next::Vetoed {
        why: "exit status 1: busy".to_owned(),
        first,
    };
    assert_eq!(answers.next("x", digest(1), &a, at(t0, 2)), vetoed(true));
    // Passes woken meanwhile (another checkpoint's answer) neither ask nor say it again.
    assert_eq!(answers.next("x", digest(1), &a, at(t0, 3)), vetoed(false));
    assert_eq!(answers.next("x", digest(1), &a, at(t0, 60)), vetoed(false));
    assert_eq!(answers.next("x", digest(1), &a, at(t0, 62)), Next::Ask);
}

#[test]
fn a_hook_whose_answer_never_came_is_given_up_after_its_timeout() {
    let t0 = Instant::now();
    let a = hook("a");
    let mut answers = HookAnswers::default();
    answers.asked("x", digest(1), &a, t0);
    assert_eq!(answers.next("y", digest(1), &a, at(t0, 39)), Next::Wait);
    assert_eq!(answers.next("y", digest(1), &a, at(t0, 41)), Next::Ask);
    assert_eq!(answers.next("x", digest(1), &a, at(t0, 41)), Next::Ask);
}

#[test]
fn answers_about_checkpoints_protected_since_are_dropped_but_a_running_hook_is_not() {
    let t0 = Instant::now();
    let a = hook("a");
    let mut answers = HookAnswers::default();
    answers.answered("pinned-now", (digest(1), &a), Ok(()), at(t0, 0));
    answers.asked("running", digest(1), &a, t0);
    answers.retain(|_| false);
    assert_eq!(
        answers.next("pinned-now", digest(1), &a, at(t0, 1)),
        Next::Wait
    );
    answers.answered("running", (digest(1), &a), Ok(()), at(t0, 2));
    assert_eq!(
        answers.next("pinned-now", digest(1), &a, at(t0, 3)),
        Next::Ask
    );
}
