//! What the daemon keeps in its state directory: `counters.json` (deletions and bytes freed,
//! for the systemd STATUS line, rewritten via a temp file and a rename) and `ledger.jsonl`
//! (appended): for every deletion a `deleting` line before the checkpoint is moved out of the
//! run (the intents of a pass are flushed to disk before its first rename) and a `deleted` (or
//! `not-deleted`) line after, so a crash at any instant leaves no deletion unrecorded.
//!
//! The state directory is `[daemon] state_dir`, else `$STATE_DIRECTORY` (systemd's
//! `StateDirectory=`), else `$XDG_STATE_HOME/ckptd`, else `~/.local/state/ckptd`. One daemon owns
//! it (an exclusive `flock` on the directory, held for the daemon's life): a second one on the
//! same directory refuses to start rather than lose the first one's counts. When no directory
//! can be written, the daemon runs on without persistence (one WARN).

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::io::{BufRead, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use rustix::fs::{FlockOperation, Mode, OFlags};
use serde::{Deserialize, Serialize};

use crate::execute::Journal;
use crate::plan::{MetricState, Verdict};

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
    /// The exclusive lock on `dir`, held while the daemon runs.
    _lock: Option<OwnedFd>,
    /// `ledger.jsonl`, open for appending once the first line is written.
    file: Option<std::fs::File>,
    pub counters: Counters,
    /// The checkpoints the ledger records as seen complete, by [`seen_key`]: read at open,
    /// so a restart records what it has not (a checkpoint completed while ckptd was down, a
    /// run added to the config, everything after an upgrade from 0.1) and nothing twice.
    /// By checkpoint ([`name_key`]), the save recorded last ([`seen_key`]); a checkpoint is
    /// forgotten once deleted, so this holds what is on disk, not every save ever seen (a
    /// one-hour soak of 240,000 saves grew the daemon by 5 MiB when it held them all).
    recorded: HashMap<u64, u64>,
    /// Of those, the ones recorded while their run-level metric was pending and not yet
    /// followed by a `metrics` line: one is written when the metric is known, even if that
    /// happened while ckptd was down.
    pending: HashSet<u64>,
    /// Lines gathered by [`Ledger::batched`], written in one go.
    batch: Option<String>,
    /// A write failed part-way (a full disk): the next write starts on a new line, so the
    /// line after a torn one is never glued onto it and lost.
    torn: bool,
}

/// Why the daemon cannot start with its state directory.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("state directory {} is in use by another running ckptd: two daemons on one state directory would overwrite each other's counters and ledger; give each its own [daemon] state_dir", .0.display())]
    InUse(PathBuf),
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

/// Where `ckptd history` finds the ledger: the configured `state_dir`, else the first of
/// systemd's `$STATE_DIRECTORY`, the shipped unit's `/var/lib/ckptd` and the user's state
/// directory that holds one (a shell has no `$STATE_DIRECTORY`, the daemon under systemd
/// does). `Err`: every place looked in.
pub fn find_ledger(configured: Option<&Path>) -> Result<PathBuf, Vec<PathBuf>> {
    find_in_state_dirs(&state_dirs_to_read(configured), "ledger.jsonl")
}

/// Where the one-shot commands look for a daemon's state, in order (see [`find_ledger`]).
pub fn state_dirs_to_read(configured: Option<&Path>) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(dir) = configured {
        dirs.push(dir.to_owned());
    } else {
        dirs.extend(state_dir(None).filter(|_| std::env::var_os("STATE_DIRECTORY").is_some()));
        dirs.push(PathBuf::from("/var/lib/ckptd"));
        dirs.extend(state_dir(None));
    }
    dirs.dedup();
    dirs
}

