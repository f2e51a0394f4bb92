//! Space that deletions freed but a filesystem does not show yet: a file a reader still holds
//! open (an evaluation job), an NFS silly-rename, a copy-on-write filesystem that frees
//! asynchronously. Without this, the daemon's next check sees the same shortfall and deletes
//! again, and again, until only the protected checkpoints are left. Pure: the daemon feeds it
//! what it measured and what its passes did.
//!
//! Between two checks, free space plus what the watched runs hold on disk stays the same when
//! every deletion shows at once (a trainer's save moves bytes from one side to the other).
//! Whatever that sum lost, up to what was deleted in between, is taken as deleted but not
//! shown yet, and counted as coming free for [`HOLD`]. When it shows, the sum comes back and
//! the credit is paid off. Space another writer took in the same interval cannot be told
//! apart: the bound by what was deleted, and the time limit, keep that mistake small.

use std::time::Duration;

use tokio::time::Instant;

/// How long deleted space that has not shown counts as coming free. A reader that holds a
/// deleted checkpoint longer than this gets pressure asking for the space again.
pub const HOLD: Duration = Duration::from_secs(300);

/// Bytes and inodes.
type Amount = (u64, u64);

/// One filesystem's deleted-but-not-shown space.
#[derive(Debug, Clone, Default)]
pub struct Unshown {
    /// Free space plus what the runs held, at the last check.
    last: Option<Amount>,
    /// Freed by passes since the last check.
    freed_since: Amount,
    /// Deleted space not shown yet, oldest first, with when it was seen missing.
    credits: Vec<(Instant, Amount)>,
}

impl Unshown {
    /// A pass carried out deletions or slims that freed `amount`.
    pub fn freed(&mut self, amount: Amount) {
        self.freed_since.0 += amount.0;
        self.freed_since.1 += amount.1;
    }

    /// At a check: `free` as measured and `held` by the runs on the filesystem (after their
    /// passes). Returns what counts as coming free now.
    pub fn update(&mut self, now: Instant, free: Amount, held: Amount) -> Amount {
        let sum = (free.0.saturating_add(held.0), free.1.saturating_add(held.1));
        if let Some(last) = self.last {
            let lost = (
                last.0.saturating_sub(sum.0).min(self.freed_since.0),
                last.1.saturating_sub(sum.1).min(self.freed_since.1),
            );
            let shown = (sum.0.saturating_sub(last.0), sum.1.saturating_sub(last.1));
            self.pay_off(shown);
            if lost != (0, 0) {
                self.credits.push((now, lost));
            }
        }
        self.last = Some(sum);
        self.freed_since = (0, 0);
        self.credits
            .retain(|(at, _)| now.duration_since(*at) < HOLD);
        self.coming()
    }

    /// What counts as coming free.
    pub fn coming(&self) -> Amount {
        self.credits
            .iter()
            .fold((0, 0), |(b, i), (_, c)| (b + c.0, i + c.1))
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
        // 40 MiB deleted (4 inodes) and shown; the trainer saved 20 MiB (2 inodes) meanwhile.
        u.freed((40 * MIB, 4));
        assert_eq!(u.update(at(30), (120 * MIB, 52), (280 * MIB, 28)), (0, 0));
    }

    #[test]
    fn deleted_space_held_open_counts_as_coming_until_it_shows() {
        let mut u = Unshown::default();
        u.update(at(0), (100 * MIB, 50), (300 * MIB, 30));
        // 40 MiB deleted; a reader holds 30 of them: only 10 came back.
        u.freed((40 * MIB, 4));
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
    fn space_another_writer_takes_is_not_credited_beyond_what_was_deleted() {
        let mut u = Unshown::default();
        u.update(at(0), (100 * MIB, 50), (300 * MIB, 30));
        // A download takes 500 MiB while 10 MiB are deleted (and shown): at most the 10 MiB
        // deleted can be mistaken for held space.
        u.freed((10 * MIB, 1));
        assert_eq!(u.update(at(30), (0, 49), (290 * MIB, 29)), (10 * MIB, 1));
        // With nothing deleted, more space taken adds no credit.
        assert_eq!(u.update(at(60), (0, 40), (290 * MIB, 29)), (10 * MIB, 1));
    }

    #[test]
    fn credit_runs_out_after_the_hold() {
        let mut u = Unshown::default();
        u.update(at(0), (100 * MIB, 50), (300 * MIB, 30));
        u.freed((40 * MIB, 4));
        assert_eq!(
            u.update(at(30), (100 * MIB, 50), (260 * MIB, 26)),
            (40 * MIB, 4)
        );
        let later = 30 + HOLD.as_secs();
        assert_eq!(
            u.update(at(later), (100 * MIB, 50), (260 * MIB, 26)),
            (0, 0)
        );
    }
}
