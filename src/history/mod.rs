//! `ckptd history`: every checkpoint the daemon ever saw in a run, read back from its ledger
//! (`<state_dir>/ledger.jsonl`): step, completion time, metrics, and its fate.
//!
//! [`fold`] is pure: ledger lines in, one [`RunHistory`] per run out. A checkpoint is one
//! `complete` line (a daemon restarted soon after a save may have written two: they are one
//! checkpoint), and its fate the last `deleting` / `deleted` / `not-deleted` line about its
//! name after it completed. A name saved again after a deletion (a resumed run) is a new
//! checkpoint. Lines of other events, or that do not parse, are skipped: the ledger is
//! append-only and written by several versions.

pub mod plot;
pub mod render;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;

use crate::metrics::named::{number_from_json, Metrics};

/// What became of a checkpoint, as far as the ledger knows.
#[derive(Debug, Clone, PartialEq)]
pub enum Fate {
    /// No deletion recorded.
    Kept,
    /// Deleted at `at` (Unix seconds), for `why` (the plan's detail).
    Deleted { at: u64, why: String },
    /// An intent with no result: the daemon stopped mid-deletion (its trash is emptied at the
    /// next start).
    Deleting { at: u64 },
    /// A deletion that failed; with `in_trash`, moved out of the run but not yet removed.
    NotDeleted {
        at: u64,
        error: String,
        in_trash: bool,
    },
    /// Not deleted by ckptd, but the trainer saved another checkpoint under its name.
    Replaced,
    /// Not deleted by ckptd, and no longer on disk (removed by hand or by the trainer);
    /// only the command line knows this, from the disk.
    Gone,
}

/// One checkpoint in a run's history.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub checkpoint: String,
    pub step: Option<u64>,
    pub bytes: u64,
    /// When it completed (its newest mtime), Unix seconds; `None` when only its deletion was
    /// recorded (a ledger from before 0.2).
    pub completed: Option<u64>,
    /// The policy's metric name and value, when it ranked one.
    pub metric: Option<String>,
    pub value: Option<f64>,
    pub metrics: Metrics,
    pub fate: Fate,
}

/// The history of one run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunHistory {
    pub run: PathBuf,
    pub watch: String,
    /// By step, then completion time.
    pub entries: Vec<Entry>,
}

impl RunHistory {
    /// The policy metric the run's checkpoints were ranked by most recently, if any.
    pub fn metric(&self) -> Option<&str> {
        self.entries.iter().rev().find_map(|e| e.metric.as_deref())
    }
}

/// Folds ledger lines (in file order) into each run's history, runs by path.
pub fn fold(lines: impl IntoIterator<Item = impl AsRef<str>>) -> Vec<RunHistory> {
    let mut runs: BTreeMap<String, RunHistory> = BTreeMap::new();
    for line in lines {
        let Ok(v) = serde_json::from_str::<Value>(line.as_ref()) else {
            continue;
        };
        let (Some(event), Some(run), Some(checkpoint)) = (
            v["event"].as_str(),
            v["run"].as_str(),
            v["checkpoint"].as_str(),
        ) else {
            continue;
        };
        let history = runs.entry(run.to_owned()).or_insert_with(|| RunHistory {
            run: PathBuf::from(run),
            watch: String::new(),
            entries: Vec::new(),
        });
        if let Some(watch) = v["watch"].as_str() {
            watch.clone_into(&mut history.watch);
        }
        let at = v["time"].as_u64().unwrap_or(0);
        match event {
            "complete" => complete(history, checkpoint, &v),
            "deleting" => set_fate(history, checkpoint, &v, Fate::Deleting { at }),
            "deleted" => {
                let why = v["detail"].as_str().unwrap_or_default().to_owned();
                set_fate(history, checkpoint, &v, Fate::Deleted { at, why });
            }
            "not-deleted" => {
                let fate = Fate::NotDeleted {
                    at,
                    error: v["error"].as_str().unwrap_or_default().to_owned(),
                    in_trash: v["in_trash"].as_bool().unwrap_or(false),
                };
                set_fate(history, checkpoint, &v, fate);
            }
            _ => {}
        }
    }
    let mut histories: Vec<RunHistory> = runs.into_values().collect();
    for h in &mut histories {
        h.entries.sort_by(|a, b| {
            a.step
                .cmp(&b.step)
                .then_with(|| a.completed.cmp(&b.completed))
                .then_with(|| a.checkpoint.cmp(&b.checkpoint))
        });
    }
    histories
}

fn complete(history: &mut RunHistory, checkpoint: &str, v: &Value) {
    let completed = v["completed"].as_u64();
    // The same save recorded twice (adopted again after a restart): one checkpoint.
    let known = history
        .entries
        .iter()
        .any(|e| e.checkpoint == checkpoint && e.completed == completed && completed.is_some());
    if known {
        return;
    }
    if let Some(earlier) = history
        .entries
        .iter_mut()
        .rev()
        .find(|e| e.checkpoint == checkpoint)
    {
        if earlier.fate == Fate::Kept {
            earlier.fate = Fate::Replaced;
        }
    }
    history.entries.push(Entry {
        checkpoint: checkpoint.to_owned(),
        step: v["step"].as_u64(),
        bytes: v["bytes"].as_u64().unwrap_or(0),
        completed,
        metric: v["metric"].as_str().map(str::to_owned),
        value: number_from_json(&v["value"]),
        metrics: Metrics::from_json(&v["metrics"]),
        fate: Fate::Kept,
    });
}

/// The fate of the latest checkpoint of that name not already deleted; a deletion of one
/// the ledger never saw complete is still a checkpoint of the history.
fn set_fate(history: &mut RunHistory, checkpoint: &str, v: &Value, fate: Fate) {
    let latest = history.entries.iter_mut().rev().find(|e| {
        e.checkpoint == checkpoint && !matches!(e.fate, Fate::Deleted { .. } | Fate::Replaced)
    });
    match latest {
        Some(entry) => entry.fate = fate,
        None => history.entries.push(Entry {
            checkpoint: checkpoint.to_owned(),
            step: v["step"].as_u64(),
            bytes: v["bytes"].as_u64().unwrap_or(0),
            completed: None,
            metric: None,
            value: None,
            metrics: Metrics::default(),
            fate,
        }),
    }
}

#[cfg(test)]
mod tests;
