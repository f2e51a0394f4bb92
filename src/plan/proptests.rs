//! Property tests of the planner's invariants over random runs and random policies.

use std::num::NonZeroU64;
use std::time::Duration;

use proptest::prelude::*;

use super::tests::{ck, now};
use super::{plan, Decision, Plan, Reason};
use crate::checkpoint::{
    Checkpoint, Fingerprint, Marker, MetricObservation, OverCap, Protection, Writers,
};
use crate::policy::{BestRule, EveryWindow, Mode, Policy};

fn arb_checkpoint() -> impl Strategy<Value = Checkpoint> {
    (
        0u64..40,                  // step: small, so ties happen
        0u64..200_000,             // age in seconds
        any::<bool>(),             // complete marker
        prop::bool::weighted(0.1), // pinned
        prop::option::of(prop_oneof![Just(f64::NAN), -5.0f64..5.0]),
        prop::bool::weighted(0.15), // metric file over max_metric_bytes
    )
        .prop_map(|(step, age, marker_ok, pinned, metric, over_cap)| {
            let mut c = ck(&format!("ckpt-{step}-{age}"), step, age);
            if !marker_ok {
                c.marker = Marker::Missing("marker missing".to_owned());
            }
            if pinned {
                c.protections.push(Protection::Pinned);
            }
            c.metric = if over_cap {
                MetricObservation::TooLarge(OverCap {
                    path: "/run/x/trainer_state.json".into(),
                    bytes: 2,
                    cap: 1,
                    offset: None,
                })
            } else {
                MetricObservation::Final(metric)
            };
            c
        })
}

/// A run of up to 25 checkpoints with unique names.
fn arb_run() -> impl Strategy<Value = Vec<Checkpoint>> {
    prop::collection::vec(arb_checkpoint(), 0..25).prop_map(|run| {
        run.into_iter()
            .enumerate()
            .map(|(i, mut c)| {
                c.name = format!("{}-{i}", c.name);
                c
            })
            .collect()
    })
}

/// A `keep_every` entry: short windows so that runs span many, days and weeks (ages reach
/// 2.3 days), with or without a count.
fn arb_every_window() -> impl Strategy<Value = EveryWindow> {
    (
        prop_oneof![1u64..50_000, Just(DAY), Just(7 * DAY)],
        prop::option::of(1u64..4),
    )
        .prop_map(|(secs, count)| EveryWindow {
            window: Duration::from_secs(secs),
            count: count.and_then(NonZeroU64::new),
        })
}

const DAY: u64 = 86_400;

fn arb_policy() -> impl Strategy<Value = Policy> {
    (
        prop::option::of(0u64..5),
        prop::option::of((1u64..4, any::<bool>())),
        // Small windows, and N = u64::MAX, whose second window ends past u64::MAX.
        prop::option::of(prop_oneof![1u64..10, Just(u64::MAX)]),
        prop::collection::vec(arb_every_window(), 0..3),
        prop::option::of(1u64..50_000),
    )
        .prop_map(|(last, best, every_steps, every, within)| Policy {
            keep_last: last,
            keep_best: best.map(|(count, max)| BestRule {
                count: NonZeroU64::new(count).unwrap(),
                metric: "m".to_owned(),
                mode: if max { Mode::Max } else { Mode::Min },
            }),
            keep_every_steps: every_steps.and_then(NonZeroU64::new),
            keep_every: every,
            keep_within: within.map(Duration::from_secs),
            slim_after: None,
            settle: Duration::from_secs(30),
            metric_timeout: Duration::from_hours(1),
        })
}

fn deleted(p: &Plan) -> Vec<String> {
    p.deletions().map(|v| v.name.clone()).collect()
}

/// The window of `c`'s completion time: epoch-aligned (ages are whole
/// seconds, windows too).
fn window_of(c: &Checkpoint, window: Duration) -> u64 {
    let secs = c
        .completed_at()
        .unwrap()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    // Epoch-aligned, weeks included (DESIGN).
    secs / window.as_secs()
}

/// Each window that holds a candidate → its first: the earliest completion, ties in
/// checkpoint order (`candidates` is in that order).
fn firsts_by_window<'a>(candidates: &[&'a Checkpoint], window: Duration) -> Vec<(u64, &'a str)> {
    let mut firsts: std::collections::BTreeMap<u64, &Checkpoint> =
        std::collections::BTreeMap::new();
    for &c in candidates {
        let first = firsts.entry(window_of(c, window)).or_insert(c);
        if c.completed_at() < first.completed_at() {
            *first = c;
        }
    }
    firsts
        .into_iter()
        .map(|(w, c)| (w, c.name.as_str()))
        .collect()
}