/// `dir/file` for the first of `dirs` that holds `file`; `Err`: every path looked at.
pub fn find_in_state_dirs(dirs: &[PathBuf], file: &str) -> Result<PathBuf, Vec<PathBuf>> {
    let files: Vec<PathBuf> = dirs.iter().map(|d| d.join(file)).collect();
    files.iter().find(|f| f.is_file()).cloned().ok_or(files)
}

fn seconds(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs()
}

/// A checkpoint seen complete: its run, name and completion time (one save; a name saved
/// again completes at another time).
/// A checkpoint by its run and name, whichever save.
fn name_key(run: &Path, checkpoint: &str) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    (run.as_os_str().as_bytes(), checkpoint).hash(&mut h);
    h.finish()
}

fn seen_key(run: &Path, checkpoint: &str, completed: Option<u64>) -> u64 {
    // The path's bytes, not the `Path` (whose hash walks its components).
    let mut h = std::hash::DefaultHasher::new();
    (run.as_os_str().as_bytes(), checkpoint, completed).hash(&mut h);
    h.finish()
}

/// Whether the file is not empty and its last byte is not a newline.
fn ends_inside_a_line(path: &Path) -> bool {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut file) = std::fs::File::open(path) else {
        return false;
    };
    let mut last = [0u8; 1];
    file.seek(SeekFrom::End(-1)).is_ok() && file.read_exact(&mut last).is_ok() && last[0] != b'\n'
}

/// What [`recorded_in`] reads of a `complete` line: only the three fields the key needs (a
/// tree of every line would cost seconds on a ledger of a million checkpoints).
#[derive(Deserialize)]
struct SeenKey<'a> {
    #[serde(borrow)]
    run: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    checkpoint: std::borrow::Cow<'a, str>,
    completed: Option<u64>,
    /// Recorded while its run-level metric was pending.
    #[serde(default)]
    pending: bool,
}

/// The checkpoints `ledger` records as seen complete. Only `complete` lines are parsed (a
/// substring test skips the rest), so a large ledger costs one read at start. An unreadable
/// or damaged ledger records nothing: everything is recorded again, which `history` merges.
fn recorded_in(ledger: &Path) -> (HashMap<u64, u64>, HashSet<u64>) {
    let (mut recorded, mut pending) = (HashMap::new(), HashSet::new());
    let Ok(file) = std::fs::File::open(ledger) else {
        return (recorded, pending);
    };
    let complete = memchr::memmem::Finder::new(b"\"event\":\"complete\"");
    let metrics = memchr::memmem::Finder::new(b"\"event\":\"metrics\"");
    let deleted = memchr::memmem::Finder::new(b"\"event\":\"deleted\"");
    for line in std::io::BufReader::new(file)
        .split(b'\n')
        .map_while(Result::ok)
    {
        let is_complete = complete.find(&line).is_some();
        let is_deleted = !is_complete && deleted.find(&line).is_some();
        if !is_complete && !is_deleted && metrics.find(&line).is_none() {
            continue;
        }
        let Ok(seen) = serde_json::from_slice::<SeenKey<'_>>(&line) else {
            continue;
        };
        let run = Path::new(seen.run.as_ref());
        let name = name_key(run, &seen.checkpoint);
        let key = seen_key(run, &seen.checkpoint, seen.completed);
        if is_deleted {
            if let Some(last) = recorded.remove(&name) {
                pending.remove(&last);
            }
        } else if !is_complete {
            pending.remove(&key);
        } else {
            let before = recorded.insert(name, key);
            if let Some(old) = before.filter(|&old| old != key) {
                pending.remove(&old);
            }
            if before != Some(key) && seen.pending {
                pending.insert(key);
            }
        }
    }
    (recorded, pending)
}

