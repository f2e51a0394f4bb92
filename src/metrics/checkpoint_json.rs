//! The `checkpoint_json` metric source: a JSON file inside the checkpoint.
//!
//! Two shapes: HF `trainer_state.json`, whose `log_history` holds a train entry and an eval
//! entry for the same step (the metric is in the **last** entry with the checkpoint's step that
//! contains the key); and a flat object such as Orbax `metrics/metrics` (the key itself).
//!
//! The file is opened only if it stays inside the run (see `confined`), read only if it holds
//! at most `max_metric_bytes`, and then streamed (see `json_stream`; again only when it
//! changed, see `json_cache`): a larger file makes the metric unknown (`TooLarge`: the
//! checkpoint is kept), never "no metric".

use std::path::Path;

use super::confined::{self, OpenError};
use super::json::Json;
use super::json_cache;
use super::json_stream::{Outcome, Wanted};
use super::named::Metrics;
use super::warn_once;
use crate::checkpoint::{MetricObservation, OverCap};

/// The metric of the checkpoint whose file is `file` (inside `run`), at `step`, and every
/// number at that step. Without a `metric` (nothing is ranked) an unreadable file is DEBUG:
/// no decision depends on it.
pub fn observe(
    run: &Path,
    file: &Path,
    step: Option<u64>,
    metric: Option<&str>,
    max_bytes: u64,
    incomplete: bool,
) -> (MetricObservation, Metrics) {
    let none = || (MetricObservation::Final(None), Metrics::default());
    let unreadable = |e: &dyn std::fmt::Display| {
        if incomplete || metric.is_none() {
            tracing::debug!(path = %file.display(), error = %e, "metric file of an incomplete checkpoint not readable yet");
        } else {
            tracing::warn!(path = %file.display(), error = %e, "metric file unreadable: no metric: {}: {e}", file.display());
        }
        none()
    };
    let opened = match confined::open(run, file) {
        Ok(opened) => opened,
        Err(OpenError::Escapes { target }) => {
            warn_once::escapes(run, file, &target);
            return none();
        }
        // Missing (Orbax writes metrics only with a best_fn), unreadable, not a regular file.
        Err(OpenError::Io(_)) => return none(),
    };
    let too_large = |bytes: u64| {
        let over = OverCap {
            path: file.to_owned(),
            bytes,
            cap: max_bytes,
            offset: None,
        };
        warn_once::too_large(run, &over);
        (MetricObservation::TooLarge(over), Metrics::default())
    };
    let size = opened.metadata().map_or(0, |m| m.len());
    if size > max_bytes {
        return too_large(size);
    }
    let wanted = Wanted {
        step,
        metric,
        all: true,
    };
    match json_cache::read_file(file, &opened, &wanted, Some(max_bytes), max_bytes) {
        Ok(Outcome::Found(found)) => {
            warn_once::read_fine(file);
            (MetricObservation::Final(found.metric), found.metrics)
        }
        Ok(Outcome::OverLimit) => too_large(opened.metadata().map_or(size, |m| m.len())),
        Ok(Outcome::Unparsable(e)) => unreadable(&e),
        Err(e) => unreadable(&e),
    }
}

/// Pure: the metric for `step` in a parsed document (the full parser's view, which the
/// streaming reader reproduces).
pub fn value_for(doc: &Json, step: Option<u64>, metric: &str) -> Option<f64> {
    if let Some(Json::Array(history)) = doc.get("log_history") {
        let step = step?;
        return history
            .iter()
            .rev()
            .filter(|entry| entry.get("step").and_then(Json::as_step) == Some(step))
            .find_map(|entry| entry.get(metric).and_then(Json::as_number));
    }
    doc.get(metric).and_then(Json::as_number)
}

