//! The `tensorboard` metric source: one tag's scalars from a run's event files.
//!
//! `path` is a glob relative to the run naming event files or directories (searched for
//! `*tfevents*` files at any depth). Every file is read, since a restarted job starts a new one;
//! when two events give the same step, the one with the greatest wall time wins (the resumed
//! run re-logged that step). The result is a [`RunLog`] matched to checkpoints by step like the
//! CSV and JSON-lines logs. "A later record" there means a later event of the same tag: event
//! files mix in tags whose step is not a training step (Megatron's `… vs samples`).
//!
//! Files are read incrementally: a process-wide cache keeps, per (file, tag), how far the file
//! was read and what it held, so a daemon rescanning a run reads only what was appended.
//!
//! A record longer than `max_metric_bytes` is skipped unread (see `records`) and kept by the
//! step it carries: a checkpoint that would take its metric from that step is `TooLarge` (kept)
//! rather than given an older value or none. Files are opened only if they stay inside the run
//! (as far as the pattern's own `..` go; see `confined`).

mod file_state;
pub mod proto;
pub mod records;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{LazyLock, Mutex, PoisonError};

pub use file_state::{FileState, Scalar, Unread};

use super::confined::{self, OpenError};
use super::named::Metrics;
use super::run_log::{Interest, RunLog};
use super::warn_once;
use crate::checkpoint::OverCap;

type Key = (PathBuf, String);

/// What has been read of every event file, per tag, in this process.
static CACHE: LazyLock<Mutex<HashMap<Key, FileState>>> = LazyLock::new(Mutex::default);

/// What one step holds: a value, or a record too long to read.
enum AtStep {
    Value(f64),
    Unread(OverCap),
}

/// The scalars of `tag` in the event files that `pattern` names under `run` (and every scalar
/// at the steps of `interest`); records longer than `max_record` bytes are not read. An
/// empty `tag` reads only the latter.
pub fn load(run: &Path, pattern: &str, tag: &str, max_record: u64, interest: &Interest) -> RunLog {
    let root = confined::root_of_pattern(run, pattern);
    let files = event_files(run, pattern);
    let mut by_step: BTreeMap<u64, (f64, AtStep)> = BTreeMap::new();
    let mut others: BTreeMap<u64, (f64, Metrics)> = BTreeMap::new();
    let mut log = RunLog::default();
    for file in &files {
        let key = (file.clone(), tag.to_owned());
        // Read outside the lock: a large file must not hold up other runs.
        let mut state = lock().remove(&key).unwrap_or_default();
        let read = match confined::open(&root, file) {
            Ok(opened) => state.update(opened, file, tag, max_record, interest),
            Err(OpenError::Escapes { target }) => {
                warn_once::escapes(run, file, &target);
                state = FileState::default();
                Ok(())
            }
            Err(OpenError::Io(e)) => Err(e.to_string()),
        };
        if let (Err(why), true) = (&read, tag.is_empty()) {
            // Nothing ranked (only metrics by name are read): no WARN on every pass.
            tracing::debug!(
                run = %run.display(),
                path = %file.display(),
                reason = %why,
                "metric log unreadable: no metrics by name from it yet"
            );
        } else if let Err(why) = read {
            tracing::warn!(
                run = %run.display(),
                path = %file.display(),
                reason = %why,
                "metric log unreadable: no metric from it yet: {}: {why}",
                file.display()
            );
        }
        let later = |wall: f64| move |(seen, _): &mut (f64, AtStep)| wall >= *seen;
        for s in &state.scalars {
            let entry = by_step
                .entry(s.step)
                .or_insert((s.wall_time, AtStep::Value(s.value)));
            if later(s.wall_time)(entry) {
                *entry = (s.wall_time, AtStep::Value(s.value));
            }
        }
        // After the file's values: at an equal wall time, unknown wins over a value.
        for u in &state.unread {
            warn_once::too_large(run, &u.over);
            let entry = by_step
                .entry(u.step)
                .or_insert((u.wall_time, AtStep::Unread(u.over.clone())));
            if later(u.wall_time)(entry) {
                *entry = (u.wall_time, AtStep::Unread(u.over.clone()));
            }
        }
        for over in state.not_events.drain(..) {
            warn_once::too_large(run, &over);
        }
        if let Some(over) = &state.unread_anywhere {
            warn_once::too_large(run, over);
            log.too_large.get_or_insert_with(|| over.clone());
        }
        // A step logged again (a resumed run's new file): the later events win.
        for (&step, (wall, metrics)) in &state.others {
            let merged = others.entry(step).or_default();
            if *wall >= merged.0 {
                merged.1.extend(metrics);
                merged.0 = *wall;
            } else {
                let mut older = metrics.clone();
                older.extend(&merged.1);
                merged.1 = older;
            }
        }
        log.max_step = log.max_step.max(state.max_step);
        lock().insert(key, state);
    }
    forget_vanished(run, tag, &files);
    log.rows = others.into_iter().map(|(step, (_, m))| (step, m)).collect();
    for (step, (_, at)) in by_step {
        match at {
            AtStep::Value(v) => log.records.push((step, v)),
            AtStep::Unread(over) => log.unread.push((step, over)),
        }
    }
    log
}

fn lock() -> std::sync::MutexGuard<'static, HashMap<Key, FileState>> {
    // A panic while holding the lock leaves at worst a half-read state; reading resumes fine.
    CACHE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Drops the cached state of files in `run` that the glob no longer names (deleted runs,
/// rotated logs), so a long-running daemon does not keep them forever.
fn forget_vanished(run: &Path, tag: &str, files: &[PathBuf]) {
    let current: HashSet<&PathBuf> = files.iter().collect();
    lock().retain(|(path, t), _| t != tag || !path.starts_with(run) || current.contains(path));
}

/// Event files named by `pattern` (relative to `run`), in path order.
pub(super) fn event_files(run: &Path, pattern: &str) -> Vec<PathBuf> {
    // The run directory's own name may hold `[` or `*`: only the configured part is a glob.
    let Some(run_text) = run.to_str() else {
        return Vec::new();
    };
    let full = format!("{}/{pattern}", glob::Pattern::escape(run_text));
    let Ok(paths) = glob::glob(&full) else {
        return Vec::new();
    };
    let mut files = Vec::new();
    for path in paths.filter_map(Result::ok) {
        if path.is_file() {
            files.push(crate::paths::normalize(&path));
        } else if path.is_dir() {
            files.extend(
                walkdir::WalkDir::new(&path)
                    .into_iter()
                    .filter_map(Result::ok)
                    .filter(|e| e.file_type().is_file())
                    .filter(|e| e.file_name().to_string_lossy().contains("tfevents"))
                    .map(|e| crate::paths::normalize(e.path())),
            );
        }
    }
    files.sort();
    files.dedup();
    files
}

/// Reads a whole event file for `tag`, bypassing the cache (benchmarks, tests), with the
/// default record limit.
pub fn read_file(path: &Path, tag: &str) -> Result<FileState, String> {
    let file = crate::regular_file::open(path).map_err(|e| e.to_string())?;
    let mut state = FileState::default();
    state.update(
        file,
        path,
        tag,
        super::DEFAULT_MAX_METRIC_BYTES,
        &Interest::default(),
    )?;
    Ok(state)
}

#[cfg(test)]
mod tests;
