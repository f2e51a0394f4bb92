//! The pure core: checkpoints + policy + clock → a plan with every reason.
//!
//! `plan` reads no filesystem and no clock; `now` is passed in, so every time rule is tested
//! without waiting. Each checkpoint comes out as `keep` or `delete` with the list of reasons in
//! DESIGN.md's vocabulary. Rules add up (a union, as restic `forget` does): a checkpoint is
//! deleted only when no rule and no protection keeps it.

mod assess;
pub mod calendar;
mod milestones;
mod reason;
mod rules;
mod slim;
mod view;
mod windows;

#[cfg(test)]
mod milestone_tests;
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod slim_tests;
#[cfg(test)]
pub(crate) mod tests;

use std::cmp::Ordering;
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};
use std::time::SystemTime;

use crate::checkpoint::Checkpoint;
use crate::policy::Policy;

pub use assess::{Completeness, MetricState};
pub use reason::Reason;
pub use view::View;

/// What happens to a checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Keep,
    /// Kept, without its training state (optimizer, scheduler, RNG): weights and metadata stay.
    Slim,
    Delete,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Keep => "keep",
            Self::Slim => "slim",
            Self::Delete => "delete",
        }
    }
}

/// The decision about one checkpoint and everything that led to it.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub name: String,
    pub step: Option<u64>,
    pub bytes: Option<u64>,
    pub completeness: Completeness,
    pub metric: MetricState,
    pub decision: Decision,
    pub reasons: Vec<Reason>,
    /// A human explanation: why it is incomplete, why no rule kept it, or which window a
    /// milestone rule kept it for ("first at or after step 10000").
    pub detail: String,
    /// The checkpoint as scanned: its fingerprint (re-checked before deleting), completion
    /// time and metrics by name.
    pub checkpoint: Checkpoint,
    /// Each configured rule's view of it, keeping or not (for `explain`).
    pub views: Vec<View>,
}

impl Verdict {
    /// How long an incomplete checkpoint has gone untouched at `now`, when that is at least
    /// `stale_after`: a crashed save, never deleted, said once.
    pub fn stale(
        &self,
        now: SystemTime,
        stale_after: std::time::Duration,
    ) -> Option<std::time::Duration> {
        if self.is_complete() {
            return None;
        }
        let age = now.duration_since(self.checkpoint.completed_at()?).ok()?;
        (age >= stale_after).then_some(age)
    }

    pub fn is_complete(&self) -> bool {
        self.completeness == Completeness::Complete
    }

    /// The reasons as logs and tables show them: `newest-complete,last`.
    pub fn reasons_text(&self) -> String {
        let names: Vec<&str> = self.reasons.iter().map(|r| r.as_str()).collect();
        names.join(",")
    }
}

/// A run's plan: one verdict per checkpoint, in checkpoint order (step, completion time, name).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Plan {
    pub verdicts: Vec<Verdict>,
    /// The checkpoint `keep_best` ranks first, if any: the single best, which pressure never
    /// deletes.
    pub best: Option<String>,
}

impl Plan {
    pub fn deletions(&self) -> impl Iterator<Item = &Verdict> {
        self.verdicts
            .iter()
            .filter(|v| v.decision == Decision::Delete)
    }

    pub fn slims(&self) -> impl Iterator<Item = &Verdict> {
        self.verdicts
            .iter()
            .filter(|v| v.decision == Decision::Slim)
    }

    pub fn verdict(&self, name: &str) -> Option<&Verdict> {
        self.verdicts.iter().find(|v| v.name == name)
    }

    /// Whether the run is held (DESIGN invariant 9): `keep_best` found no readable metric in
    /// any complete checkpoint, so nothing is deleted; the shell says so as an ERROR.
    pub fn held(&self) -> bool {
        self.verdicts
            .iter()
            .any(|v| v.reasons.contains(&Reason::Held))
    }

    /// Complete checkpoints that `keep_best` could not rank: the shell WARNs once per run.
    pub fn unranked(&self) -> impl Iterator<Item = &Verdict> {
        self.verdicts
            .iter()
            .filter(|v| v.is_complete() && v.metric == MetricState::Unranked)
    }
}

/// DESIGN.md's order: by step; ties by completion time, then by name.
pub fn checkpoint_order(a: &Checkpoint, b: &Checkpoint) -> Ordering {
    a.step
        .cmp(&b.step)
        .then_with(|| a.completed_at().cmp(&b.completed_at()))
        .then_with(|| a.name.cmp(&b.name))
}

