//! Per-run overrides: `<run>/.ckptd.toml`, honoured when the watch sets `run_overrides = true`.
//!
//! Only policy keys may be overridden (never paths, layouts or sources), merged field by field
//! over the watch, and validated exactly like the watch itself. An invalid file is the caller's
//! WARN; the watch's own policy stays in force.

use std::path::Path;
use std::sync::Arc;

use toml::Spanned;

use super::error::{ConfigErrors, Errors, Locator};
use super::raw::RawWatch;
use super::validate;
use super::{Watch, WatchSource};

/// The name of a run's override file.
pub const OVERRIDES_FILE: &str = ".ckptd.toml";

/// Keys a run may override.
const ALLOWED: &str = "keep_last, keep_best, keep_every_steps, keep_every, keep_within, metric, mode, settle, dry_run, max_metric_bytes, max_bytes, upload.which";

/// The watch as it applies to `run`: `Ok(None)` when overrides are off or the run has none.
pub fn apply_run_overrides(watch: &Watch, run: &Path) -> Result<Option<Watch>, ConfigErrors> {
    if !watch.run_overrides {
        return Ok(None);
    }
    let file = run.join(OVERRIDES_FILE);
    let text = match crate::regular_file::read_to_string(&file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(ConfigErrors(vec![super::ConfigError {
                file,
                line: 0,
                column: 0,
                message: format!("cannot read: {e}"),
            }]))
        }
    };
    parse(&text, &file, watch).map(Some)
}

/// Pure: `watch` with the overrides in `text` (read from `file`) applied.
pub fn parse(text: &str, file: &Path, watch: &Watch) -> Result<Watch, ConfigErrors> {
    let locator = Locator { file, text };
    let overrides: RawWatch = toml::from_str(text).map_err(|e| {
        let mut errors = validate::syntax_error(&locator, &e);
        for error in &mut errors.0 {
            if let Some(better) = unknown_key(&error.message) {
                error.message = better;
            }
        }
        errors
    })?;
    let mut errors = Errors {
        locator,
        list: Vec::new(),
    };
    for (key, span) in forbidden_keys(&overrides) {
        errors.push(
            span,
            format!("`{key}` cannot be set per run (allowed: {ALLOWED})"),
        );
    }
    if !errors.list.is_empty() {
        return Err(ConfigErrors(errors.list));
    }
    let base = &watch.source.raw;
    let upload = overrides
        .upload
        .as_ref()
        .map(|u| (u.span(), u.get_ref().which.clone()));
    let mut merged = overrides.inherit_from(base);
    if let Some((span, which)) = upload {
        // Only `which` comes from the run; where and how fast stay the watch's.
        let Some(own) = &base.upload else {
            errors.push(
                span,
                "`upload.which` needs the watch to have `upload` (set in the daemon's config)",
            );
            return Err(ConfigErrors(errors.list));
        };
        let mut own = own.clone();
        if which.is_some() {
            own.get_mut().which = which;
        }
        merged.upload = Some(own);
    }
    merged.name.clone_from(&base.name);
    merged.runs.clone_from(&base.runs);
    let source = Arc::new(WatchSource {
        raw: merged,
        config_dir: watch.source.config_dir.clone(),
    });
    match validate::watch(&source, 0..0, &mut errors) {
        Some(w) if errors.list.is_empty() => Ok(w),
        _ => Err(ConfigErrors(errors.list)),
    }
}

/// serde's "unknown field `keep_evry`, expected one of" lists every `[[watch]]` key; in a
/// run's file only the allowed ones matter, and the closest one is most likely meant.
fn unknown_key(message: &str) -> Option<String> {
    // Only the run's own keys: an unknown key inside a `keep_every` entry has its own list.
    if !message.contains("`keep_last`") {
        return None;
    }
    let rest = message.strip_prefix("unknown field `")?;
    let key = &rest[..rest.find('`')?];
    let allowed = ALLOWED.split(", ");
    Some(match crate::suggest::closest(key, allowed) {
        Some(meant) => {
            format!("unknown key `{key}`: did you mean `{meant}`? (a run may set: {ALLOWED})")
        }
        None => format!("unknown key `{key}` (a run may set: {ALLOWED})"),
    })
}

fn forbidden_keys(raw: &RawWatch) -> Vec<(&'static str, std::ops::Range<usize>)> {
    fn at<T>(
        key: &'static str,
        value: Option<&Spanned<T>>,
    ) -> Option<(&'static str, std::ops::Range<usize>)> {
        value.map(|v| (key, v.span()))
    }
    [
        at("name", raw.name.as_ref()),
        at("runs", raw.runs.as_ref()),
        at("exclude", raw.exclude.as_ref()),
        at("layout", raw.layout.as_ref()),
        at("pattern", raw.pattern.as_ref()),
        at("regex", raw.regex.as_ref()),
        at("run_overrides", raw.run_overrides.as_ref()),
        at("watcher", raw.watcher.as_ref()),
        at("poll_interval", raw.poll_interval.as_ref()),
        at("stale_after", raw.stale_after.as_ref()),
        at("metric_window", raw.metric_window.as_ref()),
        at("metric_timeout", raw.metric_timeout.as_ref()),
        at("metric_source", raw.metric_source.as_ref()),
        at("slim_after", raw.slim_after.as_ref()),
        at("slim_items", raw.slim_items.as_ref()),
        at("slim_files", raw.slim_files.as_ref()),
        // Commands the daemon runs (as root, often): never from a file in a run directory,
        // which whoever can write the run can write.
        at("on_complete", raw.on_complete.as_ref()),
        at("before_delete", raw.before_delete.as_ref()),
        at("hook_timeout", raw.hook_timeout.as_ref()),
        // What is deleted from the store, with the node's credentials: the daemon's choice.
        at("remote", raw.remote.as_ref()),
        // Where checkpoints go is written with the node's credentials: the daemon's choice.
        at(
            "upload.to",
            raw.upload.as_ref().and_then(|u| u.get_ref().to.as_ref()),
        ),
        at(
            "upload.upload_rate",
            raw.upload
                .as_ref()
                .and_then(|u| u.get_ref().upload_rate.as_ref()),
        ),
        at(
            "upload.concurrency",
            raw.upload
                .as_ref()
                .and_then(|u| u.get_ref().concurrency.as_ref()),
        ),
    ]
    .into_iter()
    .flatten()
    .collect()
}
