//! The executor: carries a plan out, one deletion at a time, re-checking every safety
//! condition at the moment it acts. A dry run is the executor that only logs.

mod action;
mod entries;
mod recheck;
pub mod slim;
pub mod trash;

use std::path::Path;
use std::time::Instant;

use crate::checkpoint::{Checkpoint, Fingerprint};
use crate::config::Watch;
use crate::plan::{Plan, Reason, Verdict};
use crate::shutdown::Shutdown;
pub use action::{ActionError, ActionErrorKind, Deleted};
pub use slim::{finish_interrupted, Slimmed};
use trash::RunDir;

/// What the executor did with one run's plan.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Checkpoints removed.
    pub deleted: Vec<Deleted>,
    /// Checkpoints a dry run would have removed.
    pub would_delete: Vec<Deleted>,
    /// Deletions not made: skipped (gone or changed since planning, a WARN) or failed (an
    /// I/O error, an ERROR); see [`ActionError::is_failure`].
    pub errors: Vec<ActionError>,
    /// Deletions left for the run's next pass: the pass's time slice was used up.
    pub deferred: usize,
    /// Something moved out of the run could not be removed: the trash needs another try.
    pub trash_left: bool,
    /// Checkpoints slimmed (their training state removed).
    pub slimmed: Vec<Slimmed>,
    /// Checkpoints a dry run would have slimmed.
    pub would_slim: Vec<Slimmed>,
    /// Deletions waiting for the `before_delete` hook's answer (the daemon's hooks run in
    /// the background): the answer brings the run back.
    pub awaiting_hook: usize,
}

impl Outcome {
    /// Bytes freed by deletions and slims.
    pub fn bytes_freed(&self) -> u64 {
        self.deleted.iter().map(|d| d.bytes).sum::<u64>()
            + self.slimmed.iter().map(|s| s.bytes).sum::<u64>()
    }

    /// Deletions skipped because the disk changed under the plan.
    pub fn skipped(&self) -> usize {
        self.errors.iter().filter(|e| !e.is_failure()).count()
    }

    /// Deletions that failed.
    pub fn failed(&self) -> usize {
        self.errors.iter().filter(|e| e.is_failure()).count()
    }

    /// The checkpoints whose deletion failed.
    pub fn failed_names(&self) -> impl Iterator<Item = &str> {
        self.errors
            .iter()
            .filter(|e| e.is_failure())
            .map(|e| e.checkpoint.as_str())
    }

    /// Adds another run's outcome to this one.
    pub fn absorb(&mut self, other: Outcome) {
        self.deleted.extend(other.deleted);
        self.would_delete.extend(other.would_delete);
        self.errors.extend(other.errors);
        self.deferred += other.deferred;
        self.trash_left |= other.trash_left;
        self.slimmed.extend(other.slimmed);
        self.would_slim.extend(other.would_slim);
        self.awaiting_hook += other.awaiting_hook;
    }

    /// Deletions the `before_delete` hook vetoed.
    pub fn vetoed(&self) -> usize {
        self.errors
            .iter()
            .filter(|e| matches!(e.kind, ActionErrorKind::Vetoed(_)))
            .count()
    }
}

/// The `before_delete` hook's answer about one deletion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Approval {
    Approved,
    /// No: kept, with why (the hook's exit and last line of output); `first` when this answer
    /// was not said before (the daemon keeps a veto for a while and says it once).
    Vetoed {
        why: String,
        first: bool,
    },
    /// Not known yet: the deletion waits for a later pass.
    Pending,
}

