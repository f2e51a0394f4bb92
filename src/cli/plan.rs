//! `ckptd plan [RUN…] [--json]`: what would be kept and deleted now, and why, as a table or
//! JSON. Read-only passes (see `cli::pass`): nothing is written, not even a lock file.

use std::path::PathBuf;

use super::pass;
use super::{EXIT_FAILED, EXIT_OK, EXIT_USAGE};
use crate::config::Config;
use crate::report::{self, RunPlan};

pub fn plan(config: &Config, runs: &[PathBuf], json: bool) -> u8 {
    let runs = match pass::select_runs(config, runs) {
        Ok(runs) => runs,
        Err(message) => {
            errln!("ckptd: {message}");
            return EXIT_USAGE;
        }
    };
    let looked = pass::look(config, &runs);
    let plans: Vec<RunPlan> = looked.reports.iter().map(pass::run_plan).collect();
    if json {
        outln!("{}", report::json::render(&plans, &looked.filesystems));
    } else {
        out!("{}", report::table::render(&plans));
        out!("{}", report::table::render_filesystems(&looked.filesystems));
    }
    // A held run (keep_best found no metric at all) is an error to fix.
    if looked.failed || looked.reports.iter().any(|r| r.plan.held()) {
        EXIT_FAILED
    } else {
        EXIT_OK
    }
}
