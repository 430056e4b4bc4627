//! Retention (issue 17): entries older than the operator's setting
//! (AUDIT_RETENTION_DAYS, 400 days unless set, never under 90) expire.
//! Each chain loses its start, up to its first entry written at or after
//! the cutoff, in one transaction that seals the chain with a checkpoint
//! first and ends by recording the expiry in the chain with the link its
//! first kept entry continues from, so `audit verify` still checks what
//! is kept and tells an expiry from entries removed at the start
//! (docs/audit-integrity.md).

use diesel::prelude::*;
use ed25519_dalek::SigningKey;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::audit::chain::{self, GENESIS, chain_key, hex, timestamp};
use crate::audit::query::EntryRow;
use crate::audit::{Action, ActionKind, Origin};
use crate::db::schema::{audit_chains, audit_entries as a};
use crate::ids::AccountId;

/// How long entries are kept unless the operator says otherwise.
pub const DEFAULT_DAYS: u32 = 400;
/// The shortest retention the console accepts; migration 000120's
/// `audit_expire` refuses to remove anything younger, whatever it is asked.
pub const MIN_DAYS: u32 = 90;

diesel::define_sql_function! {
    /// Migration 000120: removes the chain's entries before `first_kept`
    /// (as the tables' owner), refusing if any is younger than 90 days.
    /// Returns how many it removed.
    fn audit_expire(chain: diesel::sql_types::Uuid, first_kept: diesel::sql_types::BigInt) -> diesel::sql_types::BigInt;
}

/// Expires, in every chain, the entries written more than `days` days
/// before `now`. Returns how many entries expired.
pub fn expire_all(
    conn: &mut PgConnection,
    key: &SigningKey,
    days: u32,
    now: OffsetDateTime,
) -> QueryResult<i64> {
    let mut removed = 0;
    for account in chain::chains(conn)? {
        removed += expire(conn, account, key, days, now)?;
    }
    Ok(removed)
}

/// The chain's entries, boxed, for the queries below.
fn of_chain<'a>(account: Option<AccountId>) -> a::BoxedQuery<'a, diesel::pg::Pg> {
    match account {
        Some(id) => a::table.filter(a::account_id.eq(id)).into_boxed(),
        None => a::table.filter(a::account_id.is_null()).into_boxed(),
    }
}

/// Expires the start of one chain (`account`'s, or None: what belongs to
/// no account). Returns how many entries expired.
pub fn expire(
    conn: &mut PgConnection,
    account: Option<AccountId>,
    key: &SigningKey,
    days: u32,
    now: OffsetDateTime,
) -> QueryResult<i64> {
    let before = now - Duration::days(days.into());
    let chain: Uuid = chain_key(account);
    let anything_older = |conn: &mut PgConnection| -> QueryResult<bool> {
        let oldest: Option<i64> = of_chain(account)
            .filter(a::occurred_at.lt(before))
            .select(a::id)
            .first(conn)
            .optional()?;
        Ok(oldest.is_some())
    };
    // The head's hash, locked until the commit: the chain's writers, and
    // another console expiring it too, wait; that one then finds nothing
    // left to do.
    let head = |conn: &mut PgConnection| -> QueryResult<Vec<u8>> {
        audit_chains::table
            .find(chain)
            .select(audit_chains::last_hash)
            .for_update()
            .first(conn)
    };
    conn.transaction(|conn| {
        if !anything_older(conn)? {
            return Ok(0);
        }
        head(conn)?;
        if !anything_older(conn)? {
            return Ok(0);
        }
        // Everything written so far is sealed before any of it goes.
        chain::checkpoint(conn, account, key, now)?;
        let last_hash = head(conn)?;
        let first_kept: Option<(i64, Option<Vec<u8>>)> = of_chain(account)
            .filter(a::occurred_at.ge(before))
            .order(a::id.asc())
            .select((a::id, a::prev_hash))
            .first(conn)
            .optional()?;
        // With nothing written since the cutoff, all of it goes, and the
        // expiry record below is the chain's first entry.
        let (first_kept, link) = match first_kept {
            Some((id, prev)) => (id, prev.unwrap_or(GENESIS.to_vec())),
            None => (i64::MAX, last_hash),
        };
        let removing: i64 = of_chain(account)
            .filter(a::id.lt(first_kept).and(a::hash.is_not_null()))
            .count()
            .get_result(conn)?;
        // The first kept entry's place: what earlier expiries removed
        // (the latest record says) and what goes now.
        let earlier = of_chain(account)
            .filter(a::action.eq(ActionKind::AuditExpired.name()))
            .order(a::id.desc())
            .select(EntryRow::as_select())
            .first(conn)
            .optional()?
            .and_then(|record| record.details.fields.entries)
            .unwrap_or(0);
        let removed: i64 = diesel::select(audit_expire(chain, first_kept)).get_result(conn)?;
        crate::audit::record(
            conn,
            account,
            None,
            &Origin::default(),
            Action::AuditExpired {
                chain,
                removed,
                days,
                before: timestamp(before),
                entries: earlier + removing,
                link: hex(&link),
            },
        )?;
        Ok(removed)
    })
}
