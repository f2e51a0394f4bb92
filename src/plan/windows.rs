//! `keep_every`'s time windows: which window a completion time falls in, and how a detail
//! names it.
//!
//! Windows are aligned to the Unix epoch in UTC (DESIGN), so a restart, another node or a
//! rescan cuts time the same way, and `"1d"` is a UTC day. Weeks (`"7d"`) therefore run from
//! Thursday to Wednesday (1970-01-01 was a Thursday), as they did in 0.1: aligning them to ISO
//! weeks would unkeep, on upgrade, a weekly checkpoint 0.1 kept whenever two of them fall in
//! one ISO week. Their names say the dates they cover.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::calendar;

const DAY: Duration = Duration::from_hours(24);
const WEEK: Duration = Duration::from_hours(168);
const NANOS_PER_SEC: i128 = 1_000_000_000;
const NANOS_PER_DAY: i128 = 86_400 * NANOS_PER_SEC;

/// One `keep_every` entry's way of cutting time.
pub(super) struct Windows {
    length: Duration,
    length_nanos: u128,
}

impl Windows {
    pub fn new(length: Duration) -> Self {
        Windows {
            length,
            // Config refuses a zero window; never divide by zero anyway.
            length_nanos: length.as_nanos().max(1),
        }
    }

    /// The window holding `t`, numbered from the first window at or before the epoch. A time
    /// before the epoch (no trainer writes one) counts as the epoch.
    pub fn slot(&self, t: SystemTime) -> u128 {
        let since = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos();
        since / self.length_nanos
    }

    /// "day 2026-11-30", "week 2026-11-26..2026-12-02", "the 6h window from
    /// 2026-11-30T12:00:00Z".
    pub fn name(&self, slot: u128) -> String {
        // A slot comes from a SystemTime (at most i64::MAX seconds), so its start fits in
        // i128 nanoseconds and in i64 seconds; the fallbacks are never taken.
        let start = i128::try_from(slot.saturating_mul(self.length_nanos)).unwrap_or(i128::MAX);
        let days = i64::try_from(start.div_euclid(NANOS_PER_DAY)).unwrap_or(i64::MAX);
        if self.length == DAY {
            return format!("day {}", calendar::date(days));
        }
        if self.length == WEEK {
            return format!(
                "week {}..{}",
                calendar::date(days),
                calendar::date(days.saturating_add(6))
            );
        }
        let secs = i64::try_from(start.div_euclid(NANOS_PER_SEC)).unwrap_or(i64::MAX);
        let nanos = u32::try_from(start.rem_euclid(NANOS_PER_SEC)).unwrap_or(0);
        format!(
            "the {} window from {}",
            humantime::format_duration(self.length),
            calendar::rfc3339(secs, nanos)
        )
    }

    /// The rule's window as configured: "1d", "6h".
    pub fn name_of_rule(&self) -> String {
        humantime::format_duration(self.length).to_string()
    }

    /// What several windows are called: "days", "weeks", "6h windows".
    pub fn plural(&self) -> String {
        if self.length == DAY {
            "days".to_owned()
        } else if self.length == WEEK {
            "weeks".to_owned()
        } else {
            format!("{} windows", humantime::format_duration(self.length))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use super::Windows;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn name_of(length_secs: u64, t: SystemTime) -> String {
        let w = Windows::new(Duration::from_secs(length_secs));
        w.name(w.slot(t))
    }

    /// 2026-11-30T00:00:00Z, a Monday.
    const MONDAY: u64 = 1_795_996_800;

    #[test]
    fn days_are_utc_dates() {
        assert_eq!(name_of(86_400, at(MONDAY)), "day 2026-11-30");
        assert_eq!(name_of(86_400, at(MONDAY + 86_399)), "day 2026-11-30");
        assert_eq!(name_of(86_400, at(MONDAY + 86_400)), "day 2026-12-01");
        assert_eq!(name_of(86_400, at(MONDAY - 1)), "day 2026-11-29");
    }

    #[test]
    fn seven_day_windows_run_thursday_to_wednesday_and_are_named_by_their_dates() {
        let week = Windows::new(Duration::from_hours(168));
        // Thursday 2026-11-26 00:00 opens the window holding Monday 2026-11-30.
        let thursday = MONDAY - 4 * 86_400;
        assert_eq!(week.slot(at(thursday)), week.slot(at(MONDAY)));
        assert_eq!(
            week.slot(at(thursday)),
            week.slot(at(thursday + 7 * 86_400 - 1))
        );
        assert_ne!(week.slot(at(thursday)), week.slot(at(thursday - 1)));
        assert_eq!(
            name_of(7 * 86_400, at(MONDAY)),
            "week 2026-11-26..2026-12-02"
        );
        // Across a year's end.
        assert_eq!(
            name_of(7 * 86_400, at(MONDAY + 28 * 86_400)),
            "week 2026-12-24..2026-12-30"
        );
        assert_eq!(
            name_of(7 * 86_400, at(MONDAY + 31 * 86_400)),
            "week 2026-12-31..2027-01-06"
        );
        assert_eq!(week.slot(UNIX_EPOCH), 0);
        assert_eq!(
            name_of(7 * 86_400, UNIX_EPOCH),
            "week 1970-01-01..1970-01-07"
        );
    }

    #[test]
    fn other_lengths_are_epoch_aligned_and_named_by_their_start() {
        assert_eq!(
            name_of(6 * 3600, at(MONDAY + 13 * 3600)),
            "the 6h window from 2026-11-30T12:00:00Z"
        );
        // Two weeks stay epoch-aligned: they start on a Thursday.
        assert_eq!(
            name_of(14 * 86_400, at(MONDAY)),
            "the 14days window from 2026-11-19T00:00:00Z"
        );
        let half = Windows::new(Duration::from_millis(1500));
        assert_eq!(
            half.name(half.slot(at(1))),
            "the 1s 500ms window from 1970-01-01T00:00:00Z"
        );
        assert_eq!(
            half.name(half.slot(at(2))),
            "the 1s 500ms window from 1970-01-01T00:00:01.5Z"
        );
        assert_eq!(half.plural(), "1s 500ms windows");
    }

    #[test]
    fn the_far_future_neither_overflows_nor_panics() {
        let far = UNIX_EPOCH + Duration::new(i64::MAX.unsigned_abs(), 999_999_999);
        for length in [1, 86_400, 7 * 86_400, 100 * 365 * 86_400] {
            let w = Windows::new(Duration::from_secs(length));
            assert!(!w.name(w.slot(far)).is_empty());
        }
    }
}
