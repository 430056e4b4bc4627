//! Billing: an account's balance and billing email, and the transactions
//! that move the balance (funds added, Pod usage charged). Every
//! transaction row updates `accounts.balance_cents` and writes its audit
//! entry in the caller's database transaction. Money is integer cents.

pub mod amount;
pub mod history;
pub mod pages;

use std::collections::{BTreeMap, HashMap};

use diesel::prelude::*;
use uuid::Uuid;

use crate::audit::{Action, Change};
use crate::db::schema::{accounts, billing_transactions};
use crate::ids::{AccountId, PodId};

/// What the billing core refuses.
#[derive(Debug, thiserror::Error)]
pub enum BillingError {
    #[error("the amount is not positive")]
    NotPositive,
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
}

crate::core_error!(BillingError);

pub const FUNDS_ADDED: &str = "funds_added";
pub const USAGE_CHARGED: &str = "usage_charged";

/// Usage cost of `seconds` of running at `hourly_price_cents`: charged per
/// second, the total rounded up to the next cent.
pub fn usage_cents(seconds: i64, hourly_price_cents: i64) -> i64 {
    let seconds = i128::from(seconds.max(0));
    let cents = (seconds * i128::from(hourly_price_cents) + 3599) / 3600;
    i64::try_from(cents).unwrap_or(i64::MAX)
}

/// What a run of `run_seconds` charges on a Pod that has run
/// `seconds_before` and been charged `charged_before` cents: the Pod's
/// whole running time is rounded up to the cent once, and each stop
/// charges what that adds to the charges so far. The fraction of a cent a
/// run leaves is carried on the Pod (its running time and its charges), so
/// twelve one-second runs at $2.99/h charge one cent, not twelve.
pub fn run_charge_cents(
    seconds_before: i64,
    charged_before: i64,
    run_seconds: i64,
    hourly_price_cents: i64,
) -> i64 {
    let total = usage_cents(
        seconds_before.saturating_add(run_seconds.max(0)),
        hourly_price_cents,
    );
    (total - charged_before).max(0)
}

pub fn balance(conn: &mut PgConnection, account_id: AccountId) -> QueryResult<i64> {
    accounts::table
        .find(account_id)
        .select(accounts::balance_cents)
        .first(conn)
}

/// A row of `billing_transactions` to append.
struct NewTransaction<'a> {
    kind: &'a str,
    amount_cents: i64,
    description: &'a str,
    pod_id: Option<PodId>,
}

/// Appends a transaction and moves the balance by its amount (one UPDATE:
/// concurrent transactions of an account serialise on its row). Returns
/// the new balance.
fn append(conn: &mut PgConnection, cx: &Change, tx: NewTransaction<'_>) -> QueryResult<i64> {
    diesel::insert_into(billing_transactions::table)
        .values((
            billing_transactions::id.eq(Uuid::new_v4()),
            billing_transactions::account_id.eq(cx.account_id),
            billing_transactions::kind.eq(tx.kind),
            billing_transactions::amount_cents.eq(tx.amount_cents),
            billing_transactions::description.eq(tx.description),
            billing_transactions::pod_id.eq(tx.pod_id),
            billing_transactions::created_by.eq(cx.actor.id),
            billing_transactions::created_at.eq(cx.now),
        ))
        .execute(conn)?;
    diesel::update(accounts::table.find(cx.account_id))
        .set(accounts::balance_cents.eq(accounts::balance_cents + tx.amount_cents))
        .returning(accounts::balance_cents)
        .get_result(conn)
}

/// Adds funds (a simulated payment). Returns the new balance.
pub fn add_funds(
    conn: &mut PgConnection,
    cx: &Change,
    amount_cents: i64,
) -> Result<i64, BillingError> {
    if amount_cents <= 0 {
        return Err(BillingError::NotPositive);
    }
    conn.transaction(|conn| {
        let tx = NewTransaction {
            kind: FUNDS_ADDED,
            amount_cents,
            description: "Funds added (simulated card payment)",
            pod_id: None,
        };
        let balance = append(conn, cx, tx)?;
        cx.record(
            conn,
            Action::BillingFundsAdded {
                account: cx.account_id,
                amount_cents,
                balance_cents: balance,
            },
        )?;
        Ok(balance)
    })
}

/// A Pod's usage to charge, computed by the caller.
pub struct Usage<'a> {
    /// The account the Pod belongs to (and is charged).
    pub account_id: AccountId,
    pub pod_id: PodId,
    pub pod_name: &'a str,
    pub description: &'a str,
    pub seconds: i64,
    pub amount_cents: i64,
}

