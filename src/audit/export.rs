//! The audit log as files: the CSV the Audit logs page downloads, and the
//! JSON Lines and CSV the operator's `team-console audit export` writes
//! (also for a deleted account, whose log nobody can open in the console).
//! Both read the entries in keyset batches, never the whole log at once.

use diesel::prelude::*;
use serde_json::json;

use crate::audit::filter::{Cursor, Filter};
use crate::audit::query::{self, EntryRow};
use crate::ids::AccountId;

/// Entries read per query.
pub const BATCH: i64 = 1000;

pub const CSV_HEADER: [&str; 10] = [
    "occurred_at_utc",
    "user_id",
    "user_email",
    "action",
    "resource_type",
    "resource_id",
    "ip",
    "user_agent",
    "details",
    "summary",
];

/// A leading =, +, -, @, tab or carriage return makes spreadsheets treat a
/// cell as a formula: prefix it with an apostrophe.
pub fn defuse(cell: &str) -> String {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}"),
        _ => cell.to_string(),
    }
}

fn csv_record(e: &EntryRow) -> [String; 10] {
    [
        crate::format::rfc3339(&e.occurred_at),
        e.actor_id.map(|id| id.to_string()).unwrap_or_default(),
        e.actor_email.clone().unwrap_or_default(),
        e.action.clone(),
        e.resource_type.clone(),
        e.resource_id.clone().unwrap_or_default(),
        e.ip.clone().unwrap_or_default(),
        e.user_agent.clone().unwrap_or_default(),
        e.details.raw.clone(),
        e.sentence().text(),
    ]
    .map(|cell| defuse(&cell))
}

/// `rows` as CSV lines, after the header line when `header`.
pub fn csv(rows: &[EntryRow], header: bool) -> Result<Vec<u8>, csv::Error> {
    let mut out = csv::Writer::from_writer(Vec::new());
    if header {
        out.write_record(CSV_HEADER)?;
    }
    for row in rows {
        out.write_record(csv_record(row))?;
    }
    out.into_inner()
        .map_err(|e| csv::Error::from(e.into_error()))
}

/// One entry as a JSON object (its details as the JSON they are).
pub fn json(e: &EntryRow) -> serde_json::Value {
    let details: serde_json::Value =
        serde_json::from_str(&e.details.raw).unwrap_or(serde_json::Value::Null);
    json!({
        "id": e.id,
        "occurred_at": crate::format::rfc3339(&e.occurred_at),
        "user_id": e.actor_id.map(|id| id.to_string()),
        "user_email": e.actor_email,
        "user_name": e.actor_name,
        "action": e.action,
        "resource_type": e.resource_type,
        "resource_id": e.resource_id,
        "ip": e.ip,
        "user_agent": e.user_agent,
        "details": details,
        "summary": e.sentence().text(),
    })
}

/// `rows` as JSON Lines, one entry a line.
pub fn json_lines(rows: &[EntryRow]) -> Vec<u8> {
    let mut out = Vec::new();
    for row in rows {
        out.extend_from_slice(json(row).to_string().as_bytes());
        out.push(b'\n');
    }
    out
}

/// The format of an operator's export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    JsonLines,
}

/// Writes every entry of `account_id`'s log, newest first, to `out`, in
/// batches; deleted accounts included. Returns how many were written.
pub fn write_all(
    conn: &mut PgConnection,
    account_id: AccountId,
    format: Format,
    out: &mut dyn std::io::Write,
) -> anyhow::Result<u64> {
    let filter = Filter::default();
    let mut after: Option<Cursor> = None;
    let mut written = 0;
    loop {
        let rows = query::batch(conn, account_id, &filter, after, BATCH)?;
        let bytes = match format {
            Format::Csv => csv(&rows, written == 0)?,
            Format::JsonLines => json_lines(&rows),
        };
        out.write_all(&bytes)?;
        written += rows.len() as u64;
        if (rows.len() as i64) < BATCH {
            break;
        }
        after = rows.last().map(|e| Cursor {
            occurred_at: e.occurred_at,
            id: e.id,
            newer: false,
        });
    }
    out.flush()?;
    Ok(written)
}
