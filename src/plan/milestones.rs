//! Milestone rules, each keeping the first complete checkpoint of a window: `keep_every_steps`
//! of each step window [kN, (k+1)N), `keep_every` of each time window (see `windows`).
//!
//! "First of its window", not "an exact multiple": a save interval that does not divide N
//! (Lightning saving every 782 steps, N = 10000) still leaves one milestone per window. The
//! choice is stable as checkpoints arrive and go: a later save in a window comes after its
//! first (a larger step, a later completion) and never displaces it, and deleting any other
//! checkpoint of the window changes nothing. (An incomplete checkpoint that would come first
//! becomes the first once it completes, and the one kept until then is unkept: that is "first
//! complete", as DESIGN says.) With a `count`, `keep_every` keeps the windows that hold a
//! checkpoint, most recent first, so deleting what it does not keep never changes what it does.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::num::NonZeroU64;

use super::rules::Outcome;
use super::windows::Windows;
use super::Reason;
use crate::checkpoint::Checkpoint;
use crate::policy::EveryWindow;

/// `candidates` is in checkpoint order (step, completion time, name), so within a window the
/// first candidate seen is the first checkpoint: the smallest step. Every checkpoint at that
/// step is kept.
pub(super) fn keep_every_steps(
    sorted: &[&Checkpoint],
    candidates: &[usize],
    every: NonZeroU64,
    out: &mut [Outcome],
) {
    let n = every.get();
    let rule = format!("keep_every_steps {n}");
    // (window start, index of its first checkpoint).
    let mut current: Option<(u64, usize)> = None;
    for &i in candidates {
        let Some(step) = sorted[i].step else {
            out[i].not_kept_by(&rule, "no step for keep_every_steps".to_owned());
            continue;
        };
        let start = step - step % n;
        match current {
            // Saves of the same step as the window's first (Lightning's `-v1` copy of a name
            // it wrote twice) are as much the milestone: 0.1 kept every one at a multiple.
            Some((window, first)) if window == start && sorted[first].step == Some(step) => {
                let first = format!("first at or after step {start}");
                out[i].kept_by(Reason::EverySteps, &rule, || first.clone());
                out[i].details.push(first);
            }
            Some((window, first)) if window == start => {
                // In u128: (k+1)N may be past u64::MAX when N is huge.
                let end = u128::from(start) + u128::from(n);
                out[i].not_kept_by(
                    &rule,
                    format!(
                        "not the first checkpoint in steps [{start}, {end}) ({} is)",
                        shown(&sorted[first].name)
                    ),
                );
            }
            _ => {
                current = Some((start, i));
                let first = format!("first at or after step {start}");
                out[i].kept_by(Reason::EverySteps, &rule, || first.clone());
                out[i].details.push(first);
            }
        }
    }
}

/// One `keep_every` entry. The first of a window is the earliest completed candidate (ties in
/// checkpoint order); with a count, only the firsts of the `count` most recent windows that
/// hold a candidate are kept.
pub(super) fn keep_every_window(
    sorted: &[&Checkpoint],
    candidates: &[usize],
    rule: EveryWindow,
    out: &mut [Outcome],
) {
    let windows = Windows::new(rule.window);
    let name_of_rule = match rule.count {
        Some(count) => format!("keep_every {} (count {count})", windows.name_of_rule()),
        None => format!("keep_every {}", windows.name_of_rule()),
    };
    // Window → its first so far. `candidates` is in checkpoint order, so keeping the earlier
    // one on equal completion times breaks ties as that order does.
    let mut firsts: BTreeMap<u128, usize> = BTreeMap::new();
    let mut slot_of: Vec<Option<u128>> = vec![None; sorted.len()];
    for &i in candidates {
        let Some(t) = sorted[i].completed_at() else {
            out[i].not_kept_by(
                &name_of_rule,
                "completion time unknown, for keep_every".to_owned(),
            );
            continue;
        };
        let slot = windows.slot(t);
        slot_of[i] = Some(slot);
        let first = firsts.entry(slot).or_insert(i);
        if t < sorted[*first].completed_at().unwrap_or(t) {
            *first = i;
        }
    }
    // The oldest window still kept: the count-th most recent that holds a candidate.
    let count = rule.count.map_or(usize::MAX, |c| {
        usize::try_from(c.get()).unwrap_or(usize::MAX)
    });
    let oldest_kept = firsts
        .keys()
        .nth(firsts.len().saturating_sub(count))
        .copied();
    // Named once per window, not once per checkpoint: a run may hold thousands per window.
    let names: BTreeMap<u128, String> = firsts
        .keys()
        .map(|&slot| (slot, windows.name(slot)))
        .collect();
    for &i in candidates {
        let Some(slot) = slot_of[i] else { continue };
        let name = names.get(&slot).map_or("?", String::as_str);
        match firsts.get(&slot) {
            Some(&first) if first != i => out[i].not_kept_by(
                &name_of_rule,
                format!(
                    "not the first of {name} ({} is)",
                    shown(&sorted[first].name)
                ),
            ),
            _ if oldest_kept.is_some_and(|oldest| slot >= oldest) => {
                out[i].kept_by(Reason::EveryWindow, &name_of_rule, || {
                    format!("first of {name}")
                });
                out[i].details.push(format!("first of {name}"));
            }
            _ => out[i].not_kept_by(
                &name_of_rule,
                format!(
                    "first of {name}, older than the {} most recent {} with a checkpoint",
                    rule.count.map_or(0, NonZeroU64::get),
                    windows.plural(),
                ),
            ),
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
