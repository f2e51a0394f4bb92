//! The one pass engine: everything that happens to one run, the same for the daemon and for
//! `plan`, `prune` and `status`. In order: the run's overrides; when the pass may act, the run
//! lock (taken before anything is planned, held until the last deletion) and the trash an
//! interrupted pass left; the run's clock; the scan; settling; the plan; its logging; then
//! the deletions, or what a dry run would delete.
//!
//! What differs between callers is in their [`Hooks`]: whether they act, what they remember
//! between passes (the daemon's settle trackers and what it already said) and how they log.

mod hooks;
#[cfg(test)]
mod tests;

use std::io;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::config::{apply_run_overrides, Watch};
use crate::execute::{self, Outcome, Until};
use crate::lock::RunLock;
use crate::plan::{plan, Plan};
use crate::shutdown::Shutdown;
use crate::storage_clock::RunClock;
pub use hooks::{log_budget_unmet, log_overrides_invalid, Hooks, Limits, Settled};

/// How far a pass got.
#[derive(Debug, Default)]
pub enum Reached {
    /// Planned (and, when acting, carried out).
    #[default]
    Planned,
    /// The run directory is gone: forget it.
    Gone,
    /// Another process holds the run lock: nothing planned, try again later.
    Busy,
    /// The run lock cannot be taken (a read-only mount, no flock): nothing planned.
    LockFailed(io::Error),
    /// The run could not be scanned (listed, or its pins read): nothing planned.
    Unscanned(io::Error),
}

/// What one pass found and did.
// Each flag is an independent fact about the pass that a different caller reads (the exit
// code, the trash timer, prune's second look, the pressure step): not a state in disguise.
#[allow(clippy::struct_excessive_bools)]
#[derive(Debug)]
pub struct PassReport {
    pub run: PathBuf,
    /// The watch as it applies to this run (its `.ckptd.toml` included).
    pub watch: Watch,
    pub reached: Reached,
    /// "Now" on the run's clock when it was planned.
    pub clock: RunClock,
    /// Empty unless `reached` is `Planned`.
    pub plan: Plan,
    /// The deletions made, skipped, failed, deferred (acting), or that a dry run would make.
    pub executed: Outcome,
    /// Trash left by an interrupted pass could not be emptied (an ERROR was logged).
    pub trash_failed: bool,
    /// The hooks held the deletions back (the one-shot second look at an unknown clock).
    pub held_back: bool,
    /// The run's `.ckptd.toml` is invalid: planned under the watch's policy, nothing deleted
    /// (an ERROR said why).
    pub overrides_invalid: bool,
    /// When to look at this run again, if anything is pending.
    pub recheck_at: Option<Instant>,
    /// The plan was carried out (not a dry run, a read-only look or a held-back one): free
    /// space already shows its deletions, as far as they succeeded.
    pub carried_out: bool,
    /// The run's `max_bytes` cannot be met: what is missing and protected (an ERROR said so).
    pub budget_unmet: Option<crate::pressure::Unmet>,
    /// Free bytes and inodes the filesystem gained while the plan was carried out, when it
    /// could be measured before and after: what of [`Self::freed`] showed at once.
    pub shown: Option<(u64, u64)>,
    /// Remote retention over the run's uploaded copies (one-shot commands, with `remote`).
    pub remote: Option<crate::upload::remote::RemotePlan>,
}

impl PassReport {
    fn new(run: &Path, watch: Watch) -> Self {
        Self {
            run: run.to_owned(),
            watch,
            reached: Reached::Planned,
            clock: RunClock::local(),
            plan: Plan::default(),
            executed: Outcome::default(),
            trash_failed: false,
            held_back: false,
            overrides_invalid: false,
            recheck_at: None,
            carried_out: false,
            budget_unmet: None,
            shown: None,
            remote: None,
        }
    }

