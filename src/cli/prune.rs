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
    let (mut hooks, (orders, mut unshown)) = if dry_run {
        (OneShot::dry_run(), pressure_first(config, &runs))
    } else if !yes && std::io::stdin().is_terminal() {
        let Some((confirmed, first)) = ask(config, &runs) else {
            outln!("nothing deleted");
            return EXIT_OK;
        };
        (OneShot::pruning(Some(confirmed)), first)
    } else {
        (OneShot::pruning(None), pressure_first(config, &runs))
    };
    // Pressure decided before the first pass, so each run's rules and pressure are carried
    // out together: a checkpoint the rules would slim and pressure deletes is only deleted.
    hooks.orders = orders;
    // Ctrl-C or SIGTERM: the deletion in flight finishes, no other is started.
    let (trigger, shutdown) = crate::shutdown::channel();
    if let Err(e) = crate::shutdown::stop_on_signals(trigger) {
        tracing::warn!(error = %e, "cannot handle SIGINT/SIGTERM ({e}): an interrupt stops prune at once");
    }
    // A before_delete hook running then is killed (it is in a process group of its own, out
    // of the terminal's reach), and no other is asked.
    hooks.stop_hooks_on(shutdown.clone());
    let mut reports = pass::passes(config, &runs, &mut hooks, &shutdown);
    pass::look_again_where_the_clock_is_unknown(config, &runs, &mut reports, &mut hooks, &shutdown);
    let unmet = under_pressure(
        config,
        &runs,
        &mut reports,
        &mut hooks,
        &shutdown,
        (dry_run, &mut unshown),
    );
    let tally = Tally {
        unmet,
        dry_run,
        interrupted: shutdown.requested(),
        failed: reports.iter().map(PassReport::failures).sum(),
        // A held run deleted nothing, on purpose; still an error to fix (its ERROR says why).
        held: reports.iter().filter(|r| r.plan.held()).count(),
        // A run another ckptd was acting on is skipped as a whole.
        busy: count(&reports, |r| matches!(r.reached, Reached::Busy)),
        invalid_overrides: count(&reports, |r| r.overrides_invalid),
    };
    let mut total = execute::Outcome::default();
    for report in reports {
        total.absorb(report.executed);
    }
    outln!("{}", summary(&total, &tally));
    let uploads_failed = hooks.upload_failures();
    if uploads_failed > 0 {
        // Nothing was lost (each of those checkpoints is kept), but cron should hear of it.
        outln!(
            "{} failed: those checkpoints are kept until their upload succeeds (see the log)",
            crate::report::count(uploads_failed, "upload")
        );
    }
    if uploads_failed > 0
        || tally.failed > 0
        || tally.held > 0
        || tally.unmet > 0
        || tally.interrupted
    {
        EXIT_FAILED
    } else {
        EXIT_OK
    }
}

fn count(reports: &[PassReport], which: impl Fn(&PassReport) -> bool) -> usize {
    reports.iter().filter(|r| which(r)).count()
}

/// The pressure step after the rules' own deletions: each configured filesystem is measured
/// and, where its target is not met, a second pass over the runs pressure chose carries its
/// decisions out (a dry run folds them into the plans and says them). What the first pass
/// deleted and the filesystem did not show free (see `disk::Unshown`; `unshown` holds what
/// the preview measured) counts as coming free: a reader holding a deleted checkpoint open
/// is no reason to delete more. Returns how many filesystems cannot meet their target (an
/// ERROR each).
fn under_pressure(
    config: &Config,
    runs: &[Run],
    reports: &mut Vec<PassReport>,
    hooks: &mut OneShot,
    shutdown: &crate::shutdown::Shutdown,
    (dry_run, unshown): (bool, &mut [crate::disk::Unshown]),
) -> usize {
    let filesystems = pass::pressure(config, reports, unshown);
    let unmet = pass::log_filesystem_errors(&filesystems);
    if dry_run {
        for (index, name) in pass::fold_pressure(reports, &filesystems) {
            let report = &mut reports[index];
            if let Some(v) = report.plan.verdict(&name) {
                execute::log_deletion(
                    &report.run,
                    &report.watch,
                    v,
                    "dry run: would delete checkpoint",
                );
                report.executed.would_delete.push(execute::deleted(v));
            }
        }
        return unmet;
    }
    hooks.orders = crate::disk::orders_by_run(&filesystems);
    let again: Vec<Run> = runs
        .iter()
        .filter(|r| hooks.orders.contains_key(&r.path))
        .cloned()
        .collect();
    for mut second in pass::passes(config, &again, hooks, shutdown) {
        // The second pass's report stands for the run (its plan is the newer one), carrying
        // what the first pass did: each run counts once in the summary.
        match reports.iter_mut().find(|r| r.run == second.run) {
            Some(first) => {
                let mut executed = std::mem::take(&mut first.executed);
                executed.absorb(std::mem::take(&mut second.executed));
                second.executed = executed;
                *first = second;
            }
            None => reports.push(second),
        }
    }
    unmet
}

/// What the summary says besides the outcome of the deletions.
struct Tally {
    /// Filesystems whose target cannot be met (or that cannot be measured).
    unmet: usize,
    dry_run: bool,
    interrupted: bool,
    failed: usize,
    held: usize,
    busy: usize,
    invalid_overrides: usize,
}

