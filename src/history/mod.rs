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

use std::collections::{BTreeMap, HashMap};
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

/// One run's history while the ledger is read, with its checkpoints indexed by name (a
/// ledger of 100,000 lines must not take a scan per line).
struct Folding {
    history: RunHistory,
    by_name: HashMap<String, Vec<usize>>,
}

/// Folds ledger lines (in file order) into each run's history, runs by path.
pub fn fold(lines: impl IntoIterator<Item = impl AsRef<str>>) -> Vec<RunHistory> {
    let mut runs: BTreeMap<String, Folding> = BTreeMap::new();
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
        let folding = runs.entry(run.to_owned()).or_insert_with(|| Folding {
            history: RunHistory {
                run: PathBuf::from(run),
                watch: String::new(),
                entries: Vec::new(),
            },
            by_name: HashMap::new(),
        });
        if let Some(watch) = v["watch"].as_str() {
            watch.clone_into(&mut folding.history.watch);
        }
        let at = v["time"].as_u64().unwrap_or(0);
        match event {
            "complete" => folding.complete(checkpoint, &v),
            "metrics" => folding.metrics(checkpoint, &v),
            "deleting" => folding.set_fate(checkpoint, &v, Fate::Deleting { at }),
            "deleted" => {
                let why = v["detail"].as_str().unwrap_or_default().to_owned();
                folding.set_fate(checkpoint, &v, Fate::Deleted { at, why });
            }
            "not-deleted" => {
                let fate = Fate::NotDeleted {
                    at,
                    error: v["error"].as_str().unwrap_or_default().to_owned(),
                    in_trash: v["in_trash"].as_bool().unwrap_or(false),
                };
                folding.set_fate(checkpoint, &v, fate);
            }
            _ => {}
        }
    }
    let mut histories: Vec<RunHistory> = runs.into_values().map(|f| f.history).collect();
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

impl Folding {
    fn entries_named(&self, checkpoint: &str) -> &[usize] {
        self.by_name.get(checkpoint).map_or(&[], Vec::as_slice)
    }

    fn push(&mut self, entry: Entry) {
        self.by_name
            .entry(entry.checkpoint.clone())
            .or_default()
            .push(self.history.entries.len());
        self.history.entries.push(entry);
    }

    fn complete(&mut self, checkpoint: &str, v: &Value) {
        let completed = v["completed"].as_u64();
        let entries = &self.history.entries;
        // The same save recorded twice (adopted again after a restart): one checkpoint.
        let known = self
            .entries_named(checkpoint)
            .iter()
            .any(|&i| entries[i].completed == completed && completed.is_some());
        if known {
            return;
        }
        if let Some(&earlier) = self.entries_named(checkpoint).last() {
            let earlier = &mut self.history.entries[earlier];
            if earlier.fate == Fate::Kept {
                earlier.fate = Fate::Replaced;
            }
        }
        self.push(Entry {
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

    /// A `metrics` line: the metric of a checkpoint recorded complete while it was pending.
    fn metrics(&mut self, checkpoint: &str, v: &Value) {
        let completed = v["completed"].as_u64();
        let entries = &self.history.entries;
        let Some(&i) = self
            .entries_named(checkpoint)
            .iter()
            .rev()
            .find(|&&i| entries[i].completed == completed)
        else {
            return;
        };
        let entry = &mut self.history.entries[i];
        entry.metric = v["metric"].as_str().map(str::to_owned);
        entry.value = number_from_json(&v["value"]);
        entry.metrics = Metrics::from_json(&v["metrics"]);
    }

    /// The fate of the latest checkpoint of that name not already deleted or replaced; a
    /// deletion of one the ledger never saw complete is still a checkpoint of the history.
    fn set_fate(&mut self, checkpoint: &str, v: &Value, fate: Fate) {
        let entries = &self.history.entries;
        let latest = self
            .entries_named(checkpoint)
            .iter()
            .rev()
            .copied()
            .find(|&i| !matches!(entries[i].fate, Fate::Deleted { .. } | Fate::Replaced));
        match latest {
            Some(i) => self.history.entries[i].fate = fate,
            None => self.push(Entry {
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
}

#[cfg(test)]
mod tests;
