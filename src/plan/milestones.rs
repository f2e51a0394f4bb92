//! Milestone rules: `keep_every_steps` keeps the first complete checkpoint of each step window
//! [kN, (k+1)N).
//!
//! "First of its window", not "an exact multiple": a save interval that does not divide N
//! (Lightning saving every 782 steps, N = 10000) still leaves one milestone per window. The
//! choice is stable as checkpoints arrive and go: a later save in a window has a larger step
//! and never displaces its first, and deleting any other checkpoint of the window changes
//! nothing. (An incomplete checkpoint with a smaller step becomes the first once it completes;
//! the one kept until then is unkept: that is "first complete", as DESIGN says.)

use std::borrow::Cow;
use std::num::NonZeroU64;

use super::rules::Outcome;
use super::Reason;
use crate::checkpoint::Checkpoint;

/// `candidates` is in checkpoint order (step, completion time, name), so within a window the
/// first candidate seen is the first checkpoint: the smallest step, ties by completion time.
pub(super) fn keep_every_steps(
    sorted: &[&Checkpoint],
    candidates: &[usize],
    every: NonZeroU64,
    out: &mut [Outcome],
) {
    let n = every.get();
    // (window start, index of its first checkpoint).
    let mut current: Option<(u64, usize)> = None;
    for &i in candidates {
        let Some(step) = sorted[i].step else {
            out[i]
                .why_not
                .push("no step for keep_every_steps".to_owned());
            continue;
        };
        let start = step - step % n;
        match current {
            Some((window, first)) if window == start => {
                // In u128: (k+1)N may be past u64::MAX when N is huge.
                let end = u128::from(start) + u128::from(n);
                out[i].why_not.push(format!(
                    "not the first checkpoint in steps [{start}, {end}) ({} is)",
                    shown(&sorted[first].name)
                ));
            }
            _ => {
                current = Some((start, i));
                out[i].reasons.push(Reason::EverySteps);
                out[i]
                    .details
                    .push(format!("first at or after step {start}"));
            }
        }
    }
}

/// A checkpoint name inside a detail: control characters escaped, so a detail stays one line.
pub(super) fn shown(name: &str) -> Cow<'_, str> {
    if name.chars().any(char::is_control) {
        Cow::Owned(name.escape_debug().to_string())
    } else {
        Cow::Borrowed(name)
    }
}
