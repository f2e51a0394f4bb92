//! What the scanner learned about one checkpoint: the input of the pure planner.
//!
//! Everything here is plain data, gathered from disk by `scan` and read by `plan`. Nothing in
//! this module touches the filesystem or the clock, so the planner's tests can build
//! checkpoints by hand.

use std::path::PathBuf;
use std::time::SystemTime;

/// Whether a checkpoint is a single file or a directory with everything inside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
}

/// The stat summary of a whole checkpoint; a change in any field means it is being written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint {
    pub files: u64,
    pub bytes: u64,
    /// The newest mtime of anything inside the unit: the checkpoint's completion time.
    pub newest_mtime: SystemTime,
    /// The newest ctime inside the unit. A writer can set mtimes (`rsync -t`, `touch -d`) but
    /// not ctimes, so a truncate-and-rewrite that keeps size and mtime still shows here.
    pub newest_ctime: SystemTime,
    /// A digest of the inode numbers inside the unit: a file replaced by a rename shows here.
    pub inodes: u64,
}

impl Fingerprint {
    /// This fingerprint in 64 bits, for remembering it cheaply: the daemon keeps one for every
    /// checkpoint of every run. Keyed with a random key per process, so that no writer can
    /// craft a change that keeps the digest (2^-64 by chance).
    pub fn digest(&self) -> Digest {
        static KEY: std::sync::OnceLock<std::hash::RandomState> = std::sync::OnceLock::new();
        Digest(std::hash::BuildHasher::hash_one(
            KEY.get_or_init(std::hash::RandomState::new),
            self,
        ))
    }
}

/// A [`Fingerprint`]'s digest: equal digests mean an unchanged checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Digest(u64);

/// Whether a local process writes to the checkpoint, as far as this look knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writers {
    /// `/proc` was read at this look; `open` when some local process holds a file of the
    /// checkpoint open for writing.
    Checked { open: bool },
    /// `/proc` was not read at this look (the daemon skips the costly walk for checkpoints it
    /// already confirmed). Only good enough while the fingerprint is the `confirmed` one.
    NotChecked,
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

/// A metric file (or one TensorBoard record) that was not read because it is larger than
/// `max_metric_bytes`: what it holds is unknown, which is neither a value nor "no metric".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverCap {
    pub path: PathBuf,
    /// Its size (for a TensorBoard record, the record's length).
    pub bytes: u64,
    /// The `max_metric_bytes` it was measured against.
    pub cap: u64,
    /// For a TensorBoard record, where it starts in the file.
    pub offset: Option<u64>,
}

impl OverCap {
    /// "…/trainer_state.json is 40.0 MiB (41943040 bytes), over max_metric_bytes 32.0 MiB"
    pub fn describe(&self) -> String {
        let what = match self.offset {
            Some(offset) => format!("the record at offset {offset} of {}", self.path.display()),
            None => self.path.display().to_string(),
        };
        format!(
            "{what} is {} ({} bytes), over max_metric_bytes {}",
            crate::report::human_bytes(self.bytes),
            self.bytes,
            crate::report::human_bytes(self.cap)
        )
    }
}

/// A metric as the scanner found it. Whether a missing run-level metric is still pending is a
/// time rule, so the planner decides it, not the scanner.
#[derive(Debug, Clone, PartialEq)]
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
    /// The file that holds the metric (inside the checkpoint, or a run-level log, or a
    /// TensorBoard record that may hold it) is over `max_metric_bytes` and was not read. Not
    /// "no metric": HF's `trainer_state.json` only grows, so past the cap every newer checkpoint
    /// would be unranked and a better one deleted. The planner keeps such a checkpoint.
    TooLarge(OverCap),
}

impl MetricObservation {
    /// The value, if one was found (NaN included).
    pub fn value(&self) -> Option<f64> {
        match self {
            Self::NotWanted | Self::TooLarge(_) => None,
            Self::Final(value) | Self::RunLevel { value, .. } => *value,
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

/// What slimming (DESIGN "Slimming") could do to a checkpoint, as the scanner found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Slim {
    /// The run does not slim (no `slim_after`), or this checkpoint was not looked at for it.
    #[default]
    Off,
    /// Its training state is present: slimming would remove `files` files of `bytes` bytes.
    Whole { bytes: u64, files: u64 },
    /// Slimming is configured but the layout's training-state files are not there.
    Nothing,
    /// `<run>/.ckptd-slim/<name>` records that ckptd slimmed it, and it has not changed since.
    /// Removing entries moved the directory's own mtime, so the record keeps the completion
    /// time it had before: an old checkpoint must not become the newest by completion time.
    Slimmed {
        completed_at: SystemTime,
        /// The record still says "slimming": ckptd stopped half way (a crash, `kill -9`). The
        /// checkpoint does not claim to be whole; the next acting pass finishes it.
        interrupted: bool,
    },
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
    /// Whether a local process holds a file of this checkpoint open for writing.
    pub writers: Writers,
    /// The fingerprint at the last look that found this checkpoint complete with no writer
    /// (daemon only; `None` in one-shot commands). A checkpoint whose fingerprint differs from
    /// it is being written again (a trainer re-saving the same name after a resume).
    pub confirmed: Option<Digest>,
    pub metric: MetricObservation,
    /// Every number the metric source has for this checkpoint's step, by name.
    pub metrics: crate::metrics::Metrics,
    pub protections: Vec<Protection>,
    /// Why the scanner already knows this one is not complete (an unreadable file, say).
    pub scan_problem: Option<String>,
    /// Whether its training state could be slimmed away, or already was.
    pub slim: Slim,
}

impl Checkpoint {
    /// The completion time: the newest mtime inside the checkpoint, or for a slimmed one the
    /// newest mtime it had before slimming (which moved its directory's mtime).
    pub fn completed_at(&self) -> Option<SystemTime> {
        match self.slim {
            Slim::Slimmed { completed_at, .. } => self.fingerprint.map(|_| completed_at),
            _ => self.fingerprint.map(|f| f.newest_mtime),
        }
    }

    pub fn bytes(&self) -> Option<u64> {
        self.fingerprint.map(|f| f.bytes)
    }

    pub fn is_alias(&self) -> bool {
        self.protections.contains(&Protection::Alias)
    }
}