impl Ledger {
    /// Opens (creating) the state directory, takes its lock and loads the counters.
    pub fn open(dir: Option<PathBuf>) -> Result<Self, StateError> {
        let Some(dir) = dir else {
            return Ok(Self::without_state());
        };
        if let Err(e) = std::fs::create_dir_all(&dir) {
            tracing::warn!(path = %dir.display(), error = %e, "state directory {} unusable: {e}; counters and ledger are not kept", dir.display());
            return Ok(Self::without_state());
        }
        let lock = match lock_dir(&dir) {
            Ok(Some(fd)) => Some(fd),
            Ok(None) => return Err(StateError::InUse(dir)),
            Err(e) => {
                tracing::warn!(path = %dir.display(), error = %e, "cannot lock state directory {}: {e}; make sure no other ckptd uses it", dir.display());
                None
            }
        };
        let counters = std::fs::read(dir.join("counters.json"))
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default();
        let (recorded, pending) = recorded_in(&dir.join("ledger.jsonl"));
        // A ledger that ends inside a line (a write cut short by a full disk or a power loss
        // before this start) gets a newline first, or the next line, maybe a deletion's
        // intent, would be glued onto the fragment and lost.
        let torn = ends_inside_a_line(&dir.join("ledger.jsonl"));
        Ok(Self {
            dir: Some(dir),
            _lock: lock,
            file: None,
            counters,
            recorded,
            pending,
            batch: None,
            torn,
        })
    }

