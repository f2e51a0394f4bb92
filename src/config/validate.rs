//! Raw config → validated config. Every check pushes a located error and goes on, so one pass
//! reports every problem in the file.

use std::collections::HashMap;
use std::num::NonZeroU64;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use toml::Spanned;

use super::error::{ConfigErrors, Errors, Locator};
use super::raw::{
    RawDaemon, RawEveryWindow, RawFile, RawKeepEvery, RawMetricSource, RawSize, RawWatch,
};
use super::{Config, DaemonSettings, LogFormat, Watch, WatchSource, WatcherMode};
use crate::layout::{self, Layout};
use crate::metrics::MetricSource;
use crate::pattern::NamePattern;
use crate::policy::{BestRule, EveryWindow, Mode, Policy};

const SETTLE: Duration = Duration::from_secs(30);
const METRIC_TIMEOUT: Duration = Duration::from_hours(1);
const POLL_INTERVAL: Duration = Duration::from_secs(10);
const STALE_AFTER: Duration = Duration::from_hours(6);
const RESCAN_INTERVAL: Duration = Duration::from_mins(5);
const DISK_CHECK_INTERVAL: Duration = Duration::from_secs(30);
const MAX_DURATION: Duration = Duration::from_hours(100 * 365 * 24);

/// Turns a TOML syntax or shape error into a located one.
pub(super) fn syntax_error(locator: &Locator<'_>, e: &toml::de::Error) -> ConfigErrors {
    let message = super::lenient::plain(e.message());
    ConfigErrors(vec![locator.error(e.span().unwrap_or(0..0), message)])
}

pub(super) fn parse(text: &str, file: &Path) -> Result<Config, ConfigErrors> {
    let locator = Locator { file, text };
    // Every mistake of shape (unknown keys, wrong types) with what is left validated beside.
    let shape = super::lenient::read::<RawFile>(text, &locator);
    let Some(raw) = shape.raw else {
        return Err(ConfigErrors(shape.errors));
    };
    let mut errors = Errors {
        locator,
        list: Vec::new(),
    };
    let config_dir = file.parent().unwrap_or(Path::new("/")).to_owned();
    let daemon = daemon_settings(raw.daemon.unwrap_or_default(), &config_dir, &mut errors);
    let defaults = match raw.defaults {
        Some(d) => {
            let d = d.into_inner();
            for (key, span) in [
                ("name", d.name.as_ref().map(Spanned::span)),
                ("runs", d.runs.as_ref().map(Spanned::span)),
                ("exclude", d.exclude.as_ref().map(Spanned::span)),
            ] {
                if let Some(span) = span {
                    errors.push(
                        span,
                        format!("`{key}` belongs in each [[watch]], not in [defaults]"),
                    );
                }
            }
            d
        }
        None => RawWatch::default(),
    };
    // No [[watch]] is valid: the packaged /etc/ckptd/ckptd.toml ships that way, so the service
    // can be installed before the runs are known. `Config::idle_warning` says so at run time.
    let mut first_line_of: HashMap<String, usize> = HashMap::new();
    let mut watches = Vec::new();
    for table in raw.watch {
        let span = table.span();
        let merged = table.into_inner().inherit_from(&defaults);
        if let Some(name) = &merged.name {
            let line = errors.locator.error(name.span(), "").line;
            if let Some(first) = first_line_of.insert(name.get_ref().clone(), line) {
                errors.push(
                    name.span(),
                    format!(
                        "duplicate watch name `{}` (first used on line {first})",
                        name.get_ref()
                    ),
                );
            }
        }
        let source = Arc::new(WatchSource {
            raw: merged,
            config_dir: config_dir.clone(),
        });
        if let Some(watch) = watch(&source, span, &mut errors) {
            watches.push(watch);
        }
    }
    super::upload::apart(&watches, &mut errors);
    let filesystems = super::filesystem::validate(raw.filesystem, &config_dir, &mut errors);
    // What validation says only because a mistaken key was taken out is not said again.
    errors
        .list
        .retain(|e| !super::lenient::consequence(text, &shape.taken_out, e));
    errors.list.extend(shape.errors);
    errors.list.sort_by_key(|e| (e.line, e.column));
    // A mistake in [defaults] is found once per watch that inherits it: report it once.
    errors.list.dedup();
    if errors.list.is_empty() {
        Ok(Config {
            file: file.to_owned(),
            daemon: daemon.expect("no errors means every field is valid"),
            watches,
            filesystems,
        })
    } else {
        Err(ConfigErrors(errors.list))
    }
}

