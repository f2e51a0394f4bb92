//! Run-level metric logs (`csv`, `jsonl`): loading every file a glob names, and matching a
//! record to a checkpoint by step.
//!
//! Matching is stateless: a checkpoint at step S takes the last record holding the metric with
//! a step in [S − window, S], the greatest step first. Re-planning after a deletion therefore
//! never moves a metric to another checkpoint.
//!
//! A log larger than `max_metric_bytes` is not read, and since any record in it could be the
//! one a checkpoint takes, every checkpoint's metric is then unknown (`TooLarge`: kept), never
//! "no metric". Files are opened only if they stay inside the run (as far as the pattern's own
//! `..` go; see `confined`).

use std::io::Read;
use std::path::{Path, PathBuf};

use super::confined::{self, OpenError};
use super::named::Metrics;
use super::warn_once;
use crate::checkpoint::{MetricObservation, OverCap};

/// The records of one metric in a run's logs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunLog {
    /// `(step, value)` in file order (files in name order); only records holding the metric.
    pub records: Vec<(u64, f64)>,
    /// The greatest step of any record, with or without the metric.
    pub max_step: Option<u64>,
    /// TensorBoard records too long to read, by the step they carry.
    pub unread: Vec<(u64, OverCap)>,
    /// A log (or a record of unknown step) too large to read: every metric is unknown.
    pub too_large: Option<OverCap>,
    /// Every number of the records at steps of [`Interest`], in file order: the metrics by
    /// name that a checkpoint shows beside the policy's one.
    pub rows: Vec<(u64, Metrics)>,
}

/// The steps whose records' numbers are worth keeping: those a known checkpoint would take
/// (within `metric_window` below its step) and any beyond the newest one (the next
/// checkpoint's). A log of a million steps is then never held whole. The default is no step
/// at all (only the policy's metric is read).
#[derive(Debug, Clone, Default)]
pub struct Interest {
    /// Sorted checkpoint steps.
    steps: Vec<u64>,
    window: u64,
    /// Whether steps beyond the newest checkpoint count.
    ahead: bool,
}

impl Interest {
    pub fn new(mut steps: Vec<u64>, window: u64) -> Self {
        steps.sort_unstable();
        steps.dedup();
        Self {
            steps,
            window,
            ahead: true,
        }
    }

    /// The same steps without those beyond the newest checkpoint: for logs read whole on
    /// every pass, which need nothing ahead.
    #[must_use]
    pub fn behind(&self) -> Self {
        Self {
            ahead: false,
            ..self.clone()
        }
    }

    /// The first step beyond the newest checkpoint, when such steps count (then they are
    /// only kept for a while, see `tensorboard`).
    pub fn ahead_from(&self) -> Option<u64> {
        if !self.ahead {
            return None;
        }
        match self.steps.last() {
            None => Some(0),
            Some(&newest) => newest.checked_add(1),
        }
    }

    /// No step at all: only the policy's metric is read.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty() && !self.ahead
    }

    /// Where a record at `step` is kept: beyond the newest checkpoint, under its own step;
    /// otherwise under the checkpoint that takes it (the first at or after it, within the
    /// window), so the records behind the newest checkpoint cost one entry per checkpoint,
    /// whatever the window; `None` when no checkpoint can take it.
    pub fn taker(&self, step: u64) -> Option<u64> {
        if self.steps.last().is_none_or(|&newest| step > newest) {
            return self.ahead.then_some(step);
        }
        let at = self.steps.partition_point(|&s| s < step);
        self.steps
            .get(at)
            .copied()
            .filter(|&s| s - step <= self.window)
    }

    pub fn contains(&self, step: u64) -> bool {
        if self.steps.last().is_none_or(|&newest| step > newest) {
            return self.ahead;
        }
        // The first checkpoint at or after `step`: the only one that may take it.
        let at = self.steps.partition_point(|&s| s < step);
        self.steps.get(at).is_some_and(|&s| s - step <= self.window)
    }
}

/// What reading one log file gave: its records, or why it gave none.
pub type FileRecords = Result<RunLog, String>;

