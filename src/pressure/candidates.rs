//! Which checkpoints of a plan pressure may take, in which of DESIGN's steps, and what each
//! would free. Everything the planner protects stays out: the newest complete (both senses),
//! the single best, pinned, pointer targets, aliases, incomplete ones, and the ones whose
//! metric is pending, unknown or held (when in doubt, keep).

use std::time::SystemTime;

use crate::checkpoint::{Kind, Slim};
use crate::plan::{Decision, Plan, Reason, Verdict};

/// DESIGN's order: slim first, then delete what the weakest rule keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Step {
    /// (1) Remove the training state of a checkpoint that can be slimmed.
    Slim,
    /// (2) Delete a checkpoint kept only by `within` / `every-window`.
    Window,
    /// (3) … by `last` (beyond the newest complete).
    Last,
    /// (4) … by `best` (beyond the single best).
    Best,
    /// (5) … by `every-steps`.
    EverySteps,
}

impl Step {
    pub const ALL: [Step; 5] = [
        Step::Slim,
        Step::Window,
        Step::Last,
        Step::Best,
        Step::EverySteps,
    ];

    /// What the step takes, for the detail of a pressure decision.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Slim => "slimmed first: its training state",
            Self::Window => "kept only by within/every-window",
            Self::Last => "oldest `last` beyond the newest",
            Self::Best => "`best` beyond the single best",
            Self::EverySteps => "an `every-steps` milestone",
        }
    }
}

/// One thing pressure may do to one checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub checkpoint: String,
    pub step: Step,
    pub completed_at: Option<SystemTime>,
    /// What it frees: the slimmable files for `Step::Slim`, else the whole checkpoint.
    pub bytes: u64,
    pub inodes: u64,
    /// For a deletion: what slimming it first would already have freed.
    pub slim_bytes: u64,
    pub slim_inodes: u64,
}

/// Whether pressure may touch `v` at all (its class aside).
pub fn reachable(best: Option<&str>, v: &Verdict) -> bool {
    v.is_complete()
        && v.decision != Decision::Delete
        && best != Some(v.name.as_str())
        && !v.reasons.iter().any(|r| Reason::PROTECTIONS.contains(r))
}

/// The deletion step a kept checkpoint falls in: the strongest rule that keeps it decides.
/// None for one whose deletion a `before_delete` hook refused: pressure turns to others.
pub fn deletion_step(v: &Verdict) -> Option<Step> {
    let has = |r: Reason| v.reasons.contains(&r);
    if has(Reason::Vetoed) {
        None
    } else if has(Reason::EverySteps) {
        Some(Step::EverySteps)
    } else if has(Reason::Best) {
        Some(Step::Best)
    } else if has(Reason::Last) {
        Some(Step::Last)
    } else if has(Reason::Within) || has(Reason::EveryWindow) {
        Some(Step::Window)
    } else {
        None
    }
}

/// The inodes a checkpoint holds, as far as its fingerprint knows (its files, and itself when
/// it is a directory; subdirectories are not counted, so this errs low).
pub fn inodes(v: &Verdict) -> u64 {
    let files = v.checkpoint.fingerprint.map_or(0, |f| f.files);
    files + u64::from(v.checkpoint.kind == Kind::Dir)
}

/// Every candidate in `plan`: a slim for each checkpoint that can still be slimmed (when
/// `slims`), and a deletion for each kept one a rule (not a protection) keeps.
pub fn candidates(plan: &Plan, slims: bool) -> Vec<Candidate> {
    let mut out = Vec::new();
    for v in plan
        .verdicts
        .iter()
        .filter(|v| reachable(plan.best.as_deref(), v))
    {
        let (slim_bytes, slim_inodes) = match v.checkpoint.slim {
            Slim::Whole { bytes, files } if slims => (bytes, files),
            _ => (0, 0),
        };
        if slim_bytes > 0 && v.decision == Decision::Keep {
            out.push(Candidate {
                checkpoint: v.name.clone(),
                step: Step::Slim,
                completed_at: v.checkpoint.completed_at(),
                bytes: slim_bytes,
                inodes: slim_inodes,
                slim_bytes: 0,
                slim_inodes: 0,
            });
        }
        if let Some(step) = deletion_step(v) {
            let (mut bytes, mut files) = (v.bytes.unwrap_or(0), inodes(v));
            let (mut slim_bytes, mut slim_inodes) = (slim_bytes, slim_inodes);
            if v.decision == Decision::Slim {
                // The plan slims it already (and counts that as freed, or it is done):
                // deleting it frees only what the slim leaves.
                bytes = bytes.saturating_sub(slim_bytes);
                files = files.saturating_sub(slim_inodes);
                (slim_bytes, slim_inodes) = (0, 0);
            }
            out.push(Candidate {
                checkpoint: v.name.clone(),
                step,
                completed_at: v.checkpoint.completed_at(),
                bytes,
                inodes: files,
                slim_bytes,
                slim_inodes,
            });
        }
    }
    out
}

/// What the plan's own decisions will free once carried out: its deletions, and the
/// training state of what it slims.
pub fn planned_to_free(plan: &Plan) -> (u64, u64) {
    still_to_free(plan, &|_| true)
}

/// What those of the plan's decisions that `to_come` says are still to be carried out will
/// free.
pub fn still_to_free(plan: &Plan, to_come: &dyn Fn(&Verdict) -> bool) -> (u64, u64) {
    let mut freed = (0, 0);
    for v in plan.verdicts.iter().filter(|v| to_come(v)) {
        let (bytes, inodes) = match (v.decision, v.checkpoint.slim) {
            (Decision::Delete, _) => (v.bytes.unwrap_or(0), inodes(v)),
            (Decision::Slim, Slim::Whole { bytes, files }) => (bytes, files),
            _ => (0, 0),
        };
        freed.0 += bytes;
        freed.1 += inodes;
    }
    freed
}

/// The bytes a run's checkpoints hold, complete and in progress, once its plan is carried out.
pub fn run_bytes_after(plan: &Plan) -> u64 {
    let total: u64 = plan.verdicts.iter().filter_map(|v| v.bytes).sum();
    total.saturating_sub(planned_to_free(plan).0)
}
