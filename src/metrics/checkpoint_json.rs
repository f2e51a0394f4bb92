//! The `checkpoint_json` metric source: a JSON file inside the checkpoint.
//!
//! Two shapes: HF `trainer_state.json`, whose `log_history` holds a train entry and an eval
//! entry for the same step (the metric is in the **last** entry with the checkpoint's step that
//! contains the key); and a flat object such as Orbax `metrics/metrics` (the key itself).

use std::path::Path;

use super::json::{self, Json};

/// The metric, or `None` when the file is missing, unreadable, or does not hold it.
pub fn read(file: &Path, step: Option<u64>, metric: &str) -> Option<f64> {
    let text = crate::regular_file::read_to_string(file).ok()?;
    match json::parse::<Json>(&text) {
        Ok(doc) => value_for(&doc, step, metric),
        Err(e) => {
            tracing::warn!(path = %file.display(), error = %e, "metric file unreadable: no metric");
            None
        }
    }
}

/// Pure: the metric for `step` in a parsed document.
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

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(read(&dir.path().join("nope.json"), Some(1), "x"), None);
        let file = dir.path().join("trainer_state.json");
        std::fs::write(&file, r#"{"log_history": [{"eval_loss": 1.5, "st"#).unwrap();
        assert_eq!(read(&file, Some(1), "eval_loss"), None);
    }
}
