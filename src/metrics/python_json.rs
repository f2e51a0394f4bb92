//! JSON as Python writes it, made strict on the fly for a streaming parser: `json.dump` emits
//! bare `NaN`, `Infinity` and `-Infinity` (a NaN `grad_norm` is common in a long
//! `trainer_state.json`), which `serde_json` refuses. This reader passes the bytes through and
//! replaces each of those tokens outside strings with a string sentinel that
//! [`number_of_sentinel`] reads back as the number, so a document of any size is parsed without
//! holding it in memory. It also refuses a string longer than [`MAX_STRING`]: `serde_json`
//! gathers each string it hands over in one buffer, and no field ckptd reads is that long.

use std::io::{self, BufRead, Read};

/// The longest string (key or value) accepted; longer is an error.
pub const MAX_STRING: usize = 1 << 20;

const NAN: &[u8] = b"\"\\u0000NaN\"";
const INFINITY: &[u8] = b"\"\\u0000Infinity\"";
const NEG_INFINITY: &[u8] = b"\"\\u0000-Infinity\"";
/// A token is collected from `N`, `I` or `-` while letters follow; no token ckptd replaces is
/// longer than `-Infinity`.
const LONGEST_TOKEN: usize = 9;

/// The number a sentinel string stands for.
pub fn number_of_sentinel(text: &str) -> Option<f64> {
    match text {
        "\0NaN" => Some(f64::NAN),
        "\0Infinity" => Some(f64::INFINITY),
        "\0-Infinity" => Some(f64::NEG_INFINITY),
        _ => None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Outside,
    InString { escaped: bool },
}

/// Wraps a buffered reader of Python-written JSON; reads give strict JSON.
pub struct PythonJson<R> {
    inner: R,
    filter: Filter,
}

/// The filter's state, apart from the reader so both can be borrowed at once.
#[derive(Debug)]
struct Filter {
    state: State,
    string_len: usize,
    /// A token being collected (`NaN`, `-Infinity`, or a `-` that starts a number).
    token: Vec<u8>,
    /// Bytes due out before anything else (a replaced token).
    pending: Vec<u8>,
    pending_at: usize,
}

impl<R: BufRead> PythonJson<R> {
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            filter: Filter {
                state: State::Outside,
                string_len: 0,
                token: Vec::new(),
                pending: Vec::new(),
                pending_at: 0,
            },
        }
    }
}

impl Filter {
    /// Ends the token being collected: its replacement, or its bytes unchanged (anything else
    /// is for the parser to accept or refuse).
    fn finish_token(&mut self) {
        let replacement = match self.token.as_slice() {
            b"NaN" => NAN,
            b"Infinity" => INFINITY,
            b"-Infinity" => NEG_INFINITY,
            _ => &[],
        };
        self.pending.clear();
        self.pending_at = 0;
        if replacement.is_empty() {
            self.pending.append(&mut self.token);
        } else {
            self.pending.extend_from_slice(replacement);
            self.token.clear();
        }
    }

    /// Moves bytes from `input` to `out` until either runs out or a token ends; returns
    /// (bytes consumed, bytes written).
    fn transform(&mut self, input: &[u8], out: &mut [u8]) -> io::Result<(usize, usize)> {
        let (mut read, mut written) = (0, 0);
        while read < input.len() && written < out.len() {
            let b = input[read];
            match self.state {
                State::InString { escaped } => {
                    // Copy up to the next quote or backslash in one go.
                    let span = if escaped {
                        1
                    } else {
                        memchr::memchr2(b'"', b'\\', &input[read..])
                            .unwrap_or(input.len() - read)
                            .max(1)
                    };
                    let span = span.min(out.len() - written);
                    self.string_len += span;
                    if self.string_len > MAX_STRING {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!("a JSON string longer than {MAX_STRING} bytes"),
                        ));
                    }
                    out[written..written + span].copy_from_slice(&input[read..read + span]);
                    let last = input[read + span - 1];
                    self.state = if escaped {
                        State::InString { escaped: false }
                    } else if span == 1 && last == b'\\' {
                        State::InString { escaped: true }
                    } else if span == 1 && last == b'"' {
                        State::Outside
                    } else {
                        State::InString { escaped: false }
                    };
                    read += span;
                    written += span;
                }
                State::Outside if !self.token.is_empty() => {
                    if b.is_ascii_alphabetic() && self.token.len() < LONGEST_TOKEN {
                        self.token.push(b);
                        read += 1;
                    } else {
                        self.finish_token();
                        return Ok((read, written));
                    }
                }
                State::Outside => {
                    // Copy up to the next byte that may start a string or a token in one go.
                    let rest = &input[read..];
                    let room = rest.len().min(out.len() - written);
                    let span = rest[..room]
                        .iter()
                        .position(|c| matches!(c, b'"' | b'N' | b'I' | b'-'))
                        .unwrap_or(room);
                    if span > 0 {
                        out[written..written + span].copy_from_slice(&rest[..span]);
                        read += span;
                        written += span;
                        continue;
                    }
                    match b {
                        // A minus before a digit (a number, an exponent) is copied as it is.
                        b'-' if rest.get(1).is_some_and(|&next| next != b'I') => {}
                        b'N' | b'I' | b'-' => {
                            self.token.push(b);
                            read += 1;
                            continue;
                        }
                        b'"' => {
                            self.state = State::InString { escaped: false };
                            // The opening quote is not counted: the span above counts from
                            // the first byte of the string, closing quote included.
                            self.string_len = 0;
                        }
                        _ => {}
                    }
                    out[written] = b;
                    read += 1;
                    written += 1;
                }
            }
        }
        Ok((read, written))
    }
}