fn daemon_settings(
    raw: RawDaemon,
    config_dir: &Path,
    e: &mut Errors<'_>,
) -> Option<DaemonSettings> {
    let before = e.list.len();
    let rescan_interval = duration(e, raw.rescan_interval.as_ref(), "rescan_interval", false)
        .unwrap_or(RESCAN_INTERVAL);
    let log_format = choice(
        e,
        raw.log_format.as_ref(),
        "log_format",
        &[
            ("auto", LogFormat::Auto),
            ("journald", LogFormat::Journald),
            ("text", LogFormat::Text),
            ("json", LogFormat::Json),
        ],
    )
    .unwrap_or(LogFormat::Auto);
    let disk_check_interval = duration(
        e,
        raw.disk_check_interval.as_ref(),
        "disk_check_interval",
        false,
    )
    .unwrap_or(DISK_CHECK_INTERVAL);
    let metrics = super::exporter::validate(
        raw.metrics_file.as_ref(),
        raw.metrics_listen.as_ref(),
        config_dir,
        e,
    );
    let state_dir = raw
        .state_dir
        .map(|s| crate::paths::normalize(&config_dir.join(s.into_inner())));
    (e.list.len() == before).then_some(DaemonSettings {
        rescan_interval,
        log_format,
        state_dir,
        disk_check_interval,
        metrics,
    })
}

/// Validates one watch (with `[defaults]` already folded in). `span` locates errors about
/// keys that are missing altogether.
pub(super) fn watch(
    source: &Arc<WatchSource>,
    span: Range<usize>,
    e: &mut Errors<'_>,
) -> Option<Watch> {
    let raw = &source.raw;
    let before = e.list.len();
    let name = required(
        e,
        raw.name.as_ref(),
        &span,
        "name",
        "a unique label for logs",
    )
    .cloned();
    let runs = runs(e, raw, &span, &source.config_dir);
    let exclude = exclude(e, raw, &source.config_dir);
    let layout = layout_of(e, raw, &span);
    let policy = policy(e, raw, &span);
    let explicit = raw
        .metric_source
        .as_ref()
        .and_then(|s| explicit_source(e, s.get_ref()));
    let metric_source = match (&policy, &layout) {
        (Some(policy), Some(layout)) => metric_source(e, raw, explicit, policy, layout.as_ref()),
        _ => None,
    };
    if let (Some(every), Some(layout)) = (&raw.keep_every_steps, &layout) {
        if !layout.has_step() {
            e.push(
                every.span(),
                "keep_every_steps needs a step: add {step} to `pattern`",
            );
        }
    }
    let watcher = choice(
        e,
        raw.watcher.as_ref(),
        "watcher",
        &[
            ("auto", WatcherMode::Auto),
            ("events", WatcherMode::Events),
            ("poll", WatcherMode::Poll),
        ],
    )
    .unwrap_or(WatcherMode::Auto);
    let poll_interval =
        duration(e, raw.poll_interval.as_ref(), "poll_interval", false).unwrap_or(POLL_INTERVAL);
    let stale_after =
        duration(e, raw.stale_after.as_ref(), "stale_after", false).unwrap_or(STALE_AFTER);
    let metric_window = count(e, raw.metric_window.as_ref(), "metric_window", 0).unwrap_or(1);
    let max_metric_bytes = size(e, raw.max_metric_bytes.as_ref(), "max_metric_bytes")
        .unwrap_or(crate::metrics::DEFAULT_MAX_METRIC_BYTES);
    let max_bytes = size(e, raw.max_bytes.as_ref(), "max_bytes");
    let slim = super::slim::slimming(e, raw, layout.as_deref());
    let hooks = super::hooks::hooks(e, raw);
    let upload = super::upload::upload(e, raw);
    let remote = remote(e, raw, upload.is_some());
    if e.list.len() > before {
        return None;
    }
    Some(Watch {
        name: name?,
        runs: runs?,
        exclude,
        layout: layout?,
        policy: policy.map(|p| Policy {
            slim_after: slim.as_ref().map(|s| s.after),
            ..p
        })?,
        slim_files: slim.map(|s| s.files),
        metric_source,
        dry_run: raw.dry_run.as_ref().is_some_and(|d| *d.get_ref()),
        watcher,
        poll_interval,
        stale_after,
        metric_window,
        max_metric_bytes,
        run_overrides: raw.run_overrides.as_ref().is_some_and(|d| *d.get_ref()),
        max_bytes,
        hooks,
        upload,
        remote,
        source: Arc::clone(source),
    })
}

