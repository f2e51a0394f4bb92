//! Fuzzes the TensorBoard event-file reader (`metrics::tensorboard`): the TFRecord framing
//! (`records::scan`), the event decoding a metric lookup uses, records over the size limit
//! (skipped, their step read from a prefix) and the steps kept for metrics by name.
//!
//! Input: byte 0 holds flags (bit 0: the rest is record data to frame with valid checksums,
//! split on [`DELIM`], so mutations reach the protobuf decoding rather than failing the CRC;
//! otherwise the bytes are the file as is; bits 1-2: the record limit; bits 3-4: the steps of
//! interest), byte 1 where to cut the file for an incremental read, byte 2 the tag's length,
//! then the tag, then the body. The file lives in memory (memfd).
//!
//! Asserts: no panic; reading the file whole and reading it in two appends (as the daemon does
//! while a trainer writes) give the same scalars, unread records and steps; every scalar's step
//! is at most `max_step`; what is kept for metrics by name stays bounded (the steps of interest
//! plus the 32 ahead, at most 64 names each) whatever the input.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;

use ckptd::fuzzing::memory_file;
use ckptd::metrics::run_log::Interest;
use ckptd::metrics::tensorboard::records;
use ckptd::metrics::tensorboard::FileState;
use ckptd::metrics::DEFAULT_MAX_METRIC_BYTES;

/// Inputs past this are ignored: event records are small, and a bound keeps every run fast.
const MAX_INPUT: usize = 256 << 10;
/// Separates records in framed mode (bytes a protobuf event rarely holds).
const DELIM: &[u8] = b"\x00\xffREC\xff\x00";
/// Checkpoint steps of the interest modes (and `metric_window` 50).
const STEPS: [u64; 3] = [10, 100, 1000];

fn main() {
    afl::fuzz!(|data: &[u8]| one(data));
}

fn one(data: &[u8]) {
    if data.len() < 3 || data.len() > MAX_INPUT {
        return;
    }
    let (flags, cut, tag_len) = (data[0], data[1], usize::from(data[2] % 32));
    let rest = &data[3..];
    let tag_len = tag_len.min(rest.len());
    let tag = String::from_utf8_lossy(&rest[..tag_len]).into_owned();
    let body = &rest[tag_len..];
    let bytes = if flags & 1 == 1 {
        frame(body)
    } else {
        body.to_vec()
    };
    let max_record = match (flags >> 1) & 3 {
        0 => DEFAULT_MAX_METRIC_BYTES,
        1 => 64,
        2 => 20,
        _ => 0,
    };
    let interest = match (flags >> 3) & 3 {
        0 => Interest::default(),
        1 => Interest::new(Vec::new(), 0),
        2 => Interest::new(STEPS.to_vec(), 50),
        _ => Interest::new(STEPS.to_vec(), 50).behind(),
    };
    let whole = read(&[&bytes], &tag, max_record, &interest);
    let at = bytes.len() * usize::from(cut) / 255;
    let appended = read(&[&bytes[..at], &bytes[at..]], &tag, max_record, &interest);
    assert_eq!(
        whole, appended,
        "whole read vs read in two appends (cut at {at})"
    );
}

/// Frames each `DELIM`-separated part as one record, as a writer would.
fn frame(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = body;
    loop {
        match memchr::memmem::find(rest, DELIM) {
            Some(i) => {
                records::encode(&rest[..i], &mut out);
                rest = &rest[i + DELIM.len()..];
            }
            None => {
                records::encode(rest, &mut out);
                return out;
            }
        }
    }
}

/// Reads the file as it grows by `parts`, after each append, and sums up what was read.
fn read(parts: &[&[u8]], tag: &str, max_record: u64, interest: &Interest) -> String {
    let mut file = memory_file(&[]).expect("memfd");
    let mut state = FileState::default();
    for part in parts {
        // `update` moves the shared offset: append at the end.
        file.seek(SeekFrom::End(0)).expect("seek");
        file.write_all(part).expect("write");
        let handle: File = file.try_clone().expect("dup");
        state
            .update(
                handle,
                Path::new("fuzz.tfevents"),
                tag,
                max_record,
                interest,
            )
            .expect("a file in memory is always readable");
    }
    check(&state, interest);
    summary(&state)
}

fn check(state: &FileState, interest: &Interest) {
    for s in &state.scalars {
        assert!(
            Some(s.step) <= state.max_step,
            "scalar past max_step: {s:?}"
        );
    }
    let kept_steps = if interest.is_empty() {
        0
    } else {
        STEPS.len() + 33
    };
    assert!(
        state.others.len() <= kept_steps,
        "{} steps kept for metrics by name",
        state.others.len()
    );
    for (step, (_, metrics)) in &state.others {
        assert!(
            metrics.len() <= 64,
            "{} metrics at step {step}",
            metrics.len()
        );
    }
}

/// What the reader gave, NaN-safe and comparable (`Debug` prints NaN as `NaN`).
fn summary(state: &FileState) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}",
        state.scalars,
        state.unread,
        state.unread_anywhere,
        state.not_events,
        state.max_step,
        state.others
    );
    out
}
