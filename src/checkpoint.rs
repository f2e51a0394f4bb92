//! What the scanner learned about one checkpoint: the input of the pure planner.
//!
//! Everything here is plain data, gathered from disk by `scan` and read by `plan`. Nothing in
//! this module touches the filesystem or the clock, so the planner's tests can build
//! checkpoints by hand.

use std::time::SystemTime;

/// Whether a checkpoint is a single file or a directory with everything inside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
}

/// The stat summary of a whole checkpoint; a change in any field means it is still being written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint {
    pub files: u64,
    pub bytes: u64,
    /// The newest mtime of anything inside the unit: the checkpoint's completion time.
    pub newest_mtime: SystemTime,
}

/// What the layout's completion marker says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Marker {
    /// The layout has no marker for this checkpoint; settling alone decides.
    NotRequired,
    Present,
    /// The marker is missing or does not agree; the text says what is missing.
    Missing(String),
}

/// A metric as the scanner found it. Whether a missing run-level metric is still pending is a
/// time rule, so the planner decides it, not the scanner.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MetricObservation {
    /// The policy ranks nothing, so no metric was looked for.
    NotWanted,
    /// From the file name or a file inside the checkpoint: final once the checkpoint is complete.
    Final(Option<f64>),
    /// From a run-level log. `later_record_seen` is true once the log holds a record with a step
    /// greater than the checkpoint's, after which a missing value will never come.
    RunLevel {
        value: Option<f64>,
        later_record_seen: bool,
    },
}

impl MetricObservation {
    /// The value, if one was found (NaN included).
    pub fn value(self) -> Option<f64> {
        match self {
            Self::NotWanted => None,
            Self::Final(value) | Self::RunLevel { value, .. } => value,
        }
    }
}

/// Why a checkpoint is off limits to every rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Protection {
    /// `<run>/.ckptd-pins/<name>` exists.
    Pinned,
    /// A pointer names it: a symlink in the run, a `latest` file, HF `best_model_checkpoint`.
    /// The text says which pointer.
    Pointer(String),
    /// An alias of another checkpoint (NeMo `…-last`): protected, and never counted by a rule.
    Alias,
}

/// One checkpoint of a run, as scanned.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    /// The name of the direct child of the run directory.
    pub name: String,
    /// `None` when the layout's pattern has no `{step}`.
    pub step: Option<u64>,
    pub epoch: Option<u64>,
    pub kind: Kind,
    /// `None` when something inside could not be read: size and age unknown, so never complete.
    pub fingerprint: Option<Fingerprint>,
    /// Since when the fingerprint is known not to have changed. A one-shot scan can only say
    /// "since the newest mtime"; the daemon, which watches, may know a later instant.
    pub stable_since: Option<SystemTime>,
    pub marker: Marker,
    /// A local process holds a file of this checkpoint open for writing.
    pub open_for_writing: bool,
    pub metric: MetricObservation,
    pub protections: Vec<Protection>,
    /// Why the scanner already knows this one is not complete (an unreadable file, say).
    pub scan_problem: Option<String>,
}

impl Checkpoint {
    /// The completion time: the newest mtime inside the checkpoint.
    pub fn completed_at(&self) -> Option<SystemTime> {
        self.fingerprint.map(|f| f.newest_mtime)
    }

    pub fn bytes(&self) -> Option<u64> {
        self.fingerprint.map(|f| f.bytes)
    }

    pub fn is_alias(&self) -> bool {
        self.protections.contains(&Protection::Alias)
    }
}
