//! Where a checkpoint's validation metric comes from, and reading it.
//!
//! Sources inside a checkpoint (`filename`, `checkpoint_json`) give a final value once the
//! checkpoint is complete. Run-level logs (`csv`, `jsonl`, `tensorboard`) are read once per scan
//! of a run and matched to checkpoints by step (see [`run_log::select`]). A source that cannot be read
//! means "no metric", never "worst metric".

pub mod checkpoint_json;
pub mod confined;
pub(crate) mod csv_log;
pub mod json;
pub mod json_cache;
pub mod json_stream;
pub(crate) mod jsonl_log;
pub mod named;
pub mod python_json;
pub mod run_log;
pub mod tensorboard;
pub mod warn_once;

use std::path::Path;

use crate::checkpoint::MetricObservation;
use crate::pattern::NameFields;
pub use named::Metrics;
pub use run_log::{Interest, RunLog};

/// `max_metric_bytes` when the config does not set it: HF's `trainer_state.json` of a long run
/// is a few MiB, and reading hundreds of MiB on every pass costs seconds.
pub const DEFAULT_MAX_METRIC_BYTES: u64 = 32 << 20;

/// How one checkpoint's metric is read.
#[derive(Debug, Clone, Copy)]
pub struct Reading {
    /// `metric_window`: how far from the checkpoint's step a run-level record may be.
    pub metric_window: u64,
    /// `max_metric_bytes`.
    pub max_bytes: u64,
    /// The checkpoint's completion marker is missing: a file that cannot be read yet is
    /// expected there (a crashed save leaves an empty `trainer_state.json`), so it is said at
    /// DEBUG, not as a WARN on every pass; the stale-checkpoint WARN covers a save that never
    /// finishes.
    pub incomplete: bool,
}

/// A validated `metric_source`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetricSource {
    /// A placeholder in the checkpoint's name.
    Filename,
    /// A JSON file inside the checkpoint directory (HF `trainer_state.json`, Orbax
    /// `metrics/metrics`), relative to the checkpoint.
    CheckpointJson { path: String },
    /// A CSV log with a step column, e.g. Lightning's `metrics.csv`; `path` is a glob relative
    /// to the run.
    Csv { path: String, step_key: String },
    /// A JSON-lines log with a step key; `path` is a glob relative to the run.
    Jsonl { path: String, step_key: String },
    /// TensorBoard event files; `path` is a glob of files or directories relative to the run,
    /// `tag` the scalar's tag (the metric's name when not given).
    TensorBoard { path: String, tag: Option<String> },
}

impl MetricSource {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Filename => "filename",
            Self::CheckpointJson { .. } => "checkpoint_json",
            Self::Csv { .. } => "csv",
            Self::Jsonl { .. } => "jsonl",
            Self::TensorBoard { .. } => "tensorboard",
        }
    }

    /// The path pattern of the run-level log this source reads (matched by step), or `None`
    /// when the metric comes from the checkpoint itself (its name or a file in it). The one
    /// place that splits the sources so.
    fn run_log_path(&self) -> Option<&str> {
        match self {
            Self::Filename | Self::CheckpointJson { .. } => None,
            Self::Csv { path, .. } | Self::Jsonl { path, .. } | Self::TensorBoard { path, .. } => {
                Some(path)
            }
        }
    }

    /// Whether the metric comes from the checkpoint itself, not from a run-level log.
    pub fn in_checkpoint(&self) -> bool {
        self.run_log_path().is_none()
    }

    /// Reads the run-level log for `metric` (the policy's; `None` when nothing is ranked)
    /// and for every number at the steps of `interest`, if this is a run-level source. A log
    /// (for TensorBoard, a record) larger than `max_bytes` is not read.
    pub fn load_run_log(
        &self,
        run: &Path,
        metric: Option<&str>,
        max_bytes: u64,
        interest: &Interest,
    ) -> Option<RunLog> {
        self.run_log_path()?;
        match self {
            // In the checkpoint: nothing to load for the run (see `run_log_path`).
            Self::Filename | Self::CheckpointJson { .. } => None,
            Self::Csv { path, step_key } => {
                // Read whole on every pass: nothing ahead of the newest checkpoint is needed.
                let interest = interest.behind();
                Some(run_log::load(
                    run,
                    path,
                    max_bytes,
                    metric.is_none(),
                    |_, bytes| csv_log::parse(bytes, step_key, metric, &interest),
                ))
            }
            Self::Jsonl { path, step_key } => {
                let interest = interest.behind();
                Some(run_log::load(
                    run,
                    path,
                    max_bytes,
                    metric.is_none(),
                    |file, bytes| jsonl_log::read(file, bytes, step_key, metric, &interest),
                ))
            }
            Self::TensorBoard { path, tag } => Some(tensorboard::load(
                run,
                path,
                // Without a ranked metric, only the steps of interest are read.
                metric.map_or("", |m| tag.as_deref().unwrap_or(m)),
                max_bytes,
                interest,
            )),
        }
    }

    /// The directories holding the run-level logs of `run` now, so the daemon can watch them.
    pub fn log_dirs(&self, run: &Path) -> Vec<std::path::PathBuf> {
        let Some(path) = self.run_log_path() else {
            return Vec::new();
        };
        let files = if matches!(self, Self::TensorBoard { .. }) {
            tensorboard::event_files(run, path)
        } else {
            run_log::matching_files(run, path)
        };
        let mut dirs: Vec<_> = files
            .into_iter()
            .filter_map(|f| f.parent().map(crate::paths::normalize))
            .collect();
        dirs.sort();
        dirs.dedup();
        dirs
    }

    /// The metric of one checkpoint (`metric`: the policy's, `None` when nothing is ranked:
    /// `NotWanted`) and every number the source has for its step. `run_log` is what
    /// `load_run_log` returned for the run; a file inside the checkpoint larger than
    /// `reading.max_bytes` is not read (`TooLarge`).
    pub fn observe(
        &self,
        metric: Option<&str>,
        unit: &Path,
        fields: &NameFields,
        run_log: Option<&RunLog>,
        reading: Reading,
    ) -> (MetricObservation, Metrics) {
        let Reading {
            metric_window,
            max_bytes,
            incomplete,
        } = reading;
        let (observed, metrics) = match self {
            Self::Filename => {
                let mut metrics = Metrics::default();
                for (name, value) in &fields.metrics {
                    metrics.insert(name, *value);
                }
                (
                    MetricObservation::Final(metric.and_then(|m| fields.metric(m))),
                    metrics,
                )
            }
            Self::CheckpointJson { path } => checkpoint_json::observe(
                unit.parent().unwrap_or(unit),
                &crate::paths::normalize(&unit.join(path)),
                fields.step,
                metric,
                max_bytes,
                incomplete,
            ),
            Self::Csv { .. } | Self::Jsonl { .. } | Self::TensorBoard { .. } => {
                match (run_log, fields.step) {
                    (Some(log), Some(step)) => (
                        run_log::select(log, step, metric_window),
                        run_log::select_metrics(log, step, metric_window),
                    ),
                    // Without a step there is nothing to match the log against.
                    _ => (MetricObservation::Final(None), Metrics::default()),
                }
            }
        };
        let observed = if metric.is_some() {
            observed
        } else {
            MetricObservation::NotWanted
        };
        (observed, metrics)
    }
}
