//! The outbox: one row per message, written with the change that causes
//! it and sent by whichever console claims it first.

use diesel::prelude::*;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::db::schema::mail_outbox as o;
use crate::mail::{Letter, SendError, Sender};

/// Messages one `deliver_due` sends at most (the rest wait for the next).
const BATCH: usize = 50;
/// The first retry waits this long, each next one twice as long ...
const FIRST_RETRY: Duration = Duration::seconds(30);
/// ... up to this.
const LONGEST_WAIT: Duration = Duration::hours(1);

/// Queues `letter` (call it inside the transaction of the change that
/// causes it: the mail exists if and only if the change does).
pub fn queue(conn: &mut PgConnection, letter: &Letter, now: OffsetDateTime) -> QueryResult<Uuid> {
    let id = Uuid::new_v4();
    diesel::insert_into(o::table)
        .values((
            o::id.eq(id),
            o::recipient.eq(&letter.to),
            o::subject.eq(&letter.subject),
            o::body_text.eq(&letter.text),
            o::body_html.eq(&letter.html),
            o::created_at.eq(now),
            o::next_attempt_at.eq(now),
        ))
        .execute(conn)?;
    Ok(id)
}

/// A queued message as the sender reads it.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = o)]
pub struct Queued {
    pub id: Uuid,
    pub recipient: String,
    pub subject: String,
    pub body_text: String,
    pub body_html: String,
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
/// message keeps its row (for the record) but not its bodies: a reset
/// link in plain text stays no longer than it takes to send it.
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
                            o::body_text.eq(""),
                            o::body_html.eq(""),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_wait_longer_each_time_up_to_an_hour() {
        assert_eq!(back_off(1), Duration::seconds(30));
        assert_eq!(back_off(2), Duration::seconds(60));
        assert_eq!(back_off(3), Duration::seconds(120));
        assert_eq!(back_off(12), Duration::hours(1));
        assert_eq!(back_off(1000), Duration::hours(1));
    }
}
