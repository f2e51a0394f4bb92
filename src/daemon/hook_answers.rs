//! What the daemon knows of its `before_delete` hooks in one run: which checkpoint a hook is
//! running for, and the answers not yet used. An answer is about one question: the checkpoint's
//! content when it was asked (its fingerprint) and the command that answered (a reload that
//! changes `before_delete` makes every earlier answer void). One hook runs per run at a time,
//! so a backlog of thousands of deletions does not start thousands of processes.
//!
//! Time is passed in: an approval holds for a minute, a veto for the retry interval
//! (the checkpoint is not asked about again before, whatever wakes the run), and a hook whose
//! answer never came (its run was set aside meanwhile) is given up on after its timeout.

use std::time::{Duration, Instant};

use crate::checkpoint::Digest;

/// How long an approval holds: enough for the deletion's pass, or the next one.
const APPROVAL_LASTS: Duration = Duration::from_mins(1);

/// How long after its timeout a hook's answer is still waited for.
const LOST_AFTER: Duration = Duration::from_secs(30);

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

/// What a question is about, besides the checkpoint's name: its content, the command asked,
/// and the plan's reasons for deleting it (in `CKPTD_REASONS`: a hook may answer a pressure
/// deletion and a rule's differently).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    pub digest: Option<Digest>,
    pub argv: Vec<String>,
    /// The reasons' bits ([`crate::plan::Reason::bit`]).
    pub reasons: u32,
}

#[derive(Debug, Clone)]
struct Question {
    name: String,
    subject: Subject,
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

/// A veto in force: why, whether it is said for the first time, and when it lapses (the
/// checkpoint is asked about again then).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StandingVeto {
    pub why: String,
    pub first: bool,
    pub until: Instant,
}

/// The times an answer depends on.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    pub now: Instant,
    /// How long a veto stands.
    pub retry: Duration,
    /// The hook's `hook_timeout`.
    pub timeout: Duration,
}

/// A run's questions (few at a time: a short vector).
#[derive(Debug, Default)]
pub struct HookAnswers(Vec<Question>);

impl HookAnswers {
    pub fn next(&mut self, name: &str, subject: &Subject, t: Clock) -> Next {
        if let Some(i) = self.0.iter().position(|q| q.name == name) {
            let q = &mut self.0[i];
            let same = q.subject == *subject;
            match &mut q.state {
                State::Asked(since) if t.now < *since + t.timeout + LOST_AFTER => {
                    return Next::Wait;
                }
                State::Approved(at) if same && t.now < *at + APPROVAL_LASTS => {
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
                // Lost, expired, or about other content, another command or other reasons.
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

    /// A veto that stands for `name` at this content and command, whatever the reasons it
    /// was asked for (a checkpoint the hook refused to let go is kept from every deletion,
    /// pressure's included, so pressure turns to others): why, and whether it is said for
    /// the first time.
    pub fn standing_veto(
        &mut self,
        name: &str,
        digest: Option<Digest>,
        argv: &[String],
        now: Instant,
    ) -> Option<StandingVeto> {
        let q = self.0.iter_mut().find(|q| q.name == name)?;
        if q.subject.digest != digest || q.subject.argv != argv {
            return None;
        }
        match &mut q.state {
            State::Vetoed { why, until, said } if now < *until => {
                let first = !*said;
                *said = true;
                Some(StandingVeto {
                    why: why.clone(),
                    first,
                    until: *until,
                })
            }
            _ => None,
        }
    }

    pub fn asked(&mut self, name: &str, subject: Subject, now: Instant) {
        self.forget(name);
        self.0.push(Question {
            name: name.to_owned(),
            subject,
            state: State::Asked(now),
        });
    }

    /// The hook asked about `name` and `subject` ended: `Ok` to approve, `Err(why)` to
    /// veto. An answer nobody waits for any more is still kept: [`Self::next`] only takes it
    /// for the same subject.
    pub fn answered(&mut self, name: &str, subject: Subject, answer: Result<(), String>, t: Clock) {
        self.forget(name);
        self.0.push(Question {
            name: name.to_owned(),
            subject,
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
