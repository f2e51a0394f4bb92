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
            eprintln!(
                "ckptd: no ledger found (looked for {}); the daemon writes it in its state_dir as it sees checkpoints complete",
                looked.join(", ")
            );
            return EXIT_FAILED;
        }
    };
    let reader = match std::fs::File::open(&file) {
        Ok(f) => BufReader::new(f),
        Err(e) => {
            eprintln!("ckptd: cannot read the ledger {}: {e}", file.display());
            return EXIT_FAILED;
        }
    };
    let mut histories = history::fold(reader.lines().map_while(Result::ok));
    if !runs.is_empty() {
        let wanted: Vec<PathBuf> = runs.iter().map(|p| crate::paths::absolute(p)).collect();
        for (given, path) in runs.iter().zip(&wanted) {
            if !histories.iter().any(|h| &h.run == path) {
                eprintln!(
                    "ckptd: {}: no checkpoint of this run is in the ledger {}",
                    given.display(),
                    file.display()
                );
            }
        }
        histories.retain(|h| wanted.contains(&h.run));
    }
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
        println!("{}", render::json(&histories));
        return EXIT_OK;
    }
    let terminal = std::io::stdout().is_terminal();
    let width = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(100);
    if histories.is_empty() {
        print!("{}", render::table(&histories));
    }
    for (i, h) in histories.iter().enumerate() {
        if i > 0 {
            println!();
        }
        print!("{}", render::table(std::slice::from_ref(h)));
        if terminal {
            if let Some(drawn) = plot::plot(h, width) {
                print!("\n{drawn}");
            }
        }
    }
    EXIT_OK
}
