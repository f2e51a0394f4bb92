//! Run-level metric logs (`csv`, `jsonl`): loading every file a glob names, and matching a
//! record to a checkpoint by step.
//!
//! Matching is stateless: a checkpoint at step S takes the last record holding the metric with
//! a step in [S − window, S], the greatest step first. Re-planning after a deletion therefore
//! never moves a metric to another checkpoint.

use std::path::{Path, PathBuf};

use crate::checkpoint::MetricObservation;

/// The records of one metric in a run's logs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunLog {
    /// `(step, value)` in file order (files in name order); only records holding the metric.
    pub records: Vec<(u64, f64)>,
    /// The greatest step of any record, with or without the metric.
    pub max_step: Option<u64>,
}

/// What reading one log file gave: its records, or why it gave none.
pub type FileRecords = Result<RunLog, String>;

/// Reads every file matching `pattern` (relative to `run`) with `read_file`, oldest first. A file that cannot
/// be read is a WARN and contributes nothing: its checkpoints stay pending, never "worst".
pub fn load(run: &Path, pattern: &str, read_file: impl Fn(&Path) -> FileRecords) -> RunLog {
    let mut log = RunLog::default();
    for file in matching_files(run, pattern) {
        match read_file(&file) {
            Ok(part) => {
                log.records.extend(part.records);
                log.max_step = log.max_step.max(part.max_step);
            }
            Err(why) => tracing::warn!(
                run = %run.display(),
                path = %file.display(),
                reason = %why,
                "metric log unreadable: no metric from it yet"
            ),
        }
    }
    log
}

pub(super) fn matching_files(run: &Path, pattern: &str) -> Vec<PathBuf> {
    // The run directory's own name may hold `[` or `*`: only the configured part is a glob.
    let Some(run_text) = run.to_str() else {
        return Vec::new();
    };
    let full = format!("{}/{pattern}", glob::Pattern::escape(run_text));
    let mut files: Vec<PathBuf> = match glob::glob(&full) {
        Ok(paths) => paths
            .filter_map(Result::ok)
            .filter(|p| p.is_file())
            .collect(),
        Err(_) => Vec::new(),
    };
    // File order decides which record is "later" for a repeated step: the order written
    // (mtime), then the name (`version_9` before `version_10` is not what names say).
    files.sort_by_cached_key(|f| {
        (
            std::fs::metadata(f).and_then(|m| m.modified()).ok(),
            f.clone(),
        )
    });
    files
}

/// Pure: the metric of a checkpoint at `step`, given the run's log.
pub fn select(log: &RunLog, step: u64, window: u64) -> MetricObservation {
    let lowest = step.saturating_sub(window);
    let mut best: Option<(u64, f64)> = None;
    for &(record_step, value) in &log.records {
        if (lowest..=step).contains(&record_step) && best.is_none_or(|(s, _)| record_step >= s) {
            best = Some((record_step, value));
        }
    }
    MetricObservation::RunLevel {
        value: best.map(|(_, v)| v),
        later_record_seen: log.max_step.is_some_and(|max| max > step),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(records: &[(u64, f64)], max_step: u64) -> RunLog {
        RunLog {
            records: records.to_vec(),
            max_step: Some(max_step),
        }
    }

    #[allow(clippy::needless_pass_by_value)]
    fn value(obs: MetricObservation) -> Option<f64> {
        obs.value()
    }

    #[test]
    fn lightning_logs_validation_one_step_before_the_checkpoint() {
        let l = log(&[(99, 0.5), (199, 0.4)], 250);
        assert_eq!(value(select(&l, 100, 1)), Some(0.5));
        assert_eq!(value(select(&l, 200, 1)), Some(0.4));
        assert_eq!(value(select(&l, 200, 0)), None);
    }

    #[test]
    fn the_greatest_step_wins_then_the_later_record() {
        let l = log(&[(100, 0.9), (99, 0.1), (100, 0.8)], 100);
        assert_eq!(value(select(&l, 100, 1)), Some(0.8));
    }

    #[test]
    fn a_record_outside_the_window_is_not_borrowed() {
        let l = log(&[(50, 0.1)], 300);
        assert_eq!(
            select(&l, 100, 1),
            MetricObservation::RunLevel {
                value: None,
                later_record_seen: true
            }
        );
    }

    #[test]
    fn without_a_later_record_a_missing_metric_may_still_come() {
        let l = log(&[(50, 0.1)], 100);
        assert_eq!(
            select(&l, 100, 1),
            MetricObservation::RunLevel {
                value: None,
                later_record_seen: false
            }
        );
    }

    #[test]
    fn load_reads_every_matching_file_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        // version_10 is written after version_9, though it sorts first by name.
        for (v, text, age) in [
            ("version_9", "a", 300),
            ("version_1", "b", 200),
            ("version_10", "c", 100),
        ] {
            std::fs::create_dir(dir.path().join(v)).unwrap();
            let file = dir.path().join(v).join("m.txt");
            std::fs::write(&file, text).unwrap();
            let t = std::time::SystemTime::now() - std::time::Duration::from_secs(age);
            filetime::set_file_mtime(&file, filetime::FileTime::from_system_time(t)).unwrap();
        }
        let read = |file: &Path| -> FileRecords {
            let text = std::fs::read_to_string(file).unwrap();
            if text == "b" {
                return Err("bad".into());
            }
            Ok(log(&[(1, if text == "a" { 1.0 } else { 3.0 })], 7))
        };
        let l = load(dir.path(), "version_*/m.txt", read);
        assert_eq!(l.records, [(1, 1.0), (1, 3.0)]);
        assert_eq!(l.max_step, Some(7));
    }
}
