//! The one seam through which ckptd removes anything.
//!
//! A checkpoint is first renamed into `<run>/.ckptd-trash/` under a unique name — same
//! filesystem, atomic, through handles on the run and trash directories (`renameat`), so a
//! path component swapped for a symlink cannot redirect it — and only then removed. A crash
//! between the two leaves the checkpoint whole in the trash, where no framework looks and the
//! next pass finishes the removal.
//!
//! On a full filesystem there may be no inode or block for `.ckptd-trash/`. Then the
//! checkpoint is renamed in place to a sibling `.ckptd-trash-<name>.<unique>` instead: a rename
//! within one directory needs no new inode, is just as atomic, and the name is just as
//! invisible to frameworks (a dot name that keeps none of the checkpoint's suffix). Either way
//! the contents are then unlinked through directory handles, largest files first, so the space
//! a full disk needs comes back as early as possible.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use std::ffi::{CStr, CString};
use std::os::unix::ffi::OsStrExt;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, RenameFlags};

use crate::lock::is_no_space;

/// The trash directory's name inside a run.
pub const TRASH_DIR: &str = ".ckptd-trash";

/// The prefix of a checkpoint renamed in place because the trash directory had no room.
pub const TRASH_SIBLING_PREFIX: &str = ".ckptd-trash-";

/// Where a checkpoint went on its way out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trashed {
    /// `<run>/.ckptd-trash/<name>`.
    InTrashDir(String),
    /// `<run>/<name>`, a `.ckptd-trash-…` sibling (the filesystem was full).
    Beside(String),
}

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

    /// Moves the direct child `name` out of the run: into the trash, or, when the filesystem
    /// has no room for that, beside itself under a trash name.
    pub fn move_to_trash(&self, name: &str) -> io::Result<Trashed> {
        let unique = unique_name(name);
        let into_trash = self
            .open_trash(true)
            .and_then(|trash| rename_noreplace(self.fd.as_fd(), name, trash.as_fd(), &unique));
        match into_trash {
            Ok(()) => Ok(Trashed::InTrashDir(unique)),
            Err(e) if is_no_space(&e) => {
                let beside = format!("{TRASH_SIBLING_PREFIX}{unique}");
                rename_noreplace(self.fd.as_fd(), name, self.fd.as_fd(), &beside)?;
                tracing::warn!(run = %self.path.display(), checkpoint = name, renamed_to = %beside, "filesystem full, no room for .ckptd-trash/: checkpoint renamed in place before removal");
                Ok(Trashed::Beside(beside))
            }
            Err(e) => Err(e),
        }
    }

    /// The path of a trashed checkpoint, for messages.
    pub fn trashed_path(&self, trashed: &Trashed) -> PathBuf {
        match trashed {
            Trashed::InTrashDir(name) => self.path.join(TRASH_DIR).join(name),
            Trashed::Beside(name) => self.path.join(name),
        }
    }

    /// Removes a trashed checkpoint, largest files first.
    pub fn remove_trashed(&self, trashed: &Trashed) -> io::Result<()> {
        let device = self.device()?;
        match trashed {
            Trashed::InTrashDir(name) => {
                remove_tree(self.open_trash(false)?.as_fd(), &cname(name)?, device)
            }
            Trashed::Beside(name) => remove_tree(self.fd.as_fd(), &cname(name)?, device),
        }
    }

    /// The device of the run directory: nothing on another one is ever removed.
    pub(super) fn device(&self) -> io::Result<u64> {
        Ok(rustix::fs::fstat(&self.fd)?.st_dev)
    }

    /// Opens (and with `create`, makes) the trash directory, refusing a symlink in its place.
    pub(super) fn open_trash(&self, create: bool) -> io::Result<OwnedFd> {
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

    /// Removes everything in the trash and every `.ckptd-trash-…` sibling (leftovers of an
    /// interrupted pass or of a removal that failed), then the trash directory itself.
    /// Returns the paths removed; stops at the first error.
    pub fn empty_trash(&self) -> io::Result<Vec<PathBuf>> {
        let device = self.device()?;
        let mut removed = Vec::new();
        for name in self.trash_siblings()? {
            remove_tree(self.fd.as_fd(), &cname(&name)?, device)?;
            removed.push(self.path.join(name));
        }
        match self.child_type(TRASH_DIR) {
            Ok(FileType::Directory) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(removed),
            Ok(_) => {
                return Err(io::Error::other(format!(
                    "{} is not a directory: left alone",
                    self.path.join(TRASH_DIR).display()
                )))
            }
            Err(e) => return Err(e),
        }
        let trash = self.open_trash(false)?;
        if rustix::fs::fstat(&trash)?.st_dev != device {
            return Err(io::Error::other(format!(
                "{} is a mount point: left alone",
                self.path.join(TRASH_DIR).display()
            )));
        }
        for name in child_names(trash.as_fd())? {
            remove_tree(trash.as_fd(), &name, device)?;
            removed.push(
                self.path
                    .join(TRASH_DIR)
                    .join(std::ffi::OsStr::from_bytes(name.to_bytes())),
            );
        }
        self.tidy_trash();
        Ok(removed)
    }

    /// The run's children named exactly as [`move_to_trash`] names a sibling: a user's own
    /// `.ckptd-trash-notes` is not one, and is never touched.
    fn trash_siblings(&self) -> io::Result<Vec<String>> {
        Ok(child_names(self.fd.as_fd())?
            .into_iter()
            .filter_map(|name| name.into_string().ok())
            .filter(|name| is_trash_sibling(name))
            .collect())
    }
}

