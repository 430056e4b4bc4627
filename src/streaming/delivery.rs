//! Delivering entries to the destinations, run every 2 s by each
//! console (`lib.rs`) and called directly by tests.
//!
//! One entry per request, in the order of the account's chain (its ids).
//! Each entry is delivered in a transaction of its own that first takes
//! the destination's advisory lock (`pg_try_advisory_xact_lock`): a
//! console that finds it taken skips the destination, so one console at a
//! time delivers to it and the order holds across consoles. Inside, it
//! reads the cursor (as committed by whoever delivered last), POSTs the
//! next entry, and moves the cursor on a 2xx or records the error and
//! backs off (2^n s, up to 24 h) otherwise; the commit releases the lock.
//! A console that dies mid-request leaves the cursor where it was, so that
//! entry is delivered again: at least once, receivers de-duplicate by id.
//!
//! The trade-off: the transaction, and its pooled connection, is held
//! across one HTTP request (at most `Streamer::timeout`, 10 s). A lease
//! column would free the connection, but a slow request outliving its
//! lease would let a second console deliver out of order; the lock cannot
//! expire under a live request. Each console delivers one destination at a
//! time, so streaming holds at most one connection of its pool.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use time::OffsetDateTime;

use crate::audit::chain::hex;
use crate::audit::export;
use crate::audit::query::EntryRow;
use crate::db::schema::{audit_entries as a, audit_stream_destinations as d};
use crate::ids::{AccountId, StreamDestinationId};
use crate::streaming::{Seal, address};
use crate::telemetry::AUDIT_STREAM_DELIVERIES;

/// How often each console looks for entries to deliver.
pub const INTERVAL: Duration = Duration::from_secs(2);
/// How long one request may take, connection included.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// How long one pass keeps delivering to one destination before it moves
/// on to the next (the rest waits for the next pass).
pub const PASS: Duration = Duration::from_secs(5);
/// The first retry waits 2 s, each next one twice as long, up to this.
pub const LONGEST_WAIT: time::Duration = time::Duration::hours(24);

/// The header carrying the body's signature: `sha256=<hex>`.
pub const SIGNATURE_HEADER: &str = "X-TeamConsole-Signature";
/// The header carrying the entry's id (for de-duplication).
pub const ENTRY_HEADER: &str = "X-TeamConsole-Entry";
/// The header naming the destination the request is for.
pub const DESTINATION_HEADER: &str = "X-TeamConsole-Destination";

/// What delivery needs besides the database.
#[derive(Clone)]
pub struct Streamer {
    pub seal: Seal,
    /// AUDIT_STREAM_ALLOW_PRIVATE: internal addresses (and http://) too.
    pub allow_private: bool,
    pub timeout: Duration,
    pub pass: Duration,
    /// Set when the console stops: no entry is sent after it.
    pub stopping: Arc<AtomicBool>,
}

impl Streamer {
    pub fn new(secret_key: &[u8], allow_private: bool) -> Streamer {
        Streamer {
            seal: Seal::new(secret_key),
            allow_private,
            timeout: TIMEOUT,
            pass: PASS,
            stopping: Arc::new(AtomicBool::new(false)),
        }
    }
}

/// What one `deliver_due` did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryReport {
    pub delivered: usize,
    /// Attempts that failed (each destination stops at its first).
    pub failed: usize,
    /// Destinations another console was delivering to.
    pub skipped: usize,
}

/// How long to wait after the `failures`-th failure in a row.
pub fn back_off(failures: i32) -> time::Duration {
    let doublings = failures.clamp(1, 17) as u32;
    time::Duration::seconds(2_i64.pow(doublings)).min(LONGEST_WAIT)
}

/// HMAC-SHA256 of `body` with the destination's secret, as the signature
/// header carries it (lowercase hex).
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(body);
    hex(&mac.finalize().into_bytes())
}

/// The body of the request delivering `entry`: the entry as the API and
/// the exports write it (docs/audit-integrity.md), so that it verifies.
pub fn body(entry: &EntryRow) -> Vec<u8> {
    export::json(entry).to_string().into_bytes()
}

/// A destination as delivery reads it.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = d)]
struct Due {
    id: StreamDestinationId,
    account_id: AccountId,
    url: String,
    secret_sealed: Vec<u8>,
    cursor: i64,
    failures: i32,
    next_attempt_at: OffsetDateTime,
}

