//! The executor: carries a plan out, one deletion at a time, re-checking every safety
//! condition at the moment it acts. A dry run is the executor that only logs.

mod recheck;
pub mod trash;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

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
        self.trash_left |= other.trash_left;
    }
}

/// Where every deletion is recorded as it happens: the intent before the rename (flushed to
/// disk), the result after, so a crash at any instant leaves no deletion unrecorded. The daemon's ledger is one;
/// one-shot commands record nothing beyond their log.
pub trait Journal {
    /// About to move `v` out of the run.
    fn deleting(&mut self, run: &Path, watch: &str, v: &Verdict);
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
            tracing::error!(run = %run.display(), error = %e, "cannot empty the trash of {}: {e}; retried later", run.display());
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
    carry_out_until(
        run,
        watch,
        plan,
        scanned,
        dry_run,
        &AtomicBool::new(false),
        &mut NoJournal,
    )
}

/// [`carry_out`], stopping before the next deletion once `stopping` is set: on shutdown the
/// deletion in flight finishes, and the rest wait for the next start.
pub fn carry_out_until(
    run: &Path,
    watch: &Watch,
    plan: &Plan,
    scanned: &[Checkpoint],
    dry_run: bool,
    stopping: &AtomicBool,
    journal: &mut dyn Journal,
) -> Outcome {
    let mut outcome = Outcome::default();
    let deletions: Vec<&Verdict> = plan.deletions().collect();
    if deletions.is_empty() {
        return outcome;
    }
    if dry_run {
        for v in deletions {
            log_deletion(run, &watch.name, v, "dry run: would delete checkpoint");
            outcome
                .would_delete
                .push((v.name.clone(), v.bytes.unwrap_or(0)));
        }
        return outcome;
    }
    let dir = match RunDir::open(run) {
        Ok(dir) => dir,
        Err(e) => {
            tracing::error!(run = %run.display(), error = %e, "cannot open run directory: nothing deleted");
            outcome.failed = deletions.len();
            return outcome;
        }
    };
    // The newest complete checkpoints are what makes the others deletable (the resume
    // point). A trainer may start re-saving one of them after the plan was made; from then on
    // it is not complete, and the older ones are the resume point again.
    let anchors: Vec<&Checkpoint> = plan
        .verdicts
        .iter()
        .filter(|v| v.reasons.contains(&Reason::NewestComplete))
        .filter_map(|v| scanned.iter().find(|c| c.name == v.name))
        .collect();
    // Every intent is on disk before the first rename: one flush for the pass, not one per
    // deletion (a flush costs milliseconds; a pass may delete thousands).
    for v in &deletions {
        journal.deleting(run, &watch.name, v);
    }
    journal.sync();
    for (i, v) in deletions.iter().enumerate() {
        if stopping.load(Ordering::SeqCst) {
            for rest in &deletions[i..] {
                journal.not_deleted(run, &watch.name, rest, "ckptd is stopping", false);
            }
            break;
        }
        let Some(checkpoint) = scanned.iter().find(|c| c.name == v.name) else {
            journal.not_deleted(run, &watch.name, v, "not scanned", false);
            continue;
        };
        if let Err(why) = recheck::still_deletable(&dir, watch, checkpoint) {
            journal.not_deleted(run, &watch.name, v, &why, false);
            tracing::warn!(run = %run.display(), checkpoint = %v.name, reason = %why, "deletion skipped: changed since planning");
            outcome.skipped += 1;
            continue;
        }
        // Last, right before the rename: the victim's own recheck may take a while.
        if let Some(changed) = anchors.iter().find(|a| !recheck::unchanged(&dir, a)) {
            let rest = deletions.len() - i;
            for d in &deletions[i..] {
                journal.not_deleted(
                    run,
                    &watch.name,
                    d,
                    "the newest complete checkpoint changed",
                    false,
                );
            }
            tracing::warn!(run = %run.display(), checkpoint = %changed.name, deferred = rest, "newest complete checkpoint {} changed since planning (re-saved in place?): {rest} deletions deferred to the next pass", changed.name);
            outcome.skipped += rest;
            break;
        }
        match dir.move_to_trash(&v.name) {
            Ok(trashed) => match dir.remove_trashed(&trashed) {
                Ok(()) => {
                    journal.deleted(run, &watch.name, v);
                    log_deletion(run, &watch.name, v, "checkpoint deleted");
                    outcome.deleted.push((v.name.clone(), v.bytes.unwrap_or(0)));
                    outcome.details.push(v.detail.clone());
                }
                Err(e) => {
                    let path = dir.trashed_path(&trashed);
                    journal.not_deleted(run, &watch.name, v, &e.to_string(), true);
                    tracing::error!(run = %run.display(), checkpoint = %v.name, path = %path.display(), error = %e, "checkpoint {} moved to {} but not removed: {e}; retried later", v.name, path.display());
                    outcome.failed += 1;
                    outcome.trash_left = true;
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                journal.not_deleted(run, &watch.name, v, "already gone", false);
                tracing::warn!(run = %run.display(), checkpoint = %v.name, "deletion skipped: already gone");
                outcome.skipped += 1;
            }
            Err(e) => {
                journal.not_deleted(run, &watch.name, v, &e.to_string(), false);
                tracing::error!(run = %run.display(), checkpoint = %v.name, error = %e, "cannot delete checkpoint {}: {e}", v.name);
                outcome.failed += 1;
            }
        }
    }
    journal.sync();
    dir.tidy_trash();
    outcome
}

/// The INFO line of a deletion (or, with its message, of a dry run's would-be deletion).
pub fn log_deletion(run: &Path, watch: &str, v: &Verdict, message: &str) {
    tracing::info!(
        run = %run.display(),
        watch = %watch,
        checkpoint = %v.name,
        step = v.step,
        bytes = v.bytes,
        metric = v.metric.value(),
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
        let scanned = crate::scan::scan_run(&run, &watch).unwrap();
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
