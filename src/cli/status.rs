//! `ckptd status`: per run, checkpoints complete and in progress, bytes on disk, what the
//! current plan would delete and free, and abandoned incomplete checkpoints. Computed from
//! disk like `plan`, so it works whether or not the daemon runs.

use std::fmt::Write;
use std::time::SystemTime;

use super::pass;
use super::{EXIT_FAILED, EXIT_OK, EXIT_USAGE};
use crate::config::Config;
use crate::pass::PassReport;
use crate::report::human_bytes;

pub fn status(config: &Config) -> u8 {
    let now = SystemTime::now();
    let looked = match pass::select_runs(config, &[]) {
        Ok(runs) => pass::look(config, &runs),
        Err(message) => {
            errln!("ckptd: {message}");
            return EXIT_USAGE;
        }
    };
    out!("{}", render(&looked.reports, now));
    out!(
        "{}",
        crate::report::table::render_filesystems(&looked.filesystems)
    );
    // A held run is an error to fix, as in `plan` and `prune`.
    if looked.failed || looked.reports.iter().any(|r| r.plan.held()) {
        EXIT_FAILED
    } else {
        EXIT_OK
    }
}

fn render(passes: &[PassReport], now: SystemTime) -> String {
    let mut out = String::new();
    if passes.is_empty() {
        out.push_str("no run directories found\n");
    }
    for p in passes {
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
    }
    out
}
