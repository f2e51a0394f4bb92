//! `ckptd explain PATH`: one checkpoint, and everything that decides its fate: what it is
//! (step, size, completion, metrics), what protects it (the newest complete, a pin and since
//! when, a pointer, incomplete), each configured rule's view of it ("rank 2 of 9 by eval_loss",
//! "older than the last 3"), pressure, slimming, and the decision. Read-only, from disk, like
//! `plan`: it is the plan of the checkpoint's run, told for one checkpoint.

use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use super::{pass, pin};
use super::{EXIT_FAILED, EXIT_OK};
use crate::checkpoint::Protection;
use crate::config::Config;
use crate::pass::PassReport;
use crate::plan::{Decision, Reason, Verdict};
use crate::report::human_bytes;

pub fn explain(config: &Config, path: &Path) -> u8 {
    let (run, name) = match pin::resolve(config, path) {
        Ok(found) => found,
        Err((code, why)) => {
            errln!("ckptd: cannot explain {}: {why}", path.display());
            return code;
        }
    };
    let runs = match pass::select_runs(config, std::slice::from_ref(&run)) {
        Ok(runs) => runs,
        Err(message) => {
            errln!("ckptd: cannot explain {}: {message}", path.display());
            return EXIT_FAILED;
        }
    };
    crate::plan::want_views();
    let looked = pass::look(config, &runs);
    let Some(report) = looked.reports.iter().find(|r| r.run == run) else {
        errln!(
            "ckptd: cannot explain {}: its run {} could not be planned (see the ERROR above)",
            path.display(),
            run.display()
        );
        return EXIT_FAILED;
    };
    let Some(v) = report.plan.verdict(&name) else {
        errln!(
            "ckptd: cannot explain {}: {name} is not among the checkpoints found in {}",
            path.display(),
            run.display()
        );
        return EXIT_FAILED;
    };
    out!(
        "{}",
        render(report, v, pinned_since(&run, &name), SystemTime::now())
    );
    EXIT_OK
}

/// When the pin file was made, if there is one.
fn pinned_since(run: &Path, name: &str) -> Option<SystemTime> {
    let pin: PathBuf = run.join(crate::pins::PINS_DIR).join(name);
    std::fs::symlink_metadata(pin).ok()?.modified().ok()
}

/// The explanation, as printed.
fn render(report: &PassReport, v: &Verdict, pinned: Option<SystemTime>, now: SystemTime) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", report.run.join(&v.name).display());
    let _ = writeln!(
        out,
        "  run {} (watch {}, layout {})",
        report.run.display(),
        report.watch.name,
        report.watch.layout.name()
    );
    let _ = writeln!(out, "  {}", what_it_is(v, now));
    let metric = report
        .watch
        .policy
        .keep_best
        .as_ref()
        .map(|b| b.metric.as_str());
    if !v.checkpoint.metrics.is_empty() {
        let value = metric.map(|m| (m, v.metric.value()));
        let _ = writeln!(out, "  metrics: {}", v.checkpoint.metrics.text(value));
    }
    for line in protections(v, pinned, now) {
        let _ = writeln!(out, "  protected: {line}");
    }
    let width = v
        .views
        .iter()
        .map(|view| view.rule.len())
        .max()
        .unwrap_or(0);
    for view in &v.views {
        let _ = writeln!(
            out,
            "  {:width$}  {}  {}",
            view.rule,
            if view.keeps { "keeps" } else { "no   " },
            view.text
        );
    }
    if v.views.is_empty() && v.is_complete() {
        let _ = writeln!(
            out,
            "  no keep rule configured for watch {}",
            report.watch.name
        );
    }
    if v.reasons.contains(&Reason::Pressure) {
        let _ = writeln!(out, "  pressure: {}", v.detail);
    }
    let _ = writeln!(out, "  decision: {}", decision(v));
    out
}

/// "step 1500, 4.0 MiB, completed 2026-12-01T04:00:00Z (2h 3m ago)", or why it is not
/// complete.
fn what_it_is(v: &Verdict, now: SystemTime) -> String {
    let step = v
        .step
        .map_or_else(|| "no step".to_owned(), |s| format!("step {s}"));
    let size = v
        .bytes
        .map_or_else(|| "size unknown".to_owned(), human_bytes);
    let when = match (v.is_complete(), v.checkpoint.completed_at()) {
        (true, Some(at)) => format!("completed {}", instant(at, now)),
        (true, None) => "complete".to_owned(),
        (false, Some(at)) => format!(
            "incomplete ({}), last written {}",
            v.detail,
            instant(at, now)
        ),
        (false, None) => format!("incomplete ({})", v.detail),
    };
    format!("{step}, {size}, {when}")
}

/// "2026-12-01T04:00:00Z (2h 3m ago)".
fn instant(at: SystemTime, now: SystemTime) -> String {
    let secs = at
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let age = now.duration_since(at).map_or_else(
        |_| "in the future by this machine's clock".to_owned(),
        |d| format!("{} ago", crate::duration::show(d)),
    );
    format!("{} ({age})", crate::plan::calendar::rfc3339(secs, 0))
}

/// What protects it, one line each.
fn protections(v: &Verdict, pinned: Option<SystemTime>, now: SystemTime) -> Vec<String> {
    let mut lines = Vec::new();
    if v.reasons.contains(&Reason::NewestComplete) {
        lines.push("the newest complete checkpoint (the resume point)".to_owned());
    }
    for p in &v.checkpoint.protections {
        lines.push(match p {
            Protection::Pinned => match pinned {
                Some(at) => format!("pinned since {}", instant(at, now)),
                None => "pinned".to_owned(),
            },
            Protection::Pointer(which) => format!("pointed at by {which}"),
            Protection::Alias => {
                "an alias of another checkpoint (never counted by a rule)".to_owned()
            }
        });
    }
    if v.reasons.contains(&Reason::Incomplete) {
        lines.push("incomplete: never deleted".to_owned());
    }
    lines
}

/// "keep (last, best)", "delete: older than the last 3; …", "slim: …".
fn decision(v: &Verdict) -> String {
    let reasons: Vec<&str> = v.reasons.iter().map(|r| r.as_str()).collect();
    match v.decision {
        Decision::Keep => format!("keep ({})", reasons.join(", ")),
        Decision::Slim => format!("keep, slimmed now ({}): {}", reasons.join(", "), v.detail),
        Decision::Delete => format!("delete: {}", v.detail),
    }
}
