//! One daemon pass over one run: lock, overrides, scan, settle, plan, log what changed, act,
//! and say when to look again. The same scanner, planner and executor as `ckptd prune`, so a
//! rescan and the events converge on the same decisions.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, SystemTime};

use crate::checkpoint::{Checkpoint, Kind, Writers};
use crate::storage_clock::RunClock;

use tokio::time::Instant;

use super::events::OwnRemovals;
use super::ledger::Ledger;
use super::memory::{RunMemory, Said, Seen};
use super::settle::{Settle, Tracker};
use crate::config::{apply_run_overrides, Watch};
use crate::execute::{self, Journal};
use crate::plan::{plan, Decision, MetricState, Reason, Verdict};

/// The furthest ahead a pass schedules a look: later deadlines are left to rescans.
const FAR_DEADLINE: Duration = Duration::from_secs(86_400 * 365);

/// How long a pass may spend deleting: at least `at_least`, or as long as its look took (so
/// looking again costs at most half of working off a backlog), but never past `not_after`.
/// After READY the first deletion is always made, so a backlog always shrinks; before READY
/// (`not_after` set) nothing is tried past the deadline.
#[derive(Debug, Clone, Copy)]
pub struct Slice {
    pub at_least: Duration,
    pub not_after: Option<Instant>,
}

/// What a pass found and did.
// Independent facts about one pass, not a state machine.
#[allow(clippy::struct_excessive_bools)]
#[derive(Debug, Default)]
pub struct PassOutcome {
    /// The run directory is gone: forget it.
    pub gone: bool,
    /// Another process holds the run lock: try again later.
    pub busy: bool,
    pub executed: execute::Outcome,
    /// When to look at this run again, if anything is pending.
    pub recheck_at: Option<Instant>,
    pub checkpoints: usize,
    pub in_progress: usize,
    /// Trash could not be emptied (an immutable file, say): retry on a timer, since a quiet
    /// run may see no other pass for a long time.
    pub trash_left: bool,
    /// Nothing was deleted, and every deletion tried had failed before too.
    pub only_known_failures: bool,
}