/// Where every deletion is recorded as it happens: the intent before the rename (flushed to
/// disk), the result after, so a crash at any instant leaves no deletion unrecorded. The
/// daemon's ledger is one; one-shot commands record nothing beyond their log.
pub trait Journal {
    /// About to move `v` out of the run (an intent, recorded before the batch's renames).
    fn deleting(&mut self, _run: &Path, _watch: &str, _v: &Verdict) {}
    /// Moving `v` out of the run now (nothing to record; the daemon tells its watcher).
    fn moving(&mut self, _run: &Path, _v: &Verdict) {}
    /// `v` is gone from the run and removed.
    fn deleted(&mut self, _run: &Path, _watch: &str, _v: &Verdict) {}
    /// `v` was not deleted, or (with `in_trash`) was moved out of the run but not removed.
    fn not_deleted(
        &mut self,
        _run: &Path,
        _watch: &str,
        _v: &Verdict,
        _error: &str,
        _in_trash: bool,
    ) {
    }
    /// A leftover in the trash (of a crash, or of a failed removal) was removed.
    fn trash_removed(&mut self, _run: &Path, _path: &Path) {}
    /// About to slim `v` (an intent, made durable by the `sync` that follows).
    fn slimming(&mut self, _run: &Path, _watch: &str, _v: &Verdict) {}
    /// `v` lost `bytes` of training state; its fingerprint is now `after`, a change that is
    /// ckptd's own and not a new write.
    fn slimmed(
        &mut self,
        _run: &Path,
        _watch: &str,
        _v: &Verdict,
        _bytes: u64,
        _after: Option<Fingerprint>,
    ) {
    }
    /// `v` was not slimmed.
    fn not_slimmed(&mut self, _run: &Path, _watch: &str, _v: &Verdict, _error: &str) {}
    /// An interrupted slimming of `name` was finished; its fingerprint is now `after`.
    fn slim_finished(&mut self, _run: &Path, _name: &str, _after: Option<Fingerprint>) {}
    /// Makes everything recorded so far durable (it survives a power loss, not only a crash).
    fn sync(&mut self) {}
    /// Asked before each deletion when the watch has a `before_delete` hook, before any
    /// deletion of the pass is re-checked or made. Without a way to run hooks, nothing is
    /// approved.
    fn approve(&mut self, _run: &Path, _watch: &Watch, _v: &Verdict) -> Approval {
        Approval::Vetoed {
            why: "this command does not run hooks".to_owned(),
            first: true,
        }
    }
}

/// The journal of commands that keep none.
pub struct NoJournal;

impl Journal for NoJournal {}

/// Empties trash left by an interrupted pass or a failed removal (when there is none, this
/// costs a stat and a listing of the run). Errors are logged (ERROR), never fatal.
pub fn empty_leftover_trash(run: &Path, journal: &mut dyn Journal) -> std::io::Result<()> {
    let removed = RunDir::open(run)
        .and_then(|dir| dir.empty_trash())
        .inspect_err(|e| {
            tracing::error!(run = %run.display(), error = %e, "cannot empty the trash of {}: {e}{}; retried later", run.display(), crate::io_hint::hint(e));
        })?;
    for path in &removed {
        tracing::info!(run = %run.display(), path = %path.display(), "removed trash left by an interrupted deletion");
        journal.trash_removed(run, path);
    }
    Ok(())
}

/// When the executor stops before the next deletion, and in what order it tries them. The
/// deletion in flight always finishes.
pub struct Until<'a> {
    /// Once asked for, the rest wait for the next start.
    pub shutdown: &'a Shutdown,
    /// The end of the daemon's time slice for this pass: the rest of a large backlog waits for
    /// the run's next pass ([`Outcome::deferred`]), so that other runs, reloads and signals are
    /// not kept waiting.
    pub deadline: Option<Instant>,
    /// Whether the first deletion is attempted even past the deadline (so a backlog always
    /// shrinks); not when the deadline is a hard one, as at start before READY: then nothing
    /// at all is tried past it.
    pub first_is_free: bool,
    /// Checkpoints to try after all others: those whose deletion failed before (a mount
    /// point, an immutable file), which would otherwise use up every slice first.
    pub try_last: Option<&'a dyn Fn(&str) -> bool>,
    /// When set, only the checkpoints it accepts may be deleted (what a user confirmed at
    /// `prune`'s prompt); the others are skipped.
    pub only: Option<&'a dyn Fn(&str) -> bool>,
}

