//! Folds pressure orders into a run's plan. The orders may come from an older look (the
//! daemon decides across runs, then passes over each), so each one is checked against the
//! fresh plan first: a checkpoint that became protected, incomplete, the best, or that a rule
//! no longer keeps in the same step since, is left as the fresh plan says.

use super::candidates::{deletion_step, reachable};
use super::relieve::{Action, Order};
use crate::checkpoint::Slim;
use crate::plan::{Decision, Plan, Reason};

/// Applies the `orders` meant for this run; returns how many were dropped as out of date.
pub fn apply<'a>(plan: &mut Plan, orders: impl IntoIterator<Item = &'a Order>) -> usize {
    let mut dropped = 0;
    for order in orders {
        let best = plan.best.as_deref();
        let Some(v) = plan
            .verdicts
            .iter_mut()
            .find(|v| v.name == order.checkpoint)
        else {
            dropped += 1;
            continue;
        };
        if !reachable(best, v) {
            dropped += 1;
            continue;
        }
        match order.action {
            Action::Slim
                if v.decision == Decision::Keep
                    && matches!(v.checkpoint.slim, Slim::Whole { .. }) =>
            {
                v.decision = Decision::Slim;
                v.reasons.extend([Reason::Slim, Reason::Pressure]);
                v.reasons.sort_unstable();
                v.reasons.dedup();
                v.detail = join(&v.detail, &order.detail);
            }
            Action::Delete if deletion_step(v).is_some_and(|step| step <= order.step) => {
                v.decision = Decision::Delete;
                v.reasons = vec![Reason::Pressure];
                v.detail.clone_from(&order.detail);
            }
            _ => dropped += 1,
        }
    }
    dropped
}

fn join(detail: &str, more: &str) -> String {
    if detail.is_empty() {
        more.to_owned()
    } else {
        format!("{detail}; {more}")
    }
}
