//! What streaming a JSON file gave, remembered per process by the file's identity, so a daemon
//! pass over a run with large states does not stream every one of them again: HF's
//! `trainer_state.json` is read for the completion marker and the `best_model_checkpoint`
//! pointer (never capped: an unread pointer would drop a protection) and for the metric (up to
//! `max_metric_bytes`); without this, a run of fifty 30 MB states cost seconds on every pass.
//!
//! An answer is reused only for the same question (step, metric, limits) while the file's
//! device, inode, size, mtime and ctime are the ones it was read at, and only if the file had
//! not changed for a while when it was read: a rewrite in the same timestamp tick as the read
//! (timestamps are coarse) could otherwise keep size and times. Nothing can change a file
//! without changing its ctime, which no user sets.

use std::collections::HashMap;
use std::fs::{File, Metadata};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{LazyLock, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::json_stream::{self, Found, Outcome, Wanted};

/// How long a file must have been unchanged when read for its answer to be kept.
const QUIET: Duration = Duration::from_secs(2);
/// Above this many files remembered, those that no longer exist are forgotten.
const TIDY_ABOVE: usize = 16_384;

/// Smaller files are read again each time: cheap, and remembering the states of 500,000
/// checkpoints (10,000 runs) would cost the daemon more memory than all else it keeps.
const REMEMBER_FROM: u64 = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Identity {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Identity {
    fn of(meta: &Metadata) -> Self {
        Self {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }

    /// Whether the file had been quiet for `QUIET` at `now`.
    fn quiet_at(&self, now: SystemTime) -> bool {
        let now = now.duration_since(UNIX_EPOCH).unwrap_or_default();
        let changed = Duration::from_secs(u64::try_from(self.ctime.0).unwrap_or(u64::MAX))
            + Duration::from_nanos(u64::try_from(self.ctime.1).unwrap_or(0));
        now.checked_sub(changed).is_some_and(|age| age >= QUIET)
    }
}

/// The question asked of a file.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Question {
    path: PathBuf,
    step: Option<u64>,
    metric: Option<String>,
    /// Every number at the step too (`Wanted::all`): another answer.
    all: bool,
    limit: Option<u64>,
    fallback_within: u64,
}

type Cache = HashMap<Question, (Identity, Outcome)>;

static CACHE: LazyLock<Mutex<Cache>> = LazyLock::new(Mutex::default);

fn cache() -> std::sync::MutexGuard<'static, Cache> {
    // A panic while holding the lock leaves at worst an answer read again.
    CACHE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// [`json_stream::read_file`] of `file` (opened at `path`), or the answer it gave before.
pub fn read_file(
    path: &Path,
    file: &File,
    wanted: &Wanted<'_>,
    limit: Option<u64>,
    fallback_within: u64,
) -> io::Result<Outcome> {
    let identity = Identity::of(&file.metadata()?);
    let question = Question {
        path: path.to_owned(),
        step: wanted.step,
        metric: wanted.metric.map(str::to_owned),
        all: wanted.all,
        limit,
        fallback_within,
    };
    if let Some((seen, outcome)) = cache().get(&question) {
        if *seen == identity {
            return Ok(outcome.clone());
        }
    }
    let read_at = SystemTime::now();
    // A disk error may pass: not remembered.
    let outcome = json_stream::read_file(file, wanted, limit, fallback_within)?;
    // The identity after reading: a write during the read shows here.
    let after = file.metadata().map(|m| Identity::of(&m));
    let mut cache = cache();
    if identity.len >= REMEMBER_FROM
        && after.as_ref().is_ok_and(|a| *a == identity)
        && identity.quiet_at(read_at)
    {
        if cache.len() >= TIDY_ABOVE {
            cache.retain(|q, _| q.path.symlink_metadata().is_ok());
        }
        cache.insert(question, (identity, outcome.clone()));
    } else {
        cache.remove(&question);
    }
    Ok(outcome)
}

/// `global_step` and `best_model_checkpoint` of the JSON file at `path` (a regular file), or
/// why it cannot be read; JSON5 only within `fallback_within` bytes.
pub fn read_keys(path: &Path, fallback_within: u64) -> Result<Found, String> {
    let file = crate::regular_file::open(path).map_err(|e| e.to_string())?;
    match read_file(path, &file, &Wanted::default(), None, fallback_within) {
        Ok(Outcome::Found(found)) => Ok(found),
        Ok(Outcome::Unparsable(e)) => Err(e),
        Ok(Outcome::OverLimit) => Err("over the limit".to_owned()),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn age(path: &Path, secs: u64) {
        let t = filetime::FileTime::from_system_time(SystemTime::now() - Duration::from_secs(secs));
        filetime::set_file_mtime(path, t).unwrap();
    }

    #[test]
    fn an_answer_is_reused_only_for_the_same_quiet_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trainer_state.json");
        // Trailing whitespace makes it large enough to be worth remembering.
        let padding = " ".repeat(usize::try_from(REMEMBER_FROM).unwrap());
        std::fs::write(&path, format!(r#"{{"global_step": 5}}{padding}"#)).unwrap();
        // Just written: read, but not remembered (its ctime is too recent).
        assert_eq!(read_keys(&path, 1 << 20).unwrap().global_step, Some(5));
        let question = Question {
            path: path.clone(),
            step: None,
            metric: None,
            all: false,
            limit: None,
            fallback_within: 1 << 20,
        };
        assert!(!cache().contains_key(&question));

        // Remembered once quiet, and given back while the identity holds.
        std::thread::sleep(QUIET + Duration::from_millis(100));
        assert_eq!(read_keys(&path, 1 << 20).unwrap().global_step, Some(5));
        let (identity, _) = cache().get(&question).cloned().unwrap();
        cache().insert(
            question.clone(),
            (
                identity,
                Outcome::Found(Found {
                    global_step: Some(99),
                    ..Found::default()
                }),
            ),
        );
        assert_eq!(read_keys(&path, 1 << 20).unwrap().global_step, Some(99));

        // Any change (here a rewrite of the same size with the old mtime) is read again.
        std::fs::write(&path, format!(r#"{{"global_step": 6}}{padding}"#)).unwrap();
        age(&path, 3600);
        assert_eq!(read_keys(&path, 1 << 20).unwrap().global_step, Some(6));
    }

    #[test]
    fn a_small_file_is_never_remembered() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trainer_state.json");
        std::fs::write(&path, r#"{"global_step": 7}"#).unwrap();
        age(&path, 3600);
        let ctime_quiet = SystemTime::now() + QUIET;
        // Its ctime is fresh, so wait on the condition rather than a guess: remembered or not
        // is decided by size alone once it is quiet.
        while SystemTime::now() < ctime_quiet {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(read_keys(&path, 1 << 20).unwrap().global_step, Some(7));
        let question = Question {
            path,
            step: None,
            metric: None,
            all: false,
            limit: None,
            fallback_within: 1 << 20,
        };
        assert!(!cache().contains_key(&question));
    }
}