/// The checkpoints left after carrying out `p`.
fn survivors(input: &[Checkpoint], p: &Plan) -> Vec<Checkpoint> {
    let gone = deleted(p);
    input
        .iter()
        .filter(|c| !gone.contains(&c.name))
        .cloned()
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn never_deletes_incomplete_pinned_or_newest(
        input in arb_run(),
        policy in arb_policy(),
    ) {
        let p = plan(&input, &policy, now());
        prop_assert_eq!(p.verdicts.len(), input.len());
        for v in p.deletions() {
            let c = input.iter().find(|c| c.name == v.name).unwrap();
            prop_assert!(v.is_complete(), "deleted incomplete {}", v.name);
            prop_assert!(c.protections.is_empty(), "deleted protected {}", v.name);
        }
        let complete: Vec<&Checkpoint> = input
            .iter()
            .filter(|c| p.verdict(&c.name).unwrap().is_complete())
            .collect();
        let by_step = complete.iter().max_by(|a, b| super::checkpoint_order(a, b));
        let by_time = complete.iter().max_by(|a, b| {
            a.completed_at().cmp(&b.completed_at()).then(a.step.cmp(&b.step)).then(a.name.cmp(&b.name))
        });
        for newest in by_step.into_iter().chain(by_time) {
            prop_assert_eq!(p.verdict(&newest.name).unwrap().decision, Decision::Keep);
        }
    }

    #[test]
    fn kept_set_contains_each_rules_own_set(
        input in arb_run(),
        policy in arb_policy(),
    ) {
        let p = plan(&input, &policy, now());
        let candidates: Vec<&Checkpoint> = {
            let mut c: Vec<&Checkpoint> = input
                .iter()
                // Every complete checkpoint, pinned ones included (DESIGN invariant 4).
                .filter(|c| !c.is_alias() && p.verdict(&c.name).unwrap().is_complete())
                .collect();
            c.sort_by(|a, b| super::checkpoint_order(a, b));
            c
        };
        let keep = |name: &str| p.verdict(name).unwrap().decision == Decision::Keep;
        // A held run deletes nothing (DESIGN invariant 9).
        if p.held() {
            prop_assert_eq!(deleted(&p), Vec::<String>::new());
        }
        if let Some(n) = policy.keep_last {
            for c in candidates.iter().rev().take(usize::try_from(n).unwrap()) {
                prop_assert!(keep(&c.name), "keep_last dropped {}", c.name);
            }
        }
        if let Some(every) = policy.keep_every_steps {
            // Exactly the checkpoints at the smallest step of each step window [kN, (k+1)N)
            // that holds a complete one are kept by every-steps.
            let window = |c: &Checkpoint| c.step.unwrap() / every.get();
            for c in &candidates {
                let smallest = candidates
                    .iter()
                    .filter(|o| window(o) == window(c))
                    .map(|o| o.step.unwrap())
                    .min();
                let first = smallest == c.step;
                let by_rule = p.verdict(&c.name).unwrap().reasons.contains(&Reason::EverySteps);
                prop_assert_eq!(by_rule, first, "every-steps on {}", c.name);
            }
        }
        if !policy.keep_every.is_empty() {
            let by_rule: Vec<&str> = candidates
                .iter()
                .filter(|c| p.verdict(&c.name).unwrap().reasons.contains(&Reason::EveryWindow))
                .map(|c| c.name.as_str())
                .collect();
            // Each one kept by every-window is, for some entry, the first of one of the
            // `count` most recent windows that hold a candidate; and every such first is kept.
            let mut expected: Vec<&str> = Vec::new();
            for rule in &policy.keep_every {
                for (slot, first) in firsts_by_window(&candidates, rule.window) {
                    let newer = candidates
                        .iter()
                        .map(|c| window_of(c, rule.window))
                        .filter(|&w| w > slot)
                        .collect::<std::collections::BTreeSet<u64>>()
                        .len();
                    if rule.count.is_none_or(|n| (newer as u64) < n.get()) {
                        expected.push(first);
                    }
                }
            }
            expected.sort_unstable();
            expected.dedup();
            let mut got = by_rule.clone();
            got.sort_unstable();
            prop_assert_eq!(got, expected);
            if policy.keep_every.iter().all(|r| r.count.is_some()) {
                let limit: u64 = policy.keep_every.iter().map(|r| r.count.unwrap().get()).sum();
                prop_assert!(by_rule.len() as u64 <= limit);
            }
        }
        if let Some(within) = policy.keep_within {
            for c in candidates.iter().filter(|c| now().duration_since(c.completed_at().unwrap()).unwrap() <= within) {
                prop_assert!(keep(&c.name), "keep_within dropped {}", c.name);
            }
        }
        if let Some(rule) = &policy.keep_best {
            // The best non-NaN value must be kept, whichever checkpoint holds it.
            let values = candidates.iter().filter_map(|c| c.metric.value()).filter(|v| !v.is_nan());
            let best = match rule.mode {
                Mode::Min => values.fold(f64::INFINITY, f64::min),
                Mode::Max => values.fold(f64::NEG_INFINITY, f64::max),
            };
            if best.is_finite() {
                prop_assert!(candidates.iter().any(|c| c.metric.value() == Some(best) && keep(&c.name)));
            }
            // A metric that was too large to read may be the best: never deleted.
            for c in input.iter().filter(|c| matches!(c.metric, MetricObservation::TooLarge(_))) {
                prop_assert!(keep(&c.name), "{} deleted with its metric unread", c.name);
            }
        }
    }

    #[test]
    fn with_a_pointer_on_the_newest_keep_last_leaves_exactly_n(
        count in 1u64..20,
        n in 1u64..6,
    ) {
        // DeepSpeed's `latest` names the newest; nothing else protects anything.
        let mut input: Vec<Checkpoint> = (0..count)
            .map(|i| ck(&format!("ckpt-{i}"), i, 10_000 - 100 * i))
            .collect();
        input
            .last_mut()
            .unwrap()
            .protections
            .push(Protection::Pointer("latest".to_owned()));
        let p = plan(&input, &Policy::keep_last(n), now());
        let kept = p.verdicts.iter().filter(|v| v.decision == Decision::Keep).count();
        prop_assert_eq!(u64::try_from(kept).unwrap(), count.min(n));
    }

    #[test]
    fn replanning_after_applying_deletes_nothing_more(
        input in arb_run(),
        policy in arb_policy(),
    ) {
        let first = plan(&input, &policy, now());
        let left = survivors(&input, &first);
        let second = plan(&left, &policy, now());
        prop_assert_eq!(deleted(&second), Vec::<String>::new());
    }

    #[test]
    fn a_checkpoint_changed_since_it_was_last_complete_is_incomplete_until_rechecked_and_settled(
        input in arb_run(),
        policy in arb_policy(),
        which in any::<prop::sample::Index>(),
        how in 0u8..3,
        quiet in 0u64..30,
    ) {
        // The daemon confirmed it complete at one fingerprint; now it has another (a trainer
        // re-saving the same name). Until the open-writer check has been made again, found no
        // writer, and the change has settled, it is incomplete, kept, and counts for nothing.
        prop_assume!(!input.is_empty());
        let mut input = input;
        let i = which.index(input.len());
        let current: Fingerprint = input[i].fingerprint.unwrap();
        input[i].confirmed = Some(
            Fingerprint {
                inodes: current.inodes.wrapping_add(1),
                ..current
            }
            .digest(),
        );
        match how {
            0 => input[i].writers = Writers::NotChecked,
            1 => input[i].writers = Writers::Checked { open: true },
            _ => {
                input[i].writers = Writers::Checked { open: false };
                input[i].stable_since = Some(now() - Duration::from_secs(quiet));
            }
        }
        let name = input[i].name.clone();
        let p = plan(&input, &policy, now());
        let v = p.verdict(&name).unwrap();
        prop_assert!(!v.is_complete(), "{} counted as complete: {:?}", name, v);
        prop_assert_eq!(v.decision, Decision::Keep);
        // The same run without it: it took no rule's place.
        let without: Vec<Checkpoint> = input.iter().filter(|c| c.name != name).cloned().collect();
        let q = plan(&without, &policy, now());
        for w in &q.verdicts {
            prop_assert_eq!(p.verdict(&w.name).unwrap().decision, w.decision, "{}", w.name);
        }
    }

    #[test]
    fn slim_only_on_whole_kept_complete_and_never_the_newest(
        input in arb_run(),
        policy in arb_policy(),
        slim_after in 0u64..4,
        wholes in prop::collection::vec(0u8..3, 25),
    ) {
        let mut input = input;
        for (c, w) in input.iter_mut().zip(&wholes) {
            c.slim = match w {
                0 => crate::checkpoint::Slim::Whole { bytes: 10, files: 1 },
                1 => crate::checkpoint::Slim::Nothing,
                _ => crate::checkpoint::Slim::Off,
            };
        }
        let policy = Policy { slim_after: Some(slim_after), ..policy };
        let p = plan(&input, &policy, now());
        let unslimmed = plan(&input, &Policy { slim_after: None, ..policy.clone() }, now());
        for v in p.slims() {
            prop_assert!(v.is_complete(), "slimmed incomplete {}", v.name);
            let whole = matches!(v.checkpoint.slim, crate::checkpoint::Slim::Whole { .. });
            prop_assert!(whole, "slimmed without training state {}", v.name);
            prop_assert!(v.checkpoint.protections.is_empty(), "slimmed protected {}", v.name);
            prop_assert!(!v.reasons.contains(&Reason::NewestComplete));
            prop_assert!(v.reasons.contains(&Reason::Slim));
            // Slimming only ever applies to what the rules keep anyway.
            prop_assert_eq!(unslimmed.verdict(&v.name).unwrap().decision, Decision::Keep);
        }
        // Slimming changes no deletion.
        prop_assert_eq!(deleted(&p), deleted(&unslimmed));
        let complete: Vec<&Checkpoint> = input
            .iter()
            .filter(|c| !c.is_alias() && p.verdict(&c.name).unwrap().is_complete())
            .collect();
        let by_step = complete.iter().max_by(|a, b| super::checkpoint_order(a, b));
        let by_time = complete.iter().max_by(|a, b| {
            a.completed_at().cmp(&b.completed_at()).then(a.step.cmp(&b.step)).then(a.name.cmp(&b.name))
        });
        for newest in by_step.into_iter().chain(by_time) {
            prop_assert_eq!(p.verdict(&newest.name).unwrap().decision, Decision::Keep);
        }
    }
}
