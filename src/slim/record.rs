//! `<run>/.ckptd-slim/<checkpoint name>`: what slimming removed from one checkpoint, as a
//! small JSON object. Written twice: before the first entry moves (`"slimming"`, with the list
//! of entries), and after the last (`"slimmed"`, with the fingerprint the checkpoint has
//! since). Each write goes to a temp file that is fsync'd and renamed into place, then the
//! directory is fsync'd, so a crash leaves either the old record or the new one, whole.

use std::io::{self, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustix::fs::{AtFlags, Mode, OFlags};
use serde::{Deserialize, Serialize};

use crate::checkpoint::Fingerprint;
use crate::execute::trash::RunDir;

/// The directory of the records in a run; its name starts with `.ckptd`, so it is never a
/// checkpoint (`layout::is_never_a_checkpoint`).
pub const SLIM_DIR: &str = ".ckptd-slim";

/// How far slimming got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The entries are being moved out: the checkpoint no longer claims to be whole.
    Slimming,
    Slimmed,
}

/// One entry removed, as it was when it was listed: a re-saved file of the same name (another
/// inode or mtime) is not the one listed, and is never moved by the finishing pass.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordEntry {
    pub path: String,
    pub ino: u64,
    pub mtime_ns: i128,
    pub files: u64,
    pub bytes: u64,
}

/// A fingerprint written out in full (its digest is keyed per process, so not storable).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredFingerprint {
    pub files: u64,
    pub bytes: u64,
    pub newest_mtime_ns: i128,
    pub newest_ctime_ns: i128,
    pub inodes: u64,
}

impl From<Fingerprint> for StoredFingerprint {
    fn from(f: Fingerprint) -> Self {
        Self {
            files: f.files,
            bytes: f.bytes,
            newest_mtime_ns: nanos(f.newest_mtime),
            newest_ctime_ns: nanos(f.newest_ctime),
            inodes: f.inodes,
        }
    }
}

/// The record of one checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub status: Status,
    pub entries: Vec<RecordEntry>,
    pub files: u64,
    pub bytes: u64,
    /// When slimming started (Unix nanoseconds).
    pub slimmed_at_ns: i128,
    /// The checkpoint's completion time before slimming: still its completion time after.
    pub completed_at_ns: i128,
    /// Why: the plan's reasons and detail.
    pub why: String,
    /// The fingerprint after slimming; `None` while `Slimming`.
    pub after: Option<StoredFingerprint>,
}

impl Record {
    pub fn completed_at(&self) -> SystemTime {
        time(self.completed_at_ns)
    }

    /// Whether the checkpoint is as slimming left it.
    pub fn matches(&self, now: Option<Fingerprint>) -> bool {
        self.status == Status::Slimmed
            && self.after.is_some()
            && self.after == now.map(StoredFingerprint::from)
    }
}

/// Unix nanoseconds of `t` (before the epoch: negative).
pub fn nanos(t: SystemTime) -> i128 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(after) => i128::try_from(after.as_nanos()).unwrap_or(i128::MAX),
        Err(before) => -i128::try_from(before.duration().as_nanos()).unwrap_or(i128::MAX),
    }
}

fn time(ns: i128) -> SystemTime {
    let magnitude = Duration::from_nanos(u64::try_from(ns.unsigned_abs()).unwrap_or(u64::MAX));
    if ns >= 0 {
        UNIX_EPOCH + magnitude
    } else {
        UNIX_EPOCH - magnitude
    }
}

/// The record of `name` in the run at `run`, if there is one that parses. A record that does
/// not parse is no record: the checkpoint is looked at afresh.
pub fn read(run: &std::path::Path, name: &str) -> Option<Record> {
    let path = run.join(SLIM_DIR).join(name);
    // Never through a symlink: the record must be ckptd's own.
    if !std::fs::symlink_metadata(&path).ok()?.is_file() {
        return None;
    }
    let text = crate::regular_file::read(&path).ok()?;
    serde_json::from_slice(&text).ok()
}

