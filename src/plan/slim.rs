//! `slim_after`: which kept checkpoints lose their training state now. A rule, not a
//! protection: it only ever applies to a checkpoint the rules keep anyway, and never to one
//! that may have to be resumed from or whose fate is not settled yet.

use super::assess::{Assessment, Completeness};
use super::rules::Outcome;
use super::Reason;
use crate::checkpoint::{Checkpoint, Slim};

/// For each checkpoint (in checkpoint order, matching `assessed` and `kept`), why it is slimmed
/// now, or `None`. Counted like `keep_last`: among the complete checkpoints that are not
/// aliases, all but the `slim_after` newest.
pub(super) fn slim_after(
    sorted: &[&Checkpoint],
    assessed: &[Assessment],
    kept: &[Outcome],
    slim_after: Option<u64>,
) -> Vec<Option<String>> {
    let mut out = vec![None; sorted.len()];
    let Some(n) = slim_after else {
        return out;
    };
    let candidates: Vec<usize> = (0..sorted.len())
        .filter(|&i| assessed[i].completeness == Completeness::Complete && !sorted[i].is_alias())
        .collect();
    let older = candidates
        .len()
        .saturating_sub(usize::try_from(n).unwrap_or(usize::MAX));
    for &i in &candidates[..older] {
        let reasons = &kept[i].reasons;
        let slimmable = matches!(sorted[i].slim, Slim::Whole { .. })
            && !reasons.is_empty()
            && !reasons.iter().any(|r| Reason::PROTECTIONS.contains(r));
        if slimmable {
            out[i] = Some(format!(
                "older than the {n} newest complete (slim_after {n})"
            ));
        }
    }
    out
}
