//! Spend controls (SPEC §10): usage by member and Pod per calendar month,
//! the team's monthly budget, monthly limits per role and per member, GPU
//! quotas, the alerts at 50, 80 and 100 %, and the sweep that stops Pods
//! once a limit is used up or the balance is gone.

pub mod alerts;
pub mod guard;
pub mod limits;
pub mod month;
pub mod overview;
pub mod pages;
pub mod quotas;
pub mod sweep;
pub mod usage;

use diesel::prelude::*;

use crate::db::schema::accounts;
use crate::ids::AccountId;

pub use guard::Block;
pub use month::Month;
pub use overview::{Overview, overview};
pub use sweep::{SweepReport, sweep};
pub use usage::Totals;

/// Serialises what must see an account's spend settings, usage and
/// running Pods still: setting limits and quotas, and starting Pods
/// (held until commit). FOR NO KEY UPDATE: rows that only reference the
/// account (charges, Pods) are not held up.
pub fn lock_account(conn: &mut PgConnection, account_id: AccountId) -> QueryResult<i64> {
    accounts::table
        .find(account_id)
        .select(accounts::balance_cents)
        .for_no_key_update()
        .first(conn)
}
