//! What the daemon keeps in its state directory: `counters.json` (deletions and bytes freed,
//! for the systemd STATUS line, rewritten via a temp file and a rename) and `ledger.jsonl` (one
//! line per deletion, appended: when, which run, which checkpoint, how many bytes, why).
//!
//! The state directory is `[daemon] state_dir`, else `$STATE_DIRECTORY` (systemd's
//! `StateDirectory=`), else `$XDG_STATE_HOME/ckptd`, else `~/.local/state/ckptd`. When none can
//! be written, the daemon runs on without persistence (one WARN).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Totals since the state directory was created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    pub deletions: u64,
    pub bytes_freed: u64,
}

/// The counters and the ledger file.
#[derive(Debug)]
pub struct Ledger {
    dir: Option<PathBuf>,
    pub counters: Counters,
}

/// The state directory to use, by the precedence above.
pub fn state_dir(configured: Option<&Path>) -> Option<PathBuf> {
    if let Some(dir) = configured {
        return Some(dir.to_owned());
    }
    if let Some(dirs) = std::env::var_os("STATE_DIRECTORY") {
        // systemd passes a colon-separated list when several are configured.
        let first = dirs
            .to_string_lossy()
            .split(':')
            .next()
            .unwrap_or_default()
            .to_owned();
        if !first.is_empty() {
            return Some(PathBuf::from(first));
        }
    }
    if let Some(xdg) = std::env::var_os("XDG_STATE_HOME").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(xdg).join("ckptd"));
    }
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/state/ckptd"))
}

impl Ledger {
    /// Opens (creating) the state directory and loads the counters.
    pub fn open(dir: Option<PathBuf>) -> Self {
        let dir = dir.and_then(|dir| match std::fs::create_dir_all(&dir) {
            Ok(()) => Some(dir),
            Err(e) => {
                tracing::warn!(path = %dir.display(), error = %e, "state directory unusable: counters and ledger are not kept");
                None
            }
        });
        let counters = dir
            .as_ref()
            .and_then(|d| std::fs::read(d.join("counters.json")).ok())
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default();
        Self { dir, counters }
    }

    /// Records one deletion.
    pub fn record(&mut self, run: &Path, watch: &str, checkpoint: &str, bytes: u64, detail: &str) {
        self.counters.deletions += 1;
        self.counters.bytes_freed += bytes;
        let Some(dir) = &self.dir else {
            return;
        };
        let line = serde_json::json!({
            "time": SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs(),
            "run": run.display().to_string(),
            "watch": watch,
            "checkpoint": checkpoint,
            "bytes": bytes,
            "reasons": ["unkept"],
            "detail": detail,
        });
        let appended = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("ledger.jsonl"))
            .and_then(|mut f| writeln!(f, "{line}"));
        if let Err(e) = appended {
            tracing::warn!(path = %dir.display(), error = %e, "cannot append to the ledger");
        }
    }

    /// Writes the counters: to a temp file, then renamed into place.
    pub fn save(&self) {
        let Some(dir) = &self.dir else {
            return;
        };
        let tmp = dir.join("counters.json.tmp");
        let result = serde_json::to_vec(&self.counters)
            .map_err(std::io::Error::other)
            .and_then(|bytes| std::fs::write(&tmp, bytes))
            .and_then(|()| std::fs::rename(&tmp, dir.join("counters.json")));
        if let Err(e) = result {
            tracing::warn!(path = %dir.display(), error = %e, "cannot save counters");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_survive_a_restart_and_the_ledger_grows() {
        let dir = tempfile::tempdir().unwrap();
        let mut ledger = Ledger::open(Some(dir.path().to_owned()));
        ledger.record(
            Path::new("/r"),
            "w",
            "checkpoint-5",
            100,
            "older than the last 1",
        );
        ledger.record(
            Path::new("/r"),
            "w",
            "checkpoint-6",
            50,
            "older than the last 1",
        );
        ledger.save();
        let again = Ledger::open(Some(dir.path().to_owned()));
        assert_eq!(
            again.counters,
            Counters {
                deletions: 2,
                bytes_freed: 150
            }
        );
        let lines = std::fs::read_to_string(dir.path().join("ledger.jsonl")).unwrap();
        assert_eq!(lines.lines().count(), 2);
        assert!(lines.contains("\"checkpoint\":\"checkpoint-6\""));
    }
}