/// Reads every file matching `pattern` (relative to `run`) with `parse`, oldest first, each
/// only if it holds at most `max_bytes`. A file that cannot be read is a WARN and contributes
/// nothing: its checkpoints stay pending, never "worst".
pub fn load(
    run: &Path,
    pattern: &str,
    max_bytes: u64,
    quiet: bool,
    parse: impl Fn(&Path, &[u8]) -> FileRecords,
) -> RunLog {
    let root = confined::root_of_pattern(run, pattern);
    let mut log = RunLog::default();
    for file in matching_files(run, pattern) {
        let read = match read_capped(&root, &file, max_bytes) {
            Ok(Capped::Bytes(bytes)) => parse(&file, &bytes),
            Ok(Capped::Over(bytes)) => {
                let over = OverCap {
                    path: file.clone(),
                    bytes,
                    cap: max_bytes,
                    offset: None,
                };
                warn_once::too_large(run, &over);
                log.too_large.get_or_insert(over);
                continue;
            }
            Err(OpenError::Escapes { target }) => {
                warn_once::escapes(run, &file, &target);
                continue;
            }
            Err(OpenError::Io(e)) => Err(e.to_string()),
        };
        match read {
            Ok(part) => {
                warn_once::read_fine(&file);
                log.records.extend(part.records);
                log.rows.extend(part.rows);
                log.max_step = log.max_step.max(part.max_step);
            }
            // Nothing ranked: no decision waits on it, so no WARN on every pass.
            Err(why) if quiet => tracing::debug!(
                run = %run.display(),
                path = %file.display(),
                reason = %why,
                "metric log unreadable: no metrics by name from it yet"
            ),
            Err(why) => tracing::warn!(
                run = %run.display(),
                path = %file.display(),
                reason = %why,
                "metric log unreadable: no metric from it yet: {}: {why}",
                file.display()
            ),
        }
    }
    log
}

enum Capped {
    Bytes(Vec<u8>),
    /// Larger than the cap: its size.
    Over(u64),
}

