//! Alerts at 50 %, 80 % and 100 % of a limit, at most once per limit,
//! threshold and month (the table's unique key decides, so two sweeps can
//! never raise one twice). Raising one writes its audit entry, by the
//! console itself; the pages show this month's as banners.

use diesel::prelude::*;
use time::OffsetDateTime;

use crate::audit::{Action, Change, SpendLimitKind};
use crate::db::schema::{spend_alerts, users};
use crate::ids::{AccountId, UserId};
use crate::spend::month::Month;

pub const THRESHOLDS: [i32; 3] = [50, 80, 100];

/// The thresholds `used_cents` has reached of `limit_cents`. Nothing is
/// reached before anything is used, whatever the limit.
pub fn reached(used_cents: i64, limit_cents: i64) -> impl Iterator<Item = i32> {
    THRESHOLDS.into_iter().filter(move |t| {
        used_cents > 0 && i128::from(used_cents) * 100 >= i128::from(*t) * i128::from(limit_cents)
    })
}

/// One alert to raise.
pub struct NewAlert {
    pub account_id: AccountId,
    /// None: the team's budget.
    pub member: Option<(UserId, String)>,
    pub threshold: i32,
    pub used_cents: i64,
    pub limit_cents: i64,
    pub month: Month,
}

/// Raises each of `alerts` that was not raised this month (by the console
/// itself, at `now`), with its audit entry, in two statements however
/// many; returns how many were raised.
pub fn raise_all(
    conn: &mut PgConnection,
    alerts: &[NewAlert],
    now: OffsetDateTime,
) -> QueryResult<usize> {
    if alerts.is_empty() {
        return Ok(0);
    }
    let rows: Vec<_> = alerts
        .iter()
        .map(|a| {
            (
                spend_alerts::month.eq(a.month.first_day()),
                spend_alerts::account_id.eq(a.account_id),
                spend_alerts::user_id.eq(a.member.as_ref().map(|m| m.0)),
                spend_alerts::threshold.eq(a.threshold),
                spend_alerts::used_cents.eq(a.used_cents),
                spend_alerts::limit_cents.eq(a.limit_cents),
                spend_alerts::raised_at.eq(now),
            )
        })
        .collect();
    let raised: Vec<(AccountId, Option<UserId>, i32)> = diesel::insert_into(spend_alerts::table)
        .values(rows)
        .on_conflict_do_nothing()
        .returning((
            spend_alerts::account_id,
            spend_alerts::user_id,
            spend_alerts::threshold,
        ))
        .get_results(conn)?;
    let entries: Vec<(AccountId, Action)> = alerts
        .iter()
        .filter(|a| raised.contains(&(a.account_id, a.member.as_ref().map(|m| m.0), a.threshold)))
        .map(|a| {
            let action = Action::SpendAlertRaised {
                account: a.account_id,
                member: a.member.as_ref().map(|m| m.0),
                limit: match a.member {
                    Some(_) => SpendLimitKind::MemberLimit,
                    None => SpendLimitKind::TeamBudget,
                },
                name: a.member.as_ref().map(|m| m.1.clone()),
                threshold: a.threshold,
                used_cents: a.used_cents,
                limit_cents: a.limit_cents,
                month: a.month.param(),
            };
            (a.account_id, action)
        })
        .collect();
    let count = entries.len();
    // The entries' account is each alert's; the system's change is only
    // their actor and time.
    if let Some((account, _)) = entries.first() {
        Change::system(*account, now).record_all(conn, entries)?;
    }
    Ok(count)
}

/// The highest alert of a limit this month, as banners show it.
#[derive(Debug, Clone)]
pub struct Alert {
    /// None: the team's budget.
    pub member: Option<UserId>,
    pub name: Option<String>,
    pub threshold: i32,
    pub used_cents: i64,
    pub limit_cents: i64,
}

/// This month's alerts of the account, the highest per limit, the team's
/// budget first.
pub fn this_month(
    conn: &mut PgConnection,
    account_id: AccountId,
    month: Month,
) -> QueryResult<Vec<Alert>> {
    type Row = (Option<UserId>, Option<String>, i32, i64, i64);
    let rows: Vec<Row> = spend_alerts::table
        .left_join(users::table)
        .filter(spend_alerts::month.eq(month.first_day()))
        .filter(spend_alerts::account_id.eq(account_id))
        .order((
            spend_alerts::user_id.asc().nulls_first(),
            spend_alerts::threshold.desc(),
        ))
        .select((
            spend_alerts::user_id,
            users::display_name.nullable(),
            spend_alerts::threshold,
            spend_alerts::used_cents,
            spend_alerts::limit_cents,
        ))
        .load(conn)?;
    let mut alerts: Vec<Alert> = Vec::new();
    for (member, name, threshold, used_cents, limit_cents) in rows {
        if alerts.last().is_some_and(|a| a.member == member) {
            continue;
        }
        alerts.push(Alert {
            member,
            name,
            threshold,
            used_cents,
            limit_cents,
        });
    }
    Ok(alerts)
}

/// An alert as a banner: its sentence, and whether it reports a limit
/// used up (100 %).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Banner {
    pub text: String,
    pub reached: bool,
}

/// This month's alerts as `viewer` sees them: their own and the team's
/// budget, and everyone's when they manage spend (`sees_everyone`). Money
/// only when they may see billing (`money_shown`); otherwise shares.
pub fn banners(
    alerts: &[Alert],
    viewer: UserId,
    sees_everyone: bool,
    money_shown: bool,
    month: Month,
) -> Vec<Banner> {
    use crate::format::money;
    let until = month.next_start_label();
    let mut out = Vec::new();
    for alert in alerts {
        let reached = alert.threshold >= 100;
        let figures = if money_shown {
            format!(
                " ({} of {})",
                money(alert.used_cents),
                money(alert.limit_cents)
            )
        } else {
            String::new()
        };
        let text = match alert.member {
            None if reached => format!(
                "The team has used its monthly budget{figures}: no one can start or create Pods until {until} unless a Billing member or an Admin raises it, and running Pods were stopped."
            ),
            None => format!(
                "The team has used {} % of its monthly budget{figures}.",
                alert.threshold
            ),
            Some(member) if member == viewer && reached => format!(
                "You have used your monthly spend limit{figures}: you cannot start or create Pods until {until} unless a Billing member or an Admin raises it, and your running Pods were stopped."
            ),
            Some(member) if member == viewer => format!(
                "You have used {} % of your monthly spend limit{figures}.",
                alert.threshold
            ),
            Some(_) if !sees_everyone => continue,
            Some(_) => {
                let name = alert.name.as_deref().unwrap_or("A former member");
                if reached {
                    format!(
                        "{name} has used their monthly spend limit{figures}: they cannot start or create Pods until {until} unless it is raised, and their running Pods were stopped."
                    )
                } else {
                    format!(
                        "{name} has used {} % of their monthly spend limit{figures}.",
                        alert.threshold
                    )
                }
            }
        };
        out.push(Banner { text, reached });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_are_reached_at_their_share_exactly() {
        let got = |used, limit| reached(used, limit).collect::<Vec<_>>();
        assert_eq!(got(0, 50_000), Vec::<i32>::new());
        assert_eq!(got(24_999, 50_000), Vec::<i32>::new());
        assert_eq!(got(25_000, 50_000), [50]);
        assert_eq!(got(40_000, 50_000), [50, 80]);
        assert_eq!(got(50_000, 50_000), [50, 80, 100]);
        assert_eq!(got(1, 0), [50, 80, 100]);
        assert_eq!(got(0, 0), Vec::<i32>::new());
    }
}
