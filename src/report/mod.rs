//! Renders plans for people (`table`) and for tools (`json`).

pub mod json;
pub mod table;

use std::path::PathBuf;

use crate::plan::Plan;

/// One run's plan, with what the renderers need to say about it.
#[derive(Debug)]
pub struct RunPlan {
    pub run: PathBuf,
    pub watch: String,
    pub layout: &'static str,
    /// The policy's metric (`keep_best`), if it ranks one.
    pub metric: Option<String>,
    pub plan: Plan,
    /// Remote retention of the run's uploaded copies, when the watch has `remote`.
    pub remote: Option<crate::upload::remote::RemotePlan>,
}

/// The DEBUG line of one decision, the same from `plan`/`prune` and the daemon.
pub fn log_decision(run: &std::path::Path, watch: &str, v: &crate::plan::Verdict) {
    tracing::debug!(
        run = %run.display(),
        watch = %watch,
        checkpoint = %v.name,
        step = v.step,
        bytes = v.bytes,
        value = v.metric.value(),
        metrics = %v.checkpoint.metrics.to_json(),
        decision = v.decision.as_str(),
        reasons = %v.reasons_text(),
        detail = %v.detail,
        "decision: {} {} ({}){}{}",
        v.decision.as_str(),
        v.name,
        v.reasons_text(),
        if v.detail.is_empty() { "" } else { ": " },
        v.detail
    );
}

/// The WARN for an incomplete checkpoint untouched for `age` (a crashed save?), shared by
/// `status` and the daemon (which says it once per checkpoint).
pub fn warn_stale(run: &std::path::Path, v: &crate::plan::Verdict, age: std::time::Duration) {
    let untouched = crate::duration::show(age);
    tracing::warn!(
        run = %run.display(),
        checkpoint = %v.name,
        step = v.step,
        bytes = v.bytes,
        reason = %v.detail,
        untouched = %untouched,
        "incomplete checkpoint untouched for a long time (a crashed save?): never deleted by ckptd: {} in {}, untouched for {untouched}",
        v.name,
        run.display()
    );
}

/// The ERROR of a held run (DESIGN invariant 9), shared by the one-shot commands and the
/// daemon: the metric, the names the source did give at the checkpoints' steps, and the
/// closest of them.
pub fn log_held(run: &std::path::Path, watch: &str, metric: &str, plan: &Plan) {
    let mut found: Vec<&str> = plan
        .verdicts
        .iter()
        .filter(|v| v.is_complete())
        .flat_map(|v| v.checkpoint.metrics.names())
        .collect();
    found.sort_unstable();
    found.dedup();
    let suggestion = crate::suggest::closest(metric, found.iter().copied());
    // At most 20 names: each checkpoint may bring 64, and the line must stay readable.
    let mut keys = found
        .iter()
        .take(20)
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
    if found.len() > 20 {
        keys = format!("{keys} and {} more", found.len() - 20);
    }
    let hint = match (suggestion, found.is_empty()) {
        (Some(s), _) => format!("did you mean `{s}`? The source has: {keys}"),
        (None, false) => format!("the source has: {keys}"),
        (None, true) => "the source gave no metric at all at the checkpoints' steps: check `metric_source` (and that the metric is logged at the steps checkpoints are saved)".to_owned(),
    };
    tracing::error!(
        run = %run.display(),
        watch = %watch,
        metric = %metric,
        keys = %keys,
        suggestion,
        "keep_best holds run {}: no complete checkpoint has a readable `{metric}`, so nothing in it is deleted; {hint}",
        run.display()
    );
}

/// Sizes as people read them: `512 B`, `1.5 KiB`, `3.2 GiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    #[allow(clippy::cast_precision_loss)]
    let mut value = bytes as f64;
    let mut unit = 0;
    // 1023.96 MiB would print as "1024.0 MiB": one decimal decides, so it reads 1.0 GiB.
    while value >= 1023.95 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        // Bytes are exact: 1023 B stays 1023 B.
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// "1 checkpoint", "3 checkpoints".
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// A metric as the table shows it in its 10 columns: four decimals where that says something
/// (`0.4127`), scientific notation for very large or very small values (`1.2346e-7`, not
/// `0.0000`), and NaN and infinities by name.
pub fn metric_text(value: f64) -> String {
    let magnitude = value.abs();
    if value.is_finite() && magnitude != 0.0 && !(1e-3..1e5).contains(&magnitude) {
        format!("{value:.4e}")
    } else {
        format!("{value:.4}")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_never_read_1024_of_a_unit() {
        use super::human_bytes;
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1024), "1.0 KiB");
        assert_eq!(human_bytes((1 << 40) - (1 << 20)), "1.0 TiB");
        assert_eq!(human_bytes((1 << 30) - (60 << 20)), "964.0 MiB");
        assert_eq!(human_bytes(1536 << 20), "1.5 GiB");
    }

    #[test]
    fn a_metric_keeps_its_digits_whatever_its_size() {
        assert_eq!(super::metric_text(0.412_7), "0.4127");
        assert_eq!(super::metric_text(0.0), "0.0000");
        assert_eq!(super::metric_text(1.234_567e-7), "1.2346e-7");
        assert_eq!(super::metric_text(-3.5e9), "-3.5000e9");
        assert_eq!(super::metric_text(12_345.6), "12345.6000");
        assert_eq!(super::metric_text(f64::NAN), "NaN");
        assert_eq!(super::metric_text(f64::INFINITY), "inf");
    }

    #[test]
    fn human_bytes_picks_a_unit() {
        assert_eq!(super::human_bytes(0), "0 B");
        assert_eq!(super::human_bytes(1536), "1.5 KiB");
        assert_eq!(super::human_bytes(3 << 30), "3.0 GiB");
    }
}
