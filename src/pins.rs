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

/// Names pinned in `run`; an unreadable or missing pins directory pins nothing.
pub fn pinned_names(run: &Path) -> HashSet<String> {
    let Ok(entries) = std::fs::read_dir(run.join(PINS_DIR)) else {
        return HashSet::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .collect()
}

pub fn is_pinned(run: &Path, name: &str) -> bool {
    std::fs::symlink_metadata(run.join(PINS_DIR).join(name)).is_ok()
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
        assert!(is_pinned(dir.path(), "checkpoint-5"));
        assert_eq!(
            pinned_names(dir.path()),
            HashSet::from(["checkpoint-5".to_owned()])
        );
        assert!(unpin_name(dir.path(), "checkpoint-5").unwrap());
        assert!(!unpin_name(dir.path(), "checkpoint-5").unwrap());
        assert!(!is_pinned(dir.path(), "checkpoint-5"));
    }
}