/// Renames `from` to `to` (handles on their directories) without ever replacing what may be
/// at `to`: `RENAME_NOREPLACE` where the filesystem has it; where it refuses the flag (the NFS
/// client does), a plain rename once `to` is seen not to exist (its name is unique to this
/// process and instant, so only ckptd could have made it).
pub(super) fn rename_noreplace(
    from_dir: BorrowedFd<'_>,
    from: &str,
    to_dir: BorrowedFd<'_>,
    to: &str,
) -> io::Result<()> {
    with_plain_fallback(
        || rustix::fs::renameat_with(from_dir, from, to_dir, to, RenameFlags::NOREPLACE),
        || rename_if_absent(from_dir, from, to_dir, to),
    )
}

/// A plain rename, refused when `to` exists.
fn rename_if_absent(
    from_dir: BorrowedFd<'_>,
    from: &str,
    to_dir: BorrowedFd<'_>,
    to: &str,
) -> rustix::io::Result<()> {
    match rustix::fs::statat(to_dir, to, AtFlags::SYMLINK_NOFOLLOW) {
        Err(rustix::io::Errno::NOENT) => rustix::fs::renameat(from_dir, from, to_dir, to),
        Ok(_) => Err(rustix::io::Errno::EXIST),
        Err(e) => Err(e),
    }
}

/// `first`, or `plain` when `first` says the filesystem does not support the flag.
fn with_plain_fallback(
    first: impl FnOnce() -> rustix::io::Result<()>,
    plain: impl FnOnce() -> rustix::io::Result<()>,
) -> io::Result<()> {
    use rustix::io::Errno;
    match first() {
        Err(Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP) => Ok(plain()?),
        other => Ok(other?),
    }
}

/// Whether `name` is a sibling `move_to_trash` made: the prefix, a name, then
/// `.<pid>.<nanos>.<n>` (see `unique_name`).
fn is_trash_sibling(name: &str) -> bool {
    let Some(rest) = name.strip_prefix(TRASH_SIBLING_PREFIX) else {
        return false;
    };
    let mut parts = rest.rsplitn(4, '.');
    let numbers = [parts.next(), parts.next(), parts.next()];
    let named = parts.next().is_some_and(|n| !n.is_empty());
    named
        && numbers
            .iter()
            .all(|p| p.is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())))
}

