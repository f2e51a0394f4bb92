//! `<prefix>/<checkpoint>/.ckptd-manifest.json`: what one uploaded checkpoint holds (every
//! file with its size and SHA-256, its step and metrics), written **last**, after every object
//! was verified, so its presence is the remote commit marker. Remote retention plans from
//! manifests alone, and a manifest is read as untrusted data: a path that would leave the
//! checkpoint's prefix, a duplicate, or a file named like the manifest itself is refused,
//! because remote deletion deletes exactly the keys a manifest names.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::checkpoint::{Checkpoint, Fingerprint, Kind, Marker, MetricObservation, Slim, Writers};

/// The manifest's object name inside the checkpoint's prefix.
pub const MANIFEST_NAME: &str = ".ckptd-manifest.json";

/// The manifest format this ckptd writes and reads.
const FORMAT: u32 = 1;

/// One uploaded checkpoint, as its manifest records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: u32,
    /// The checkpoint's name in its run (a directory or a file).
    pub checkpoint: String,
    pub step: Option<u64>,
    pub epoch: Option<u64>,
    /// `true` for a directory checkpoint, whose files are named relative to it.
    pub dir: bool,
    /// Its completion time (the newest mtime inside it), in Unix seconds.
    pub completed_at: u64,
    /// When the upload was committed, in Unix seconds.
    pub uploaded_at: u64,
    /// The local run directory it was uploaded from: an upload never replaces the copy of
    /// another run (two runs whose prefixes collide).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
    /// Every metric the metric source had for its step, by name.
    pub metrics: BTreeMap<String, f64>,
    pub files: Vec<FileEntry>,
}

/// One object of an uploaded checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// Relative to the checkpoint, `/`-separated; for a file checkpoint, its own name.
    pub path: String,
    pub bytes: u64,
    /// SHA-256 of the content, 64 lowercase hex digits.
    pub sha256: String,
}

/// Why a manifest is not taken as a committed checkpoint (remote retention then leaves that
/// checkpoint alone and says why).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    #[error("not a ckptd manifest: {0}")]
    Json(String),
    #[error("manifest format {0}, this ckptd reads format {FORMAT}")]
    Format(u32),
    #[error("checkpoint name {0:?} is not one name in a run")]
    Name(String),
    #[error("no files: an upload commits at least one")]
    Empty,
    #[error("file path {0:?} is not a relative path inside the checkpoint")]
    Path(String),
    #[error("file {0:?} is listed twice")]
    Duplicate(String),
    #[error("file {0:?} would be the manifest itself")]
    ManifestName(String),
    #[error("file {path:?}: sha256 {sha256:?} is not 64 lowercase hex digits")]
    Sha256 { path: String, sha256: String },
    #[error("file checkpoint {checkpoint:?} must hold exactly itself, not {files} files")]
    FileCheckpoint { checkpoint: String, files: usize },
    #[error("the file sizes add up to more than 2^64 bytes")]
    Overflow,
}

impl Manifest {
    /// Reads and validates a manifest's bytes.
    pub fn parse(bytes: &[u8]) -> Result<Self, ManifestError> {
        let manifest: Self =
            serde_json::from_slice(bytes).map_err(|e| ManifestError::Json(e.to_string()))?;
        manifest.validate()?;
        Ok(manifest)
    }

    /// The manifest as written to the store (pretty, so a human can read it there too).
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(self).unwrap_or_default();
        out.push(b'\n');
        out
    }

    /// A manifest for the current format; checked by [`Self::validate`] before it is written.
    pub fn new(checkpoint: &str, dir: bool, completed_at: u64, files: Vec<FileEntry>) -> Self {
        Self {
            format: FORMAT,
            checkpoint: checkpoint.to_owned(),
            step: None,
            epoch: None,
            dir,
            completed_at,
            uploaded_at: completed_at,
            run: None,
            metrics: BTreeMap::new(),
            files,
        }
    }

    pub fn validate(&self) -> Result<(), ManifestError> {
        if self.format != FORMAT {
            return Err(ManifestError::Format(self.format));
        }
        if !is_one_name(&self.checkpoint) {
            return Err(ManifestError::Name(self.checkpoint.clone()));
        }
        if self.files.is_empty() {
            return Err(ManifestError::Empty);
        }
        if !self.dir && (self.files.len() != 1 || self.files[0].path != self.checkpoint) {
            return Err(ManifestError::FileCheckpoint {
                checkpoint: self.checkpoint.clone(),
                files: self.files.len(),
            });
        }
        let mut seen = HashSet::new();
        for file in &self.files {
            if !file.path.split('/').all(is_one_name) {
                return Err(ManifestError::Path(file.path.clone()));
            }
            if !seen.insert(file.path.as_str()) {
                return Err(ManifestError::Duplicate(file.path.clone()));
            }
            if file.path == MANIFEST_NAME {
                return Err(ManifestError::ManifestName(file.path.clone()));
            }
            let hex = |c: u8| c.is_ascii_digit() || (b'a'..=b'f').contains(&c);
            if file.sha256.len() != 64 || !file.sha256.bytes().all(hex) {
                return Err(ManifestError::Sha256 {
                    path: file.path.clone(),
                    sha256: file.sha256.clone(),
                });
            }
        }
        self.bytes().ok_or(ManifestError::Overflow)?;
        Ok(())
    }

    /// Total bytes of its files; `None` past 2^64.
    pub fn bytes(&self) -> Option<u64> {
        self.files
            .iter()
            .try_fold(0u64, |sum, f| sum.checked_add(f.bytes))
    }

    /// The remote copy as a checkpoint for the planner: complete (the manifest is its commit
    /// marker, whatever the clocks say), ordered by its step and its local completion time,
    /// ranked by `metric` when the manifest has it and unranked when not, never "worst".
    pub fn to_checkpoint(&self, metric: Option<&str>) -> Checkpoint {
        let completed = UNIX_EPOCH + Duration::from_secs(self.completed_at);
        let mut metrics = crate::metrics::Metrics::default();
        for (name, &value) in &self.metrics {
            metrics.insert(name, value);
        }
        Checkpoint {
            name: self.checkpoint.clone(),
            step: self.step,
            epoch: self.epoch,
            kind: if self.dir { Kind::Dir } else { Kind::File },
            fingerprint: Some(Fingerprint {
                files: self.files.len() as u64,
                bytes: self.bytes().unwrap_or(u64::MAX),
                newest_mtime: completed,
                newest_ctime: completed,
                inodes: 0,
            }),
            // Settled since the epoch: a remote copy is complete once committed, and a
            // completion time ahead of this node's clock must not make it "incomplete".
            stable_since: Some(SystemTime::UNIX_EPOCH),
            marker: Marker::NotRequired,
            writers: Writers::Checked { open: false },
            confirmed: None,
            metric: match metric {
                None => MetricObservation::NotWanted,
                Some(name) => MetricObservation::Final(metrics.get(name)),
            },
            metrics,
            protections: Vec::new(),
            scan_problem: None,
            slim: Slim::Off,
        }
    }
}

/// A single path component: not empty, not `.` or `..`, no `/` or NUL.
fn is_one_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\0'])
}

#[cfg(test)]
#[path = "manifest_tests.rs"]
mod tests;
