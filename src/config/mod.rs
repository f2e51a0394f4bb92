//! The config file: TOML read into spanned raw structs (`raw`), then checked and converted
//! into the validated types below (`validate`), so a bad policy is refused before anything
//! runs, with the file, line and column of each error.
//!
//! `runs` globs and `state_dir` are relative to the config file's directory; paths inside a
//! watch (`metric_source.path`) are relative to each run directory.

mod error;
mod exporter;
mod filesystem;
mod hooks;
mod lenient;
pub(crate) mod overrides;
pub mod raw;
mod slim;
mod upload;
mod validate;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use error::{ConfigError, ConfigErrors};
pub use hooks::{HookCommands, HOOK_TIMEOUT};
pub use overrides::{apply_run_overrides, OVERRIDES_FILE};
pub use upload::{UploadSettings, UPLOAD_CONCURRENCY};

use crate::layout::Layout;
use crate::metrics::MetricSource;
use crate::policy::Policy;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// journald when stderr is the journal, else text.
    Auto,
    Journald,
    Text,
    Json,
}

/// How the daemon notices changes in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatcherMode {
    /// Events, except on network and FUSE filesystems, which are polled.
    Auto,
    Events,
    Poll,
}

/// `[daemon]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonSettings {
    pub rescan_interval: Duration,
    pub log_format: LogFormat,
    /// Absolute; `None` means $STATE_DIRECTORY, else the user's XDG state directory.
    pub state_dir: Option<PathBuf>,
    /// How often the daemon measures the filesystems that have a `[[filesystem]]` table, so
    /// space taken by anything else on the node starts a pressure pass.
    pub disk_check_interval: Duration,
    /// Where the daemon publishes its Prometheus metrics, if anywhere.
    pub metrics: MetricsSettings,
}

/// `metrics_file` and `metrics_listen` (both off by default).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetricsSettings {
    /// Absolute; a node_exporter textfile-collector file, replaced after every pass.
    pub file: Option<PathBuf>,
    /// Where `/metrics` is served over HTTP.
    pub listen: Option<std::net::SocketAddr>,
}

/// One `[[watch]]`, with `[defaults]` folded in.
#[derive(Debug, Clone)]
pub struct Watch {
    pub name: String,
    /// Absolute glob patterns; each matching directory is a run.
    pub runs: Vec<String>,
    /// Absolute globs of matches that are not this watch's runs (`exclude`).
    pub exclude: Vec<glob::Pattern>,
    pub layout: Arc<dyn Layout>,
    pub policy: Policy,
    /// `None` when the policy ranks nothing.
    pub metric_source: Option<MetricSource>,
    pub dry_run: bool,
    pub watcher: WatcherMode,
    pub poll_interval: Duration,
    pub stale_after: Duration,
    pub metric_window: u64,
    /// Metric files (and TensorBoard records) larger than this are not read: the metric of
    /// the checkpoints they serve is unknown, and those checkpoints are kept.
    pub max_metric_bytes: u64,
    pub run_overrides: bool,
    /// `max_bytes`: this run's checkpoints, complete and in progress, stay under this.
    pub max_bytes: Option<u64>,
    /// What slimming removes from a checkpoint: set exactly when `policy.slim_after` is.
    pub slim_files: Option<crate::slim::SlimFiles>,
    /// `on_complete`, `before_delete` and `hook_timeout`.
    pub hooks: HookCommands,
    /// `upload`: where and which checkpoints are copied before they may go locally.
    pub upload: Option<UploadSettings>,
    /// `remote`: retention over the committed uploaded copies (settle plays no part).
    pub remote: Option<Policy>,
    /// The merged raw table, kept so a run's overrides are validated like the watch itself.
    pub(crate) source: Arc<WatchSource>,
}

/// What a watch was validated from.
#[derive(Debug)]
pub(crate) struct WatchSource {
    pub raw: raw::RawWatch,
    pub config_dir: PathBuf,
}

/// A whole validated config file.
#[derive(Debug, Clone)]
pub struct Config {
    pub file: PathBuf,
    pub daemon: DaemonSettings,
    pub watches: Vec<Watch>,
    /// `[[filesystem]]` tables, in file order.
    pub filesystems: Vec<Filesystem>,
}

/// One `[[filesystem]]`, with where it was written (for errors found when it is measured).
#[derive(Debug, Clone, PartialEq)]
pub struct Filesystem {
    pub target: crate::pressure::FilesystemTarget,
    /// Line and column of its `path`.
    pub at: (usize, usize),
}

impl Config {
    /// Parses and validates `text` as if read from `file` (whose directory anchors relative
    /// paths). Pure: reads nothing from disk.
    pub fn parse(text: &str, file: &Path) -> Result<Config, ConfigErrors> {
        validate::parse(text, file)
    }

    /// Reads and validates the config file at `file`.
    pub fn load(file: &Path) -> Result<Config, ConfigErrors> {
        let text = crate::regular_file::read_to_string(file).map_err(|e| {
            ConfigErrors(vec![ConfigError {
                file: file.to_owned(),
                line: 0,
                column: 0,
                message: format!(
                    "cannot read config: {e}{}",
                    if e.kind() == std::io::ErrorKind::NotFound {
                        " (give the config file with --config FILE)"
                    } else {
                        ""
                    }
                ),
            }])
        })?;
        let absolute = std::path::absolute(file).unwrap_or_else(|_| file.to_owned());
        let config = Self::parse(&text, &absolute)?;
        filesystem::check_on_disk(&config)?;
        Ok(config)
    }

    /// The one warning an idle config deserves: without a `[[watch]]` there is nothing to
    /// manage (the packaged /etc/ckptd/ckptd.toml starts so). `None` when there is a watch.
    pub fn idle_warning(&self) -> Option<String> {
        self.watches.is_empty().then(|| {
            format!(
                "no [[watch]] in {}: nothing to manage; add one and reload (systemctl reload ckptd)",
                self.file.display()
            )
        })
    }
}

#[cfg(test)]
mod disk_tests;
#[cfg(test)]
mod exporter_tests;
#[cfg(test)]
mod hooks_tests;
#[cfg(test)]
mod keep_every_tests;
#[cfg(test)]
mod slim_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod upload_tests;
