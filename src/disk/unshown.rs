//! Space that deletions freed but a filesystem does not show yet: a file a reader still holds
//! open (an evaluation job), an NFS silly-rename, a copy-on-write filesystem that frees
//! asynchronously. Without this, the daemon's next check sees the same shortfall and deletes
//! again, and again, until only the protected checkpoints are left. Pure: the caller feeds it
//! what it measured and what its passes did.
//!
//! A pass measures free space right before and right after its deletions: what they freed
//! and the filesystem did not show in that moment is a credit, counted as coming free for
//! [`HOLD`]. Measured over the deletions alone (not between two checks), a trainer's save or
//! a download going on meanwhile is not taken for held space (a save into a temp name, which
//! no run counts as held, was). At each check, free space plus what the watched runs hold
//! stays the same while nothing shows (a save moves bytes from one side to the other); when
//! it rises above what it was once the credited deletions were made, the space came back and
//! pays the credits off, oldest first.

use std::time::Duration;

use tokio::time::Instant;

/// How long deleted space that has not shown counts as coming free. A reader that holds a
/// deleted checkpoint longer than this gets pressure asking for the space again.
pub const HOLD: Duration = Duration::from_mins(5);

/// Bytes and inodes.
type Amount = (u64, u64);

/// One filesystem's deleted-but-not-shown space.
#[derive(Debug, Clone, Default)]
pub struct Unshown {
    /// Free space plus what the runs hold, as it should be with the credits still held: at
    /// the last check, less what was credited since (the highest seen while credits last).
    peak: Option<Amount>,
    /// Deleted space not shown yet, oldest first, with when it was deleted.
    credits: Vec<(Instant, Amount)>,
}

impl Unshown {
    /// A pass carried out deletions or slims of which `unshown` did not show free at once.
    pub fn deleted(&mut self, now: Instant, unshown: Amount) {
        if unshown == (0, 0) {
            return;
        }
        self.credits.push((now, unshown));
        // The runs hold that much less, and free space did not grow: the sum drops by it.
        self.peak = self
            .peak
            .map(|(b, i)| (b.saturating_sub(unshown.0), i.saturating_sub(unshown.1)));
    }

    /// At a check: `free` as measured and `held` by the runs on the filesystem (after their
    /// passes). Returns what counts as coming free now.
    pub fn update(&mut self, now: Instant, free: Amount, held: Amount) -> Amount {
        let sum = (free.0.saturating_add(held.0), free.1.saturating_add(held.1));
        self.credits
            .retain(|(at, _)| now.duration_since(*at) < HOLD);
        match self.peak {
            Some(peak) if !self.credits.is_empty() => {
                self.pay_off((sum.0.saturating_sub(peak.0), sum.1.saturating_sub(peak.1)));
                self.peak = Some((peak.0.max(sum.0), peak.1.max(sum.1)));
            }
            // Nothing owed: the sum follows whatever else happens on the filesystem.
            _ => self.peak = Some(sum),
        }
        self.coming()
    }

    /// What counts as coming free.
    pub fn coming(&self) -> Amount {
        self.credits.iter().fold((0, 0), |(b, i), (_, c)| {
            (b.saturating_add(c.0), i.saturating_add(c.1))
        })
    }

