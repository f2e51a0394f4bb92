use std::num::NonZeroU64;
use std::time::{Duration, UNIX_EPOCH};

use super::*;
use crate::offload::manifest::{FileEntry, Manifest};
use crate::plan::plan;
use crate::policy::{BestRule, Mode, Policy};

/// Four complete checkpoints; losses make ckpt 200 the best.
fn four() -> Vec<crate::checkpoint::Checkpoint> {
    [(100, 0.9), (200, 0.1), (300, 0.5), (400, 0.7)]
        .iter()
        .map(|&(step, loss)| {
            let mut m = Manifest::new(
                &format!("checkpoint-{step}"),
                true,
                step,
                vec![FileEntry {
                    path: "w".to_owned(),
                    bytes: 1,
                    sha256: "0".repeat(64),
                }],
            );
            m.step = Some(step);
            m.metrics.insert("eval_loss".to_owned(), loss);
            m.to_checkpoint(Some("eval_loss"))
        })
        .collect()
}

fn policy() -> Policy {
    Policy {
        keep_best: Some(BestRule {
            count: NonZeroU64::new(1).unwrap(),
            metric: "eval_loss".to_owned(),
            mode: Mode::Min,
        }),
        settle: Duration::ZERO,
        ..Policy::keep_last(1)
    }
}

#[test]
fn which_names_rules_or_all() {
    assert_eq!(Which::parse(&["all"]), Ok(Which::All));
    assert_eq!(
        Which::parse(&["best", "every-steps", "best"]),
        Ok(Which::Rules(vec![Reason::Best, Reason::EverySteps]))
    );
    assert!(Which::parse(&[]).unwrap_err().contains("`which` is empty"));
    assert!(Which::parse(&["all", "best"])
        .unwrap_err()
        .contains("give it alone"));
    assert!(Which::parse(&["bset"])
        .unwrap_err()
        .contains("`bset` is not a rule to upload for"));
}

#[test]
fn the_named_rules_choose_what_is_uploaded() {
    let p = plan(&four(), &policy(), UNIX_EPOCH + Duration::from_secs(10_000));
    let chosen = |which: &Which| -> Vec<&str> {
        p.verdicts
            .iter()
            .filter(|v| which.wants(v))
            .map(|v| v.name.as_str())
            .collect()
    };
    assert_eq!(
        chosen(&Which::Rules(vec![Reason::Best])),
        ["checkpoint-200"]
    );
    assert_eq!(
        chosen(&Which::Rules(vec![Reason::Last])),
        ["checkpoint-400"]
    );
    assert_eq!(chosen(&Which::All).len(), 4);
}

#[test]
fn a_checkpoint_whose_upload_is_pending_is_never_deleted() {
    let mut p = plan(&four(), &policy(), UNIX_EPOCH + Duration::from_secs(10_000));
    let deleted_before: Vec<String> = p.deletions().map(|v| v.name.clone()).collect();
    assert_eq!(deleted_before, ["checkpoint-100", "checkpoint-300"]);
    // checkpoint-300 was the best once and chosen then; its upload has not committed.
    let pending = |name: &str| name == "checkpoint-300" || name == "checkpoint-400";
    assert_eq!(hold_uploading(&mut p, &pending, "s3://b/w/run"), 1);
    let v = p.verdict("checkpoint-300").unwrap();
    assert_eq!(v.decision, Decision::Keep);
    assert_eq!(v.reasons, [Reason::Uploading]);
    assert_eq!(
        v.detail,
        "would be deleted (older than the last 1; rank 2 of 4 by eval_loss, keep_best is 1), but its upload to s3://b/w/run is not committed yet"
    );
    // A kept one gains the reason; the others are untouched.
    let newest = p.verdict("checkpoint-400").unwrap();
    assert!(newest.reasons.contains(&Reason::Uploading));
    assert!(newest.reasons.contains(&Reason::NewestComplete));
    assert_eq!(
        p.verdict("checkpoint-100").unwrap().decision,
        Decision::Delete
    );
    assert!(Reason::PROTECTIONS.contains(&Reason::Uploading));
}
