//! Properties of the pressure step over random runs, plans and filesystems: it never
//! touches what the planner protects, never frees more than needed plus one checkpoint,
//! gives the same decisions for the same input, orders nothing when the target is met, and
//! every order it gives applies to the plan it was made from.

use std::path::PathBuf;
use std::time::Duration;

use proptest::prelude::*;

use super::candidates::{inodes, reachable};
use super::*;
use crate::checkpoint::{Checkpoint, MetricObservation, Protection, Slim};
use crate::plan::tests::{ck, now};
use crate::plan::{plan, Decision, Plan};
use crate::policy::{BestRule, Mode, Policy};

const MIB: u64 = 1 << 20;

/// One checkpoint: (MiB, age in minutes, pinned, metric, in progress, slimmable MiB).
type Spec = (u64, u64, bool, Option<u8>, bool, u64);

fn checkpoint(i: usize, spec: Spec) -> Checkpoint {
    let (mib, age_min, pinned, metric, writing, slim) = spec;
    let step = (i as u64 + 1) * 100;
    let mut c = ck(&format!("checkpoint-{step}"), step, age_min * 60);
    let f = c.fingerprint.as_mut().unwrap();
    f.bytes = mib * MIB;
    f.files = 1 + mib % 5;
    if writing {
        c.stable_since = Some(now());
    }
    if pinned {
        c.protections.push(Protection::Pinned);
    }
    c.metric = MetricObservation::Final(metric.map(f64::from));
    if slim > 0 {
        c.slim = Slim::Whole {
            bytes: slim.min(mib) * MIB,
            files: 1,
        };
    }
    c
}

fn arb_run() -> impl Strategy<Value = (Vec<Checkpoint>, Policy)> {
    let spec = (
        1u64..50,
        0u64..3000,
        prop::bool::weighted(0.1),
        prop::option::weighted(0.8, 0u8..20),
        prop::bool::weighted(0.1),
        prop::option::weighted(0.5, 1u64..20).prop_map(Option::unwrap_or_default),
    );
    (
        prop::collection::vec(spec, 0..12),
        prop::option::of(0u64..6),
        prop::option::of(1u64..4),
        prop::option::of(1u64..6),
        prop::option::of(10u64..3000),
        prop::option::of(0u64..4),
    )
        .prop_map(|(specs, last, best, every, within, slim_after)| {
            let cps = specs
                .into_iter()
                .enumerate()
                .map(|(i, s)| checkpoint(i, s))
                .collect();
            let policy = Policy {
                keep_last: last.or(Some(1)),
                keep_best: best.map(|n| BestRule {
                    count: std::num::NonZeroU64::new(n).unwrap(),
                    metric: "loss".to_owned(),
                    mode: Mode::Min,
                }),
                keep_every_steps: every.and_then(|n| std::num::NonZeroU64::new(n * 200)),
                keep_within: within.map(|m| Duration::from_secs(m * 60)),
                slim_after,
                ..Policy::keep_last(0)
            };
            (cps, policy)
        })
}

fn arb_fs() -> impl Strategy<Value = (FsState, FilesystemTarget)> {
    (
        100u64..2000,
        0u64..100,
        prop::option::of(prop_oneof![
            (1u32..90).prop_map(|p| Floor::Percent(f64::from(p))),
            (1u64..2000).prop_map(|m| Floor::Amount(m * MIB)),
        ]),
        prop::option::of((1u64..200).prop_map(Floor::Amount)),
        any::<bool>(),
        prop::bool::weighted(0.5),
    )
        .prop_map(|(total, free_pct, min_free, min_inodes, headroom, _)| {
            let state = FsState {
                total_bytes: total * MIB,
                free_bytes: total * MIB * free_pct / 100,
                total_inodes: 1000,
                free_inodes: 900,
            };
            let target = FilesystemTarget {
                path: PathBuf::from("/data"),
                min_free,
                min_free_inodes: min_inodes.map(|f| match f {
                    Floor::Amount(n) => Floor::Amount(800 + n),
                    percent @ Floor::Percent(_) => percent,
                }),
                headroom,
            };
            (state, target)
        })
}

struct World {
    paths: Vec<PathBuf>,
    plans: Vec<Plan>,
    slims: Vec<bool>,
}

impl World {
    fn new(runs: &[(Vec<Checkpoint>, Policy)]) -> Self {
        let paths = (0..runs.len())
            .map(|i| PathBuf::from(format!("/data/run{i}")))
            .collect();
        let slims = runs.iter().map(|(_, p)| p.slim_after.is_some()).collect();
        let plans = runs.iter().map(|(c, p)| plan(c, p, now())).collect();
        Self {
            paths,
            plans,
            slims,
        }
    }

    fn inputs(&self) -> Vec<RunSummary> {
        (0..self.plans.len())
            .map(|i| RunSummary::new(&self.paths[i], &self.plans[i], self.slims[i]))
            .collect()
    }
}