    /// The state directory, when there is one.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    fn without_state() -> Self {
        Self {
            dir: None,
            _lock: None,
            file: None,
            counters: Counters::default(),
            recorded: HashMap::new(),
            pending: HashSet::new(),
            batch: None,
            torn: false,
        }
    }

    /// Runs `f`, writing the lines it appends in one write at the end: a run adopted with
    /// thousands of checkpoints costs one system call, not one per line. Only for lines that
    /// may be lost to a crash (a `complete` line is written again at the next start); never
    /// for deletions, whose intent must be on disk before the rename.
    pub fn batched(&mut self, f: impl FnOnce(&mut Self)) {
        self.batch = Some(String::new());
        f(self);
        if let Some(lines) = self.batch.take().filter(|b| !b.is_empty()) {
            self.write(&lines);
        }
    }

    /// Records `v`, seen complete at `completed`, with its metrics (DESIGN "Logs": the ledger
    /// records every checkpoint seen complete), unless the ledger already has it; then, if it
    /// was recorded while its metric was pending and the metric is now known, its `metrics`.
    pub fn complete(
        &mut self,
        run: &Path,
        watch: &str,
        v: &Verdict,
        completed: Option<SystemTime>,
        metric: Option<&str>,
    ) {
        let at = completed.map(seconds);
        let key = seen_key(run, &v.name, at);
        let pending = v.metric == MetricState::Pending;
        let before = self.recorded.insert(name_key(run, &v.name), key);
        if let Some(old) = before.filter(|&old| old != key) {
            self.pending.remove(&old);
        }
        if before != Some(key) {
            if pending && metric.is_some() {
                self.pending.insert(key);
            }
            self.append_text(Self::seen_line("complete", run, watch, v, at, metric));
        } else if !pending && self.pending.contains(&key) {
            self.metrics(run, watch, v, completed, metric);
        }
    }

    /// Records the metric of `v`, recorded complete while its metric was pending, now that
    /// the metric is known (or known never to come): `history` shows it with the checkpoint.
    pub fn metrics(
        &mut self,
        run: &Path,
        watch: &str,
        v: &Verdict,
        completed: Option<SystemTime>,
        metric: Option<&str>,
    ) {
        let at = completed.map(seconds);
        self.pending.remove(&seen_key(run, &v.name, at));
        let line = Self::seen_line("metrics", run, watch, v, at, metric);
        self.append_text(line);
    }

    fn seen_line(
        event: &str,
        run: &Path,
        watch: &str,
        v: &Verdict,
        completed: Option<u64>,
        metric: Option<&str>,
    ) -> String {
        // A struct, not `json!`: at adoption there is one line per checkpoint on disk. Keys
        // in name order, as `json!` writes them.
        #[derive(Serialize)]
        struct Seen<'a> {
            bytes: u64,
            checkpoint: &'a str,
            completed: Option<u64>,
            event: &'a str,
            metric: Option<&'a str>,
            metrics: serde_json::Value,
            /// A run-level metric not there yet: a `metrics` line follows.
            #[serde(skip_serializing_if = "std::ops::Not::not")]
            pending: bool,
            reasons: &'a [crate::plan::Reason],
            run: std::borrow::Cow<'a, str>,
            step: Option<u64>,
            time: u64,
            value: serde_json::Value,
            watch: &'a str,
        }
        let line = Seen {
            bytes: v.bytes.unwrap_or(0),
            checkpoint: &v.name,
            completed,
            event,
            metric,
            metrics: v.checkpoint.metrics.to_json(),
            pending: event == "complete" && v.metric == MetricState::Pending,
            reasons: &v.reasons,
            run: run.to_string_lossy(),
            step: v.step,
            time: seconds(SystemTime::now()),
            value: crate::metrics::named::number_json(v.metric.value()),
            watch,
        };
        serde_json::to_string(&line).unwrap_or_default()
    }

    /// Appends one line and flushes it to disk. A failure (a full disk) is a WARN: deleting
    /// is what frees the disk, so it never waits on the ledger.
    /// Appends one line: written at once (it survives ckptd being killed), made durable
    /// against a power loss by [`Journal::sync`].
    fn append(&mut self, line: &serde_json::Value) {
        self.append_text(line.to_string());
    }

    /// Appends one line of JSON text (to the batch, when one is open).
    fn append_text(&mut self, mut line: String) {
        line.push('\n');
        match &mut self.batch {
            Some(batch) => batch.push_str(&line),
            None => self.write(&line),
        }
    }

    /// Writes whole lines in one `write(2)` (`O_APPEND`).
    fn write(&mut self, lines: &str) {
        let Some(dir) = &self.dir else {
            return;
        };
        if self.file.is_none() {
            match std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join("ledger.jsonl"))
            {
                Ok(f) => self.file = Some(f),
                Err(e) => {
                    tracing::warn!(path = %dir.display(), error = %e, "cannot open the ledger in {}: {e}", dir.display());
                    return;
                }
            }
        }
        if let Some(f) = &mut self.file {
            // One write(2) per line (O_APPEND): a crash never leaves half a line. A full disk
            // may (a short write): the next write then begins with a newline, so the torn
            // line is the only one lost.
            let written = if self.torn {
                f.write_all(format!("\n{lines}").as_bytes())
            } else {
                f.write_all(lines.as_bytes())
            };
            if let Err(e) = written {
                tracing::warn!(path = %dir.display(), error = %e, "cannot append to the ledger in {}: {e}", dir.display());
                self.torn = true;
                // Reopened next time: the disk may have room again.
                self.file = None;
            } else {
                self.torn = false;
            }
        }
    }

    fn line(event: &str, run: &Path, watch: &str, v: &Verdict) -> serde_json::Value {
        serde_json::json!({
            "time": SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs(),
            "event": event,
            "run": run.display().to_string(),
            "watch": watch,
            "checkpoint": v.name,
            "step": v.step,
            "bytes": v.bytes.unwrap_or(0),
            // The plan's own: `unkept`, or `pressure` for a deletion a budget or a floor asked for.
            "reasons": v.reasons.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
            "detail": v.detail,
        })
    }

    /// A slim's line: like a deletion's, with the bytes the slim frees.
    fn slim_line(event: &str, run: &Path, watch: &str, v: &Verdict) -> serde_json::Value {
        let mut line = Self::line(event, run, watch, v);
        if let crate::checkpoint::Slim::Whole { bytes, .. } = v.checkpoint.slim {
            line["bytes"] = bytes.into();
        }
        line
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
            tracing::warn!(path = %dir.display(), error = %e, "cannot save counters in {}: {e}", dir.display());
        }
    }
}

