//! Filesystem events, converted at the edge: notify's callback turns each event into ckptd's
//! own [`FsEvent`] and hands it to one bounded channel. Nothing past this file sees notify
//! types. A full channel or a kernel queue overflow becomes "rescan everything" — never a
//! silently lost event.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use notify::event::{AccessKind, AccessMode, ModifyKind, RenameMode};
use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;

/// What the watcher tells the daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FsEvent {
    /// Something changed at these paths.
    Changed(Vec<PathBuf>),
    /// Events were lost (kernel queue overflow, watcher error): rescan every run.
    Rescan,
}

/// The help text for the most common reason a watch cannot be added.
pub const WATCH_LIMIT_HELP: &str = "the inotify watch limit may be exhausted: raise it with \
    `sysctl fs.inotify.max_user_watches=1048576` (persist in /etc/sysctl.d/), or set \
    watcher = \"poll\" for these runs";

/// The help text when inotify itself cannot start.
pub const INSTANCE_LIMIT_HELP: &str = "the inotify instance limit may be exhausted: raise it \
    with `sysctl fs.inotify.max_user_instances=1024` (persist in /etc/sysctl.d/)";

/// Non-recursive watches on directories, added and removed as runs come and go.
pub struct FsWatcher {
    inner: RecommendedWatcher,
    watched: HashSet<PathBuf>,
    /// Set when the channel was full and an event had to be dropped.
    pub overflowed: Arc<AtomicBool>,
    /// Checkpoints ckptd is moving out of their runs: their removal events are its own.
    pub own_removals: OwnRemovals,
}

/// How long after ckptd announced a removal its events are recognised as its own: they
/// arrive within milliseconds; a removal by someone else of the same name later still counts.
const OWN_REMOVAL_WINDOW: Duration = Duration::from_secs(10);

/// The paths ckptd is about to move out of a run (shared with the watcher's thread), so the
/// events of its own deletions do not wake it again: at 10,000 runs, or with a backlog of
/// 100,000 deletions, they would fill the event queue and turn into full rescans.
#[derive(Clone, Default)]
pub struct OwnRemovals(Arc<Mutex<Announced>>);

#[derive(Default)]
struct Announced {
    at: HashMap<PathBuf, Instant>,
    /// Expired entries are dropped when the map reaches this size (then twice what is left),
    /// so a backlog of 100,000 deletions costs no quadratic pruning.
    prune_at: usize,
}

impl OwnRemovals {
    /// Announces that `path` is about to be moved away by ckptd.
    pub fn expect(&self, path: PathBuf) {
        let now = Instant::now();
        let mut announced = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if announced.at.len() >= announced.prune_at {
            announced
                .at
                .retain(|_, at| now.duration_since(*at) < OWN_REMOVAL_WINDOW);
            announced.prune_at = (announced.at.len() * 2).max(1024);
        }
        announced.at.insert(path, now);
    }

    /// Whether `path` is (inside) a checkpoint ckptd announced it was removing, recently.
    pub fn is_own(&self, path: &Path) -> bool {
        let now = Instant::now();
        let announced = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        path.ancestors().any(|p| {
            announced
                .at
                .get(p)
                .is_some_and(|at| now.duration_since(*at) < OWN_REMOVAL_WINDOW)
        })
    }
}

impl FsWatcher {
    /// Starts the watcher; events arrive on the returned receiver (capacity `capacity`).
    pub fn start(capacity: usize) -> notify::Result<(Self, mpsc::Receiver<FsEvent>)> {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let overflowed = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&overflowed);
        let own_removals = OwnRemovals::default();
        let own = own_removals.clone();
        let handler = move |result: notify::Result<notify::Event>| {
            let event = match result {
                Ok(event) if !event.need_rescan() => {
                    // Dropped here, before the queue: at thousands of runs, ckptd's own probe
                    // writes and deletions would otherwise fill it and turn every pass into a
                    // full rescan.
                    if is_read_only_access(event.kind)
                        || is_rename_pair(event.kind)
                        || event.paths.iter().all(|p| is_own_file(p))
                        || (is_gone(event.kind) && event.paths.iter().all(|p| own.is_own(p)))
                    {
                        return;
                    }
                    FsEvent::Changed(event.paths)
                }
                _ => FsEvent::Rescan,
            };
            if tx.try_send(event).is_err() {
                flag.store(true, Ordering::SeqCst);
            }
        };
        let config = notify::Config::default().with_follow_symlinks(false);
        let inner = RecommendedWatcher::new(handler, config)?;
        Ok((
            Self {
                inner,
                watched: HashSet::new(),
                overflowed,
                own_removals,
            },
            rx,
        ))
    }

    /// Watches `dir` (its direct children) unless already watched.
    pub fn watch(&mut self, dir: &Path) -> notify::Result<()> {
        self.watch_with(dir, RecursiveMode::NonRecursive)
    }

    /// Watches `dir` and every directory below it (a checkpoint directory, for rewrites in
    /// place deep inside it).
    pub fn watch_tree(&mut self, dir: &Path) -> notify::Result<()> {
        self.watch_with(dir, RecursiveMode::Recursive)
    }

    fn watch_with(&mut self, dir: &Path, mode: RecursiveMode) -> notify::Result<()> {
        if self.watched.contains(dir) {
            return Ok(());
        }
        self.inner.watch(dir, mode)?;
        self.watched.insert(dir.to_owned());
        Ok(())
    }

    /// Stops watching every directory not in `keep`.
    pub fn retain(&mut self, keep: &HashSet<PathBuf>) {
        let gone: Vec<PathBuf> = self.watched.difference(keep).cloned().collect();
        for dir in gone {
            // The directory may already be gone, which removed the kernel watch with it.
            let _ = self.inner.unwatch(&dir);
            self.watched.remove(&dir);
        }
    }

    /// True once, after the channel overflowed.
    pub fn take_overflow(&self) -> bool {
        self.overflowed.swap(false, Ordering::SeqCst)
    }
}

