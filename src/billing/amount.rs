//! Dollar amounts typed into forms, parsed to integer cents without ever
//! going through a float.

/// Smallest and largest amount one *Add funds* may add: $1 and $10,000.
pub const MIN_FUNDS_CENTS: i64 = 100;
pub const MAX_FUNDS_CENTS: i64 = 1_000_000;

const FORMAT: &str = "Enter an amount in dollars, such as 25 or 25.50 (at most two decimals).";

/// "25", "25.5", "25.50", "$25.50" → 2550 cents, between the limits.
pub fn parse_funds(raw: &str) -> Result<i64, String> {
    let text = raw.trim();
    let text = text.strip_prefix('$').unwrap_or(text);
    if text.is_empty() {
        return Err("Enter the amount to add.".into());
    }
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
            "Add at least {} and at most {}.",
            crate::format::money(MIN_FUNDS_CENTS),
            crate::format::money(MAX_FUNDS_CENTS)
        )
    };
    // Anything with more than 7 whole digits is over the limit anyway.
    let whole = whole.trim_start_matches('0');
    if whole.len() > 7 {
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
    if !(MIN_FUNDS_CENTS..=MAX_FUNDS_CENTS).contains(&total) {
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
}
