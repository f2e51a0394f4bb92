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

mod file_state;
pub mod proto;
pub mod records;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{LazyLock, Mutex, PoisonError};

pub use file_state::{FileState, Scalar};

use super::run_log::RunLog;

type Key = (PathBuf, String);

/// What has been read of every event file, per tag, in this process.
static CACHE: LazyLock<Mutex<HashMap<Key, FileState>>> = LazyLock::new(Mutex::default);

/// The scalars of `tag` in the event files that `pattern` names under `run`.
pub fn load(run: &Path, pattern: &str, tag: &str) -> RunLog {
    let files = event_files(run, pattern);
    let mut by_step: BTreeMap<u64, (f64, f64)> = BTreeMap::new();
    let mut max_step = None;
    for file in &files {
        let key = (file.clone(), tag.to_owned());
        // Read outside the lock: a large file must not hold up other runs.
        let mut state = lock().remove(&key).unwrap_or_default();
        if let Err(why) = state.update(file, tag) {
            tracing::warn!(
                run = %run.display(),
                path = %file.display(),
                reason = %why,
                "metric log unreadable: no metric from it yet"
            );
        }
        for s in &state.scalars {
            by_step
                .entry(s.step)
                .and_modify(|(wall, value)| {
                    if s.wall_time >= *wall {
                        (*wall, *value) = (s.wall_time, s.value);
                    }
                })
                .or_insert((s.wall_time, s.value));
        }
        max_step = max_step.max(state.max_step);
        lock().insert(key, state);
    }
    forget_vanished(run, tag, &files);
    RunLog {
        records: by_step.into_iter().map(|(s, (_, v))| (s, v)).collect(),
        max_step,
    }
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

/// Reads a whole event file for `tag`, bypassing the cache (benchmarks, tests).
pub fn read_file(path: &Path, tag: &str) -> Result<FileState, String> {
    let mut state = FileState::default();
    state.update(path, tag)?;
    Ok(state)
}

#[cfg(test)]
mod tests;
