//! `ckptd prune`: plan, ask when a terminal user is about to lose more than 10 checkpoints,
//! then carry the plan out (or, with `--dry-run` or `dry_run = true`, only log it).

use std::io::{BufRead, IsTerminal, Write};
use std::time::SystemTime;

use super::pass::{self, Pass};
use super::{EXIT_FAILED, EXIT_OK, EXIT_USAGE};
use crate::config::Config;
use crate::execute;
use crate::report::{self, human_bytes, RunPlan};

/// Deleting more than this many checkpoints from a terminal asks first.
const ASK_ABOVE: usize = 10;

pub fn prune(config: &Config, selected: &[std::path::PathBuf], dry_run: bool, yes: bool) -> u8 {
    let mut failed = 0;
    if !dry_run {
        // Leftovers of an interrupted pass go first, so the disk shows only whole checkpoints.
        for run in crate::runs::discover(config) {
            if selected.is_empty()
                || selected
                    .iter()
                    .any(|s| std::path::absolute(s).ok().as_ref() == Some(&run.path))
            {
                failed += execute::empty_leftover_trash(&run.path);
            }
        }
    }
    let passes = match pass::plan_runs(config, selected, SystemTime::now()) {
        Ok(p) => p,
        Err(message) => {
            eprintln!("ckptd: {message}");
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
        println!("nothing deleted");
        return EXIT_OK;
    }

    let mut total = execute::Outcome::default();
    for p in &passes {
        let outcome = execute::carry_out(
            &p.run,
            &p.watch,
            &p.plan,
            &p.checkpoints,
            dry_run || p.watch.dry_run,
        );
        total.deleted.extend(outcome.deleted);
        total.skipped += outcome.skipped;
        total.failed += outcome.failed;
    }
    failed += total.failed;
    println!(
        "{} {} checkpoint{}, {} {}; {} skipped, {} failed",
        if dry_run { "would delete" } else { "deleted" },
        total.deleted.len(),
        if total.deleted.len() == 1 { "" } else { "s" },
        human_bytes(total.bytes_freed()),
        if dry_run { "to free" } else { "freed" },
        total.skipped,
        failed
    );
    if failed > 0 {
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
            plan: p.plan.clone(),
        })
        .collect();
    print!("{}", report::table::render(&plans));
    print!("Delete {to_delete} checkpoints? [y/N] ");
    let _ = std::io::stdout().flush();
    let mut answer = String::new();
    if std::io::stdin().lock().read_line(&mut answer).is_err() {
        return false;
    }
    matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes")
}
