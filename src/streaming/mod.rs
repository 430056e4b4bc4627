//! Streaming the audit log to collectors (SPEC §11, issue 17 item 5): an
//! Admin adds up to three destinations per account, each an https:// URL
//! and a shared secret; every entry of the account written from then on is
//! POSTed to each of them as JSON, signed with HMAC-SHA256, at least once
//! and in order (`delivery`). The audit table is the outbox: a destination
//! only keeps its cursor (the last entry delivered), so nothing is queued
//! and a restart loses nothing.

pub mod address;
pub mod delivery;
pub mod pages;

use diesel::prelude::*;
use time::OffsetDateTime;

use crate::audit::{Action, Change};
use crate::db::schema::{accounts, audit_entries as a, audit_stream_destinations as d};
use crate::ids::{AccountId, StreamDestinationId};
use crate::tokens;

pub use address::AddressError;
pub use delivery::{DeliveryReport, Streamer, deliver_due};

/// Destinations an account may have at once.
pub const MAX_DESTINATIONS: i64 = 3;
/// The shortest and longest shared secret an Admin may choose.
pub const MIN_SECRET_CHARS: usize = 16;
pub const MAX_SECRET_CHARS: usize = 200;
/// The lag the status panel counts up to ("10000+" past it).
pub const LAG_COUNTED: i64 = 10_000;

/// Seals the destinations' shared secrets: the console must sign with
/// them, so they cannot be hashed, and the database must not hold them in
/// plain text. The key is derived from the console's secret key.
#[derive(Clone)]
pub struct Seal(tokens::SealingKey);

impl Seal {
    pub fn new(secret_key: &[u8]) -> Seal {
        Seal(tokens::SealingKey::derive(
            secret_key,
            b"team-console audit streaming v1",
        ))
    }

    /// The secret, bound to the destination's id.
    pub fn seal(&self, id: StreamDestinationId, secret: &str) -> Vec<u8> {
        self.0.seal(id.as_uuid().as_bytes(), secret.as_bytes())
    }

    /// The secret, or None when sealed under another key (SECRET_KEY
    /// changed) or altered.
    pub fn open(&self, id: StreamDestinationId, sealed: &[u8]) -> Option<String> {
        String::from_utf8(self.0.open(id.as_uuid().as_bytes(), sealed)?).ok()
    }
}

/// What the streaming core refuses.
#[derive(Debug, thiserror::Error)]
pub enum StreamingError {
    #[error("the account has as many destinations as it may")]
    TooMany,
    #[error("the destination is not failing")]
    NotFailing,
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
}

crate::core_error!(StreamingError);

/// A destination's fields, checked (`NewDestination::check`).
#[derive(Debug, Clone)]
pub struct NewDestination {
    pub url: url::Url,
    /// None: the console makes one (shown once).
    pub secret: Option<String>,
}

/// What is wrong with a new destination's fields, field by field.
#[derive(Debug, Default)]
pub struct NewDestinationErrors {
    pub url: Option<String>,
    pub secret: Option<String>,
}

impl NewDestination {
    /// The URL's rules, its host resolved (blocking: DNS) and checked
    /// against internal addresses unless `allow_private`; the secret's
    /// length (empty: the console makes one).
    pub fn check(
        url: &str,
        secret: &str,
        allow_private: bool,
    ) -> Result<NewDestination, NewDestinationErrors> {
        let mut errors = NewDestinationErrors::default();
        let url = match address::parse(url, allow_private)
            .and_then(|u| address::resolve(&u, allow_private).map(|_| u))
        {
            Ok(url) => Some(url),
            Err(e) => {
                errors.url = Some(e.to_string());
                None
            }
        };
        let secret = secret.trim();
        let chars = secret.chars().count();
        if !secret.is_empty()
            && (!(MIN_SECRET_CHARS..=MAX_SECRET_CHARS).contains(&chars)
                || secret.chars().any(char::is_control))
        {
            errors.secret = Some(format!(
                "Choose a secret of {MIN_SECRET_CHARS} to {MAX_SECRET_CHARS} characters, or leave it empty to have one made."
            ));
        }
        match (url, errors.secret.is_none()) {
            (Some(url), true) => Ok(NewDestination {
                url,
                secret: (!secret.is_empty()).then(|| secret.to_string()),
            }),
            _ => Err(errors),
        }
    }
}

/// A destination just added: its id, and the secret the console made
/// (shown once) if the Admin left it to the console.
pub struct Added {
    pub id: StreamDestinationId,
    pub made_secret: Option<String>,
}

