//! `ckptd history [RUN…] [--json]`: every checkpoint the daemon saw, from its ledger, with
//! its metrics and fate; on a terminal, the policy metric drawn against step.

use std::io::{BufRead, BufReader, IsTerminal};
use std::path::PathBuf;

use super::{EXIT_FAILED, EXIT_OK};
use crate::config::Config;
use crate::daemon::ledger::find_ledger;
use crate::history::{self, plot, render, Fate};

pub fn history(config: &Config, runs: &[PathBuf], json: bool) -> u8 {
    let file = match find_ledger(config.daemon.state_dir.as_deref()) {
        Ok(file) => file,
        Err(looked) => {
            let looked: Vec<String> = looked.iter().map(|p| p.display().to_string()).collect();
            errln!(
                "ckptd: no ledger found (looked for {}); the daemon writes it in its state_dir as it sees checkpoints complete",
                looked.join(", ")
            );
            return EXIT_FAILED;
        }
    };
    let reader = match std::fs::File::open(&file) {
        Ok(f) => BufReader::new(f),
        Err(e) => {
            errln!("ckptd: cannot read the ledger {}: {e}", file.display());
            return EXIT_FAILED;
        }
    };
    // Line by line as bytes: a line that is not UTF-8 (a damaged disk block) is skipped, not
    // the end of the ledger.
    let lines = reader
        .split(b'\n')
        .map_while(Result::ok)
        .filter_map(|bytes| String::from_utf8(bytes).ok());
    let mut histories = history::fold(lines);
    let mut unknown = false;
    if !runs.is_empty() {
        let wanted: Vec<PathBuf> = runs.iter().map(|p| crate::paths::absolute(p)).collect();
        for (given, path) in runs.iter().zip(&wanted) {
            if !histories.iter().any(|h| &h.run == path) {
                unknown = true;
                errln!(
                    "ckptd: {}: no checkpoint of this run is in the ledger {}",
                    given.display(),
                    file.display()
                );
            }
        }
        histories.retain(|h| wanted.contains(&h.run));
    }
    let code = if unknown { EXIT_FAILED } else { EXIT_OK };
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
        return code;
    }
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
        out!("{}", render::table(&histories));
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
    code
}