impl<'a> Until<'a> {
    /// No deadline, plan order: only a shutdown stops it.
    pub fn shutdown(shutdown: &'a Shutdown) -> Self {
        Self {
            shutdown,
            deadline: None,
            first_is_free: true,
            try_last: None,
            only: None,
        }
    }
}

/// Intents are recorded and flushed in batches, the first of `FIRST_BATCH`, each next one
/// twice as large up to `LARGEST_BATCH`: one flush costs milliseconds, so a pass deleting
/// thousands flushes a few dozen times, and a pass that stops early (at its deadline, on
/// shutdown) leaves at most one batch of intents unfulfilled.
const FIRST_BATCH: usize = 16;
const LARGEST_BATCH: usize = 256;

/// `deletions` cut into batches of growing size.
fn batches<T>(mut deletions: &[T]) -> Vec<&[T]> {
    let mut out = Vec::new();
    let mut size = FIRST_BATCH;
    while !deletions.is_empty() {
        let (batch, rest) = deletions.split_at(size.min(deletions.len()));
        out.push(batch);
        deletions = rest;
        size = (size * 2).min(LARGEST_BATCH);
    }
    out
}

/// Carries out the deletions, then the slims, of `plan` for `run` within `until`, recording
/// each in `journal`. Every verdict carries the checkpoint it was planned from: its
/// fingerprint must still match.
pub fn carry_out(
    run: &Path,
    watch: &Watch,
    plan: &Plan,
    until: &Until<'_>,
    journal: &mut dyn Journal,
) -> Outcome {
    let mut outcome = carry_out_deletions(run, watch, plan, until, journal);
    slim::carry_out(run, watch, plan, until, journal, &mut outcome);
    outcome
}

fn carry_out_deletions(
    run: &Path,
    watch: &Watch,
    plan: &Plan,
    until: &Until<'_>,
    journal: &mut dyn Journal,
) -> Outcome {
    let mut outcome = Outcome::default();
    let mut deletions: Vec<&Verdict> = plan.deletions().collect();
    if let Some(only) = until.only {
        deletions.retain(|v| {
            let confirmed = only(&v.name);
            if !confirmed {
                let why = "it was not among the deletions confirmed at the prompt";
                tracing::warn!(run = %run.display(), checkpoint = %v.name, "deletion skipped: {} in {}: {why} (the plan changed since; run prune again)", v.name, run.display());
                outcome.errors.push(ActionError::new(
                    &v.name,
                    run.join(&v.name),
                    ActionErrorKind::Changed(why.to_owned()),
                ));
            }
            confirmed
        });
    }
    if watch.hooks.before_delete.is_some() {
        deletions.retain(|v| approved(run, watch, v, journal, &mut outcome));
    }
    if deletions.is_empty() {
        return outcome;
    }
    if let Some(last) = until.try_last {
        // Stable: otherwise in plan order.
        deletions.sort_by_key(|v| last(&v.name));
    }
    if !until.first_is_free && until.deadline.is_some_and(|d| Instant::now() >= d) {
        // Past a hard deadline nothing is tried: no listing, no intents.
        outcome.deferred = deletions.len();
        return outcome;
    }
    let opened = RunDir::open(run).and_then(|dir| {
        let pointers = recheck::Pointers::read(&dir, watch)?;
        Ok((dir, pointers))
    });
    let (dir, pointers) = match opened {
        Ok(opened) => opened,
        Err(e) => {
            tracing::error!(run = %run.display(), error = %e, "cannot read run directory {} (or its pointers): {e}{}; nothing deleted there", run.display(), crate::io_hint::hint(&e));
            for v in deletions {
                let error = std::io::Error::new(e.kind(), e.to_string());
                outcome.errors.push(ActionError::new(
                    &v.name,
                    run.to_owned(),
                    ActionErrorKind::Io(error),
                ));
            }
            return outcome;
        }
    };
    let mut executor = Executor {
        run,
        watch,
        dir,
        pointers,
        anchors: anchors(plan),
        journal,
        outcome,
    };
    executor.run_batches(&deletions, until);
    executor.journal.sync();
    executor.dir.tidy_trash();
    executor.outcome
}

