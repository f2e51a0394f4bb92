//! The stat fingerprint of a checkpoint: file count, total bytes, newest mtime, over the whole
//! unit. Symlinks inside are counted, never followed.

use std::path::Path;
use std::time::SystemTime;

use walkdir::WalkDir;

use crate::checkpoint::{Fingerprint, Kind};

/// Reads the fingerprint of `unit`; an error names the path that could not be read.
pub fn fingerprint(unit: &Path, kind: Kind) -> Result<Fingerprint, String> {
    let unreadable =
        |path: &Path, e: &dyn std::fmt::Display| format!("cannot read {}: {e}", path.display());
    if kind == Kind::File {
        let meta = std::fs::symlink_metadata(unit).map_err(|e| unreadable(unit, &e))?;
        return Ok(Fingerprint {
            files: 1,
            bytes: meta.len(),
            newest_mtime: meta.modified().map_err(|e| unreadable(unit, &e))?,
        });
    }
    let mut files = 0;
    let mut bytes = 0;
    let mut newest = SystemTime::UNIX_EPOCH;
    for entry in WalkDir::new(unit).follow_links(false) {
        let entry = entry.map_err(|e| {
            let path = e.path().unwrap_or(unit).to_owned();
            unreadable(&path, &e)
        })?;
        let meta = entry.metadata().map_err(|e| unreadable(entry.path(), &e))?;
        newest = newest.max(meta.modified().map_err(|e| unreadable(entry.path(), &e))?);
        if !meta.is_dir() {
            files += 1;
            bytes += meta.len();
        }
    }
    Ok(Fingerprint {
        files,
        bytes,
        newest_mtime: newest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

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
        let newer = t + Duration::from_secs(60);
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
    fn a_missing_unit_is_an_error_naming_the_path() {
        let err = fingerprint(Path::new("/nonexistent/ckpt"), Kind::Dir).unwrap_err();
        assert!(err.contains("/nonexistent/ckpt"), "{err}");
    }
}
