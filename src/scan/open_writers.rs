//! Which files under a run a local process holds open for writing, read from `/proc`.
//!
//! Limits: only processes on this node are seen (not writers on other nodes of a shared
//! filesystem), and only those whose `/proc/PID/fd` we may read (root, or the same user).
//! Where `/proc` cannot be read the answer is "none", and settling alone decides.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A walk over every process's open files costs far more than a run's scan; passes over many
/// runs within this window share one walk. Much shorter than any sensible `settle`.
const SNAPSHOT_MAX_AGE: Duration = Duration::from_millis(250);

static SNAPSHOT: Mutex<Option<(Instant, Arc<HashSet<PathBuf>>)>> = Mutex::new(None);

/// Every path under `run` that some process has open with write access.
pub fn open_for_writing(run: &Path) -> HashSet<PathBuf> {
    // /proc shows resolved paths; compare against the run's resolved path too.
    let Ok(resolved_run) = std::fs::canonicalize(run) else {
        return HashSet::new();
    };
    snapshot()
        .iter()
        .filter(|path| path.starts_with(&resolved_run))
        .cloned()
        .collect()
}

/// All files open for writing by any process we may inspect, at most `SNAPSHOT_MAX_AGE` old.
fn snapshot() -> Arc<HashSet<PathBuf>> {
    let mut cached = SNAPSHOT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((taken, paths)) = cached.as_ref() {
        if taken.elapsed() < SNAPSHOT_MAX_AGE {
            return Arc::clone(paths);
        }
    }
    let paths = Arc::new(walk_proc());
    *cached = Some((Instant::now(), Arc::clone(&paths)));
    paths
}

fn walk_proc() -> HashSet<PathBuf> {
    let mut open = HashSet::new();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return open;
    };
    for proc_entry in procs.flatten() {
        let pid = proc_entry.file_name();
        if !pid
            .to_str()
            .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
        {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(proc_entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let Ok(target) = std::fs::read_link(fd.path()) else {
                continue;
            };
            // Only files: sockets, pipes and anon inodes read as `socket:[…]` and the like.
            if target.is_absolute() && writable(&proc_entry.path(), &fd.file_name()) {
                open.insert(target);
            }
        }
    }
    open
}

/// Reads the `flags:` line of `/proc/PID/fdinfo/FD`: octal open flags, whose low two bits are
/// the access mode (0 read-only, 1 write-only, 2 read-write).
fn writable(proc_dir: &Path, fd: &std::ffi::OsStr) -> bool {
    let Ok(info) = std::fs::read_to_string(proc_dir.join("fdinfo").join(fd)) else {
        return false;
    };
    info.lines()
        .find_map(|line| line.strip_prefix("flags:"))
        .and_then(|flags| u32::from_str_radix(flags.trim(), 8).ok())
        .is_some_and(|flags| flags & 0o3 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_this_process_writes_is_seen_and_a_read_only_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let run = std::fs::canonicalize(dir.path()).unwrap();
        let written = run.join("w.bin");
        let read = run.join("r.bin");
        std::fs::write(&read, b"x").unwrap();
        let _w = std::fs::File::create(&written).unwrap();
        let _r = std::fs::File::open(&read).unwrap();
        let open = open_for_writing(&run);
        assert!(open.contains(&written), "{open:?}");
        assert!(!open.contains(&read), "{open:?}");
    }
}
