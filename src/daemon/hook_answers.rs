//! What the daemon knows of its `before_delete` hooks in one run: which checkpoint a hook is
//! running for, and the answers not yet used. An answer is about the checkpoint's content when
//! it was asked (its fingerprint): a checkpoint written again is asked again. One hook runs
//! per run at a time, so a backlog of thousands of deletions does not start thousands of
//! processes; other runs' hooks run beside it.

use crate::checkpoint::Digest;

/// The state of one checkpoint's question.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Answer {
    /// The hook is running.
    Asked(Option<Digest>),
    /// It exited 0: the deletion may go ahead (until it is made, or the content changes).
    Approved(Option<Digest>),
    /// It said no: used once, by the next try, which then asks again the time after.
    Vetoed(Option<Digest>, String),
}

/// What to do about one deletion now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    Approved,
    Vetoed(String),
    /// A hook is running in this run: wait for its answer.
    Wait,
    /// Start the hook for it (then [`HookAnswers::asked`]).
    Ask,
}

/// A run's questions, by checkpoint name (few at a time: a short vector).
#[derive(Debug, Default)]
pub struct HookAnswers(Vec<(String, Answer)>);

impl HookAnswers {
    pub fn next(&mut self, name: &str, digest: Option<Digest>) -> Next {
        if let Some(i) = self.0.iter().position(|(n, _)| n == name) {
            match &self.0[i].1 {
                Answer::Asked(_) => return Next::Wait,
                Answer::Approved(d) if *d == digest => return Next::Approved,
                Answer::Vetoed(d, why) if *d == digest => {
                    let why = why.clone();
                    self.0.swap_remove(i);
                    return Next::Vetoed(why);
                }
                // About content it no longer has.
                Answer::Approved(_) | Answer::Vetoed(..) => {
                    self.0.swap_remove(i);
                }
            }
        }
        if self.0.iter().any(|(_, a)| matches!(a, Answer::Asked(_))) {
            Next::Wait
        } else {
            Next::Ask
        }
    }

    pub fn asked(&mut self, name: &str, digest: Option<Digest>) {
        self.forget(name);
        self.0.push((name.to_owned(), Answer::Asked(digest)));
    }

    /// The hook asked about `name` at `digest` ended: `Ok` to approve, `Err(why)` to veto.
    pub fn answered(&mut self, name: &str, digest: Option<Digest>, answer: Result<(), String>) {
        self.forget(name);
        self.0.push((
            name.to_owned(),
            match answer {
                Ok(()) => Answer::Approved(digest),
                Err(why) => Answer::Vetoed(digest, why),
            },
        ));
    }

    /// `name` is deleted (or gone): its answer is spent.
    pub fn forget(&mut self, name: &str) {
        self.0.retain(|(n, _)| n != name);
    }

    /// Keeps only the answers about checkpoints `exists` still finds; a running hook stays
    /// until it ends.
    pub fn retain(&mut self, exists: impl Fn(&str) -> bool) {
        self.0
            .retain(|(n, a)| matches!(a, Answer::Asked(_)) || exists(n));
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

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

    #[test]
    fn one_hook_at_a_time_and_an_approval_holds_until_the_content_changes() {
        let mut answers = HookAnswers::default();
        assert_eq!(answers.next("a", digest(1)), Next::Ask);
        answers.asked("a", digest(1));
        assert_eq!(answers.next("a", digest(1)), Next::Wait);
        // Another checkpoint of the same run waits for the running hook.
        assert_eq!(answers.next("b", digest(1)), Next::Wait);
        answers.answered("a", digest(1), Ok(()));
        assert_eq!(answers.next("a", digest(1)), Next::Approved);
        // Still approved until the deletion is made (a deferred deletion keeps it).
        assert_eq!(answers.next("a", digest(1)), Next::Approved);
        // Written again since: asked again.
        assert_eq!(answers.next("a", digest(2)), Next::Ask);
        answers.asked("a", digest(2));
        answers.answered("a", digest(2), Ok(()));
        answers.forget("a");
        assert!(answers.is_empty());
    }

    #[test]
    fn a_veto_is_used_once_then_the_hook_is_asked_again() {
        let mut answers = HookAnswers::default();
        answers.asked("a", digest(1));
        answers.answered("a", digest(1), Err("exit status 1: busy".to_owned()));
        assert_eq!(
            answers.next("a", digest(1)),
            Next::Vetoed("exit status 1: busy".to_owned())
        );
        assert_eq!(answers.next("a", digest(1)), Next::Ask);
    }

    #[test]
    fn answers_about_checkpoints_gone_are_dropped_but_a_running_hook_is_not() {
        let mut answers = HookAnswers::default();
        answers.answered("gone", digest(1), Ok(()));
        answers.asked("running", digest(1));
        answers.retain(|_| false);
        assert_eq!(answers.next("gone", digest(1)), Next::Wait);
        answers.answered("running", digest(1), Ok(()));
        assert_eq!(answers.next("gone", digest(1)), Next::Ask);
    }
}