fn freed_by_plans(world: &World) -> (u64, u64) {
    world.plans.iter().fold((0, 0), |acc, p| {
        let f = candidates::planned_to_free(p);
        (acc.0 + f.0, acc.1 + f.1)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn pressure_never_touches_what_the_planner_protects(
        runs in prop::collection::vec(arb_run(), 1..4),
        (state, target) in arb_fs(),
    ) {
        let world = World::new(&runs);
        let relief = relieve(&world.inputs(), Some(Filesystem { target: &target, state, coming: (0, 0) }), now());
        for order in &relief.orders {
            let plan = &world.plans[order.run];
            let v = plan.verdict(&order.checkpoint).unwrap();
            prop_assert!(reachable(plan.best.as_deref(), v), "{order:?} touches {v:?}");
            prop_assert_ne!(v.decision, Decision::Delete);
            if order.action == Action::Slim {
                prop_assert!(world.slims[order.run]);
                let whole = matches!(v.checkpoint.slim, Slim::Whole { .. });
                prop_assert!(whole);
            }
            prop_assert!(order.bytes <= v.bytes.unwrap_or(0));
            prop_assert!(order.inodes <= inodes(v));
        }
    }

    #[test]
    fn pressure_frees_no_more_than_needed_plus_one_checkpoint(
        runs in prop::collection::vec(arb_run(), 1..4),
        (state, target) in arb_fs(),
    ) {
        let world = World::new(&runs);
        let inputs = world.inputs();
        let relief = relieve(&inputs, Some(Filesystem { target: &target, state, coming: (0, 0) }), now());
        if let Some((_, before_last)) = relief.orders.split_last() {
            let headroom: u64 = inputs.iter().map(|i| i.next_save(now())).sum();
            let mut freed = freed_by_plans(&world);
            for order in before_last {
                freed.0 += order.bytes;
                freed.1 += order.inodes;
            }
            // Without its last order, the target was still not met: each order was needed.
            prop_assert!(!target::shortfall(&target, state, freed, headroom).is_met());
        }
    }

    #[test]
    fn pressure_gives_the_same_decisions_for_the_same_input(
        runs in prop::collection::vec(arb_run(), 1..4),
        (state, target) in arb_fs(),
    ) {
        let world = World::new(&runs);
        let again = World::new(&runs);
        let fs = Some(Filesystem { target: &target, state, coming: (0, 0) });
        prop_assert_eq!(relieve(&world.inputs(), fs, now()), relieve(&again.inputs(), fs, now()));
    }

    #[test]
    fn a_met_target_gets_no_pressure_decisions(
        runs in prop::collection::vec(arb_run(), 1..4),
        (state, target) in arb_fs(),
    ) {
        let world = World::new(&runs);
        let inputs = world.inputs();
        let relief = relieve(&inputs, Some(Filesystem { target: &target, state, coming: (0, 0) }), now());
        if relief.before.is_met() {
            prop_assert!(relief.orders.is_empty());
            prop_assert!(relief.unmet.is_none());
        } else {
            prop_assert!(!relief.orders.is_empty() || relief.unmet.is_some());
        }
    }

    #[test]
    fn every_order_applies_to_the_plan_it_was_made_from(
        runs in prop::collection::vec(arb_run(), 1..4),
        (state, target) in arb_fs(),
    ) {
        let world = World::new(&runs);
        let relief = relieve(&world.inputs(), Some(Filesystem { target: &target, state, coming: (0, 0) }), now());
        for (index, plan) in world.plans.iter().enumerate() {
            let mut fresh = plan.clone();
            let mine: Vec<&Order> = relief.orders.iter().filter(|o| o.run == index).collect();
            // A slim then a delete of the same checkpoint: the delete wins, the slim is moot.
            let deleted: Vec<&str> = mine
                .iter()
                .filter(|o| o.action == Action::Delete)
                .map(|o| o.checkpoint.as_str())
                .collect();
            let slims_undone = mine
                .iter()
                .filter(|o| o.action == Action::Slim && deleted.contains(&o.checkpoint.as_str()))
                .count();
            let dropped = apply(&mut fresh, mine.iter().copied().filter(|o| o.action == Action::Delete));
            prop_assert_eq!(dropped, 0);
            let dropped = apply(&mut fresh, mine.iter().copied().filter(|o| o.action == Action::Slim));
            prop_assert_eq!(dropped, slims_undone);
            // The protected stay as the planner decided.
            for (before, after) in plan.verdicts.iter().zip(&fresh.verdicts) {
                if !reachable(plan.best.as_deref(), before) {
                    prop_assert_eq!(before, after);
                }
            }
        }
    }

    #[test]
    fn a_budget_frees_within_its_run_no_more_than_needed_plus_one(
        runs in prop::collection::vec(arb_run(), 1..4),
        max_mib in 1u64..300,
    ) {
        let world = World::new(&runs);
        let mut inputs = world.inputs();
        inputs[0].max_bytes = Some(max_mib * MIB);
        let holds = candidates::run_bytes_after(&world.plans[0]);
        let relief = relieve(&inputs, None, now());
        if holds <= max_mib * MIB {
            prop_assert!(relief.orders.is_empty());
            prop_assert!(relief.budgets_unmet.is_empty());
        }
        prop_assert!(relief.orders.iter().all(|o| o.run == 0));
        if let Some((_, before_last)) = relief.orders.split_last() {
            let freed: u64 = before_last.iter().map(|o| o.bytes).sum();
            prop_assert!(holds - freed > max_mib * MIB);
        }
        for order in &relief.orders {
            let v = world.plans[0].verdict(&order.checkpoint).unwrap();
            prop_assert!(reachable(world.plans[0].best.as_deref(), v));
        }
    }
}