/// Opening, reading and closing without writing change nothing, and ckptd's own scans (which
/// list every watched run) would otherwise wake it again and again.
fn is_read_only_access(kind: EventKind) -> bool {
    matches!(kind, EventKind::Access(access) if access != AccessKind::Close(AccessMode::Write))
}

/// A path removed or renamed away.
fn is_gone(kind: EventKind) -> bool {
    matches!(
        kind,
        EventKind::Remove(_) | EventKind::Modify(ModifyKind::Name(RenameMode::From))
    )
}

/// notify reports a rename within watched directories three times: from, to, and both. The
/// first two say everything.
fn is_rename_pair(kind: EventKind) -> bool {
    kind == EventKind::Modify(ModifyKind::Name(RenameMode::Both))
}

/// ckptd's own writes in a run (the lock and clock probe, the trash) must not wake it up again.
pub fn is_own_file(path: &Path) -> bool {
    // The last component only: a run below a directory that happens to be named like one of
    // ckptd's files still gets its events.
    path.file_name().is_some_and(|c| {
        c == crate::lock::LOCK_FILE
            || c == crate::execute::trash::TRASH_DIR
            || c == crate::slim::SLIM_DIR
            || c.to_str()
                .is_some_and(|c| c.starts_with(crate::execute::trash::TRASH_SIBLING_PREFIX))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// The next event, which must come within 10 s.
    async fn next_event(rx: &mut mpsc::Receiver<FsEvent>) -> FsEvent {
        tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("an event within 10 s")
            .expect("the channel is open")
    }

    #[tokio::test]
    async fn a_new_file_in_a_watched_directory_arrives_as_our_event() {
        let dir = tempfile::tempdir().unwrap();
        let (mut watcher, mut rx) = FsWatcher::start(64).unwrap();
        watcher.watch(dir.path()).unwrap();
        std::fs::write(dir.path().join("checkpoint-1"), b"x").unwrap();
        let event = next_event(&mut rx).await;
        assert_eq!(
            event,
            FsEvent::Changed(vec![dir.path().join("checkpoint-1")])
        );
    }

    #[tokio::test]
    async fn listing_and_reading_a_watched_directory_raise_no_event() {
        // Regression: the daemon's own scans opened the run directory, which woke it again,
        // which scanned again: a busy loop at 90% of a core with 1,000 idle runs.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("old"), b"x").unwrap();
        let (mut watcher, mut rx) = FsWatcher::start(64).unwrap();
        watcher.watch(dir.path()).unwrap();
        for _ in 0..3 {
            let _ = std::fs::read_dir(dir.path()).unwrap().count();
            let _ = std::fs::read(dir.path().join("old")).unwrap();
        }
        std::fs::write(dir.path().join("new"), b"x").unwrap();
        // Events arrive in order: the first one must be about `new`, not the reads.
        let event = next_event(&mut rx).await;
        assert_eq!(event, FsEvent::Changed(vec![dir.path().join("new")]));
    }

    #[tokio::test]
    async fn a_full_channel_sets_the_overflow_flag() {
        let dir = tempfile::tempdir().unwrap();
        let (mut watcher, _rx) = FsWatcher::start(1).unwrap();
        watcher.watch(dir.path()).unwrap();
        for i in 0..50 {
            std::fs::write(dir.path().join(format!("f{i}")), b"x").unwrap();
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !watcher.take_overflow() {
            assert!(
                std::time::Instant::now() < deadline,
                "overflow never flagged"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test]
    async fn ckptds_own_writes_raise_no_event() {
        let dir = tempfile::tempdir().unwrap();
        let (mut watcher, mut rx) = FsWatcher::start(64).unwrap();
        watcher.watch(dir.path()).unwrap();
        for _ in 0..3 {
            std::fs::write(dir.path().join(crate::lock::LOCK_FILE), b"\n").unwrap();
            std::fs::create_dir_all(dir.path().join(crate::execute::trash::TRASH_DIR)).unwrap();
        }
        std::fs::write(dir.path().join("checkpoint-1"), b"x").unwrap();
        let event = next_event(&mut rx).await;
        assert_eq!(
            event,
            FsEvent::Changed(vec![dir.path().join("checkpoint-1")])
        );
    }

    #[tokio::test]
    async fn removals_ckptd_announced_raise_no_event_and_others_do() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["ours", "theirs"] {
            std::fs::create_dir(dir.path().join(name)).unwrap();
            std::fs::write(dir.path().join(name).join("model.bin"), b"x").unwrap();
        }
        let (mut watcher, mut rx) = FsWatcher::start(64).unwrap();
        watcher.watch(dir.path()).unwrap();
        watcher.watch_tree(&dir.path().join("ours")).unwrap();
        watcher.own_removals.expect(dir.path().join("ours"));
        let away = tempfile::tempdir_in(dir.path().parent().unwrap()).unwrap();
        std::fs::rename(dir.path().join("ours"), away.path().join("x")).unwrap();
        std::fs::remove_dir_all(away.path().join("x")).unwrap();
        std::fs::remove_dir_all(dir.path().join("theirs")).unwrap();
        // Events arrive in order: the first one must be about `theirs`.
        let event = next_event(&mut rx).await;
        let FsEvent::Changed(paths) = event else {
            panic!("{event:?}");
        };
        assert!(paths[0].starts_with(dir.path().join("theirs")), "{paths:?}");
    }
}