    /// Space that came back pays off the oldest credits first.
    fn pay_off(&mut self, mut shown: Amount) {
        for (_, credit) in &mut self.credits {
            let bytes = credit.0.min(shown.0);
            let inodes = credit.1.min(shown.1);
            credit.0 -= bytes;
            credit.1 -= inodes;
            shown.0 -= bytes;
            shown.1 -= inodes;
        }
        self.credits.retain(|(_, c)| *c != (0, 0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    fn at(secs: u64) -> Instant {
        // Instants cannot be built from nothing: offsets from one taken now.
        thread_local!(static START: Instant = Instant::now());
        START.with(|s| *s + Duration::from_secs(secs))
    }

    #[test]
    fn deletions_that_show_at_once_leave_nothing_coming() {
        let mut u = Unshown::default();
        assert_eq!(u.update(at(0), (100 * MIB, 50), (300 * MIB, 30)), (0, 0));
        // 40 MiB deleted (4 inodes), all shown at once; the trainer saved 20 MiB (2 inodes)
        // meanwhile.
        u.deleted(at(10), (0, 0));
        assert_eq!(u.update(at(30), (120 * MIB, 52), (280 * MIB, 28)), (0, 0));
    }

    #[test]
    fn deleted_space_held_open_counts_as_coming_until_it_shows() {
        let mut u = Unshown::default();
        u.update(at(0), (100 * MIB, 50), (300 * MIB, 30));
        // 40 MiB deleted; a reader holds 30 of them (and 1 inode): only 10 came back.
        u.deleted(at(10), (30 * MIB, 1));
        assert_eq!(
            u.update(at(30), (110 * MIB, 53), (260 * MIB, 26)),
            (30 * MIB, 1)
        );
        // Nothing new deleted: the credit stays.
        assert_eq!(
            u.update(at(60), (110 * MIB, 53), (260 * MIB, 26)),
            (30 * MIB, 1)
        );
        // The reader closes 20 MiB of it.
        assert_eq!(
            u.update(at(90), (130 * MIB, 54), (260 * MIB, 26)),
            (10 * MIB, 0)
        );
    }

    #[test]
    fn space_that_shows_before_the_next_check_pays_the_credit_off() {
        // An asynchronous free (XFS, btrfs) completes a moment after the deletions were
        // measured, before the next check: nothing is coming any more.
        let mut u = Unshown::default();
        u.update(at(0), (100 * MIB, 50), (300 * MIB, 30));
        u.deleted(at(10), (40 * MIB, 4));
        assert_eq!(u.update(at(11), (140 * MIB, 54), (260 * MIB, 26)), (0, 0));
    }

    #[test]
    fn space_other_writers_take_between_checks_is_never_a_credit() {
        let mut u = Unshown::default();
        u.update(at(0), (100 * MIB, 50), (300 * MIB, 30));
        // 10 MiB deleted and shown at once while a trainer writes a save under a temp name
        // (no run holds it yet) and a download takes 500 MiB: nothing is coming.
        u.deleted(at(10), (0, 0));
        assert_eq!(u.update(at(30), (0, 49), (290 * MIB, 29)), (0, 0));
        assert_eq!(u.update(at(60), (0, 40), (290 * MIB, 29)), (0, 0));
    }

    #[test]
    fn a_save_under_a_temp_name_does_not_pay_a_held_credit_off() {
        let mut u = Unshown::default();
        u.update(at(0), (100 * MIB, 50), (300 * MIB, 30));
        u.deleted(at(10), (30 * MIB, 3));
        assert_eq!(
            u.update(at(20), (100 * MIB, 50), (270 * MIB, 27)),
            (30 * MIB, 3)
        );
        // A save writes 50 MiB under a temp name, then renames it into the run: free space
        // plus what the runs hold drops and comes back to where it was, which is no sign of
        // the reader letting go.
        u.update(at(30), (50 * MIB, 49), (270 * MIB, 27));
        assert_eq!(
            u.update(at(40), (50 * MIB, 49), (320 * MIB, 28)),
            (30 * MIB, 3)
        );
    }

    #[test]
    fn credit_runs_out_after_the_hold() {
        let mut u = Unshown::default();
        u.update(at(0), (100 * MIB, 50), (300 * MIB, 30));
        u.deleted(at(10), (40 * MIB, 4));
        assert_eq!(
            u.update(at(30), (100 * MIB, 50), (260 * MIB, 26)),
            (40 * MIB, 4)
        );
        let later = 10 + HOLD.as_secs();
        assert_eq!(
            u.update(at(later), (100 * MIB, 50), (260 * MIB, 26)),
            (0, 0)
        );
    }
}
