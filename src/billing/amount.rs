//! Dollar amounts typed into forms, parsed to integer cents without ever
//! going through a float.

/// Smallest and largest amount one *Add funds* may add: $1 and $10,000.
pub const MIN_FUNDS_CENTS: i64 = 100;
pub const MAX_FUNDS_CENTS: i64 = 1_000_000;

const FORMAT: &str = "Enter an amount in dollars, such as 25 or 25.50 (at most two decimals).";

/// Largest monthly budget or spend limit: $10,000,000.
pub const MAX_LIMIT_CENTS: i64 = 1_000_000_000;

/// "25", "25.5", "25.50", "$25.50" → 2550 cents, between the limits.
pub fn parse_funds(raw: &str) -> Result<i64, String> {
    if raw.trim().is_empty() {
        return Err("Enter the amount to add.".into());
    }
    parse_dollars(raw, MIN_FUNDS_CENTS, MAX_FUNDS_CENTS, "Add")
}

/// A monthly budget or spend limit: empty for none, else dollars from
/// $0.00 (nothing may be spent) to $10,000,000.00.
pub fn parse_limit(raw: &str) -> Result<Option<i64>, String> {
    if raw.trim().is_empty() {
        return Ok(None);
    }
    parse_dollars(raw, 0, MAX_LIMIT_CENTS, "Enter").map(Some)
}

/// Dollars with at most two decimals, digit by digit into cents, between
/// `min` and `max`; `verb` starts the range message ("Add at least …").
fn parse_dollars(raw: &str, min: i64, max: i64, verb: &str) -> Result<i64, String> {
    let text = raw.trim();
    let text = text.strip_prefix('$').unwrap_or(text);
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty()
        || !digits(whole)
        || !digits(fraction)
        || fraction.len() > 2
        || (text.contains('.') && fraction.is_empty())
    {
        return Err(FORMAT.into());
    }
    let range = || {
        format!(
            "{verb} at least {} and at most {}.",
            crate::format::money(min),
            crate::format::money(max)
        )
    };
    // Anything with more than 9 whole digits is over every limit anyway.
    let whole = whole.trim_start_matches('0');
    if whole.len() > 9 {
        return Err(range());
    }
    let dollars: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| FORMAT.to_string())?
    };
    let cents: i64 = match fraction.len() {
        0 => 0,
        1 => fraction.parse::<i64>().map_err(|_| FORMAT.to_string())? * 10,
        _ => fraction.parse().map_err(|_| FORMAT.to_string())?,
    };
    let total = dollars * 100 + cents;
    if !(min..=max).contains(&total) {
        return Err(range());
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dollars_become_exact_cents() {
        assert_eq!(parse_funds("1"), Ok(100));
        assert_eq!(parse_funds(" 25.5 "), Ok(2550));
        assert_eq!(parse_funds("$25.05"), Ok(2505));
        assert_eq!(parse_funds("0019.99"), Ok(1999));
        assert_eq!(parse_funds("10000"), Ok(1_000_000));
        assert_eq!(parse_funds("10000.00"), Ok(1_000_000));
        // 0.1 + 0.2 style float traps cannot happen.
        assert_eq!(parse_funds("4.35"), Ok(435));
    }

    #[test]
    fn bad_amounts_say_why() {
        for raw in [
            "abc", "1.234", "-5", "1e3", "1.", ".5", "1,000", "+5", "1 000", "1.2.3",
        ] {
            assert!(
                parse_funds(raw).unwrap_err().contains("Enter an amount"),
                "{raw}"
            );
        }
        for raw in ["0", "0.99", "10000.01", "99999999999999999999"] {
            assert!(parse_funds(raw).unwrap_err().contains("at least"), "{raw}");
        }
        assert_eq!(parse_funds("  "), Err("Enter the amount to add.".into()));
    }

    #[test]
    fn limits_may_be_empty_or_zero() {
        assert_eq!(parse_limit(""), Ok(None));
        assert_eq!(parse_limit(" 0 "), Ok(Some(0)));
        assert_eq!(parse_limit("$500"), Ok(Some(50_000)));
        assert_eq!(parse_limit("10000000"), Ok(Some(1_000_000_000)));
        assert!(
            parse_limit("10000000.01")
                .unwrap_err()
                .contains("Enter at least $0.00")
        );
        assert!(parse_limit("-1").unwrap_err().contains("Enter an amount"));
        assert!(
            parse_limit("99999999999999999999")
                .unwrap_err()
                .contains("at most")
        );
    }
}
