//! The stat fingerprint of a checkpoint: file count, total bytes, newest mtime, over the whole
//! unit, plus the newest ctime and a digest of the inode numbers, which no writer can set back,
//! so a rewrite that keeps sizes and mtimes is still a change. Symlinks inside are counted,
//! never followed. The same walk tells whether a local process holds any file of the unit open
//! for writing, by device and inode (see `open_writers`).

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use walkdir::WalkDir;

use super::open_writers::FileId;
use crate::checkpoint::{Fingerprint, Kind};

/// A path inside a checkpoint that could not be read, and why.
#[derive(Debug, thiserror::Error)]
#[error("cannot read {}: {source}", path.display())]
pub struct Unreadable {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// Reads the fingerprint of `unit`; an error names the path that could not be read.
pub fn fingerprint(unit: &Path, kind: Kind) -> Result<Fingerprint, Unreadable> {
    fingerprint_and_writers(unit, kind, &HashSet::new()).map(|(f, _)| f)
}

/// The fingerprint of `unit`, and whether any file in it is one of `open` (files some local
/// process holds open for writing).
pub fn fingerprint_and_writers<S: std::hash::BuildHasher>(
    unit: &Path,
    kind: Kind,
    open: &HashSet<FileId, S>,
) -> Result<(Fingerprint, bool), Unreadable> {
    let unreadable = |path: &Path, source: std::io::Error| Unreadable {
        path: path.to_owned(),
        source,
    };
    let mut sum = Sum::default();
    let mut written = false;
    let mut add = |meta: &std::fs::Metadata| {
        written |= !open.is_empty()
            && open.contains(&FileId {
                dev: meta.dev(),
                ino: meta.ino(),
            });
        sum.add(meta)
    };
    if kind == Kind::File {
        let meta = std::fs::symlink_metadata(unit).map_err(|e| unreadable(unit, e))?;
        add(&meta).map_err(|e| unreadable(unit, e))?;
    } else {
        for entry in WalkDir::new(unit).follow_links(false) {
            let entry = entry.map_err(|e| {
                let path = e.path().unwrap_or(unit).to_owned();
                // Without following links there are no loops: every walk error is an I/O one.
                let source = e
                    .into_io_error()
                    .unwrap_or_else(|| std::io::Error::other("unreadable"));
                unreadable(&path, source)
            })?;
            let meta = entry
                .metadata()
                .map_err(|e| unreadable(entry.path(), e.into()))?;
            add(&meta).map_err(|e| unreadable(entry.path(), e))?;
        }
    }
    Ok((sum.into_fingerprint(), written))
}

/// The running totals of a walk.
#[derive(Default)]
struct Sum {
    files: u64,
    bytes: u64,
    newest_mtime: Option<SystemTime>,
    newest_ctime: Option<SystemTime>,
    inodes: u64,
}

impl Sum {
    fn add(&mut self, meta: &std::fs::Metadata) -> std::io::Result<()> {
        let mtime = meta.modified()?;
        let ctime = UNIX_EPOCH
            + Duration::new(
                u64::try_from(meta.ctime()).unwrap_or(0),
                u32::try_from(meta.ctime_nsec()).unwrap_or(0),
            );
        self.newest_mtime = self.newest_mtime.max(Some(mtime));
        self.newest_ctime = self.newest_ctime.max(Some(ctime));
        // Order-independent; names swapped between inodes show in the ctimes (rename sets them).
        self.inodes = self
            .inodes
            .wrapping_add(meta.ino().wrapping_mul(0x9E37_79B9_7F4A_7C15));
        if !meta.is_dir() {
            self.files += 1;
            self.bytes += meta.len();
        }
        Ok(())
    }

    fn into_fingerprint(self) -> Fingerprint {
        Fingerprint {
            files: self.files,
            bytes: self.bytes,
            newest_mtime: self.newest_mtime.unwrap_or(UNIX_EPOCH),
            newest_ctime: self.newest_ctime.unwrap_or(UNIX_EPOCH),
            inodes: self.inodes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_sums_every_file_and_takes_the_newest_mtime() {
        let dir = tempfile::tempdir().unwrap();
        let unit = dir.path().join("ckpt");
        std::fs::create_dir_all(unit.join("sub")).unwrap();
        std::fs::write(unit.join("a"), [0u8; 10]).unwrap();
        std::fs::write(unit.join("sub/b"), [0u8; 5]).unwrap();
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        for p in ["a", "sub/b", "sub", ""] {
            filetime::set_file_mtime(unit.join(p), filetime::FileTime::from_system_time(t))
                .unwrap();
        }
        let newer = t + Duration::from_mins(1);
        filetime::set_file_mtime(
            unit.join("sub/b"),
            filetime::FileTime::from_system_time(newer),
        )
        .unwrap();
        let f = fingerprint(&unit, Kind::Dir).unwrap();
        assert_eq!((f.files, f.bytes, f.newest_mtime), (2, 15, newer));
    }

    #[test]
    fn symlinks_inside_are_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let unit = dir.path().join("ckpt");
        std::fs::create_dir(&unit).unwrap();
        std::fs::write(dir.path().join("big"), vec![0u8; 1000]).unwrap();
        std::os::unix::fs::symlink(dir.path().join("big"), unit.join("link")).unwrap();
        let f = fingerprint(&unit, Kind::Dir).unwrap();
        assert_eq!(f.files, 1);
        assert!(f.bytes < 1000, "followed the link: {}", f.bytes);
    }

    #[test]
    fn a_rewrite_in_place_that_keeps_size_and_mtime_changes_the_fingerprint() {
        // A trainer re-saving the same name after a resume, or `rsync -t` replacing a file:
        // same bytes, same mtime, but the ctime (and with a rename, the inode) moves.
        let dir = tempfile::tempdir().unwrap();
        let unit = dir.path().join("ckpt_200.pt");
        std::fs::write(&unit, [1u8; 64]).unwrap();
        let old = filetime::FileTime::from_unix_time(1_000_000, 0);
        filetime::set_file_mtime(&unit, old).unwrap();
        let before = fingerprint(&unit, Kind::File).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        let replacement = dir.path().join("tmp");
        std::fs::write(&replacement, [2u8; 64]).unwrap();
        filetime::set_file_mtime(&replacement, old).unwrap();
        std::fs::rename(&replacement, &unit).unwrap();
        let after = fingerprint(&unit, Kind::File).unwrap();
        assert_eq!(
            (before.bytes, before.newest_mtime),
            (after.bytes, after.newest_mtime)
        );
        assert_ne!(before, after);
        assert_ne!(before.inodes, after.inodes);

        // Truncated and rewritten through the same inode: the ctime moves.
        std::thread::sleep(Duration::from_millis(20));
        std::fs::write(&unit, [3u8; 64]).unwrap();
        filetime::set_file_mtime(&unit, old).unwrap();
        let again = fingerprint(&unit, Kind::File).unwrap();
        assert_eq!(again.inodes, after.inodes);
        assert_ne!(again, after);
    }

    #[test]
    fn a_missing_unit_is_an_error_naming_the_path() {
        let err = fingerprint(Path::new("/nonexistent/ckpt"), Kind::Dir).unwrap_err();
        assert_eq!(err.path, Path::new("/nonexistent/ckpt"));
        assert_eq!(err.source.kind(), std::io::ErrorKind::NotFound);
        assert!(err.to_string().contains("/nonexistent/ckpt"), "{err}");
    }
}
