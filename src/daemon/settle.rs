//! The settle state machine, one per checkpoint: unseen → writing → settled → complete.
//!
//! The newest mtime says when a checkpoint was last written; the tracker adds what a one-shot
//! scan cannot know: whether the fingerprint changed while we watched without the mtime moving
//! (a copy that preserves mtimes, `rsync -t`). Then the quiet time counts from the moment we saw
//! the change. Built on `tokio::time::Instant`, so tests drive it with `pause()`/`advance()`.

use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use crate::checkpoint::Fingerprint;

/// How far before our last look a new mtime may lie and still date the change: kernels stamp
/// files with a coarse clock (a few ms), and a write may land while we look.
const MTIME_SLACK: Duration = Duration::from_secs(2);

/// Where a checkpoint stands, as far as settling goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settle {
    /// Written to within `settle`; look again at the instant given.
    Writing { recheck_at: Instant },
    /// Quiet for `settle`: the marker and the open-file check decide the rest.
    Settled,
}

/// Tracks one checkpoint's fingerprint across passes.
#[derive(Debug, Clone)]
pub struct Tracker {
    fingerprint: Fingerprint,
    /// When we last looked (wall clock).
    seen_at: SystemTime,
    /// When we saw the current fingerprint replace another without its newest mtime being
    /// newer than our previous look: the mtime then cannot date the change, so we do.
    changed_at: Option<(Instant, SystemTime)>,
}

impl Tracker {
    /// The first sighting (state "unseen" → this).
    pub fn new(fingerprint: Fingerprint, wall_now: SystemTime) -> Self {
        Self {
            fingerprint,
            seen_at: wall_now,
            changed_at: None,
        }
    }

    /// Records a fresh fingerprint seen at (`now`, `wall_now`).
    pub fn observe(&mut self, fingerprint: Fingerprint, now: Instant, wall_now: SystemTime) {
        if fingerprint != self.fingerprint {
            // A write since our last look carries an mtime after that look, give or take the
            // filesystem's coarse timestamps and a write racing the look itself (MTIME_SLACK).
            // A change whose newest mtime is older (`cp -p`, `rsync -t` bringing old files
            // in) is dated by us.
            let dated_by_mtime = fingerprint.newest_mtime > self.fingerprint.newest_mtime
                && fingerprint.newest_mtime + MTIME_SLACK > self.seen_at;
            self.changed_at = if dated_by_mtime {
                None
            } else {
                Some((now, wall_now))
            };
            self.fingerprint = fingerprint;
        }
        self.seen_at = wall_now;
    }

    /// Since when (wall clock) the checkpoint is known unchanged: what the planner compares
    /// with `settle`.
    pub fn stable_since(&self) -> SystemTime {
        match self.changed_at {
            Some((_, wall)) => wall.max(self.fingerprint.newest_mtime),
            None => self.fingerprint.newest_mtime,
        }
    }