/// A size of at least one byte: a whole number of bytes, or text with a unit (`"32MiB"`).
pub(super) fn size(e: &mut Errors<'_>, value: Option<&Spanned<RawSize>>, key: &str) -> Option<u64> {
    let value = value?;
    let bytes = match value.get_ref() {
        RawSize::Bytes(n) => {
            u64::try_from(*n).map_err(|_| format!("`{key}` must be at least 1 byte, not {n}"))
        }
        RawSize::Text(text) => crate::size::parse(text).map_err(|m| format!("`{key}`: {m}")),
    };
    match bytes {
        Ok(0) => {
            e.push(value.span(), format!("`{key}` must be at least 1 byte"));
            None
        }
        Ok(b) => Some(b),
        Err(message) => {
            e.push(value.span(), message);
            None
        }
    }
}

fn runs(
    e: &mut Errors<'_>,
    raw: &RawWatch,
    span: &Range<usize>,
    config_dir: &Path,
) -> Option<Vec<String>> {
    let Some(list) = &raw.runs else {
        e.push(
            span.clone(),
            "missing `runs`: a list of globs naming run directories",
        );
        return None;
    };
    if list.get_ref().is_empty() {
        e.push(
            list.span(),
            "`runs` is empty: name at least one run directory glob",
        );
        return None;
    }
    Some(globs(e, list.get_ref(), config_dir))
}

/// `exclude`: globs of directories the `runs` globs match that are not this watch's runs
/// (another watch's, say: an overlap made on purpose, so not warned about).
fn exclude(e: &mut Errors<'_>, raw: &RawWatch, config_dir: &Path) -> Vec<glob::Pattern> {
    let Some(list) = &raw.exclude else {
        return Vec::new();
    };
    globs(e, list.get_ref(), config_dir)
        .iter()
        .filter_map(|text| glob::Pattern::new(text).ok())
        .collect()
}

/// Run globs made absolute (relative ones from the config's directory), each checked.
fn globs(e: &mut Errors<'_>, list: &[Spanned<String>], config_dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for pattern in list {
        if pattern.get_ref().trim().is_empty() {
            e.push(pattern.span(), "empty run glob: name the run directories");
            continue;
        }
        if let Some(why) = shell_syntax(pattern.get_ref()) {
            e.push(pattern.span(), why);
            continue;
        }
        let absolute = crate::paths::normalize(&config_dir.join(pattern.get_ref()));
        if absolute.parent().is_none() {
            e.push(pattern.span(), "the root directory cannot be a run");
            continue;
        }
        let Some(text) = absolute.to_str() else {
            e.push(pattern.span(), "run glob is not valid UTF-8");
            continue;
        };
        match glob::Pattern::new(text) {
            Ok(_) => out.push(text.to_owned()),
            Err(err) => e.push(
                pattern.span(),
                format!("invalid glob `{}`: {err}", pattern.get_ref()),
            ),
        }
    }
    out
}

/// A glob written as if a shell would expand it: ckptd reads it literally (no shell runs it,
/// and the daemon's environment is not the user's), so `~/runs/*` would name a directory
/// called `~` and match nothing. Refused, with the path to write instead.
fn shell_syntax(pattern: &str) -> Option<String> {
    if let Some(rest) = pattern.strip_prefix('~') {
        let home = std::env::var("HOME").unwrap_or_else(|_| "/home/USER".to_owned());
        let suggestion = match rest.strip_prefix('/') {
            Some(rest) => format!("{}/{rest}", home.trim_end_matches('/')),
            None => format!("/home/{rest}"),
        };
        return Some(format!(
            "`~` is not expanded in `runs` (no shell reads the config): write the absolute \
             path, e.g. \"{suggestion}\""
        ));
    }
    if pattern.contains('$') {
        return Some(format!(
            "`$` in `runs` (\"{pattern}\"): environment variables are not expanded (no shell \
             reads the config, and the daemon's environment is not yours): write the path itself"
        ));
    }
    None
}

