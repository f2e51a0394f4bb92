//! Per-checkpoint facts that depend on the clock: is it complete, and where does its metric stand.

use std::time::{Duration, SystemTime};

use crate::checkpoint::{Checkpoint, Kind, Marker, MetricObservation, OverCap, Writers};
use crate::policy::Policy;

/// Complete, or the reason it is not (shown in `plan` and the logs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Completeness {
    Complete,
    Incomplete(String),
}

/// Where a checkpoint stands for `keep_best`.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricState {
    /// No `keep_best` in the policy.
    NotWanted,
    Value(f64),
    /// A run-level metric that may still arrive: the checkpoint is kept meanwhile.
    Pending,
    /// No metric and none will come: `keep_best` ignores it, other rules still apply.
    Unranked,
    /// The metric is in a file over `max_metric_bytes`, not read: unknown, so the checkpoint
    /// is kept (it may be the best) for as long as it stays so.
    TooLarge(OverCap),
}

impl MetricState {
    pub fn value(&self) -> Option<f64> {
        match self {
            Self::Value(v) => Some(*v),
            _ => None,
        }
    }
}

pub(super) struct Assessment {
    pub completeness: Completeness,
    pub metric: MetricState,
}

pub(super) fn assess(checkpoint: &Checkpoint, policy: &Policy, now: SystemTime) -> Assessment {
    Assessment {
        completeness: completeness(checkpoint, policy.settle, now),
        metric: metric_state(checkpoint, policy, now),
    }
}

fn completeness(checkpoint: &Checkpoint, settle: Duration, now: SystemTime) -> Completeness {
    use Completeness::Incomplete;
    if let Some(problem) = &checkpoint.scan_problem {
        return Incomplete(problem.clone());
    }
    let Some(stable_since) = checkpoint.stable_since else {
        return Incomplete("size and age unknown".to_owned());
    };
    if let Marker::Missing(what) = &checkpoint.marker {
        return Incomplete(what.clone());
    }
    // A trainer may create the directory before writing into it: nothing in it yet is not a
    // finished save, however long it has been quiet.
    if checkpoint.kind == Kind::Dir && checkpoint.fingerprint.is_some_and(|f| f.files == 0) {
        return Incomplete("empty directory: nothing written in it yet".to_owned());
    }
    match checkpoint.writers {
        Writers::Checked { open: true } => {
            return Incomplete("open for writing by a local process".to_owned());
        }
        // The open-writer check was skipped on the strength of an earlier look: only sound
        // while nothing changed since. A changed checkpoint is being written again.
        Writers::NotChecked
            if checkpoint.confirmed != checkpoint.fingerprint.map(|f| f.digest()) =>
        {
            return Incomplete(
                "changed since it was last complete: not yet checked for writers".to_owned(),
            );
        }
        Writers::Checked { open: false } | Writers::NotChecked => {}
    }
    match now.duration_since(stable_since) {
        // An mtime in the future (clock skew on shared storage) cannot prove it settled.
        Err(_) => Incomplete("modified in the future: clock skew?".to_owned()),
        Ok(age) if age < settle => Incomplete(format!(
            "written {} ago, settle is {}",
            crate::duration::show(age),
            crate::duration::show(settle)
        )),
        Ok(_) => Completeness::Complete,
    }
}

fn metric_state(checkpoint: &Checkpoint, policy: &Policy, now: SystemTime) -> MetricState {
    if policy.keep_best.is_none() {
        return MetricState::NotWanted;
    }
    match &checkpoint.metric {
        MetricObservation::NotWanted | MetricObservation::Final(None) => MetricState::Unranked,
        MetricObservation::Final(Some(v)) | MetricObservation::RunLevel { value: Some(v), .. } => {
            MetricState::Value(*v)
        }
        // Never timed out into "unranked": it stays kept until the file can be read.
        MetricObservation::TooLarge(over) => MetricState::TooLarge(over.clone()),
        MetricObservation::RunLevel {
            value: None,
            later_record_seen,
        } => {
            let waited_out = checkpoint
                .completed_at()
                .and_then(|t| now.duration_since(t).ok())
                .is_some_and(|age| age >= policy.metric_timeout);
            if *later_record_seen || waited_out {
                MetricState::Unranked
            } else {
                MetricState::Pending
            }
        }
    }
}
