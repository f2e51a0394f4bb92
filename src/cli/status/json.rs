//! `status --json`: `{"runs":[{"run","watch","complete","in_progress","bytes","delete",
//! "free_bytes","slim","held","pinned","abandoned","daemon"}],"disks":[{"path","total_bytes",
//! "free_bytes","total_inodes","free_inodes","error"}],"filesystems":[as in plan --json],
//! "daemon":{"state_dir","running","pid","version","started_at","last_pass","last_rescan",
//! "errors","warnings","held_runs","deletions_total","bytes_freed_total"}}`. Times are Unix
//! seconds. Tools rely on these names.

use serde::Serialize;

use super::{RunStatus, Status};
use crate::daemon_state::RunState;
use crate::report::json::FilesystemJson;

#[derive(Serialize)]
struct Document<'a> {
    runs: Vec<RunJson<'a>>,
    disks: Vec<DiskJson>,
    filesystems: Vec<FilesystemJson>,
    daemon: DaemonJson,
}

#[derive(Serialize)]
struct RunJson<'a> {
    run: String,
    watch: &'a str,
    complete: usize,
    in_progress: usize,
    bytes: u64,
    delete: usize,
    free_bytes: u64,
    slim: usize,
    held: bool,
    pinned: &'a [String],
    abandoned: Vec<&'a str>,
    /// What the daemon last did in the run (`null` when it has not seen it).
    daemon: Option<&'a RunState>,
}

#[derive(Serialize)]
struct DiskJson {
    path: String,
    total_bytes: u64,
    free_bytes: u64,
    total_inodes: u64,
    free_inodes: u64,
    error: Option<String>,
}

#[derive(Serialize, Default)]
struct DaemonJson {
    state_dir: Option<String>,
    /// `null` when it cannot be told.
    running: Option<bool>,
    pid: Option<u32>,
    version: Option<String>,
    started_at: Option<u64>,
    last_pass: Option<u64>,
    last_rescan: Option<u64>,
    errors: Option<u64>,
    warnings: Option<u64>,
    held_runs: Vec<String>,
    deletions_total: Option<u64>,
    bytes_freed_total: Option<u64>,
}

pub fn render(status: &Status) -> String {
    let doc = Document {
        runs: status.runs.iter().map(|r| run(r, status)).collect(),
        disks: status
            .disks
            .iter()
            .map(|(path, space)| match space {
                Ok(s) => DiskJson {
                    path: path.display().to_string(),
                    total_bytes: s.total_bytes,
                    free_bytes: s.free_bytes,
                    total_inodes: s.total_inodes,
                    free_inodes: s.free_inodes,
                    error: None,
                },
                Err(e) => DiskJson {
                    path: path.display().to_string(),
                    total_bytes: 0,
                    free_bytes: 0,
                    total_inodes: 0,
                    free_inodes: 0,
                    error: Some(e.to_string()),
                },
            })
            .collect(),
        filesystems: status
            .filesystems
            .iter()
            .map(crate::report::json::filesystem_json)
            .collect(),
        daemon: daemon(status),
    };
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

fn run<'a>(r: &'a RunStatus, status: &Status) -> RunJson<'a> {
    let p = &r.report;
    let complete = p.plan.verdicts.iter().filter(|v| v.is_complete()).count();
    RunJson {
        run: p.run.display().to_string(),
        watch: &p.watch.name,
        complete,
        in_progress: p.plan.verdicts.len() - complete,
        bytes: p.plan.verdicts.iter().filter_map(|v| v.bytes).sum(),
        delete: p.plan.deletions().count(),
        free_bytes: p.plan.deletions().filter_map(|v| v.bytes).sum(),
        slim: p.plan.slims().count(),
        held: p.plan.held(),
        pinned: &r.pinned,
        abandoned: p
            .plan
            .verdicts
            .iter()
            .filter(|v| v.stale(status.now, p.watch.stale_after).is_some())
            .map(|v| v.name.as_str())
            .collect(),
        daemon: r.daemon.as_ref(),
    }
}

fn daemon(status: &Status) -> DaemonJson {
    let d = &status.daemon;
    let mut out = DaemonJson {
        state_dir: d.state_dir.as_ref().map(|p| p.display().to_string()),
        running: d.running,
        deletions_total: d.counters.map(|c| c.deletions),
        bytes_freed_total: d.counters.map(|c| c.bytes_freed),
        ..DaemonJson::default()
    };
    if let Some(s) = &d.state {
        out.pid = Some(s.pid);
        out.version = Some(s.version.clone());
        out.started_at = Some(s.started_at);
        out.last_pass = s.last_pass;
        out.last_rescan = s.last_rescan;
        out.errors = Some(s.errors);
        out.warnings = Some(s.warnings);
        out.held_runs = s
            .runs
            .iter()
            .filter(|r| r.held)
            .map(|r| r.run.clone())
            .collect();
    }
    out
}
