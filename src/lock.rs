//! The per-run advisory lock: several ckptd processes (one per node over shared storage, or a
//! `prune` beside the daemon) never plan and delete in one run at once. Its file,
//! `<run>/.ckptd.lock`, is also the run's clock probe (see [`crate::storage_clock`]).
//!
//! Two locks are taken, both with `flock(2)`:
//! - the run directory itself, which needs no new inode or block, so it can be taken on a
//!   completely full filesystem (local filesystems; NFS refuses flock on a directory);
//! - `.ckptd.lock`, which on NFS Linux maps onto POSIX byte-range locks that the server
//!   arbitrates across nodes. When the file cannot be created because the filesystem is full,
//!   the directory lock alone keeps local processes apart: freeing space must not wait on a
//!   file that needs space.
//!
//! Both are released when the handles are dropped or the process dies.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use rustix::fs::{FlockOperation, Mode, OFlags};
use rustix::io::Errno;

/// The lock file's name inside a run.
pub const LOCK_FILE: &str = ".ckptd.lock";

/// A held run lock.
#[derive(Debug)]
pub struct RunLock {
    _dir: OwnedFd,
    file: Option<OwnedFd>,
}

impl RunLock {
    /// The lock file, when it could be created (not on a full filesystem it never had).
    pub fn file(&self) -> Option<BorrowedFd<'_>> {
        self.file.as_ref().map(AsFd::as_fd)
    }
}

/// Whether an error says the filesystem has no room (blocks, inodes or quota).
pub fn is_no_space(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error().map(Errno::from_raw_os_error),
        Some(Errno::NOSPC | Errno::DQUOT)
    )
}

/// Takes the lock of `run` without waiting: `Ok(None)` when another process holds it.
pub fn try_lock(run: &Path) -> io::Result<Option<RunLock>> {
    let dir = rustix::fs::open(
        run,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let dir_locked = match rustix::fs::flock(dir.as_fd(), FlockOperation::NonBlockingLockExclusive)
    {
        Ok(()) => true,
        Err(Errno::WOULDBLOCK) => return Ok(None),
        // NFS and some FUSE filesystems refuse flock on a directory: the file lock decides.
        Err(_) => false,
    };
    // Something else in the lock file's place (a FIFO would block an open for writing) is
    // refused by its stat.
    match rustix::fs::statat(
        dir.as_fd(),
        LOCK_FILE,
        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
    ) {
        Ok(st)
            if rustix::fs::FileType::from_raw_mode(st.st_mode)
                != rustix::fs::FileType::RegularFile =>
        {
            return Err(not_regular(run));
        }
        _ => {}
    }
    let file = match open_lock_file(dir.as_fd()) {
        Ok(fd) => Some(fd),
        // The directory lock alone is enough only where no other node can act on the run.
        Err(e) if dir_locked && is_no_space(&e) && crate::fs_kind::is_local(run) => None,
        Err(e) => {
            return Err(io::Error::new(
                e.kind(),
                format!("cannot open {}: {e}", run.join(LOCK_FILE).display()),
            ))
        }
    };
    if let Some(fd) = &file {
        let st = rustix::fs::fstat(fd)?;
        // A hard link would make the probe's byte land in another file (a checkpoint's).
        if !is_own_probe(&st) {
            return Err(not_regular(run));
        }
        match rustix::fs::flock(fd.as_fd(), FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {}
            Err(Errno::WOULDBLOCK) => return Ok(None),
            // NFSv4 wants a handle open for writing for an exclusive lock.
            Err(Errno::BADF) => {
                return Err(io::Error::other(format!(
                    "cannot lock {}: it belongs to uid {} and this user may not write it; chown it to the account ckptd runs as, or remove it",
                    run.join(LOCK_FILE).display(),
                    st.st_uid
                )))
            }
            Err(e) => {
                return Err(io::Error::other(format!(
                    "cannot lock {}: {e}",
                    run.join(LOCK_FILE).display()
                )))
            }
        }
    }
    Ok(Some(RunLock { _dir: dir, file }))
}

/// Opens (creating) the lock file for writing, as the clock probe needs; a lock file another
/// user owns (left by a `sudo ckptd prune`, say) is opened for reading: `flock` needs no more,
/// and the clock probe then counts as unwritable.
fn open_lock_file(dir: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    // Non-blocking besides the stat check: a FIFO swapped in must not hang us.
    let flags = OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK;
    match rustix::fs::openat(
        dir,
        LOCK_FILE,
        OFlags::WRONLY | OFlags::CREATE | flags,
        Mode::from_raw_mode(0o644),
    ) {
        Err(Errno::ACCESS | Errno::PERM) => Ok(rustix::fs::openat(
            dir,
            LOCK_FILE,
            OFlags::RDONLY | flags,
            Mode::empty(),
        )?),
        other => Ok(other?),
    }
}

/// Whether `st` is what ckptd's lock file and clock probe must be: a regular file with no
/// other name.
pub fn is_own_probe(st: &rustix::fs::Stat) -> bool {
    rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::RegularFile
        && st.st_nlink == 1
}

fn not_regular(run: &Path) -> io::Error {
    io::Error::other(format!(
        "{} is not a regular file with a single name: left alone",
        run.join(LOCK_FILE).display()
    ))
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

    #[test]
    fn the_directory_lock_alone_keeps_a_second_holder_out() {
        // What a process holds when the filesystem was too full to create the lock file.
        let dir = tempfile::tempdir().unwrap();
        let held = rustix::fs::open(
            dir.path(),
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .unwrap();
        rustix::fs::flock(held.as_fd(), FlockOperation::NonBlockingLockExclusive).unwrap();
        assert!(try_lock(dir.path()).unwrap().is_none());
        drop(held);
        assert!(try_lock(dir.path()).unwrap().is_some());
    }
}
