//! `ckptd status`: per run, checkpoints complete and in progress, bytes on disk, what the
//! current plan would delete and free, and abandoned incomplete checkpoints. Computed from
//! disk like `plan`, so it works whether or not the daemon runs.

use std::collections::HashMap;
use std::fmt::Write;
use std::time::SystemTime;

use super::pass::{self, Pass};
use super::{EXIT_FAILED, EXIT_OK, EXIT_USAGE};
use crate::checkpoint::Checkpoint;
use crate::config::Config;
use crate::report::human_bytes;

pub fn status(config: &Config) -> u8 {
    let now = SystemTime::now();
    let passes = match pass::plan_runs(config, &[], pass::Access::ReadOnly) {
        Ok(p) => p,
        Err(message) => {
            errln!("ckptd: {message}");
            return EXIT_USAGE;
        }
    };
    out!("{}", render(&passes, now));
    // A held run is an error to fix, as in `plan` and `prune`.
    if passes.iter().any(|p| p.plan.held()) {
        EXIT_FAILED
    } else {
        EXIT_OK
    }
}

/// Incomplete checkpoints untouched for the watch's `stale_after`: crashed saves.
fn abandoned(pass: &Pass, now: SystemTime) -> Vec<(String, String)> {
    let by_name: HashMap<&str, &Checkpoint> = pass
        .checkpoints
        .iter()
        .map(|c| (c.name.as_str(), c))
        .collect();
    pass.plan
        .verdicts
        .iter()
        .filter(|v| !v.is_complete())
        .filter_map(|v| {
            let checkpoint = by_name.get(v.name.as_str())?;
            let age = now.duration_since(checkpoint.completed_at()?).ok()?;
            (age >= pass.watch.stale_after).then(|| (v.name.clone(), crate::duration::show(age)))
        })
        .collect()
}

fn render(passes: &[Pass], now: SystemTime) -> String {
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
        for (name, age) in abandoned(p, now) {
            let _ = writeln!(
                out,
                "  abandoned: {name} (incomplete, untouched for {age}; ckptd never deletes it)"
            );
            tracing::warn!(run = %p.run.display(), checkpoint = %name, untouched = %age, "incomplete checkpoint untouched for a long time (a crashed save?): never deleted by ckptd: {name} in {}, untouched for {age}", p.run.display());
        }
    }
    out
}
