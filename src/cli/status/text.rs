//! `status` for people: a block per run, then the filesystems, then the daemon.

use std::fmt::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{DaemonView, RunStatus, Status};
use crate::disk::percent;
use crate::report::human_bytes;

pub fn render(status: &Status) -> String {
    let mut out = String::new();
    if status.runs.is_empty() {
        // As `plan` says it: an empty output reads like a hang or a crash.
        out.push_str("no run directories found\n");
    }
    for run in &status.runs {
        render_run(&mut out, run, status.now);
    }
    if !status.disks.is_empty() {
        out.push_str("disks:\n");
        for (mount, space) in &status.disks {
            let _ = match space {
                Ok(s) => writeln!(
                    out,
                    "  {}: {} free ({:.1}%) of {}, {} inodes free ({:.1}%)",
                    mount.display(),
                    human_bytes(s.free_bytes),
                    percent(s.free_bytes, s.total_bytes),
                    human_bytes(s.total_bytes),
                    s.free_inodes,
                    percent(s.free_inodes, s.total_inodes)
                ),
                Err(e) => writeln!(out, "  {}: cannot measure: {e}", mount.display()),
            };
        }
    }
    out.push_str(&crate::report::table::render_filesystems(
        &status.filesystems,
    ));
    render_daemon(&mut out, &status.daemon, status.now);
    out
}

fn render_run(out: &mut String, run: &RunStatus, now: SystemTime) {
    let p = &run.report;
    let complete = p.plan.verdicts.iter().filter(|v| v.is_complete()).count();
    let in_progress = p.plan.verdicts.len() - complete;
    let on_disk: u64 = p.plan.verdicts.iter().filter_map(|v| v.bytes).sum();
    let deletions: Vec<_> = p.plan.deletions().collect();
    let frees: u64 = deletions.iter().filter_map(|v| v.bytes).sum();
    let _ = writeln!(
        out,
        "{}  (watch {})\n  checkpoints: {complete} complete, {in_progress} in progress; {} on disk\n  plan: delete {}, free {}",
        p.run.display(),
        p.watch.name,
        human_bytes(on_disk),
        deletions.len(),
        human_bytes(frees)
    );
    let slims: Vec<_> = p.plan.slims().collect();
    if !slims.is_empty() {
        let bytes: u64 = slims
            .iter()
            .map(|v| crate::execute::slim::would_slim(v).bytes)
            .sum();
        let _ = writeln!(
            out,
            "  plan: slim {}, free {} of training state",
            slims.len(),
            human_bytes(bytes)
        );
    }
    if !run.pinned.is_empty() {
        let _ = writeln!(out, "  pinned: {}", run.pinned.join(", "));
    }
    if p.plan.held() {
        let metric = p
            .watch
            .policy
            .keep_best
            .as_ref()
            .map_or("", |b| b.metric.as_str());
        let _ = writeln!(
            out,
            "  held: keep_best finds `{metric}` in no complete checkpoint, so nothing is deleted (`ckptd plan` says which names it found)"
        );
    }
    for v in &p.plan.verdicts {
        let Some(age) = v.stale(now, p.watch.stale_after) else {
            continue;
        };
        let _ = writeln!(
            out,
            "  abandoned: {} (incomplete, untouched for {}; ckptd never deletes it)",
            v.name,
            crate::duration::show(age)
        );
        crate::report::warn_stale(&p.run, v, age);
    }
    if let Some(d) = &run.daemon {
        let _ = writeln!(
            out,
            "  daemon: last pass {}; last deletion {}; {} deleted, {} freed since it started",
            when(d.last_pass, now),
            when(d.last_deletion, now),
            d.deleted,
            human_bytes(d.freed_bytes)
        );
    }
}

fn render_daemon(out: &mut String, daemon: &DaemonView, now: SystemTime) {
    let Some(dir) = &daemon.state_dir else {
        out.push_str("daemon: unknown (no state directory: set [daemon] state_dir)\n");
        return;
    };
    let state = match (daemon.running, &daemon.state) {
        (Some(true), Some(s)) => format!("running (pid {}, ckptd {})", s.pid, s.version),
        (Some(true), None) => "running".to_owned(),
        (Some(false), Some(s)) => format!(
            "not running (pid {} last wrote its state {})",
            s.pid,
            when(Some(s.written_at), now)
        ),
        (Some(false), None) => "not running".to_owned(),
        (None, _) => "has not run here yet".to_owned(),
    };
    let _ = writeln!(out, "daemon: {state}; state in {}", dir.display());
    if let (Some(true), Some(s)) = (daemon.running, &daemon.state) {
        let _ = writeln!(out, "  started {}", when(Some(s.started_at), now));
        let _ = writeln!(
            out,
            "  last pass {}; last rescan {}",
            when(s.last_pass, now),
            when(s.last_rescan, now)
        );
        let held: Vec<&str> = s
            .runs
            .iter()
            .filter(|r| r.held)
            .map(|r| r.run.as_str())
            .collect();
        let _ = writeln!(
            out,
            "  {} and {} since it started; {}",
            crate::report::count(usize::try_from(s.errors).unwrap_or(usize::MAX), "ERROR"),
            crate::report::count(usize::try_from(s.warnings).unwrap_or(usize::MAX), "WARN"),
            if held.is_empty() {
                "no run held".to_owned()
            } else {
                format!("held: {}", held.join(", "))
            }
        );
    }
    if let Some(c) = daemon.counters {
        let _ = writeln!(
            out,
            "  all time: {} deleted, {} freed",
            crate::report::count(
                usize::try_from(c.deletions).unwrap_or(usize::MAX),
                "checkpoint"
            ),
            human_bytes(c.bytes_freed)
        );
    }
}

/// "2026-12-01T04:00:00Z (3m ago)", or "never".
fn when(at: Option<u64>, now: SystemTime) -> String {
    let Some(secs) = at else {
        return "never".to_owned();
    };
    let then = UNIX_EPOCH + Duration::from_secs(secs);
    let ago = now.duration_since(then).map_or_else(
        |_| "ahead of this clock".to_owned(),
        |d| format!("{} ago", crate::duration::show(d)),
    );
    format!(
        "{} ({ago})",
        crate::plan::calendar::rfc3339(i64::try_from(secs).unwrap_or(i64::MAX), 0)
    )
}
