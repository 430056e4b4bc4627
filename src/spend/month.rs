//! Calendar months in UTC: what "this month" is for usage, limits and
//! alerts. A month is read by the injected clock (`Month::of(cx.now)`), so
//! tests move into the next month by moving the clock.

use time::{Date, OffsetDateTime, Time, UtcOffset};

/// A calendar month, held as its first day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month(Date);

impl Month {
    /// The UTC month `t` falls in.
    pub fn of(t: OffsetDateTime) -> Month {
        let date = t.to_offset(UtcOffset::UTC).date();
        Month(date.replace_day(1).unwrap_or(date))
    }

    /// The month whose first day is `date` (any day of it will do).
    pub fn from_date(date: Date) -> Month {
        Month(date.replace_day(1).unwrap_or(date))
    }

    /// Its first day, as stored in the `month` columns.
    pub fn first_day(self) -> Date {
        self.0
    }

    /// Midnight UTC of its first day.
    pub fn start(self) -> OffsetDateTime {
        self.0.with_time(Time::MIDNIGHT).assume_utc()
    }

    pub fn next(self) -> Month {
        let (year, month) = (self.0.year(), self.0.month());
        let year = if month == time::Month::December {
            year + 1
        } else {
            year
        };
        Month::from_date(Date::from_calendar_date(year, month.next(), 1).unwrap_or(self.0))
    }

    pub fn previous(self) -> Month {
        Month::from_date(self.0.previous_day().unwrap_or(self.0))
    }

    /// "2026-11", as URLs and audit details write it.
    pub fn param(self) -> String {
        format!("{:04}-{:02}", self.0.year(), u8::from(self.0.month()))
    }

    /// "November 2026".
    pub fn label(self) -> String {
        format!("{} {}", self.0.month(), self.0.year())
    }

    /// "December 1", the day the month after this one begins (when limits
    /// reset).
    pub fn next_start_label(self) -> String {
        let next = self.next().0;
        format!("{} 1", next.month())
    }

    /// "2026-11" → November 2026; years 1900 to 9999 only, like every date
    /// the console reads.
    pub fn parse(raw: &str) -> Option<Month> {
        let (year, month) = raw.trim().split_once('-')?;
        if year.len() != 4 || month.len() != 2 {
            return None;
        }
        if !year
            .bytes()
            .chain(month.bytes())
            .all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let year: i32 = year.parse().ok()?;
        let month: u8 = month.parse().ok()?;
        if !(1900..=9999).contains(&year) {
            return None;
        }
        let month = time::Month::try_from(month).ok()?;
        Date::from_calendar_date(year, month, 1).ok().map(Month)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    #[test]
    fn months_follow_the_utc_calendar() {
        let m = Month::of(datetime!(2026-12-31 23:59:59.999 UTC));
        assert_eq!(m.first_day(), date!(2026 - 12 - 01));
        assert_eq!(m.next().first_day(), date!(2027 - 01 - 01));
        assert_eq!(m.previous().first_day(), date!(2026 - 11 - 01));
        assert_eq!(m.start(), datetime!(2026-12-01 00:00 UTC));
        // Another offset is read in UTC.
        let m = Month::of(datetime!(2026-12-01 00:30 +01:00));
        assert_eq!(m.param(), "2026-11");
        assert_eq!(m.label(), "November 2026");
        assert_eq!(m.next_start_label(), "December 1");
    }

    #[test]
    fn only_whole_months_parse() {
        assert_eq!(
            Month::parse("2026-02").map(Month::param),
            Some("2026-02".into())
        );
        for bad in [
            "2026-13",
            "2026-00",
            "2026-2",
            "26-02",
            "x",
            "",
            "-300-01",
            "0999-01",
            "2026-02-01",
            "+026-02",
        ] {
            assert_eq!(Month::parse(bad), None, "{bad}");
        }
    }
}
