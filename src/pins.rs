//! Pins: an empty file `<run>/.ckptd-pins/<checkpoint name>` protects that checkpoint.
//!
//! Nothing is written inside or beside the checkpoint, so its fingerprint does not change and
//! no framework glob sees the pin. `ckptd pin PATH` / `ckptd unpin PATH` (see `cli::pin`,
//! which checks PATH first) manage the files; a user may also `touch` one by hand.

use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};

/// The directory of a run's pins.
pub const PINS_DIR: &str = ".ckptd-pins";

/// Names pinned in `run`; a missing pins directory pins nothing. One that cannot be read is
/// an error, never "no pins": its pins would otherwise protect nothing.
pub fn pinned_names(run: &Path) -> io::Result<HashSet<String>> {
    let dir = run.join(PINS_DIR);
    let unreadable =
        |e: io::Error| io::Error::new(e.kind(), format!("cannot read {}: {e}", dir.display()));
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(HashSet::new()),
        Err(e) => return Err(unreadable(e)),
    };
    let mut names = HashSet::new();
    for entry in entries {
        // A pin whose name is not UTF-8 names no checkpoint (checkpoint names are UTF-8).
        if let Ok(name) = entry.map_err(unreadable)?.file_name().into_string() {
            names.insert(name);
        }
    }
    Ok(names)
}

/// Whether `name` is pinned in `run`; when that cannot be told (the pins directory cannot be
/// read), an error: the caller keeps the checkpoint.
pub fn is_pinned(run: &Path, name: &str) -> io::Result<bool> {
    match std::fs::symlink_metadata(run.join(PINS_DIR).join(name)) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Pins the checkpoint `name` of `run`; returns the pin file's path.
pub fn pin_name(run: &Path, name: &str) -> io::Result<PathBuf> {
    let dir = run.join(PINS_DIR);
    std::fs::create_dir_all(&dir)?;
    let pin = dir.join(name);
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&pin)?;
    Ok(pin)
}

/// Unpins the checkpoint `name` of `run`; `Ok(false)` when it was not pinned.
pub fn unpin_name(run: &Path, name: &str) -> io::Result<bool> {
    match std::fs::remove_file(run.join(PINS_DIR).join(name)) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pin_and_unpin_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let pin_file = pin_name(dir.path(), "checkpoint-5").unwrap();
        assert_eq!(pin_file, dir.path().join(".ckptd-pins/checkpoint-5"));
        assert!(is_pinned(dir.path(), "checkpoint-5").unwrap());
        assert_eq!(
            pinned_names(dir.path()).unwrap(),
            HashSet::from(["checkpoint-5".to_owned()])
        );
        assert!(unpin_name(dir.path(), "checkpoint-5").unwrap());
        assert!(!unpin_name(dir.path(), "checkpoint-5").unwrap());
        assert!(!is_pinned(dir.path(), "checkpoint-5").unwrap());
    }

    #[test]
    fn pins_that_cannot_be_read_are_an_error_not_no_pins() {
        // Root reads any directory; a pins "directory" that is a file fails the same way an
        // unreadable one does for an unprivileged daemon.
        let dir = tempfile::tempdir().unwrap();
        assert!(pinned_names(dir.path()).unwrap().is_empty());
        assert!(!is_pinned(dir.path(), "checkpoint-5").unwrap());
        std::fs::write(dir.path().join(PINS_DIR), b"").unwrap();
        let e = pinned_names(dir.path()).unwrap_err();
        assert!(e.to_string().contains(".ckptd-pins"), "{e}");
        assert!(is_pinned(dir.path(), "checkpoint-5").is_err());
    }
}