/// Whether the `before_delete` hook lets `v` go now; a veto is said (WARN) and counted as a
/// skip, a pending answer as waiting.
fn approved(
    run: &Path,
    watch: &Watch,
    v: &Verdict,
    journal: &mut dyn Journal,
    outcome: &mut Outcome,
) -> bool {
    // No intent was recorded yet, so the ledger has nothing to answer: the WARN says it.
    match journal.approve(run, watch, v) {
        Approval::Approved => true,
        Approval::Pending => {
            outcome.awaiting_hook += 1;
            false
        }
        Approval::Vetoed { why, first } => {
            if first {
                log_veto(run, watch, v, &why);
            }
            outcome.errors.push(ActionError::new(
                &v.name,
                run.join(&v.name),
                ActionErrorKind::Vetoed(why),
            ));
            false
        }
    }
}

/// The WARN for a deletion the `before_delete` hook refused.
pub fn log_veto(run: &Path, watch: &Watch, v: &Verdict, why: &str) {
    tracing::warn!(run = %run.display(), watch = %watch.name, checkpoint = %v.name, step = v.step, reasons = "vetoed", reason = %why, "deletion vetoed by before_delete: {} in {} kept: {why}; asked again at the next try", v.name, run.display());
}

/// The newest complete checkpoints are what makes the others deletable (the resume point). A
/// trainer may start re-saving one of them after the plan was made; from then on it is not
/// complete, and the older ones are the resume point again.
fn anchors(plan: &Plan) -> Vec<&Checkpoint> {
    plan.verdicts
        .iter()
        .filter(|v| v.reasons.contains(&Reason::NewestComplete))
        .map(|v| &v.checkpoint)
        .collect()
}

/// One run's deletions in progress.
struct Executor<'a, 'j> {
    run: &'a Path,
    watch: &'a Watch,
    dir: RunDir,
    pointers: recheck::Pointers,
    anchors: Vec<&'a Checkpoint>,
    journal: &'j mut dyn Journal,
    outcome: Outcome,
}

/// Why the executor stopped before the end of its deletions.
enum Stop {
    Shutdown,
    Deadline,
    AnchorChanged,
}

impl Executor<'_, '_> {
    fn run_batches(&mut self, deletions: &[&Verdict], until: &Until<'_>) {
        let mut attempted = 0;
        for batch in batches(deletions) {
            // Every intent of a batch is on disk before its first rename.
            for v in batch {
                self.journal.deleting(self.run, &self.watch.name, v);
            }
            self.journal.sync();
            for (i, v) in batch.iter().enumerate() {
                // This one and every one after it.
                let rest = &deletions[attempted..];
                let stop = if until.shutdown.requested() {
                    Some(Stop::Shutdown)
                } else if (attempted > 0 || !until.first_is_free)
                    && until.deadline.is_some_and(|d| Instant::now() >= d)
                {
                    Some(Stop::Deadline)
                } else {
                    attempted += 1;
                    self.try_one(v).err()
                };
                if let Some(stop) = stop {
                    self.stop(&stop, &batch[i..], rest);
                    return;
                }
            }
        }
    }

    /// Re-checks `v` and deletes it; `Err` when the pass must stop before it.
    fn try_one(&mut self, v: &Verdict) -> Result<(), Stop> {
        // A due listing of the pointers comes first, outside the check-to-rename window; pins
        // and pointers after the walk of the victim: a pin made meanwhile counts.
        let checked = self
            .pointers
            .refresh(&self.dir, self.watch)
            .map_err(|e| ActionError::from_io(&v.name, self.run.to_owned(), e, false))
            .and_then(|()| recheck::still_deletable(&self.dir, self.watch, &v.checkpoint))
            .and_then(|()| recheck::still_unprotected(&self.dir, &self.pointers, &v.name));
        if let Err(error) = checked {
            self.not_done(v, error, false);
            return Ok(());
        }
        self.journal.moving(self.run, v);
        // Last, right before the rename (nothing between them but the rename itself): a
        // trainer that starts re-saving the newest checkpoint in place makes the older ones
        // the resume point again.
        if let Some(changed) = self
            .anchors
            .iter()
            .find(|a| !recheck::unchanged(&self.dir, a))
        {
            tracing::warn!(run = %self.run.display(), checkpoint = %changed.name, "newest complete checkpoint {} in {} changed since planning (re-saved in place?): the deletions left wait for the next pass", changed.name, self.run.display());
            return Err(Stop::AnchorChanged);
        }
        self.delete(v);
        Ok(())
    }

