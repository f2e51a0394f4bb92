//! Reading files that must be regular files: a FIFO (or a device) put where ckptd expects its
//! config, a run's `.ckptd.toml` or a metric log would block a plain `read` forever, and the
//! daemon with it. Such a path is refused by its `stat`, before it is opened; the open itself
//! is non-blocking and checked again, so a file swapped in between cannot block us either.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// Opens `path` for reading if it is a regular file (symlinks to one are fine).
pub fn open(path: &Path) -> io::Result<File> {
    refuse_unless_regular(std::fs::metadata(path)?.file_type())?;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(i32::try_from(rustix::fs::OFlags::NONBLOCK.bits()).unwrap_or(0))
        .open(path)?;
    refuse_unless_regular(file.metadata()?.file_type())?;
    Ok(file)
}

/// The whole file at `path`, if it is a regular file.
pub fn read(path: &Path) -> io::Result<Vec<u8>> {
    read_at_most(path, u64::MAX)
}

/// The whole file at `path` as UTF-8, if it is a regular file.
pub fn read_to_string(path: &Path) -> io::Result<String> {
    let mut text = String::new();
    open(path)?.read_to_string(&mut text)?;
    Ok(text)
}

/// The whole file at `path`, if it is a regular file of at most `limit` bytes; a larger one
/// (or one that grows past the limit while read) is an error, and nothing past the limit is
/// ever held in memory.
pub fn read_at_most(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    let file = open(path)?;
    let too_large = || {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("larger than {limit} bytes (max_metric_bytes): not read"),
        )
    };
    let size = file.metadata()?.len();
    if size > limit {
        return Err(too_large());
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(too_large());
    }
    Ok(bytes)
}

/// [`read_at_most`], as UTF-8.
pub fn read_to_string_at_most(path: &Path, limit: u64) -> io::Result<String> {
    String::from_utf8(read_at_most(path, limit)?)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

fn refuse_unless_regular(kind: std::fs::FileType) -> io::Result<()> {
    if kind.is_file() {
        return Ok(());
    }
    let what = if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_dir() {
        "a directory"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_char_device() || kind.is_block_device() {
        "a device"
    } else {
        "not a regular file"
    };
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("{what}, not a regular file"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fifo_is_refused_at_once_and_a_regular_file_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("ckptd.toml");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
        let err = read_to_string(&fifo).unwrap_err();
        assert!(
            err.to_string().contains("a FIFO, not a regular file"),
            "{err}"
        );
        let regular = dir.path().join("ok.toml");
        std::fs::write(&regular, "x = 1\n").unwrap();
        assert_eq!(read_to_string(&regular).unwrap(), "x = 1\n");
        assert!(read(dir.path())
            .unwrap_err()
            .to_string()
            .contains("a directory"));
    }

    #[test]
    fn a_file_over_the_limit_is_refused_without_being_read() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("trainer_state.json");
        std::fs::write(&big, vec![b'x'; 1000]).unwrap();
        assert_eq!(read_at_most(&big, 1000).unwrap().len(), 1000);
        let err = read_at_most(&big, 999).unwrap_err();
        assert!(err.to_string().contains("larger than 999 bytes"), "{err}");
    }
}