/// Runs one pass. `stopping` is checked between deletions, and so is the end of `slice`.
/// Each checkpoint about to be moved away is announced in `own_removals` first.
pub fn run_pass(
    run: &Path,
    base: &Watch,
    memory: &mut RunMemory,
    ledger: &mut Ledger,
    own_removals: &OwnRemovals,
    stopping: &AtomicBool,
    slice: Slice,
) -> PassOutcome {
    let started = Instant::now();
    let mut outcome = PassOutcome::default();
    if !run.is_dir() {
        outcome.gone = true;
        return outcome;
    }
    let lock = match crate::lock::try_lock(run) {
        Ok(Some(lock)) => lock,
        Ok(None) => {
            tracing::debug!(run = %run.display(), "another ckptd holds the run lock: pass skipped");
            outcome.busy = true;
            return outcome;
        }
        Err(e) => {
            if !run.is_dir() {
                outcome.gone = true;
            } else if memory.lock_error_logged {
                tracing::debug!(run = %run.display(), error = %e, "cannot take the run lock: pass skipped");
                outcome.busy = true;
            } else {
                // Once per run: a read-only mount or a filesystem without flock stays so.
                tracing::error!(run = %run.display(), error = %e, "cannot take the run lock of {}: {e}{}; this run is left alone until it can be taken", run.display(), crate::io_hint::hint(&e));
                memory.lock_error_logged = true;
                outcome.busy = true;
            }
            return outcome;
        }
    };
    memory.lock_error_logged = false;
    // "Now" on the clock that stamps this run's files (see `storage_clock`).
    let clock = RunClock::of(run, lock.file());
    if !clock.on_storage && !memory.clock_warned {
        memory.clock_warned = true;
        tracing::warn!(run = %run.display(), "cannot write ckptd's clock probe {}/.ckptd.lock (a full filesystem, a lock file owned by another user, or a filesystem whose clients stamp their own times): the storage clock is unknown, so a checkpoint counts as complete only after ckptd has seen it unchanged for {}", run.display(), crate::duration::show(base.policy.settle));
    } else if clock.on_storage {
        memory.clock_warned = false;
    }
    // Taken before scanning (after the lock file exists): a change during the pass makes the
    // next rescan look again.
    memory.dir_stamp = super::memory::dir_stamp(run);
    // Holding the lock, whatever is in the trash is a leftover (of a crash, or of a removal
    // that failed): finish it.
    outcome.trash_left = execute::empty_leftover_trash(run, ledger) > 0;
    let watch = effective_watch(run, base, memory);
    let remembered = &*memory;
    let confirmed = |name: &str| remembered.get(name).and_then(|s| s.tracker.confirmed());
    let mut checkpoints = match crate::scan::scan_run_knowing(run, &watch, &confirmed) {
        Ok(c) => c,
        Err(e) => {
            outcome.gone = !run.is_dir();
            if !outcome.gone {
                tracing::warn!(run = %run.display(), error = %e, "cannot list run directory {}: {e}", run.display());
            }
            return outcome;
        }
    };
    let now = Instant::now();

    // Settle: the tracker knows what a one-shot scan cannot (a change that kept old mtimes,
    // and on an unknown storage clock, how long we have seen it unchanged).
    let present: HashSet<&str> = checkpoints.iter().map(|c| c.name.as_str()).collect();
    memory.retain(&present);
    let mut recheck: Vec<Instant> = Vec::new();
    let mut new = Vec::new();
    for c in &mut checkpoints {
        let Some(fingerprint) = c.fingerprint else {
            continue;
        };
        let tracker = if let Some(seen) = memory.get_mut(&c.name) {
            seen.tracker.observe(fingerprint, now, clock);
            &seen.tracker
        } else {
            new.push((
                c.name.as_str().into(),
                Seen::new(Tracker::new(fingerprint, now, clock)),
            ));
            &new.last().expect("just pushed").1.tracker
        };
        c.stable_since = Some(tracker.stable_since(now, clock));
        if let Settle::Writing { recheck_at } = tracker.state(watch.policy.settle, now, clock) {
            recheck.push(recheck_at);
        }
    }
    memory.insert_new(new);

    let plan = plan(&checkpoints, &watch.policy, clock.now);
    let by_name: HashMap<&str, &Checkpoint> =
        checkpoints.iter().map(|c| (c.name.as_str(), c)).collect();
    remember_confirmed(run, &watch.name, memory, &plan.verdicts, &by_name);
    log_changes(
        run,
        &watch,
        memory,
        ledger,
        &plan.verdicts,
        &by_name,
        clock.now,
    );
    // Held (DESIGN invariant 9): one ERROR while it lasts, said again if it comes back.
    let held = plan.held();
    if held && !memory.held_said {
        if let Some(best) = &watch.policy.keep_best {
            crate::report::log_held(run, &watch.name, &best.metric, &plan);
        }
    }
    memory.held_said = held;
    recheck.extend(pending_deadlines(
        &watch,
        &plan.verdicts,
        &by_name,
        now,
        clock.now,
    ));
    outcome.checkpoints = plan.verdicts.len();
    outcome.in_progress = plan.verdicts.iter().filter(|v| !v.is_complete()).count();
    if watch.dry_run {
        // Said once per checkpoint, not on every pass.
        for v in plan.deletions() {
            if memory
                .get_mut(&v.name)
                .is_none_or(|seen| seen.set(Said::WouldDelete))
            {
                execute::log_deletion(run, &watch, v, "dry run: would delete checkpoint");
            }
        }
    } else {
        let end = Instant::now() + slice.at_least.max(started.elapsed());
        let remembered = &*memory;
        let failed_before = |name: &str| remembered.get(name).is_some_and(|s| s.has(Said::Failed));
        let until = execute::Until {
            stopping,
            deadline: Some(slice.not_after.map_or(end, |n| n.min(end)).into_std()),
            // Before READY the deadline is hard: past it, nothing more is tried.
            first_is_free: slice.not_after.is_none(),
            try_last: Some(&failed_before),
        };
        let mut journal = Announcing {
            ledger,
            own_removals,
        };
        outcome.executed = execute::carry_out_until(
            run,
            &watch,
            &plan,
            &checkpoints,
            false,
            &until,
            &mut journal,
        );
        outcome.trash_left |= outcome.executed.trash_left;
        // Only failures already known before this pass: the run may then wait instead of
        // coming back at once (a first failure is tried last next time, behind the others).
        outcome.only_known_failures = outcome.executed.deleted.is_empty()
            && !outcome.executed.failed_names.is_empty()
            && outcome
                .executed
                .failed_names
                .iter()
                .all(|name| memory.get(name).is_some_and(|s| s.has(Said::Failed)));
        for name in &outcome.executed.failed_names {
            if let Some(seen) = memory.get_mut(name) {
                seen.set(Said::Failed);
            }
        }
    }
    if !outcome.executed.deleted.is_empty() {
        ledger.save();
    }
    memory.watched_dirs = mark_kept_directories(memory, &plan.verdicts, &by_name);
    outcome.recheck_at = recheck.into_iter().min();
    // A log that only adds metrics by name to the lines (nothing ranked) wakes no pass: a
    // TensorBoard file is written every few steps.
    memory.metric_dirs = watch
        .metric_source
        .as_ref()
        .filter(|_| watch.policy.keep_best.is_some())
        .map(|s| s.log_dirs(run))
        .unwrap_or_default();
    outcome
}

