//! `ckptd prune`: plan, ask when a terminal user is about to lose more than 10 checkpoints,
//! then carry the plan out (or, with `--dry-run` or `dry_run = true`, only log it).

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use super::pass::{self, OneShot};
use super::{EXIT_FAILED, EXIT_OK, EXIT_USAGE};
use crate::config::Config;
use crate::execute;
use crate::pass::{PassReport, Reached};
use crate::report::{self, human_bytes, RunPlan};
use crate::runs::Run;

/// Deleting more than this many checkpoints from a terminal asks first.
const ASK_ABOVE: usize = 10;

pub fn prune(config: &Config, selected: &[std::path::PathBuf], dry_run: bool, yes: bool) -> u8 {
    let runs = match pass::select_runs(config, selected) {
        Ok(runs) => runs,
        Err(message) => {
            errln!("ckptd: {message}");
            return EXIT_USAGE;
        }
    };
    let mut hooks = if dry_run {
        OneShot::dry_run()
    } else if !yes && std::io::stdin().is_terminal() {
        let Some(confirmed) = ask(config, &runs) else {
            outln!("nothing deleted");
            return EXIT_OK;
        };
        OneShot::pruning(Some(confirmed))
    } else {
        OneShot::pruning(None)
    };
    let mut reports = pass::passes(config, &runs, &mut hooks);
    pass::look_again_where_the_clock_is_unknown(config, &runs, &mut reports, &mut hooks);
    let failed: usize = reports.iter().map(PassReport::failures).sum();
    // A held run deleted nothing, on purpose; still an error to fix (its ERROR says why).
    let held = reports.iter().filter(|r| r.plan.held()).count();
    // A run another ckptd was acting on is skipped as a whole.
    let busy = reports
        .iter()
        .filter(|r| matches!(r.reached, Reached::Busy))
        .count();
    let mut total = execute::Outcome::default();
    for report in reports {
        total.absorb(report.executed);
    }
    outln!("{}", summary(&total, busy, failed, held));
    if failed > 0 || held > 0 {
        EXIT_FAILED
    } else {
        EXIT_OK
    }
}

/// From a terminal: the plan as it is now, looked at without the locks, and (when it deletes
/// more than [`ASK_ABOVE`]) the question. Each run is planned again under its lock before
/// anything is deleted, and only what was shown may go: the deletions shown, by run, or `None`
/// when the answer is no.
fn ask(config: &Config, runs: &[Run]) -> Option<HashMap<PathBuf, HashSet<String>>> {
    let preview: Vec<PassReport> = pass::passes(config, runs, &mut OneShot::previewing())
        .into_iter()
        .filter(|r| matches!(r.reached, Reached::Planned) && !r.watch.dry_run)
        .collect();
    let to_delete: usize = preview.iter().map(|r| r.plan.deletions().count()).sum();
    let shown = preview
        .iter()
        .map(|r| {
            let names = r.plan.deletions().map(|v| v.name.clone()).collect();
            (r.run.clone(), names)
        })
        .collect();
    if to_delete <= ASK_ABOVE {
        return Some(shown);
    }
    let plans: Vec<RunPlan> = preview.iter().map(pass::run_plan).collect();
    out!("{}", report::table::render(&plans));
    out!("Delete {to_delete} checkpoints? [y/N] ");
    let _ = std::io::stdout().flush();
    let mut answer = String::new();
    if std::io::stdin().lock().read_line(&mut answer).is_err() {
        return None;
    }
    matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes").then_some(shown)
}

/// One line for people: what was deleted, what a dry run would delete, what went wrong.
fn summary(total: &execute::Outcome, busy: usize, failed: usize, held: usize) -> String {
    let count = |n: usize| format!("{n} checkpoint{}", if n == 1 { "" } else { "s" });
    let mut parts = Vec::new();
    if !total.would_delete.is_empty() || total.deleted.is_empty() {
        if total.would_delete.is_empty() {
            parts.push(format!("deleted {}, 0 B freed", count(0)));
        } else {
            let bytes: u64 = total.would_delete.iter().map(|d| d.bytes).sum();
            parts.push(format!(
                "dry run: would delete {}, {} to free",
                count(total.would_delete.len()),
                human_bytes(bytes)
            ));
        }
    }
    if !total.deleted.is_empty() {
        parts.push(format!(
            "deleted {}, {} freed",
            count(total.deleted.len()),
            human_bytes(total.bytes_freed())
        ));
    }
    let held = match held {
        0 => String::new(),
        1 => "; 1 run held (keep_best found no metric: see the ERROR)".to_owned(),
        n => format!("; {n} runs held (keep_best found no metric: see the ERRORs)"),
    };
    let busy = match busy {
        0 => String::new(),
        1 => "; 1 run skipped (another ckptd is acting on it)".to_owned(),
        n => format!("; {n} runs skipped (another ckptd is acting on them)"),
    };
    format!(
        "{}; {} skipped, {failed} failed{busy}{held}",
        parts.join("; "),
        total.skipped()
    )
}
