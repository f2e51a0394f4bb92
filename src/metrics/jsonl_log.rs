//! JSON-lines metric logs: one object a line, appended as training goes. A last line without
//! its newline is a record still being written and is skipped; a bad line elsewhere is skipped
//! with the file's WARN left to the caller of `parse` only when nothing at all could be read.

use std::path::Path;

use super::json::{self, Json};
use super::named::Metrics;
use super::run_log::{FileRecords, Interest, RunLog};

/// The records of `metric` in `bytes`, read from `file` (named in the WARN about bad lines).
pub fn read(
    file: &Path,
    bytes: &[u8],
    step_key: &str,
    metric: Option<&str>,
    interest: &Interest,
) -> FileRecords {
    let text = std::str::from_utf8(bytes).map_err(|e| e.to_string())?;
    let (log, bad_lines) = parse(text, step_key, metric, interest);
    if let (Some(first), None) = (bad_lines.first(), metric) {
        tracing::debug!(
            path = %file.display(),
            line = first,
            count = bad_lines.len(),
            "metric log has unparsable lines; they are skipped"
        );
    } else if let Some(first) = bad_lines.first() {
        tracing::warn!(
            path = %file.display(),
            line = first,
            count = bad_lines.len(),
            "metric log has unparsable lines; they are skipped: {} line {first} and {} more",
            file.display(),
            bad_lines.len() - 1
        );
    }
    Ok(log)
}

/// Pure: the records of `metric`, and the 1-based numbers of complete lines that did not parse.
pub fn parse(
    text: &str,
    step_key: &str,
    metric: Option<&str>,
    interest: &Interest,
) -> (RunLog, Vec<usize>) {
    let mut log = RunLog::default();
    let mut bad = Vec::new();
    let complete_part = match text.rfind('\n') {
        Some(end) => &text[..=end],
        None => "",
    };
    for (index, line) in complete_part.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let Ok(record) = json::parse::<Json>(line) else {
            bad.push(index + 1);
            continue;
        };
        let Some(step) = record.get(step_key).and_then(Json::as_step) else {
            continue;
        };
        log.max_step = log.max_step.max(Some(step));
        if let Some(value) = metric.and_then(|m| record.get(m)).and_then(Json::as_number) {
            log.records.push((step, value));
        }
        if let (true, Json::Object(map)) = (interest.contains(step), &record) {
            let mut row = Metrics::default();
            for (name, value) in map {
                if let (true, Some(n)) = (name != step_key, value.as_number()) {
                    row.insert(name, n);
                }
            }
            if !row.is_empty() {
                log.rows.push((step, row));
            }
        }
    }
    (log, bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_with_the_metric_are_kept_and_all_steps_count() {
        let text = "{\"step\": 100, \"val/loss\": 0.5}\n{\"step\": 150, \"lr\": 1e-4}\n{\"step\": 200, \"val/loss\": NaN}\n";
        let (log, bad) = parse(text, "step", Some("val/loss"), &Interest::default());
        assert!(bad.is_empty());
        assert_eq!(log.records[0], (100, 0.5));
        assert!(log.records[1].1.is_nan());
        assert_eq!(log.max_step, Some(200));
    }

    #[test]
    fn a_partial_last_line_is_skipped_silently() {
        let (log, bad) = parse(
            "{\"step\": 1, \"m\": 2}\n{\"step\": 2, \"m",
            "step",
            Some("m"),
            &Interest::default(),
        );
        assert_eq!(log.records, [(1, 2.0)]);
        assert!(bad.is_empty());
    }

    #[test]
    fn a_broken_line_in_the_middle_is_reported_and_skipped() {
        let (log, bad) = parse(
            "{\"step\": 1, \"m\": 2}\nnot json\n{\"step\": 3, \"m\": 4}\n",
            "step",
            Some("m"),
            &Interest::default(),
        );
        assert_eq!(log.records, [(1, 2.0), (3, 4.0)]);
        assert_eq!(bad, [2]);
    }
}
