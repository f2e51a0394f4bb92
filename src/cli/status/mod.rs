//! `ckptd status [RUN…] [--json]`: per run, checkpoints complete and in progress, bytes on
//! disk, what the current plan would delete and free, pins, abandoned incomplete checkpoints,
//! and what the daemon last did there; per filesystem the runs are on, free space and inodes
//! (and each `[[filesystem]]` target); and the daemon itself, from its state directory:
//! running or not, its pid, last pass, counters, held runs. Computed from disk like `plan`,
//! so it works whether or not the daemon runs, and changes nothing.

mod json;
mod text;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::SystemTime;

use super::pass;
use super::{EXIT_FAILED, EXIT_OK, EXIT_USAGE};
use crate::config::Config;
use crate::daemon::ledger::Counters;
use crate::daemon_state::{DaemonState, RunState};
use crate::pass::PassReport;
use crate::pressure::FsState;

/// Everything `status` shows, gathered once for either rendering.
pub struct Status {
    pub now: SystemTime,
    pub runs: Vec<RunStatus>,
    /// Each filesystem holding runs: its mount point and what `statvfs` says.
    pub disks: Vec<(PathBuf, std::io::Result<FsState>)>,
    pub filesystems: Vec<crate::disk::FsOutcome>,
    pub daemon: DaemonView,
}

/// One run: its fresh plan, its pins and the daemon's last word on it.
pub struct RunStatus {
    pub report: PassReport,
    pub pinned: Vec<String>,
    pub daemon: Option<RunState>,
}

/// The daemon as its state directory shows it.
pub struct DaemonView {
    pub state_dir: Option<PathBuf>,
    /// `None`: cannot be told (no state directory, or it cannot be opened).
    pub running: Option<bool>,
    pub state: Option<DaemonState>,
    /// All-time totals (`counters.json`).
    pub counters: Option<Counters>,
}

pub fn status(config: &Config, selected: &[PathBuf], json: bool) -> u8 {
    let runs = match pass::select_runs(config, selected) {
        Ok(runs) => runs,
        Err(message) => {
            errln!("ckptd: {message}");
            return EXIT_USAGE;
        }
    };
    let looked = pass::look(config, &runs);
    let daemon = daemon_view(config);
    let failed = looked.failed || looked.reports.iter().any(|r| r.plan.held());
    let status = Status {
        now: SystemTime::now(),
        disks: disks(&looked.reports),
        runs: looked
            .reports
            .into_iter()
            .map(|report| {
                let pinned = pins(&report.run);
                let shown = report.run.display().to_string();
                let daemon = daemon
                    .state
                    .as_ref()
                    .and_then(|s| s.runs.iter().find(|r| r.run == shown).cloned());
                RunStatus {
                    report,
                    pinned,
                    daemon,
                }
            })
            .collect(),
        filesystems: looked.filesystems,
        daemon,
    };
    if json {
        outln!("{}", json::render(&status));
    } else {
        out!("{}", text::render(&status));
    }
    // A held run is an error to fix, as in `plan` and `prune`.
    if failed {
        EXIT_FAILED
    } else {
        EXIT_OK
    }
}

/// The run's pinned names, sorted; none when the pins cannot be read (the plan's ERROR says
/// so).
fn pins(run: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = crate::pins::pinned_names(run)
        .map(|set| set.into_iter().collect())
        .unwrap_or_default();
    names.sort();
    names
}

/// Each filesystem the runs are on, by device, named by its mount point.
fn disks(reports: &[PassReport]) -> Vec<(PathBuf, std::io::Result<FsState>)> {
    let mut by_dev: BTreeMap<u64, &std::path::Path> = BTreeMap::new();
    for r in reports {
        if let Some(dev) = crate::disk::device(&r.run) {
            by_dev.entry(dev).or_insert(&r.run);
        }
    }
    by_dev
        .into_iter()
        .map(|(dev, run)| {
            (
                crate::disk::mount_point(run, dev),
                crate::disk::measure(run),
            )
        })
        .collect()
}

fn daemon_view(config: &Config) -> DaemonView {
    let state_dir = crate::daemon_state::dir(config.daemon.state_dir.as_deref());
    let Some(dir) = state_dir.clone() else {
        return DaemonView {
            state_dir,
            running: None,
            state: None,
            counters: None,
        };
    };
    let state = DaemonState::read(&dir).unwrap_or_else(|e| {
        tracing::warn!(path = %dir.display(), error = %e, "cannot read {}/daemon.json: {e}", dir.display());
        None
    });
    let counters = std::fs::read(dir.join("counters.json"))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok());
    DaemonView {
        running: crate::daemon_state::running(&dir),
        state_dir,
        state,
        counters,
    }
}
