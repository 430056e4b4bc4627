//! The transaction history, newest first, in pages of 25 addressed by a
//! keyset cursor on (created_at, id): no OFFSET, stable while new rows
//! arrive.

use diesel::prelude::*;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::db::limited;
use crate::db::schema::billing_transactions as bt;

pub const PAGE_SIZE: i64 = 25;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = bt)]
pub struct Transaction {
    pub id: Uuid,
    pub kind: String,
    pub amount_cents: i64,
    pub description: String,
    pub created_at: OffsetDateTime,
}

impl Transaction {
    pub fn kind_label(&self) -> &'static str {
        if self.kind == super::FUNDS_ADDED {
            "Funds added"
        } else {
            "Usage charged"
        }
    }

    pub fn amount(&self) -> String {
        let money = crate::format::money(self.amount_cents);
        if self.amount_cents > 0 {
            format!("+{money}")
        } else {
            money
        }
    }

    pub fn when(&self) -> String {
        crate::format::date_time(&self.created_at)
    }
}

/// A position in the history: a row's (created_at, id), written in URLs as
/// "<unix microseconds>_<uuid>".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    at: OffsetDateTime,
    id: Uuid,
}

impl Cursor {
    fn of(t: &Transaction) -> Cursor {
        Cursor {
            at: t.created_at,
            id: t.id,
        }
    }

    pub fn encode(&self) -> String {
        format!("{}_{}", self.at.unix_timestamp_nanos() / 1_000, self.id)
    }

    pub fn parse(s: &str) -> Option<Cursor> {
        let (micros, id) = s.split_once('_')?;
        let micros: i128 = micros.parse().ok()?;
        let at = OffsetDateTime::from_unix_timestamp_nanos(micros.checked_mul(1_000)?).ok()?;
        // Beyond these years PostgreSQL has no timestamp; no row is there.
        if !(1900..=9999).contains(&at.year()) {
            return None;
        }
        Some(Cursor {
            at,
            id: Uuid::parse_str(id).ok()?,
        })
    }
}

/// Which page to show.
pub enum Position {
    Newest,
    /// The page of rows just older than the cursor.
    Before(Cursor),
    /// The page of rows just newer than the cursor.
    After(Cursor),
}

pub struct Page {
    pub rows: Vec<Transaction>,
    pub older: Option<Cursor>,
    pub newer: Option<Cursor>,
}

pub fn page(
    conn: &mut PgConnection,
    account_id: crate::ids::AccountId,
    position: Position,
) -> QueryResult<Page> {
    let base = bt::table
        .filter(bt::account_id.eq(account_id))
        .select(Transaction::as_select());
    let (mut rows, more_older, more_newer) = match position {
        Position::Newest => {
            let q = base.order((bt::created_at.desc(), bt::id.desc()));
            let rows = limited(q, PAGE_SIZE + 1).load(conn)?;
            (rows, true, false)
        }
        Position::Before(c) => {
            let q = base
                .filter(
                    bt::created_at
                        .lt(c.at)
                        .or(bt::created_at.eq(c.at).and(bt::id.lt(c.id))),
                )
                .order((bt::created_at.desc(), bt::id.desc()));
            let rows = limited(q, PAGE_SIZE + 1).load(conn)?;
            (rows, true, true)
        }
        Position::After(c) => {
            let q = base
                .filter(
                    bt::created_at
                        .gt(c.at)
                        .or(bt::created_at.eq(c.at).and(bt::id.gt(c.id))),
                )
                .order((bt::created_at.asc(), bt::id.asc()));
            let mut rows: Vec<Transaction> = limited(q, PAGE_SIZE + 1).load(conn)?;
            let more_newer = rows.len() as i64 > PAGE_SIZE;
            rows.truncate(PAGE_SIZE as usize);
            rows.reverse();
            return Ok(Page {
                older: rows.last().map(Cursor::of),
                newer: if more_newer {
                    rows.first().map(Cursor::of)
                } else {
                    None
                },
                rows,
            });
        }
    };
    let has_older = more_older && rows.len() as i64 > PAGE_SIZE;
    rows.truncate(PAGE_SIZE as usize);
    Ok(Page {
        older: if has_older {
            rows.last().map(Cursor::of)
        } else {
            None
        },
        newer: if more_newer {
            rows.first().map(Cursor::of)
        } else {
            None
        },
        rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_survives_its_url_form() {
        let c = Cursor {
            at: time::macros::datetime!(2026-11-27 21:09:01.123456 UTC),
            id: Uuid::new_v4(),
        };
        assert_eq!(Cursor::parse(&c.encode()), Some(c));
        assert_eq!(Cursor::parse("nonsense"), None);
        assert_eq!(Cursor::parse("12_not-a-uuid"), None);
        let far = format!("-300000000000000000_{}", Uuid::new_v4());
        assert_eq!(Cursor::parse(&far), None);
    }
}
