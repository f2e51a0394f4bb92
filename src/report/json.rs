//! `plan --json`: `{"runs":[{"run","watch","layout","checkpoints":[{"name","path","step",
//! "complete","bytes","metric","metric_name","metrics","decision","reasons","detail"}]}]}`.
//! Tools rely on these names.

use serde::Serialize;

use super::RunPlan;
use crate::plan::{Decision, Reason};

#[derive(Serialize)]
struct Document<'a> {
    runs: Vec<RunJson<'a>>,
}

#[derive(Serialize)]
struct RunJson<'a> {
    run: String,
    watch: &'a str,
    layout: &'a str,
    checkpoints: Vec<CheckpointJson<'a>>,
}

#[derive(Serialize)]
struct CheckpointJson<'a> {
    name: &'a str,
    path: String,
    step: Option<u64>,
    complete: bool,
    bytes: Option<u64>,
    metric: serde_json::Value,
    /// The policy's metric, which `metric` is the value of; `null` when nothing is ranked.
    metric_name: Option<&'a str>,
    /// Every number the source has for the checkpoint's step (at most 64).
    metrics: serde_json::Value,
    decision: Decision,
    reasons: &'a [Reason],
    detail: &'a str,
}

use crate::metrics::named::number_json as metric_json;

pub fn render(plans: &[RunPlan]) -> String {
    let doc = Document {
        runs: plans
            .iter()
            .map(|p| RunJson {
                run: p.run.display().to_string(),
                watch: &p.watch,
                layout: p.layout,
                checkpoints: p
                    .plan
                    .verdicts
                    .iter()
                    .map(|v| CheckpointJson {
                        name: &v.name,
                        path: p.run.join(&v.name).display().to_string(),
                        step: v.step,
                        complete: v.is_complete(),
                        bytes: v.bytes,
                        metric: metric_json(v.metric.value()),
                        metric_name: p.metric.as_deref(),
                        metrics: v.checkpoint.metrics.to_json(),
                        decision: v.decision,
                        reasons: &v.reasons,
                        detail: &v.detail,
                    })
                    .collect(),
            })
            .collect(),
    };
    serde_json::to_string_pretty(&doc).expect("plain data serialises")
}

#[cfg(test)]
mod tests {
    use super::metric_json;

    #[test]
    fn nan_is_a_string_and_absence_is_null() {
        assert_eq!(metric_json(Some(f64::NAN)), serde_json::json!("NaN"));
        assert_eq!(metric_json(None), serde_json::Value::Null);
        assert_eq!(metric_json(Some(0.5)), serde_json::json!(0.5));
    }
}