/// Charges the usage of runs that end, in one set of statements however
/// many: a `usage_charged` transaction per positive amount, and each
/// account's balance moved once by their sum (one UPDATE: concurrent
/// charges of an account serialise on its row). Must run inside the
/// transaction that stops or terminates the Pods, so usage is charged
/// exactly when the state changes. Returns, for each usage in order, its
/// `billing.usage_charged` entry with the balance after it (None for a zero
/// amount, which writes nothing), for the caller to record with its own
/// entries in that transaction.
pub fn charge_usages(
    conn: &mut PgConnection,
    cx: &Change,
    usages: &[Usage<'_>],
) -> QueryResult<Vec<Option<Action>>> {
    let charged: Vec<&Usage<'_>> = usages.iter().filter(|u| u.amount_cents > 0).collect();
    if charged.is_empty() {
        return Ok(vec![None; usages.len()]);
    }
    let rows: Vec<_> = charged
        .iter()
        .map(|u| {
            (
                billing_transactions::id.eq(Uuid::new_v4()),
                billing_transactions::account_id.eq(u.account_id),
                billing_transactions::kind.eq(USAGE_CHARGED),
                billing_transactions::amount_cents.eq(-u.amount_cents),
                billing_transactions::description.eq(u.description),
                billing_transactions::pod_id.eq(Some(u.pod_id)),
                billing_transactions::created_by.eq(cx.actor.id),
                billing_transactions::created_at.eq(cx.now),
            )
        })
        .collect();
    diesel::insert_into(billing_transactions::table)
        .values(rows)
        .execute(conn)?;
    let mut totals: BTreeMap<AccountId, i64> = BTreeMap::new();
    for u in &charged {
        *totals.entry(u.account_id).or_default() += u.amount_cents;
    }
    // Each account's balance before these charges; then, charge by charge,
    // the balance after it.
    let mut balances: HashMap<AccountId, i64> = HashMap::new();
    for (account, total) in totals {
        let after: i64 = diesel::update(accounts::table.find(account))
            .set(accounts::balance_cents.eq(accounts::balance_cents - total))
            .returning(accounts::balance_cents)
            .get_result(conn)?;
        balances.insert(account, after + total);
    }
    Ok(usages
        .iter()
        .map(|u| {
            if u.amount_cents <= 0 {
                return None;
            }
            let balance = balances.entry(u.account_id).or_default();
            *balance -= u.amount_cents;
            Some(Action::BillingUsageCharged {
                account: u.account_id,
                pod_id: u.pod_id,
                pod_name: u.pod_name.to_string(),
                running_seconds: u.seconds,
                amount_cents: -u.amount_cents,
                balance_cents: *balance,
            })
        })
        .collect())
}

/// Sets (or, with `None`, clears) the billing email. Returns false when
/// it was already that.
pub fn change_email(
    conn: &mut PgConnection,
    cx: &Change,
    email: Option<&str>,
) -> QueryResult<bool> {
    conn.transaction(|conn| {
        let old: Option<String> = accounts::table
            .find(cx.account_id)
            .select(accounts::billing_email)
            .for_update()
            .first(conn)?;
        if old.as_deref() == email {
            return Ok(false);
        }
        diesel::update(accounts::table.find(cx.account_id))
            .set(accounts::billing_email.eq(email))
            .execute(conn)?;
        cx.record(
            conn,
            Action::BillingEmailChanged {
                account: cx.account_id,
                old_email: old,
                new_email: email.map(str::to_string),
            },
        )?;
        Ok(true)
    })
}

#[cfg(test)]
mod tests {
    use super::{run_charge_cents, usage_cents};

    #[test]
    fn fractions_of_a_cent_carry_over_to_the_next_run() {
        let (mut seconds, mut charged) = (0, 0);
        let mut charges = Vec::new();
        for _ in 0..12 {
            let cents = run_charge_cents(seconds, charged, 1, 299);
            seconds += 1;
            charged += cents;
            charges.push(cents);
        }
        assert_eq!(charges.iter().sum::<i64>(), 1, "{charges:?}");
        assert_eq!(run_charge_cents(12, 1, 3600, 299), 299);
    }

    #[test]
    fn usage_is_per_second_rounded_up_to_the_cent() {
        assert_eq!(usage_cents(0, 299), 0);
        assert_eq!(usage_cents(1, 299), 1);
        assert_eq!(usage_cents(3600, 299), 299);
        assert_eq!(usage_cents(5400, 299), 449); // 448.5 rounds up
        assert_eq!(usage_cents(5400, 598), 897);
        assert_eq!(usage_cents(-5, 299), 0);
    }
}