    /// Answers the intents left in the batch and accounts for the `rest` not made.
    fn stop(&mut self, stop: &Stop, in_batch: &[&Verdict], rest: &[&Verdict]) {
        let (why, run) = (
            match stop {
                Stop::Shutdown => "ckptd is stopping",
                Stop::Deadline => "deferred to the run's next pass",
                Stop::AnchorChanged => "the newest complete checkpoint changed",
            },
            self.run,
        );
        for v in in_batch {
            self.journal
                .not_deleted(run, &self.watch.name, v, why, false);
        }
        match stop {
            Stop::Shutdown => {
                let left = rest.len();
                tracing::info!(run = %run.display(), left, "stopping: {left} deletions in {} not made, left for the next pass", run.display());
            }
            Stop::Deadline => {
                // Not tried this pass: the next pass plans them again.
                let left = rest.len();
                self.outcome.deferred = left;
                tracing::debug!(run = %run.display(), deferred = left, "time slice used up: {left} deletions deferred to the run's next pass");
            }
            Stop::AnchorChanged => {
                for v in rest {
                    self.outcome.errors.push(ActionError::new(
                        &v.name,
                        run.join(&v.name),
                        ActionErrorKind::Changed(why.to_owned()),
                    ));
                }
            }
        }
    }

    /// Records and logs a deletion not made.
    fn not_done(&mut self, v: &Verdict, error: ActionError, in_trash: bool) {
        let (run, name) = (self.run, &v.name);
        self.journal
            .not_deleted(run, &self.watch.name, v, &error.to_string(), in_trash);
        match &error.kind {
            ActionErrorKind::Gone => {
                tracing::warn!(run = %run.display(), checkpoint = %name, "deletion of {name} in {} skipped: already gone", run.display());
            }
            ActionErrorKind::Changed(why) => {
                tracing::warn!(run = %run.display(), checkpoint = %name, reason = %why, "deletion skipped: changed since planning: {name} in {}: {why}", run.display());
            }
            ActionErrorKind::Io(_) if in_trash => {
                self.outcome.trash_left = true;
                tracing::error!(run = %run.display(), checkpoint = %name, path = %error.path.display(), error = %error, "checkpoint {name} moved to {} but not removed: {error}; retried later", error.path.display());
            }
            ActionErrorKind::Io(_) => {
                tracing::error!(run = %run.display(), checkpoint = %name, path = %error.path.display(), error = %error, "cannot delete checkpoint {name} in {}: {error}", run.display());
            }
            // Said where the hook answered, before any re-check.
            ActionErrorKind::Vetoed(_) => {}
        }
        self.outcome.errors.push(error);
    }

    /// Moves `v` out of the run and removes it, recording and logging the result.
    fn delete(&mut self, v: &Verdict) {
        let trashed = match self.dir.move_to_trash(&v.name) {
            Ok(trashed) => trashed,
            Err(e) => {
                let error = ActionError::from_io(&v.name, self.run.join(&v.name), e, true);
                self.not_done(v, error, false);
                return;
            }
        };
        if let Err(e) = self.dir.remove_trashed(&trashed) {
            let path = self.dir.trashed_path(&trashed);
            let error = ActionError::new(&v.name, path, ActionErrorKind::Io(e));
            self.not_done(v, error, true);
            return;
        }
        self.journal.deleted(self.run, &self.watch.name, v);
        log_deletion(self.run, self.watch, v, "checkpoint deleted");
        self.outcome.deleted.push(deleted(v));
    }
}

