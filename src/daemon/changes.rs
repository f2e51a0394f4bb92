//! What the daemon says about a run's plan, once: INFO when a checkpoint is first seen
//! complete (and a ledger line), when a pending metric arrives; DEBUG when a decision changes;
//! WARN once for a stale incomplete checkpoint and once per unranked one; one ERROR while a
//! run is held. Nothing for unchanged decisions.

use std::path::Path;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use super::ledger::Ledger;
use super::memory::{RunMemory, Said, Seen};
use crate::config::Watch;
use crate::plan::{Decision, MetricState, Plan, Reason, Verdict};

/// The furthest ahead a pass schedules a look: later deadlines are left to rescans.
const FAR_DEADLINE: Duration = Duration::from_hours(8760);

/// Logs what changed in `plan` since the last pass, and records completions in the ledger.
/// Returns the checkpoints seen complete for the first time while watching (not those
/// adopted): what `on_complete` is run for.
pub fn log<'p>(
    run: &Path,
    watch: &Watch,
    memory: &mut RunMemory,
    ledger: &mut Ledger,
    plan: &'p Plan,
    wall_now: SystemTime,
) -> Vec<&'p Verdict> {
    let mut completed = Vec::new();
    let said = RunLines {
        run,
        watch,
        metric: watch.policy.keep_best.as_ref().map(|b| b.metric.as_str()),
    };
    if !memory.adopted {
        said.adopted(memory, ledger, &plan.verdicts);
    }
    for v in &plan.verdicts {
        let mut seen = memory.get_mut(&v.name);
        if said.completion(v, seen.as_deref_mut(), ledger) {
            completed.push(v);
        }
        if seen
            .as_mut()
            .is_none_or(|s| s.log_decision(v.decision, &v.reasons))
        {
            crate::report::log_decision(run, &watch.name, v);
        }
        said.unranked(v, seen.as_deref_mut());
        said.stale(v, seen, wall_now);
    }
    // Held (DESIGN invariant 9): one ERROR while it lasts, said again if it comes back.
    let held = plan.held();
    if held && !memory.held_said {
        if let Some(metric) = said.metric {
            crate::report::log_held(run, &watch.name, metric, plan);
        }
    }
    memory.held_said = held;
    completed
}

/// The run and watch a pass's lines are about.
struct RunLines<'a> {
    run: &'a Path,
    watch: &'a Watch,
    /// The `keep_best` metric, if any.
    metric: Option<&'a str>,
}

