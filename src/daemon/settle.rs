//! The settle state machine, one per checkpoint: unseen → writing → settled → complete.
//!
//! The newest mtime says when a checkpoint was last written; the tracker adds what a one-shot
//! scan cannot know: whether the fingerprint changed while we watched without the mtime
//! dating the change (a copy that preserves mtimes, `rsync -t`; a rewrite that only moved
//! ctimes), and, when the run's storage clock is unknown, how long we ourselves have seen it
//! unchanged. Then the quiet time counts from our own look. Built on `tokio::time::Instant`, so
//! tests drive it with `pause()`/`advance()`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

use crate::checkpoint::{Digest, Fingerprint};
use crate::storage_clock::RunClock;

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

/// Tracks one checkpoint's fingerprint across passes. The daemon keeps one for every
/// checkpoint of every run (500,000 at 10,000 runs), so it is kept to 40 bytes: the
/// fingerprint's digest and newest mtime, and times in 8 bytes each.
#[derive(Debug, Clone)]
pub struct Tracker {
    /// The current fingerprint, as its digest.
    digest: Digest,
    /// The current fingerprint's newest mtime.
    newest_mtime: Stamp,
    /// When we first saw the current fingerprint.
    since: Offset,
    /// Our previous look, on the run's storage clock (`Stamp::UNSET` when that clock was
    /// unknown).
    seen_on_storage: Stamp,
    /// Whether the newest mtime dates the current fingerprint: it was first seen on a known
    /// storage clock, or it replaced another with an mtime later than our previous look.
    dated_by_mtime: bool,
    /// A look that read `/proc` found the checkpoint complete with no local writer at the
    /// current fingerprint: while it stays unchanged, the walk may be skipped.
    confirmed: bool,
}

impl Tracker {
    /// The first sighting (state "unseen" → this).
    pub fn new(fingerprint: Fingerprint, now: Instant, clock: RunClock) -> Self {
        Self {
            digest: fingerprint.digest(),
            newest_mtime: Stamp::of(fingerprint.newest_mtime),
            since: Offset::of(now),
            seen_on_storage: Stamp::of_look(clock),
            dated_by_mtime: clock.on_storage,
            confirmed: false,
        }
    }

    /// The digest of the fingerprint a look with the open-writer check confirmed, if it is
    /// still the current one.
    pub fn confirmed(&self) -> Option<Digest> {
        self.confirmed.then_some(self.digest)
    }

    /// The digest of the fingerprint seen last.
    pub fn digest(&self) -> Digest {
        self.digest
    }

    /// Records that a look with the open-writer check found the current fingerprint complete.
    pub fn confirm(&mut self) {
        self.confirmed = true;
    }

    /// Takes `fingerprint` as the current one without counting it as a change: ckptd made it
    /// (slimming), so what was confirmed of the checkpoint still holds.
    pub fn adopt(&mut self, fingerprint: Fingerprint) {
        self.digest = fingerprint.digest();
    }

    /// Dates the current fingerprint by `completed_at` (a slimmed checkpoint's completion
    /// time before slimming, from its record) rather than by its newest mtime, which the
    /// slimming moved. On an unknown storage clock only our own looks count, as ever.
    pub fn date(&mut self, completed_at: SystemTime, clock: RunClock) {
        self.newest_mtime = Stamp::of(completed_at);
        self.dated_by_mtime = clock.on_storage;
    }

    /// Records a fresh fingerprint seen at `now`.
    pub fn observe(&mut self, fingerprint: Fingerprint, now: Instant, clock: RunClock) {
        let digest = fingerprint.digest();
        if digest != self.digest {
            // A write since our last look carries an mtime after that look, give or take the
            // filesystem's coarse timestamps and a write racing the look itself (MTIME_SLACK).
            // A change whose newest mtime is older (`cp -p`, `rsync -t` bringing old files
            // in, a rewrite that only moved ctimes) is dated by us; so is any change while the
            // storage clock is unknown.
            let mtime = Stamp::of(fingerprint.newest_mtime);
            self.dated_by_mtime = match (clock.on_storage, self.seen_on_storage.time()) {
                (true, Some(seen)) => {
                    mtime > self.newest_mtime
                        && fingerprint
                            .newest_mtime
                            .checked_add(MTIME_SLACK)
                            .is_none_or(|t| t > seen)
                }
                _ => false,
            };
            self.digest = digest;
            self.newest_mtime = mtime;
            self.since = Offset::of(now);
            self.confirmed = false;
        }
        self.seen_on_storage = Stamp::of_look(clock);
    }

