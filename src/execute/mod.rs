//! The executor: carries a plan out, one deletion at a time, re-checking every safety
//! condition at the moment it acts. A dry run is the executor that only logs.

mod recheck;
pub mod trash;

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crate::checkpoint::Checkpoint;
use crate::config::Watch;
use crate::plan::{Plan, Reason, Verdict};
use trash::RunDir;

/// What one pass over a run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Checkpoints removed, with their bytes.
    pub deleted: Vec<(String, u64)>,
    /// Why each of `deleted` was deleted, in the same order.
    pub details: Vec<String>,
    /// Checkpoints a dry run would have removed, with their bytes.
    pub would_delete: Vec<(String, u64)>,
    /// Deletions skipped because something changed since planning (WARN, not a failure).
    pub skipped: usize,
    /// Deletions that failed (ERROR): permission denied, busy, and the like.
    pub failed: usize,
    /// The checkpoints whose deletion failed.
    pub failed_names: Vec<String>,
    /// Deletions left for the run's next pass: the pass's time slice was used up.
    pub deferred: usize,
    /// Something moved out of the run could not be removed: the trash needs another try.
    pub trash_left: bool,
}

impl Outcome {
    pub fn bytes_freed(&self) -> u64 {
        self.deleted.iter().map(|(_, b)| b).sum()
    }

    /// Adds another run's outcome to this one.
    pub fn absorb(&mut self, other: Outcome) {
        self.deleted.extend(other.deleted);
        self.details.extend(other.details);
        self.would_delete.extend(other.would_delete);
        self.skipped += other.skipped;
        self.failed += other.failed;
        self.failed_names.extend(other.failed_names);
        self.deferred += other.deferred;
        self.trash_left |= other.trash_left;
    }
}

/// Where every deletion is recorded as it happens: the intent before the rename (flushed to
/// disk), the result after, so a crash at any instant leaves no deletion unrecorded. The daemon's ledger is one;
/// one-shot commands record nothing beyond their log.
pub trait Journal {
    /// About to move `v` out of the run (an intent, recorded before the batch's renames).
    fn deleting(&mut self, run: &Path, watch: &str, v: &Verdict);
    /// Moving `v` out of the run now (nothing to record; the daemon tells its watcher).
    fn moving(&mut self, _run: &Path, _v: &Verdict) {}
    /// `v` is gone from the run and removed.
    fn deleted(&mut self, run: &Path, watch: &str, v: &Verdict);
    /// `v` was not deleted, or (with `in_trash`) was moved out of the run but not removed.
    fn not_deleted(&mut self, run: &Path, watch: &str, v: &Verdict, error: &str, in_trash: bool);
    /// A leftover in the trash (of a crash, or of a failed removal) was removed.
    fn trash_removed(&mut self, run: &Path, path: &Path);
    /// Makes everything recorded so far durable (it survives a power loss, not only a crash).
    fn sync(&mut self) {}
}

/// The journal of commands that keep none.
pub struct NoJournal;

impl Journal for NoJournal {
    fn deleting(&mut self, _: &Path, _: &str, _: &Verdict) {}
    fn deleted(&mut self, _: &Path, _: &str, _: &Verdict) {}
    fn not_deleted(&mut self, _: &Path, _: &str, _: &Verdict, _: &str, _: bool) {}
    fn trash_removed(&mut self, _: &Path, _: &Path) {}
}

/// Empties trash left by an interrupted pass or a failed removal (when there is none, this
/// costs a stat and a listing of the run). Errors are logged, never fatal; returns how many
/// errors (0 or 1).
pub fn empty_leftover_trash(run: &Path, journal: &mut dyn Journal) -> usize {
    let result = RunDir::open(run).and_then(|dir| dir.empty_trash());
    match result {
        Ok(removed) => {
            for path in &removed {
                tracing::info!(run = %run.display(), path = %path.display(), "removed trash left by an interrupted deletion");
                journal.trash_removed(run, path);
            }
            0
        }
        Err(e) => {
            tracing::error!(run = %run.display(), error = %e, "cannot empty the trash of {}: {e}{}; retried later", run.display(), crate::io_hint::hint(&e));
            1
        }
    }
}