/// Adds a destination (audited). It receives the account's entries from
/// its own `audit_stream.added` entry on; the history before it is the
/// export's business. Refused past `MAX_DESTINATIONS`.
pub fn add(
    conn: &mut PgConnection,
    cx: &Change,
    seal: &Seal,
    new: &NewDestination,
) -> Result<Added, StreamingError> {
    let created_by = cx.actor.id.ok_or(diesel::result::Error::NotFound)?;
    let id = StreamDestinationId::new();
    let made_secret = new.secret.is_none().then(|| tokens::random_token(32));
    let secret = new
        .secret
        .clone()
        .or(made_secret.clone())
        .unwrap_or_default();
    conn.transaction(|conn| {
        // Adds of one account queue here, so two cannot both pass the
        // count; a deleted account is NotFound.
        accounts::table
            .find(cx.account_id)
            .filter(accounts::deleted_at.is_null())
            .select(accounts::id)
            .for_no_key_update()
            .first::<AccountId>(conn)?;
        let existing: i64 = d::table
            .filter(d::account_id.eq(cx.account_id))
            .count()
            .get_result(conn)?;
        if existing >= MAX_DESTINATIONS {
            return Err(StreamingError::TooMany);
        }
        // The entry first: it takes the chain's lock, so every entry of
        // the account with a lower id is committed, and none can come
        // between those and this one.
        cx.record(
            conn,
            Action::AuditStreamAdded {
                destination: id,
                url: address::recorded(&new.url),
            },
        )?;
        let added_entry: i64 = a::table
            .filter(a::account_id.eq(cx.account_id))
            .filter(a::resource_id.eq(id.to_string()))
            .select(a::id)
            .order(a::id.desc())
            .first(conn)?;
        let cursor: Option<i64> = a::table
            .filter(a::account_id.eq(cx.account_id))
            .filter(a::id.lt(added_entry))
            .select(diesel::dsl::max(a::id))
            .first(conn)?;
        diesel::insert_into(d::table)
            .values((
                d::id.eq(id),
                d::account_id.eq(cx.account_id),
                d::url.eq(new.url.as_str()),
                d::secret_sealed.eq(seal.seal(id, &secret)),
                d::created_by.eq(created_by),
                d::created_at.eq(cx.now),
                d::cursor.eq(cursor.unwrap_or(0)),
                d::next_attempt_at.eq(cx.now),
            ))
            .execute(conn)?;
        Ok(Added { id, made_secret })
    })
}

/// A destination as the page lists it.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = d)]
pub struct DestinationRow {
    pub id: StreamDestinationId,
    pub url: String,
    pub created_at: OffsetDateTime,
    pub cursor: i64,
    pub last_delivered_at: Option<OffsetDateTime>,
    pub last_error: Option<String>,
    pub last_error_at: Option<OffsetDateTime>,
    pub failures: i32,
    pub next_attempt_at: OffsetDateTime,
}

impl DestinationRow {
    /// The URL without its query (which may carry a collector's token), as
    /// the audit log and the flash messages show it.
    pub fn url_without_query(&self) -> String {
        url::Url::parse(&self.url)
            .map(|u| address::recorded(&u))
            .unwrap_or_else(|_| self.url.clone())
    }
}

/// The account's destination, locked for a change (another account's is
/// NotFound).
fn locked(
    conn: &mut PgConnection,
    cx: &Change,
    destination: StreamDestinationId,
) -> QueryResult<DestinationRow> {
    d::table
        .filter(d::account_id.eq(cx.account_id))
        .filter(d::id.eq(destination))
        .select(DestinationRow::as_select())
        .for_update()
        .first(conn)
}

/// Removes a destination at once (audited): nothing more is sent to it.
/// Another account's destination is NotFound.
pub fn remove(
    conn: &mut PgConnection,
    cx: &Change,
    destination: StreamDestinationId,
) -> Result<DestinationRow, StreamingError> {
    conn.transaction(|conn| {
        let row = locked(conn, cx, destination)?;
        diesel::delete(d::table.find(destination)).execute(conn)?;
        cx.record(
            conn,
            Action::AuditStreamRemoved {
                destination,
                url: row.url_without_query(),
            },
        )?;
        Ok(row)
    })
}

/// Tries a failing destination on the next pass instead of at the end of
/// its back-off (audited); its failures still count, so a collector that
/// is still down backs off as before. Another account's destination is
/// NotFound; one that is not failing is refused.
pub fn retry_now(
    conn: &mut PgConnection,
    cx: &Change,
    destination: StreamDestinationId,
) -> Result<DestinationRow, StreamingError> {
    conn.transaction(|conn| {
        let row = locked(conn, cx, destination)?;
        if row.failures == 0 {
            return Err(StreamingError::NotFailing);
        }
        diesel::update(d::table.find(destination))
            .set(d::next_attempt_at.eq(cx.now))
            .execute(conn)?;
        cx.record(
            conn,
            Action::AuditStreamRetried {
                destination,
                url: row.url_without_query(),
            },
        )?;
        Ok(row)
    })
}

/// Where a destination stands: its row, the entry it last received and
/// what is still to go.
#[derive(Debug, Clone)]
pub struct Status {
    pub row: DestinationRow,
    /// The last entry delivered: its id, action and time (None before the
    /// first delivery).
    pub last_delivered: Option<(i64, String, OffsetDateTime)>,
    /// Entries not yet delivered, counted up to `LAG_COUNTED + 1`.
    pub lag: i64,
    /// When the oldest of them was written.
    pub oldest_waiting: Option<OffsetDateTime>,
}

/// The account's destinations, oldest first, with their status.
pub fn list(conn: &mut PgConnection, account_id: AccountId) -> QueryResult<Vec<Status>> {
    let rows: Vec<DestinationRow> = d::table
        .filter(d::account_id.eq(account_id))
        .order((d::created_at.asc(), d::id.asc()))
        .select(DestinationRow::as_select())
        .load(conn)?;
    let mut listed = Vec::with_capacity(rows.len());
    for row in rows {
        let last_delivered = match row.last_delivered_at {
            Some(_) => a::table
                .filter(a::account_id.eq(account_id))
                .filter(a::id.eq(row.cursor))
                .select((a::id, a::action, a::occurred_at))
                .first(conn)
                .optional()?,
            None => None,
        };
        let waiting = a::table
            .filter(a::account_id.eq(account_id))
            .filter(a::id.gt(row.cursor));
        let oldest_waiting = waiting
            .order(a::id.asc())
            .select(a::occurred_at)
            .first(conn)
            .optional()?;
        let lag = match oldest_waiting {
            None => 0,
            Some(_) => waiting
                .select(a::id)
                .limit(LAG_COUNTED + 1)
                .load::<i64>(conn)?
                .len() as i64,
        };
        listed.push(Status {
            row,
            last_delivered,
            lag,
            oldest_waiting,
        });
    }
    Ok(listed)
}
