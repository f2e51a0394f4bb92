//! Pins: an empty file `<run>/.ckptd-pins/<checkpoint name>` protects that checkpoint.
//!
//! Nothing is written inside or beside the checkpoint, so its fingerprint does not change and
//! no framework glob sees the pin. `ckptd pin PATH` / `ckptd unpin PATH` manage the files; a
//! user may also `touch` one by hand.

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

/// Splits a checkpoint path into its run directory and its name.
fn split(checkpoint: &Path) -> io::Result<(PathBuf, String)> {
    let absolute = std::path::absolute(checkpoint)?;
    let name = absolute
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a checkpoint path"))?
        .to_owned();
    let run = absolute.parent().unwrap_or(Path::new("/")).to_owned();
    Ok((run, name))
}

/// Pins the checkpoint at `checkpoint`; returns the pin file's path.
pub fn pin(checkpoint: &Path) -> io::Result<PathBuf> {
    std::fs::symlink_metadata(checkpoint)?;
    let (run, name) = split(checkpoint)?;
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

/// Unpins the checkpoint at `checkpoint`; `Ok(false)` when it was not pinned.
pub fn unpin(checkpoint: &Path) -> io::Result<bool> {
    let (run, name) = split(checkpoint)?;
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
        let ckpt = dir.path().join("checkpoint-5");
        std::fs::create_dir(&ckpt).unwrap();
        let pin_file = pin(&ckpt).unwrap();
        assert_eq!(pin_file, dir.path().join(".ckptd-pins/checkpoint-5"));
        assert!(is_pinned(dir.path(), "checkpoint-5"));
        assert_eq!(
            pinned_names(dir.path()),
            HashSet::from(["checkpoint-5".to_owned()])
        );
        assert!(unpin(&ckpt).unwrap());
        assert!(!unpin(&ckpt).unwrap());
        assert!(!is_pinned(dir.path(), "checkpoint-5"));
    }

    #[test]
    fn pinning_a_missing_path_fails() {
        let dir = tempfile::tempdir().unwrap();
        assert!(pin(&dir.path().join("nope")).is_err());
    }
}