    /// How many ERRORs worth exit 1 the pass ended in: overrides that are invalid, a lock
    /// that could not be taken, a run that could not be scanned, trash or deletions that
    /// failed, a `max_bytes` that cannot be met. (A held run is counted by the caller: an error to fix, not a failure to act.)
    pub fn failures(&self) -> usize {
        let stopped = usize::from(matches!(
            self.reached,
            Reached::LockFailed(_) | Reached::Unscanned(_)
        ));
        stopped
            + usize::from(self.overrides_invalid)
            + usize::from(self.trash_failed)
            + usize::from(self.budget_unmet.is_some())
            + self.executed.failed()
    }

    /// The run as the pressure step sees it. `plan_pending`: the plan's deletions and slims
    /// are not carried out (a dry run, a read-only look), so free space does not show them.
    pub fn pressure_summary(&self, plan_pending: bool) -> crate::pressure::RunSummary {
        let mut summary = crate::pressure::RunSummary::new(
            &self.run,
            &self.plan,
            self.watch.policy.slim_after.is_some(),
        );
        summary.active_within = self.watch.stale_after;
        summary.plan_pending = plan_pending;
        summary
    }

    /// The run as a filesystem's pressure step sees it: as [`Self::pressure_summary`], and
    /// when ckptd does not act on the run (a `dry_run` watch, an invalid `.ckptd.toml`),
    /// everything in it held: pressure then takes from the runs it acts on.
    pub fn filesystem_summary(&self) -> crate::pressure::RunSummary {
        let mut summary = self.pressure_summary(!self.carried_out);
        if self.carried_out && (self.executed.deferred > 0 || self.executed.awaiting_hook > 0) {
            // Deletions left for the next pass (its time slice ran out, or the before_delete
            // hook has not answered yet) will still free space: counted, so pressure does not
            // delete more meanwhile. (A veto is an error: not counted.)
            let done = |name: &str| {
                self.executed.deleted.iter().any(|d| d.name == name)
                    || self.executed.slimmed.iter().any(|s| s.name == name)
                    || self.executed.errors.iter().any(|e| e.checkpoint == name)
            };
            summary = summary.still_to_come(&self.plan, &|v| !done(&v.name));
        }
        if self.carried_out {
            let (bytes, inodes) = self.freed();
            summary.on_disk.0 = summary.on_disk.0.saturating_sub(bytes);
            summary.on_disk.1 = summary.on_disk.1.saturating_sub(inodes);
        }
        if self.watch.dry_run || self.overrides_invalid {
            summary.not_acting()
        } else {
            summary
        }
    }

    /// Bytes and inodes the pass's deletions and slims took out of the run and the
    /// filesystem did not show free at once (none when that could not be measured).
    pub fn unshown(&self) -> (u64, u64) {
        let (freed, shown) = (self.freed(), self.shown.unwrap_or((u64::MAX, u64::MAX)));
        (
            freed.0.saturating_sub(shown.0),
            freed.1.saturating_sub(shown.1),
        )
    }

    /// Bytes and inodes the pass's deletions and slims took out of the run.
    pub fn freed(&self) -> (u64, u64) {
        let verdict = |name: &str| self.plan.verdicts.iter().find(|v| v.name == name);
        let mut freed = (0, 0);
        for d in &self.executed.deleted {
            freed.0 += d.bytes;
            freed.1 += verdict(&d.name).map_or(0, crate::pressure::candidates::inodes);
        }
        for s in &self.executed.slimmed {
            freed.0 += s.bytes;
            freed.1 += verdict(&s.name).map_or(0, |v| match v.checkpoint.slim {
                crate::checkpoint::Slim::Whole { files, .. } => files,
                _ => 0,
            });
        }
        freed
    }

    /// Something is left in the trash: it needs another try on a timer.
    pub fn trash_left(&self) -> bool {
        self.trash_failed || self.executed.trash_left
    }
}