impl RunLines<'_> {
    /// What was on disk before we looked is summed up in one line, not thousands. What the
    /// ledger already has (an earlier daemon saw it) is not written again; the rest in one
    /// write (no deletion is recorded inside).
    fn adopted(&self, memory: &mut RunMemory, ledger: &mut Ledger, verdicts: &[Verdict]) {
        memory.adopted = true;
        let complete: Vec<&Verdict> = verdicts.iter().filter(|v| v.is_complete()).collect();
        let bytes: u64 = complete.iter().filter_map(|v| v.bytes).sum();
        ledger.batched(|ledger| {
            for v in &complete {
                if let Some(seen) = memory.get_mut(&v.name) {
                    seen.set(Said::Complete);
                    if v.metric == MetricState::Pending {
                        seen.set(Said::MetricPending);
                    }
                }
                let completed = v.checkpoint.completed_at();
                ledger.complete(self.run, &self.watch.name, v, completed, self.metric);
            }
        });
        let in_progress = verdicts.len() - complete.len();
        tracing::info!(
            run = %self.run.display(),
            watch = %self.watch.name,
            complete = complete.len(),
            in_progress,
            bytes,
            "run adopted: {} complete checkpoints ({}), {in_progress} in progress",
            complete.len(),
            crate::report::human_bytes(bytes),
        );
    }

    /// INFO and a ledger line when `v` is first seen complete, or when the run-level metric
    /// it was recorded without has arrived (or never will).
    /// Returns whether `v` was first seen complete now.
    fn completion(&self, v: &Verdict, mut seen: Option<&mut Seen>, ledger: &mut Ledger) -> bool {
        let completed = v.checkpoint.completed_at();
        if v.is_complete() && seen.as_mut().is_none_or(|s| s.set(Said::Complete)) {
            self.complete(v);
            ledger.complete(self.run, &self.watch.name, v, completed, self.metric);
            if v.metric == MetricState::Pending {
                if let Some(seen) = seen {
                    seen.set(Said::MetricPending);
                }
            }
            return true;
        } else if v.metric != MetricState::Pending
            && seen.is_some_and(|s| s.clear(Said::MetricPending))
        {
            // Recorded complete while its run-level metric had not arrived: now it has (or
            // never will), and `history` should show it.
            self.metric_arrived(v);
            ledger.metrics(self.run, &self.watch.name, v, completed, self.metric);
        }
        false
    }

    fn complete(&self, v: &Verdict) {
        let value = v.metric.value();
        let named = v.checkpoint.metrics.text(self.metric.map(|m| (m, value)));
        let reasons = v.reasons_text();
        tracing::info!(
            run = %self.run.display(),
            watch = %self.watch.name,
            checkpoint = %v.name,
            step = v.step,
            bytes = v.bytes,
            metric = self.metric.map(tracing::field::display),
            value,
            metrics = %v.checkpoint.metrics.to_json(),
            decision = v.decision.as_str(),
            reasons = %reasons,
            "checkpoint complete: {} (step {}){}{}: {}",
            v.name,
            step_text(v),
            if named.is_empty() { "" } else { " " },
            named,
            reasons
        );
    }

    fn metric_arrived(&self, v: &Verdict) {
        let value = v.metric.value();
        let what = match (self.metric, value) {
            (Some(m), Some(_)) => v.checkpoint.metrics.text(Some((m, value))),
            (Some(m), None) => format!("no {m} (unranked)"),
            (None, _) => v.checkpoint.metrics.text(None),
        };
        tracing::info!(
            run = %self.run.display(),
            watch = %self.watch.name,
            checkpoint = %v.name,
            step = v.step,
            metric = self.metric.map(tracing::field::display),
            value,
            metrics = %v.checkpoint.metrics.to_json(),
            "{} for checkpoint {} (step {}): {what}",
            if value.is_some() || self.metric.is_none() {
                "metric arrived"
            } else {
                "metric given up"
            },
            v.name,
            step_text(v),
        );
    }

    /// Once per checkpoint. In a held run every checkpoint is unranked: its one ERROR says it
    /// for all.
    fn unranked(&self, v: &Verdict, seen: Option<&mut Seen>) {
        if v.metric == MetricState::Unranked
            && v.is_complete()
            && !v.reasons.contains(&Reason::Held)
            && seen.is_none_or(|s| s.set(Said::Unranked))
        {
            let metric = self.metric.unwrap_or("");
            tracing::warn!(run = %self.run.display(), checkpoint = %v.name, step = v.step, metric, "no metric found: keep_best ignores checkpoint {} in {} (no `{metric}` at its step)", v.name, self.run.display());
        }
    }

    /// Once per checkpoint: a crashed save, never deleted.
    fn stale(&self, v: &Verdict, seen: Option<&mut Seen>, wall_now: SystemTime) {
        let Some(age) = v.stale(wall_now, self.watch.stale_after) else {
            return;
        };
        if seen.is_none_or(|s| s.set(Said::Stale)) {
            crate::report::warn_stale(self.run, v, age);
        }
    }
}

fn step_text(v: &Verdict) -> String {
    v.step.map_or_else(|| "-".to_owned(), |s| s.to_string())
}

/// When a kept-for-now decision may change without any file event: a pending metric times
/// out, an incomplete checkpoint whose marker is inside it (no event) may now be there.
pub fn pending_deadlines(
    watch: &Watch,
    verdicts: &[Verdict],
    now: Instant,
    wall_now: SystemTime,
) -> Vec<Instant> {
    let mut out = Vec::new();
    for v in verdicts {
        let completed = v.checkpoint.completed_at();
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
