//! What became of each deletion the executor tried: done, or an [`ActionError`] whose kind
//! decides whether it was skipped (the checkpoint is gone or changed: nothing is wrong, the
//! next pass decides again) or failed (an I/O error: an ERROR, and exit 1 for `prune`).

use std::fmt;
use std::io;
use std::path::PathBuf;

/// A checkpoint that was deleted (or, in a dry run, would be).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deleted {
    pub name: String,
    pub bytes: u64,
    /// Why no rule kept it.
    pub detail: String,
}

/// A deletion that was not made.
#[derive(Debug)]
pub struct ActionError {
    /// The checkpoint it was for.
    pub checkpoint: String,
    /// The path the error is about (the checkpoint, a file in it, the run, its pins).
    pub path: PathBuf,
    pub kind: ActionErrorKind,
}

#[derive(Debug)]
pub enum ActionErrorKind {
    /// It was already gone: someone else removed it.
    Gone,
    /// It is no longer what was planned (re-saved, pinned, pointed at, replaced by a symlink):
    /// kept, and planned again next pass.
    Changed(String),
    /// Reading or removing it failed: permission denied, read-only filesystem, immutable file.
    Io(io::Error),
    /// The watch's `before_delete` hook said no (or did not answer in time): kept, asked
    /// again at the run's next try.
    Vetoed(String),
}

impl ActionError {
    pub fn new(checkpoint: &str, path: PathBuf, kind: ActionErrorKind) -> Self {
        Self {
            checkpoint: checkpoint.to_owned(),
            path,
            kind,
        }
    }

    /// An I/O error about `path`, except that a missing path means something changed (or,
    /// for the checkpoint itself, that it is gone).
    pub fn from_io(checkpoint: &str, path: PathBuf, error: io::Error, is_root: bool) -> Self {
        let kind = match error.kind() {
            io::ErrorKind::NotFound if is_root => ActionErrorKind::Gone,
            io::ErrorKind::NotFound => {
                ActionErrorKind::Changed(format!("{} vanished since planning", path.display()))
            }
            _ => ActionErrorKind::Io(error),
        };
        Self::new(checkpoint, path, kind)
    }

    /// A failure (ERROR, exit 1), as opposed to a skip (WARN: the disk changed under us).
    pub fn is_failure(&self) -> bool {
        matches!(self.kind, ActionErrorKind::Io(_))
    }
}

impl fmt::Display for ActionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ActionErrorKind::Gone => f.write_str("already gone"),
            ActionErrorKind::Changed(why) => f.write_str(why),
            ActionErrorKind::Vetoed(why) => write!(f, "vetoed by before_delete: {why}"),
            ActionErrorKind::Io(e) => {
                write!(f, "{}: {e}{}", self.path.display(), crate::io_hint::hint(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kind_decides_skip_or_failure_and_the_text_names_the_path() {
        let path = PathBuf::from("/r/ckpt-1.pt");
        let gone = ActionError::from_io(
            "ckpt-1.pt",
            path.clone(),
            io::ErrorKind::NotFound.into(),
            true,
        );
        assert!(matches!(gone.kind, ActionErrorKind::Gone));
        assert!(!gone.is_failure());
        let inner = PathBuf::from("/r/ckpt-1/a.bin");
        let vanished = ActionError::from_io("ckpt-1", inner, io::ErrorKind::NotFound.into(), false);
        assert!(!vanished.is_failure());
        assert_eq!(
            vanished.to_string(),
            "/r/ckpt-1/a.bin vanished since planning"
        );
        let denied =
            ActionError::from_io("ckpt-1.pt", path, io::Error::from_raw_os_error(13), true);
        assert!(denied.is_failure());
        assert!(
            denied
                .to_string()
                .starts_with("/r/ckpt-1.pt: Permission denied"),
            "{denied}"
        );
    }
}
