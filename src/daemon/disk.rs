//! The daemon's eye on its `[[filesystem]]` tables: after every pass it keeps the run's
//! summary for the pressure step; on `disk_check_interval` (so space taken by anything else
//! on the node is seen) and shortly after a pass changed something, it measures each
//! filesystem, runs the pressure step over the runs on it and hands the orders to their next
//! pass. It says when a filesystem falls below its target and when it meets it again (once
//! an hour: a floor that every save crosses is normal operation), and when a target cannot
//! be met, once an hour.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use crate::config::Config;
use crate::disk::{self, Disks, FsOutcome};
use crate::pass::PassReport;
use crate::pressure::{Order, RunSummary};
use crate::prometheus::{FsStats, TargetStats};

/// A pass that changed something is followed by a check, but not sooner than this after the
/// last one: a burst of passes is measured once.
const AFTER_A_PASS: Duration = Duration::from_secs(1);
/// A target that cannot be met, or a crossing, is said again after this long.
const AGAIN: Duration = Duration::from_hours(1);

/// What the daemon knows about its filesystems between checks.
#[derive(Debug, Default)]
pub struct DiskWatch {
    disks: Disks,
    interval: Duration,
    /// The device each run was on at its last pass (`None`: it could not be stat'ed). Looked
    /// up at every pass: a run directory that became a mount point since (a job's own volume)
    /// is on another filesystem, and must get no pressure for the one it left.
    fs_of: HashMap<PathBuf, Option<u64>>,
    /// The last pass's summary of each run on a configured filesystem.
    summaries: HashMap<PathBuf, RunSummary>,
    last_check: Option<Instant>,
    /// A pass changed something since the last check.
    dirty: bool,
    /// Orders for each run's next pass, and the device the run was on when they were made.
    orders: HashMap<PathBuf, (Option<u64>, Vec<Order>)>,
    /// Per filesystem, what was said about it.
    said: Vec<Said>,
    /// Per filesystem, deleted space it does not show yet.
    unshown: Vec<disk::Unshown>,
    /// Per filesystem, its target at the last check that could measure it (for the metrics).
    checked: Vec<Option<TargetStats>>,
}

/// What the daemon said about one filesystem, so a floor that every save crosses (pressure
/// then frees it: normal operation when the floor is what binds) is not a WARN at every save.
#[derive(Debug, Clone, Copy, Default)]
struct Said {
    /// Below its target at the last check.
    below: bool,
    /// When a crossing was last a WARN (at most once an hour; DEBUG in between).
    warned_at: Option<Instant>,
    /// The current crossing was a WARN: its end is an INFO.
    loud: bool,
    /// When "cannot be met" (or "cannot measure") was last said.
    unmet_at: Option<Instant>,
    /// When deleted space that had not come free yet was last a WARN.
    unshown_at: Option<Instant>,
}

impl DiskWatch {
    pub fn new(config: &Config) -> Self {
        let disks = Disks::new(&config.filesystems);
        let said = vec![Said::default(); disks.len()];
        let unshown = vec![disk::Unshown::default(); disks.len()];
        let checked = vec![None; disks.len()];
        Self {
            disks,
            interval: config.daemon.disk_check_interval,
            said,
            unshown,
            checked,
            ..Self::default()
        }
    }

    /// Keeps what the pass over `report.run` found, if that run is on a configured filesystem.
    pub fn after_pass(&mut self, report: &PassReport) {
        if self.disks.is_empty() {
            return;
        }
        let dev = disk::device(&report.run);
        self.fs_of.insert(report.run.clone(), dev);
        let fs = dev.and_then(|dev| self.disks.index_of_device(dev));
        if fs.is_none() {
            self.summaries.remove(&report.run);
        }
        if let (Some(index), true) = (fs, report.carried_out) {
            self.unshown[index].deleted(Instant::now(), report.unshown());
        }
        // A pass that did not plan (busy, unreadable) says nothing new about the run.
        if fs.is_some() && matches!(report.reached, crate::pass::Reached::Planned) {
            let summary = report.filesystem_summary();
            let changed = self.summaries.get(&report.run) != Some(&summary);
            self.summaries.insert(report.run.clone(), summary);
            self.dirty |= changed;
        }
    }

    /// Whether `run` has had a pass since the config was loaded (without `[[filesystem]]`
    /// tables, nothing is waited for).
    pub fn has_looked_at(&self, run: &Path) -> bool {
        self.disks.is_empty() || self.fs_of.contains_key(run)
    }

    pub fn forget(&mut self, run: &Path) {
        self.fs_of.remove(run);
        self.summaries.remove(run);
        self.orders.remove(run);
    }

    /// The orders for `run`'s pass, taken; none when the run is no longer on the device it
    /// was on when they were made (they were meant to free space on another filesystem).
    pub fn orders_for(&mut self, run: &Path) -> Vec<Order> {
        let Some((dev, orders)) = self.orders.remove(run) else {
            return Vec::new();
        };
        if dev.is_some() && disk::device(run) == dev {
            orders
        } else {
            tracing::warn!(run = %run.display(), "{} is no longer on the filesystem it was on at the last disk check (a mount over it?): its {} pressure decisions are dropped", run.display(), orders.len());
            self.dirty = true;
            Vec::new()
        }
    }

    /// When the filesystems were last measured.
    pub fn checked_at(&self) -> Option<Instant> {
        self.last_check
    }