/// Pure: every number at `step` (DESIGN "Metric sources"): those of the `log_history` entries
/// at the step, later entries winning, or a flat object's top-level numbers.
pub fn metrics_for(doc: &Json, step: Option<u64>) -> Metrics {
    let mut metrics = Metrics::default();
    let numbers = |object: &Json, skip: &str, metrics: &mut Metrics| {
        if let Json::Object(map) = object {
            for (name, value) in map {
                if let (true, Some(n)) = (name != skip, value.as_number()) {
                    metrics.insert(name, n);
                }
            }
        }
    };
    if let Some(Json::Array(history)) = doc.get("log_history") {
        for entry in history {
            if step.is_some() && entry.get("step").and_then(Json::as_step) == step {
                numbers(entry, "step", &mut metrics);
            }
        }
    } else {
        numbers(doc, "log_history", &mut metrics);
    }
    metrics
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::json;

    /// The policy metric's observation alone.
    fn obs(
        run: &Path,
        file: &Path,
        step: Option<u64>,
        metric: &str,
        max_bytes: u64,
        incomplete: bool,
    ) -> MetricObservation {
        observe(run, file, step, Some(metric), max_bytes, incomplete).0
    }

    fn doc(text: &str) -> Json {
        json::parse(text).unwrap()
    }

    #[test]
    fn hf_takes_the_eval_entry_not_the_train_entry_of_the_same_step() {
        let state = doc(r#"{"global_step": 500, "log_history": [
            {"loss": 2.0, "step": 250}, {"eval_loss": 1.5, "step": 250},
            {"loss": 1.2, "step": 500}, {"eval_loss": 0.9, "eval_runtime": 3.1, "step": 500},
            {"train_loss": 1.0, "step": 500}
        ]}"#);
        assert_eq!(value_for(&state, Some(500), "eval_loss"), Some(0.9));
        assert_eq!(value_for(&state, Some(250), "eval_loss"), Some(1.5));
        assert_eq!(value_for(&state, Some(500), "loss"), Some(1.2));
        assert_eq!(value_for(&state, Some(750), "eval_loss"), None);
    }

    #[test]
    fn hf_without_an_eval_at_this_step_has_no_metric() {
        // An eval from an earlier step must not be borrowed.
        let state = doc(
            r#"{"log_history": [{"eval_loss": 1.5, "step": 250}, {"loss": 1.2, "step": 500}]}"#,
        );
        assert_eq!(value_for(&state, Some(500), "eval_loss"), None);
    }

    #[test]
    fn flat_objects_hold_the_key_itself() {
        let metrics = doc(r#"{"loss": 0.25, "accuracy": NaN}"#);
        assert_eq!(value_for(&metrics, Some(3), "loss"), Some(0.25));
        assert!(value_for(&metrics, None, "accuracy").unwrap().is_nan());
        assert_eq!(value_for(&metrics, None, "missing"), None);
    }

    #[test]
    fn missing_or_truncated_files_mean_no_metric() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path();
        let read = |file: &Path| obs(run, file, Some(1), "eval_loss", 1 << 20, false);
        assert_eq!(
            read(&run.join("ck/nope.json")),
            MetricObservation::Final(None)
        );
        let file = run.join("trainer_state.json");
        std::fs::write(&file, r#"{"log_history": [{"eval_loss": 1.5, "st"#).unwrap();
        assert_eq!(read(&file), MetricObservation::Final(None));
        std::fs::write(&file, r#"{"log_history": [{"eval_loss": NaN, "step": 1}]}"#).unwrap();
        assert!(read(&file).value().unwrap().is_nan());
    }

    #[test]
    fn a_file_over_max_metric_bytes_is_too_large_not_no_metric() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path();
        let file = run.join("trainer_state.json");
        let text = r#"{"log_history": [{"eval_loss": 0.5, "step": 1}]}"#;
        std::fs::write(&file, text).unwrap();
        let len = text.len() as u64;
        assert_eq!(
            obs(run, &file, Some(1), "eval_loss", len, false),
            MetricObservation::Final(Some(0.5))
        );
        assert_eq!(
            obs(run, &file, Some(1), "eval_loss", len - 1, false),
            MetricObservation::TooLarge(OverCap {
                path: file.clone(),
                bytes: len,
                cap: len - 1,
                offset: None
            })
        );
    }

    #[test]
    fn a_metric_file_linked_out_of_the_run_is_no_metric() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        std::fs::create_dir_all(run.join("checkpoint-1")).unwrap();
        let outside = dir.path().join("elsewhere.json");
        std::fs::write(
            &outside,
            r#"{"log_history": [{"eval_loss": 0.1, "step": 1}]}"#,
        )
        .unwrap();
        let file = run.join("checkpoint-1/trainer_state.json");
        std::os::unix::fs::symlink(&outside, &file).unwrap();
        assert_eq!(
            obs(&run, &file, Some(1), "eval_loss", 1 << 20, false),
            MetricObservation::Final(None)
        );
        // A link that stays inside the run is read.
        std::fs::rename(&outside, run.join("kept.json")).unwrap();
        std::fs::remove_file(&file).unwrap();
        std::os::unix::fs::symlink("../kept.json", &file).unwrap();
        assert_eq!(
            obs(&run, &file, Some(1), "eval_loss", 1 << 20, false),
            MetricObservation::Final(Some(0.1))
        );
    }
}