    /// The state at `now`, given `settle`.
    pub fn state(&self, settle: Duration, now: Instant, wall_now: SystemTime) -> Settle {
        let quiet = wall_now
            .duration_since(self.stable_since())
            .unwrap_or(Duration::ZERO);
        if quiet >= settle {
            Settle::Settled
        } else {
            Settle::Writing {
                recheck_at: now + settle.saturating_sub(quiet),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(files: u64, bytes: u64, mtime: SystemTime) -> Fingerprint {
        Fingerprint {
            files,
            bytes,
            newest_mtime: mtime,
        }
    }

    const SETTLE: Duration = Duration::from_secs(30);

    /// A wall clock that moves with tokio's paused clock.
    struct Clock {
        start: Instant,
        wall_start: SystemTime,
    }

    impl Clock {
        fn new() -> Self {
            Self {
                start: Instant::now(),
                wall_start: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            }
        }
        fn now(&self) -> (Instant, SystemTime) {
            let now = Instant::now();
            (now, self.wall_start + (now - self.start))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_checkpoint_being_written_settles_settle_after_its_last_write() {
        let clock = Clock::new();
        let (t0, w0) = clock.now();
        let mut tracker = Tracker::new(fp(1, 10, w0), w0);
        assert_eq!(
            tracker.state(SETTLE, t0, w0),
            Settle::Writing {
                recheck_at: t0 + SETTLE
            }
        );

        // More is written 20 s later: the deadline moves with the newest mtime.
        tokio::time::advance(Duration::from_secs(20)).await;
        let (t1, w1) = clock.now();
        tracker.observe(fp(2, 20, w1), t1, w1);
        assert_eq!(
            tracker.state(SETTLE, t1, w1),
            Settle::Writing {
                recheck_at: t1 + SETTLE
            }
        );

        tokio::time::advance(Duration::from_secs(29)).await;
        let (t2, w2) = clock.now();
        tracker.observe(fp(2, 20, w1), t2, w2);
        assert_eq!(
            tracker.state(SETTLE, t2, w2),
            Settle::Writing {
                recheck_at: t2 + Duration::from_secs(1)
            }
        );

        tokio::time::advance(Duration::from_secs(1)).await;
        let (t3, w3) = clock.now();
        assert_eq!(tracker.state(SETTLE, t3, w3), Settle::Settled);
        assert_eq!(tracker.stable_since(), w1);
    }

    #[tokio::test(start_paused = true)]
    async fn an_old_checkpoint_seen_for_the_first_time_is_settled_at_once() {
        let clock = Clock::new();
        let (t0, w0) = clock.now();
        let tracker = Tracker::new(fp(3, 30, w0 - Duration::from_secs(3600)), w0);
        assert_eq!(tracker.state(SETTLE, t0, w0), Settle::Settled);
    }

    #[tokio::test(start_paused = true)]
    async fn a_change_that_keeps_old_mtimes_restarts_the_quiet_time() {
        // `cp -p` or `rsync -t` of an old checkpoint: bytes grow, mtimes stay in the past.
        let clock = Clock::new();
        let old = clock.now().1 - Duration::from_secs(3600);
        let (t0, w0) = clock.now();
        let mut tracker = Tracker::new(fp(1, 10, old), w0);
        assert_eq!(tracker.state(SETTLE, t0, w0), Settle::Settled);

        tokio::time::advance(Duration::from_secs(5)).await;
        let (t1, w1) = clock.now();
        tracker.observe(fp(2, 99, old), t1, w1);
        assert_eq!(
            tracker.state(SETTLE, t1, w1),
            Settle::Writing {
                recheck_at: t1 + SETTLE
            }
        );

        tokio::time::advance(SETTLE).await;
        let (t2, w2) = clock.now();
        tracker.observe(fp(2, 99, old), t2, w2);
        assert_eq!(tracker.state(SETTLE, t2, w2), Settle::Settled);
        assert_eq!(tracker.stable_since(), w1);
    }

    #[tokio::test(start_paused = true)]
    async fn old_files_copied_in_one_by_one_restart_the_quiet_time() {
        // `rsync -t`: each new file is older than our last look, yet newer than the previous
        // newest mtime. The mtime moved forward, but it does not date the change.
        let clock = Clock::new();
        let (_, w0) = clock.now();
        let mut tracker = Tracker::new(fp(1, 10, w0 - Duration::from_secs(7200)), w0);
        tokio::time::advance(Duration::from_secs(5)).await;
        let (t1, w1) = clock.now();
        tracker.observe(fp(2, 20, w0 - Duration::from_secs(3600)), t1, w1);
        assert_eq!(
            tracker.state(SETTLE, t1, w1),
            Settle::Writing {
                recheck_at: t1 + SETTLE
            }
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_write_racing_our_look_is_still_dated_by_its_mtime() {
        // Regression: a trainer writing in chunks while ckptd looked got its last write dated
        // by the look (50 ms later), delaying every deletion by that much.
        let clock = Clock::new();
        let (_, w0) = clock.now();
        let mut tracker = Tracker::new(fp(1, 10, w0 - Duration::from_millis(100)), w0);
        tokio::time::advance(Duration::from_millis(50)).await;
        let (t1, w1) = clock.now();
        // Written 4 ms before our previous look, as a coarse kernel clock may stamp it.
        let written = w0 - Duration::from_millis(4);
        tracker.observe(fp(2, 20, written), t1, w1);
        assert_eq!(tracker.stable_since(), written);
        assert_eq!(
            tracker.state(SETTLE, t1, w1),
            Settle::Writing {
                recheck_at: t1 + SETTLE - Duration::from_millis(54)
            }
        );
    }

    #[tokio::test(start_paused = true)]
    async fn settle_zero_is_settled_immediately() {
        let clock = Clock::new();
        let (t0, w0) = clock.now();
        let tracker = Tracker::new(fp(1, 1, w0), w0);
        assert_eq!(tracker.state(Duration::ZERO, t0, w0), Settle::Settled);
    }
}
