//! `ckptd prune`: plan, ask when a terminal user is about to lose more than 10 checkpoints,
//! then carry the plan out (or, with `--dry-run` or `dry_run = true`, only log it).

use std::io::{BufRead, IsTerminal, Write};

use super::pass::{self, Pass};
use super::{EXIT_FAILED, EXIT_OK, EXIT_USAGE};
use crate::config::Config;
use crate::execute;
use crate::report::{self, human_bytes, RunPlan};

/// Deleting more than this many checkpoints from a terminal asks first.
const ASK_ABOVE: usize = 10;

pub fn prune(config: &Config, selected: &[std::path::PathBuf], dry_run: bool, yes: bool) -> u8 {
    let mut failed = 0;
    let access = if dry_run {
        pass::Access::ReadOnly
    } else {
        pass::Access::Acting
    };
    let passes = match pass::plan_runs(config, selected, access) {
        Ok(p) => p,
        Err(message) => {
            errln!("ckptd: {message}");
            return EXIT_USAGE;
        }
    };
    let to_delete: usize = passes
        .iter()
        .filter(|p| !(dry_run || p.watch.dry_run))
        .map(|p| p.plan.deletions().count())
        .sum();
    if to_delete > ASK_ABOVE
        && !yes
        && std::io::stdin().is_terminal()
        && !confirm(&passes, to_delete)
    {
        outln!("nothing deleted");
        return EXIT_OK;
    }

    let mut total = execute::Outcome::default();
    for p in &passes {
        let dry = dry_run || p.watch.dry_run;
        if dry {
            // A dry run writes nothing, not even the lock file.
            total.absorb(execute::carry_out(
                &p.run,
                &p.watch,
                &p.plan,
                &p.checkpoints,
                true,
            ));
            continue;
        }
        if let Some(e) = &p.lock_error {
            tracing::error!(run = %p.run.display(), error = %e, "cannot take the run lock of {}: {e}; nothing deleted there", p.run.display());
            total.failed += p.plan.deletions().count().max(1);
            continue;
        }
        if p.busy_without_clock {
            tracing::warn!(run = %p.run.display(), "another ckptd is acting on {}: skipped", p.run.display());
            total.skipped += p.plan.deletions().count();
            continue;
        }
        let _lock = match crate::lock::try_lock(&p.run) {
            Ok(Some(lock)) => lock,
            Ok(None) => {
                tracing::warn!(run = %p.run.display(), "another ckptd is acting on this run: skipped: {}", p.run.display());
                total.skipped += p.plan.deletions().count();
                continue;
            }
            Err(e) => {
                tracing::error!(run = %p.run.display(), error = %e, "cannot take the run lock of {}: {e}{}; nothing deleted there", p.run.display(), crate::io_hint::hint(&e));
                total.failed += p.plan.deletions().count().max(1);
                continue;
            }
        };
        // Holding the lock, whatever is in the trash is a leftover of an interrupted pass.
        failed += execute::empty_leftover_trash(&p.run, &mut execute::NoJournal);
        total.absorb(execute::carry_out(
            &p.run,
            &p.watch,
            &p.plan,
            &p.checkpoints,
            false,
        ));
    }
    failed += total.failed;
    // A held run deleted nothing, on purpose; still an error to fix (its ERROR says why).
    let held = passes.iter().filter(|p| p.plan.held()).count();
    outln!("{}", summary(&total, failed, held));
    if failed > 0 || held > 0 {
        EXIT_FAILED
    } else {
        EXIT_OK
    }
}

fn confirm(passes: &[Pass], to_delete: usize) -> bool {
    let plans: Vec<RunPlan> = passes
        .iter()
        .map(|p| RunPlan {
            run: p.run.clone(),
            watch: p.watch.name.clone(),
            layout: p.watch.layout.name(),
            metric: p.watch.policy.keep_best.as_ref().map(|b| b.metric.clone()),
            plan: p.plan.clone(),
        })
        .collect();
    out!("{}", report::table::render(&plans));
    out!("Delete {to_delete} checkpoints? [y/N] ");
    let _ = std::io::stdout().flush();
    let mut answer = String::new();
    if std::io::stdin().lock().read_line(&mut answer).is_err() {
        return false;
    }
    matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes")
}

/// One line for people: what was deleted, what a dry run would delete, what went wrong.
fn summary(total: &execute::Outcome, failed: usize, held: usize) -> String {
    let count = |n: usize| format!("{n} checkpoint{}", if n == 1 { "" } else { "s" });
    let mut parts = Vec::new();
    if !total.would_delete.is_empty() || total.deleted.is_empty() {
        if total.would_delete.is_empty() {
            parts.push(format!("deleted {}, 0 B freed", count(0)));
        } else {
            let bytes: u64 = total.would_delete.iter().map(|(_, b)| b).sum();
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
    format!(
        "{}; {} skipped, {failed} failed{held}",
        parts.join("; "),
        total.skipped
    )
}
