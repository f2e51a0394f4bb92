//! The one seam through which ckptd removes anything.
//!
//! A checkpoint is first renamed into `<run>/.ckptd-trash/` under a unique name — same
//! filesystem, atomic, through handles on the run and trash directories (`renameat`), so a
//! path component swapped for a symlink cannot redirect it — and only then removed. A crash
//! between the two leaves the checkpoint whole in the trash, where no framework looks and the
//! next pass finishes the removal.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use rustix::fs::{AtFlags, FileType, Mode, OFlags};

/// The trash directory's name inside a run.
pub const TRASH_DIR: &str = ".ckptd-trash";

/// An open handle on a run directory, taken without following a symlink.
pub struct RunDir {
    pub path: PathBuf,
    pub fd: OwnedFd,
}

impl RunDir {
    pub fn open(path: &Path) -> io::Result<Self> {
        let fd = rustix::fs::open(
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Self {
            path: path.to_owned(),
            fd,
        })
    }

    /// The type of the direct child `name`, not following a symlink.
    pub fn child_type(&self, name: &str) -> io::Result<FileType> {
        let stat = rustix::fs::statat(self.fd.as_fd(), name, AtFlags::SYMLINK_NOFOLLOW)?;
        Ok(FileType::from_raw_mode(stat.st_mode))
    }

    /// Moves the direct child `name` into the trash; returns its path there.
    pub fn move_to_trash(&self, name: &str) -> io::Result<PathBuf> {
        let trash = self.open_trash(true)?;
        let unique = unique_name(name);
        rustix::fs::renameat(self.fd.as_fd(), name, trash.as_fd(), unique.as_str())?;
        Ok(self.path.join(TRASH_DIR).join(unique))
    }

    /// Opens (and with `create`, makes) the trash directory, refusing a symlink in its place.
    fn open_trash(&self, create: bool) -> io::Result<OwnedFd> {
        if create {
            match rustix::fs::mkdirat(self.fd.as_fd(), TRASH_DIR, Mode::from_raw_mode(0o700)) {
                Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(rustix::fs::openat(
            self.fd.as_fd(),
            TRASH_DIR,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?)
    }

    /// Removes the trash directory if it is empty, so a run holds only what its trainer wrote.
    pub fn tidy_trash(&self) {
        // Fails harmlessly when another pass is filling it or a removal failed.
        let _ = rustix::fs::unlinkat(self.fd.as_fd(), TRASH_DIR, AtFlags::REMOVEDIR);
    }

    /// Removes everything in the trash (leftovers of an interrupted pass), then the trash
    /// directory itself. Returns the paths removed; stops at the first error.
    pub fn empty_trash(&self) -> io::Result<Vec<PathBuf>> {
        match self.child_type(TRASH_DIR) {
            Ok(FileType::Directory) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Ok(_) => {
                return Err(io::Error::other(format!(
                    "{} is not a directory: left alone",
                    self.path.join(TRASH_DIR).display()
                )))
            }
            Err(e) => return Err(e),
        }
        let trash_path = self.path.join(TRASH_DIR);
        let mut removed = Vec::new();
        for entry in std::fs::read_dir(&trash_path)? {
            let path = entry?.path();
            remove(&path)?;
            removed.push(path);
        }
        self.tidy_trash();
        Ok(removed)
    }
}

/// Removes a file or a whole directory without following symlinks inside it.
pub fn remove(path: &Path) -> io::Result<()> {
    let meta = std::fs::symlink_metadata(path)?;
    if meta.is_dir() {
        // std's remove_dir_all never follows symlinks inside (CVE-2022-21658 fixed in 1.58.1).
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    }
}

fn unique_name(name: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    // A readable prefix of the name, short enough that the whole stays far below NAME_MAX
    // (255 bytes) whatever the checkpoint is called.
    let mut end = name.len().min(64);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}.{}.{nanos}.{n}", &name[..end], std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn move_to_trash_then_empty() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("ckpt/sub")).unwrap();
        std::fs::write(dir.path().join("ckpt/sub/x"), b"1").unwrap();
        let run = RunDir::open(dir.path()).unwrap();
        let moved = run.move_to_trash("ckpt").unwrap();
        assert!(!dir.path().join("ckpt").exists());
        assert!(moved.join("sub/x").exists());
        assert_eq!(run.empty_trash().unwrap(), [moved]);
        assert!(!dir.path().join(TRASH_DIR).exists());
    }

    #[test]
    fn a_name_of_255_bytes_still_fits_in_the_trash() {
        let dir = tempfile::tempdir().unwrap();
        let name = format!("{}_step1.pt", "é".repeat(120));
        assert!(name.len() > 240);
        std::fs::write(dir.path().join(&name), b"x").unwrap();
        let run = RunDir::open(dir.path()).unwrap();
        let moved = run.move_to_trash(&name).unwrap();
        assert!(moved.exists());
    }

    #[test]
    fn a_symlinked_run_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("real")).unwrap();
        symlink(dir.path().join("real"), dir.path().join("link")).unwrap();
        assert!(RunDir::open(&dir.path().join("link")).is_err());
    }

    #[test]
    fn a_symlink_in_place_of_the_trash_is_refused_and_nothing_moves() {
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ckpt"), b"1").unwrap();
        symlink(elsewhere.path(), dir.path().join(TRASH_DIR)).unwrap();
        let run = RunDir::open(dir.path()).unwrap();
        assert!(run.move_to_trash("ckpt").is_err());
        assert!(dir.path().join("ckpt").exists());
        assert!(run.empty_trash().is_err());
        assert_eq!(std::fs::read_dir(elsewhere.path()).unwrap().count(), 0);
    }

    #[test]
    fn removal_does_not_follow_symlinks_out_of_the_trash() {
        let dir = tempfile::tempdir().unwrap();
        let precious = tempfile::tempdir().unwrap();
        std::fs::write(precious.path().join("keep"), b"1").unwrap();
        std::fs::create_dir(dir.path().join("ckpt")).unwrap();
        symlink(precious.path(), dir.path().join("ckpt/link")).unwrap();
        let run = RunDir::open(dir.path()).unwrap();
        run.move_to_trash("ckpt").unwrap();
        run.empty_trash().unwrap();
        assert!(precious.path().join("keep").exists());
    }
}