/// Carries out the deletions of `plan` for `run`. `scanned` are the checkpoints the plan was
/// made from (their fingerprints must still match).
pub fn carry_out(
    run: &Path,
    watch: &Watch,
    plan: &Plan,
    scanned: &[Checkpoint],
    dry_run: bool,
) -> Outcome {
    let never = AtomicBool::new(false);
    let until = Until {
        stopping: &never,
        deadline: None,
        first_is_free: true,
        try_last: None,
    };
    carry_out_until(run, watch, plan, scanned, dry_run, &until, &mut NoJournal)
}

/// When the executor stops before the next deletion, and in what order it tries them. The
/// deletion in flight always finishes.
pub struct Until<'a> {
    /// Set on shutdown: the rest wait for the next start.
    pub stopping: &'a AtomicBool,
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

/// [`carry_out`] within `until`, recording each deletion in `journal`.
pub fn carry_out_until(
    run: &Path,
    watch: &Watch,
    plan: &Plan,
    scanned: &[Checkpoint],
    dry_run: bool,
    until: &Until<'_>,
    journal: &mut dyn Journal,
) -> Outcome {
    let mut outcome = Outcome::default();
    let mut deletions: Vec<&Verdict> = plan.deletions().collect();
    if deletions.is_empty() {
        return outcome;
    }
    if let Some(last) = until.try_last {
        // Stable: otherwise in plan order.
        deletions.sort_by_key(|v| last(&v.name));
    }
    if dry_run {
        for v in deletions {
            log_deletion(run, watch, v, "dry run: would delete checkpoint");
            outcome
                .would_delete
                .push((v.name.clone(), v.bytes.unwrap_or(0)));
        }
        return outcome;
    }
    if !until.first_is_free && until.deadline.is_some_and(|d| Instant::now() >= d) {
        // Past a hard deadline nothing is tried: no listing, no intents.
        outcome.deferred = deletions.len();
        return outcome;
    }
    let dir = match RunDir::open(run) {
        Ok(dir) => dir,
        Err(e) => {
            tracing::error!(run = %run.display(), error = %e, "cannot open run directory {}: {e}{}; nothing deleted", run.display(), crate::io_hint::hint(&e));
            outcome.failed = deletions.len();
            return outcome;
        }
    };
    let by_name: HashMap<&str, &Checkpoint> =
        scanned.iter().map(|c| (c.name.as_str(), c)).collect();
    // The newest complete checkpoints are what makes the others deletable (the resume
    // point). A trainer may start re-saving one of them after the plan was made; from then on
    // it is not complete, and the older ones are the resume point again.
    let anchors: Vec<&Checkpoint> = plan
        .verdicts
        .iter()
        .filter(|v| v.reasons.contains(&Reason::NewestComplete))
        .filter_map(|v| by_name.get(v.name.as_str()).copied())
        .collect();
    let mut pointers = match recheck::Pointers::read(&dir, watch) {
        Ok(pointers) => pointers,
        Err(e) => {
            tracing::error!(run = %run.display(), error = %e, "cannot read the pointers of {}: {e}; nothing deleted", run.display());
            outcome.failed = deletions.len();
            return outcome;
        }
    };
    let mut attempted = 0;
    'batches: for batch in batches(&deletions) {
        // Every intent of a batch is on disk before its first rename.
        for v in batch {
            journal.deleting(run, &watch.name, v);
        }
        journal.sync();
        for (i, v) in batch.iter().enumerate() {
            let left = deletions.len() - attempted;
            let give_up = |journal: &mut dyn Journal, why: &str| {
                for rest in &batch[i..] {
                    journal.not_deleted(run, &watch.name, rest, why, false);
                }
            };
            if until.stopping.load(Ordering::SeqCst) {
                give_up(journal, "ckptd is stopping");
                break 'batches;
            }
            if (attempted > 0 || !until.first_is_free)
                && until.deadline.is_some_and(|d| Instant::now() >= d)
            {
                give_up(journal, "deferred to the run's next pass");
                outcome.deferred = left;
                tracing::debug!(run = %run.display(), deferred = left, "time slice used up: {left} deletions deferred to the run's next pass");
                break 'batches;
            }
            attempted += 1;
            let Some(checkpoint) = by_name.get(v.name.as_str()) else {
                journal.not_deleted(run, &watch.name, v, "not scanned", false);
                continue;
            };
            // A due listing of the pointers comes first, outside the check-to-rename window.
            if let Err(why) = pointers
                .refresh(&dir, watch)
                .and_then(|()| recheck::still_deletable(&dir, watch, checkpoint))
            {
                journal.not_deleted(run, &watch.name, v, &why, false);
                tracing::warn!(run = %run.display(), checkpoint = %v.name, reason = %why, "deletion skipped: changed since planning: {} in {}: {why}", v.name, run.display());
                outcome.skipped += 1;
                continue;
            }
            // Pins and pointers after the walk of the victim: a pin made meanwhile counts.
            if let Err(why) = recheck::still_unprotected(&dir, &pointers, &v.name) {
                journal.not_deleted(run, &watch.name, v, &why, false);
                tracing::warn!(run = %run.display(), checkpoint = %v.name, reason = %why, "deletion skipped: changed since planning: {} in {}: {why}", v.name, run.display());
                outcome.skipped += 1;
                continue;
            }
            journal.moving(run, v);
            // Last, right before the rename (nothing between them but the rename itself): a
            // trainer that starts re-saving the newest checkpoint in place makes the older
            // ones the resume point again.
            if let Some(changed) = anchors.iter().find(|a| !recheck::unchanged(&dir, a)) {
                give_up(journal, "the newest complete checkpoint changed");
                tracing::warn!(run = %run.display(), checkpoint = %changed.name, deferred = left, "newest complete checkpoint {} changed since planning (re-saved in place?): {left} deletions deferred to the next pass", changed.name);
                outcome.skipped += left;
                break 'batches;
            }
            delete(&dir, run, watch, v, journal, &mut outcome);
        }
    }
    journal.sync();
    dir.tidy_trash();
    outcome
}

