//! The pressure step: when a run's `max_bytes` or a filesystem's floor or headroom is not met
//! after the rules' own decisions, pick what to slim or delete, in DESIGN's order (slim, then
//! what `within`/`every-window` keep, then `last`, `best`, `every-steps`; oldest completion
//! first inside each step), and stop as soon as the target is met. Pure: the shell measures
//! the filesystem and carries the orders out.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::candidates::{self, Candidate, Step};
use super::target::{shortfall, FilesystemTarget, FsState, Shortfall};
use crate::plan::Plan;

/// One run as pressure sees it: what its plan leaves and what pressure may take. Built from
/// a plan once, so the daemon can keep it between passes without keeping the plan.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSummary {
    pub run: PathBuf,
    /// The run's `max_bytes`.
    pub max_bytes: Option<u64>,
    /// The run's `stale_after`: a run whose newest checkpoint completed within it is active
    /// and gets headroom for its next save.
    pub active_within: Duration,
    /// Whether the filesystem's free space does not show the plan's own deletions and slims
    /// yet (they are still to be carried out, or only said, as in a dry run).
    pub plan_pending: bool,
    candidates: Vec<Candidate>,
    /// Completion time and size of the newest complete checkpoint(s).
    newest: Vec<(Option<SystemTime>, u64)>,
    /// Bytes already written of the save in progress: the incomplete checkpoint written to
    /// last, when that was since the newest complete one. They already take their space, so
    /// headroom asks only for the rest of the save.
    in_progress: u64,
    planned_to_free: (u64, u64),
    bytes_after: u64,
    /// What the plan keeps (name, bytes): what an unmet target reports as protected.
    kept: Vec<(String, u64)>,
    /// False for a run ckptd does not act on (a `dry_run` watch, an invalid `.ckptd.toml`).
    acting: bool,
    /// Every checkpoint (name, bytes), for `not_acting`.
    all: Vec<(String, u64)>,
    /// Bytes and inodes the run's checkpoints hold on disk: as scanned, less what the pass
    /// carried out (the shell sets it). The daemon compares it with the filesystem's free
    /// space to see deletions whose space has not come back yet.
    pub on_disk: (u64, u64),
}

impl RunSummary {
    /// The plan's decisions, of which those that `to_come` says are still to be carried out
    /// will free space that the filesystem does not show yet (`plan_pending` is then true).
    #[must_use]
    pub fn still_to_come(
        mut self,
        plan: &Plan,
        to_come: &dyn Fn(&crate::plan::Verdict) -> bool,
    ) -> Self {
        self.planned_to_free = candidates::still_to_free(plan, to_come);
        self.plan_pending = true;
        self
    }

    /// `run`'s plan as pressure sees it; `slims`: the run's policy has `slim_after`.
    pub fn new(run: &Path, plan: &Plan, slims: bool) -> Self {
        let newest: Vec<(Option<SystemTime>, u64)> = plan
            .verdicts
            .iter()
            .filter(|v| v.reasons.contains(&crate::plan::Reason::NewestComplete))
            .map(|v| (v.checkpoint.completed_at(), v.bytes.unwrap_or(0)))
            .collect();
        Self {
            run: run.to_owned(),
            max_bytes: None,
            active_within: Duration::from_hours(6),
            plan_pending: true,
            candidates: candidates::candidates(plan, slims),
            in_progress: in_progress(plan, &newest),
            newest,
            planned_to_free: candidates::planned_to_free(plan),
            bytes_after: candidates::run_bytes_after(plan),
            kept: plan
                .verdicts
                .iter()
                .filter(|v| v.decision != crate::plan::Decision::Delete)
                .map(|v| (v.name.clone(), v.bytes.unwrap_or(0)))
                .collect(),
            acting: true,
            all: plan
                .verdicts
                .iter()
                .map(|v| (v.name.clone(), v.bytes.unwrap_or(0)))
                .collect(),
            on_disk: plan.verdicts.iter().fold((0, 0), |(b, i), v| {
                (b + v.bytes.unwrap_or(0), i + candidates::inodes(v))
            }),
        }
    }

