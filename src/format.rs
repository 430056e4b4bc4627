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
    } else if left >= time::Duration::hours(23) + time::Duration::minutes(30) {
        // Rounded as a person would: a 7-day link created a moment ago
        // expires "in 7 days", not "in 6 days".
        plural((left.whole_seconds() + 43_200) / 86_400, "day")
    } else if left >= time::Duration::minutes(59) {
        plural(((left.whole_seconds() + 1_800) / 3_600).max(1), "hour")
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

/// "12.5" GPU-hours from GPU-seconds, to the tenth ("< 0.1" for a
/// little); integer arithmetic, as for money.
pub fn gpu_hours(gpu_seconds: i64) -> String {
    let tenths = (gpu_seconds.max(0) + 180) / 360;
    if tenths == 0 && gpu_seconds > 0 {
        return "< 0.1".into();
    }
    let whole = (tenths / 10).to_string();
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{grouped}.{}", tenths % 10)
}

/// The share of `limit` that `used` is, in whole percent, rounded down
/// (a limit of 0 is all used).
pub fn percent(used: i64, limit: i64) -> i64 {
    if limit <= 0 {
        return 100;
    }
    i64::try_from(i128::from(used.max(0)) * 100 / i128::from(limit)).unwrap_or(i64::MAX)
}

/// "Alice", "Alice or Bob", "Alice, Bob or Carol".
pub fn either(names: &[String]) -> String {
    match names {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

/// "1 h 30 min", "2 d 4 h", "45 s".
pub fn duration(seconds: i64) -> String {
    let (d, h, m, s) = (
        seconds / 86_400,
        seconds % 86_400 / 3_600,
        seconds % 3_600 / 60,
        seconds % 60,
    );
    match (d, h, m) {
        (0, 0, 0) => format!("{s} s"),
        (0, 0, _) => format!("{m} min {s} s"),
        (0, _, _) => format!("{h} h {m} min"),
        _ => format!("{d} d {h} h"),
    }
}

/// "just now", "5 min ago", "3 h ago", "2 d ago": how long before `now`.
pub fn time_ago(t: &OffsetDateTime, now: OffsetDateTime) -> String {
    let seconds = (now - *t).whole_seconds();
    match seconds {
        s if s < 60 => "just now".into(),
        s if s < 3_600 => format!("{} min ago", s / 60),
        s if s < 86_400 => format!("{} h ago", s / 3_600),
        s => format!("{} d ago", s / 86_400),
    }
}

/// "Chrome on macOS", "Firefox on Linux", "curl": enough of a user agent
/// to recognise a device (the whole string is kept in the entry).
pub fn short_user_agent(agent: &str) -> String {
    let browser = [
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
    ]
    .into_iter()
    .find(|(token, _)| agent.contains(token))
    .map(|(_, name)| name.to_string())
    .unwrap_or_else(|| {
        let product = agent.split(['/', ' ']).next().unwrap_or_default();
        product.chars().take(24).collect()
    });
    let system = [
        ("iPhone", "iOS"),
        ("iPad", "iPadOS"),
        ("Android", "Android"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("CrOS", "ChromeOS"),
        ("Linux", "Linux"),
    ]
    .into_iter()
    .find(|(token, _)| agent.contains(token));
    match system {
        Some((_, system)) => format!("{browser} on {system}"),
        None => browser,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(0), "0 s");
        assert_eq!(duration(75), "1 min 15 s");
        assert_eq!(duration(5400), "1 h 30 min");
        assert_eq!(duration(93_600), "1 d 2 h");
    }

    #[test]
    fn user_agents_shorten_to_browser_and_system() {
        let chrome_mac = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36";
        assert_eq!(short_user_agent(chrome_mac), "Chrome on macOS");
        let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
        assert_eq!(short_user_agent(firefox), "Firefox on Linux");
        assert_eq!(short_user_agent("curl/8.5.0"), "curl");
        let safari_ios = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1";
        assert_eq!(short_user_agent(safari_ios), "Safari on iOS");
    }

    #[test]
    fn times_ago_read_naturally() {
        let now = time::macros::datetime!(2026-11-29 12:00 UTC);
        assert_eq!(time_ago(&now, now), "just now");
        assert_eq!(
            time_ago(&(now - time::Duration::minutes(5)), now),
            "5 min ago"
        );
        assert_eq!(time_ago(&(now - time::Duration::hours(3)), now), "3 h ago");
        assert_eq!(time_ago(&(now - time::Duration::days(2)), now), "2 d ago");
    }

    #[test]
    fn gpu_hours_and_shares_read_naturally() {
        assert_eq!(gpu_hours(0), "0.0");
        assert_eq!(gpu_hours(10), "< 0.1");
        assert_eq!(gpu_hours(3600), "1.0");
        assert_eq!(gpu_hours(5400 * 2), "3.0");
        assert_eq!(gpu_hours(3600 * 1234 + 1800), "1,234.5");
        assert_eq!(percent(40_000, 50_000), 80);
        assert_eq!(percent(51_240, 50_000), 102);
        assert_eq!(percent(0, 0), 100);
        assert_eq!(either(&["A".into(), "B".into(), "C".into()]), "A, B or C");
    }

    #[test]
    fn money_groups_thousands_and_keeps_cents() {
        assert_eq!(money(0), "$0.00");
        assert_eq!(money(12_345_678), "$123,456.78");
        assert_eq!(money(-1_05), "-$1.05");
        assert_eq!(money(100_000_000), "$1,000,000.00");
    }
}
