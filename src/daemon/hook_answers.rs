//! What the daemon knows of its `before_delete` hooks in one run: which checkpoint a hook is
//! running for, and the answers not yet used. An answer is about one question: the checkpoint's
//! content when it was asked (its fingerprint) and the command that answered (a reload that
//! changes `before_delete` makes every earlier answer void). One hook runs per run at a time,
//! so a backlog of thousands of deletions does not start thousands of processes.
//!
//! Time is passed in: an approval holds for [`approval_lasts`], a veto for the retry interval
//! (the checkpoint is not asked about again before, whatever wakes the run), and a hook whose
//! answer never came (its run was set aside meanwhile) is given up on after its timeout.

use std::time::{Duration, Instant};

use crate::checkpoint::Digest;

/// The least an approval holds: enough for the deletion's pass, or the next one.
const APPROVAL_AT_LEAST: Duration = Duration::from_mins(1);

/// How long after its timeout a hook's answer is still waited for.
const LOST_AFTER: Duration = Duration::from_secs(30);

/// How long an approval holds, given the retry interval.
pub fn approval_lasts(retry: Duration) -> Duration {
    retry.max(APPROVAL_AT_LEAST)
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// The hook is running since then.
    Asked(Instant),
    /// It exited 0 then: the deletion may go ahead.
    Approved(Instant),
    /// It said no: kept until then; `said` once the veto was logged.
    Vetoed {
        why: String,
        until: Instant,
        said: bool,
    },
}

#[derive(Debug, Clone)]
struct Question {
    name: String,
    digest: Option<Digest>,
    argv: Vec<String>,
    state: State,
}

/// What to do about one deletion now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    Approved,
    /// Kept; `first` when this veto was not said yet.
    Vetoed {
        why: String,
        first: bool,
    },
    /// A hook is running in this run: wait for its answer.
    Wait,
    /// Start the hook for it (then [`HookAnswers::asked`]).
    Ask,
}

/// The times an answer depends on.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    pub now: Instant,
    /// How long a veto stands, and an approval at least.
    pub retry: Duration,
    /// The hook's `hook_timeout`.
    pub timeout: Duration,
}

/// A run's questions (few at a time: a short vector).
#[derive(Debug, Default)]
pub struct HookAnswers(Vec<Question>);

impl HookAnswers {
    pub fn next(&mut self, name: &str, digest: Option<Digest>, argv: &[String], t: Clock) -> Next {
        if let Some(i) = self.0.iter().position(|q| q.name == name) {
            let q = &mut self.0[i];
            let same = q.digest == digest && q.argv == argv;
            match &mut q.state {
                State::Asked(since) if t.now < *since + t.timeout + LOST_AFTER => {
                    return Next::Wait;
                }
                State::Approved(at) if same && t.now < *at + approval_lasts(t.retry) => {
                    return Next::Approved;
                }
                State::Vetoed { why, until, said } if same && t.now < *until => {
                    let first = !*said;
                    *said = true;
                    return Next::Vetoed {
                        why: why.clone(),
                        first,
                    };
                }
                // Lost, expired, or about other content or another command.
                _ => {
                    self.0.swap_remove(i);
                }
            }
        }
        if self.0.iter().any(|q| q.running(t)) {
            Next::Wait
        } else {
            Next::Ask
        }
    }

    pub fn asked(&mut self, name: &str, digest: Option<Digest>, argv: &[String], now: Instant) {
        self.forget(name);
        self.0.push(Question {
            name: name.to_owned(),
            digest,
            argv: argv.to_vec(),
            state: State::Asked(now),
        });
    }

    /// The hook `argv` asked about `name` at `digest` ended: `Ok` to approve, `Err(why)` to
    /// veto. An answer nobody waits for any more is still kept: [`Self::next`] only takes it
    /// for the same content and command.
    pub fn answered(
        &mut self,
        name: &str,
        (digest, argv): (Option<Digest>, &[String]),
        answer: Result<(), String>,
        t: Clock,
    ) {
        self.forget(name);
        self.0.push(Question {
            name: name.to_owned(),
            digest,
            argv: argv.to_vec(),
            state: match answer {
                Ok(()) => State::Approved(t.now),
                Err(why) => State::Vetoed {
                    why,
                    until: t.now + t.retry,
                    said: false,
                },
            },
        });
    }

    /// `name` is deleted (or gone): its answer is spent.
    pub fn forget(&mut self, name: &str) {
        self.0.retain(|q| q.name != name);
    }

    /// Keeps only the answers about checkpoints that may still be deleted (`deletable`);
    /// one protected since is asked again if it comes back. A running hook stays until it
    /// ends.
    pub fn retain(&mut self, deletable: impl Fn(&str) -> bool) {
        self.0
            .retain(|q| matches!(q.state, State::Asked(_)) || deletable(&q.name));
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Question {
    fn running(&self, t: Clock) -> bool {
        matches!(self.state, State::Asked(since) if t.now < since + t.timeout + LOST_AFTER)
    }
}

#[cfg(test)]
#[path = "hook_answers_tests.rs"]
mod tests;