/// The names of every record in the run (leftover temp files included, which start with
/// `.ckptd`).
pub fn names(dir: &RunDir) -> io::Result<Vec<String>> {
    let records = match open_dir(dir, false) {
        Ok(fd) => fd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut names = Vec::new();
    for entry in rustix::fs::Dir::read_from(records.as_fd())? {
        let entry = entry?;
        if let Ok(name) = entry.file_name().to_str() {
            if name != "." && name != ".." {
                names.push(name.to_owned());
            }
        }
    }
    Ok(names)
}

/// Writes `record` for `name` atomically and durably (temp, fsync, rename, fsync of the
/// directory), through the handle on the run directory: a symlink in place of the records'
/// directory is refused.
pub fn write(dir: &RunDir, name: &str, record: &Record) -> io::Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let records = open_dir(dir, true)?;
    // Starts with `.ckptd`: never taken for a record of a checkpoint.
    let temp = format!(
        ".ckptd-tmp-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let fd = rustix::fs::openat(
        records.as_fd(),
        temp.as_str(),
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o644),
    )?;
    let mut file = std::fs::File::from(fd);
    let written = serde_json::to_vec(record)
        .map_err(io::Error::other)
        .and_then(|bytes| file.write_all(&bytes))
        .and_then(|()| file.sync_all())
        .and_then(|()| {
            Ok(rustix::fs::renameat(
                records.as_fd(),
                temp.as_str(),
                records.as_fd(),
                name,
            )?)
        });
    if let Err(e) = written {
        let _ = rustix::fs::unlinkat(records.as_fd(), temp.as_str(), AtFlags::empty());
        return Err(e);
    }
    rustix::fs::fsync(&records)?;
    Ok(())
}

/// Removes the record of `name`, if any (and leftover temp files by their name).
pub fn remove(dir: &RunDir, name: &str) -> io::Result<()> {
    let records = match open_dir(dir, false) {
        Ok(fd) => fd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    match rustix::fs::unlinkat(records.as_fd(), name, AtFlags::empty()) {
        Ok(()) | Err(rustix::io::Errno::NOENT) => {}
        Err(e) => return Err(e.into()),
    }
    // Removed when empty, so a run that no longer slims keeps no trace of it.
    drop(records);
    let _ = rustix::fs::unlinkat(dir.fd.as_fd(), SLIM_DIR, AtFlags::REMOVEDIR);
    Ok(())
}

/// Opens (with `create`, makes, and makes durable) the records' directory.
fn open_dir(dir: &RunDir, create: bool) -> io::Result<OwnedFd> {
    if create {
        match rustix::fs::mkdirat(dir.fd.as_fd(), SLIM_DIR, Mode::from_raw_mode(0o755)) {
            Ok(()) => rustix::fs::fsync(&dir.fd)?,
            Err(rustix::io::Errno::EXIST) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(rustix::fs::openat(
        dir.fd.as_fd(),
        SLIM_DIR,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(status: Status) -> Record {
        Record {
            status,
            entries: vec![RecordEntry {
                path: "optimizer.pt".to_owned(),
                ino: 7,
                mtime_ns: 1_000_000_000_123,
                files: 1,
                bytes: 10,
            }],
            files: 1,
            bytes: 10,
            slimmed_at_ns: 2,
            completed_at_ns: -5,
            why: "slim: older than the 1 newest complete (slim_after 1)".to_owned(),
            after: None,
        }
    }

    #[test]
    fn a_record_round_trips_and_replaces_the_one_before() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::open(dir.path()).unwrap();
        write(&run, "checkpoint-5", &record(Status::Slimming)).unwrap();
        assert_eq!(
            read(dir.path(), "checkpoint-5"),
            Some(record(Status::Slimming))
        );
        let done = Record {
            after: Some(StoredFingerprint {
                files: 1,
                bytes: 2,
                newest_mtime_ns: 3,
                newest_ctime_ns: 4,
                inodes: 5,
            }),
            ..record(Status::Slimmed)
        };
        write(&run, "checkpoint-5", &done).unwrap();
        assert_eq!(read(dir.path(), "checkpoint-5"), Some(done.clone()));
        assert_eq!(names(&run).unwrap(), ["checkpoint-5"]);
        assert_eq!(done.completed_at(), UNIX_EPOCH - Duration::from_nanos(5));
        remove(&run, "checkpoint-5").unwrap();
        assert!(!dir.path().join(SLIM_DIR).exists());
        assert!(read(dir.path(), "checkpoint-5").is_none());
    }

    #[test]
    fn only_a_finished_record_with_the_same_fingerprint_matches() {
        let f = Fingerprint {
            files: 1,
            bytes: 2,
            newest_mtime: UNIX_EPOCH + Duration::from_nanos(3),
            newest_ctime: UNIX_EPOCH + Duration::from_nanos(4),
            inodes: 5,
        };
        let mut r = record(Status::Slimmed);
        assert!(!r.matches(Some(f)));
        r.after = Some(f.into());
        assert!(r.matches(Some(f)));
        assert!(!r.matches(Some(Fingerprint { bytes: 9, ..f })));
        assert!(!r.matches(None));
        r.status = Status::Slimming;
        assert!(!r.matches(Some(f)));
    }

    #[test]
    fn a_symlink_in_place_of_the_records_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), dir.path().join(SLIM_DIR)).unwrap();
        let run = RunDir::open(dir.path()).unwrap();
        assert!(write(&run, "checkpoint-5", &record(Status::Slimming)).is_err());
        assert_eq!(std::fs::read_dir(elsewhere.path()).unwrap().count(), 0);
    }
}