/// One pass over `run` under `base` (before the run's overrides). `shutdown` is checked
/// between deletions: the one in flight finishes, the next is not started.
pub fn run(run: &Path, base: &Watch, hooks: &mut impl Hooks, shutdown: &Shutdown) -> PassReport {
    let started = Instant::now();
    let (watch, overrides_valid) = effective_watch(run, base, hooks);
    let mut report = PassReport::new(run, watch);
    report.overrides_invalid = !overrides_valid;
    if let Err(reached) = present(run, &report.watch, hooks) {
        report.reached = reached;
        return report;
    }
    let lock = if hooks.acting() && hooks.locks(&report.watch) {
        match lock(run, hooks) {
            Ok(lock) => Some(lock),
            Err(reached) => {
                report.reached = reached;
                return report;
            }
        }
    } else {
        None
    };
    // Read before scanning: a write that lands during the scan is then never taken for old.
    report.clock = lock.as_ref().map_or_else(
        || RunClock::read_only(run),
        |lock| RunClock::of(run, lock.file()),
    );
    hooks.looking(run, &report.watch, report.clock, lock.is_some());
    if lock.is_some() {
        // Holding the lock, a slimming still "in progress" was interrupted: finish it (its
        // entries go to the trash), so the plan sees it slimmed.
        report.trash_failed = finish_slimming(run, hooks);
        // Holding the lock, whatever is in the trash is a leftover (of a crash, or of a
        // removal that failed): finish it.
        report.trash_failed |= execute::empty_leftover_trash(run, hooks).is_err();
    }
    // When in doubt (overrides that say something else, but not what), nothing is deleted.
    let deleting = lock.is_some() && !report.watch.dry_run && overrides_valid;
    let Some(settled) = scan_and_plan(&mut report, hooks, deleting) else {
        return report;
    };
    report.held_back = settled.hold && report.plan.deletions().next().is_some();
    if report.held_back {
        // Nothing to do now: the caller looks again.
    } else if deleting {
        // Measured right around the deletions, so what they free and the filesystem does
        // not show (a reader holding a file) is told apart from what other writers take.
        let before = measure_if(
            run,
            report.plan.deletions().next().is_some() || report.plan.slims().next().is_some(),
        );
        report.executed = act(&report, hooks, shutdown, started.elapsed());
        report.carried_out = true;
        report.shown = before.and_then(|before| {
            let after = crate::disk::measure(run).ok()?;
            Some((
                after.free_bytes.saturating_sub(before.free_bytes),
                after.free_inodes.saturating_sub(before.free_inodes),
            ))
        });
    } else if overrides_valid {
        // A dry run: said here, and only here, for the daemon and every command.
        for v in report.plan.deletions() {
            hooks.would_delete(run, &report.watch, v);
            report.executed.would_delete.push(execute::deleted(v));
        }
        for v in report.plan.slims() {
            hooks.would_slim(run, &report.watch, v);
            report
                .executed
                .would_slim
                .push(execute::slim::would_slim(v));
        }
    }
    let later = hooks.acted(run, &report.watch, &report.plan, &report.executed);
    report.recheck_at = settled.recheck.into_iter().chain(later).min();
    drop(lock);
    report
}

/// The free space on `run`'s filesystem, when `wanted` and measurable.
fn measure_if(run: &Path, wanted: bool) -> Option<crate::pressure::FsState> {
    wanted.then(|| crate::disk::measure(run).ok()).flatten()
}

/// Finishes interrupted slimming in `run`; true when that failed (an ERROR was logged).
fn finish_slimming(run: &Path, hooks: &mut impl Hooks) -> bool {
    execute::finish_interrupted(run, hooks)
        .inspect_err(|e| {
            tracing::error!(run = %run.display(), error = %e, "cannot finish interrupted slimming in {}: {e}{}; retried at the next pass", run.display(), crate::io_hint::hint(e));
        })
        .is_err()
}

/// Whether the run is there to look at: gone (`NotFound`), or there but unreachable (a
/// directory above it lost its search permission: that is no reason to forget it).
fn present(run: &Path, watch: &Watch, hooks: &mut impl Hooks) -> Result<(), Reached> {
    match std::fs::metadata(run) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => Err(Reached::Gone),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(Reached::Gone),
        Err(e) => {
            hooks.unscanned(run, watch, &e);
            Err(Reached::Unscanned(e))
        }
    }
}

