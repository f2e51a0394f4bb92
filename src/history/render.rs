//! `ckptd history` as a table for people and as JSON for tools.

use std::fmt::Write as _;

use serde_json::json;

use super::{Entry, Fate, RunHistory};
use crate::metrics::named::number_json;

/// Unix seconds as `2026-11-30T12:00:00Z`, whatever the year (a ledger line may carry any
/// number; an mtime may be set past 9999, where humantime's formatter panics).
pub fn time_text(seconds: u64) -> String {
    crate::plan::calendar::rfc3339(i64::try_from(seconds).unwrap_or(i64::MAX), 0)
}

/// What became of it, in a few words (`kept`, `deleted 2026-11-30T12:00:00Z`), and why.
pub fn fate_text(fate: &Fate) -> (String, String) {
    match fate {
        Fate::Kept => ("kept".to_owned(), String::new()),
        Fate::Deleted { at, why } => (format!("deleted {}", time_text(*at)), why.clone()),
        Fate::Deleting { at } => (
            format!("deleting {}", time_text(*at)),
            "no result recorded: ckptd stopped mid-deletion and finishes it at its next start"
                .to_owned(),
        ),
        Fate::NotDeleted {
            at,
            error,
            in_trash: true,
        } => (
            format!("in trash {}", time_text(*at)),
            format!("moved out of the run but not removed: {error}"),
        ),
        Fate::NotDeleted { at, error, .. } => {
            (format!("not deleted {}", time_text(*at)), error.clone())
        }
        Fate::Replaced => (
            "replaced".to_owned(),
            "the trainer saved again under this name".to_owned(),
        ),
        Fate::Gone => (
            "gone".to_owned(),
            "not on disk, not deleted by ckptd".to_owned(),
        ),
    }
}

fn metrics_text(e: &Entry) -> String {
    e.metrics.text(e.metric.as_deref().map(|m| (m, e.value)))
}

/// One block per run: a header line, then a row per checkpoint.
pub fn table(runs: &[RunHistory]) -> String {
    let mut out = String::new();
    for (i, run) in runs.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let deleted = run
            .entries
            .iter()
            .filter(|e| matches!(e.fate, Fate::Deleted { .. }))
            .count();
        let _ = writeln!(
            out,
            "{} (watch {}): {} checkpoints seen, {deleted} deleted",
            run.run.display(),
            if run.watch.is_empty() {
                "-"
            } else {
                &run.watch
            },
            run.entries.len()
        );
        // The fate before the metrics: HF logs a dozen of them at each step.
        let rows: Vec<[String; 6]> = run
            .entries
            .iter()
            .map(|e| {
                let (fate, why) = fate_text(&e.fate);
                [
                    e.checkpoint.clone(),
                    e.step.map_or_else(|| "-".to_owned(), |s| s.to_string()),
                    e.completed.map_or_else(|| "-".to_owned(), time_text),
                    fate,
                    metrics_text(e),
                    why,
                ]
            })
            .collect();
        let header =
            ["CHECKPOINT", "STEP", "COMPLETED", "FATE", "METRICS", "WHY"].map(str::to_owned);
        let mut widths = header.clone().map(|h| h.chars().count());
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        for row in std::iter::once(&header).chain(&rows) {
            let line = format!(
                "  {:<w0$}  {:>w1$}  {:<w2$}  {:<w3$}  {:<w4$}  {}",
                row[0],
                row[1],
                row[2],
                row[3],
                row[4],
                row[5],
                w0 = widths[0],
                w1 = widths[1],
                w2 = widths[2],
                w3 = widths[3],
                w4 = widths[4],
            );
            let _ = writeln!(out, "{}", line.trim_end());
        }
    }
    if runs.is_empty() {
        out.push_str("no checkpoints recorded\n");
    }
    out
}

/// `{"runs":[{"run","watch","metric","checkpoints":[{"checkpoint","step","bytes","completed",
/// "metric","value","metrics","fate","at","why"}]}]}`; times in RFC 3339, `null` when unknown.
pub fn json(runs: &[RunHistory]) -> String {
    let runs: Vec<serde_json::Value> = runs
        .iter()
        .map(|run| {
            let checkpoints: Vec<serde_json::Value> = run
                .entries
                .iter()
                .map(|e| {
                    let (fate, at, why) = match &e.fate {
                        Fate::Kept => ("kept", None, None),
                        Fate::Deleted { at, why } => ("deleted", Some(*at), Some(why.clone())),
                        Fate::Deleting { at } => ("deleting", Some(*at), None),
                        Fate::NotDeleted { at, error, .. } => {
                            ("not-deleted", Some(*at), Some(error.clone()))
                        }
                        Fate::Replaced => ("replaced", None, None),
                        Fate::Gone => ("gone", None, None),
                    };
                    json!({
                        "checkpoint": e.checkpoint,
                        "step": e.step,
                        "bytes": e.bytes,
                        "completed": e.completed.map(time_text),
                        "metric": e.metric,
                        "value": number_json(e.value),
                        "metrics": e.metrics.to_json(),
                        "fate": fate,
                        "at": at.map(time_text),
                        "why": why,
                    })
                })
                .collect();
            json!({
                "run": run.run.display().to_string(),
                "watch": run.watch,
                "metric": run.metric(),
                "checkpoints": checkpoints,
            })
        })
        .collect();
    serde_json::to_string_pretty(&json!({ "runs": runs })).expect("plain data serialises")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_says_when_and_why() {
        let runs = super::super::fold(
            r#"{"time":0,"event":"complete","run":"/r","watch":"w","checkpoint":"c-1","step":1,"completed":0,"metric":"loss","value":0.5,"metrics":{"loss":0.5,"acc":0.25}}
{"time":60,"event":"deleted","run":"/r","watch":"w","checkpoint":"c-1","step":1,"detail":"older than the last 1"}
{"time":30,"event":"complete","run":"/r","watch":"w","checkpoint":"c-2","step":2,"completed":30,"metric":"loss","value":0.25,"metrics":{"loss":0.25}}"#
                .lines(),
        );
        let text = table(&runs);
        assert_eq!(
            text,
            "/r (watch w): 2 checkpoints seen, 1 deleted\n\
             \x20 CHECKPOINT  STEP  COMPLETED             FATE                          METRICS                 WHY\n\
             \x20 c-1            1  1970-01-01T00:00:00Z  deleted 1970-01-01T00:01:00Z  loss=0.5000 acc=0.2500  older than the last 1\n\
             \x20 c-2            2  1970-01-01T00:00:30Z  kept                          loss=0.2500\n"
        );
        let doc: serde_json::Value = serde_json::from_str(&json(&runs)).unwrap();
        // Any number a ledger holds is a time that prints (the year 10000, u64::MAX).
        assert_eq!(time_text(253_402_300_800), "10000-01-01T00:00:00Z");
        assert!(time_text(u64::MAX).ends_with('Z'));
        let c1 = &doc["runs"][0]["checkpoints"][0];
        assert_eq!(c1["fate"], "deleted");
        assert_eq!(c1["at"], "1970-01-01T00:01:00Z");
        assert_eq!(c1["why"], "older than the last 1");
        assert_eq!(c1["metrics"]["acc"], 0.25);
        assert_eq!(doc["runs"][0]["metric"], "loss");
    }
}