/// From a terminal: the plan as it is now, looked at without the locks, and (when it deletes
/// more than [`ASK_ABOVE`]) the question. Each run is planned again under its lock before
/// anything is deleted, and only what was shown may go: the deletions shown, by run, or `None`
/// when the answer is no.
type Orders = HashMap<PathBuf, Vec<crate::pressure::Order>>;

/// A read-only look at every run, quiet, and the pressure step over it: the plans as they
/// are now and the pressure decisions for each run.
fn preview(config: &Config, runs: &[Run]) -> (Vec<PassReport>, Vec<crate::disk::FsOutcome>) {
    let never = crate::shutdown::Shutdown::never();
    let preview: Vec<PassReport> = pass::passes(config, runs, &mut OneShot::previewing(), &never)
        .into_iter()
        .filter(|r| matches!(r.reached, Reached::Planned))
        .collect();
    let filesystems = pass::pressure(config, &preview, &mut []);
    (preview, filesystems)
}

/// The pressure decisions to hand to the first pass, and what the preview measured (for
/// [`under_pressure`]); none without `[[filesystem]]` tables: no preview is made then.
fn pressure_first(config: &Config, runs: &[Run]) -> First {
    if config.filesystems.is_empty() {
        return (Orders::new(), Vec::new());
    }
    first(&preview(config, runs).1)
}

/// What the first pass takes from the preview's pressure step.
type First = (Orders, Vec<crate::disk::Unshown>);

fn first(filesystems: &[crate::disk::FsOutcome]) -> First {
    (
        crate::disk::orders_by_run(filesystems),
        crate::disk::unshown_since(filesystems),
    )
}

fn ask(config: &Config, runs: &[Run]) -> Option<(HashMap<PathBuf, HashSet<String>>, First)> {
    let (mut preview, filesystems) = preview(config, runs);
    let orders = first(&filesystems);
    // What pressure would add is shown and asked about too; a dry-run watch still counts
    // for the filesystem it is on, but nothing of it is asked about.
    pass::fold_pressure(&mut preview, &filesystems);
    preview.retain(|r| !r.watch.dry_run);
    let to_delete: usize = preview.iter().map(|r| r.plan.deletions().count()).sum();
    let shown = preview
        .iter()
        .map(|r| {
            let names = r.plan.deletions().map(|v| v.name.clone()).collect();
            (r.run.clone(), names)
        })
        .collect();
    if to_delete <= ASK_ABOVE {
        return Some((shown, orders));
    }
    let plans: Vec<RunPlan> = preview.iter().map(pass::run_plan).collect();
    out!("{}", report::table::render(&plans));
    out!("Delete {to_delete} checkpoints? [y/N] ");
    let _ = std::io::stdout().flush();
    let mut answer = String::new();
    if std::io::stdin().lock().read_line(&mut answer).is_err() {
        return None;
    }
    matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes").then_some((shown, orders))
}

/// One line for people: what was deleted, what a dry run would delete, what went wrong.
fn summary(total: &execute::Outcome, tally: &Tally) -> String {
    let count = |n: usize| format!("{n} checkpoint{}", if n == 1 { "" } else { "s" });
    let mut parts = Vec::new();
    if tally.dry_run || !total.would_delete.is_empty() {
        let bytes: u64 = total.would_delete.iter().map(|d| d.bytes).sum();
        parts.push(format!(
            "dry run: would delete {}, {} to free",
            count(total.would_delete.len()),
            human_bytes(bytes)
        ));
    }
    if !tally.dry_run || !total.deleted.is_empty() {
        parts.push(format!(
            "deleted {}, {} freed",
            count(total.deleted.len()),
            human_bytes(total.bytes_freed())
        ));
    }
    if !total.would_slim.is_empty() {
        let bytes: u64 = total.would_slim.iter().map(|s| s.bytes).sum();
        parts.push(format!(
            "dry run: would slim {}, {} to free",
            count(total.would_slim.len()),
            human_bytes(bytes)
        ));
    }
    if !total.slimmed.is_empty() {
        let bytes: u64 = total.slimmed.iter().map(|s| s.bytes).sum();
        parts.push(format!(
            "slimmed {} ({} of training state)",
            count(total.slimmed.len()),
            human_bytes(bytes)
        ));
    }
    let runs = |n: usize, what: &str, why: &str| match n {
        0 => String::new(),
        1 => format!("; 1 run {what} ({why})"),
        n => format!("; {n} runs {what} ({why})"),
    };
    format!(
        "{}; {} skipped, {} failed{}{}{}{}{}",
        parts.join("; "),
        total.skipped(),
        tally.failed,
        runs(tally.busy, "skipped", "another ckptd is acting on it"),
        runs(
            tally.invalid_overrides,
            "not acted on",
            "its .ckptd.toml is invalid: see the ERROR"
        ),
        runs(
            tally.held,
            "held",
            "keep_best found no metric: see the ERROR"
        ),
        match tally.unmet {
            0 => String::new(),
            n => format!(
                "; {n} filesystem{} below its target (see the ERROR)",
                if n == 1 { "" } else { "s" }
            ),
        },
        if tally.interrupted {
            "; interrupted: the rest was not deleted"
        } else {
            ""
        }
    )
}