/// Delivers what is due at `now` to every destination, one destination
/// after the other, each for at most `Streamer::pass`.
pub fn deliver_due(
    conn: &mut PgConnection,
    streamer: &Streamer,
    now: OffsetDateTime,
) -> QueryResult<DeliveryReport> {
    // Only destinations with an entry waiting: one that is up to date
    // costs an index probe, not a transaction.
    let waiting = a::table
        .filter(a::account_id.eq(d::account_id.nullable()))
        .filter(a::id.gt(d::cursor));
    let due: Vec<StreamDestinationId> = d::table
        .filter(d::next_attempt_at.le(now))
        .filter(diesel::dsl::exists(waiting))
        .order(d::next_attempt_at.asc())
        .select(d::id)
        .load(conn)?;
    let mut report = DeliveryReport::default();
    for destination in due {
        deliver_to(conn, streamer, destination, now, &mut report)?;
    }
    Ok(report)
}

/// What one step (one entry) came to.
enum Step {
    Delivered,
    Failed,
    /// Another console holds the destination.
    Busy,
    /// Nothing to deliver, not due, or removed.
    Done,
}

/// Where one pass sends a destination's requests: an agent that connects
/// only to the addresses checked at the start of the pass.
struct Target {
    url: String,
    agent: ureq::Agent,
}

fn deliver_to(
    conn: &mut PgConnection,
    streamer: &Streamer,
    destination: StreamDestinationId,
    now: OffsetDateTime,
    report: &mut DeliveryReport,
) -> QueryResult<()> {
    let started = Instant::now();
    let mut target: Option<Target> = None;
    while started.elapsed() < streamer.pass && !streamer.stopping.load(Ordering::SeqCst) {
        let step = conn.transaction(|conn| step(conn, streamer, destination, now, &mut target))?;
        match step {
            Step::Delivered => report.delivered += 1,
            Step::Failed => {
                report.failed += 1;
                break;
            }
            Step::Busy => {
                report.skipped += 1;
                break;
            }
            Step::Done => break,
        }
    }
    Ok(())
}

/// The lock key of a destination: its id's first 64 bits.
fn lock_key(destination: StreamDestinationId) -> i64 {
    let bytes = destination.as_uuid().into_bytes();
    i64::from_be_bytes(bytes[..8].try_into().expect("8 bytes"))
}

#[derive(QueryableByName)]
struct Locked {
    #[diesel(sql_type = Bool)]
    locked: bool,
}

fn step(
    conn: &mut PgConnection,
    streamer: &Streamer,
    destination: StreamDestinationId,
    now: OffsetDateTime,
    target: &mut Option<Target>,
) -> QueryResult<Step> {
    let got: Locked = diesel::sql_query("SELECT pg_try_advisory_xact_lock($1) AS locked")
        .bind::<BigInt, _>(lock_key(destination))
        .get_result(conn)?;
    if !got.locked {
        return Ok(Step::Busy);
    }
    let Some(due) = d::table
        .find(destination)
        .select(Due::as_select())
        .first(conn)
        .optional()?
    else {
        return Ok(Step::Done);
    };
    if due.next_attempt_at > now {
        return Ok(Step::Done);
    }
    let Some(entry) = a::table
        .filter(a::account_id.eq(due.account_id))
        .filter(a::id.gt(due.cursor))
        .order(a::id.asc())
        .select(EntryRow::as_select())
        .first(conn)
        .optional()?
    else {
        return Ok(Step::Done);
    };
    let row = d::table.find(destination);
    match send(streamer, &due, &entry, target) {
        Ok(()) => {
            diesel::update(row)
                .set((
                    d::cursor.eq(entry.id),
                    d::last_delivered_at.eq(now),
                    d::failures.eq(0),
                ))
                .execute(conn)?;
            metrics::counter!(AUDIT_STREAM_DELIVERIES, "outcome" => "delivered").increment(1);
            Ok(Step::Delivered)
        }
        Err(reason) => {
            let failures = due.failures.saturating_add(1);
            tracing::warn!(
                destination = %destination,
                entry = entry.id,
                failures,
                error = %reason,
                "audit entry not delivered: will try again"
            );
            diesel::update(row)
                .set((
                    d::failures.eq(failures),
                    d::last_error.eq(&reason),
                    d::last_error_at.eq(now),
                    d::next_attempt_at.eq(now + back_off(failures)),
                ))
                .execute(conn)?;
            *target = None;
            metrics::counter!(AUDIT_STREAM_DELIVERIES, "outcome" => "failed").increment(1);
            Ok(Step::Failed)
        }
    }
}

