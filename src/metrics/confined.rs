//! Opening a metric file without leaving its run: a `trainer_state.json` (or a log a glob
//! matched) that is a symlink, at any component, to somewhere outside the run is refused, so a
//! run's owner cannot make ckptd read another user's file, a file on a hung mount, or a huge
//! file elsewhere. Symlinks that stay inside are followed.
//!
//! The check and the open are one step, so a path swapped for a symlink between them cannot
//! redirect the open: `openat2` with `RESOLVE_BENEATH` from a handle on the root (Linux 5.6+).
//! Where `openat2` is missing (an older kernel, a seccomp filter) or refuses an absolute
//! symlink (`RESOLVE_BENEATH` refuses every one, even one pointing inside), the path is
//! resolved, checked against the resolved root, and the resolved path opened component by
//! component with `O_NOFOLLOW`: a symlink put in between makes that open fail. Either way a
//! FIFO or a device is refused by its stat before it is opened, as `regular_file` does.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

/// Why a metric file was not opened.
#[derive(Debug)]
pub enum OpenError {
    /// The path leads out of the root; `target` is where it points.
    Escapes {
        target: PathBuf,
    },
    Io(io::Error),
}

impl From<io::Error> for OpenError {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

impl From<Errno> for OpenError {
    fn from(e: Errno) -> Self {
        Self::Io(e.into())
    }
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Escapes { target } => {
                write!(f, "a symlink out of the run (to {})", target.display())
            }
            Self::Io(e) => e.fmt(f),
        }
    }
}

/// Opens `path`, a regular file lexically inside `root`, for reading, if resolving it never
/// leaves `root`.
pub fn open(root: &Path, path: &Path) -> Result<File, OpenError> {
    let relative = relative_to(root, path)?;
    match open_beneath(root, &relative) {
        Ok(file) => Ok(file),
        // An escape, or an absolute symlink (which may point inside): the slow path decides.
        Err(OpenError::Io(e)) if e.raw_os_error() == Some(Errno::XDEV.raw_os_error()) => {
            open_resolved(root, path, true)
        }
        Err(OpenError::Io(e)) if unsupported(&e) => open_resolved(root, path, false),
        Err(e) => Err(e),
    }
}

/// Where `openat2` cannot be used: ENOSYS before Linux 5.6, EPERM or ENOSYS from seccomp
/// filters that predate it, EINVAL/E2BIG from a kernel that does not know the flags.
fn unsupported(e: &io::Error) -> bool {
    [Errno::NOSYS, Errno::PERM, Errno::INVAL, Errno::TOOBIG]
        .iter()
        .any(|n| e.raw_os_error() == Some(n.raw_os_error()))
}

fn relative_to(root: &Path, path: &Path) -> Result<PathBuf, OpenError> {
    let path = crate::paths::normalize(path);
    match path.strip_prefix(crate::paths::normalize(root)) {
        Ok(relative) if relative.components().next().is_some() => Ok(relative.to_owned()),
        _ => Err(OpenError::Escapes { target: path }),
    }
}

fn open_beneath(root: &Path, relative: &Path) -> Result<File, OpenError> {
    let dir = rustix::fs::open(
        root,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let resolve = ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS;
    let at = |flags: OFlags| rustix::fs::openat2(&dir, relative, flags, Mode::empty(), resolve);
    // An O_PATH handle first: its stat refuses a FIFO or a device before anything opens it.
    let handle = at(OFlags::PATH | OFlags::CLOEXEC)?;
    let before = File::from(handle).metadata()?;
    crate::regular_file::refuse_unless_regular(before.file_type())?;
    let file = File::from(at(OFlags::RDONLY
        | OFlags::NONBLOCK
        | OFlags::NOCTTY
        | OFlags::CLOEXEC)?);
    same_regular_file(&before, file)
}

/// The slow path: resolve, check, then open what was checked without following anything.
/// `refused_beneath`: `openat2` already said the path leaves the root or uses an absolute
/// symlink, so a path that cannot be resolved is reported as an escape.
fn open_resolved(root: &Path, path: &Path, refused_beneath: bool) -> Result<File, OpenError> {
    let real_root = std::fs::canonicalize(root)?;
    let target = match std::fs::canonicalize(path) {
        Ok(target) => target,
        Err(_) if refused_beneath => {
            let target = std::fs::read_link(path).unwrap_or_else(|_| path.to_owned());
            return Err(OpenError::Escapes { target });
        }
        Err(e) => return Err(e.into()),
    };
    let Ok(relative) = target.strip_prefix(&real_root) else {
        return Err(OpenError::Escapes { target });
    };
    let mut dir: OwnedFd = rustix::fs::open(
        &real_root,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let mut components: Vec<&std::ffi::OsStr> = relative
        .components()
        .filter_map(|c| match c {
            Component::Normal(name) => Some(name),
            _ => None,
        })
        .collect();
    let Some(name) = components.pop() else {
        return Err(OpenError::Escapes { target });
    };
    for component in components {
        dir = rustix::fs::openat(
            &dir,
            component,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
    }
    let at = |flags: OFlags| {
        rustix::fs::openat(
            dir.as_fd(),
            name,
            flags | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
    };
    let before = File::from(at(OFlags::PATH)?).metadata()?;
    crate::regular_file::refuse_unless_regular(before.file_type())?;
    let file = File::from(at(OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY)?);
    same_regular_file(&before, file)
}

/// `file` if it is the regular file whose stat was `before` (not swapped in between).
fn same_regular_file(before: &std::fs::Metadata, file: File) -> Result<File, OpenError> {
    let after = file.metadata()?;
    crate::regular_file::refuse_unless_regular(after.file_type())?;
    if (after.dev(), after.ino()) != (before.dev(), before.ino()) {
        return Err(
            io::Error::new(io::ErrorKind::Interrupted, "replaced while being opened").into(),
        );
    }
    Ok(file)
}

/// The directory a run-level log glob (`path` of a `csv`, `jsonl` or `tensorboard` source)
/// may not leave: the run itself, or as far up as the pattern's own leading `..` go
/// (`"../metrics.jsonl"` lives beside the run by configuration); for an absolute pattern, its
/// directories up to the first one with a glob character.
pub fn root_of_pattern(run: &Path, pattern: &str) -> PathBuf {
    let pattern = Path::new(pattern);
    if pattern.is_absolute() {
        let mut root = PathBuf::new();
        let mut components: Vec<Component<'_>> = pattern.components().collect();
        components.pop(); // the file (or the last directory) itself
        for component in components {
            let text = component.as_os_str().to_string_lossy();
            if crate::paths::has_wildcard(&text) {
                break;
            }
            root.push(component);
        }
        return crate::paths::normalize(&root);
    }
    let mut root = run.to_owned();
    for component in pattern.components() {
        match component {
            Component::ParentDir => root.push(".."),
            Component::CurDir => {}
            _ => break,
        }
    }
    crate::paths::normalize(&root)
}

#[cfg(test)]
mod tests;
