//! Entry points for the fuzz harnesses in `fuzz/` (not part of ckptd's API): thin wrappers
//! over readers that are private to their modules, so the harnesses call the very code the
//! daemon runs without those modules' internals being made public.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use crate::config::{ConfigErrors, Watch};
use crate::metrics::run_log::{FileRecords, Interest, RunLog};

/// The CSV metric log reader (`metric_source.kind = "csv"`) on one file's bytes.
pub fn csv_log(
    text: &[u8],
    step_key: &str,
    metric: Option<&str>,
    interest: &Interest,
) -> FileRecords {
    crate::metrics::csv_log::parse(text, step_key, metric, interest)
}

/// The JSON-lines metric log reader (`metric_source.kind = "jsonl"`) on one file's bytes, and
/// the 1-based numbers of the complete lines it could not parse.
pub fn jsonl_log(
    bytes: &[u8],
    step_key: &str,
    metric: Option<&str>,
    interest: &Interest,
) -> Result<(RunLog, Vec<usize>), String> {
    // What `jsonl_log::read` does before parsing: a file that is not UTF-8 gives no records.
    let text = std::str::from_utf8(bytes).map_err(|e| e.to_string())?;
    Ok(crate::metrics::jsonl_log::parse(
        text, step_key, metric, interest,
    ))
}

/// A run's `.ckptd.toml` overrides in `text` applied to `watch`, as if read from `file`.
pub fn run_overrides(text: &str, file: &Path, watch: &Watch) -> Result<Watch, ConfigErrors> {
    crate::config::overrides::parse(text, file, watch)
}

/// An anonymous file in memory holding `bytes`, for readers that take a `File`: no disk, and
/// nothing left behind when a harness crashes.
pub fn memory_file(bytes: &[u8]) -> std::io::Result<File> {
    let fd = rustix::fs::memfd_create("ckptd-fuzz", rustix::fs::MemfdFlags::CLOEXEC)?;
    let mut file = File::from(fd);
    file.write_all(bytes)?;
    Ok(file)
}