    /// The same run, for a filesystem's pressure, when ckptd does not act on it (a `dry_run`
    /// watch, an invalid `.ckptd.toml`): everything in it stays on disk, so it counts as
    /// held and protected, and pressure takes from the other runs on the filesystem; its
    /// would-be deletions free nothing.
    #[must_use]
    pub fn not_acting(mut self) -> Self {
        self.candidates.clear();
        self.planned_to_free = (0, 0);
        self.kept = std::mem::take(&mut self.all);
        self.acting = false;
        self
    }

    /// What the run's next save still needs, for headroom: the size of its newest complete
    /// checkpoint, when that completed within `active_within` of `now` (the run is still
    /// saving), less what the save in progress has already written.
    pub fn next_save(&self, now: SystemTime) -> u64 {
        self.save_size(now).saturating_sub(self.in_progress)
    }

    /// The size of the next save of an active run (0 for an idle one), before what is
    /// already written of it is taken off.
    fn save_size(&self, now: SystemTime) -> u64 {
        self.newest
            .iter()
            .filter(|(at, _)| {
                at.is_some_and(|t| now.duration_since(t).unwrap_or_default() <= self.active_within)
            })
            .map(|&(_, bytes)| bytes)
            .max()
            .unwrap_or(0)
    }

    /// Bytes already written of the run's save in progress.
    pub fn in_progress(&self) -> u64 {
        self.in_progress
    }

    /// What the plan's own deletions and slims free once carried out.
    pub fn planned_to_free(&self) -> (u64, u64) {
        self.planned_to_free
    }
}

/// Bytes of the save in progress: the incomplete checkpoint written to last, if that was at
/// or after the newest complete one completed. A save is one checkpoint: any other
/// incomplete one (a save that died, before or after the newest complete) is not growing
/// into the next save, and its bytes are no part of it.
fn in_progress(plan: &Plan, newest: &[(Option<SystemTime>, u64)]) -> u64 {
    let Some(since) = newest.iter().filter_map(|(at, _)| *at).max() else {
        return 0;
    };
    plan.verdicts
        .iter()
        .filter(|v| v.reasons.contains(&crate::plan::Reason::Incomplete))
        .filter_map(|v| Some((v.checkpoint.fingerprint?.newest_mtime, v.bytes?)))
        .filter(|&(written, _)| written >= since)
        .max()
        .map_or(0, |(_, bytes)| bytes)
}

/// What pressure does to one checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Slim,
    Delete,
}

/// One pressure decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    /// Index of the run in the input.
    pub run: usize,
    pub checkpoint: String,
    pub action: Action,
    pub step: Step,
    /// Bytes and inodes it frees (a deletion after a slim: only what the slim left).
    pub bytes: u64,
    pub inodes: u64,
    /// Why, for `plan` and the logs: "min_free 10% on /data: 6.2% free, oldest `last` beyond
    /// the newest".
    pub detail: String,
}

/// A target that all the candidates together could not meet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unmet {
    /// What is still missing after every order.
    pub missing: Shortfall,
    /// What pressure may not touch: bytes in protected, incomplete or pending checkpoints.
    pub protected_bytes: u64,
    pub protected_count: usize,
    /// The protected checkpoints (run index, name), oldest run entries first, for naming
    /// a few of them.
    pub protected: Vec<(usize, String)>,
    /// Runs whose checkpoints count as protected because ckptd does not act on them (a
    /// `dry_run` watch, an invalid `.ckptd.toml`).
    pub not_acting_runs: usize,
}

/// The outcome for one filesystem (or one run's budget).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Relief {
    pub orders: Vec<Order>,
    /// Per run with `max_bytes` that cannot be met: the run's index and what is missing.
    pub budgets_unmet: Vec<(usize, Unmet)>,
    /// The filesystem target, when it cannot be met.
    pub unmet: Option<Unmet>,
    /// How far the filesystem was from its target before any pressure decision (after the
    /// rules' own), for `status` and the logs.
    pub before: Shortfall,
}

