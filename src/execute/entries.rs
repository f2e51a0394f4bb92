//! Moving one entry out of a checkpoint directory into the run's trash, for slimming: the
//! same seam as a deletion (`trash`), one level deeper. Every directory on the way is opened
//! from the run directory's handle without following a symlink, the entry itself must not be
//! a symlink, and nothing on another filesystem is touched.

use std::io;
use std::os::fd::{AsFd, OwnedFd};

use rustix::fs::{AtFlags, FileType, Stat};

use super::trash::{
    open_dir, rename_noreplace, unique_name, RunDir, Trashed, TRASH_SIBLING_PREFIX,
};
use crate::lock::is_no_space;

/// The directory that holds the entry `path` (names below the checkpoint `checkpoint`), and
/// the entry's own name.
fn parent_of<'p>(
    dir: &RunDir,
    checkpoint: &str,
    path: &'p [String],
) -> io::Result<(OwnedFd, &'p str)> {
    let (leaf, above) = path
        .split_last()
        .ok_or_else(|| io::Error::other("an empty entry path"))?;
    let device = dir.device()?;
    let mut fd = open_dir(dir.fd.as_fd(), &cname(checkpoint)?)?;
    for name in above {
        fd = open_dir(fd.as_fd(), &cname(name)?)?;
    }
    if rustix::fs::fstat(&fd)?.st_dev != device {
        return Err(io::Error::other(format!(
            "{}/{} is on another filesystem: left alone",
            checkpoint,
            above.join("/")
        )));
    }
    Ok((fd, leaf.as_str()))
}

fn cname(name: &str) -> io::Result<std::ffi::CString> {
    std::ffi::CString::new(name).map_err(|_| io::Error::other("a name with a NUL byte"))
}

/// The stat of the entry itself (a symlink is stat'ed, not followed).
pub fn stat(dir: &RunDir, checkpoint: &str, path: &[String]) -> io::Result<Stat> {
    let (parent, leaf) = parent_of(dir, checkpoint, path)?;
    Ok(rustix::fs::statat(
        parent.as_fd(),
        leaf,
        AtFlags::SYMLINK_NOFOLLOW,
    )?)
}

/// Moves the entry out of the checkpoint into the trash (or, on a full filesystem, beside the
/// checkpoint under a trash name), refusing a symlink.
pub fn move_to_trash(dir: &RunDir, checkpoint: &str, path: &[String]) -> io::Result<Trashed> {
    let (parent, leaf) = parent_of(dir, checkpoint, path)?;
    let st = rustix::fs::statat(parent.as_fd(), leaf, AtFlags::SYMLINK_NOFOLLOW)?;
    if FileType::from_raw_mode(st.st_mode) == FileType::Symlink {
        return Err(io::Error::other(format!(
            "{checkpoint}/{} is a symlink: left alone",
            path.join("/")
        )));
    }
    let unique = unique_name(leaf);
    let into_trash = dir
        .open_trash(true)
        .and_then(|trash| rename_noreplace(parent.as_fd(), leaf, trash.as_fd(), &unique));
    match into_trash {
        Ok(()) => Ok(Trashed::InTrashDir(unique)),
        // No inode for `.ckptd-trash/`: beside the checkpoint in the run, as a deletion does.
        Err(e) if is_no_space(&e) => {
            let beside = format!("{TRASH_SIBLING_PREFIX}{unique}");
            rename_noreplace(parent.as_fd(), leaf, dir.fd.as_fd(), &beside)?;
            Ok(Trashed::Beside(beside))
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_moves_into_the_trash_and_a_symlink_never_does() {
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("ckpt/optimizer")).unwrap();
        std::fs::write(dir.path().join("ckpt/optimizer/a.bin"), b"1").unwrap();
        std::fs::write(elsewhere.path().join("precious"), b"1").unwrap();
        std::os::unix::fs::symlink(
            elsewhere.path().join("precious"),
            dir.path().join("ckpt/scheduler.pt"),
        )
        .unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), dir.path().join("ckpt/linked")).unwrap();
        let run = RunDir::open(dir.path()).unwrap();
        let path = |p: &str| p.split('/').map(str::to_owned).collect::<Vec<_>>();
        let moved = move_to_trash(&run, "ckpt", &path("optimizer/a.bin")).unwrap();
        assert!(run.trashed_path(&moved).exists());
        assert!(!dir.path().join("ckpt/optimizer/a.bin").exists());
        assert!(move_to_trash(&run, "ckpt", &path("scheduler.pt")).is_err());
        assert!(dir.path().join("ckpt/scheduler.pt").is_symlink());
        // A symlinked directory on the way is refused, not followed.
        assert!(move_to_trash(&run, "ckpt", &path("linked/precious")).is_err());
        assert!(elsewhere.path().join("precious").exists());
    }
}