/// The ledger, which also tells the watcher which removals are ckptd's own, right before the
/// renames that cause them.
struct Announcing<'a> {
    ledger: &'a mut Ledger,
    own_removals: &'a OwnRemovals,
}

impl Journal for Announcing<'_> {
    fn deleting(&mut self, run: &Path, watch: &str, v: &Verdict) {
        self.ledger.deleting(run, watch, v);
    }
    fn moving(&mut self, run: &Path, v: &Verdict) {
        self.own_removals.expect(run.join(&v.name));
    }
    fn deleted(&mut self, run: &Path, watch: &str, v: &Verdict) {
        self.ledger.deleted(run, watch, v);
    }
    fn not_deleted(&mut self, run: &Path, watch: &str, v: &Verdict, error: &str, in_trash: bool) {
        self.ledger.not_deleted(run, watch, v, error, in_trash);
    }
    fn trash_removed(&mut self, run: &Path, path: &Path) {
        self.ledger.trash_removed(run, path);
    }
    fn sync(&mut self) {
        self.ledger.sync();
    }
}

/// Marks in its tracker each checkpoint this look found complete with no writer, so later
/// passes may skip the open-writer walk while its fingerprint stays the same; a checkpoint that
/// changed after it was complete (rewritten in place) has its completion logged again.
fn remember_confirmed(
    run: &Path,
    watch: &str,
    memory: &mut RunMemory,
    verdicts: &[Verdict],
    by_name: &HashMap<&str, &Checkpoint>,
) {
    for v in verdicts {
        let Some(c) = by_name.get(v.name.as_str()) else {
            continue;
        };
        if !v.is_complete() {
            if memory
                .get_mut(&c.name)
                .is_some_and(|seen| seen.clear(Said::Complete))
            {
                tracing::info!(run = %run.display(), watch = %watch, checkpoint = %c.name, step = c.step, reason = %v.detail, "checkpoint changed after it was complete (re-saved in place?): {} is incomplete again until it settles", c.name);
            }
        } else if let (Writers::Checked { open: false }, Some(f)) = (c.writers, c.fingerprint) {
            let Some(seen) = memory.get_mut(&c.name) else {
                continue;
            };
            if c.confirmed.is_some_and(|before| before != f.digest()) {
                // Re-saved in place and already settled when we looked: a new completion,
                // logged as such.
                seen.clear(Said::Complete);
            }
            // The tracker observed this very fingerprint in this pass.
            seen.tracker.confirm();
        }
    }
}

/// Marks the complete directory checkpoints the plan keeps, and returns the newest few of them
/// (in checkpoint order): the daemon watches those, and fingerprints all marked ones at each
/// periodic rescan, so a trainer rewriting one in place is noticed although nothing changes in
/// the run directory itself.
fn mark_kept_directories(
    memory: &mut RunMemory,
    verdicts: &[Verdict],
    by_name: &HashMap<&str, &Checkpoint>,
) -> Vec<String> {
    let mut kept = Vec::new();
    for v in verdicts {
        let is_kept_dir = v.is_complete()
            && v.decision == Decision::Keep
            && by_name
                .get(v.name.as_str())
                .is_some_and(|c| c.kind == Kind::Dir && c.fingerprint.is_some());
        let Some(seen) = memory.get_mut(&v.name) else {
            continue;
        };
        if is_kept_dir {
            seen.set(Said::KeptDir);
            kept.push(v.name.clone());
        } else {
            seen.clear(Said::KeptDir);
        }
    }
    let newest = kept.len().saturating_sub(super::WATCHED_KEPT_DIRS);
    kept.split_off(newest)
}

