//! What a running daemon tells `ckptd status` through its state directory: `daemon.json`,
//! rewritten (temp file, rename) with its Prometheus snapshot, at most once a second: its pid,
//! when it started, its last pass and rescan, ERRORs and WARNs since start, and per run its
//! last pass, last deletion, deletions, bytes freed and whether it is held. Whether the daemon
//! still runs is not read from the file (a killed daemon leaves it behind) but from the lock
//! every daemon holds on its state directory.

use std::io;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::prometheus::Snapshot;

/// The file's name in the state directory.
pub const FILE: &str = "daemon.json";

/// The daemon as it last described itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DaemonState {
    pub pid: u32,
    pub version: String,
    /// Unix seconds, as every time here.
    pub started_at: u64,
    pub written_at: u64,
    pub last_pass: Option<u64>,
    pub last_rescan: Option<u64>,
    /// ERROR and WARN lines logged since it started.
    pub errors: u64,
    pub warnings: u64,
    pub runs: Vec<RunState>,
}

/// One run, as the daemon knows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    pub run: String,
    pub watch: String,
    pub held: bool,
    /// Since the daemon started.
    pub deleted: u64,
    pub freed_bytes: u64,
    pub last_pass: Option<u64>,
    pub last_deletion: Option<u64>,
}

impl DaemonState {
    pub fn from_snapshot(snapshot: &Snapshot, started_at: SystemTime, now: SystemTime) -> Self {
        Self {
            pid: std::process::id(),
            version: snapshot.version.clone(),
            started_at: unix(started_at),
            written_at: unix(now),
            last_pass: snapshot.last_pass.map(unix),
            last_rescan: snapshot.last_rescan.map(unix),
            errors: snapshot.errors,
            warnings: snapshot.warnings,
            runs: snapshot
                .runs
                .iter()
                .map(|r| RunState {
                    run: r.run.clone(),
                    watch: r.watch.clone(),
                    held: r.held,
                    deleted: r.deleted,
                    freed_bytes: r.freed_bytes,
                    last_pass: r.last_pass.map(unix),
                    last_deletion: r.last_deletion.map(unix),
                })
                .collect(),
        }
    }

    /// Replaces `dir/daemon.json` (a reader sees the old file or the new one, never half).
    pub fn write(&self, dir: &Path) -> io::Result<()> {
        let tmp = dir.join(format!("{FILE}.tmp"));
        let text = serde_json::to_vec_pretty(self).map_err(io::Error::other)?;
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, dir.join(FILE))
    }

    /// `dir/daemon.json`, if a daemon ever wrote one there; `Ok(None)` when none did.
    pub fn read(dir: &Path) -> io::Result<Option<Self>> {
        match std::fs::read(dir.join(FILE)) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Whether a daemon holds `dir` now (its exclusive lock on the directory). `None` when that
/// cannot be told (the directory is missing or unreadable).
pub fn running(dir: &Path) -> Option<bool> {
    use rustix::fs::{FlockOperation, Mode, OFlags};
    let fd = rustix::fs::open(
        dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ok()?;
    match rustix::fs::flock(fd.as_fd(), FlockOperation::NonBlockingLockShared) {
        // Taken: nobody holds it exclusively. Dropping the descriptor releases it.
        Ok(()) => Some(false),
        Err(rustix::io::Errno::WOULDBLOCK) => Some(true),
        Err(_) => None,
    }
}

/// The state directory of the daemon that runs with this config, as a one-shot command finds
/// it: the first place the daemon may have used that holds its `daemon.json` (the packaged
/// unit's `/var/lib/ckptd` is not the state directory of a root shell, whose `$HOME` differs
/// and which has no `$STATE_DIRECTORY`), else the one this process would use.
pub fn dir(configured: Option<&Path>) -> Option<PathBuf> {
    use crate::daemon::ledger::{find_in_state_dirs, state_dir, state_dirs_to_read};
    find_in_state_dirs(&state_dirs_to_read(configured), FILE)
        .ok()
        .and_then(|file| file.parent().map(Path::to_path_buf))
        .or_else(|| state_dir(configured))
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_is_read_from_the_first_place_that_holds_it() {
        use crate::daemon::ledger::find_in_state_dirs;
        let (first, second) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let dirs = [first.path().to_owned(), second.path().to_owned()];
        assert_eq!(
            find_in_state_dirs(&dirs, FILE),
            Err(vec![first.path().join(FILE), second.path().join(FILE)])
        );
        std::fs::write(second.path().join(FILE), "{}").unwrap();
        assert_eq!(
            find_in_state_dirs(&dirs, FILE),
            Ok(second.path().join(FILE))
        );
        std::fs::write(first.path().join(FILE), "{}").unwrap();
        assert_eq!(find_in_state_dirs(&dirs, FILE), Ok(first.path().join(FILE)));
        // A configured state_dir is the only place looked in.
        assert_eq!(
            crate::daemon::ledger::state_dirs_to_read(Some(second.path())),
            vec![second.path().to_owned()]
        );
    }

    #[test]
    fn the_state_survives_a_write_and_a_read_and_the_lock_says_who_runs() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(DaemonState::read(dir.path()).unwrap(), None);
        let state = DaemonState {
            pid: 42,
            version: "0.1.0".to_owned(),
            started_at: 100,
            written_at: 200,
            last_pass: Some(150),
            last_rescan: None,
            errors: 1,
            warnings: 2,
            runs: vec![RunState {
                run: "/data/runs/a".to_owned(),
                watch: "w".to_owned(),
                held: true,
                deleted: 3,
                freed_bytes: 4096,
                last_pass: Some(150),
                last_deletion: Some(140),
            }],
        };
        state.write(dir.path()).unwrap();
        assert_eq!(DaemonState::read(dir.path()).unwrap(), Some(state));
        assert!(!dir.path().join("daemon.json.tmp").exists());

        assert_eq!(running(dir.path()), Some(false));
        let held = rustix::fs::open(
            dir.path(),
            rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::DIRECTORY,
            rustix::fs::Mode::empty(),
        )
        .unwrap();
        rustix::fs::flock(held.as_fd(), rustix::fs::FlockOperation::LockExclusive).unwrap();
        assert_eq!(running(dir.path()), Some(true));
        drop(held);
        assert_eq!(running(dir.path()), Some(false));
        assert_eq!(running(&dir.path().join("missing")), None);
    }
}
