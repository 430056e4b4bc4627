//! The audit log as files: the CSV the Audit logs page downloads, and the
//! JSON Lines and CSV the operator's `team-console audit export` writes
//! (also for a deleted account, whose log nobody can open in the console).
//! Both read the entries in keyset batches, never the whole log at once.

use diesel::prelude::*;
use serde_json::json;

use crate::audit::chain;
use crate::audit::filter::{Cursor, Filter};
use crate::audit::query::{self, EntryDetails, EntryRow};
use crate::ids::AccountId;

/// Entries read per query.
pub const BATCH: i64 = 1000;

pub const CSV_HEADER: [&str; 15] = [
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
    // What `team-console audit verify --export` needs to recompute the
    // chain offline (docs/audit-integrity.md).
    "id",
    "user_name",
    "account_id",
    "prev_hash",
    "hash",
];

/// A leading =, +, -, @, tab or carriage return makes spreadsheets treat a
/// cell as a formula: prefix it with an apostrophe.
pub fn defuse(cell: &str) -> String {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}"),
        _ => cell.to_string(),
    }
}

fn csv_record(e: &EntryRow) -> [String; 15] {
    let hex = |h: &Option<Vec<u8>>| h.as_deref().map(chain::hex).unwrap_or_default();
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
        e.id.to_string(),
        e.actor_name.clone().unwrap_or_default(),
        e.account_id.map(|id| id.to_string()).unwrap_or_default(),
        hex(&e.prev_hash),
        hex(&e.hash),
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
        "account_id": e.account_id.map(|id| id.to_string()),
        "prev_hash": e.prev_hash.as_deref().map(chain::hex),
        "hash": e.hash.as_deref().map(chain::hex),
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

/// Why an export cannot be read back.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("line {line}: {reason}")]
    Line { line: usize, reason: String },
    #[error("the export is incomplete: the database failed while it was written")]
    Incomplete,
    #[error(transparent)]
    Csv(#[from] csv::Error),
}

/// Reads back an export written by `write_all` or the Audit logs page
/// (JSON Lines or CSV, told apart by the first character), for offline
/// verification (`chain::verify_export`).
pub fn read(input: &[u8]) -> Result<Vec<EntryRow>, ReadError> {
    let starts = input.iter().find(|b| !b.is_ascii_whitespace());
    if starts == Some(&b'{') {
        read_json_lines(input)
    } else {
        read_csv(input)
    }
}

fn read_json_lines(input: &[u8]) -> Result<Vec<EntryRow>, ReadError> {
    let mut entries = Vec::new();
    for (n, line) in input.split(|b| *b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let bad = |reason: String| ReadError::Line {
            line: n + 1,
            reason,
        };
        let value: serde_json::Value =
            serde_json::from_slice(line).map_err(|e| bad(e.to_string()))?;
        let text = |key: &str| value[key].as_str().map(str::to_string);
        let cells = Cells {
            id: value["id"].as_i64().map(|id| id.to_string()),
            occurred_at: text("occurred_at"),
            account_id: text("account_id"),
            user_id: text("user_id"),
            user_email: text("user_email"),
            user_name: text("user_name"),
            action: text("action"),
            resource_type: text("resource_type"),
            resource_id: text("resource_id"),
            ip: text("ip"),
            user_agent: text("user_agent"),
            details: Some(value["details"].to_string()),
            prev_hash: text("prev_hash"),
            hash: text("hash"),
        };
        entries.push(cells.entry().map_err(bad)?);
    }
    Ok(entries)
}

fn read_csv(input: &[u8]) -> Result<Vec<EntryRow>, ReadError> {
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(input);
    let header: Vec<String> = reader.headers()?.iter().map(str::to_string).collect();
    let mut entries = Vec::new();
    for (n, record) in reader.records().enumerate() {
        let record = record?;
        if record.len() == 1 && record[0].starts_with("EXPORT INCOMPLETE") {
            return Err(ReadError::Incomplete);
        }
        // Empty cells are absent values, as the export writes them.
        let cell = |name: &str| {
            let at = header.iter().position(|h| h == name)?;
            let value = undefuse(record.get(at)?);
            (!value.is_empty()).then(|| value.to_string())
        };
        let cells = Cells {
            id: cell("id"),
            occurred_at: cell("occurred_at_utc"),
            account_id: cell("account_id"),
            user_id: cell("user_id"),
            user_email: cell("user_email"),
            user_name: cell("user_name"),
            action: cell("action"),
            resource_type: cell("resource_type"),
            resource_id: cell("resource_id"),
            ip: cell("ip"),
            user_agent: cell("user_agent"),
            details: cell("details"),
            prev_hash: cell("prev_hash"),
            hash: cell("hash"),
        };
        let line = n + 2;
        entries.push(
            cells
                .entry()
                .map_err(|reason| ReadError::Line { line, reason })?,
        );
    }
    Ok(entries)
}

/// A cell as written before `defuse`.
fn undefuse(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.starts_with(['=', '+', '-', '@', '\t', '\r']) => rest,
        _ => cell,
    }
}

/// An exported entry's fields as text.
struct Cells {
    id: Option<String>,
    occurred_at: Option<String>,
    account_id: Option<String>,
    user_id: Option<String>,
    user_email: Option<String>,
    user_name: Option<String>,
    action: Option<String>,
    resource_type: Option<String>,
    resource_id: Option<String>,
    ip: Option<String>,
    user_agent: Option<String>,
    details: Option<String>,
    prev_hash: Option<String>,
    hash: Option<String>,
}

impl Cells {
    fn entry(self) -> Result<EntryRow, String> {
        let need = |value: Option<String>, name: &str| value.ok_or(format!("no {name}"));
        let uuid = |value: Option<String>, name: &str| -> Result<Option<uuid::Uuid>, String> {
            value
                .map(|v| v.parse().map_err(|_| format!("{name} is not a UUID: {v}")))
                .transpose()
        };
        let hash = |value: Option<String>, name: &str| -> Result<Option<Vec<u8>>, String> {
            value
                .map(|v| chain::unhex(&v).ok_or(format!("{name} is not hex: {v}")))
                .transpose()
        };
        let occurred_at = need(self.occurred_at, "time")?;
        Ok(EntryRow {
            id: need(self.id, "id")?
                .parse()
                .map_err(|_| "the id is not a number".to_string())?,
            occurred_at: time::OffsetDateTime::parse(
                &occurred_at,
                &time::format_description::well_known::Rfc3339,
            )
            .map_err(|_| format!("the time is not RFC 3339: {occurred_at}"))?,
            account_id: uuid(self.account_id, "account_id")?.map(AccountId::from_uuid),
            actor_id: uuid(self.user_id, "user_id")?.map(crate::ids::UserId::from_uuid),
            actor_email: self.user_email,
            actor_name: self.user_name,
            action: need(self.action, "action")?,
            resource_type: need(self.resource_type, "resource_type")?,
            resource_id: self.resource_id,
            ip: self.ip,
            user_agent: self.user_agent,
            details: EntryDetails::from_text(need(self.details, "details")?),
            prev_hash: hash(self.prev_hash, "prev_hash")?,
            hash: hash(self.hash, "hash")?,
        })
    }
}