/// The watch with the run's `.ckptd.toml` applied; an invalid file is one WARN per change.
fn effective_watch(run: &Path, base: &Watch, memory: &mut RunMemory) -> Watch {
    match apply_run_overrides(base, run) {
        Ok(found) => {
            memory.overrides_error = None;
            found.unwrap_or_else(|| base.clone())
        }
        Err(errors) => {
            let message = errors.to_string();
            if memory.overrides_error.as_ref() != Some(&message) {
                tracing::warn!(run = %run.display(), watch = %base.name, error = %message, "run overrides invalid: the watch's policy applies to {}: {message}", run.display());
                memory.overrides_error = Some(message);
            }
            base.clone()
        }
    }
}

/// INFO when a checkpoint is first seen complete (and a ledger line); DEBUG when a decision
/// changes; WARN once for a stale incomplete checkpoint and once per unranked one. Nothing for
/// unchanged decisions.
#[allow(clippy::too_many_arguments)]
fn log_changes(
    run: &Path,
    watch: &Watch,
    memory: &mut RunMemory,
    ledger: &mut Ledger,
    verdicts: &[Verdict],
    by_name: &HashMap<&str, &Checkpoint>,
    wall_now: SystemTime,
) {
    let metric = watch.policy.keep_best.as_ref().map(|b| b.metric.as_str());
    if !memory.adopted {
        // What was on disk before we looked is summed up in one line, not thousands.
        memory.adopted = true;
        let complete: Vec<&Verdict> = verdicts.iter().filter(|v| v.is_complete()).collect();
        let bytes: u64 = complete.iter().filter_map(|v| v.bytes).sum();
        let completed = |v: &Verdict| by_name.get(v.name.as_str()).and_then(|c| c.completed_at());
        // What the ledger already has (an earlier daemon saw it) is not written again; the
        // rest in one write (no deletion is recorded inside).
        ledger.batched(|ledger| {
            for v in &complete {
                if let Some(seen) = memory.get_mut(&v.name) {
                    seen.set(Said::Complete);
                    if v.metric == MetricState::Pending {
                        seen.set(Said::MetricPending);
                    }
                }
                ledger.complete(run, &watch.name, v, completed(v), metric);
            }
        });
        tracing::info!(
            run = %run.display(),
            watch = %watch.name,
            complete = complete.len(),
            in_progress = verdicts.len() - complete.len(),
            bytes,
            "run adopted: {} complete checkpoints ({}), {} in progress",
            complete.len(),
            crate::report::human_bytes(bytes),
            verdicts.len() - complete.len()
        );
    }
    for v in verdicts {
        let reasons = v.reasons_text();
        let mut seen = memory.get_mut(&v.name);
        if v.is_complete() && seen.as_mut().is_none_or(|s| s.set(Said::Complete)) {
            let value = v.metric.value();
            let named = v.metrics.text(metric.map(|m| (m, value)));
            tracing::info!(
                run = %run.display(),
                watch = %watch.name,
                checkpoint = %v.name,
                step = v.step,
                bytes = v.bytes,
                metric = metric.map(tracing::field::display),
                value,
                metrics = %v.metrics.to_json(),
                decision = v.decision.as_str(),
                reasons = %reasons,
                "checkpoint complete: {} (step {}){}{}: {}",
                v.name,
                v.step.map_or_else(|| "-".to_owned(), |s| s.to_string()),
                if named.is_empty() { "" } else { " " },
                named,
                reasons
            );
            let completed = by_name.get(v.name.as_str()).and_then(|c| c.completed_at());
            ledger.complete(run, &watch.name, v, completed, metric);
            if v.metric == MetricState::Pending {
                if let Some(seen) = seen.as_mut() {
                    seen.set(Said::MetricPending);
                }
            }
        } else if v.metric != MetricState::Pending
            && seen.as_mut().is_some_and(|s| s.clear(Said::MetricPending))
        {
            // Recorded complete while its run-level metric had not arrived: now it has (or
            // never will), and `history` should show it.
            let value = v.metric.value();
            tracing::info!(
                run = %run.display(),
                watch = %watch.name,
                checkpoint = %v.name,
                step = v.step,
                metric = metric.map(tracing::field::display),
                value,
                metrics = %v.metrics.to_json(),
                "{} for checkpoint {} (step {}): {}",
                if value.is_some() || metric.is_none() {
                    "metric arrived"
                } else {
                    "metric given up"
                },
                v.name,
                v.step.map_or_else(|| "-".to_owned(), |s| s.to_string()),
                match (metric, value) {
                    (Some(m), Some(_)) => v.metrics.text(Some((m, value))),
                    (Some(m), None) => format!("no {m} (unranked)"),
                    (None, _) => v.metrics.text(None),
                }
            );
            let completed = by_name.get(v.name.as_str()).and_then(|c| c.completed_at());
            ledger.metrics(run, &watch.name, v, completed, metric);
        }
        if seen
            .as_mut()
            .is_none_or(|s| s.log_decision(v.decision, &v.reasons))
        {
            crate::report::log_decision(run, v);
        }
        // In a held run every checkpoint is unranked: its one ERROR says it for all.
        if v.metric == MetricState::Unranked
            && v.is_complete()
            && !v.reasons.contains(&Reason::Held)
            && seen.as_mut().is_none_or(|s| s.set(Said::Unranked))
        {
            let metric = watch
                .policy
                .keep_best
                .as_ref()
                .map_or("", |b| b.metric.as_str());
            tracing::warn!(run = %run.display(), checkpoint = %v.name, step = v.step, metric, "no metric found: keep_best ignores checkpoint {} in {} (no `{metric}` at its step)", v.name, run.display());
        }
        if !v.is_complete() {
            let age = by_name
                .get(v.name.as_str())
                .and_then(|c| c.completed_at())
                .and_then(|t| wall_now.duration_since(t).ok());
            if age.is_some_and(|a| a >= watch.stale_after)
                && seen.as_mut().is_none_or(|s| s.set(Said::Stale))
            {
                tracing::warn!(
                    run = %run.display(),
                    checkpoint = %v.name,
                    step = v.step,
                    bytes = v.bytes,
                    reason = %v.detail,
                    untouched = %crate::duration::show(age.unwrap_or_default()),
                    "incomplete checkpoint untouched for a long time (a crashed save?): never deleted by ckptd"
                );
            }
        }
    }
}