/// A filesystem, its target and what statvfs says about it.
#[derive(Debug, Clone, Copy)]
pub struct Filesystem<'a> {
    pub target: &'a FilesystemTarget,
    pub state: FsState,
    /// Bytes and inodes that deletions already made have freed but `state` does not show yet
    /// (a file still open, an asynchronous free): counted as coming free.
    pub coming: (u64, u64),
}

/// Pressure decisions for `runs` (all on one filesystem, or one run alone with `fs` = None):
/// each run's `max_bytes` first, within the run, then the filesystem's target across all runs.
pub fn relieve(runs: &[RunSummary], fs: Option<Filesystem<'_>>, now: SystemTime) -> Relief {
    let mut relief = Relief::default();
    let mut taken = Taken::default();
    for (index, input) in runs.iter().enumerate() {
        if let Some(max) = input.max_bytes {
            budget(index, input, max, &mut taken, &mut relief);
        }
    }
    let Some(fs) = fs else {
        return relief;
    };
    let mut freed = fs.coming;
    for input in runs.iter().filter(|i| i.plan_pending) {
        freed.0 += input.planned_to_free.0;
        freed.1 += input.planned_to_free.1;
    }
    freed.0 += relief.orders.iter().map(|o| o.bytes).sum::<u64>();
    freed.1 += relief.orders.iter().map(|o| o.inodes).sum::<u64>();
    let headroom: u64 = runs.iter().map(|i| i.next_save(now)).sum();
    let need = |freed: (u64, u64)| shortfall(fs.target, fs.state, freed, headroom);
    relief.before = need(freed);
    if relief.before.is_met() {
        return relief;
    }
    let written: u64 = runs
        .iter()
        .map(|i| i.save_size(now).min(i.in_progress))
        .sum();
    let why = describe_filesystem(fs, headroom, written);
    let mut pool: Vec<(usize, Candidate)> = Vec::new();
    for (index, input) in runs.iter().enumerate() {
        for c in &input.candidates {
            pool.push((index, c.clone()));
        }
    }
    sort_pool(&mut pool, runs);
    for (run, candidate) in pool {
        if need(freed).is_met() {
            return relief;
        }
        if let Some(order) = taken.take(run, &candidate, &why) {
            freed.0 += order.bytes;
            freed.1 += order.inodes;
            relief.orders.push(order);
        }
    }
    let missing = need(freed);
    if !missing.is_met() {
        relief.unmet = Some(unmet(runs, &taken, missing));
    }
    relief
}

/// A run's `max_bytes`: what it holds after its plan, brought under the budget from its own
/// candidates.
fn budget(index: usize, input: &RunSummary, max: u64, taken: &mut Taken, relief: &mut Relief) {
    let holds = input.bytes_after;
    if holds <= max {
        return;
    }
    let why = format!(
        "max_bytes {} on {}: it holds {}",
        crate::report::human_bytes(max),
        input.run.display(),
        crate::report::human_bytes(holds)
    );
    let mut pool: Vec<(usize, Candidate)> = input
        .candidates
        .iter()
        .map(|c| (index, c.clone()))
        .collect();
    sort_pool(&mut pool, std::slice::from_ref(input));
    let mut over = holds - max;
    for (run, candidate) in pool {
        if over == 0 {
            return;
        }
        if let Some(order) = taken.take(run, &candidate, &why) {
            over = over.saturating_sub(order.bytes);
            relief.orders.push(order);
        }
    }
    if over > 0 {
        let missing = Shortfall {
            bytes: over,
            want_bytes: max,
            ..Shortfall::default()
        };
        relief
            .budgets_unmet
            .push((index, unmet(std::slice::from_ref(input), taken, missing)));
    }
}

/// DESIGN's order: by step, then oldest completion first, then run and name for a stable
/// result (unknown completion times last: never expected here, as only complete checkpoints
/// are candidates).
fn sort_pool(pool: &mut [(usize, Candidate)], runs: &[RunSummary]) {
    pool.sort_by(|(ra, a), (rb, b)| {
        a.step
            .cmp(&b.step)
            .then_with(|| match (a.completed_at, b.completed_at) {
                (Some(x), Some(y)) => x.cmp(&y),
                (x, y) => y.is_some().cmp(&x.is_some()).reverse(),
            })
            .then_with(|| runs[*ra].run.cmp(&runs[*rb].run))
            .then_with(|| a.checkpoint.cmp(&b.checkpoint))
    });
}

