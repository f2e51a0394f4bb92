//! Carrying out `Decision::Slim`, whatever rule asked for it (`slim_after`, or pressure):
//! after the same re-check a deletion gets, the checkpoint's training-state entries are moved
//! into the run's trash and then removed.
//!
//! Crash safety (DESIGN invariant 7): the record `<run>/.ckptd-slim/<name>` is written first,
//! in state "slimming" with the list of entries, so from the first rename on the checkpoint no
//! longer claims to be whole; each entry is then renamed into `.ckptd-trash/` (atomic, through
//! directory handles); then the final record ("slimmed", with the fingerprint after) replaces
//! it; only then is the trash emptied. A record left in "slimming" is finished by the next
//! acting pass ([`finish_interrupted`]), before it plans.

use std::path::Path;
use std::time::{Instant, SystemTime};

use super::action::{ActionError, ActionErrorKind};
use super::trash::{RunDir, Trashed};
use super::{entries, recheck, Journal, Outcome, Until};
use crate::checkpoint::{Checkpoint, Kind};
use crate::config::Watch;
use crate::plan::{Plan, Reason, Verdict};
use crate::slim::record::{self, nanos, Record, RecordEntry, Status};
use crate::slim::{training_state, SlimFiles};

/// A checkpoint that was slimmed (or, in a dry run, would be).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slimmed {
    pub name: String,
    /// Entries removed (files, or whole directories).
    pub entries: usize,
    pub bytes: u64,
    pub detail: String,
}

/// What slimming `v` would remove, as planned.
pub fn would_slim(v: &Verdict) -> Slimmed {
    let (bytes, files) = match v.checkpoint.slim {
        crate::checkpoint::Slim::Whole { bytes, files } => (bytes, files),
        _ => (0, 0),
    };
    Slimmed {
        name: v.name.clone(),
        entries: usize::try_from(files).unwrap_or(usize::MAX),
        bytes,
        detail: v.detail.clone(),
    }
}

/// Carries out the slims of `plan` (after its deletions), within `until`.
pub(super) fn carry_out(
    run: &Path,
    watch: &Watch,
    plan: &Plan,
    until: &Until<'_>,
    journal: &mut dyn Journal,
    outcome: &mut Outcome,
) {
    let slims: Vec<&Verdict> = plan.slims().collect();
    if slims.is_empty() {
        return;
    }
    let Some(set) = &watch.slim_files else {
        // `slim_after` unset: nothing may be slimmed, not even under pressure.
        for v in slims {
            let why = "slimming is not configured for this watch (no slim_after)";
            outcome.errors.push(ActionError::new(
                &v.name,
                run.join(&v.name),
                ActionErrorKind::Changed(why.to_owned()),
            ));
        }
        return;
    };
    let opened = RunDir::open(run).and_then(|dir| {
        let pointers = recheck::Pointers::read(&dir, watch)?;
        Ok((dir, pointers))
    });
    let (dir, mut pointers) = match opened {
        Ok(opened) => opened,
        Err(e) => {
            tracing::error!(run = %run.display(), error = %e, "cannot read run directory {} (or its pointers): {e}{}; nothing slimmed there", run.display(), crate::io_hint::hint(&e));
            for v in slims {
                let error = std::io::Error::new(e.kind(), e.to_string());
                outcome.errors.push(ActionError::new(
                    &v.name,
                    run.to_owned(),
                    ActionErrorKind::Io(error),
                ));
            }
            return;
        }
    };
    let anchors: Vec<&Checkpoint> = plan
        .verdicts
        .iter()
        .filter(|v| v.reasons.contains(&Reason::NewestComplete))
        .map(|v| &v.checkpoint)
        .collect();
    let tried_before = !outcome.deleted.is_empty() || !outcome.errors.is_empty();
    let mut slimmer = Slimmer {
        dir: &dir,
        watch,
        set,
        journal,
        outcome,
    };
    slimmer.run(&slims, &mut pointers, &anchors, until, tried_before);
    dir.tidy_trash();
}

/// One run's slims in progress.
struct Slimmer<'a, 'j> {
    dir: &'a RunDir,
    watch: &'a Watch,
    set: &'a SlimFiles,
    journal: &'j mut dyn Journal,
    outcome: &'j mut Outcome,
}