/// When a kept-for-now decision may change without any file event: a pending metric times
/// out, an incomplete checkpoint whose marker is inside it (no event) may now be there.
fn pending_deadlines(
    watch: &Watch,
    verdicts: &[Verdict],
    by_name: &HashMap<&str, &Checkpoint>,
    now: Instant,
    wall_now: SystemTime,
) -> Vec<Instant> {
    let mut out = Vec::new();
    for v in verdicts {
        let completed = by_name.get(v.name.as_str()).and_then(|c| c.completed_at());
        if v.reasons.contains(&Reason::MetricPending) {
            if let Some(t) = completed {
                // Checked: an mtime near the end of time (any writer can set one) must not
                // overflow; a deadline that far away is the next rescan's business.
                if let Some(timeout_at) = t.checked_add(watch.policy.metric_timeout) {
                    let wait = timeout_at.duration_since(wall_now).unwrap_or_default();
                    out.push(now + wait.min(FAR_DEADLINE));
                }
            }
        }
        if !v.is_complete() && v.decision == Decision::Keep {
            // Quiet but not complete (marker missing, open for writing): look again after a
            // settle period, backing off to the rescan for long-abandoned saves.
            let age = completed
                .and_then(|t| wall_now.duration_since(t).ok())
                .unwrap_or_default();
            if age < watch.stale_after {
                out.push(now + watch.policy.settle.max(Duration::from_secs(1)));
            }
        }
    }
    out
}