/// Carries the plan out under the hooks' limits.
fn act(
    report: &PassReport,
    hooks: &mut impl Hooks,
    shutdown: &Shutdown,
    looked: std::time::Duration,
) -> Outcome {
    let limits = hooks.limits(&report.run, looked);
    let try_last = |name: &str| limits.try_last.contains(name);
    let only = |name: &str| limits.only.as_ref().is_none_or(|only| only.contains(name));
    let until = Until {
        shutdown,
        deadline: limits.deadline,
        first_is_free: limits.first_is_free,
        try_last: Some(&try_last),
        only: limits
            .only
            .is_some()
            .then_some(&only as &dyn Fn(&str) -> bool),
    };
    execute::carry_out(&report.run, &report.watch, &report.plan, &until, hooks)
}

/// Scans, settles and plans; `None` (with `reached` saying why) when the run could not be
/// scanned.
fn scan_and_plan(
    report: &mut PassReport,
    hooks: &mut impl Hooks,
    deleting: bool,
) -> Option<Settled> {
    let (run, watch) = (report.run.as_path(), &report.watch);
    let known = &*hooks;
    let scanned = crate::scan::scan_run_knowing(run, watch, &|name| known.confirmed(name));
    let mut checkpoints = match scanned {
        Ok(checkpoints) => checkpoints,
        Err(_) if !run.is_dir() => {
            report.reached = Reached::Gone;
            return None;
        }
        Err(e) => {
            hooks.unscanned(run, watch, &e);
            report.reached = Reached::Unscanned(e);
            return None;
        }
    };
    let mut settled = hooks.settle(run, watch, &mut checkpoints, report.clock, deleting);
    report.plan = plan(&checkpoints, &watch.policy, report.clock.now);
    hooks.standing_vetoes(run, watch, &mut report.plan);
    hooks.offload(run, watch, &mut report.plan);
    report.remote = hooks.remote(run, watch);
    under_pressure(report, hooks);
    let (run, watch) = (report.run.as_path(), &report.watch);
    settled
        .recheck
        .extend(hooks.planned(run, watch, &report.plan, report.clock));
    Some(settled)
}

/// Folds pressure into the fresh plan: the run's own `max_bytes`, then what the caller
/// decided across the runs of its filesystem (each order checked against this plan).
fn under_pressure(report: &mut PassReport, hooks: &mut impl Hooks) {
    let (run, watch) = (report.run.as_path(), &report.watch);
    let mut orders = Vec::new();
    if let Some(max) = watch.max_bytes {
        let mut summary = report.pressure_summary(true);
        summary.max_bytes = Some(max);
        let relief = crate::pressure::relieve(&[summary], None, report.clock.now);
        for (_, unmet) in &relief.budgets_unmet {
            hooks.budget_unmet(run, watch, unmet);
        }
        report.budget_unmet = relief.budgets_unmet.into_iter().map(|(_, u)| u).next();
        orders = relief.orders;
    }
    orders.extend(hooks.pressure_orders(run));
    crate::pressure::apply(&mut report.plan, &orders);
}

/// Takes the run lock, or says why the pass stops here.
fn lock(run: &Path, hooks: &mut impl Hooks) -> Result<RunLock, Reached> {
    match crate::lock::try_lock(run) {
        Ok(Some(lock)) => Ok(lock),
        Ok(None) => {
            hooks.busy(run);
            Err(Reached::Busy)
        }
        // Removed meanwhile: not a lock problem.
        Err(_) if !run.is_dir() => Err(Reached::Gone),
        Err(e) => {
            hooks.lock_failed(run, &e);
            Err(Reached::LockFailed(e))
        }
    }
}

/// The watch with the run's `.ckptd.toml` applied, and whether that file is valid. An invalid
/// one leaves the watch's policy for planning (so `plan` still shows something), but the pass
/// deletes nothing: the file may say `dry_run = true`, or keep more, in a line that failed.
fn effective_watch(run: &Path, base: &Watch, hooks: &mut impl Hooks) -> (Watch, bool) {
    match apply_run_overrides(base, run) {
        Ok(found) => {
            hooks.overrides_valid(run);
            (found.unwrap_or_else(|| base.clone()), true)
        }
        Err(errors) => {
            hooks.overrides_invalid(run, base, &errors.to_string());
            (base.clone(), false)
        }
    }
}