    /// Since when the checkpoint is known unchanged, on `clock`: what the planner compares
    /// with `settle`.
    pub fn stable_since(&self, now: Instant, clock: RunClock) -> SystemTime {
        let first_seen = clock
            .now
            .checked_sub(now.saturating_duration_since(self.since.instant()))
            .unwrap_or(UNIX_EPOCH);
        if !clock.on_storage {
            // An mtime on an unknown clock says nothing about age: only our own looks do.
            first_seen
        } else if self.dated_by_mtime {
            self.newest_mtime.system_time()
        } else {
            first_seen.max(self.newest_mtime.system_time())
        }
    }

    /// The state at `now`, given `settle`.
    pub fn state(&self, settle: Duration, now: Instant, clock: RunClock) -> Settle {
        let quiet = clock
            .now
            .duration_since(self.stable_since(now, clock))
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

/// A wall-clock time in 8 bytes: nanoseconds since the epoch. Times outside 1678–2261 (a
/// hostile or broken mtime) saturate, and still read as far future or far past, as they were.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Stamp(i64);

impl Stamp {
    const UNSET: Self = Self(i64::MIN);

    fn of(t: SystemTime) -> Self {
        let nanos = match t.duration_since(UNIX_EPOCH) {
            Ok(after) => i64::try_from(after.as_nanos()).unwrap_or(i64::MAX),
            Err(before) => i64::try_from(before.duration().as_nanos())
                .map_or(i64::MIN + 1, |n| -n)
                .max(i64::MIN + 1),
        };
        Self(nanos)
    }

    /// The look's time on the storage clock, or unset when that clock is unknown.
    fn of_look(clock: RunClock) -> Self {
        if clock.on_storage {
            Self::of(clock.now)
        } else {
            Self::UNSET
        }
    }

    fn system_time(self) -> SystemTime {
        let magnitude = Duration::from_nanos(self.0.unsigned_abs());
        if self.0 >= 0 {
            UNIX_EPOCH + magnitude
        } else {
            UNIX_EPOCH - magnitude
        }
    }

    fn time(self) -> Option<SystemTime> {
        (self != Self::UNSET).then(|| self.system_time())
    }
}

/// An `Instant` in 8 bytes: signed nanoseconds from one instant fixed per process (292
/// years either way; tests on a paused clock may go before it).
#[derive(Debug, Clone, Copy)]
struct Offset(i64);

impl Offset {
    fn base() -> Instant {
        static BASE: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
        Instant::from_std(*BASE.get_or_init(std::time::Instant::now))
    }

    fn of(t: Instant) -> Self {
        let base = Self::base();
        let nanos = |d: Duration| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX);
        if t >= base {
            Self(nanos(t - base))
        } else {
            Self(-nanos(base - t))
        }
    }

    fn instant(self) -> Instant {
        let magnitude = Duration::from_nanos(self.0.unsigned_abs());
        if self.0 >= 0 {
            Self::base() + magnitude
        } else {
            Self::base() - magnitude
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
            newest_ctime: mtime,
            inodes: 7,
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
        /// Now, with the storage clock known.
        fn now(&self) -> (Instant, RunClock) {
            let now = Instant::now();
            let clock = RunClock {
                now: self.wall_start + (now - self.start),
                on_storage: true,
            };
            (now, clock)
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_checkpoint_being_written_settles_settle_after_its_last_write() {
        let clock = Clock::new();
        let (t0, w0) = clock.now();
        let mut tracker = Tracker::new(fp(1, 10, w0.now), t0, w0);
        assert_eq!(
            tracker.state(SETTLE, t0, w0),
            Settle::Writing {
                recheck_at: t0 + SETTLE
            }
        );

        // More is written 20 s later: the deadline moves with the newest mtime.
        tokio::time::advance(Duration::from_secs(20)).await;
        let (t1, w1) = clock.now();
        tracker.observe(fp(2, 20, w1.now), t1, w1);
        assert_eq!(
            tracker.state(SETTLE, t1, w1),
            Settle::Writing {
                recheck_at: t1 + SETTLE
            }
        );

        tokio::time::advance(Duration::from_secs(29)).await;
        let (t2, w2) = clock.now();
        tracker.observe(fp(2, 20, w1.now), t2, w2);
        assert_eq!(
            tracker.state(SETTLE, t2, w2),
            Settle::Writing {
                recheck_at: t2 + Duration::from_secs(1)
            }
        );

        tokio::time::advance(Duration::from_secs(1)).await;
        let (t3, w3) = clock.now();
        assert_eq!(tracker.state(SETTLE, t3, w3), Settle::Settled);
        assert_eq!(tracker.stable_since(t3, w3), w1.now);
    }

    #[tokio::test(start_paused = true)]
    async fn an_old_checkpoint_seen_for_the_first_time_is_settled_at_once() {
        let clock = Clock::new();
        let (t0, w0) = clock.now();
        let tracker = Tracker::new(fp(3, 30, w0.now - Duration::from_hours(1)), t0, w0);
        assert_eq!(tracker.state(SETTLE, t0, w0), Settle::Settled);
    }

    #[tokio::test(start_paused = true)]
    async fn a_change_that_keeps_old_mtimes_restarts_the_quiet_time() {
        // `cp -p` or `rsync -t` of an old checkpoint: bytes grow, mtimes stay in the past.
        let clock = Clock::new();
        let old = clock.now().1.now - Duration::from_hours(1);
        let (t0, w0) = clock.now();
        let mut tracker = Tracker::new(fp(1, 10, old), t0, w0);
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
        assert_eq!(tracker.stable_since(t2, w2), w1.now);
    }

    #[tokio::test(start_paused = true)]
    async fn old_files_copied_in_one_by_one_restart_the_quiet_time() {
        // `rsync -t`: each new file is older than our last look, yet newer than the previous
        // newest mtime. The mtime moved forward, but it does not date the change.
        let clock = Clock::new();
        let (t0, w0) = clock.now();
        let mut tracker = Tracker::new(fp(1, 10, w0.now - Duration::from_hours(2)), t0, w0);
        tokio::time::advance(Duration::from_secs(5)).await;
        let (t1, w1) = clock.now();
        tracker.observe(fp(2, 20, w0.now - Duration::from_hours(1)), t1, w1);
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
        let (t0, w0) = clock.now();
        let mut tracker = Tracker::new(fp(1, 10, w0.now - Duration::from_millis(100)), t0, w0);
        tokio::time::advance(Duration::from_millis(50)).await;
        let (t1, w1) = clock.now();
        // Written 4 ms before our previous look, as a coarse kernel clock may stamp it.
        let written = w0.now - Duration::from_millis(4);
        tracker.observe(fp(2, 20, written), t1, w1);
        assert_eq!(tracker.stable_since(t1, w1), written);
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
        let tracker = Tracker::new(fp(1, 1, w0.now), t0, w0);
        assert_eq!(tracker.state(Duration::ZERO, t0, w0), Settle::Settled);
    }

    #[tokio::test(start_paused = true)]
    async fn a_rewrite_that_keeps_size_and_mtime_restarts_the_quiet_time() {
        // A truncate-and-rewrite of the same size whose mtime was set back: only the ctime
        // (or the inode) tells. The change is dated by our look.
        let clock = Clock::new();
        let old = clock.now().1.now - Duration::from_hours(1);
        let (t0, w0) = clock.now();
        let mut tracker = Tracker::new(fp(1, 10, old), t0, w0);
        assert_eq!(tracker.state(SETTLE, t0, w0), Settle::Settled);
        tokio::time::advance(Duration::from_secs(5)).await;
        let (t1, w1) = clock.now();
        let mut rewritten = fp(1, 10, old);
        rewritten.newest_ctime = w1.now;
        tracker.observe(rewritten, t1, w1);
        assert_eq!(
            tracker.state(SETTLE, t1, w1),
            Settle::Writing {
                recheck_at: t1 + SETTLE
            }
        );
    }

    #[tokio::test(start_paused = true)]
    async fn on_an_unknown_storage_clock_only_our_own_looks_count() {
        // The probe could not be written: an mtime from an hour ago may be a write from a
        // second ago on a lagging server. Quiet time counts from our first look.
        let clock = Clock::new();
        let (t0, known) = clock.now();
        let unknown = RunClock {
            on_storage: false,
            ..known
        };
        let tracker = Tracker::new(fp(1, 10, known.now - Duration::from_hours(1)), t0, unknown);
        assert_eq!(
            tracker.state(SETTLE, t0, unknown),
            Settle::Writing {
                recheck_at: t0 + SETTLE
            }
        );
        tokio::time::advance(SETTLE).await;
        let (t1, w1) = clock.now();
        let w1 = RunClock {
            on_storage: false,
            ..w1
        };
        assert_eq!(tracker.state(SETTLE, t1, w1), Settle::Settled);
    }

    #[tokio::test(start_paused = true)]
    async fn a_write_on_a_lagging_storage_clock_is_dated_on_that_clock() {
        // The storage stamps files two minutes behind us; its clock (the probe) is "now".
        let clock = Clock::new();
        let (t0, ours) = clock.now();
        let lag = Duration::from_mins(2);
        let storage = RunClock {
            now: ours.now - lag,
            on_storage: true,
        };
        let tracker = Tracker::new(fp(1, 10, storage.now), t0, storage);
        assert_eq!(
            tracker.state(SETTLE, t0, storage),
            Settle::Writing {
                recheck_at: t0 + SETTLE
            }
        );
        // Against our own clock the same file would have looked two minutes old: settled.
        let ours_tracker = Tracker::new(fp(1, 10, storage.now), t0, ours);
        assert_eq!(ours_tracker.state(SETTLE, t0, ours), Settle::Settled);
    }
}
