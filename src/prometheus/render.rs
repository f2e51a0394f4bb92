//! [`Snapshot`] → the Prometheus text exposition format (version 0.0.4), which is also what
//! node_exporter's textfile collector reads. Pure: no clock, no filesystem.
//!
//! Names follow Prometheus's conventions: the `ckptd_` prefix, base units in the name
//! (`_bytes`, `_seconds`), `_total` on counters, a HELP and a TYPE line per family. A family
//! with no sample is left out. A label set is never repeated within a family: node_exporter
//! refuses a whole textfile that repeats one, which would hide every metric, not one.

use std::collections::HashSet;
use std::fmt::Write;
use std::time::SystemTime;

use super::{FsStats, RunStats, Snapshot, TargetStats};

#[derive(Clone, Copy)]
enum Kind {
    Gauge,
    Counter,
}

/// The text of `snapshot`, ending in a newline.
pub fn render(snapshot: &Snapshot) -> String {
    let mut out = String::new();
    daemon_families(&mut out, snapshot);
    let runs = unique(&snapshot.runs, |r| (r.watch.clone(), r.run.clone()));
    run_families(&mut out, &runs);
    let filesystems = unique(&snapshot.filesystems, |f| f.path.clone());
    filesystem_families(&mut out, &filesystems);
    out
}

fn daemon_families(out: &mut String, s: &Snapshot) {
    let one = |value: String| vec![(String::new(), value)];
    family(
        out,
        "ckptd_build_info",
        Kind::Gauge,
        "Always 1; the version of ckptd in a label.",
        vec![(labels(&[("version", &s.version)]), "1".into())],
    );
    family(
        out,
        "ckptd_runs",
        Kind::Gauge,
        "Run directories the daemon manages.",
        one(s.runs.len().to_string()),
    );
    family(
        out,
        "ckptd_rescan_interval_seconds",
        Kind::Gauge,
        "The configured rescan_interval: the daemon looks at every run at least this often.",
        one(s.rescan_interval.as_secs_f64().to_string()),
    );
    family(out, "ckptd_last_rescan_timestamp_seconds", Kind::Gauge,
        "Unix time the daemon last looked at every run (start, periodic rescan, reload); old means ckptd is stuck or stopped.",
        s.last_rescan.map(seconds).map(one).unwrap_or_default());
    family(
        out,
        "ckptd_last_pass_timestamp_seconds",
        Kind::Gauge,
        "Unix time of the end of the last pass over any run.",
        s.last_pass.map(seconds).map(one).unwrap_or_default(),
    );
    family(
        out,
        "ckptd_errors_total",
        Kind::Counter,
        "ERROR lines logged since the daemon started.",
        one(s.errors.to_string()),
    );
    family(
        out,
        "ckptd_warnings_total",
        Kind::Counter,
        "WARN lines logged since the daemon started.",
        one(s.warnings.to_string()),
    );
}

fn run_families(out: &mut String, runs: &[&RunStats]) {
    let per_run = |value: &dyn Fn(&RunStats) -> Option<String>| -> Vec<(String, String)> {
        runs.iter()
            .filter_map(|r| Some((run_labels(r, &[]), value(r)?)))
            .collect()
    };
    let by_state = |value: &dyn Fn(&super::Tally) -> u64| -> Vec<(String, String)> {
        runs.iter()
            .flat_map(|r| {
                [("complete", &r.complete), ("in_progress", &r.in_progress)].map(
                    |(state, tally)| (run_labels(r, &[("state", state)]), value(tally).to_string()),
                )
            })
            .collect()
    };
    family(out, "ckptd_run_checkpoints", Kind::Gauge,
        "Checkpoints in the run at its last pass, complete or in progress (being written, or never finished).",
        by_state(&|t| t.checkpoints));
    family(
        out,
        "ckptd_run_checkpoint_bytes",
        Kind::Gauge,
        "Bytes in the run's checkpoints at its last pass, complete or in progress.",
        by_state(&|t| t.bytes),
    );
    family(out, "ckptd_run_held", Kind::Gauge,
        "1 when the run is held: keep_best finds its metric in no complete checkpoint, so nothing is deleted in it.",
        per_run(&|r| Some(u8::from(r.held).to_string())));
    family(
        out,
        "ckptd_run_deleted_checkpoints_total",
        Kind::Counter,
        "Checkpoints the daemon deleted in the run since it started.",
        per_run(&|r| Some(r.deleted.to_string())),
    );
    family(
        out,
        "ckptd_run_freed_bytes_total",
        Kind::Counter,
        "Bytes the daemon freed in the run since it started, by deleting and slimming checkpoints.",
        per_run(&|r| Some(r.freed_bytes.to_string())),
    );
    family(
        out,
        "ckptd_run_last_pass_timestamp_seconds",
        Kind::Gauge,
        "Unix time of the end of the run's last pass that planned it.",
        per_run(&|r| r.last_pass.map(seconds)),
    );
}