/// What pressure has taken so far, so no checkpoint is ordered twice and a deletion after a
/// slim counts only what the slim left.
#[derive(Debug, Default)]
struct Taken {
    slimmed: HashSet<(usize, String)>,
    deleted: HashSet<(usize, String)>,
}

impl Taken {
    fn take(&mut self, run: usize, c: &Candidate, why: &str) -> Option<Order> {
        let key = (run, c.checkpoint.clone());
        if self.deleted.contains(&key) {
            return None;
        }
        let (action, bytes, inodes) = if c.step == Step::Slim {
            if !self.slimmed.insert(key) {
                return None;
            }
            (Action::Slim, c.bytes, c.inodes)
        } else {
            let (bytes, inodes) = if self.slimmed.contains(&key) {
                (
                    c.bytes.saturating_sub(c.slim_bytes),
                    c.inodes.saturating_sub(c.slim_inodes),
                )
            } else {
                (c.bytes, c.inodes)
            };
            self.deleted.insert(key);
            (Action::Delete, bytes, inodes)
        };
        Some(Order {
            run,
            checkpoint: c.checkpoint.clone(),
            action,
            step: c.step,
            bytes,
            inodes,
            detail: format!("{why}, {}", c.step.describe()),
        })
    }

    fn has(&self, run: usize, checkpoint: &str) -> bool {
        self.deleted.contains(&(run, checkpoint.to_owned()))
    }
}

/// What is protected in `runs` (everything neither deleted by the plan nor by pressure).
fn unmet(runs: &[RunSummary], taken: &Taken, missing: Shortfall) -> Unmet {
    let mut protected_bytes = 0;
    let mut protected = Vec::new();
    for (index, input) in runs.iter().enumerate() {
        for (name, bytes) in &input.kept {
            if !taken.has(index, name) {
                protected_bytes += bytes;
                protected.push((index, name.clone()));
            }
        }
    }
    Unmet {
        missing,
        protected_bytes,
        protected_count: protected.len(),
        protected,
        not_acting_runs: runs.iter().filter(|r| !r.acting).count(),
    }
}

/// "min_free 10% on /data: 6.2% free" — the target that is not met, as the detail of each
/// pressure decision it causes.
fn describe_filesystem(fs: Filesystem<'_>, headroom: u64, written: u64) -> String {
    use super::target::Unit;
    let (target, state) = (fs.target, fs.state);
    let on = target.path.display();
    let mut parts = Vec::new();
    if let Some(floor) = target.min_free {
        parts.push(format!("min_free {}", floor.show(Unit::Bytes)));
    }
    if target.headroom {
        let written = if written > 0 {
            format!(" ({} more already written)", Unit::Bytes.show(written))
        } else {
            String::new()
        };
        parts.push(format!(
            "headroom {} for the next saves{written}",
            Unit::Bytes.show(headroom)
        ));
    }
    if let Some(floor) = target.min_free_inodes {
        parts.push(format!("min_free_inodes {}", floor.show(Unit::Inodes)));
    }
    #[allow(clippy::cast_precision_loss)]
    let percent = |free: u64, total: u64| {
        if total == 0 {
            0.0
        } else {
            free as f64 * 100.0 / total as f64
        }
    };
    let mut free = Vec::new();
    if target.min_free.is_some() || target.headroom {
        free.push(format!(
            "{} free ({:.1}%)",
            Unit::Bytes.show(state.free_bytes),
            percent(state.free_bytes, state.total_bytes)
        ));
    }
    if target.min_free_inodes.is_some() {
        free.push(format!(
            "{} inodes free ({:.1}%)",
            state.free_inodes,
            percent(state.free_inodes, state.total_inodes)
        ));
    }
    format!("{} on {on}: {}", parts.join(" + "), free.join(", "))
}