/// Moves `v` out of the run and removes it, recording and logging the result.
fn delete(
    dir: &RunDir,
    run: &Path,
    watch: &Watch,
    v: &Verdict,
    journal: &mut dyn Journal,
    outcome: &mut Outcome,
) {
    match dir.move_to_trash(&v.name) {
        Ok(trashed) => match dir.remove_trashed(&trashed) {
            Ok(()) => {
                journal.deleted(run, &watch.name, v);
                log_deletion(run, watch, v, "checkpoint deleted");
                outcome.deleted.push((v.name.clone(), v.bytes.unwrap_or(0)));
                outcome.details.push(v.detail.clone());
            }
            Err(e) => {
                let path = dir.trashed_path(&trashed);
                journal.not_deleted(run, &watch.name, v, &e.to_string(), true);
                tracing::error!(run = %run.display(), checkpoint = %v.name, path = %path.display(), error = %e, "checkpoint {} moved to {} but not removed: {e}{}; retried later", v.name, path.display(), crate::io_hint::hint(&e));
                outcome.failed += 1;
                outcome.failed_names.push(v.name.clone());
                outcome.trash_left = true;
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            journal.not_deleted(run, &watch.name, v, "already gone", false);
            tracing::warn!(run = %run.display(), checkpoint = %v.name, "deletion of {} in {} skipped: already gone", v.name, run.display());
            outcome.skipped += 1;
        }
        Err(e) => {
            journal.not_deleted(run, &watch.name, v, &e.to_string(), false);
            tracing::error!(run = %run.display(), checkpoint = %v.name, error = %e, "cannot delete checkpoint {} in {}: {e}{}", v.name, run.display(), crate::io_hint::hint(&e));
            outcome.failed += 1;
            outcome.failed_names.push(v.name.clone());
        }
    }
}

/// The INFO line of a deletion (or, with its message, of a dry run's would-be deletion).
pub fn log_deletion(run: &Path, watch: &Watch, v: &Verdict, message: &str) {
    let metric = watch.policy.keep_best.as_ref().map(|b| b.metric.as_str());
    tracing::info!(
        run = %run.display(),
        watch = %watch.name,
        metric = metric.map(tracing::field::display),
        checkpoint = %v.name,
        step = v.step,
        bytes = v.bytes,
        value = v.metric.value(),
        metrics = %v.metrics.to_json(),
        decision = "delete",
        reasons = "unkept",
        detail = %v.detail,
        // The message repeats the essentials: `journalctl` shows only the message by default.
        "{message}: {} ({}): {}",
        v.name,
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
    fn unlimited(never: &AtomicBool) -> Until<'_> {
        Until {
            stopping: never,
            deadline: None,
            first_is_free: true,
            try_last: None,
        }
    }

    /// A run of `count` old checkpoints (see `old_run`), scanned and planned with keep_last = 1.
    fn planned(dir: &Path, count: u64) -> (std::path::PathBuf, Watch, Vec<Checkpoint>, Plan) {
        let (run, watch) = old_run(dir, count);
        let scanned = scan(&run, &watch);
        let plan = crate::plan::plan(&scanned, &watch.policy, std::time::SystemTime::now());
        (run, watch, scanned, plan)
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
        let (run, watch, scanned, plan) = planned(dir.path(), 600);
        assert_eq!(plan.deletions().count(), 599);
        let never = AtomicBool::new(false);
        let until = Until {
            deadline: Some(Instant::now()),
            ..unlimited(&never)
        };
        let mut journal = Recorder::default();
        let outcome = carry_out_until(&run, &watch, &plan, &scanned, false, &until, &mut journal);
        // One deletion (a backlog always shrinks), the rest deferred, not failed or skipped.
        assert_eq!(outcome.deleted.len(), 1, "{outcome:?}");
        assert_eq!(
            (outcome.deferred, outcome.skipped, outcome.failed),
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
        let (run, watch, scanned, plan) = planned(dir.path(), 6);
        let never = AtomicBool::new(false);
        // Before READY, past the first look's time: not even one.
        let hard = Until {
            deadline: Some(Instant::now()),
            first_is_free: false,
            ..unlimited(&never)
        };
        let mut journal = Recorder::default();
        let outcome = carry_out_until(&run, &watch, &plan, &scanned, false, &hard, &mut journal);
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
        let outcome = carry_out_until(
            &run,
            &watch,
            &plan,
            &scanned,
            false,
            &reordered,
            &mut journal,
        );
        let order: Vec<&str> = outcome.deleted.iter().map(|(n, _)| n.as_str()).collect();
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
        let (run, watch, scanned, plan) = planned(dir.path(), 600);
        let never = AtomicBool::new(false);
        let until = unlimited(&never);
        let mut journal = Recorder::default();
        let outcome = carry_out_until(&run, &watch, &plan, &scanned, false, &until, &mut journal);
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
    fn a_pointer_made_after_planning_protects_its_target() {
        let dir = tempfile::tempdir().unwrap();
        let (run, watch, scanned, plan) = planned(dir.path(), 6);
        assert_eq!(plan.deletions().count(), 5);
        std::os::unix::fs::symlink("ckpt-4.pt", run.join("best")).unwrap();
        let mut journal = Recorder::default();
        let never = AtomicBool::new(false);
        let until = unlimited(&never);
        let outcome = carry_out_until(&run, &watch, &plan, &scanned, false, &until, &mut journal);
        assert_eq!(
            (outcome.deleted.len(), outcome.skipped),
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
        let outcome = carry_out(&run, &watch, &plan, &scanned, false);
        assert!(outcome.deleted.is_empty(), "{outcome:?}");
        assert_eq!(outcome.skipped, 1);
        assert!(run.join("ckpt-1.pt").exists());
    }
}
