//! "Now" on the clock that stamps a run's files.
//!
//! Settling compares a checkpoint's newest mtime with "now". On network storage the mtimes
//! come from the server's clock; when it lags ours by two minutes, a file written a second ago
//! looks two minutes old, and a checkpoint still being written looks settled. So ckptd writes
//! one byte into its own probe file in the run (the lock file, `.ckptd.lock`) and reads back
//! its mtime: the storage stamps that write with the same clock as the trainer's writes.
//!
//! When no probe can be written (a read-only mount, a full filesystem that never had the
//! file), the clock is unknown, and ckptd measures quiet time only between its own looks:
//! nothing is complete until two looks `settle` apart saw the same fingerprint.

use std::io;
use std::os::fd::BorrowedFd;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustix::fs::{Mode, OFlags, Timespec, Timestamps, UTIME_NOW};

/// "Now" for one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunClock {
    pub now: SystemTime,
    /// `now` was read off the storage (a probe); false: it is this machine's clock, and a
    /// file's mtime cannot tell how long ago it was written.
    pub on_storage: bool,
}

impl RunClock {
    /// This machine's clock: the probe could not be written.
    pub fn local() -> Self {
        Self {
            now: SystemTime::now(),
            on_storage: false,
        }
    }

    /// Reads the storage clock of `run` through its probe file `probe` (held open), else this
    /// machine's. On filesystems whose clients stamp mtimes with their own clocks (Lustre,
    /// GPFS, CephFS), no probe can read a trainer's clock: the clock is unknown there.
    pub fn of(run: &Path, probe: Option<BorrowedFd<'_>>) -> Self {
        if crate::fs_kind::probe_reads_writers_clock(run) {
            Self::through(probe)
        } else {
            Self::local()
        }
    }

    /// Reads the clock through the probe file `probe` (held open), else this machine's.
    pub fn through(probe: Option<BorrowedFd<'_>>) -> Self {
        match probe.map(stamp) {
            Some(Ok(now)) => Self {
                now,
                on_storage: true,
            },
            Some(Err(e)) => {
                tracing::debug!(error = %e, "cannot stamp the clock probe: the storage clock is unknown");
                Self::local()
            }
            None => Self::local(),
        }
    }

    /// For commands that write nothing (`plan`, `status`, dry runs): the run's existing probe
    /// file, if it has one we may write to; nothing is ever created.
    pub fn read_only(run: &Path) -> Self {
        let probe = rustix::fs::open(
            run.join(crate::lock::LOCK_FILE),
            OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK,
            Mode::empty(),
        );
        match probe {
            Ok(fd) if is_regular(&fd) => Self::of(run, Some(std::os::fd::AsFd::as_fd(&fd))),
            _ => Self::local(),
        }
    }
}

fn is_regular(fd: &std::os::fd::OwnedFd) -> bool {
    rustix::fs::fstat(fd).is_ok_and(|st| crate::lock::is_own_probe(&st))
}

/// Makes the storage stamp `fd` now and returns that stamp.
fn stamp(fd: BorrowedFd<'_>) -> io::Result<SystemTime> {
    // A write is stamped exactly as the trainer's writes are (by the server, on NFS). Once the
    // file holds its byte, rewriting it needs no new block, so this works on a full disk.
    if rustix::io::pwrite(fd, b"\n", 0).is_err() {
        // A file created on a full filesystem has no block for the byte: setting the times to
        // "now" needs none (NFS sends it as "set to the server's time").
        let now = Timespec {
            tv_sec: 0,
            tv_nsec: UTIME_NOW,
        };
        rustix::fs::futimens(
            fd,
            &Timestamps {
                last_access: now,
                last_modification: now,
            },
        )?;
    }
    let st = rustix::fs::fstat(fd)?;
    let secs = u64::try_from(st.st_mtime).map_err(|_| io::Error::other("mtime before 1970"))?;
    let nanos = u32::try_from(st.st_mtime_nsec).unwrap_or(0);
    Ok(UNIX_EPOCH + Duration::new(secs, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn the_probe_reads_the_clock_that_stamps_writes() {
        let dir = tempfile::tempdir().unwrap();
        let lock = crate::lock::try_lock(dir.path()).unwrap().unwrap();
        let before = SystemTime::now() - Duration::from_secs(1);
        let clock = RunClock::through(lock.file());
        assert!(clock.on_storage);
        assert!(clock.now >= before && clock.now <= SystemTime::now() + Duration::from_secs(1));
        let len = std::fs::metadata(dir.path().join(crate::lock::LOCK_FILE))
            .unwrap()
            .len();
        assert_eq!(len, 1, "one byte, rewritten in place");
    }

    #[test]
    fn read_only_commands_create_no_probe_and_fall_back_to_our_clock() {
        let dir = tempfile::tempdir().unwrap();
        let clock = RunClock::read_only(dir.path());
        assert!(!clock.on_storage);
        assert!(!dir.path().join(crate::lock::LOCK_FILE).exists());
        // With the probe there (left by `prune` or the daemon), they read the storage clock.
        let lock = crate::lock::try_lock(dir.path()).unwrap().unwrap();
        drop(lock);
        assert!(RunClock::read_only(dir.path()).on_storage);
    }
}