/// The names in the directory `dir`, as the kernel has them (not necessarily UTF-8).
fn child_names(dir: BorrowedFd<'_>) -> io::Result<Vec<CString>> {
    let own = rustix::fs::openat(
        dir,
        ".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let mut names = Vec::new();
    for entry in rustix::fs::Dir::read_from(own.as_fd())? {
        let entry = entry?;
        let name = entry.file_name();
        if name != c"." && name != c".." {
            names.push(name.to_owned());
        }
    }
    Ok(names)
}

/// Removes `name` in `parent` and everything below it, never following a symlink and never
/// touching another filesystem than `device` (the run's): the files of the whole tree largest
/// first, then the directories deepest first. Handles are held only along one path at a time,
/// so a tree of any shape cannot exhaust the process's file descriptors.
fn remove_tree(parent: BorrowedFd<'_>, name: &CStr, device: u64) -> io::Result<()> {
    let stat = rustix::fs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW)?;
    if FileType::from_raw_mode(stat.st_mode) != FileType::Directory {
        return Ok(rustix::fs::unlinkat(parent, name, AtFlags::empty())?);
    }
    if stat.st_dev != device {
        return Err(mount_point(&[name.to_owned()]));
    }
    let mut tree = Tree::default();
    let root = open_dir(parent, name)?;
    tree.walk(root.as_fd(), device, &mut vec![name.to_owned()])?;
    drop(root);
    tree.files.sort_by_key(|file| std::cmp::Reverse(file.2));
    let mut opened: Option<(Vec<CString>, OwnedFd)> = None;
    for (dir, file, _) in &tree.files {
        if opened.as_ref().is_none_or(|(path, _)| path != dir) {
            opened = Some((dir.clone(), open_path(parent, dir)?));
        }
        if let Some((_, fd)) = &opened {
            rustix::fs::unlinkat(fd.as_fd(), file.as_c_str(), AtFlags::empty())?;
        }
    }
    drop(opened);
    // Found parents first: in reverse, every directory is empty when its turn comes.
    for dir in tree.dirs.iter().rev() {
        let (last, above) = dir.split_last().expect("a directory has a name");
        let holder = if above.is_empty() {
            None
        } else {
            Some(open_path(parent, above)?)
        };
        let at = holder.as_ref().map_or(parent, AsFd::as_fd);
        rustix::fs::unlinkat(at, last.as_c_str(), AtFlags::REMOVEDIR)?;
    }
    Ok(())
}

/// What a walk found: directories in the order found (parents first) and files with sizes,
/// each as its path of names from the tree's parent.
#[derive(Default)]
struct Tree {
    dirs: Vec<Vec<CString>>,
    files: Vec<(Vec<CString>, CString, u64)>,
}

impl Tree {
    fn walk(
        &mut self,
        dir: BorrowedFd<'_>,
        device: u64,
        path: &mut Vec<CString>,
    ) -> io::Result<()> {
        self.dirs.push(path.clone());
        for child in child_names(dir)? {
            let st = rustix::fs::statat(dir, child.as_c_str(), AtFlags::SYMLINK_NOFOLLOW)?;
            if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
                let size = u64::try_from(st.st_size).unwrap_or(0);
                self.files.push((path.clone(), child, size));
                continue;
            }
            if st.st_dev != device {
                // Another filesystem mounted inside the checkpoint is not the checkpoint's.
                path.push(child);
                return Err(mount_point(path));
            }
            let fd = open_dir(dir, &child)?;
            path.push(child);
            self.walk(fd.as_fd(), device, path)?;
            path.pop();
        }
        Ok(())
    }
}

fn mount_point(path: &[CString]) -> io::Error {
    let shown: Vec<String> = path
        .iter()
        .map(|c| c.to_string_lossy().into_owned())
        .collect();
    io::Error::other(format!("{} is a mount point: left alone", shown.join("/")))
}

/// Opens the directory at `path` (names below `parent`), one component at a time, refusing
/// a symlink anywhere.
fn open_path(parent: BorrowedFd<'_>, path: &[CString]) -> io::Result<OwnedFd> {
    let (first, rest) = path.split_first().expect("a path has a name");
    let mut fd = open_dir(parent, first)?;
    for name in rest {
        fd = open_dir(fd.as_fd(), name)?;
    }
    Ok(fd)
}

fn cname(name: &str) -> io::Result<CString> {
    CString::new(name).map_err(|_| io::Error::other("a name with a NUL byte"))
}