/// POSTs `entry` to the destination; the reason it failed otherwise, as
/// the status panel shows it.
fn send(
    streamer: &Streamer,
    due: &Due,
    entry: &EntryRow,
    target: &mut Option<Target>,
) -> Result<(), String> {
    let secret = streamer.seal.open(due.id, &due.secret_sealed).ok_or(
        "The secret cannot be opened (the console's SECRET_KEY changed): remove this destination and add it again.",
    )?;
    if target.is_none() {
        *target = Some(connect(streamer, &due.url)?);
    }
    let Some(target) = target else {
        unreachable!("set above")
    };
    let body = body(entry);
    let sent = target
        .agent
        .post(&target.url)
        .header("Content-Type", "application/json")
        .header(
            SIGNATURE_HEADER,
            format!("sha256={}", signature(secret.as_bytes(), &body)),
        )
        .header(ENTRY_HEADER, entry.id.to_string())
        .header(DESTINATION_HEADER, due.id.to_string())
        .send(&body[..]);
    match sent {
        Ok(response) if response.status().is_success() => Ok(()),
        Ok(response) => Err(format!(
            "The collector answered HTTP {}.",
            response.status()
        )),
        Err(ureq::Error::Timeout(_)) => Err(format!(
            "No answer within {} s.",
            streamer.timeout.as_secs_f32()
        )),
        Err(e) => Err(format!("The request failed: {e}.")),
    }
}

/// Resolves the destination's host and checks its addresses (again: DNS
/// may have changed since it was added), then builds an agent pinned to
/// them. Redirects are not followed (one could lead inside) and no proxy
/// is used.
fn connect(streamer: &Streamer, raw: &str) -> Result<Target, String> {
    let url = address::parse(raw, streamer.allow_private).map_err(|e| e.to_string())?;
    let addresses = address::resolve(&url, streamer.allow_private).map_err(|e| e.to_string())?;
    let config = ureq::Agent::config_builder()
        .timeout_global(Some(streamer.timeout))
        .http_status_as_error(false)
        .max_redirects(0)
        .proxy(None)
        .user_agent(concat!("team-console/", env!("CARGO_PKG_VERSION")))
        .build();
    let agent = ureq::Agent::with_parts(
        config,
        ureq::unversioned::transport::DefaultConnector::default(),
        Pinned(addresses),
    );
    Ok(Target {
        url: url.to_string(),
        agent,
    })
}

/// Resolves every name to the addresses checked beforehand.
#[derive(Debug)]
struct Pinned(Vec<SocketAddr>);

impl ureq::unversioned::resolver::Resolver for Pinned {
    fn resolve(
        &self,
        _uri: &ureq::http::Uri,
        _config: &ureq::config::Config,
        _timeout: ureq::unversioned::transport::NextTimeout,
    ) -> Result<ureq::unversioned::resolver::ResolvedSocketAddrs, ureq::Error> {
        let mut addresses = self.empty();
        for address in self.0.iter().take(16) {
            addresses.push(*address);
        }
        Ok(addresses)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_wait_twice_as_long_each_time_up_to_a_day() {
        assert_eq!(back_off(1), time::Duration::seconds(2));
        assert_eq!(back_off(2), time::Duration::seconds(4));
        assert_eq!(back_off(10), time::Duration::seconds(1024));
        assert_eq!(back_off(17), time::Duration::hours(24));
        assert_eq!(back_off(i32::MAX), time::Duration::hours(24));
    }

    #[test]
    fn the_signature_is_hmac_sha256_in_hex() {
        // RFC 4231, test case 2.
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn secrets_open_only_for_their_destination_under_the_same_key() {
        let seal = Seal::new(b"a secret key of the console, long enough");
        let id = StreamDestinationId::new();
        let sealed = seal.seal(id, "collector secret 1234");
        assert!(!String::from_utf8_lossy(&sealed).contains("collector"));
        assert_eq!(
            seal.open(id, &sealed).as_deref(),
            Some("collector secret 1234")
        );
        assert!(seal.open(StreamDestinationId::new(), &sealed).is_none());
        assert!(Seal::new(b"another key").open(id, &sealed).is_none());
    }
}