impl Slimmer<'_, '_> {
    fn run(
        &mut self,
        slims: &[&Verdict],
        pointers: &mut recheck::Pointers,
        anchors: &[&Checkpoint],
        until: &Until<'_>,
        tried_before: bool,
    ) {
        let (dir, watch, set, run) = (self.dir, self.watch, self.set, self.dir.path.as_path());
        let (journal, outcome) = (&mut *self.journal, &mut *self.outcome);
        for (i, v) in slims.iter().enumerate() {
            let past_deadline = (i > 0 || tried_before || !until.first_is_free)
                && until.deadline.is_some_and(|d| Instant::now() >= d);
            if until.shutdown.requested() || past_deadline {
                outcome.deferred += slims.len() - i;
                return;
            }
            let checked = pointers
                .refresh(dir, watch)
                .map_err(|e| ActionError::from_io(&v.name, run.to_owned(), e, false))
                .and_then(|()| recheck::still_deletable(dir, watch, &v.checkpoint))
                .and_then(|()| recheck::still_unprotected(dir, pointers, &v.name));
            if let Err(error) = checked {
                not_slimmed(run, watch, v, error, journal, outcome);
                continue;
            }
            // A trainer re-saving the newest in place makes the older ones the resume point
            // again: their training state is what a resume needs.
            if anchors.iter().any(|a| !recheck::unchanged(dir, a)) {
                for v in &slims[i..] {
                    let why = "the newest complete checkpoint changed".to_owned();
                    outcome.errors.push(ActionError::new(
                        &v.name,
                        run.join(&v.name),
                        ActionErrorKind::Changed(why),
                    ));
                }
                tracing::warn!(run = %run.display(), "newest complete checkpoint in {} changed since planning (re-saved in place?): the slims left wait for the next pass", run.display());
                return;
            }
            match slim_one(dir, watch, v, set, journal, outcome) {
                Ok(done) => {
                    log_slim(run, watch, v, &done, "slimmed");
                    outcome.slimmed.push(done);
                }
                Err(error) => not_slimmed(run, watch, v, error, journal, outcome),
            }
        }
    }
}

/// Records, logs and counts a slim not made.
fn not_slimmed(
    run: &Path,
    watch: &Watch,
    v: &Verdict,
    error: ActionError,
    journal: &mut dyn Journal,
    outcome: &mut Outcome,
) {
    journal.not_slimmed(run, &watch.name, v, &error.to_string());
    let name = &v.name;
    if error.is_failure() {
        tracing::error!(run = %run.display(), checkpoint = %name, path = %error.path.display(), error = %error, "cannot slim checkpoint {name} in {}: {error}", run.display());
    } else {
        tracing::warn!(run = %run.display(), checkpoint = %name, reason = %error, "slimming skipped: {name} in {}: {error}", run.display());
    }
    outcome.errors.push(error);
}

/// Slims `v`: record, moves, final record, removal. `Err` before the first move leaves the
/// checkpoint whole; after it, the record says "slimming" and the next pass finishes it.
fn slim_one(
    dir: &RunDir,
    watch: &Watch,
    v: &Verdict,
    set: &SlimFiles,
    journal: &mut dyn Journal,
    outcome: &mut Outcome,
) -> Result<Slimmed, ActionError> {
    let (run, name) = (dir.path.as_path(), v.name.as_str());
    let unit = run.join(name);
    let io = |e: std::io::Error| ActionError::from_io(name, unit.clone(), e, false);
    let found = training_state(&unit, set).map_err(io)?;
    if found.is_empty() {
        return Err(ActionError::new(
            name,
            unit.clone(),
            ActionErrorKind::Changed("no training state left to slim".to_owned()),
        ));
    }
    let mut listed = Vec::new();
    for entry in &found {
        let st = entries::stat(dir, name, &entry.path).map_err(io)?;
        listed.push(RecordEntry {
            path: entry.shown(),
            ino: st.st_ino,
            mtime_ns: i128::from(st.st_mtime) * 1_000_000_000 + i128::from(st.st_mtime_nsec),
            files: entry.files,
            bytes: entry.bytes,
        });
    }
    let mut record = Record {
        status: Status::Slimming,
        files: found.iter().map(|e| e.files).sum(),
        bytes: found.iter().map(|e| e.bytes).sum(),
        entries: listed,
        slimmed_at_ns: nanos(SystemTime::now()),
        completed_at_ns: nanos(
            v.checkpoint
                .completed_at()
                .unwrap_or(SystemTime::UNIX_EPOCH),
        ),
        why: format!("{}: {}", v.reasons_text(), v.detail),
        after: None,
    };
    journal.slimming(run, &watch.name, v);
    journal.sync();
    record::write(dir, name, &record).map_err(io)?;
    journal.moving(run, v);
    let mut trashed = Vec::new();
    for entry in &found {
        let moved = entries::move_to_trash(dir, name, &entry.path).map_err(|e| {
            let path = unit.join(entry.shown());
            ActionError::new(
                name,
                path,
                ActionErrorKind::Io(std::io::Error::new(
                    e.kind(),
                    format!(
                        "{e}; slimming stopped after {} of {} entries, finished at the next pass",
                        trashed.len(),
                        found.len()
                    ),
                )),
            )
        })?;
        trashed.push(moved);
    }
    let after = crate::scan::fingerprint(&unit, Kind::Dir).ok();
    record.status = Status::Slimmed;
    record.after = after.map(Into::into);
    record::write(dir, name, &record).map_err(io)?;
    journal.slimmed(run, &watch.name, v, record.bytes, after);
    remove_trashed(dir, name, &trashed, outcome);
    Ok(Slimmed {
        name: name.to_owned(),
        entries: found.len(),
        bytes: record.bytes,
        detail: v.detail.clone(),
    })
}