    /// When the next check is due (never without `[[filesystem]]` tables).
    pub fn next_check(&self) -> Option<Instant> {
        if self.disks.is_empty() {
            return None;
        }
        let Some(last) = self.last_check else {
            return Some(Instant::now());
        };
        Some(if self.dirty {
            last + AFTER_A_PASS.min(self.interval)
        } else {
            last + self.interval
        })
    }

    /// Measures each filesystem when due; returns the runs that have pressure orders.
    pub fn check(&mut self, now: Instant) -> Vec<PathBuf> {
        let due = match (self.disks.is_empty(), self.last_check) {
            (true, _) => false,
            (false, None) => true,
            (false, Some(_)) => self.next_check().is_some_and(|at| at <= now),
        };
        if !due {
            return Vec::new();
        }
        self.last_check = Some(now);
        self.dirty = false;
        let (disks, fs_of, unshown) = (&self.disks, &self.fs_of, &mut self.unshown);
        let outcomes = disk::relieve_grouped(
            disks,
            self.summaries.values().cloned(),
            SystemTime::now(),
            |run| {
                fs_of
                    .get(run)
                    .copied()
                    .flatten()
                    .and_then(|dev| disks.index_of_device(dev))
            },
            |index, (free, held)| unshown[index].update(now, free, held),
        );
        for (index, outcome) in outcomes.iter().enumerate() {
            self.say(index, outcome, now);
            self.checked[index] = outcome.state.as_ref().ok().map(|_| target_stats(outcome));
        }
        self.orders = disk::orders_by_run(&outcomes)
            .into_iter()
            .map(|(run, orders)| {
                let dev = self.fs_of.get(&run).copied().flatten();
                (run, (dev, orders))
            })
            .collect();
        self.orders.keys().cloned().collect()
    }

    /// For the metrics: each `[[filesystem]]` table's filesystem measured now, and its target
    /// as the last check found it.
    pub fn filesystem_stats(&self) -> Vec<FsStats> {
        (0..self.disks.len())
            .map(|index| FsStats {
                path: self.disks.target(index).path.display().to_string(),
                space: self.disks.measure(index).ok(),
                target: self.checked[index],
            })
            .collect()
    }

    /// Whether the filesystem with device `dev` has a `[[filesystem]]` table.
    pub fn has_table(&self, dev: u64) -> bool {
        self.disks.index_of_device(dev).is_some()
    }

    /// A filesystem that falls below its target: a WARN (once an hour; the pressure deletions
    /// that follow are INFO lines of their own), and an INFO when it meets it again; an ERROR
    /// (once an hour) when it cannot be met.
    fn say(&mut self, index: usize, outcome: &FsOutcome, now: Instant) {
        let path = outcome.target.path.display();
        let said = &mut self.said[index];
        let due = |at: Option<Instant>| at.is_none_or(|at| now >= at + AGAIN);
        let state = match &outcome.state {
            Ok(state) => state,
            Err(e) => {
                if due(said.unmet_at) {
                    tracing::error!(filesystem = %path, error = %e, "cannot measure free space on {path}: {e}; no pressure decision there");
                    said.unmet_at = Some(now);
                }
                return;
            }
        };
        let below = !outcome.relief.before.is_met();
        let line = disk::describe_state(outcome);
        if below && !said.below {
            said.loud = due(said.warned_at);
            if said.loud {
                tracing::warn!(filesystem = %path, free_bytes = state.free_bytes, free_inodes = state.free_inodes, missing_bytes = outcome.relief.before.bytes, missing_inodes = outcome.relief.before.inodes, "free space below its target on {line}");
                said.warned_at = Some(now);
            } else {
                tracing::debug!(filesystem = %path, "free space below its target on {line}");
            }
        } else if !below && said.below {
            if said.loud {
                tracing::info!(filesystem = %path, free_bytes = state.free_bytes, free_inodes = state.free_inodes, "free space meets its target again on {line}");
            } else {
                tracing::debug!(filesystem = %path, "free space meets its target again on {line}");
            }
        }
        said.below = below;
        match &outcome.relief.unmet {
            Some(unmet) if due(said.unmet_at) => {
                disk::log_unmet(outcome, unmet);
                said.unmet_at = Some(now);
            }
            // Not reset when met: a target that flips between met and unmet is said once an
            // hour, not at every flip.
            _ => {}
        }
        let (bytes, inodes) = outcome.coming;
        if (bytes, inodes) != (0, 0) && due(said.unshown_at) {
            tracing::warn!(filesystem = %path, coming_bytes = bytes, coming_inodes = inodes, "deleted checkpoints on {path} have not come free yet ({}; a file still open by a reader, an NFS or asynchronous free?): counted as coming free for up to {} before pressure asks for that space again", disk::amount(bytes, inodes), humantime::format_duration(disk::HOLD));
            said.unshown_at = Some(now);
        }
    }
}

/// What the metrics show of a check's outcome: how far the target was before pressure, and
/// what pressure could not free.
fn target_stats(outcome: &FsOutcome) -> TargetStats {
    let before = &outcome.relief.before;
    TargetStats {
        want_free_bytes: before.want_bytes,
        want_free_inodes: before.want_inodes,
        missing_bytes: before.bytes,
        missing_inodes: before.inodes,
        missing_after_pressure_bytes: outcome.relief.unmet.as_ref().map_or(0, |u| u.missing.bytes),
    }
}
