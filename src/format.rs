//! How dates and durations are written on pages (always UTC, labelled).

use time::OffsetDateTime;
use time::macros::format_description;

/// "2026-11-27".
pub fn date(t: &OffsetDateTime) -> String {
    t.format(format_description!("[year]-[month]-[day]"))
        .unwrap_or_default()
}

/// "2026-11-27 21:09 UTC".
pub fn date_time(t: &OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(format_description!(
            "[year]-[month]-[day] [hour]:[minute] UTC"
        ))
        .unwrap_or_default()
}

/// "2026-11-27 21:09:03 UTC".
pub fn date_time_seconds(t: &OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(format_description!(
            "[year]-[month]-[day] [hour]:[minute]:[second] UTC"
        ))
        .unwrap_or_default()
}

/// "2026-11-27T21:09:03.123456Z", for machine-readable exports.
pub fn rfc3339(t: &OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// "in 6 days", "in 3 hours", "in 12 minutes" from `now`; "expired" in
/// the past.
pub fn time_until(t: &OffsetDateTime, now: OffsetDateTime) -> String {
    let left = *t - now;
    let plural = |n: i64, unit: &str| format!("in {n} {unit}{}", if n == 1 { "" } else { "s" });
    if left.is_negative() {
        "expired".into()
    } else if left.whole_days() >= 1 {
        plural(left.whole_days(), "day")
    } else if left.whole_hours() >= 1 {
        plural(left.whole_hours(), "hour")
    } else {
        plural(left.whole_minutes().max(1), "minute")
    }
}

/// "$1,234.56" from integer cents.
pub fn money(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let cents = cents.unsigned_abs();
    let dollars = (cents / 100).to_string();
    let mut grouped = String::new();
    for (i, c) in dollars.chars().enumerate() {
        if i > 0 && (dollars.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{sign}${grouped}.{:02}", cents % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_groups_thousands_and_keeps_cents() {
        assert_eq!(money(0), "$0.00");
        assert_eq!(money(12_345_678), "$123,456.78");
        assert_eq!(money(-1_05), "-$1.05");
        assert_eq!(money(100_000_000), "$1,000,000.00");
    }
}