fn layout_of(e: &mut Errors<'_>, raw: &RawWatch, span: &Range<usize>) -> Option<Arc<dyn Layout>> {
    let name = required(
        e,
        raw.layout.as_ref(),
        span,
        "layout",
        &format!("one of {}", layout::PRESETS.join(", ")),
    )?;
    let pattern = match (&raw.pattern, &raw.regex) {
        (Some(_), Some(regex)) => {
            e.push(regex.span(), "give `pattern` or `regex`, not both");
            return None;
        }
        (Some(p), None) => Some(NamePattern::placeholders(p.get_ref()).map_err(|m| (p.span(), m))),
        (None, Some(r)) => Some(NamePattern::regex(r.get_ref()).map_err(|m| (r.span(), m))),
        (None, None) => None,
    };
    let pattern = match pattern.transpose() {
        Ok(p) => p,
        Err((span, message)) => {
            e.push(span, message);
            return None;
        }
    };
    let layout_span = raw
        .layout
        .as_ref()
        .map(Spanned::span)
        .unwrap_or(span.clone());
    layout::build(name, pattern)
        .map_err(|m| e.push(layout_span, m))
        .ok()
}

fn policy(e: &mut Errors<'_>, raw: &RawWatch, span: &Range<usize>) -> Option<Policy> {
    let before = e.list.len();
    let keep_last = count(e, raw.keep_last.as_ref(), "keep_last", 0);
    let keep_best = count(e, raw.keep_best.as_ref(), "keep_best", 1).and_then(NonZeroU64::new);
    let keep_every_steps =
        count(e, raw.keep_every_steps.as_ref(), "keep_every_steps", 1).and_then(NonZeroU64::new);
    let keep_every = keep_every(e, raw.keep_every.as_ref());
    let keep_within = duration(e, raw.keep_within.as_ref(), "keep_within", false);
    let settle = duration(e, raw.settle.as_ref(), "settle", true).unwrap_or(SETTLE);
    let metric_timeout =
        duration(e, raw.metric_timeout.as_ref(), "metric_timeout", false).unwrap_or(METRIC_TIMEOUT);
    let mode = choice(
        e,
        raw.mode.as_ref(),
        "mode",
        &[("min", Mode::Min), ("max", Mode::Max)],
    );
    let best = match (keep_best, &raw.keep_best) {
        (Some(count), Some(at)) => {
            if raw.metric.is_none() {
                e.push(
                    at.span(),
                    "keep_best needs `metric`, the name of the validation metric to rank by",
                );
            }
            if raw.mode.is_none() {
                e.push(
                    at.span(),
                    "keep_best needs `mode` = \"min\" (lower is better) or \"max\"",
                );
            }
            Some(BestRule {
                count,
                metric: raw
                    .metric
                    .as_ref()
                    .map(|m| m.get_ref().clone())
                    .unwrap_or_default(),
                mode: mode.unwrap_or(Mode::Min),
            })
        }
        _ => None,
    };
    let policy = Policy {
        keep_last,
        keep_best: best,
        keep_every_steps,
        keep_every,
        keep_within,
        slim_after: None,
        settle,
        metric_timeout,
    };
    if e.list.len() == before && !policy.has_rule() {
        e.push(
            span.clone(),
            "this watch keeps nothing: set at least one of keep_last, keep_best, keep_every_steps, keep_every, keep_within",
        );
    }
    (e.list.len() == before).then_some(policy)
}

/// `remote`: the same rule keys as the watch, over the uploaded copies. Its `keep_best`
/// ranks by the watch's `metric` and `mode` unless it names its own.
fn remote(e: &mut Errors<'_>, raw: &RawWatch, uploads: bool) -> Option<Policy> {
    let table = raw.remote.as_ref()?;
    if !uploads && raw.upload.is_none() {
        e.push(
            table.span(),
            "`remote` is retention over uploaded copies: it needs `upload`",
        );
        return None;
    }
    let r = table.get_ref();
    let rules = RawWatch {
        keep_last: r.keep_last.clone(),
        keep_best: r.keep_best.clone(),
        metric: r.metric.clone().or_else(|| raw.metric.clone()),
        mode: r.mode.clone().or_else(|| raw.mode.clone()),
        keep_every_steps: r.keep_every_steps.clone(),
        keep_every: r.keep_every.clone(),
        keep_within: r.keep_within.clone(),
        ..RawWatch::default()
    };
    policy(e, &rules, &table.span()).map(|p| Policy {
        settle: std::time::Duration::ZERO,
        ..p
    })
}

