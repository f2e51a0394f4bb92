//! What the daemon remembers about one run between passes: per checkpoint, its settle tracker,
//! the decision it logged (so unchanged ones are not logged again) and what it already said;
//! per run, the warnings already given.
//!
//! Kept small on purpose: 10,000 runs of 50 checkpoints are 500,000 entries. Each is a name
//! (inline up to 24 bytes) and 48 bytes of [`Seen`], in one vector per run sorted by name
//! (no hash table slack, one allocation per run).

use std::collections::HashSet;
use std::path::PathBuf;

use compact_str::CompactString;

use super::settle::Tracker;
use crate::plan::{Decision, Reason};

// Each flag says one independent thing was reported once; they do not form a state machine.
#[allow(clippy::struct_excessive_bools)]
#[derive(Debug, Default)]
pub struct RunMemory {
    /// Index of the watch in the current config.
    pub watch: usize,
    /// Polled instead of watched (network filesystem, or `watcher = "poll"`).
    pub polled: bool,
    /// Every checkpoint seen at the last pass, sorted by name.
    seen: Vec<(CompactString, Seen)>,
    /// The newest complete directory checkpoints the plan keeps (at most a few): watched, with
    /// their subdirectories, for rewrites in place.
    pub watched_dirs: Vec<String>,
    /// The storage clock could not be read (WARNed once, until it can again).
    pub clock_warned: bool,
    /// The last invalid-overrides message, so it is logged once per change.
    pub overrides_error: Option<String>,
    /// Directories holding this run's metric logs (watched for new records).
    pub metric_dirs: Vec<PathBuf>,
    /// False until the first pass: what is already on disk is summed up, not listed.
    pub adopted: bool,
    /// A lock error was reported (once, until the lock works again).
    pub lock_error_logged: bool,
    /// A scan error was reported (once, until the run can be scanned again).
    pub scan_error_logged: bool,
    /// The run is held and its ERROR was given (once, until it is no longer held).
    pub held_said: bool,
    /// The run directory's stat as of the start of the last pass.
    pub dir_stamp: Option<DirStamp>,
    /// When the ERROR that its `max_bytes` cannot be met was last given (once an hour).
    pub budget_error_at: Option<tokio::time::Instant>,
    /// Its `before_delete` hooks: running, and answers not yet used.
    pub hook_answers: super::hook_answers::HookAnswers,
}

/// What the daemon remembers about one checkpoint.
#[derive(Debug, Clone)]
pub struct Seen {
    pub tracker: Tracker,
    /// The decision last logged: [`LOGGED`], [`DELETE`] and the reasons' bits (0: none yet).
    logged: u32,
    /// Things said or known once, as [`Said`] bits.
    said: u8,
}

/// In [`Seen`]'s logged decision: one was logged, and it was "delete" (the reasons take the
/// low bits).
const LOGGED: u32 = 1 << 31;
const DELETE: u32 = 1 << 30;
const SLIM: u32 = 1 << 29;
const _: () = assert!(Reason::Unkept.bit() < SLIM);

/// What was said once about a checkpoint (bits of [`Seen`]).
#[derive(Debug, Clone, Copy)]
pub enum Said {
    /// Its completion was logged.
    Complete = 1,
    /// Reported as an incomplete checkpoint untouched for a long time.
    Stale = 2,
    /// Reported as unranked by `keep_best`.
    Unranked = 4,
    /// A dry run said it would delete it.
    WouldDelete = 8,
    /// A complete directory the plan keeps: fingerprinted at every periodic rescan, for
    /// rewrites in place whose events were lost.
    KeptDir = 16,
    /// Its deletion failed (a mount point, an immutable file): tried after the others.
    Failed = 32,
    /// Recorded complete while its run-level metric was pending: recorded again once known.
    MetricPending = 64,
    /// A dry run said it would slim it.
    WouldSlim = 128,
}

impl Seen {
    pub fn new(tracker: Tracker) -> Self {
        Self {
            tracker,
            logged: 0,
            said: 0,
        }
    }

    pub fn has(&self, what: Said) -> bool {
        self.said & what as u8 != 0
    }

    /// Sets `what`; true when it was not set before.
    pub fn set(&mut self, what: Said) -> bool {
        let new = !self.has(what);
        self.said |= what as u8;
        new
    }

    /// Clears `what`; true when it was set before.
    pub fn clear(&mut self, what: Said) -> bool {
        let was = self.has(what);
        self.said &= !(what as u8);
        was
    }

    /// Records `decision` with `reasons` as the one logged; true when it differs from the
    /// one logged before.
    pub fn log_decision(&mut self, decision: Decision, reasons: &[Reason]) -> bool {
        let reasons = reasons.iter().fold(0, |bits, r| bits | r.bit());
        let decision = match decision {
            Decision::Delete => DELETE,
            Decision::Slim => SLIM,
            Decision::Keep => 0,
        };
        let key = LOGGED | decision | reasons;
        let changed = self.logged != key;
        self.logged = key;
        changed
    }
}

/// What changes in a directory's own stat when a child is added, removed or renamed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirStamp {
    ino: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

/// The stamp of `dir` now, `None` when it cannot be read.
pub fn dir_stamp(dir: &std::path::Path) -> Option<DirStamp> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::symlink_metadata(dir).ok()?;
    Some(DirStamp {
        ino: meta.ino(),
        mtime: (meta.mtime(), meta.mtime_nsec()),
        ctime: (meta.ctime(), meta.ctime_nsec()),
    })
}

