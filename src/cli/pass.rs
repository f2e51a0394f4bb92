//! The one-shot commands' part of a pass (see `pass`): which runs, and the [`OneShot`] hooks.
//! `plan` and `status` look and write nothing, not even the lock file; `prune --dry-run` looks
//! and says what it would delete; `prune` takes each run's lock before planning it and acts.
//!
//! Ages are measured on each run's storage clock (see `storage_clock`). Where `prune` cannot
//! read it (a read-only mount, a full filesystem without a probe), an mtime cannot say how long
//! ago a file was written there: `prune` looks at that run twice, `settle` apart (see
//! [`look_again_where_the_clock_is_unknown`]), and only what did not change between the two
//! looks can count as complete.

use std::collections::{HashMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::checkpoint::{Checkpoint, Fingerprint};
use crate::config::{Config, Watch};
use crate::disk::FsOutcome;
use crate::execute::{Approval, Journal};
use crate::pass::{self, Hooks, PassReport, Reached, Settled};
use crate::plan::{Plan, Verdict};
use crate::report::RunPlan;
use crate::runs::{self, Run};
use crate::shutdown::Shutdown;
use crate::storage_clock::RunClock;

/// The runs of `config`, or only `selected` ones (each must be a run of some watch).
pub fn select_runs(config: &Config, selected: &[PathBuf]) -> Result<Vec<Run>, String> {
    // With RUNs named, what discovery would say about other watches' runs is noise.
    let mut found = runs::discover(config, selected.is_empty());
    if selected.is_empty() {
        return Ok(found);
    }
    let wanted: Vec<PathBuf> = selected.iter().map(|p| crate::paths::absolute(p)).collect();
    for (given, path) in selected.iter().zip(&wanted) {
        if !found.iter().any(|r| &r.path == path) {
            // Now the reasons are worth saying (a symlinked or nested run, say).
            let _ = runs::discover(config, true);
            return Err(format!(
                "{} is not a run directory of any watch in {}",
                given.display(),
                config.file.display()
            ));
        }
    }
    found.retain(|r| wanted.contains(&r.path));
    Ok(found)
}

/// One pass over each of `runs` with `hooks`, until `shutdown`.
pub fn passes(
    config: &Config,
    runs: &[Run],
    hooks: &mut OneShot,
    shutdown: &Shutdown,
) -> Vec<PassReport> {
    hooks.state_dir.clone_from(&config.daemon.state_dir);
    runs.iter()
        .take_while(|_| !shutdown.requested())
        .map(|r| pass::run(&r.path, &config.watches[r.watch], hooks, shutdown))
        .collect()
}

/// What the read-only passes of `plan` and `status` found.
pub struct Looked {
    /// The runs that could be planned, pressure decisions folded in.
    pub reports: Vec<PassReport>,
    /// An ERROR was said about some run (it could not be scanned, its overrides are invalid,
    /// its `max_bytes` cannot be met) or filesystem (its target cannot be met): exit 1.
    pub failed: bool,
    /// Each configured filesystem: its state, target and pressure decisions.
    pub filesystems: Vec<FsOutcome>,
}

/// Read-only passes (`plan`, `status`), with the pressure across each filesystem folded in.
pub fn look(config: &Config, runs: &[Run]) -> Looked {
    let mut reports = passes(config, runs, &mut OneShot::looking(), &Shutdown::never());
    let mut failed = reports.iter().any(|r| r.failures() > 0);
    reports.retain(|r| matches!(r.reached, Reached::Planned));
    let filesystems = pressure(config, &reports, &mut []);
    fold_pressure(&mut reports, &filesystems);
    failed |= log_filesystem_errors(&filesystems) > 0;
    Looked {
        reports,
        failed,
        filesystems,
    }
}

/// The pressure step across each configured filesystem, over the runs `reports` planned
/// (with RUNs named, only those). Empty without `[[filesystem]]` tables. `unshown` (by
/// filesystem, or empty) is what was measured before `reports`' passes: what they deleted
/// and the filesystem does not show free yet (a reader holding a file) counts as coming free.
pub fn pressure(
    config: &Config,
    reports: &[PassReport],
    unshown: &mut [crate::disk::Unshown],
) -> Vec<FsOutcome> {
    if config.filesystems.is_empty() {
        return Vec::new();
    }
    let disks = crate::disk::Disks::new(&config.filesystems);
    let now = tokio::time::Instant::now();
    for report in reports.iter().filter(|r| r.carried_out) {
        if let Some(u) = disks.index_of(&report.run).and_then(|i| unshown.get_mut(i)) {
            u.deleted(now, report.unshown());
        }
    }
    let summaries = reports
        .iter()
        .filter(|r| matches!(r.reached, Reached::Planned))
        .map(PassReport::filesystem_summary)
        .collect();
    crate::disk::relieve_each(&disks, summaries, SystemTime::now(), unshown)
}

/// An ERROR for each filesystem that cannot be measured or whose target cannot be met;
/// returns how many.
pub fn log_filesystem_errors(filesystems: &[FsOutcome]) -> usize {
    let mut errors = 0;
    for fs in filesystems {
        if let Err(e) = &fs.state {
            tracing::error!(filesystem = %fs.target.path.display(), error = %e, "cannot measure free space on {}: {e}; no pressure decision there", fs.target.path.display());
            errors += 1;
        }
        if let Some(unmet) = &fs.relief.unmet {
            crate::disk::log_unmet(fs, unmet);
            errors += 1;
        }
    }
    errors
}

/// Folds the filesystems' pressure decisions into the plans (what a read-only look shows).
/// Returns, by run, the verdicts that became pressure deletions.
pub fn fold_pressure(
    reports: &mut [PassReport],
    filesystems: &[FsOutcome],
) -> Vec<(usize, String)> {
    let orders = crate::disk::orders_by_run(filesystems);
    let mut turned = Vec::new();
    for (index, report) in reports.iter_mut().enumerate() {
        if let Some(orders) = orders.get(&report.run) {
            crate::pressure::apply(&mut report.plan, orders);
            for order in orders {
                let deleted = report
                    .plan
                    .verdict(&order.checkpoint)
                    .is_some_and(|v| v.decision == crate::plan::Decision::Delete);
                if deleted && order.action == crate::pressure::Action::Delete {
                    turned.push((index, order.checkpoint.clone()));
                }
            }
        }
    }
    turned
}

/// What `plan` shows of a run.
pub fn run_plan(report: &PassReport) -> RunPlan {
    RunPlan {
        run: report.run.clone(),
        watch: report.watch.name.clone(),
        layout: report.watch.layout.name(),
        metric: report
            .watch
            .policy
            .keep_best
            .as_ref()
            .map(|b| b.metric.clone()),
        plan: report.plan.clone(),
        remote: report.remote.clone(),
    }
}

/// The hooks of `plan`, `status` and `prune`.
#[derive(Default)]
pub struct OneShot {
    acting: bool,
    /// Log each deletion a dry run would make (`prune --dry-run`; not `plan`).
    say_would_delete: bool,
    /// Log nothing about the plan (`prune`'s preview before its prompt: the passes that act
    /// log it).
    quiet: bool,
    /// `prune`'s first look at each run whose storage clock is unknown.
    first_looks: HashMap<PathBuf, FirstLook>,
    /// What a user confirmed at `prune`'s prompt, by run: nothing else is deleted.
    confirmed: Option<HashMap<PathBuf, HashSet<String>>>,
    /// Pressure decisions across filesystems, for `prune`'s second pass over the runs they
    /// concern.
    pub orders: HashMap<PathBuf, Vec<crate::pressure::Order>>,
    /// Runs whose unmet `max_bytes` was said: `prune`'s second pass over a run plans it
    /// again, and must not say it twice.
    budgets_said: HashSet<PathBuf>,
    /// `prune`'s Ctrl-C and SIGTERM: a `before_delete` hook running then is killed.
    stop_hooks: Option<Shutdown>,
    /// The config's `state_dir` (the daemon's upload queue is read from there).
    state_dir: Option<PathBuf>,
    /// Uploads, started at the first run whose watch has `upload`.
    uploads: Option<crate::upload::oneshot::OneShotUploads>,
}

/// The fingerprints of a run's checkpoints at a first look, and when it was made.
struct FirstLook {
    at: SystemTime,
    fingerprints: HashMap<String, Option<Fingerprint>>,
}

impl OneShot {
    /// `plan`, `status`: nothing written, nothing said beyond the plan's own lines.
    pub fn looking() -> Self {
        Self::default()
    }

    /// `prune`'s preview before its prompt: as `looking`, and quiet.
    pub fn previewing() -> Self {
        Self {
            quiet: true,
            ..Self::default()
        }
    }

    /// `prune --dry-run`: nothing written; each deletion it would make is logged.
    pub fn dry_run() -> Self {
        Self {
            say_would_delete: true,
            ..Self::default()
        }
    }

    /// Uploads this `prune` tried and that failed (their checkpoints were kept).
    pub fn upload_failures(&self) -> usize {
        self.uploads.as_ref().map_or(0, |u| u.failed)
    }

    /// `prune`'s interrupt kills a `before_delete` hook still running.
    pub fn stop_hooks_on(&mut self, shutdown: Shutdown) {
        self.stop_hooks = Some(shutdown);
    }

    /// `prune`; with `confirmed`, only those deletions (by run) may be made.
    pub fn pruning(confirmed: Option<HashMap<PathBuf, HashSet<String>>>) -> Self {
        Self {
            acting: true,
            say_would_delete: true,
            confirmed,
            ..Self::default()
        }
    }
}

impl Journal for OneShot {
    /// `prune` runs `before_delete` itself, to its end or its timeout, one at a time.
    fn approve(&mut self, run: &Path, watch: &Watch, v: &Verdict) -> Approval {
        use crate::hook::{hook_env, log_finished, run_command, Event};
        let Some(argv) = &watch.hooks.before_delete else {
            return Approval::Approved;
        };
        let env = hook_env(Event::BeforeDelete, run, watch, v);
        let stopping = || self.stop_hooks.as_ref().is_some_and(Shutdown::requested);
        if stopping() {
            // Interrupted: nothing more is asked, so nothing more is deleted.
            return Approval::Pending;
        }
        let done = run_command(argv, &env, watch.hooks.timeout, &stopping);
        log_finished(Event::BeforeDelete, run, &watch.name, &v.name, &done);
        if done.status.success() {
            Approval::Approved
        } else {
            Approval::Vetoed {
                why: done.veto(),
                first: true,
            }
        }
    }
}

impl Hooks for OneShot {
    fn acting(&self) -> bool {
        self.acting
    }

    fn remote(&mut self, run: &Path, watch: &Watch) -> Option<crate::upload::remote::RemotePlan> {
        watch.remote.as_ref()?;
        let acting = self.acting && !watch.dry_run;
        let state_dir = self.state_dir.clone();
        self.uploads
            .get_or_insert_with(|| {
                crate::upload::oneshot::OneShotUploads::new(state_dir.as_deref())
            })
            .remote(run, watch, acting)
    }

    /// `prune` uploads what is to be uploaded before deleting; the others ask the store.
    fn offload(&mut self, run: &Path, watch: &Watch, plan: &mut Plan) {
        if watch.upload.is_none() {
            return;
        }
        let acting = self.acting && !watch.dry_run;
        let state_dir = self.state_dir.clone();
        self.uploads
            .get_or_insert_with(|| {
                crate::upload::oneshot::OneShotUploads::new(state_dir.as_deref())
            })
            .offload(run, watch, plan, acting);
    }

    fn busy(&mut self, run: &Path) {
        tracing::warn!(run = %run.display(), "another ckptd is acting on {}: skipped", run.display());
    }

    fn lock_failed(&mut self, run: &Path, e: &io::Error) {
        tracing::error!(run = %run.display(), error = %e, "cannot take the run lock of {}: {e}{}; nothing deleted there", run.display(), crate::io_hint::hint(e));
    }

    /// Only where `prune` may delete and the storage clock is unknown: the first look holds
    /// the deletions back; the second counts as settled only what did not change since the
    /// first.
    fn settle(
        &mut self,
        run: &Path,
        _watch: &Watch,
        checkpoints: &mut [Checkpoint],
        clock: RunClock,
        deleting: bool,
    ) -> Settled {
        if !deleting || clock.on_storage {
            return Settled::default();
        }
        let Some(first) = self.first_looks.get(run) else {
            let fingerprints = checkpoints
                .iter()
                .map(|c| (c.name.clone(), c.fingerprint))
                .collect();
            let look = FirstLook {
                at: clock.now,
                fingerprints,
            };
            self.first_looks.insert(run.to_owned(), look);
            return Settled {
                hold: true,
                ..Settled::default()
            };
        };
        for c in checkpoints {
            let before = first.fingerprints.get(&c.name).copied().flatten();
            let unchanged = c.fingerprint.is_some() && before == c.fingerprint;
            c.stable_since = Some(if unchanged { first.at } else { clock.now });
        }
        Settled::default()
    }

    fn planned(
        &mut self,
        run: &Path,
        watch: &Watch,
        plan: &Plan,
        _clock: RunClock,
    ) -> Option<std::time::Instant> {
        if !self.quiet {
            log_plan(run, watch, plan);
        }
        None
    }

    fn overrides_invalid(&mut self, run: &Path, watch: &Watch, message: &str) {
        if !self.quiet {
            pass::log_overrides_invalid(run, watch, message);
        }
    }

    fn limits(&self, run: &Path, _looked: std::time::Duration) -> pass::Limits {
        let only = self
            .confirmed
            .as_ref()
            .map(|confirmed| confirmed.get(run).cloned().unwrap_or_default());
        pass::Limits {
            first_is_free: true,
            only,
            ..pass::Limits::default()
        }
    }

    fn pressure_orders(&mut self, run: &Path) -> Vec<crate::pressure::Order> {
        self.orders.remove(run).unwrap_or_default()
    }

    fn budget_unmet(&mut self, run: &Path, watch: &Watch, unmet: &crate::pressure::Unmet) {
        if !self.quiet && self.budgets_said.insert(run.to_owned()) {
            pass::log_budget_unmet(run, watch, unmet);
        }
    }

    fn would_delete(&mut self, run: &Path, watch: &Watch, v: &Verdict) {
        if self.say_would_delete {
            crate::execute::log_deletion(run, watch, v, "dry run: would delete checkpoint");
        }
    }

    fn would_slim(&mut self, run: &Path, watch: &Watch, v: &Verdict) {
        if self.say_would_delete {
            let would = crate::execute::slim::would_slim(v);
            crate::execute::slim::log_slim(run, watch, v, &would, "dry run: would slim");
        }
    }
}

/// `prune`'s second look at the runs whose first look was held back (their storage clock is
/// unknown): one wait of the longest `settle` among them, then a pass over each again.
pub fn look_again_where_the_clock_is_unknown(
    config: &Config,
    runs: &[Run],
    reports: &mut [PassReport],
    hooks: &mut OneShot,
    shutdown: &Shutdown,
) {
    let held: Vec<usize> = (0..reports.len())
        .filter(|&i| reports[i].held_back)
        .collect();
    let Some(wait) = held.iter().map(|&i| reports[i].watch.policy.settle).max() else {
        return;
    };
    for &i in &held {
        let run = &reports[i].run;
        tracing::warn!(run = %run.display(), settle = %crate::duration::show(wait), "storage clock of {} unknown (cannot stamp its .ckptd.lock): looking again in {} before deleting anything there", run.display(), crate::duration::show(wait));
    }
    let until = std::time::Instant::now() + wait;
    while !shutdown.requested() && std::time::Instant::now() < until {
        std::thread::sleep(std::time::Duration::from_millis(100).min(wait));
    }
    for &i in &held {
        if shutdown.requested() {
            return;
        }
        let run = &runs[i];
        reports[i] = pass::run(&run.path, &config.watches[run.watch], hooks, shutdown);
    }
}

/// DEBUG lines for every decision, and one WARN for the checkpoints keep_best cannot rank.
fn log_plan(run: &Path, watch: &Watch, plan: &Plan) {
    for v in &plan.verdicts {
        crate::report::log_decision(run, &watch.name, v);
    }
    let Some(best) = &watch.policy.keep_best else {
        return;
    };
    let unranked: Vec<&str> = plan.unranked().map(|v| v.name.as_str()).collect();
    if plan.held() {
        crate::report::log_held(run, &watch.name, &best.metric, plan);
    } else if !unranked.is_empty() {
        tracing::warn!(
            run = %run.display(),
            watch = %watch.name,
            metric = %best.metric,
            count = unranked.len(),
            first = unranked[0],
            "no metric found for some checkpoints: keep_best ignores {} of {} in {} (first: {}; no `{}` at their steps)",
            unranked.len(),
            plan.verdicts.len(),
            run.display(),
            unranked[0],
            best.metric
        );
    }
}