/// `keep_every = "1d"` (one entry, every window) or a list of `{ window, count }` tables.
fn keep_every(e: &mut Errors<'_>, value: Option<&Spanned<RawKeepEvery>>) -> Vec<EveryWindow> {
    let Some(value) = value else {
        return Vec::new();
    };
    let list = match value.get_ref() {
        RawKeepEvery::Window(text) => {
            let text = Spanned::new(value.span(), text.clone());
            return window_length(e, &text, "keep_every")
                .map(|window| EveryWindow {
                    window,
                    count: None,
                })
                .into_iter()
                .collect();
        }
        RawKeepEvery::List(list) => list,
    };
    if list.is_empty() {
        e.push(
            value.span(),
            "`keep_every` is an empty list: remove it, or add e.g. { window = \"1d\", count = 7 }",
        );
    }
    let mut out: Vec<EveryWindow> = Vec::new();
    // (window, line of its entry), to refuse the same window twice.
    let mut seen: Vec<(Duration, usize)> = Vec::new();
    for entry in list {
        let RawEveryWindow { window, count: n } = entry.get_ref();
        let Some(window_text) = window else {
            e.push(
                entry.span(),
                "`keep_every` entry without `window`: write e.g. { window = \"1d\", count = 7 }",
            );
            continue;
        };
        let window = window_length(e, window_text, "window");
        let count = n
            .as_ref()
            .map(|n| count(e, Some(n), "count", 1).and_then(NonZeroU64::new));
        let (Some(window), None | Some(Some(_))) = (window, count) else {
            continue;
        };
        let line = e.locator.error(window_text.span(), "").line;
        if let Some(&(_, first)) = seen.iter().find(|(w, _)| *w == window) {
            e.push(
                window_text.span(),
                format!(
                    "`keep_every` has the window {} twice (first on line {first}): keep one entry",
                    crate::duration::show(window)
                ),
            );
            continue;
        }
        seen.push((window, line));
        out.push(EveryWindow {
            window,
            count: count.flatten(),
        });
    }
    out
}

fn metric_source(
    e: &mut Errors<'_>,
    raw: &RawWatch,
    explicit: Option<MetricSource>,
    policy: &Policy,
    layout: &dyn Layout,
) -> Option<MetricSource> {
    let source = explicit.or_else(|| layout.default_metric_source());
    let Some(best) = policy.keep_best.as_ref() else {
        // Nothing is ranked, but the source still gives each checkpoint's metrics by name
        // (logs, `plan --json`, the ledger); one that cannot be matched gives none.
        return source.filter(|s| s.in_checkpoint() || layout.has_step());
    };
    let at = raw.metric.as_ref().map_or(0..0, Spanned::span);
    let Some(source) = source else {
        e.push(
            at,
            format!(
                "layout \"{}\" has no metric source of its own: set `metric_source`",
                layout.name()
            ),
        );
        return None;
    };
    match &source {
        MetricSource::Filename if !layout.names_carry(&best.metric) => e.push(
            at,
            format!(
                "metric `{}` is not in the checkpoint names: add {{{}}} to `pattern`, or set `metric_source`",
                best.metric, best.metric
            ),
        ),
        MetricSource::Csv { .. } | MetricSource::Jsonl { .. } | MetricSource::TensorBoard { .. }
            if !layout.has_step() =>
        {
            e.push(
                at,
                "a run-level metric log is matched by step: add {step} to `pattern`",
            );
        }
        _ => {}
    }
    Some(source)
}