impl<R: BufRead> Read for PythonJson<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        let filter = &mut self.filter;
        loop {
            if filter.pending_at < filter.pending.len() {
                let n = (filter.pending.len() - filter.pending_at).min(out.len());
                out[..n].copy_from_slice(&filter.pending[filter.pending_at..filter.pending_at + n]);
                filter.pending_at += n;
                return Ok(n);
            }
            let input = self.inner.fill_buf()?;
            if input.is_empty() {
                if filter.token.is_empty() {
                    return Ok(0);
                }
                filter.finish_token();
                continue;
            }
            let (read, written) = filter.transform(input, out)?;
            self.inner.consume(read);
            if written > 0 {
                return Ok(written);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The output for `input` read through a one-byte buffer too, so token and string ends
    /// that fall on buffer boundaries are covered.
    fn strict(input: &str) -> String {
        let mut whole = String::new();
        PythonJson::new(input.as_bytes())
            .read_to_string(&mut whole)
            .unwrap();
        let mut bytewise = Vec::new();
        let mut reader = PythonJson::new(io::BufReader::with_capacity(1, input.as_bytes()));
        let mut one = [0u8; 1];
        while reader.read(&mut one).unwrap() == 1 {
            bytewise.push(one[0]);
        }
        assert_eq!(whole.as_bytes(), bytewise, "{input}");
        whole
    }

    #[test]
    fn bare_python_numbers_become_sentinels_and_strings_are_untouched() {
        assert_eq!(
            strict(
                r#"{"a": NaN, "b": [Infinity, -Infinity, -1.5e-05], "NaN": "x NaN -Infinity \" NaN"}"#
            ),
            r#"{"a": "\u0000NaN", "b": ["\u0000Infinity", "\u0000-Infinity", -1.5e-05], "NaN": "x NaN -Infinity \" NaN"}"#
        );
        assert_eq!(strict(r#"["\\", NaN]"#), r#"["\\", "\u0000NaN"]"#);
        // Not Python's: passed through for the parser to refuse.
        assert_eq!(strict("[Nope, -x, NaNa]"), "[Nope, -x, NaNa]");
        assert_eq!(strict("NaN"), r#""\u0000NaN""#);
    }

    #[test]
    fn sentinels_parse_back_to_the_numbers() {
        let v: Vec<String> = serde_json::from_str(&strict("[NaN, Infinity, -Infinity]")).unwrap();
        assert!(number_of_sentinel(&v[0]).unwrap().is_nan());
        assert_eq!(number_of_sentinel(&v[1]), Some(f64::INFINITY));
        assert_eq!(number_of_sentinel(&v[2]), Some(f64::NEG_INFINITY));
        assert_eq!(number_of_sentinel("NaN"), None);
    }

    #[test]
    fn a_string_longer_than_the_limit_is_an_error() {
        let long = format!("[\"{}\"]", "x".repeat(MAX_STRING + 1));
        let mut out = Vec::new();
        let err = PythonJson::new(long.as_bytes())
            .read_to_end(&mut out)
            .unwrap_err();
        assert!(err.to_string().contains("longer than"), "{err}");
        let fits = format!("[\"{}\"]", "x".repeat(MAX_STRING - 1));
        assert_eq!(strict(&fits), fits);
    }
}
