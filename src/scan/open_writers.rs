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
use std::path::{Path, PathBuf};
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

static SNAPSHOT: Mutex<Option<(Instant, Arc<OpenFiles>)>> = Mutex::new(None);

/// The regular files some process we may inspect has open with write access.
#[derive(Debug, Default)]
pub struct OpenFiles {
    /// Files with a name, by what they are.
    pub ids: HashSet<FileId>,
    /// The directories of files open for writing that have no name (yet, or any more): an
    /// `O_TMPFILE` shard about to be linked into a checkpoint. Only a path can place them, as
    /// `/proc` shows it in the writer's namespace.
    pub unnamed_in: Vec<PathBuf>,
}

impl OpenFiles {
    /// Whether an unnamed file open for writing lies in the directory `unit`.
    pub fn unnamed_inside(&self, unit: &Path) -> bool {
        if self.unnamed_in.is_empty() {
            return false;
        }
        let resolved = std::fs::canonicalize(unit).unwrap_or_else(|_| unit.to_owned());
        self.unnamed_in.iter().any(|dir| dir.starts_with(&resolved))
    }
}

/// Every regular file some process we may inspect has open with write access, at most
/// `SNAPSHOT_MAX_AGE` old.
pub fn open_for_writing() -> Arc<OpenFiles> {
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

fn walk_proc() -> OpenFiles {
    let mut open = OpenFiles::default();
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
            // The link first: sockets, pipes and anonymous inodes (`socket:[…]`,
            // `anon_inode:inotify`) are no files. Their fdinfo is not read: an inotify
            // descriptor's lists every watch, and ckptd's own has one per run (reading it took
            // most of a pass at 10,000 runs).
            // A link that cannot be read (a path too long to print) is looked at as before.
            let target = std::fs::read_link(fd.path()).ok();
            if target.as_ref().is_some_and(|t| !t.is_absolute()) {
                continue;
            }
            // Then /proc: only descriptors open for writing are looked at further.
            if !writable(&proc_entry.path(), &fd.file_name()) {
                continue;
            }
            // Follows the magic link to the open file itself. DONT_SYNC: cached attributes,
            // so a hung NFS server or FUSE mount held open by some process cannot stall us,
            // and a trainer's dirty pages are not flushed by our look.
            let Ok(st) = rustix::fs::statx(
                rustix::fs::CWD,
                fd.path(),
                rustix::fs::AtFlags::STATX_DONT_SYNC,
                rustix::fs::StatxFlags::TYPE
                    | rustix::fs::StatxFlags::INO
                    | rustix::fs::StatxFlags::NLINK,
            ) else {
                continue;
            };
            // Sockets, pipes and anonymous inodes are not regular files.
            if rustix::fs::FileType::from_raw_mode(u32::from(st.stx_mode))
                != rustix::fs::FileType::RegularFile
            {
                continue;
            }
            if st.stx_nlink > 0 {
                open.ids.insert(FileId {
                    dev: rustix::fs::makedev(st.stx_dev_major, st.stx_dev_minor),
                    ino: st.stx_ino,
                });
            } else if let Some(dir) = target.as_deref().and_then(unnamed_file_dir) {
                open.unnamed_in.push(dir);
            }
        }
    }
    open
}

/// The directory of an open file that has no name, from its `/proc/PID/fd` link target:
/// `DIR/#INODE (deleted)` for an `O_TMPFILE`, `DIR/NAME (deleted)` for an unlinked file.
fn unnamed_file_dir(target: &Path) -> Option<PathBuf> {
    let text = target.to_str()?;
    let path = Path::new(text.strip_suffix(" (deleted)").unwrap_or(text));
    path.is_absolute()
        .then(|| path.parent().map(Path::to_owned))?
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
        use std::os::unix::fs::MetadataExt;
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
            if open.ids.contains(&id(&written)) || Instant::now() > deadline {
                break open;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(open.ids.contains(&id(&written)));
        assert!(!open.ids.contains(&id(&read)));
    }

    #[test]
    fn a_file_with_no_name_open_for_writing_is_placed_by_its_directory() {
        // What an O_TMPFILE shard or an unlinked file looks like: no name to match by inode.
        let dir = tempfile::tempdir().unwrap();
        let unit = std::fs::canonicalize(dir.path())
            .unwrap()
            .join("checkpoint-5");
        std::fs::create_dir(&unit).unwrap();
        let shard = unit.join("shard.bin");
        let _w = std::fs::File::create(&shard).unwrap();
        std::fs::remove_file(&shard).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let open = open_for_writing();
            if open.unnamed_inside(&unit) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "never seen: {:?}",
                open.unnamed_in
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(!open_for_writing().unnamed_inside(&dir.path().join("elsewhere")));
    }

    #[test]
    fn a_writer_whose_path_is_too_long_to_print_is_seen() {
        // `readlink` of its /proc/PID/fd link fails (ENAMETOOLONG): looked at as before.
        use rustix::fs::{Mode, OFlags};
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let mut fd = rustix::fs::open(
            dir.path(),
            OFlags::RDONLY | OFlags::DIRECTORY,
            Mode::empty(),
        )
        .unwrap();
        let name = "d".repeat(250);
        for _ in 0..20 {
            rustix::fs::mkdirat(&fd, name.as_str(), Mode::from_raw_mode(0o755)).unwrap();
            fd = rustix::fs::openat(
                &fd,
                name.as_str(),
                OFlags::RDONLY | OFlags::DIRECTORY,
                Mode::empty(),
            )
            .unwrap();
        }
        let writer = rustix::fs::openat(
            &fd,
            "shard.bin",
            OFlags::WRONLY | OFlags::CREATE,
            Mode::from_raw_mode(0o644),
        )
        .unwrap();
        let file = std::fs::File::from(writer);
        let meta = file.metadata().unwrap();
        let id = FileId {
            dev: meta.dev(),
            ino: meta.ino(),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !open_for_writing().ids.contains(&id) {
            assert!(Instant::now() < deadline, "never seen");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
