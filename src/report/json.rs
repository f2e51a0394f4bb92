//! `plan --json`: `{"runs":[{"run","watch","layout","checkpoints":[{"name","path","step",
//! "complete","bytes","metric","metric_name","metrics","decision","reasons","detail"}],
//! "remote":{"to","error","deleted","copies":[{"name","step","bytes","metrics","decision",
//! "reasons","detail"}]} (only with `remote`)}],
//! "filesystems":[{"path","total_bytes","free_bytes","total_inodes","free_inodes",
//! "want_bytes","want_inodes","missing_bytes","missing_inodes","met","cannot_meet",
//! "pressure_deletions","pressure_slims","error"}]}`. Tools rely on these names.

use serde::Serialize;

use super::RunPlan;
use crate::plan::{Decision, Reason};

#[derive(Serialize)]
struct Document<'a> {
    runs: Vec<RunJson<'a>>,
    /// One per `[[filesystem]]` table (empty without them).
    filesystems: Vec<FilesystemJson>,
}

#[derive(Serialize, Default)]
pub(crate) struct FilesystemJson {
    path: String,
    total_bytes: u64,
    free_bytes: u64,
    total_inodes: u64,
    free_inodes: u64,
    /// Free bytes and inodes the target asks for (floor plus headroom).
    want_bytes: u64,
    want_inodes: u64,
    /// What the rules' own decisions leave missing, before pressure.
    missing_bytes: u64,
    missing_inodes: u64,
    met: bool,
    /// What is still missing after every pressure decision, when the target cannot be met.
    cannot_meet: Option<String>,
    pressure_deletions: usize,
    pressure_slims: usize,
    /// Why the filesystem could not be measured.
    error: Option<String>,
}

pub(crate) fn filesystem_json(fs: &crate::disk::FsOutcome) -> FilesystemJson {
    let path = fs.target.path.display().to_string();
    let state = match &fs.state {
        Ok(state) => *state,
        Err(e) => {
            return FilesystemJson {
                path,
                error: Some(e.to_string()),
                ..FilesystemJson::default()
            }
        }
    };
    let before = fs.relief.before;
    let slims = fs
        .relief
        .orders
        .iter()
        .filter(|o| o.action == crate::pressure::Action::Slim)
        .count();
    FilesystemJson {
        path,
        total_bytes: state.total_bytes,
        free_bytes: state.free_bytes,
        total_inodes: state.total_inodes,
        free_inodes: state.free_inodes,
        want_bytes: before.want_bytes,
        want_inodes: before.want_inodes,
        missing_bytes: before.bytes,
        missing_inodes: before.inodes,
        met: before.is_met(),
        cannot_meet: fs
            .relief
            .unmet
            .as_ref()
            .map(|u| crate::disk::unmet_text(u, &fs.runs)),
        pressure_deletions: fs.relief.orders.len() - slims,
        pressure_slims: slims,
        error: None,
    }
}

#[derive(Serialize)]
struct RunJson<'a> {
    run: String,
    watch: &'a str,
    layout: &'a str,
    checkpoints: Vec<CheckpointJson<'a>>,
    /// With `remote`: the run's committed uploaded copies and what retention does with them.
    #[serde(skip_serializing_if = "Option::is_none")]
    remote: Option<RemoteJson<'a>>,
}

#[derive(Serialize)]
struct RemoteJson<'a> {
    to: &'a str,
    error: Option<&'a str>,
    copies: Vec<RemoteCopyJson<'a>>,
    deleted: &'a [String],
}

#[derive(Serialize)]
struct RemoteCopyJson<'a> {
    name: &'a str,
    step: Option<u64>,
    bytes: Option<u64>,
    metrics: serde_json::Value,
    decision: Decision,
    reasons: &'a [Reason],
    detail: &'a str,
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

pub fn render(plans: &[RunPlan], filesystems: &[crate::disk::FsOutcome]) -> String {
    let doc = Document {
        filesystems: filesystems.iter().map(filesystem_json).collect(),
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
                remote: p.remote.as_ref().map(|r| RemoteJson {
                    to: &r.url,
                    error: r.error.as_deref(),
                    deleted: &r.deleted,
                    copies: r
                        .plan
                        .verdicts
                        .iter()
                        .map(|v| RemoteCopyJson {
                            name: &v.name,
                            step: v.step,
                            bytes: v.bytes,
                            metrics: v.checkpoint.metrics.to_json(),
                            decision: v.decision,
                            reasons: &v.reasons,
                            detail: &v.detail,
                        })
                        .collect(),
                }),
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
