//! The daemon's metrics for Prometheus: what it manages (per run: checkpoints and bytes,
//! complete and in progress, held or not, deletions and bytes freed), each filesystem's free
//! space and pressure state, when it last looked, and how many ERRORs and WARNs it logged.
//!
//! A pure core and a thin shell, like the rest of ckptd: the daemon fills a [`Snapshot`]
//! (`daemon::exporter`), [`render`] turns it into the Prometheus text format (a pure
//! function, unit-tested), and the shell publishes that text: [`textfile::write`] replaces
//! node_exporter's textfile-collector file atomically, [`serve::Server`] answers
//! `GET /metrics` on its own thread, so a slow scraper never holds up a pass.

mod log_count;
mod render;
#[cfg(test)]
mod render_tests;
mod run_stats;
pub mod serve;
pub mod textfile;

use std::time::{Duration, SystemTime};

pub use log_count::{errors_logged, warnings_logged, LogCounter};
pub use render::render;

use crate::pressure::FsState;

/// Everything one rendering shows.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// `ckptd_build_info{version}`.
    pub version: String,
    pub runs: Vec<RunStats>,
    pub filesystems: Vec<FsStats>,
    /// The end of the last pass over any run.
    pub last_pass: Option<SystemTime>,
    /// The last time the daemon looked at every run: its first look, a periodic rescan, a
    /// reload. An idle daemon passes no run, but still rescans: this is what says it is alive.
    pub last_rescan: Option<SystemTime>,
    pub rescan_interval: Duration,
    /// ERROR and WARN lines logged since the daemon started.
    pub errors: u64,
    pub warnings: u64,
}

/// One run as its last planned pass left it, and what the daemon did in it since it started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunStats {
    pub watch: String,
    /// The run directory, as the `run` label.
    pub run: String,
    pub complete: Tally,
    pub in_progress: Tally,
    /// Invariant 9: `keep_best` finds its metric nowhere, so nothing is deleted.
    pub held: bool,
    /// Counters since the daemon started.
    pub deleted: u64,
    pub freed_bytes: u64,
    pub last_pass: Option<SystemTime>,
    /// When the daemon last deleted a checkpoint of the run (for `ckptd status`).
    pub last_deletion: Option<SystemTime>,
}

/// How many checkpoints, and how many bytes they hold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub checkpoints: u64,
    pub bytes: u64,
}

/// One filesystem: a `[[filesystem]]` table (labelled with its `path`), or one the runs are
/// on without a table (labelled with its mount point).
#[derive(Debug, Clone, PartialEq)]
pub struct FsStats {
    pub path: String,
    /// `None` when it cannot be measured now.
    pub space: Option<FsState>,
    /// Only for a `[[filesystem]]` table that has been checked.
    pub target: Option<TargetStats>,
}

/// A `[[filesystem]]` target at its last check.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TargetStats {
    /// The free bytes and inodes it asks for (floor plus headroom).
    pub want_free_bytes: u64,
    pub want_free_inodes: u64,
    /// How far free space was from the target, after the rules' own deletions and before
    /// pressure's: non-zero for a moment at every save that crosses the floor.
    pub missing_bytes: u64,
    pub missing_inodes: u64,
    /// What would still be missing after every deletion pressure may make: the target
    /// cannot be met (protected checkpoints, or space taken by something else).
    pub missing_after_pressure_bytes: u64,
}

impl TargetStats {
    pub fn met(&self) -> bool {
        self.missing_bytes == 0 && self.missing_inodes == 0
    }
}
