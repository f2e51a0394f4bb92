use std::num::NonZeroU64;
use std::time::{Duration, UNIX_EPOCH};

use super::*;
use crate::offload::manifest::FileEntry;
use crate::plan::{Decision, Reason};
use crate::policy::{BestRule, Mode};

fn copy(step: u64, loss: Option<f64>) -> Manifest {
    let files = vec![FileEntry {
        path: "model.safetensors".to_owned(),
        bytes: 10,
        sha256: "0".repeat(64),
    }];
    let mut m = Manifest::new(&format!("checkpoint-{step}"), true, 1_000 + step, files);
    m.step = Some(step);
    if let Some(loss) = loss {
        m.metrics.insert("eval_loss".to_owned(), loss);
    }
    m
}

fn decisions(plan: &Plan) -> Vec<(&str, Decision)> {
    plan.verdicts
        .iter()
        .map(|v| (v.name.as_str(), v.decision))
        .collect()
}

fn best(count: u64) -> BestRule {
    BestRule {
        count: NonZeroU64::new(count).unwrap(),
        metric: "eval_loss".to_owned(),
        mode: Mode::Min,
    }
}

#[test]
fn keep_last_keeps_the_newest_copies_and_deletes_the_rest() {
    let copies: Vec<Manifest> = (1..=4).map(|i| copy(i * 100, None)).collect();
    let plan = plan_remote(&copies, &Policy::keep_last(2), UNIX_EPOCH);
    assert_eq!(
        decisions(&plan),
        [
            ("checkpoint-100", Decision::Delete),
            ("checkpoint-200", Decision::Delete),
            ("checkpoint-300", Decision::Keep),
            ("checkpoint-400", Decision::Keep),
        ]
    );
    // The clock (UNIX_EPOCH, long before every completion time) does not make a committed
    // copy incomplete.
    assert!(plan.verdicts[3].reasons.contains(&Reason::NewestComplete));
}

#[test]
fn keep_best_ranks_the_copies_by_their_manifests_metric_and_never_deletes_an_unranked_one_as_worst()
{
    let copies = vec![
        copy(100, Some(0.9)),
        copy(200, Some(0.3)),
        copy(300, None),
        copy(400, Some(0.5)),
    ];
    let policy = Policy {
        keep_last: Some(1),
        keep_best: Some(best(1)),
        ..Policy::keep_last(1)
    };
    let plan = plan_remote(&copies, &policy, UNIX_EPOCH + Duration::from_secs(10_000));
    assert_eq!(
        decisions(&plan),
        [
            ("checkpoint-100", Decision::Delete),
            ("checkpoint-200", Decision::Keep),
            ("checkpoint-300", Decision::Delete),
            ("checkpoint-400", Decision::Keep),
        ]
    );
    assert_eq!(plan.best.as_deref(), Some("checkpoint-200"));
    let unranked = plan.verdict("checkpoint-300").unwrap();
    assert!(
        unranked.detail.contains("unranked: no eval_loss found"),
        "{}",
        unranked.detail
    );
}

#[test]
fn copies_without_any_metric_hold_the_remote_run_like_a_local_one() {
    let copies: Vec<Manifest> = (1..=3).map(|i| copy(i * 100, None)).collect();
    let policy = Policy {
        keep_last: Some(1),
        keep_best: Some(best(1)),
        ..Policy::keep_last(1)
    };
    let plan = plan_remote(&copies, &policy, UNIX_EPOCH);
    assert!(plan.held(), "{:?}", decisions(&plan));
    assert_eq!(plan.deletions().count(), 0);
}

#[test]
fn a_remote_deletion_removes_the_manifest_first_then_only_the_objects_it_names() {
    let mut m = copy(500, None);
    m.files.push(FileEntry {
        path: "global_step500/mp_rank_00_model_states.pt".to_owned(),
        bytes: 5,
        sha256: "1".repeat(64),
    });
    assert_eq!(
        deletion_order("runs/hf/exp1", &m),
        RemoteDeletion {
            manifest: "runs/hf/exp1/checkpoint-500/.ckptd-manifest.json".to_owned(),
            objects: vec![
                "runs/hf/exp1/checkpoint-500/model.safetensors".to_owned(),
                "runs/hf/exp1/checkpoint-500/global_step500/mp_rank_00_model_states.pt".to_owned(),
            ],
        }
    );
    assert_eq!(
        deletion_order("", &m).manifest,
        "checkpoint-500/.ckptd-manifest.json"
    );
}
