//! The outbox: one row per message, written with the change that causes
//! it and sent by whichever console claims it first.

use diesel::prelude::*;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::db::schema::mail_outbox as o;
use crate::mail::{Letter, SendError, Sender};
use crate::tokens;

/// Seals the bodies of queued messages: they carry reset and invite links,
/// which the database must never hold in plain text. The key is derived
/// from the console's secret key.
#[derive(Clone)]
pub struct Seal(tokens::SealingKey);

/// The bodies of a message, as sealed.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Bodies {
    pub text: String,
    pub html: String,
}

impl Seal {
    pub fn new(secret: &[u8]) -> Seal {
        Seal(tokens::SealingKey::derive(
            secret,
            b"team-console mail outbox v1",
        ))
    }

    /// The bodies, bound to the message's id.
    fn seal(&self, id: Uuid, bodies: &Bodies) -> Vec<u8> {
        let plain = serde_json::to_vec(bodies).expect("two strings serialise");
        self.0.seal(id.as_bytes(), &plain)
    }

    /// The bodies, or None when sealed under another key (SECRET_KEY
    /// changed) or altered.
    pub fn open(&self, id: Uuid, sealed: &[u8]) -> Option<Bodies> {
        serde_json::from_slice(&self.0.open(id.as_bytes(), sealed)?).ok()
    }
}

/// What the cores need to write mail: the console's public URL (links)
/// and the seal of the outbox.
#[derive(Clone)]
pub struct Outbox {
    public_url: String,
    seal: Seal,
}

impl Outbox {
    pub fn new(public_url: &str, secret: &[u8]) -> Outbox {
        Outbox {
            public_url: public_url.trim_end_matches('/').to_string(),
            seal: Seal::new(secret),
        }
    }

    /// "https://console.example.com": the start of every link in mail.
    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    /// Queues `letter` (call it inside the transaction of the change that
    /// causes it: the mail exists if and only if the change does).
    pub fn queue(
        &self,
        conn: &mut PgConnection,
        letter: &Letter,
        now: OffsetDateTime,
    ) -> QueryResult<Uuid> {
        let id = Uuid::new_v4();
        let body = self.seal.seal(
            id,
            &Bodies {
                text: letter.text.clone(),
                html: letter.html.clone(),
            },
        );
        diesel::insert_into(o::table)
            .values((
                o::id.eq(id),
                o::recipient.eq(&letter.to),
                o::subject.eq(&letter.subject),
                o::body.eq(body),
                o::created_at.eq(now),
                o::next_attempt_at.eq(now),
            ))
            .execute(conn)?;
        Ok(id)
    }
}

/// Messages one `deliver_due` sends at most (the rest wait for the next).
const BATCH: usize = 50;
/// The first retry waits this long, each next one twice as long ...
const FIRST_RETRY: Duration = Duration::seconds(30);
/// ... up to this.
const LONGEST_WAIT: Duration = Duration::hours(1);

/// A queued message as the sender reads it.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = o)]
pub struct Queued {
    pub id: Uuid,
    pub recipient: String,
    pub subject: String,
    /// The sealed bodies (`Seal`).
    pub body: Vec<u8>,
    pub created_at: OffsetDateTime,
    pub attempts: i32,
}

/// What one `deliver_due` did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryReport {
    pub sent: usize,
    /// Refused for now (or the server unreachable): tried again later.
    pub retried: usize,
    /// Refused for good (5xx): kept with the reason, not tried again.
    pub failed: usize,
}

/// How long to wait after the `attempts`-th failure.
pub fn back_off(attempts: i32) -> Duration {
    let doublings = attempts.clamp(1, 20) - 1;
    let wait = FIRST_RETRY * 2_i32.saturating_pow(doublings as u32).min(1 << 10);
    wait.min(LONGEST_WAIT)
}

