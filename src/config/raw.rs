//! The config file as written: every key optional and spanned, unknown keys refused.
//!
//! Deserialising into these structs only checks TOML syntax, key names and value types;
//! `validate` turns them into the types the rest of ckptd uses.

use std::fmt;

use serde::de::{Deserializer, SeqAccess, Visitor};
use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawFile {
    pub daemon: Option<RawDaemon>,
    pub defaults: Option<Spanned<RawWatch>>,
    #[serde(default)]
    pub watch: Vec<Spanned<RawWatch>>,
    #[serde(default)]
    pub filesystem: Vec<Spanned<RawFilesystem>>,
}

/// One `[[filesystem]]`: what must stay free on the filesystem that holds `path`.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawFilesystem {
    pub path: Option<Spanned<String>>,
    pub min_free: Option<Spanned<RawSize>>,
    pub min_free_inodes: Option<Spanned<RawSize>>,
    pub headroom: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawDaemon {
    pub rescan_interval: Option<Spanned<String>>,
    pub log_format: Option<Spanned<String>>,
    pub state_dir: Option<Spanned<String>>,
    pub disk_check_interval: Option<Spanned<String>>,
    pub metrics_file: Option<Spanned<String>>,
    pub metrics_listen: Option<Spanned<String>>,
}

/// One `[[watch]]`; also the shape of `[defaults]` and of a run's `.ckptd.toml`, which allow
/// fewer keys (checked in `validate` and `overrides`, with the key's position).
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawWatch {
    pub name: Option<Spanned<String>>,
    pub runs: Option<Spanned<Vec<Spanned<String>>>>,
    pub exclude: Option<Spanned<Vec<Spanned<String>>>>,
    pub layout: Option<Spanned<String>>,
    pub pattern: Option<Spanned<String>>,
    pub regex: Option<Spanned<String>>,
    pub keep_last: Option<Spanned<i64>>,
    pub keep_best: Option<Spanned<i64>>,
    pub metric: Option<Spanned<String>>,
    pub mode: Option<Spanned<String>>,
    pub keep_every_steps: Option<Spanned<i64>>,
    pub keep_every: Option<Spanned<RawKeepEvery>>,
    pub keep_within: Option<Spanned<String>>,
    pub run_overrides: Option<Spanned<bool>>,
    pub settle: Option<Spanned<String>>,
    pub dry_run: Option<Spanned<bool>>,
    pub watcher: Option<Spanned<String>>,
    pub poll_interval: Option<Spanned<String>>,
    pub stale_after: Option<Spanned<String>>,
    pub metric_window: Option<Spanned<i64>>,
    pub metric_timeout: Option<Spanned<String>>,
    pub metric_source: Option<Spanned<RawMetricSource>>,
    pub max_metric_bytes: Option<Spanned<RawSize>>,
    pub max_bytes: Option<Spanned<RawSize>>,
    pub slim_after: Option<Spanned<i64>>,
    pub slim_items: Option<Spanned<Vec<Spanned<String>>>>,
    pub slim_files: Option<Spanned<Vec<Spanned<String>>>>,
    pub on_complete: Option<Spanned<Vec<Spanned<String>>>>,
    pub before_delete: Option<Spanned<Vec<Spanned<String>>>>,
    pub hook_timeout: Option<Spanned<String>>,
    pub upload: Option<Spanned<RawUpload>>,
    pub remote: Option<Spanned<RawRemote>>,
}

/// `remote = { keep_last = 5, keep_best = 2, … }`: retention over the uploaded copies, with
/// the watch's own rule keys.
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawRemote {
    pub keep_last: Option<Spanned<i64>>,
    pub keep_best: Option<Spanned<i64>>,
    pub metric: Option<Spanned<String>>,
    pub mode: Option<Spanned<String>>,
    pub keep_every_steps: Option<Spanned<i64>>,
    pub keep_every: Option<Spanned<RawKeepEvery>>,
    pub keep_within: Option<Spanned<String>>,
}

/// `upload = { to = "s3://…", which = ["best"], upload_rate = "100MiB", concurrency = 4 }`.
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawUpload {
    pub to: Option<Spanned<String>>,
    pub which: Option<Spanned<Vec<Spanned<String>>>>,
    pub upload_rate: Option<Spanned<RawSize>>,
    pub concurrency: Option<Spanned<i64>>,
}

/// `keep_every` as written: a duration (every window, forever), or a list of counted windows
/// like restic's keep-daily/keep-weekly.
#[derive(Debug, Clone)]
pub enum RawKeepEvery {
    Window(String),
    List(Vec<Spanned<RawEveryWindow>>),
}

/// One `{ window = "1d", count = 7 }` of a `keep_every` list.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawEveryWindow {
    pub window: Option<Spanned<String>>,
    pub count: Option<Spanned<i64>>,
}

// By hand rather than `#[serde(untagged)]`: an untagged enum hides the inner error ("unknown
// field `cont`", "expected a whole number") behind "did not match any variant", and loses the
// inner position with it.
impl<'de> Deserialize<'de> for RawKeepEvery {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Either;
        impl<'de> Visitor<'de> for Either {
            type Value = RawKeepEvery;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a duration such as \"1d\", or a list of tables such as \
                     [{ window = \"1d\", count = 7 }, { window = \"7d\", count = 4 }]",
                )
            }

            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<RawKeepEvery, E> {
                Ok(RawKeepEvery::Window(text.to_owned()))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawKeepEvery, A::Error> {
                let mut list = Vec::new();
                while let Some(entry) = seq.next_element()? {
                    list.push(entry);
                }
                Ok(RawKeepEvery::List(list))
            }
        }
        deserializer.deserialize_any(Either)
    }
}

/// A size as written: a number of bytes, or text with a unit such as `"32MiB"`.
#[derive(Debug, Deserialize, Clone)]
#[serde(untagged)]
pub enum RawSize {
    Bytes(i64),
    Text(String),
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawMetricSource {
    pub kind: Spanned<String>,
    pub path: Option<Spanned<String>>,
    pub step_key: Option<Spanned<String>>,
    pub tag: Option<Spanned<String>>,
}

/// Fills every key `top` leaves unset from `base`: `[defaults]` under a watch, or a watch
/// under a run's overrides. Field by field, never table by table.
macro_rules! inherit {
    ($top:expr, $base:expr, [$($field:ident),* $(,)?]) => {
        $( if $top.$field.is_none() { $top.$field = $base.$field.clone(); } )*
    };
}

impl RawWatch {
    /// `self` with every unset policy or daemon key taken from `base`.
    #[must_use]
    pub fn inherit_from(mut self, base: &RawWatch) -> RawWatch {
        inherit!(
            self,
            base,
            [
                layout,
                pattern,
                regex,
                keep_last,
                keep_best,
                metric,
                mode,
                keep_every_steps,
                keep_every,
                keep_within,
                run_overrides,
                settle,
                dry_run,
                watcher,
                poll_interval,
                stale_after,
                metric_window,
                metric_timeout,
                metric_source,
                max_metric_bytes,
                max_bytes,
                slim_after,
                slim_items,
                slim_files,
                on_complete,
                before_delete,
                hook_timeout,
                upload,
                remote,
            ]
        );
        self
    }
}