fn filesystem_families(out: &mut String, filesystems: &[&FsStats]) {
    let space = |value: &dyn Fn(&crate::pressure::FsState) -> u64| -> Vec<(String, String)> {
        filesystems
            .iter()
            .filter_map(|f| Some((fs_labels(f), value(f.space.as_ref()?).to_string())))
            .collect()
    };
    let target = |value: &dyn Fn(&TargetStats) -> u64| -> Vec<(String, String)> {
        filesystems
            .iter()
            .filter_map(|f| Some((fs_labels(f), value(f.target.as_ref()?).to_string())))
            .collect()
    };
    family(
        out,
        "ckptd_filesystem_free_bytes",
        Kind::Gauge,
        "Bytes available to unprivileged users on a filesystem holding runs (statvfs f_bavail).",
        space(&|s| s.free_bytes),
    );
    family(
        out,
        "ckptd_filesystem_size_bytes",
        Kind::Gauge,
        "Size of a filesystem holding runs.",
        space(&|s| s.total_bytes),
    );
    family(
        out,
        "ckptd_filesystem_free_inodes",
        Kind::Gauge,
        "Inodes available to unprivileged users on a filesystem holding runs.",
        space(&|s| s.free_inodes),
    );
    family(
        out,
        "ckptd_filesystem_inodes",
        Kind::Gauge,
        "Inodes of a filesystem holding runs.",
        space(&|s| s.total_inodes),
    );
    family(out, "ckptd_filesystem_target_met", Kind::Gauge,
        "1 when a [[filesystem]] table's floor and headroom were met at its last check, after the rules' own deletions and before pressure's.",
        target(&|t| u64::from(t.met())));
    family(
        out,
        "ckptd_filesystem_target_free_bytes",
        Kind::Gauge,
        "Free bytes a [[filesystem]] table asks for: min_free plus headroom.",
        target(&|t| t.want_free_bytes),
    );
    family(
        out,
        "ckptd_filesystem_target_free_inodes",
        Kind::Gauge,
        "Free inodes a [[filesystem]] table asks for (min_free_inodes).",
        target(&|t| t.want_free_inodes),
    );
    family(out, "ckptd_filesystem_missing_bytes", Kind::Gauge,
        "Bytes a [[filesystem]] table's target lacked at its last check, before pressure deleted anything.",
        target(&|t| t.missing_bytes));
    family(out, "ckptd_filesystem_missing_inodes", Kind::Gauge,
        "Inodes a [[filesystem]] table's target lacked at its last check, before pressure deleted anything.",
        target(&|t| t.missing_inodes));
    family(out, "ckptd_filesystem_missing_after_pressure_bytes", Kind::Gauge,
        "Bytes a [[filesystem]] table's target still lacks after every deletion pressure may make: it cannot be met.",
        target(&|t| t.missing_after_pressure_bytes));
}

/// One family: HELP, TYPE and its samples (`labels` already in braces, or empty).
fn family(out: &mut String, name: &str, kind: Kind, help: &str, samples: Vec<(String, String)>) {
    if samples.is_empty() {
        return;
    }
    let kind = match kind {
        Kind::Gauge => "gauge",
        Kind::Counter => "counter",
    };
    let _ = writeln!(out, "# HELP {name} {}", escape_help(help));
    let _ = writeln!(out, "# TYPE {name} {kind}");
    for (labels, value) in samples {
        let _ = writeln!(out, "{name}{labels} {value}");
    }
}

/// The first of each key, in order.
fn unique<T, K: std::hash::Hash + Eq>(items: &[T], key: impl Fn(&T) -> K) -> Vec<&T> {
    let mut seen = HashSet::new();
    items.iter().filter(|item| seen.insert(key(item))).collect()
}

fn run_labels(r: &RunStats, extra: &[(&str, &str)]) -> String {
    let mut pairs = vec![("watch", r.watch.as_str()), ("run", r.run.as_str())];
    pairs.extend_from_slice(extra);
    labels(&pairs)
}

fn fs_labels(f: &FsStats) -> String {
    labels(&[("filesystem", &f.path)])
}

fn labels(pairs: &[(&str, &str)]) -> String {
    let inner: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape_label(v)))
        .collect();
    format!("{{{}}}", inner.join(","))
}

/// Label values escape backslash, double quote and line feed; nothing else.
pub(super) fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn escape_help(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\n', "\\n")
}

/// Unix seconds, to the millisecond (0 for a time before the epoch, which no pass has).
fn seconds(t: SystemTime) -> String {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    format!("{}.{:03}", d.as_secs(), d.subsec_millis())
}
