//! Text log lines that cannot lie: a checkpoint may be named with a newline (patterns match
//! any name), and printed raw it would forge a whole log line of its own; a control character
//! could rewrite the terminal. Each event is written as one line with every control character
//! inside it escaped (`\n`, `\r`, `\u{1b}` …), and cut at `MAX_LINE` bytes, so one noisy event
//! cannot flood the journal.

use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};

/// Log lines that could not be written (stderr closed: `ckptd run 2>&1 | head`): lost, since
/// ckptd must go on, but counted (the systemd status line and `ckptd stopped` say how many).
static DROPPED: AtomicU64 = AtomicU64::new(0);

/// How many log lines could not be written so far.
pub fn dropped_lines() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}

/// Writes one whole line to `out`, counting it as dropped when that fails.
fn write_line(out: &mut impl Write, line: &[u8]) {
    if out.write_all(line).is_err() {
        DROPPED.fetch_add(1, Ordering::Relaxed);
    }
}

/// The longest line written, in bytes (the newline not counted).
pub const MAX_LINE: usize = 2048;

/// One formatted event made safe to print: controls escaped (a tab and, when the output is a
/// terminal with colours, complete colour sequences `ESC [ digits;… m`, are kept), at most
/// `MAX_LINE` bytes, ending in exactly one newline.
pub fn sanitize(event: &str, keep_ansi: bool) -> String {
    let body = event.strip_suffix('\n').unwrap_or(event);
    let mut out = String::with_capacity(body.len().min(MAX_LINE) + 1);
    let mut cut = 0;
    for (i, c) in body.char_indices() {
        let kept =
            c == '\t' || (c == '\u{1b}' && keep_ansi && is_colour(&body[i..])) || !c.is_control();
        let escaped = (!kept).then(|| c.escape_default().to_string());
        let width = escaped.as_ref().map_or(c.len_utf8(), String::len);
        if out.len() + width > MAX_LINE {
            cut = body.len() - i;
            break;
        }
        match escaped {
            Some(e) => out.push_str(&e),
            None => out.push(c),
        }
    }
    if cut > 0 {
        use std::fmt::Write as _;
        let _ = write!(out, " … [{cut} bytes cut]");
        if keep_ansi {
            // A colour the cut left switched on is switched off.
            out.push_str("\u{1b}[0m");
        }
    }
    out.push('\n');
    out
}

/// Whether `text` starts with a complete colour sequence, `ESC [ digits;… m`: what the
/// formatter writes, and nothing a name could use to move the cursor or clear the screen.
fn is_colour(text: &str) -> bool {
    let Some(rest) = text.strip_prefix("\u{1b}[") else {
        return false;
    };
    let params = rest
        .bytes()
        .take_while(|b| b.is_ascii_digit() || *b == b';')
        .count();
    rest.as_bytes().get(params) == Some(&b'm')
}

/// Standard error, one sanitized line per event. The text formatter hands each event over in
/// one `write` (it formats into a buffer first), so each call is one event.
pub struct SafeStderr {
    pub keep_ansi: bool,
}

impl Write for SafeStderr {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let line = sanitize(&String::from_utf8_lossy(buf), self.keep_ansi);
        // A closed stderr (`ckptd run 2>&1 | head`) must not stop ckptd: the event is lost.
        write_line(&mut io::stderr().lock(), line.as_bytes());
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        let _ = io::stderr().flush();
        Ok(())
    }
}

/// Standard error as it is, for JSON lines (JSON escapes controls itself), counting what
/// cannot be written like [`SafeStderr`].
pub struct CountingStderr;

impl Write for CountingStderr {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        write_line(&mut io::stderr().lock(), buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        let _ = io::stderr().flush();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_that_cannot_be_written_is_counted_not_fatal() {
        struct Closed;
        impl Write for Closed {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::ErrorKind::BrokenPipe.into())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let before = dropped_lines();
        write_line(&mut Closed, b"INFO x\n");
        write_line(&mut Closed, b"INFO y\n");
        assert!(dropped_lines() >= before + 2);
    }

    #[test]
    fn a_newline_in_a_name_cannot_forge_a_line() {
        let forged = "INFO checkpoint deleted: ckpt-1\n2026-01-01T00:00:00Z INFO checkpoint deleted: ckpt-9.pt (1 B): forged\n";
        let line = sanitize(forged, false);
        assert_eq!(line.matches('\n').count(), 1);
        assert!(line.ends_with('\n'));
        assert!(line.contains("ckpt-1\\n2026-01-01"), "{line}");
    }

    #[test]
    fn control_characters_are_escaped_and_colours_kept_only_on_a_terminal() {
        assert_eq!(
            sanitize("a\u{1b}[31mb\r\u{7}c\td\n", false),
            "a\\u{1b}[31mb\\r\\u{7}c\td\n"
        );
        assert_eq!(sanitize("a\u{1b}[31mb\n", true), "a\u{1b}[31mb\n");
        // On a terminal, only colours pass: not a screen clear, not an OSC clipboard write.
        assert_eq!(sanitize("a\u{1b}[2Jb\n", true), "a\\u{1b}[2Jb\n");
        assert_eq!(
            sanitize("\u{1b}]52;c;eA==\u{1b}\\\n", true),
            "\\u{1b}]52;c;eA==\\u{1b}\\\n"
        );
    }

    #[test]
    fn a_long_line_is_cut_with_what_was_cut_said() {
        let long = format!("WARN {}\n", "é".repeat(3000));
        let line = sanitize(&long, false);
        assert!(line.len() <= MAX_LINE + 40, "{}", line.len());
        assert!(line.ends_with(" bytes cut]\n"), "{line}");
        let cut: usize = line
            .rsplit('[')
            .next()
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let kept = line.len() - line.rsplit(" … [").next().unwrap().len() - " … [".len();
        assert_eq!(kept + cut, long.len() - 1, "every byte is kept or counted");
    }
}
