//! A run's [`RunStats`] folded from the passes over it: what is on disk after each planned
//! pass, and the counters of what the daemon did.

use std::time::SystemTime;

use super::{RunStats, Tally};
use crate::pass::{PassReport, Reached};

impl RunStats {
    /// A run not yet passed.
    pub fn new(watch: &str, run: &str) -> Self {
        Self {
            watch: watch.to_owned(),
            run: run.to_owned(),
            complete: Tally::default(),
            in_progress: Tally::default(),
            held: false,
            deleted: 0,
            freed_bytes: 0,
            last_pass: None,
            last_deletion: None,
        }
    }

    /// Folds in the pass `report`, which ended at `now`. A pass that did not plan (another
    /// ckptd holds the run lock, the run cannot be scanned) says nothing about what is on
    /// disk: the last planned pass's figures stand.
    pub fn add_pass(&mut self, report: &PassReport, now: SystemTime) {
        self.watch.clone_from(&report.watch.name);
        self.deleted += report.executed.deleted.len() as u64;
        if !report.executed.deleted.is_empty() {
            self.last_deletion = Some(now);
        }
        self.freed_bytes += report.executed.bytes_freed();
        if !matches!(report.reached, Reached::Planned) {
            return;
        }
        (self.complete, self.in_progress) = on_disk(report);
        self.held = report.plan.held();
        self.last_pass = Some(now);
    }
}

/// What the run holds once the pass's deletions and slims are done (a dry run's would-be
/// deletions are still there).
fn on_disk(report: &PassReport) -> (Tally, Tally) {
    let executed = &report.executed;
    let (mut complete, mut in_progress) = (Tally::default(), Tally::default());
    for v in &report.plan.verdicts {
        if executed.deleted.iter().any(|d| d.name == v.name) {
            continue;
        }
        let slimmed: u64 = executed
            .slimmed
            .iter()
            .filter(|s| s.name == v.name)
            .map(|s| s.bytes)
            .sum();
        let tally = if v.is_complete() {
            &mut complete
        } else {
            &mut in_progress
        };
        tally.checkpoints += 1;
        tally.bytes += v.bytes.unwrap_or(0).saturating_sub(slimmed);
    }
    (complete, in_progress)
}
