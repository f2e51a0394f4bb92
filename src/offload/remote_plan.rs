//! Retention over the committed remote copies of one run (`remote = { keep_last, keep_best,
//! … }`): the local planner, unchanged, over checkpoints made from manifests, so the rules and
//! their reasons mean the same on both sides (the newest copy is kept as `newest-complete`, a
//! copy without the metric is unranked, never worst). And the order a remote deletion takes:
//! the manifest first, so a crash between two requests leaves objects without a commit marker
//! (garbage the next pass removes), never a "committed" checkpoint with objects missing.

use std::time::{Duration, SystemTime};

use super::manifest::{Manifest, MANIFEST_NAME};
use crate::plan::{plan, Plan};
use crate::policy::Policy;

/// The plan for a run's remote copies. `policy` is the watch's `remote` table; its `settle`
/// plays no part (a committed copy is complete, however recently it was committed).
pub fn plan_remote(manifests: &[Manifest], policy: &Policy, now: SystemTime) -> Plan {
    let policy = Policy {
        settle: Duration::ZERO,
        ..policy.clone()
    };
    let metric = policy.keep_best.as_ref().map(|b| b.metric.as_str());
    let checkpoints: Vec<_> = manifests.iter().map(|m| m.to_checkpoint(metric)).collect();
    plan(&checkpoints, &policy, now)
}

/// The keys one remote deletion removes, in the order it must remove them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteDeletion {
    /// `<prefix>/<checkpoint>/.ckptd-manifest.json`: removed first, un-committing the copy.
    pub manifest: String,
    /// Then every object the manifest names, and nothing else.
    pub objects: Vec<String>,
}

/// How to delete the remote copy `manifest` describes under `prefix` (the run's prefix, without
/// a trailing `/`). Only keys the manifest names are deleted: an object someone else put under
/// the checkpoint's prefix stays.
pub fn deletion_order(prefix: &str, manifest: &Manifest) -> RemoteDeletion {
    let base = if prefix.is_empty() {
        manifest.checkpoint.clone()
    } else {
        format!("{prefix}/{}", manifest.checkpoint)
    };
    // A file checkpoint's one object sits under its own name, beside the manifest.
    RemoteDeletion {
        manifest: format!("{base}/{MANIFEST_NAME}"),
        objects: manifest
            .files
            .iter()
            .map(|f| format!("{base}/{}", f.path))
            .collect(),
    }
}

#[cfg(test)]
#[path = "remote_plan_tests.rs"]
mod tests;
