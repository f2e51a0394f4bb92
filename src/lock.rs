//! The per-run advisory lock `<run>/.ckptd.lock`: several ckptd processes (one per node over
//! shared storage, or a `prune` beside the daemon) never plan and delete in one run at once.
//!
//! `flock(2)`; on NFS, Linux maps it onto POSIX byte-range locks, which the server arbitrates
//! across nodes. The lock is released when the handle is dropped or the process dies.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use rustix::fs::{FlockOperation, Mode, OFlags};

/// The lock file's name inside a run.
pub const LOCK_FILE: &str = ".ckptd.lock";

/// A held run lock.
#[derive(Debug)]
pub struct RunLock {
    _fd: OwnedFd,
}

/// Takes the lock of `run` without waiting: `Ok(None)` when another process holds it.
pub fn try_lock(run: &Path) -> io::Result<Option<RunLock>> {
    let dir = rustix::fs::open(
        run,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let fd = rustix::fs::openat(
        dir.as_fd(),
        LOCK_FILE,
        OFlags::WRONLY | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o644),
    )?;
    match rustix::fs::flock(fd.as_fd(), FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(Some(RunLock { _fd: fd })),
        Err(rustix::io::Errno::WOULDBLOCK) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let first = try_lock(dir.path()).unwrap().expect("free");
        assert!(try_lock(dir.path()).unwrap().is_none());
        drop(first);
        assert!(try_lock(dir.path()).unwrap().is_some());
    }
}