/// The stamp of `dir` as the server has it now, not as this node cached it: NFS keeps a
/// directory's attributes up to `acdirmax` (60 s by default), FUSE for its `attr_timeout`
/// (1 s by default), and a poll must not wait for that. One GETATTR to the server per call
/// there; a plain `stat` on local filesystems. Falls back to a cached `stat` where `statx`
/// is missing (Linux before 4.11, or refused by a seccomp filter).
pub fn fresh_dir_stamp(dir: &std::path::Path) -> Option<DirStamp> {
    use rustix::fs::{AtFlags, StatxFlags};
    let st = match rustix::fs::statx(
        rustix::fs::CWD,
        dir,
        AtFlags::SYMLINK_NOFOLLOW | AtFlags::STATX_FORCE_SYNC,
        StatxFlags::INO | StatxFlags::MTIME | StatxFlags::CTIME,
    ) {
        Ok(st) => st,
        Err(rustix::io::Errno::NOSYS | rustix::io::Errno::PERM) => return dir_stamp(dir),
        Err(_) => return None,
    };
    Some(DirStamp {
        ino: st.stx_ino,
        mtime: (st.stx_mtime.tv_sec, i64::from(st.stx_mtime.tv_nsec)),
        ctime: (st.stx_ctime.tv_sec, i64::from(st.stx_ctime.tv_nsec)),
    })
}

impl RunMemory {
    pub fn new(watch: usize, polled: bool) -> Self {
        Self {
            watch,
            polled,
            ..Self::default()
        }
    }

    fn find(&self, name: &str) -> Result<usize, usize> {
        self.seen.binary_search_by(|(n, _)| n.as_str().cmp(name))
    }

    pub fn get(&self, name: &str) -> Option<&Seen> {
        self.find(name).ok().map(|i| &self.seen[i].1)
    }

    pub fn get_mut(&mut self, name: &str) -> Option<&mut Seen> {
        self.find(name).ok().map(|i| &mut self.seen[i].1)
    }

    /// Adds entries for names not seen before (one sort, however many: a run adopted with
    /// 100,000 checkpoints must not cost 100,000 insertions into a sorted vector).
    pub fn insert_new(&mut self, new: Vec<(CompactString, Seen)>) {
        if new.is_empty() {
            return;
        }
        self.seen.extend(new);
        self.seen.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        self.seen.dedup_by(|a, b| a.0 == b.0);
    }

    /// Forgets checkpoints that are gone from disk, and gives back the room they took.
    pub fn retain(&mut self, present: &HashSet<&str>) {
        self.seen
            .retain(|(name, _)| present.contains(name.as_str()));
        self.seen.shrink_to_fit();
    }

    /// The names of the checkpoints with `what` set.
    pub fn names_with(&self, what: Said) -> HashSet<String> {
        self.seen
            .iter()
            .filter(|(_, seen)| seen.has(what))
            .map(|(name, _)| name.to_string())
            .collect()
    }

    /// The names of the complete directory checkpoints the plan keeps, with their entries.
    pub fn kept_dirs(&self) -> impl Iterator<Item = (&str, &Seen)> {
        self.seen
            .iter()
            .filter(|(_, seen)| seen.has(Said::KeptDir))
            .map(|(name, seen)| (name.as_str(), seen))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seen_entry_stays_within_48_bytes() {
        // 500,000 of them at 10,000 runs of 50 checkpoints: every byte counts 500 KB.
        assert!(std::mem::size_of::<Seen>() <= 48);
        assert!(std::mem::size_of::<(CompactString, Seen)>() <= 72);
    }

    /// A fresh entry for any checkpoint.
    fn tracker() -> Seen {
        let fp = crate::checkpoint::Fingerprint {
            files: 1,
            bytes: 1,
            newest_mtime: std::time::UNIX_EPOCH,
            newest_ctime: std::time::UNIX_EPOCH,
            inodes: 1,
        };
        let clock = crate::storage_clock::RunClock {
            now: std::time::UNIX_EPOCH,
            on_storage: true,
        };
        Seen::new(Tracker::new(fp, tokio::time::Instant::now(), clock))
    }

    #[test]
    fn entries_are_found_by_name_whatever_the_order_of_insertion() {
        let mut memory = RunMemory::default();
        let names = ["ckpt-3", "ckpt-1", "a-name-longer-than-twenty-four-bytes"];
        memory.insert_new(names.iter().map(|n| ((*n).into(), tracker())).collect());
        memory.insert_new(vec![("ckpt-2".into(), tracker())]);
        for name in names.iter().chain(&["ckpt-2"]) {
            memory.get_mut(name).unwrap().set(Said::Complete);
        }
        memory.get_mut("ckpt-1").unwrap().set(Said::Stale);
        assert!(memory.get("ckpt-1").unwrap().has(Said::Complete));
        assert!(memory.get("ckpt-1").unwrap().has(Said::Stale));
        assert!(!memory.get("ckpt-2").unwrap().has(Said::Stale));
        assert!(memory.get("a-name-longer-than-twenty-four-bytes").is_some());
        memory.retain(&HashSet::from(["ckpt-2"]));
        assert!(memory.get("ckpt-1").is_none());
        assert!(memory.get("ckpt-2").is_some());
    }

    #[test]
    fn a_decision_is_new_only_when_it_or_its_reasons_change() {
        let mut seen = tracker();
        assert!(seen.log_decision(Decision::Keep, &[Reason::Last]));
        assert!(!seen.log_decision(Decision::Keep, &[Reason::Last]));
        assert!(seen.log_decision(Decision::Keep, &[Reason::Last, Reason::Best]));
        assert!(seen.log_decision(Decision::Delete, &[Reason::Last, Reason::Best]));
        assert!(!seen.log_decision(Decision::Delete, &[Reason::Best, Reason::Last]));
    }
}
