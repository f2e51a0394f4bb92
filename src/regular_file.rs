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
    let mut bytes = Vec::new();
    open(path)?.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// The whole file at `path` as UTF-8, if it is a regular file.
pub fn read_to_string(path: &Path) -> io::Result<String> {
    let mut text = String::new();
    open(path)?.read_to_string(&mut text)?;
    Ok(text)
}

pub(crate) fn refuse_unless_regular(kind: std::fs::FileType) -> io::Result<()> {
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
}
