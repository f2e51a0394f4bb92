//! The keys of a layout's JSON state file (HF `trainer_state.json`: `global_step`, and
//! `best_model_checkpoint`), remembered per process by the file's identity, so a daemon pass
//! over a run with large states does not stream every one of them again. These reads are not
//! capped (an unread pointer would drop a protection), so without this a run of fifty 30 MB
//! states cost seconds on every pass.
//!
//! An answer is reused only while the file's device, inode, size, mtime and ctime are the ones
//! it was read at, and only if the file had not changed for a while when it was read: a
//! rewrite in the same timestamp tick as the read (timestamps are coarse) could otherwise keep
//! size and times. Nothing can change a file without changing its ctime, which no user sets.

use std::collections::HashMap;
use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{LazyLock, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::json_stream::{self, Found, Outcome, Wanted};

/// How long a file must have been unchanged when read for its answer to be kept.
const QUIET: Duration = Duration::from_secs(2);
/// Above this many files remembered, those that no longer exist are forgotten.
const TIDY_ABOVE: usize = 16_384;

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

type Answer = Result<Found, String>;

static CACHE: LazyLock<Mutex<HashMap<PathBuf, (Identity, Answer)>>> = LazyLock::new(Mutex::default);

fn cache() -> std::sync::MutexGuard<'static, HashMap<PathBuf, (Identity, Answer)>> {
    // A panic while holding the lock leaves at worst an answer read again.
    CACHE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `global_step` and `best_model_checkpoint` of the JSON file at `path` (a regular file),
/// streamed, or why it cannot be read; JSON5 only within `fallback_within` bytes.
pub fn read_keys(path: &Path, fallback_within: u64) -> Answer {
    let file = crate::regular_file::open(path).map_err(|e| e.to_string())?;
    let identity = Identity::of(&file.metadata().map_err(|e| e.to_string())?);
    if let Some((seen, answer)) = cache().get(path) {
        if *seen == identity {
            return answer.clone();
        }
    }
    let read_at = SystemTime::now();
    let answer = match json_stream::read_file(&file, &Wanted::default(), None, fallback_within) {
        Ok(Outcome::Found(found)) => Ok(found),
        Ok(Outcome::Unparsable(e)) => Err(e),
        Ok(Outcome::OverLimit) => Err("over the limit".to_owned()),
        // A disk error may pass: not remembered.
        Err(e) => return Err(e.to_string()),
    };
    // The identity after reading: a write during the read shows here.
    let after = file.metadata().map(|m| Identity::of(&m));
    let mut cache = cache();
    if after.as_ref().is_ok_and(|a| *a == identity) && identity.quiet_at(read_at) {
        if cache.len() >= TIDY_ABOVE {
            cache.retain(|p, _| p.symlink_metadata().is_ok());
        }
        cache.insert(path.to_owned(), (identity, answer.clone()));
    } else {
        cache.remove(path);
    }
    answer
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
        std::fs::write(&path, r#"{"global_step": 5}"#).unwrap();
        // Just written: read, but not remembered (its ctime is too recent).
        assert_eq!(read_keys(&path, 1 << 20).unwrap().global_step, Some(5));
        assert!(!cache().contains_key(&path));

        // Remembered once quiet, and given back while the identity holds.
        std::thread::sleep(QUIET + Duration::from_millis(100));
        assert_eq!(read_keys(&path, 1 << 20).unwrap().global_step, Some(5));
        let (identity, _) = cache().get(&path).cloned().unwrap();
        cache().insert(
            path.clone(),
            (
                identity,
                Ok(Found {
                    global_step: Some(99),
                    ..Found::default()
                }),
            ),
        );
        assert_eq!(read_keys(&path, 1 << 20).unwrap().global_step, Some(99));

        // Any change (here a rewrite of the same size with the old mtime) is read again.
        std::fs::write(&path, r#"{"global_step": 6}"#).unwrap();
        age(&path, 3600);
        assert_eq!(read_keys(&path, 1 << 20).unwrap().global_step, Some(6));
    }
}