impl Journal for Ledger {
    fn deleting(&mut self, run: &Path, watch: &str, v: &Verdict) {
        self.append(&Self::line("deleting", run, watch, v));
    }

    fn deleted(&mut self, run: &Path, watch: &str, v: &Verdict) {
        self.counters.deletions += 1;
        self.counters.bytes_freed += v.bytes.unwrap_or(0);
        self.append(&Self::line("deleted", run, watch, v));
        // Gone: nothing more will be recorded of it (a save under its name is another).
        if let Some(last) = self.recorded.remove(&name_key(run, &v.name)) {
            self.pending.remove(&last);
        }
    }

    fn not_deleted(&mut self, run: &Path, watch: &str, v: &Verdict, error: &str, in_trash: bool) {
        let mut line = Self::line("not-deleted", run, watch, v);
        line["error"] = error.into();
        line["in_trash"] = in_trash.into();
        self.append(&line);
    }

    fn sync(&mut self) {
        if let Some(f) = &self.file {
            if let Err(e) = f.sync_data() {
                tracing::warn!(error = %e, "cannot flush the ledger to disk: {e}");
            }
        }
    }

    fn slimming(&mut self, run: &Path, watch: &str, v: &Verdict) {
        self.append(&Self::slim_line("slimming", run, watch, v));
    }

    fn slimmed(
        &mut self,
        run: &Path,
        watch: &str,
        v: &Verdict,
        bytes: u64,
        _after: Option<crate::checkpoint::Fingerprint>,
    ) {
        self.counters.bytes_freed += bytes;
        let mut line = Self::slim_line("slimmed", run, watch, v);
        line["bytes"] = bytes.into();
        self.append(&line);
    }

    fn not_slimmed(&mut self, run: &Path, watch: &str, v: &Verdict, error: &str) {
        let mut line = Self::slim_line("not-slimmed", run, watch, v);
        line["error"] = error.into();
        self.append(&line);
    }

    fn trash_removed(&mut self, run: &Path, path: &Path) {
        self.append(&serde_json::json!({
            "time": SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs(),
            "event": "trash-removed",
            "run": run.display().to_string(),
            "path": path.display().to_string(),
        }));
    }
}