fn explicit_source(e: &mut Errors<'_>, raw: &RawMetricSource) -> Option<MetricSource> {
    let kind = raw.kind.get_ref().as_str();
    let path = |e: &mut Errors<'_>| -> Option<String> {
        match &raw.path {
            Some(p) if !p.get_ref().is_empty() => Some(p.get_ref().clone()),
            Some(p) => {
                e.push(p.span(), "`path` is empty");
                None
            }
            None => {
                e.push(
                    raw.kind.span(),
                    format!("metric_source kind \"{kind}\" needs `path`"),
                );
                None
            }
        }
    };
    let step_key = raw
        .step_key
        .as_ref()
        .map_or_else(|| "step".to_owned(), |k| k.get_ref().clone());
    let source = match kind {
        "filename" => MetricSource::Filename,
        "checkpoint_json" => MetricSource::CheckpointJson { path: path(e)? },
        "csv" => MetricSource::Csv {
            path: path(e)?,
            step_key,
        },
        "jsonl" => MetricSource::Jsonl {
            path: path(e)?,
            step_key,
        },
        "tensorboard" => {
            if let Some(key) = &raw.step_key {
                e.push(
                    key.span(),
                    "`step_key` is not used by kind = \"tensorboard\": every event carries its step",
                );
            }
            return Some(MetricSource::TensorBoard {
                path: path(e)?,
                tag: raw.tag.as_ref().map(|t| t.get_ref().clone()),
            });
        }
        other => {
            e.push(
                raw.kind.span(),
                format!("unknown metric_source kind `{other}`; expected filename, checkpoint_json, csv, jsonl or tensorboard"),
            );
            return None;
        }
    };
    if let Some(tag) = &raw.tag {
        e.push(tag.span(), "`tag` is only for kind = \"tensorboard\"");
    }
    Some(source)
}

fn required<'a, T>(
    e: &mut Errors<'_>,
    value: Option<&'a Spanned<T>>,
    span: &Range<usize>,
    key: &str,
    expected: &str,
) -> Option<&'a T> {
    if value.is_none() {
        e.push(span.clone(), format!("missing `{key}`: {expected}"));
    }
    value.map(Spanned::get_ref)
}

pub(super) fn count(
    e: &mut Errors<'_>,
    value: Option<&Spanned<i64>>,
    key: &str,
    min: i64,
) -> Option<u64> {
    let value = value?;
    match u64::try_from(*value.get_ref()) {
        Ok(n) if *value.get_ref() >= min => Some(n),
        _ => {
            e.push(
                value.span(),
                format!("`{key}` must be {min} or more, not {}", value.get_ref()),
            );
            None
        }
    }
}

/// A `keep_every` window: a duration in fixed units. Months and years are refused: their
/// lengths in the duration syntax (30.44 and 365.25 days) make windows that start at odd
/// hours and match no calendar month, which is what anyone writing "1month" means.
fn window_length(e: &mut Errors<'_>, text: &Spanned<String>, key: &str) -> Option<Duration> {
    let units = text
        .get_ref()
        .split(|c: char| !c.is_alphabetic())
        .filter(|unit| !unit.is_empty());
    let calendar = units.into_iter().any(|unit| {
        matches!(
            unit,
            "M" | "month" | "months" | "y" | "yr" | "yrs" | "year" | "years"
        )
    });
    if calendar {
        e.push(
            text.span(),
            format!("`{key}`: months and years are not supported (no calendar windows): use days or weeks, e.g. \"30d\" or \"52w\""),
        );
        return None;
    }
    duration(e, Some(text), key, false)
}

pub(super) fn duration(
    e: &mut Errors<'_>,
    value: Option<&Spanned<String>>,
    key: &str,
    zero_ok: bool,
) -> Option<Duration> {
    let value = value?;
    match crate::duration::parse(value.get_ref()) {
        Ok(d) if d.is_zero() && !zero_ok => {
            e.push(value.span(), format!("`{key}` must be longer than zero"));
            None
        }
        // Beyond this, instants overflow; no retention rule needs more.
        Ok(d) if d > MAX_DURATION => {
            e.push(value.span(), format!("`{key}` must be at most 100 years"));
            None
        }
        Ok(d) => Some(d),
        Err(message) => {
            e.push(value.span(), format!("`{key}`: {message}"));
            None
        }
    }
}

fn choice<T: Copy>(
    e: &mut Errors<'_>,
    value: Option<&Spanned<String>>,
    key: &str,
    options: &[(&str, T)],
) -> Option<T> {
    let value = value?;
    let found = options
        .iter()
        .find(|(name, _)| name == value.get_ref())
        .map(|&(_, v)| v);
    if found.is_none() {
        let names: Vec<String> = options.iter().map(|(n, _)| format!("\"{n}\"")).collect();
        let meant = crate::suggest::closest(value.get_ref(), options.iter().map(|(n, _)| *n))
            .map(|m| format!(" (did you mean \"{m}\"?)"))
            .unwrap_or_default();
        e.push(
            value.span(),
            format!(
                "`{key}` = \"{}\" is not one of {}{meant}",
                value.get_ref(),
                names.join(", ")
            ),
        );
    }
    found
}
