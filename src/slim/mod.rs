//! Slimming (DESIGN "Slimming"): a complete checkpoint older than the `slim_after` newest
//! complete ones loses its training state and keeps its weights and metadata.
//!
//! `files` says which entries of a checkpoint are training state, per layout; `record` reads
//! and writes `<run>/.ckptd-slim/<name>`, what ckptd removed. This module gives the scanner
//! its view of one checkpoint ([`observe`]); the planner decides (`plan::slim`) and the
//! executor removes (`execute::slim`).

pub mod files;
pub mod record;

use std::path::Path;

pub use files::{training_state, Entry, SlimFiles};
pub use record::{Record, Status, SLIM_DIR};

use crate::checkpoint::{Fingerprint, Kind, Slim};

/// What slimming could do to the checkpoint `name` of `run`, or did.
///
/// A record that matches the checkpoint's fingerprint makes it `Slimmed` (dated by the
/// completion time it had before); a record left in "slimming" makes it `Slimmed` and
/// `interrupted` (it does not claim to be whole). A record whose fingerprint no longer matches
/// means the name was written again: the checkpoint is looked at afresh, like a new write.
pub fn observe(
    run: &Path,
    name: &str,
    kind: Kind,
    fingerprint: Option<Fingerprint>,
    set: &SlimFiles,
) -> Slim {
    if kind != Kind::Dir {
        return Slim::Nothing;
    }
    if let Some(record) = record::read(run, name) {
        let interrupted = record.status == Status::Slimming;
        if interrupted || record.matches(fingerprint) {
            return Slim::Slimmed {
                completed_at: record.completed_at(),
                interrupted,
            };
        }
    }
    match training_state(&run.join(name), set) {
        Ok(entries) if !entries.is_empty() => Slim::Whole {
            bytes: entries.iter().map(|e| e.bytes).sum(),
            files: entries.iter().map(|e| e.files).sum(),
        },
        // Unreadable: the fingerprint says so too, and the checkpoint is incomplete.
        Ok(_) | Err(_) => Slim::Nothing,
    }
}