/// Takes the exclusive lock on the state directory: `Ok(None)` when another process holds it.
/// The directory itself is locked, so no file needs creating (the disk may be full).
fn lock_dir(dir: &Path) -> std::io::Result<Option<OwnedFd>> {
    let fd = rustix::fs::open(
        dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    match rustix::fs::flock(fd.as_fd(), FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(Some(fd)),
        Err(rustix::io::Errno::WOULDBLOCK) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Completeness, Decision, MetricState};

    /// The ledger's lines in `state`, parsed.
    fn lines(state: &Path) -> Vec<serde_json::Value> {
        std::fs::read_to_string(state.join("ledger.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn verdict(name: &str, bytes: u64) -> Verdict {
        Verdict {
            name: name.to_owned(),
            step: Some(5),
            bytes: Some(bytes),
            completeness: Completeness::Complete,
            metric: MetricState::NotWanted,
            decision: Decision::Delete,
            reasons: vec![crate::plan::Reason::Unkept],
            detail: "older than the last 1".to_owned(),
            checkpoint: crate::plan::tests::ck(name, 5, 0),
            views: Vec::new(),
        }
    }

    #[test]
    fn counters_survive_a_restart_and_each_deletion_has_its_intent_and_result() {
        let dir = tempfile::tempdir().unwrap();
        let mut ledger = Ledger::open(Some(dir.path().to_owned())).unwrap();
        let run = Path::new("/r");
        for (name, bytes) in [("checkpoint-5", 100), ("checkpoint-6", 50)] {
            ledger.deleting(run, "w", &verdict(name, bytes));
            ledger.deleted(run, "w", &verdict(name, bytes));
        }
        ledger.deleting(run, "w", &verdict("checkpoint-7", 1));
        ledger.not_deleted(
            run,
            "w",
            &verdict("checkpoint-7", 1),
            "Permission denied",
            false,
        );
        ledger.save();
        drop(ledger);
        let again = Ledger::open(Some(dir.path().to_owned())).unwrap();
        assert_eq!(
            again.counters,
            Counters {
                deletions: 2,
                bytes_freed: 150
            }
        );
        let text = std::fs::read_to_string(dir.path().join("ledger.jsonl")).unwrap();
        let events: Vec<(String, String)> = text
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                (
                    v["event"].as_str().unwrap().to_owned(),
                    v["checkpoint"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let expected = [
            ("deleting", "checkpoint-5"),
            ("deleted", "checkpoint-5"),
            ("deleting", "checkpoint-6"),
            ("deleted", "checkpoint-6"),
            ("deleting", "checkpoint-7"),
            ("not-deleted", "checkpoint-7"),
        ];
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(e, c)| ((*e).to_owned(), (*c).to_owned()))
            .collect();
        assert_eq!(events, expected);
    }

    #[test]
    fn a_checkpoint_seen_complete_is_recorded_once_across_restarts() {
        // Safety review of issue 9: deciding by the ledger's mtime lost checkpoints (a run
        // added to the config) and duplicated others; the ledger's own lines decide now.
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let run = Path::new("/r");
        let at = |s| Some(UNIX_EPOCH + std::time::Duration::from_secs(s));
        let mut ledger = Ledger::open(Some(state.clone())).unwrap();
        ledger.complete(run, "w", &verdict("a", 1), at(100), None);
        ledger.complete(run, "w", &verdict("a", 1), at(100), None);
        drop(ledger);
        let mut ledger = Ledger::open(Some(state.clone())).unwrap();
        ledger.complete(run, "w", &verdict("a", 1), at(100), None);
        // Saved again under the same name: another checkpoint.
        ledger.complete(run, "w", &verdict("a", 1), at(200), None);
        // Completed long before the last write, in a run the ledger never saw.
        ledger.complete(Path::new("/new"), "w", &verdict("old", 1), at(1), None);
        drop(ledger);
        let seen: Vec<(String, String, u64)> = lines(&state)
            .into_iter()
            .map(|v| {
                (
                    v["run"].as_str().unwrap().to_owned(),
                    v["checkpoint"].as_str().unwrap().to_owned(),
                    v["completed"].as_u64().unwrap(),
                )
            })
            .collect();
        let expected = [("/r", "a", 100), ("/r", "a", 200), ("/new", "old", 1)];
        let expected: Vec<(String, String, u64)> = expected
            .iter()
            .map(|&(r, c, t)| (r.to_owned(), c.to_owned(), t))
            .collect();
        assert_eq!(seen, expected);
    }

    #[test]
    fn a_deleted_checkpoint_is_forgotten_now_and_at_the_next_start() {
        // Soak of issue 10: every save ever seen stayed in memory (5 MiB an hour at 240,000
        // saves). A deleted checkpoint is forgotten; a save under its name is recorded.
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let run = Path::new("/r");
        let at = Some(UNIX_EPOCH + std::time::Duration::from_secs(100));
        let mut ledger = Ledger::open(Some(state.clone())).unwrap();
        ledger.complete(run, "w", &verdict("a", 1), at, None);
        ledger.complete(run, "w", &verdict("b", 1), at, None);
        ledger.deleting(run, "w", &verdict("a", 1));
        ledger.deleted(run, "w", &verdict("a", 1));
        assert_eq!(ledger.recorded.len(), 1);
        drop(ledger);
        let mut ledger = Ledger::open(Some(state.clone())).unwrap();
        assert_eq!(ledger.recorded.len(), 1);
        // b is known; a saved again at the same time is a new save after a deletion.
        ledger.complete(run, "w", &verdict("b", 1), at, None);
        ledger.complete(run, "w", &verdict("a", 1), at, None);
        drop(ledger);
        let text = std::fs::read_to_string(state.join("ledger.jsonl")).unwrap();
        let completes: Vec<String> = lines(&state)
            .into_iter()
            .filter(|v| v["event"] == "complete")
            .map(|v| v["checkpoint"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(completes, ["a", "b", "a"], "{text}");
    }

    #[test]
    fn a_metric_that_arrived_while_ckptd_was_down_is_recorded_at_the_next_start() {
        // Re-check of issue 9: the restart found the complete line and the metric known, and
        // wrote nothing, so history never showed it.
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let run = Path::new("/r");
        let at = Some(UNIX_EPOCH + std::time::Duration::from_secs(100));
        let mut pending = verdict("a", 1);
        pending.metric = MetricState::Pending;
        let mut known = verdict("a", 1);
        known.metric = MetricState::Value(0.5);
        let mut ledger = Ledger::open(Some(state.clone())).unwrap();
        ledger.complete(run, "w", &pending, at, Some("loss"));
        drop(ledger);
        for _ in 0..2 {
            let mut ledger = Ledger::open(Some(state.clone())).unwrap();
            ledger.complete(run, "w", &known, at, Some("loss"));
        }
        let text = std::fs::read_to_string(state.join("ledger.jsonl")).unwrap();
        let events: Vec<(String, serde_json::Value)> = lines(&state)
            .into_iter()
            .map(|v| (v["event"].as_str().unwrap().to_owned(), v["value"].clone()))
            .collect();
        assert_eq!(
            events,
            [
                ("complete".to_owned(), serde_json::Value::Null),
                ("metrics".to_owned(), serde_json::json!(0.5)),
            ],
            "{text}"
        );
    }

    #[test]
    fn a_ledger_cut_inside_a_line_is_not_glued_onto() {
        // Re-check of issue 9: a torn last line from before a restart took the next line,
        // maybe a deletion's intent, with it.
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        std::fs::create_dir_all(&state).unwrap();
        std::fs::write(state.join("ledger.jsonl"), "{\"event\":\"complete\",\"ru").unwrap();
        let mut ledger = Ledger::open(Some(state.clone())).unwrap();
        ledger.deleting(Path::new("/r"), "w", &verdict("a", 1));
        drop(ledger);
        let text = std::fs::read_to_string(state.join("ledger.jsonl")).unwrap();
        let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
        assert_eq!(last["event"], "deleting", "{text}");
    }

    #[test]
    fn a_second_daemon_on_the_same_state_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let first = Ledger::open(Some(dir.path().to_owned())).unwrap();
        let second = Ledger::open(Some(dir.path().to_owned()));
        assert!(matches!(second, Err(StateError::InUse(ref d)) if d == dir.path()));
        drop(first);
        assert!(Ledger::open(Some(dir.path().to_owned())).is_ok());
    }

    #[test]
    fn a_pressure_deletion_is_recorded_with_its_own_reason_and_detail() {
        let dir = tempfile::tempdir().unwrap();
        let mut ledger = Ledger::open(Some(dir.path().to_owned())).unwrap();
        let mut v = verdict("checkpoint-5", 100);
        v.reasons = vec![crate::plan::Reason::Pressure];
        v.detail = "min_free 10% on /data: 6.2% free, oldest `last` beyond the newest".to_owned();
        ledger.deleting(Path::new("/r"), "w", &v);
        ledger.deleted(Path::new("/r"), "w", &v);
        let lines = lines(dir.path());
        assert_eq!(lines.len(), 2, "{lines:?}");
        for line in lines {
            assert_eq!(line["reasons"], serde_json::json!(["pressure"]), "{line}");
            assert_eq!(line["detail"], serde_json::json!(v.detail), "{line}");
        }
    }
}
