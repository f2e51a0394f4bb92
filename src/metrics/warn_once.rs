//! WARNs about one metric file said once, not on every pass: the daemon reads every
//! checkpoint's metric on each pass over its run, and "this file is too large" or "this file is
//! a symlink out of the run" stays true until someone acts. The memory is per process and per
//! (file, problem): a file read fine again is forgotten, so a new problem with it is said again.
//! `plan` and `prune` are one pass each, so they say it once too.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{LazyLock, Mutex, PoisonError};

use crate::checkpoint::OverCap;

/// Above this many remembered files, those that no longer exist are forgotten.
const TIDY_ABOVE: usize = 4096;

static SAID: LazyLock<Mutex<HashMap<PathBuf, &'static str>>> = LazyLock::new(Mutex::default);

fn said() -> std::sync::MutexGuard<'static, HashMap<PathBuf, &'static str>> {
    // A panic while holding the lock leaves at worst a WARN said twice.
    SAID.lock().unwrap_or_else(PoisonError::into_inner)
}

/// True the first time `problem` is reported for `path` (since it was last read fine).
pub fn first_time(path: &Path, problem: &'static str) -> bool {
    let mut said = said();
    if said.get(path) == Some(&problem) {
        return false;
    }
    if said.len() >= TIDY_ABOVE {
        said.retain(|p, _| p.symlink_metadata().is_ok());
    }
    said.insert(path.to_owned(), problem);
    true
}

/// `path` was read without a problem: a later problem with it is worth saying again.
pub fn read_fine(path: &Path) {
    if said().is_empty() {
        return;
    }
    said().remove(path);
}

/// One WARN per file over `max_metric_bytes`: what was not read, and the key to raise.
pub fn too_large(run: &Path, over: &OverCap) {
    let key = over.offset.map_or("too large", |_| "record too large");
    if !first_time(&over.path, key) {
        return;
    }
    tracing::warn!(
        run = %run.display(),
        path = %over.path.display(),
        offset = over.offset,
        bytes = over.bytes,
        max_metric_bytes = over.cap,
        "metric not read: {}; the checkpoints whose metric it may hold are kept (never ranked nor deleted for it) until it can be read: raise max_metric_bytes to read it",
        over.describe()
    );
}

/// One WARN per metric file that leads out of the run through a symlink.
pub fn escapes(run: &Path, path: &Path, target: &Path) {
    if first_time(path, "escapes") {
        tracing::warn!(
            run = %run.display(),
            path = %path.display(),
            target = %target.display(),
            "metric file {} is a symlink out of the run (to {}): not read, no metric from it",
            path.display(),
            target.display()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn said_once_per_problem_until_read_fine() {
        let path = Path::new("/nonexistent/warn_once/trainer_state.json");
        assert!(first_time(path, "too large"));
        assert!(!first_time(path, "too large"));
        assert!(first_time(path, "escapes"));
        read_fine(path);
        assert!(first_time(path, "escapes"));
        assert!(!first_time(path, "escapes"));
    }
}
