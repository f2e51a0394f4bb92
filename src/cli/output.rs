//! What the commands print, without ever panicking: `println!` panics when the reader has gone
//! (`ckptd plan | head -1` exited 101). A closed pipe ends that stream quietly; the command
//! finishes what it was doing (a `prune` its deletions) and exits with its own code. Any other
//! write error (a full disk behind `> plan.json`) is not quiet: the command exits 1 with it,
//! so a script never takes a truncated file for success.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);
static STDERR_CLOSED: AtomicBool = AtomicBool::new(false);
/// The first write error that was not a closed pipe.
static FAILED: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

/// The write error that must turn the exit code into a failure, if one happened.
pub fn failure() -> Option<String> {
    FAILED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone()
}

/// `print!`, for the command line.
macro_rules! out {
    ($($arg:tt)*) => { $crate::cli::output::stdout(&format!($($arg)*)) };
}

/// `println!`, for the command line.
macro_rules! outln {
    () => { $crate::cli::output::stdout("\n") };
    ($($arg:tt)*) => { $crate::cli::output::stdout(&format!("{}\n", format!($($arg)*))) };
}

/// `eprintln!`, for the command line.
macro_rules! errln {
    ($($arg:tt)*) => { $crate::cli::output::stderr(&format!("{}\n", format!($($arg)*))) };
}

pub fn stdout(text: &str) {
    write(&mut std::io::stdout().lock(), &STDOUT_CLOSED, text);
}

pub fn stderr(text: &str) {
    write(&mut std::io::stderr().lock(), &STDERR_CLOSED, text);
}

/// Writes `text` unless the stream was found closed; any error closes it for good (the next
/// write would fail the same way).
fn write(stream: &mut impl Write, closed: &AtomicBool, text: &str) {
    if closed.load(Ordering::Relaxed) {
        return;
    }
    if let Err(e) = stream
        .write_all(text.as_bytes())
        .and_then(|()| stream.flush())
    {
        closed.store(true, Ordering::Relaxed);
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            FAILED
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .get_or_insert(e.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that went away after `room` bytes.
    struct Pipe {
        room: usize,
        got: Vec<u8>,
    }

    impl Write for Pipe {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.got.len() + buf.len() > self.room {
                return Err(std::io::ErrorKind::BrokenPipe.into());
            }
            self.got.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_closed_reader_ends_the_output_and_nothing_panics() {
        let closed = AtomicBool::new(false);
        let mut pipe = Pipe {
            room: 6,
            got: Vec::new(),
        };
        write(&mut pipe, &closed, "line\n");
        write(&mut pipe, &closed, "second\n");
        write(&mut pipe, &closed, "x\n");
        assert_eq!(pipe.got, b"line\n");
        assert!(closed.load(Ordering::Relaxed));
    }
}
