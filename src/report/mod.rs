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
    pub plan: Plan,
}

/// The DEBUG line of one decision, the same from `plan`/`prune` and the daemon.
pub fn log_decision(run: &std::path::Path, v: &crate::plan::Verdict) {
    tracing::debug!(
        run = %run.display(),
        checkpoint = %v.name,
        step = v.step,
        bytes = v.bytes,
        metric = v.metric.value(),
        decision = v.decision.as_str(),
        reasons = %v.reasons_text(),
        detail = %v.detail,
        "decision"
    );
}

/// Sizes as people read them: `512 B`, `1.5 KiB`, `3.2 GiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    #[allow(clippy::cast_precision_loss)]
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn human_bytes_picks_a_unit() {
        assert_eq!(super::human_bytes(0), "0 B");
        assert_eq!(super::human_bytes(1536), "1.5 KiB");
        assert_eq!(super::human_bytes(3 << 30), "3.0 GiB");
    }
}