/// Removes what was moved out; what cannot be removed is left for the next pass's trash.
fn remove_trashed(dir: &RunDir, name: &str, trashed: &[Trashed], outcome: &mut Outcome) {
    for t in trashed {
        if let Err(e) = dir.remove_trashed(t) {
            outcome.trash_left = true;
            tracing::error!(run = %dir.path.display(), checkpoint = %name, path = %dir.trashed_path(t).display(), error = %e, "training state of {name} moved to {} but not removed: {e}; retried later", dir.trashed_path(t).display());
        }
    }
}

/// The INFO line of a slim (or, with its verb, of a dry run's would-be slim).
pub fn log_slim(run: &Path, watch: &Watch, v: &Verdict, done: &Slimmed, verb: &str) {
    tracing::info!(
        run = %run.display(),
        watch = %watch.name,
        checkpoint = %v.name,
        step = v.step,
        bytes = done.bytes,
        decision = "slim",
        reasons = %v.reasons_text(),
        detail = %v.detail,
        "{verb} {}/{}: {} {} entr{} ({}) of training state: {}",
        run.display(),
        v.name,
        if verb.contains("would") {
            "would remove"
        } else {
            "removed"
        },
        done.entries,
        if done.entries == 1 { "y" } else { "ies" },
        crate::report::human_bytes(done.bytes),
        v.detail
    );
}

/// Finishes every slimming a crash interrupted (a record still "slimming") and drops the
/// records of checkpoints that are gone. Called holding the run lock, before planning. A
/// listed entry is moved only if it is still the file that was listed (same inode and mtime):
/// a name written again since is the trainer's, and then the record is dropped instead.
pub fn finish_interrupted(run: &Path, journal: &mut dyn Journal) -> std::io::Result<()> {
    let dir = RunDir::open(run)?;
    for name in record::names(&dir)? {
        if crate::layout::is_never_a_checkpoint(&name) {
            // A temp file of a write that did not finish.
            record::remove(&dir, &name)?;
            continue;
        }
        let Some(mut rec) = record::read(run, &name) else {
            continue;
        };
        match dir.child_type(&name) {
            Ok(rustix::fs::FileType::Directory) => {}
            Ok(_) => {
                record::remove(&dir, &name)?;
                continue;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                record::remove(&dir, &name)?;
                continue;
            }
            Err(e) => return Err(e),
        }
        if rec.status == Status::Slimmed {
            continue;
        }
        if !finish_moves(&dir, &name, &rec)? {
            tracing::warn!(run = %run.display(), checkpoint = %name, "interrupted slimming of {name} in {} not finished: its files were written again since; the record is dropped and the checkpoint looked at afresh", run.display());
            record::remove(&dir, &name)?;
            continue;
        }
        let after = crate::scan::fingerprint(&run.join(&name), Kind::Dir).ok();
        rec.status = Status::Slimmed;
        rec.after = after.map(Into::into);
        record::write(&dir, &name, &rec)?;
        journal.slim_finished(run, &name, after);
        tracing::info!(run = %run.display(), checkpoint = %name, bytes = rec.bytes, "finished interrupted slimming of {}/{name}: {} entries ({}) of training state", run.display(), rec.entries.len(), crate::report::human_bytes(rec.bytes));
    }
    Ok(())
}

/// Moves the listed entries still there into the trash; `false` when one of them is no longer
/// the file that was listed.
fn finish_moves(dir: &RunDir, name: &str, rec: &Record) -> std::io::Result<bool> {
    let mut left = Vec::new();
    for entry in &rec.entries {
        let path: Vec<String> = entry.path.split('/').map(str::to_owned).collect();
        match entries::stat(dir, name, &path) {
            Ok(st) => {
                let mtime = i128::from(st.st_mtime) * 1_000_000_000 + i128::from(st.st_mtime_nsec);
                if st.st_ino != entry.ino || mtime != entry.mtime_ns {
                    return Ok(false);
                }
                left.push(path);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    for path in left {
        entries::move_to_trash(dir, name, &path)?;
    }
    Ok(true)
}
