//! Replaces node_exporter's textfile-collector file atomically: the text goes to a temp file
//! in the same directory, which is renamed over the old one, so a scrape reads the old file
//! or the new one, never half of one.

use std::fs::{OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The temp file beside `path`: hidden, and not ending in `.prom`, so the collector never
/// reads it while it is being written.
pub fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map_or_else(|| "ckptd.prom".into(), |n| n.to_string_lossy());
    path.with_file_name(format!(".{name}.tmp"))
}

/// Writes `text` at `path` through a temp file and a rename. The file is readable by all
/// (0644, whatever the umask: the unit's `UMask=0077` would otherwise hide it from
/// node_exporter, which runs as its own user). Not fsync'd: a crash loses at most a file
/// that the next pass writes again, and a scrape never sees a partial one either way.
pub fn write(path: &Path, text: &str) -> io::Result<()> {
    let tmp = temp_path(path);
    // A leftover of a crash; and `create_new` (O_EXCL) never follows a symlink put there.
    match std::fs::remove_file(&tmp) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&tmp)?;
        file.set_permissions(Permissions::from_mode(0o644))?;
        file.write_all(text.as_bytes())?;
        drop(file);
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_is_replaced_readable_by_all_and_no_temp_file_is_left() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ckptd.prom");
        write(&path, "a 1\n").unwrap();
        write(&path, "a 2\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "a 2\n");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o644);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["ckptd.prom"]);
    }

    #[test]
    fn a_symlink_in_place_of_the_temp_file_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ckptd.prom");
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "keep").unwrap();
        std::os::unix::fs::symlink(&victim, temp_path(&path)).unwrap();
        write(&path, "a 1\n").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "a 1\n");
    }

    #[test]
    fn a_missing_directory_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        assert!(write(&dir.path().join("nowhere/ckptd.prom"), "a 1\n").is_err());
    }
}
