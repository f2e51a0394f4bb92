//! `ckptd history [RUN…] [--json]`: every checkpoint the daemon saw, from its ledger, with
//! its metrics and fate; on a terminal, the policy metric drawn against step.

use std::io::{BufRead, BufReader, IsTerminal};
use std::path::PathBuf;

use super::{EXIT_FAILED, EXIT_OK};
use crate::config::Config;
use crate::daemon::ledger::find_ledger;
use crate::history::{self, plot, render, Fate, RunHistory};

pub fn history(config: &Config, runs: &[PathBuf], json: bool) -> u8 {
    let (file, mut histories) = match read_ledger(config) {
        Ok(read) => read,
        Err(message) => {
            errln!("ckptd: {message}");
            return EXIT_FAILED;
        }
    };
    let code = if select(&mut histories, runs, &file) {
        EXIT_OK
    } else {
        EXIT_FAILED
    };
    // What ckptd did not delete but is not on disk any more was removed by someone else.
    for h in &mut histories {
        for e in &mut h.entries {
            if e.fate == Fate::Kept && std::fs::symlink_metadata(h.run.join(&e.checkpoint)).is_err()
            {
                e.fate = Fate::Gone;
            }
        }
    }
    if json {
        outln!("{}", render::json(&histories));
    } else {
        print_tables(&histories);
    }
    code
}

/// The ledger's path and every run's history in it, or why it cannot be read.
fn read_ledger(config: &Config) -> Result<(PathBuf, Vec<RunHistory>), String> {
    let file = find_ledger(config.daemon.state_dir.as_deref()).map_err(|looked| {
        let looked: Vec<String> = looked.iter().map(|p| p.display().to_string()).collect();
        format!(
            "no ledger found (looked for {}); the daemon writes it in its state_dir as it sees checkpoints complete",
            looked.join(", ")
        )
    })?;
    let reader = std::fs::File::open(&file)
        .map(BufReader::new)
        .map_err(|e| format!("cannot read the ledger {}: {e}", file.display()))?;
    // Line by line as bytes: a line that is not UTF-8 (a damaged disk block) is skipped, not
    // the end of the ledger.
    let lines = reader
        .split(b'\n')
        .map_while(Result::ok)
        .filter_map(|bytes| String::from_utf8(bytes).ok());
    Ok((file, history::fold(lines)))
}

/// Keeps only the histories of `runs` (all when none are named); false when one of them is
/// not in the ledger (said on stderr).
fn select(histories: &mut Vec<RunHistory>, runs: &[PathBuf], file: &std::path::Path) -> bool {
    if runs.is_empty() {
        return true;
    }
    let mut all_known = true;
    let wanted: Vec<PathBuf> = runs.iter().map(|p| crate::paths::absolute(p)).collect();
    for (given, path) in runs.iter().zip(&wanted) {
        if !histories.iter().any(|h| &h.run == path) {
            all_known = false;
            errln!(
                "ckptd: {}: no checkpoint of this run is in the ledger {}",
                given.display(),
                file.display()
            );
        }
    }
    histories.retain(|h| wanted.contains(&h.run));
    all_known
}

/// One table per run; on a terminal, each followed by its plot.
fn print_tables(histories: &[RunHistory]) {
    let terminal = std::io::stdout().is_terminal();
    // The terminal's own width; `COLUMNS` (not exported by bash) only when it cannot be asked.
    let width = rustix::termios::tcgetwinsize(std::io::stdout())
        .ok()
        .map(|w| usize::from(w.ws_col))
        .filter(|&w| w > 0)
        .or_else(|| std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()))
        .unwrap_or(100);
    // https://no-color.org: any non-empty value.
    let color = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    if histories.is_empty() {
        out!("{}", render::table(histories));
    }
    for (i, h) in histories.iter().enumerate() {
        if i > 0 {
            outln!();
        }
        out!("{}", render::table(std::slice::from_ref(h)));
        if terminal {
            if let Some(drawn) = plot::plot(h, width, color) {
                out!("\n{drawn}");
            }
        }
    }
}
