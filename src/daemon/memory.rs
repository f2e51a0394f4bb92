//! What the daemon remembers about one run between passes: settle trackers, the decisions it
//! has logged (so unchanged ones are not logged again), and the warnings already given.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use super::settle::Tracker;
use crate::checkpoint::Fingerprint;
use crate::plan::{Decision, Reason};

// Each flag says one independent thing was reported once; they do not form a state machine.
#[allow(clippy::struct_excessive_bools)]
#[derive(Debug, Default)]
pub struct RunMemory {
    /// Index of the watch in the current config.
    pub watch: usize,
    /// Polled instead of watched (network filesystem, or `watcher = "poll"`).
    pub polled: bool,
    pub trackers: HashMap<String, Tracker>,
    /// The last decision logged per checkpoint.
    pub decisions: HashMap<String, (Decision, Vec<Reason>)>,
    /// Checkpoints whose completion was logged.
    pub complete: HashSet<String>,
    /// Complete directory checkpoints the plan keeps, watched for rewrites in place.
    pub kept_dirs: Vec<(String, Fingerprint)>,
    /// The storage clock could not be read (WARNed once, until it can again).
    pub clock_warned: bool,
    /// Incomplete checkpoints already reported as stale.
    pub stale_warned: HashSet<String>,
    /// Checkpoints already reported as unranked.
    pub unranked_warned: HashSet<String>,
    /// The last invalid-overrides message, so it is logged once per change.
    pub overrides_error: Option<String>,
    /// Directories holding this run's metric logs (watched for new records).
    pub metric_dirs: Vec<PathBuf>,
    /// False until the first pass: what is already on disk is summed up, not listed.
    pub adopted: bool,
    /// Checkpoints a dry-run watch has already said it would delete.
    pub dry_run_logged: HashSet<String>,
    /// A lock error was reported (once, until the lock works again).
    pub lock_error_logged: bool,
    /// The run directory's stat as of the start of the last pass.
    pub dir_stamp: Option<DirStamp>,
}

/// What changes in a directory's own stat when a child is added, removed or renamed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirStamp {
    ino: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

/// The stamp of `dir` now, `None` when it cannot be read.
pub fn dir_stamp(dir: &std::path::Path) -> Option<DirStamp> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::symlink_metadata(dir).ok()?;
    Some(DirStamp {
        ino: meta.ino(),
        mtime: (meta.mtime(), meta.mtime_nsec()),
        ctime: (meta.ctime(), meta.ctime_nsec()),
    })
}

impl RunMemory {
    pub fn new(watch: usize, polled: bool) -> Self {
        Self {
            watch,
            polled,
            ..Self::default()
        }
    }

    /// Forgets checkpoints that are gone from disk.
    pub fn retain(&mut self, present: &HashSet<&str>) {
        self.trackers
            .retain(|name, _| present.contains(name.as_str()));
        self.decisions
            .retain(|name, _| present.contains(name.as_str()));
        self.complete.retain(|name| present.contains(name.as_str()));
        self.dry_run_logged
            .retain(|name| present.contains(name.as_str()));
        self.stale_warned
            .retain(|name| present.contains(name.as_str()));
        self.unranked_warned
            .retain(|name| present.contains(name.as_str()));
    }
}