pub(super) fn open_dir(parent: BorrowedFd<'_>, name: &CStr) -> io::Result<OwnedFd> {
    Ok(rustix::fs::openat(
        parent,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

pub(super) fn unique_name(name: &str) -> String {
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
        let moved = run.trashed_path(&run.move_to_trash("ckpt").unwrap());
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
        let moved = run.trashed_path(&run.move_to_trash(&name).unwrap());
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

    #[test]
    fn removal_takes_the_largest_files_first_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("ckpt/a/b")).unwrap();
        std::fs::write(dir.path().join("ckpt/small"), [0u8; 10]).unwrap();
        std::fs::write(dir.path().join("ckpt/a/b/big"), vec![0u8; 100_000]).unwrap();
        std::fs::write(dir.path().join("ckpt/a/mid"), vec![0u8; 1000]).unwrap();
        let run = RunDir::open(dir.path()).unwrap();
        let trashed = run.move_to_trash("ckpt").unwrap();
        run.remove_trashed(&trashed).unwrap();
        assert!(!run.trashed_path(&trashed).exists());
        run.tidy_trash();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_tree_with_more_directories_than_handles_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..=2000 {
            std::fs::create_dir_all(dir.path().join(format!("ckpt/d{i}"))).unwrap();
            std::fs::write(dir.path().join(format!("ckpt/d{i}/x")), b"1").unwrap();
        }
        let run = RunDir::open(dir.path()).unwrap();
        let trashed = run.move_to_trash("ckpt").unwrap();
        run.remove_trashed(&trashed).unwrap();
        assert!(!run.trashed_path(&trashed).exists());
    }

    #[test]
    fn trash_siblings_left_by_a_full_disk_are_emptied_with_the_trash() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".ckptd-trash-ckpt.1.2.3/sub")).unwrap();
        std::fs::write(dir.path().join(".ckptd-trash-ckpt.1.2.3/sub/x"), b"1").unwrap();
        std::fs::write(dir.path().join("checkpoint-5"), b"1").unwrap();
        // A user's own names in ckptd's namespace that ckptd never made: left alone.
        std::fs::create_dir(dir.path().join(".ckptd-trash-notes")).unwrap();
        std::fs::write(dir.path().join(".ckptd-trash-notes/important.txt"), b"1").unwrap();
        std::fs::write(dir.path().join(".ckptd-trash-x.1.2"), b"1").unwrap();
        let run = RunDir::open(dir.path()).unwrap();
        let removed = run.empty_trash().unwrap();
        assert_eq!(removed, [dir.path().join(".ckptd-trash-ckpt.1.2.3")]);
        assert!(run.empty_trash().unwrap().is_empty());
        assert!(dir.path().join("checkpoint-5").exists());
        assert!(dir.path().join(".ckptd-trash-notes/important.txt").exists());
        assert!(dir.path().join(".ckptd-trash-x.1.2").exists());
    }

    #[test]
    fn names_that_are_not_utf8_inside_a_checkpoint_are_removed_too() {
        use std::os::unix::ffi::OsStrExt;
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("step1")).unwrap();
        let odd = std::ffi::OsStr::from_bytes(b"caf\xe9.bin");
        std::fs::write(dir.path().join("step1").join(odd), b"1").unwrap();
        let run = RunDir::open(dir.path()).unwrap();
        let trashed = run.move_to_trash("step1").unwrap();
        run.remove_trashed(&trashed).unwrap();
        run.tidy_trash();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn sibling_names_are_recognised_exactly() {
        let made = format!("{TRASH_SIBLING_PREFIX}{}", unique_name("checkpoint-5"));
        assert!(is_trash_sibling(&made), "{made}");
        for other in [
            ".ckptd-trash-notes",
            ".ckptd-trash-.1.2.3",
            ".ckptd-trash-a.1.2.x",
            ".ckptd-trash",
        ] {
            assert!(!is_trash_sibling(other), "{other}");
        }
    }

    #[test]
    fn a_filesystem_without_rename_noreplace_gets_a_plain_rename_that_still_replaces_nothing() {
        // What the NFS client answers to any rename flag.
        let refused = || Err(rustix::io::Errno::INVAL);
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ckpt"), b"1").unwrap();
        std::fs::write(dir.path().join("taken"), b"2").unwrap();
        let run = RunDir::open(dir.path()).unwrap();
        let fd = run.fd.as_fd();
        let plain = |to: &'static str| move || rename_if_absent(fd, "ckpt", fd, to);
        let err = with_plain_fallback(refused, plain("taken")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(dir.path().join("taken")).unwrap(), b"2");
        with_plain_fallback(refused, plain("free")).unwrap();
        assert_eq!(std::fs::read(dir.path().join("free")).unwrap(), b"1");
        // Any other error is not a reason to fall back.
        let busy = || Err(rustix::io::Errno::BUSY);
        assert!(with_plain_fallback(busy, || panic!("no fallback")).is_err());
    }
}
