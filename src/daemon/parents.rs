//! Polling the directories above the `runs` globs where events cannot be trusted: on network
//! and FUSE filesystems (`watcher = "auto"`), with `watcher = "poll"`, and where a directory
//! cannot be watched. Another node creating a run raises no event here, so each such
//! directory is `stat`ed every `poll_interval`, and the globs are expanded again (the
//! directories read) only when one of them changed: 1,000 runs under 50 parents cost 50
//! `stat`s per interval while nothing happens.
//!
//! Same-second changes: some filesystems stamp directories with a coarse clock (ext3 and
//! older NFS servers: 1 s; FAT: 2 s), so a run created in the same second as the change we
//! last read leaves the stamp as it was. A stamp is therefore trusted only once a read has
//! started at least [`COARSE_MTIME`] after we first saw it: the storage's clock had moved past
//! that stamp's second by then (it was already at or past it when we first saw it), so any
//! later change moves the mtime. Until then the directory is read at every poll. This needs
//! no agreement between our clock and the storage's, only that both advance.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::time::Instant;

use super::memory::{fresh_dir_stamp, DirStamp};

/// The coarsest directory mtime granularity allowed for (FAT's 2 s).
const COARSE_MTIME: Duration = Duration::from_secs(2);

/// The polled glob parents and what was last seen of each.
#[derive(Debug, Default)]
pub struct PolledParents {
    dirs: BTreeMap<PathBuf, Parent>,
}

#[derive(Debug)]
struct Parent {
    interval: Duration,
    /// The stamp last seen (`None`: the directory could not be `stat`ed), and when first seen.
    stamp: Option<DirStamp>,
    since: Instant,
    /// A read started at least `COARSE_MTIME` after `since`: a change would move the stamp.
    trusted: bool,
    next: Instant,
}

impl PolledParents {
    /// Polls exactly `wanted` (a directory and its interval), just after the globs were
    /// expanded. One already polled keeps what was seen of it; a new one is read again at
    /// its first poll (the stamp taken now may postdate the read that found it).
    pub fn set(&mut self, wanted: BTreeMap<PathBuf, Duration>, now: Instant) {
        self.dirs.retain(|dir, _| wanted.contains_key(dir));
        for (dir, interval) in wanted {
            let parent = self.dirs.entry(dir).or_insert_with_key(|dir| Parent {
                interval,
                stamp: fresh_dir_stamp(dir),
                since: now,
                trusted: false,
                next: now + interval,
            });
            if interval < parent.interval {
                parent.next = parent.next.min(now + interval);
            }
            parent.interval = interval;
        }
    }

    /// When the next directory is due, if any is polled.
    pub fn next_due(&self) -> Option<Instant> {
        self.dirs.values().map(|p| p.next).min()
    }

    /// `stat`s every directory that is due; true when the globs must be expanded again (a
    /// directory changed, or its stamp is not trusted yet).
    pub fn poll(&mut self, now: Instant) -> bool {
        let mut read = false;
        for (dir, parent) in &mut self.dirs {
            if parent.next > now {
                continue;
            }
            parent.next = now + parent.interval;
            read |= parent.look(dir, now);
        }
        read
    }

    /// How many directories are polled.
    pub fn len(&self) -> usize {
        self.dirs.len()
    }
}

impl Parent {
    fn look(&mut self, dir: &Path, now: Instant) -> bool {
        let stamp = fresh_dir_stamp(dir);
        if stamp != self.stamp {
            tracing::debug!(path = %dir.display(), "directory above runs changed: looking for runs");
            self.stamp = stamp;
            self.since = now;
            self.trusted = false;
            return true;
        }
        if self.trusted {
            return false;
        }
        self.trusted = now.duration_since(self.since) >= COARSE_MTIME;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use filetime::FileTime;

    const INTERVAL: Duration = Duration::from_secs(10);

    fn polling(dir: &Path) -> PolledParents {
        let mut parents = PolledParents::default();
        parents.set(BTreeMap::from([(dir.to_owned(), INTERVAL)]), Instant::now());
        parents
    }

    /// Advances the paused clock to the next poll and polls.
    async fn next_poll(parents: &mut PolledParents) -> bool {
        let due = parents.next_due().unwrap();
        tokio::time::advance(due - Instant::now()).await;
        parents.poll(Instant::now())
    }

    #[tokio::test(start_paused = true)]
    async fn a_new_directory_is_read_again_then_only_when_it_changes() {
        let dir = tempfile::tempdir().unwrap();
        let mut parents = polling(dir.path());
        assert!(
            !parents.poll(Instant::now()),
            "nothing is due before its interval"
        );
        assert!(
            next_poll(&mut parents).await,
            "first poll: stamp not trusted yet"
        );
        for _ in 0..3 {
            assert!(!next_poll(&mut parents).await, "unchanged and trusted");
        }
        std::fs::create_dir(dir.path().join("new-run")).unwrap();
        assert!(next_poll(&mut parents).await, "a new child moves the stamp");
        assert!(next_poll(&mut parents).await, "read once more, 10 s later");
        assert!(!next_poll(&mut parents).await);
        std::fs::remove_dir(dir.path().join("new-run")).unwrap();
        assert!(
            next_poll(&mut parents).await,
            "a removed child moves the stamp"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_unchanged_stamp_is_read_until_a_coarse_mtime_would_have_moved() {
        // On a filesystem with whole-second (or FAT's 2 s) mtimes, a run created in the same
        // second as the stamp we read leaves the stamp as it was: the directory is read at
        // every poll until 2 s after the stamp was first seen, when any change must move it.
        let dir = tempfile::tempdir().unwrap();
        filetime::set_file_mtime(dir.path(), FileTime::from_unix_time(1_700_000_000, 0)).unwrap();
        let mut parents = PolledParents::default();
        let fast = Duration::from_millis(500);
        parents.set(
            BTreeMap::from([(dir.path().to_owned(), fast)]),
            Instant::now(),
        );
        let mut reads = Vec::new();
        for _ in 0..8 {
            reads.push(next_poll(&mut parents).await);
        }
        // Polls at 0.5, 1, 1.5 and 2 s read; from then on the stamp is trusted.
        assert_eq!(reads, [true, true, true, true, false, false, false, false]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_directory_that_vanishes_or_returns_is_a_change() {
        let base = tempfile::tempdir().unwrap();
        let dir = base.path().join("runs");
        std::fs::create_dir(&dir).unwrap();
        let mut parents = polling(&dir);
        next_poll(&mut parents).await;
        std::fs::remove_dir(&dir).unwrap();
        assert!(next_poll(&mut parents).await);
        next_poll(&mut parents).await;
        assert!(!next_poll(&mut parents).await, "still gone: nothing new");
        std::fs::create_dir(&dir).unwrap();
        assert!(next_poll(&mut parents).await);
    }

    #[tokio::test(start_paused = true)]
    async fn set_keeps_what_was_seen_and_takes_the_shorter_interval_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut parents = polling(dir.path());
        next_poll(&mut parents).await;
        assert!(!next_poll(&mut parents).await);
        let now = Instant::now();
        parents.set(
            BTreeMap::from([(dir.path().to_owned(), Duration::from_secs(1))]),
            now,
        );
        assert_eq!(parents.next_due(), Some(now + Duration::from_secs(1)));
        assert!(!next_poll(&mut parents).await, "still trusted");
        parents.set(BTreeMap::new(), Instant::now());
        assert_eq!(parents.next_due(), None);
        assert_eq!(parents.len(), 0);
    }
}
