//! UTC calendar arithmetic for naming `keep_every` windows: civil dates and RFC 3339
//! times from days or seconds since the Unix epoch.
//!
//! Howard Hinnant's `civil_from_days` / `days_from_civil` (proleptic Gregorian, exact for any
//! i64 day a `SystemTime` can reach), so no date crate is needed for a dozen lines of integer
//! arithmetic. Our own formatting, not humantime's: humantime's RFC 3339 `Display` fails past
//! the year 9999, which `to_string` turns into a panic, and an mtime can be set that far.

use std::fmt::Write;

const SECS_PER_DAY: i64 = 86_400;

/// A day of the proleptic Gregorian calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Date {
    pub year: i64,
    /// 1 to 12.
    pub month: i64,
    /// 1 to 31.
    pub day: i64,
}

impl Date {
    /// The day `days` after 1970-01-01.
    pub fn from_days(days: i64) -> Date {
        // Shift to 0000-03-01 so that leap days fall at the end of each (March-based) year.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097); // day of the 400-year era, [0, 146096]
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365], from March 1
        let mp = (5 * doy + 2) / 153; // [0, 11], March = 0
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        Date { year, month, day }
    }

    /// Days from 1970-01-01 to this day (the inverse, to test `from_days`).
    #[cfg(test)]
    pub fn days(self) -> i64 {
        let year = self.year - i64::from(self.month <= 2);
        let era = year.div_euclid(400);
        let yoe = year.rem_euclid(400);
        let mp = (self.month + 9) % 12; // March = 0
        let doy = (153 * mp + 2) / 5 + self.day - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }
}

/// "2026-11-30".
pub fn date(days: i64) -> String {
    let d = Date::from_days(days);
    format!("{:04}-{:02}-{:02}", d.year, d.month, d.day)
}

/// "2026-11-30T12:00:00Z", with the fraction of a second when there is one.
pub fn rfc3339(secs: i64, nanos: u32) -> String {
    let days = secs.div_euclid(SECS_PER_DAY);
    let of_day = secs.rem_euclid(SECS_PER_DAY);
    let mut text = format!(
        "{}T{:02}:{:02}:{:02}",
        date(days),
        of_day / 3600,
        of_day / 60 % 60,
        of_day % 60
    );
    if nanos > 0 {
        let fraction = format!("{nanos:09}");
        let _ = write!(text, ".{}", fraction.trim_end_matches('0'));
    }
    text.push('Z');
    text
}

#[cfg(test)]
mod tests {
    use super::{date, rfc3339, Date};

    fn days(year: i64, month: i64, day: i64) -> i64 {
        Date { year, month, day }.days()
    }

    #[test]
    fn dates_round_trip_and_match_known_days() {
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(-1), "1969-12-31");
        assert_eq!(days(2000, 3, 1), 11_017);
        assert_eq!(date(20_422), "2025-11-30");
        assert_eq!(date(days(2024, 2, 29)), "2024-02-29");
        assert_eq!(days(2024, 3, 1) - days(2024, 2, 28), 2);
        assert_eq!(days(2100, 3, 1) - days(2100, 2, 28), 1);
        for d in (-800_000..800_000).step_by(97) {
            assert_eq!(Date::from_days(d).days(), d, "{d}");
        }
    }

    #[test]
    fn rfc3339_times_in_utc() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_796_040_000, 0), "2026-11-30T12:00:00Z");
        assert_eq!(rfc3339(86_399, 500_000_000), "1970-01-01T23:59:59.5Z");
        // Past the year 9999 (humantime's formatter gives up there).
        assert_eq!(rfc3339(253_402_300_800, 0), "10000-01-01T00:00:00Z");
        // The largest instant a SystemTime holds on Linux: no overflow.
        assert!(rfc3339(i64::MAX, 999_999_999).ends_with(":07.999999999Z"));
    }
}
