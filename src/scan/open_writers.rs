//! Which files some local process holds open for writing, read from `/proc`, by device and
//! inode: `stat` of `/proc/PID/fd/N` gives the open file itself whatever mount namespace the
//! process lives in, so a trainer in a container, or one writing through a bind mount, is seen
//! like any other (the path `/proc` shows is the path in the writer's namespace, which need not
//! exist in ours).
//!
//! Limits: only processes on this node are seen (not writers on other nodes of a shared
//! filesystem), and only those whose `/proc/PID/fd` we may read (root with `CAP_SYS_PTRACE`,
//! or the same user). Where `/proc` cannot be read the answer is "none", and settling alone
//! decides.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A file, by what it is rather than by a path to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileId {
    pub dev: u64,
    pub ino: u64,
}

/// A walk over every process's open files costs far more than a run's scan; passes over many
/// runs within this window share one walk. Much shorter than any sensible `settle`, and always
/// taken before the fingerprints it is compared with, so a writer that opens a file after it
/// shows as a fresh change instead.
const SNAPSHOT_MAX_AGE: Duration = Duration::from_millis(250);

static SNAPSHOT: Mutex<Option<(Instant, Arc<HashSet<FileId>>)>> = Mutex::new(None);

/// Every regular file some process we may inspect has open with write access, at most
/// `SNAPSHOT_MAX_AGE` old.
pub fn open_for_writing() -> Arc<HashSet<FileId>> {
    let mut cached = SNAPSHOT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((taken, files)) = cached.as_ref() {
        if taken.elapsed() < SNAPSHOT_MAX_AGE {
            return Arc::clone(files);
        }
    }
    let taken = Instant::now();
    let files = Arc::new(walk_proc());
    *cached = Some((taken, Arc::clone(&files)));
    files
}

fn walk_proc() -> HashSet<FileId> {
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
            // Follows the magic link to the open file itself; sockets, pipes and anonymous
            // inodes are not regular files.
            let Ok(meta) = std::fs::metadata(fd.path()) else {
                continue;
            };
            if meta.is_file() && writable(&proc_entry.path(), &fd.file_name()) {
                open.insert(FileId {
                    dev: meta.dev(),
                    ino: meta.ino(),
                });
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

    fn id(path: &Path) -> FileId {
        let meta = std::fs::metadata(path).unwrap();
        FileId {
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }

    #[test]
    fn a_file_this_process_writes_is_seen_and_a_read_only_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let written = dir.path().join("w.bin");
        let read = dir.path().join("r.bin");
        std::fs::write(&read, b"x").unwrap();
        let _w = std::fs::File::create(&written).unwrap();
        let _r = std::fs::File::open(&read).unwrap();
        // The snapshot is shared for a moment: wait for one taken after the opens.
        let deadline = Instant::now() + Duration::from_secs(10);
        let open = loop {
            let open = open_for_writing();
            if open.contains(&id(&written)) || Instant::now() > deadline {
                break open;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(open.contains(&id(&written)));
        assert!(!open.contains(&id(&read)));
    }
}