/// What deleting `v` frees, and why.
pub fn deleted(v: &Verdict) -> Deleted {
    Deleted {
        name: v.name.clone(),
        bytes: v.bytes.unwrap_or(0),
        detail: v.detail.clone(),
    }
}

/// The INFO line of a deletion (or, with its message, of a dry run's would-be deletion).
pub fn log_deletion(run: &Path, watch: &Watch, v: &Verdict, message: &str) {
    let metric = watch.policy.keep_best.as_ref().map(|b| b.metric.as_str());
    let pressure = v.reasons.contains(&crate::plan::Reason::Pressure);
    tracing::info!(
        run = %run.display(),
        watch = %watch.name,
        metric = metric.map(tracing::field::display),
        checkpoint = %v.name,
        step = v.step,
        bytes = v.bytes,
        value = v.metric.value(),
        metrics = %v.checkpoint.metrics.to_json(),
        decision = "delete",
        reasons = %v.reasons_text(),
        detail = %v.detail,
        // The message repeats the essentials: `journalctl` shows only the message by default.
        "{message}{}: {}{} ({}): {}",
        if pressure { " under pressure" } else { "" },
        v.name,
        // Pressure chooses across runs: the message says from which.
        if pressure {
            format!(" in {}", run.display())
        } else {
            String::new()
        },
        crate::report::human_bytes(v.bytes.unwrap_or(0)),
        v.detail
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    /// A run of `count` old file checkpoints and its keep_last = 1 watch.
    fn old_run(dir: &Path, count: u64) -> (std::path::PathBuf, Watch) {
        let run = dir.join("run");
        std::fs::create_dir(&run).unwrap();
        for step in 1..=count {
            let file = run.join(format!("ckpt-{step}.pt"));
            std::fs::write(&file, [1u8; 8]).unwrap();
            filetime::set_file_mtime(
                &file,
                filetime::FileTime::from_unix_time(1_000_000_000 + i64::try_from(step).unwrap(), 0),
            )
            .unwrap();
        }
        let text = "[[watch]]\nname = \"w\"\nruns = [\"run\"]\nlayout = \"generic\"\npattern = \"ckpt-{step}.pt\"\nkeep_last = 1\n";
        let watch = Config::parse(text, &dir.join("ckptd.toml"))
            .unwrap()
            .watches
            .remove(0);
        (run, watch)
    }

    /// The run as scanned, without what the open-writer check says: the `/proc` snapshot is
    /// shared by the whole process for 250 ms, and another test's file open for writing a
    /// moment ago may have had the inode number one of ours has now (the safe direction:
    /// that checkpoint is incomplete for one look, but these tests count deletions).
    fn scan(run: &Path, watch: &Watch) -> Vec<Checkpoint> {
        let mut scanned = crate::scan::scan_run(run, watch).unwrap();
        for c in &mut scanned {
            c.writers = crate::checkpoint::Writers::Checked { open: false };
        }
        scanned
    }

    /// No deadline, plan order.
    fn unlimited(never: &Shutdown) -> Until<'_> {
        Until::shutdown(never)
    }

    /// A run of `count` old checkpoints (see `old_run`), scanned and planned with keep_last = 1.
    fn planned(dir: &Path, count: u64) -> (std::path::PathBuf, Watch, Plan) {
        let (run, watch) = old_run(dir, count);
        let scanned = scan(&run, &watch);
        let plan = crate::plan::plan(&scanned, &watch.policy, std::time::SystemTime::now());
        (run, watch, plan)
    }

    /// Every journal event as `(event, checkpoint)`.
    #[derive(Default)]
    struct Recorder {
        events: Vec<(&'static str, String)>,
    }

    impl Journal for Recorder {
        fn deleting(&mut self, _: &Path, _: &str, v: &Verdict) {
            self.events.push(("deleting", v.name.clone()));
        }
        fn deleted(&mut self, _: &Path, _: &str, v: &Verdict) {
            self.events.push(("deleted", v.name.clone()));
        }
        fn not_deleted(&mut self, _: &Path, _: &str, v: &Verdict, error: &str, _: bool) {
            self.events
                .push(("not-deleted", format!("{} ({error})", v.name)));
        }
        fn trash_removed(&mut self, _: &Path, _: &Path) {}
    }

    fn count(events: &[(&str, String)], kind: &str) -> usize {
        events.iter().filter(|(k, _)| *k == kind).count()
    }

    #[test]
    fn past_its_deadline_a_pass_makes_one_deletion_and_defers_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let (run, watch, plan) = planned(dir.path(), 600);
        assert_eq!(plan.deletions().count(), 599);
        let never = Shutdown::never();
        let until = Until {
            deadline: Some(Instant::now()),
            ..unlimited(&never)
        };
        let mut journal = Recorder::default();
        let outcome = carry_out(&run, &watch, &plan, &until, &mut journal);
        // One deletion (a backlog always shrinks), the rest deferred, not failed or skipped.
        assert_eq!(outcome.deleted.len(), 1, "{outcome:?}");
        assert_eq!(
            (outcome.deferred, outcome.skipped(), outcome.failed()),
            (598, 0, 0)
        );
        assert_eq!(std::fs::read_dir(&run).unwrap().count(), 599);
        // Intents only for the first batch, each answered: no intent is left open.
        assert_eq!(count(&journal.events, "deleting"), FIRST_BATCH);
        assert_eq!(count(&journal.events, "deleted"), 1);
        assert_eq!(count(&journal.events, "not-deleted"), FIRST_BATCH - 1);
        assert!(journal
            .events
            .iter()
            .all(|(kind, what)| *kind != "not-deleted"
                || what.ends_with("(deferred to the run's next pass)")));
    }

    #[test]
    fn past_a_hard_deadline_nothing_is_tried_and_failures_go_last() {
        let dir = tempfile::tempdir().unwrap();
        let (run, watch, plan) = planned(dir.path(), 6);
        let never = Shutdown::never();
        // Before READY, past the first look's time: not even one.
        let hard = Until {
            deadline: Some(Instant::now()),
            first_is_free: false,
            ..unlimited(&never)
        };
        let mut journal = Recorder::default();
        let outcome = carry_out(&run, &watch, &plan, &hard, &mut journal);
        assert_eq!(
            (outcome.deleted.len(), outcome.deferred),
            (0, 5),
            "{outcome:?}"
        );
        assert_eq!(std::fs::read_dir(&run).unwrap().count(), 6);
        // Not even a listing or an intent: nothing in the ledger.
        assert!(journal.events.is_empty(), "{:?}", journal.events);
        // Names that failed before are tried after all others.
        let failed_before = |name: &str| name == "ckpt-1.pt" || name == "ckpt-2.pt";
        let reordered = Until {
            try_last: Some(&failed_before),
            ..unlimited(&never)
        };
        let mut journal = Recorder::default();
        let outcome = carry_out(&run, &watch, &plan, &reordered, &mut journal);
        let order: Vec<&str> = outcome.deleted.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(
            order,
            [
                "ckpt-3.pt",
                "ckpt-4.pt",
                "ckpt-5.pt",
                "ckpt-1.pt",
                "ckpt-2.pt"
            ]
        );
    }

    #[test]
    fn without_a_deadline_intents_come_in_batches_before_their_renames() {
        let dir = tempfile::tempdir().unwrap();
        let (run, watch, plan) = planned(dir.path(), 600);
        let never = Shutdown::never();
        let until = unlimited(&never);
        let mut journal = Recorder::default();
        let outcome = carry_out(&run, &watch, &plan, &until, &mut journal);
        assert_eq!((outcome.deleted.len(), outcome.deferred), (599, 0));
        let kinds: Vec<&str> = journal.events.iter().map(|(k, _)| *k).collect();
        // 16 intents, 16 results, then 32, 64, 128, 256, and the last 87.
        let mut expected = Vec::new();
        for batch in [16, 32, 64, 128, 256, 599 - 496] {
            expected.extend(std::iter::repeat_n("deleting", batch));
            expected.extend(std::iter::repeat_n("deleted", batch));
        }
        assert_eq!(kinds, expected);
    }

    #[test]
    fn only_what_was_confirmed_is_deleted() {
        // `prune` asked about a plan made before it took the locks: a deletion the plan under
        // the lock adds was not confirmed, and waits.
        let dir = tempfile::tempdir().unwrap();
        let (run, watch, plan) = planned(dir.path(), 4);
        let never = Shutdown::never();
        let confirmed = |name: &str| name != "ckpt-2.pt";
        let until = Until {
            only: Some(&confirmed),
            ..unlimited(&never)
        };
        let outcome = carry_out(&run, &watch, &plan, &until, &mut NoJournal);
        let deleted: Vec<&str> = outcome.deleted.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(deleted, ["ckpt-1.pt", "ckpt-3.pt"]);
        assert_eq!((outcome.skipped(), outcome.failed()), (1, 0));
        assert!(run.join("ckpt-2.pt").exists());
    }

    #[test]
    fn a_pointer_made_after_planning_protects_its_target() {
        let dir = tempfile::tempdir().unwrap();
        let (run, watch, plan) = planned(dir.path(), 6);
        assert_eq!(plan.deletions().count(), 5);
        std::os::unix::fs::symlink("ckpt-4.pt", run.join("best")).unwrap();
        let mut journal = Recorder::default();
        let never = Shutdown::never();
        let until = unlimited(&never);
        let outcome = carry_out(&run, &watch, &plan, &until, &mut journal);
        assert_eq!(
            (outcome.deleted.len(), outcome.skipped()),
            (4, 1),
            "{outcome:?}"
        );
        assert!(run.join("ckpt-4.pt").exists());
        assert!(journal.events.contains(&(
            "not-deleted",
            "ckpt-4.pt (a pointer names it now)".to_owned()
        )));
    }

    #[test]
    fn deletions_wait_when_the_newest_complete_changed_since_planning() {
        // A trainer starts re-saving the newest checkpoint between the plan and the deletion:
        // the older one is the resume point again, and must stay.
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        std::fs::create_dir(&run).unwrap();
        let old = filetime::FileTime::from_unix_time(1_000_000_000, 0);
        for step in [1, 2] {
            let file = run.join(format!("ckpt-{step}.pt"));
            std::fs::write(&file, [1u8; 64]).unwrap();
            filetime::set_file_mtime(
                &file,
                filetime::FileTime::from_unix_time(1_000_000_000 + step, 0),
            )
            .unwrap();
        }
        let text = "[[watch]]\nname = \"w\"\nruns = [\"run\"]\nlayout = \"generic\"\npattern = \"ckpt-{step}.pt\"\nkeep_last = 1\n";
        let watch = Config::parse(text, &dir.path().join("ckptd.toml"))
            .unwrap()
            .watches
            .remove(0);
        let scanned = scan(&run, &watch);
        let plan = crate::plan::plan(&scanned, &watch.policy, std::time::SystemTime::now());
        assert_eq!(
            plan.deletions()
                .map(|v| v.name.as_str())
                .collect::<Vec<_>>(),
            ["ckpt-1.pt"]
        );
        // Truncated and half rewritten, its mtime even set back: size and ctime tell.
        std::fs::write(run.join("ckpt-2.pt"), [2u8; 32]).unwrap();
        filetime::set_file_mtime(run.join("ckpt-2.pt"), old).unwrap();
        let never = Shutdown::never();
        let outcome = carry_out(&run, &watch, &plan, &unlimited(&never), &mut NoJournal);
        assert!(outcome.deleted.is_empty(), "{outcome:?}");
        assert_eq!(outcome.skipped(), 1);
        assert!(run.join("ckpt-1.pt").exists());
    }
}