/// Sends every message due at `now`, one at a time: each is claimed with
/// `FOR UPDATE SKIP LOCKED` inside its own transaction and marked in it,
/// so a message another console is sending is skipped, and one whose
/// sender dies mid-way is sent again (at least once, never lost). A sent
/// message keeps its row (for the record) but not its sealed bodies.
pub fn deliver_due(
    conn: &mut PgConnection,
    sender: &Sender,
    now: OffsetDateTime,
) -> QueryResult<DeliveryReport> {
    let mut report = DeliveryReport::default();
    for _ in 0..BATCH {
        let done = conn.transaction(|conn| -> QueryResult<bool> {
            let Some(message) = o::table
                .filter(o::sent_at.is_null())
                .filter(o::failed_at.is_null())
                .filter(o::next_attempt_at.le(now))
                .order(o::next_attempt_at.asc())
                .select(Queued::as_select())
                .for_update()
                .skip_locked()
                .first(conn)
                .optional()?
            else {
                return Ok(true);
            };
            let row = o::table.find(message.id);
            match sender.send(&message) {
                Ok(()) => {
                    diesel::update(row)
                        .set((
                            o::sent_at.eq(now),
                            o::attempts.eq(message.attempts + 1),
                            o::last_error.eq(None::<String>),
                            o::body.eq(Vec::<u8>::new()),
                        ))
                        .execute(conn)?;
                    report.sent += 1;
                }
                Err(SendError::Temporary(reason)) => {
                    let attempts = message.attempts + 1;
                    tracing::warn!(
                        mail = %message.id,
                        attempts,
                        error = %reason,
                        "mail not sent: will try again"
                    );
                    diesel::update(row)
                        .set((
                            o::attempts.eq(attempts),
                            o::last_error.eq(&reason),
                            o::next_attempt_at.eq(now + back_off(attempts)),
                        ))
                        .execute(conn)?;
                    report.retried += 1;
                }
                Err(SendError::Permanent(reason)) => {
                    tracing::error!(
                        mail = %message.id,
                        error = %reason,
                        "mail refused by the mail server for good: not tried again"
                    );
                    diesel::update(row)
                        .set((
                            o::attempts.eq(message.attempts + 1),
                            o::last_error.eq(&reason),
                            o::failed_at.eq(now),
                        ))
                        .execute(conn)?;
                    report.failed += 1;
                }
            }
            Ok(false)
        })?;
        if done {
            break;
        }
    }
    Ok(report)
}

/// How long a sent or refused message's row (recipient, subject, when;
/// never its text) is kept for the record.
pub const KEPT: Duration = Duration::days(90);

/// Deletes the rows of messages sent or refused for good more than
/// `KEPT` before `now`. Returns how many.
pub fn prune(conn: &mut PgConnection, now: OffsetDateTime) -> QueryResult<usize> {
    let before = now - KEPT;
    diesel::delete(o::table.filter(o::sent_at.lt(before).or(o::failed_at.lt(before)))).execute(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_open_only_for_their_message_under_the_same_key() {
        let seal = Seal::new(b"a secret key of the console, long enough");
        let id = Uuid::new_v4();
        let sealed = seal.seal(
            id,
            &Bodies {
                text: "https://console.example.com/reset-password/TOKEN".into(),
                html: "<p>TOKEN</p>".into(),
            },
        );
        assert!(!String::from_utf8_lossy(&sealed).contains("TOKEN"));
        let opened = seal.open(id, &sealed).expect("opens");
        assert_eq!(opened.html, "<p>TOKEN</p>");
        assert!(seal.open(Uuid::new_v4(), &sealed).is_none());
        assert!(Seal::new(b"another key").open(id, &sealed).is_none());
        assert!(seal.open(id, b"short").is_none());
    }

    #[test]
    fn retries_wait_longer_each_time_up_to_an_hour() {
        assert_eq!(back_off(1), Duration::seconds(30));
        assert_eq!(back_off(2), Duration::seconds(60));
        assert_eq!(back_off(3), Duration::seconds(120));
        assert_eq!(back_off(12), Duration::hours(1));
        assert_eq!(back_off(1000), Duration::hours(1));
    }
}