/// The whole file if it holds at most `max_bytes` (also while it grows under us).
fn read_capped(root: &Path, file: &Path, max_bytes: u64) -> Result<Capped, OpenError> {
    let opened = confined::open(root, file)?;
    let size = opened.metadata()?.len();
    if size > max_bytes {
        return Ok(Capped::Over(size));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    (&opened)
        .take(max_bytes.saturating_add(1))
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max_bytes {
        return Ok(Capped::Over(opened.metadata()?.len()));
    }
    Ok(Capped::Bytes(bytes))
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

/// Pure: every number a checkpoint at `step` shows, by name: for each name, the record with
/// the greatest step in [step − window, step], then the later one (as [`select`] picks the
/// policy's metric).
pub fn select_metrics(log: &RunLog, step: u64, window: u64) -> Metrics {
    let lowest = step.saturating_sub(window);
    let mut rows: Vec<&(u64, Metrics)> = log
        .rows
        .iter()
        .filter(|(s, _)| (lowest..=step).contains(s))
        .collect();
    // Stable: records at one step stay in file order.
    rows.sort_by_key(|(s, _)| *s);
    let mut metrics = Metrics::default();
    for (_, row) in rows {
        metrics.extend(row);
    }
    metrics
}

/// Pure: the metric of a checkpoint at `step`, given the run's log.
pub fn select(log: &RunLog, step: u64, window: u64) -> MetricObservation {
    if let Some(over) = &log.too_large {
        return MetricObservation::TooLarge(over.clone());
    }
    let lowest = step.saturating_sub(window);
    let mut best: Option<(u64, f64)> = None;
    for &(record_step, value) in &log.records {
        if (lowest..=step).contains(&record_step) && best.is_none_or(|(s, _)| record_step >= s) {
            best = Some((record_step, value));
        }
    }
    // An unread record that this checkpoint would take over the best one read: unknown.
    let unread = log
        .unread
        .iter()
        .filter(|(s, _)| (lowest..=step).contains(s) && best.is_none_or(|(b, _)| *s >= b))
        .max_by_key(|(s, _)| *s);
    if let Some((_, over)) = unread {
        return MetricObservation::TooLarge(over.clone());
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
            ..RunLog::default()
        }
    }

    #[allow(clippy::needless_pass_by_value)]
    fn value(obs: MetricObservation) -> Option<f64> {
        obs.value()
    }

    #[test]
    fn interest_is_the_window_below_each_checkpoint_and_beyond_the_newest() {
        let i = Interest::new(vec![400, 200], 1);
        let kept: Vec<u64> = (0..=402).filter(|&s| i.contains(s)).collect();
        assert_eq!(kept, [199, 200, 399, 400, 401, 402]);
        assert!(!Interest::default().contains(5));
        // No checkpoint yet: everything may be the first one's.
        assert!(Interest::new(Vec::new(), 1).contains(5));
    }

    #[test]
    fn metrics_by_name_take_each_names_greatest_step_in_the_window() {
        let row = |pairs: &[(&str, f64)]| {
            let mut m = Metrics::default();
            for (k, v) in pairs {
                m.insert(k, *v);
            }
            m
        };
        let l = RunLog {
            rows: vec![
                (100, row(&[("train_loss", 1.0)])),
                (99, row(&[("val_loss", 0.5), ("train_loss", 9.0)])),
                (100, row(&[("lr", 0.1)])),
                (98, row(&[("val_acc", 0.7)])),
            ],
            ..RunLog::default()
        };
        assert_eq!(
            select_metrics(&l, 100, 1),
            row(&[("train_loss", 1.0), ("val_loss", 0.5), ("lr", 0.1)])
        );
        assert_eq!(
            select_metrics(&l, 99, 0),
            row(&[("val_loss", 0.5), ("train_loss", 9.0)])
        );
        assert!(select_metrics(&l, 200, 1).is_empty());
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
        let read = |_: &Path, text: &[u8]| -> FileRecords {
            if text == b"b" {
                return Err("bad".into());
            }
            Ok(log(&[(1, if text == b"a" { 1.0 } else { 3.0 })], 7))
        };
        let l = load(dir.path(), "version_*/m.txt", 1 << 20, false, read);
        assert_eq!(l.records, [(1, 1.0), (1, 3.0)]);
        assert_eq!(l.max_step, Some(7));
    }

    fn over(path: &str) -> OverCap {
        OverCap {
            path: path.into(),
            bytes: 2,
            cap: 1,
            offset: None,
        }
    }

    #[test]
    fn a_log_too_large_to_read_makes_every_metric_unknown_never_absent() {
        let mut l = log(&[(100, 0.5)], 200);
        l.too_large = Some(over("/r/metrics.csv"));
        for step in [50, 100, 300] {
            assert_eq!(
                select(&l, step, 1),
                MetricObservation::TooLarge(over("/r/metrics.csv"))
            );
        }
    }

    #[test]
    fn an_unread_record_is_unknown_only_where_it_would_be_taken() {
        let mut l = log(&[(99, 0.5), (200, 0.4)], 300);
        l.unread.push((100, over("/r/tb")));
        // 100 would take the unread record at 100 over the one read at 99.
        assert_eq!(
            select(&l, 100, 1),
            MetricObservation::TooLarge(over("/r/tb"))
        );
        assert_eq!(
            select(&l, 101, 1),
            MetricObservation::TooLarge(over("/r/tb"))
        );
        // Out of the window, or behind a record read at a greater step: not concerned.
        assert_eq!(value(select(&l, 99, 1)), Some(0.5));
        assert_eq!(value(select(&l, 200, 1)), Some(0.4));
        assert_eq!(value(select(&l, 102, 1)), None);
    }

    #[test]
    fn load_caps_each_file_and_refuses_links_out_of_the_run() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        std::fs::create_dir_all(run.join("logs")).unwrap();
        std::fs::write(run.join("logs/a.csv"), "12345").unwrap();
        std::fs::write(dir.path().join("secret.csv"), "x").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret.csv"), run.join("logs/b.csv")).unwrap();
        let parse = |_: &Path, bytes: &[u8]| -> FileRecords {
            assert_ne!(bytes, b"x", "read through a link out of the run");
            Ok(log(&[(1, 1.0)], 1))
        };
        let l = load(&run, "logs/*.csv", 5, false, parse);
        assert_eq!((l.records.len(), l.too_large.as_ref()), (1, None));
        let l = load(&run, "logs/*.csv", 4, false, parse);
        assert!(l.records.is_empty());
        let too_large = l.too_large.unwrap();
        assert_eq!(too_large.path, run.join("logs/a.csv"));
        assert_eq!((too_large.bytes, too_large.cap), (5, 4));
        // A pattern that climbs out on purpose may read there, and only as far as it climbs.
        let l = load(&run, "../secret.csv", 5, false, |_, bytes| {
            assert_eq!(bytes, b"x");
            Ok(log(&[(2, 2.0)], 2))
        });
        assert_eq!(l.records, [(2, 2.0)]);
    }
}
