//! `plan` for people: one block per run, one line per checkpoint.

use std::fmt::Write;

use super::{human_bytes, RunPlan};
use crate::plan::{Decision, Verdict};

pub fn render(plans: &[RunPlan]) -> String {
    let mut out = String::new();
    if plans.is_empty() {
        // As `status` says it: an empty output reads like a hang or a crash.
        out.push_str("no run directories found\n");
    }
    for p in plans {
        let deletions: Vec<&Verdict> = p.plan.deletions().collect();
        let freed: u64 = deletions.iter().filter_map(|v| v.bytes).sum();
        let _ = writeln!(
            out,
            "run {}  (watch {}, layout {}): {}, {} to delete, {} to free",
            shown(&p.run.display().to_string()),
            p.watch,
            p.layout,
            crate::report::count(p.plan.verdicts.len(), "checkpoint"),
            deletions.len(),
            human_bytes(freed)
        );
        if p.plan.verdicts.is_empty() {
            let _ = writeln!(out, "  (no checkpoints)");
        }
        let width = p
            .plan
            .verdicts
            .iter()
            .map(|v| shown(&v.name).chars().count())
            .max()
            .unwrap_or(4)
            .max(4);
        if !p.plan.verdicts.is_empty() {
            let _ = writeln!(
                out,
                "  {:<width$}  {:>10}  {:>10}  {:>10}  {:<8}  REASONS",
                "NAME", "STEP", "SIZE", "METRIC", "DECISION"
            );
        }
        for v in &p.plan.verdicts {
            let step = v.step.map_or_else(|| "-".to_owned(), |s| s.to_string());
            let size = v.bytes.map_or_else(|| "?".to_owned(), human_bytes);
            let metric = v
                .metric
                .value()
                .map_or_else(|| "-".to_owned(), super::metric_text);
            let decision = match v.decision {
                Decision::Keep => "keep",
                Decision::Slim => "SLIM",
                Decision::Delete => "DELETE",
            };
            let mut why = v.reasons_text();
            if !v.detail.is_empty() {
                let _ = write!(why, ": {}", v.detail);
            }
            let _ = writeln!(
                out,
                "  {:<width$}  {step:>10}  {size:>10}  {metric:>10}  {decision:<8}  {why}",
                shown(&v.name)
            );
        }
        if let Some(remote) = &p.remote {
            remote_block(&mut out, remote);
        }
        out.push('\n');
    }
    out
}

/// The run's uploaded copies under `remote` retention, below its own table.
fn remote_block(out: &mut String, remote: &crate::upload::remote::RemotePlan) {
    if let Some(e) = &remote.error {
        let _ = writeln!(
            out,
            "  remote copies in {}: cannot be listed: {e}",
            remote.url
        );
        return;
    }
    let deletions = remote.plan.deletions().count();
    let _ = writeln!(
        out,
        "  remote copies in {}: {} committed, {} to delete{}",
        remote.url,
        remote.plan.verdicts.len(),
        deletions,
        if remote.deleted.is_empty() {
            String::new()
        } else {
            format!(", {} deleted", remote.deleted.len())
        }
    );
    for v in &remote.plan.verdicts {
        let step = v.step.map_or_else(|| "-".to_owned(), |s| s.to_string());
        let size = v.bytes.map_or_else(|| "?".to_owned(), human_bytes);
        let decision = if v.decision == Decision::Delete {
            "DELETE"
        } else {
            "keep"
        };
        let mut why = v.reasons_text();
        if !v.detail.is_empty() {
            let _ = write!(why, ": {}", v.detail);
        }
        let _ = writeln!(
            out,
            "    {:<20}  {step:>10}  {size:>10}  {decision:<8}  {why}",
            shown(&v.name)
        );
    }
}

/// Names may hold newlines or control characters; show them escaped so a line stays a line.
fn shown(name: &str) -> String {
    if name.chars().any(char::is_control) {
        name.escape_debug().to_string()
    } else {
        name.to_owned()
    }
}

/// The filesystems section of `plan` and `status`: one line per `[[filesystem]]`, with its
/// free space, its target and whether it is met. Empty without `[[filesystem]]` tables.
pub fn render_filesystems(filesystems: &[crate::disk::FsOutcome]) -> String {
    let mut out = String::new();
    if filesystems.is_empty() {
        return out;
    }
    out.push_str("filesystems:\n");
    for fs in filesystems {
        let _ = writeln!(out, "  {}", crate::disk::describe(fs));
    }
    out
}