/// Whether plans carry every rule's view of each checkpoint ([`Verdict::views`]): set by
/// `ckptd explain` alone, whose plan comes through the same pass engine as every other. The
/// views change no decision; they cost more to write than the decisions, so the daemon and
/// the other commands go without.
static VIEWS_WANTED: AtomicBool = AtomicBool::new(false);

/// From now on, plans in this process carry every rule's view ([`Verdict::views`]).
pub fn want_views() {
    VIEWS_WANTED.store(true, AtomicOrdering::Relaxed);
}

/// Decides every checkpoint of one run.
pub fn plan(checkpoints: &[Checkpoint], policy: &Policy, now: SystemTime) -> Plan {
    plan_with(
        checkpoints,
        policy,
        now,
        VIEWS_WANTED.load(AtomicOrdering::Relaxed),
    )
}

/// As [`plan`], with every rule's view of each checkpoint.
pub fn plan_with_views(checkpoints: &[Checkpoint], policy: &Policy, now: SystemTime) -> Plan {
    plan_with(checkpoints, policy, now, true)
}

fn plan_with(
    checkpoints: &[Checkpoint],
    policy: &Policy,
    now: SystemTime,
    views_wanted: bool,
) -> Plan {
    let mut sorted: Vec<&Checkpoint> = checkpoints.iter().collect();
    sorted.sort_by(|a, b| checkpoint_order(a, b));

    let assessed: Vec<assess::Assessment> = sorted
        .iter()
        .map(|c| assess::assess(c, policy, now))
        .collect();
    let kept = rules::apply(&sorted, &assessed, policy, now, views_wanted);
    let best = kept
        .iter()
        .position(|outcome| outcome.best_of_run)
        .map(|i| sorted[i].name.clone());
    let slims = slim::slim_after(&sorted, &assessed, &kept, policy.slim_after);

    let verdicts = sorted
        .iter()
        .zip(assessed)
        .zip(kept)
        .zip(slims)
        .map(|(((checkpoint, assessment), outcome), slim)| {
            let decision = match (&slim, outcome.reasons.is_empty()) {
                (_, true) => Decision::Delete,
                (Some(_), false) => Decision::Slim,
                (None, false) => Decision::Keep,
            };
            let views = outcome.views;
            let (mut reasons, mut detail) = if decision == Decision::Delete {
                (vec![Reason::Unkept], outcome.why_not.join("; "))
            } else {
                let detail = keep_detail(&assessment, outcome.details, &outcome.reasons);
                (outcome.reasons, detail)
            };
            slim_reason(checkpoint, slim, &mut reasons, &mut detail);
            Verdict {
                name: checkpoint.name.clone(),
                step: checkpoint.step,
                bytes: checkpoint.bytes(),
                completeness: assessment.completeness,
                metric: assessment.metric,
                decision,
                reasons,
                detail,
                checkpoint: (*checkpoint).clone(),
                views,
            }
        })
        .collect();
    Plan { verdicts, best }
}

/// The detail of a kept checkpoint: why it is incomplete, or what its rules had to say (and
/// that its metric is unknown, when only that keeps it).
fn keep_detail(
    assessment: &assess::Assessment,
    details: Vec<String>,
    reasons: &[Reason],
) -> String {
    match (&assessment.completeness, &assessment.metric) {
        (Completeness::Incomplete(why), _) => why.clone(),
        (Completeness::Complete, metric) => {
            let mut parts = Vec::new();
            if let MetricState::TooLarge(over) = metric {
                if reasons.contains(&Reason::MetricTooLarge) {
                    parts.push(format!("metric unknown: {}", over.describe()));
                }
            }
            parts.extend(details);
            parts.join("; ")
        }
    }
}

/// Adds `slim` (slimmed now, and why) or `slimmed` (slimmed before) to a verdict's reasons.
fn slim_reason(
    checkpoint: &Checkpoint,
    slim: Option<String>,
    reasons: &mut Vec<Reason>,
    detail: &mut String,
) {
    let (reason, why) = if let Some(why) = slim {
        (Reason::Slim, Some(why))
    } else if let crate::checkpoint::Slim::Slimmed { interrupted, .. } = checkpoint.slim {
        // Deleting a slimmed checkpoint is normal: the reason only says what it holds.
        let why = interrupted.then(|| "slimming interrupted; finished at the next pass".to_owned());
        (Reason::Slimmed, why)
    } else {
        return;
    };
    reasons.push(reason);
    reasons.sort_unstable();
    if let Some(why) = why {
        *detail = if detail.is_empty() {
            why
        } else {
            format!("{detail}; {why}")
        };
    }
}
