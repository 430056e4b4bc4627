//! The audit log as evidence: every entry is linked to the one before it
//! in its chain (an account's entries, or those that belong to no account)
//! by SHA-256 over a documented encoding (docs/audit-integrity.md), and
//! signed checkpoints (Ed25519) fix the chain's state now and then. Anyone
//! who can write the table directly (a database superuser, a restored
//! backup) can recompute hashes, but not the signatures: `verify` names
//! each entry that was changed, deleted, inserted or reordered, and each
//! checkpoint that does not hold.

use std::collections::HashMap;
use std::convert::Infallible;

use diesel::prelude::*;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::macros::format_description;
use uuid::Uuid;

use crate::audit::query::EntryRow;
use crate::audit::{Action, ActionKind, Origin};
use crate::db::schema::{audit_chains, audit_entries as a};
use crate::ids::{AccountId, UserId};

/// The link before a chain's first entry.
pub const GENESIS: [u8; 32] = [0; 32];

/// A chain's key: the account's id, or the nil UUID for entries that
/// belong to no account (sign-ins and sign-outs).
pub fn chain_key(account: Option<AccountId>) -> Uuid {
    account.map_or(Uuid::nil(), |a| a.as_uuid())
}

/// An entry's fields as the hash covers them.
pub struct Fields<'a> {
    pub account: Option<AccountId>,
    pub occurred_at: OffsetDateTime,
    pub actor_id: Option<UserId>,
    pub actor_email: Option<&'a str>,
    pub actor_name: Option<&'a str>,
    pub action: &'a str,
    pub resource_type: &'a str,
    pub resource_id: Option<&'a str>,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    /// The details as canonical JSON (`canonical_json`).
    pub details: &'a str,
}

/// "2026-11-29T03:04:05.123456Z": UTC, always six fractional digits.
pub fn timestamp(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
        ))
        .unwrap_or_default()
}

/// Keys sorted, no white space: the same text whether the details come
/// from the action being recorded or from jsonb read back.
pub fn canonical_json(value: &serde_json::Value) -> String {
    // serde_json's maps are BTreeMaps (no `preserve_order`): sorted keys.
    serde_json::to_string(value).unwrap_or_default()
}

/// What an entry's hash covers before its link.
const ENTRY_PREFIX: &[u8] = b"team-console audit entry v1\n";

/// Feeds the entry's fields, in the encoding the hash covers after the
/// link (docs/audit-integrity.md), to `out`.
fn encode(f: &Fields<'_>, mut out: impl FnMut(&[u8])) {
    let mut field = |value: Option<&str>| match value {
        Some(text) => {
            out(&(text.len() as u32).to_be_bytes());
            out(text.as_bytes());
        }
        None => out(&u32::MAX.to_be_bytes()),
    };
    let account = f.account.map(|a| a.to_string());
    let actor_id = f.actor_id.map(|a| a.to_string());
    field(Some(account.as_deref().unwrap_or("")));
    field(Some(&timestamp(f.occurred_at)));
    field(actor_id.as_deref());
    field(f.actor_email);
    field(f.actor_name);
    field(Some(f.action));
    field(Some(f.resource_type));
    field(f.resource_id);
    field(f.ip);
    field(f.user_agent);
    field(Some(f.details));
}

impl<'a> Fields<'a> {
    /// A stored entry's fields, with its details as canonical JSON.
    pub fn of(e: &'a EntryRow, details: &'a str) -> Fields<'a> {
        Fields {
            account: e.account_id,
            occurred_at: e.occurred_at,
            actor_id: e.actor_id,
            actor_email: e.actor_email.as_deref(),
            actor_name: e.actor_name.as_deref(),
            action: &e.action,
            resource_type: &e.resource_type,
            resource_id: e.resource_id.as_deref(),
            ip: e.ip.as_deref(),
            user_agent: e.user_agent.as_deref(),
            details,
        }
    }
}

/// SHA-256 of an entry linked to `prev` (docs/audit-integrity.md).
pub fn entry_hash(prev: &[u8], f: &Fields<'_>) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update(ENTRY_PREFIX);
    hash.update(prev);
    encode(f, |bytes| hash.update(bytes));
    hash.finalize().into()
}

diesel::define_sql_function! {
    /// Migration 000110: locks the chain's head, links the entry to it by
    /// SHA-256 over `ENTRY_PREFIX`, the head's hash and `fields` (the rest
    /// of what `entry_hash` covers), inserts it and moves the head, in one
    /// call. Returns the entry's hash.
    #[allow(clippy::too_many_arguments)]
    fn audit_append(
        chain: diesel::sql_types::Uuid,
        fields: diesel::sql_types::Bytea,
        occurred_at: diesel::sql_types::Timestamptz,
        account_id: diesel::sql_types::Nullable<diesel::sql_types::Uuid>,
        actor_id: diesel::sql_types::Nullable<diesel::sql_types::Uuid>,
        actor_email: diesel::sql_types::Nullable<diesel::sql_types::Text>,
        actor_name: diesel::sql_types::Nullable<diesel::sql_types::Text>,
        action: diesel::sql_types::Text,
        resource_type: diesel::sql_types::Text,
        resource_id: diesel::sql_types::Nullable<diesel::sql_types::Text>,
        ip: diesel::sql_types::Nullable<diesel::sql_types::Text>,
        user_agent: diesel::sql_types::Nullable<diesel::sql_types::Text>,
        details: diesel::sql_types::Jsonb,
    ) -> diesel::sql_types::Bytea;
}

/// Takes the chain's head (locked until the transaction ends: writers of
/// one chain queue) and returns its last hash and entry count.
fn lock_head(conn: &mut PgConnection, chain: Uuid) -> QueryResult<(Vec<u8>, i64)> {
    diesel::insert_into(audit_chains::table)
        .values((
            audit_chains::chain.eq(chain),
            audit_chains::last_hash.eq(GENESIS.to_vec()),
            audit_chains::entries.eq(0_i64),
        ))
        .on_conflict(audit_chains::chain)
        .do_update()
        .set(audit_chains::chain.eq(chain))
        .returning((audit_chains::last_hash, audit_chains::entries))
        .get_result(conn)
}

/// Appends `action` to its chain: the one place entries are written. One
/// statement (`audit_append`), so the writers of one account hold their
/// chain's head only for it and their commit, with no round trip to the
/// console in between.
pub(crate) fn append(
    conn: &mut PgConnection,
    account: Option<AccountId>,
    actor: Option<&crate::audit::Actor>,
    origin: &Origin,
    action: Action,
) -> QueryResult<()> {
    // Microseconds, as PostgreSQL keeps them, so the hash reads back.
    let now = OffsetDateTime::now_utc();
    let now = now
        .replace_nanosecond(now.nanosecond() / 1_000 * 1_000)
        .unwrap_or(now);
    let details = action.details();
    let details_text = canonical_json(&details);
    let kind = action.kind();
    let resource_id = action.resource_id();
    let fields = Fields {
        account,
        occurred_at: now,
        actor_id: actor.and_then(|a| a.id),
        actor_email: actor.map(|a| a.email.as_str()),
        actor_name: actor.and_then(|a| a.name.as_deref()),
        action: kind.name(),
        resource_type: kind.resource_type(),
        resource_id: resource_id.as_deref(),
        ip: origin.ip.as_deref(),
        user_agent: origin.user_agent.as_deref(),
        details: &details_text,
    };
    let mut encoded = Vec::with_capacity(256 + details_text.len());
    encode(&fields, |bytes| encoded.extend_from_slice(bytes));
    diesel::select(audit_append(
        chain_key(account),
        encoded,
        now,
        account,
        fields.actor_id,
        fields.actor_email,
        fields.actor_name,
        kind.name(),
        kind.resource_type(),
        fields.resource_id,
        fields.ip,
        fields.user_agent,
        details,
    ))
    .execute(conn)?;
    Ok(())
}

/// The key that signs checkpoints, derived from the console's secret key
/// (so every node of one console signs alike, and nothing more is kept).
pub fn signing_key(secret: &[u8]) -> SigningKey {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(b"team-console audit checkpoints v1");
    SigningKey::from_bytes(&mac.finalize().into_bytes().into())
}

pub fn public_key_hex(key: &VerifyingKey) -> String {
    hex(key.as_bytes())
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn unhex(text: &str) -> Option<Vec<u8>> {
    (0..text.len())
        .step_by(2)
        .map(|i| {
            text.get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect()
}

/// What a checkpoint signs (docs/audit-integrity.md).
pub fn checkpoint_message(chain: Uuid, entries: i64, last_hash: &[u8], signed_at: &str) -> Vec<u8> {
    let mut message = b"team-console audit checkpoint v1\n".to_vec();
    message.extend_from_slice(chain.to_string().as_bytes());
    message.push(b'\n');
    message.extend_from_slice(&entries.to_be_bytes());
    message.extend_from_slice(last_hash);
    message.extend_from_slice(signed_at.as_bytes());
    message
}

/// Seals `chain` with a signed checkpoint entry, unless nothing was added
/// since its last one. Returns whether it wrote one.
pub fn checkpoint(
    conn: &mut PgConnection,
    account: Option<AccountId>,
    key: &SigningKey,
    now: OffsetDateTime,
) -> QueryResult<bool> {
    conn.transaction(|conn| {
        let chain = chain_key(account);
        let (last_hash, entries) = lock_head(conn, chain)?;
        let mut last = a::table.select(a::action).order(a::id.desc()).into_boxed();
        last = match account {
            Some(id) => last.filter(a::account_id.eq(id)),
            None => last.filter(a::account_id.is_null()),
        };
        let last: Option<String> = last.first(conn).optional()?;
        if entries == 0 || last.as_deref() == Some(ActionKind::AuditCheckpoint.name()) {
            return Ok(false);
        }
        let signed_at = timestamp(now);
        let signature = key.sign(&checkpoint_message(chain, entries, &last_hash, &signed_at));
        crate::audit::record(
            conn,
            account,
            None,
            &Origin::default(),
            Action::AuditCheckpoint {
                chain,
                entries,
                last_hash: hex(&last_hash),
                signed_at,
                public_key: public_key_hex(&key.verifying_key()),
                signature: hex(&signature.to_bytes()),
            },
        )?;
        Ok(true)
    })
}

/// Seals every chain with something new (the hourly job; one node at a
/// time through an advisory lock). Returns how many it sealed.
pub fn checkpoint_all(
    conn: &mut PgConnection,
    key: &SigningKey,
    now: OffsetDateTime,
) -> QueryResult<usize> {
    conn.transaction(|conn| {
        #[derive(QueryableByName)]
        struct Locked {
            #[diesel(sql_type = diesel::sql_types::Bool)]
            locked: bool,
        }
        // "tcseals": one sealer at a time across console processes.
        let got: Locked =
            diesel::sql_query("SELECT pg_try_advisory_xact_lock(7378349147424875891) AS locked")
                .get_result(conn)?;
        if !got.locked {
            return Ok(0);
        }
        let chains: Vec<Uuid> = audit_chains::table.select(audit_chains::chain).load(conn)?;
        let mut sealed = 0;
        for chain in chains {
            let account = (!chain.is_nil()).then(|| AccountId::from_uuid(chain));
            if checkpoint(conn, account, key, now)? {
                sealed += 1;
            }
        }
        Ok(sealed)
    })
}

/// What verification found wrong, by entry id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The entry's fields are not what its hash covers.
    Modified { id: i64 },
    /// The entry before this one in its chain is missing.
    Deleted { before: i64 },
    /// The entry stands out of its place in the chain.
    Reordered { id: i64 },
    /// An entry without a hash after the chain began.
    Inserted { id: i64 },
    /// A checkpoint that does not match the chain where it stands.
    CheckpointMismatch { id: i64 },
    /// A checkpoint whose signature does not verify with the public key.
    BadSignature { id: i64 },
    /// The chain's head counts more entries, or ends elsewhere, than the
    /// table holds: entries were removed from its end.
    TailMissing { head_entries: i64, found: i64 },
    /// The chain starts after its beginning (at entry `first`) and no
    /// expiry record names that start: entries were removed from its start.
    Truncated { first: i64 },
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Modified { id } => write!(f, "entry {id} was modified"),
            Problem::Deleted { before } => write!(f, "an entry before entry {before} was deleted"),
            Problem::Reordered { id } => write!(f, "entry {id} is out of its place (reordered)"),
            Problem::Inserted { id } => write!(f, "entry {id} was inserted (it has no hash)"),
            Problem::CheckpointMismatch { id } => {
                write!(f, "checkpoint {id} does not match the chain it seals")
            }
            Problem::BadSignature { id } => write!(f, "checkpoint {id} has an invalid signature"),
            Problem::TailMissing {
                head_entries,
                found,
            } => write!(
                f,
                "the chain's head counts {head_entries} entries but {found} are there: entries were removed from its end"
            ),
            Problem::Truncated { first } => write!(
                f,
                "the entries before entry {first} were removed, and no expiry record accounts for them"
            ),
        }
    }
}

/// One chain's verification.
#[derive(Debug, Default)]
pub struct Report {
    /// Entries on the chain.
    pub entries: i64,
    /// Entries written before the chain began (no hash), not checked.
    pub before_chain: i64,
    pub checkpoints: i64,
    /// Entries after the last checkpoint: linked, but not yet sealed by a
    /// signature (an export can be cut short there without a trace).
    pub unsealed: i64,
    /// Entries that expired before the first one there, as the expiry
    /// record that accounts for them says (retention).
    pub expired: i64,
    pub problems: Vec<Problem>,
}

/// Checks one chain's entries, given in the order they were written, from
/// the database or from an export: the same rules for both.
pub struct Checker<'k> {
    chain: Uuid,
    public: &'k VerifyingKey,
    prev: Option<Vec<u8>>,
    /// Where the chain starts when its first entry links to one no longer
    /// there: its id and that link, until an expiry record accounts for it.
    cut: Option<(i64, Vec<u8>)>,
    /// How many entries came before the first one, once an expiry record
    /// has said so.
    expired: Option<i64>,
    /// Checkpoints met before that: (id, entries they count, entries here
    /// before them), checked when the count is known.
    unplaced: Vec<(i64, i64, i64)>,
    report: Report,
}

impl<'k> Checker<'k> {
    pub fn new(chain: Uuid, public: &'k VerifyingKey) -> Self {
        Checker {
            chain,
            public,
            prev: None,
            cut: None,
            expired: None,
            unplaced: Vec::new(),
            report: Report::default(),
        }
    }

    /// Checks the chain's next entry. When its link names another hash
    /// than the previous entry's, `locate` says which entry has that hash,
    /// if any: one written later means this entry was moved (reordered),
    /// none means the entry it followed is gone (deleted).
    pub fn push<E>(
        &mut self,
        e: &EntryRow,
        locate: impl FnOnce(&[u8]) -> Result<Option<i64>, E>,
    ) -> Result<(), E> {
        let report = &mut self.report;
        let (Some(hash), Some(prev_hash)) = (&e.hash, &e.prev_hash) else {
            match self.prev {
                None => report.before_chain += 1,
                Some(_) => report.problems.push(Problem::Inserted { id: e.id }),
            }
            return Ok(());
        };
        let expected_prev = match &self.prev {
            Some(prev) => prev.clone(),
            // The first entry links to the genesis, or, once the chain's
            // start expired, to an entry no longer kept: an expiry record
            // further on must account for that (`finish`).
            None if prev_hash.as_slice() != GENESIS => {
                self.cut = Some((e.id, prev_hash.clone()));
                prev_hash.clone()
            }
            None => GENESIS.to_vec(),
        };
        if *prev_hash != expected_prev {
            report.problems.push(match locate(prev_hash)? {
                Some(id) if id > e.id => Problem::Reordered { id: e.id },
                _ => Problem::Deleted { before: e.id },
            });
        }
        let details: serde_json::Value =
            serde_json::from_str(&e.details.raw).unwrap_or(serde_json::Value::Null);
        let details = canonical_json(&details);
        if entry_hash(prev_hash, &Fields::of(e, &details)).as_slice() != hash.as_slice() {
            report.problems.push(Problem::Modified { id: e.id });
        }
        if e.action == ActionKind::AuditCheckpoint.name() {
            report.checkpoints += 1;
            report.unsealed = 0;
            // Its count includes the entries that expired, known once the
            // expiry record is met.
            let place = match (&self.cut, self.expired) {
                (None, _) => Some(report.entries),
                (Some(_), Some(expired)) => Some(expired + report.entries),
                (Some(_), None) => None,
            };
            if place.is_none() {
                let counted = e.details.fields.entries.unwrap_or(-1);
                self.unplaced.push((e.id, counted, report.entries));
            }
            check_checkpoint(e, &expected_prev, place, report, self.chain, self.public);
        } else {
            report.unsealed += 1;
        }
        if e.action == ActionKind::AuditExpired.name()
            && self.expired.is_none()
            && let Some((_, link)) = &self.cut
            && e.details.fields.link.as_deref().and_then(unhex).as_deref() == Some(link.as_slice())
            && let Some(expired) = e.details.fields.entries
        {
            self.expired = Some(expired);
            report.expired = expired;
            for (id, counted, before) in self.unplaced.drain(..) {
                if counted != expired + before {
                    report.problems.push(Problem::CheckpointMismatch { id });
                }
            }
        }
        report.entries += 1;
        self.prev = Some(hash.clone());
        Ok(())
    }

    /// The hash the chain ends with so far (the genesis link if none).
    pub fn last_hash(&self) -> &[u8] {
        self.prev.as_deref().unwrap_or(&GENESIS)
    }

    pub fn finish(mut self) -> Report {
        if let (Some((first, _)), None) = (&self.cut, self.expired) {
            self.report
                .problems
                .push(Problem::Truncated { first: *first });
        }
        self.report
    }
}

const BATCH: i64 = 5_000;

/// Recomputes `account`'s chain (None: the chain of what belongs to no
/// account) and checks its checkpoints with `public`.
pub fn verify(
    conn: &mut PgConnection,
    account: Option<AccountId>,
    public: &VerifyingKey,
) -> QueryResult<Report> {
    let chain = chain_key(account);
    let mut checker = Checker::new(chain, public);
    let mut after = i64::MIN;
    loop {
        let mut q = a::table
            .filter(a::id.gt(after))
            .order(a::id.asc())
            .limit(BATCH)
            .select(EntryRow::as_select())
            .into_boxed();
        q = match account {
            Some(id) => q.filter(a::account_id.eq(id)),
            None => q.filter(a::account_id.is_null()),
        };
        let batch: Vec<EntryRow> = q.load(conn)?;
        let Some(last) = batch.last() else { break };
        after = last.id;
        for entry in &batch {
            checker.push(entry, |hash| {
                a::table
                    .filter(a::hash.eq(hash))
                    .select(a::id)
                    .first::<i64>(conn)
                    .optional()
            })?;
        }
        if (batch.len() as i64) < BATCH {
            break;
        }
    }
    let head: Option<(Vec<u8>, i64)> = audit_chains::table
        .find(chain)
        .select((audit_chains::last_hash, audit_chains::entries))
        .first(conn)
        .optional()?;
    let ends_at = checker.last_hash().to_vec();
    let mut report = checker.finish();
    // The head is where the chain last ended: an entry deleted in the
    // middle shows at its successor; one deleted at the end only here.
    if let Some((last_hash, entries)) = head
        && ends_at != last_hash
    {
        report.problems.push(Problem::TailMissing {
            head_entries: entries,
            found: report.expired + report.entries,
        });
    }
    Ok(report)
}

/// Verifies the entries of an export (`audit::export::read`), without the
/// database: each chain in it (one per account) in the order written.
/// Only the public key is needed; what was cut from the export after its
/// last checkpoint cannot be told, and `Report::unsealed` says how much
/// that is.
pub fn verify_export(
    mut entries: Vec<EntryRow>,
    public: &VerifyingKey,
) -> Vec<(Option<AccountId>, Report)> {
    entries.sort_by_key(|e| (chain_key(e.account_id), e.id));
    let by_hash: HashMap<&[u8], i64> = entries
        .iter()
        .filter_map(|e| Some((e.hash.as_deref()?, e.id)))
        .collect();
    let mut reports = Vec::new();
    for chain in entries.chunk_by(|a, b| a.account_id == b.account_id) {
        let account = chain[0].account_id;
        let mut checker = Checker::new(chain_key(account), public);
        for entry in chain {
            let located = |hash: &[u8]| Ok::<_, Infallible>(by_hash.get(hash).copied());
            let Ok(()) = checker.push(entry, located);
        }
        reports.push((account, checker.finish()));
    }
    reports
}

/// `entries_before`: how many entries the chain held before this one,
/// unless the chain's start expired and no record has said how many yet.
fn check_checkpoint(
    e: &EntryRow,
    chain_hash: &[u8],
    entries_before: Option<i64>,
    report: &mut Report,
    chain: Uuid,
    public: &VerifyingKey,
) {
    let d = &e.details.fields;
    let (Some(last_hash), Some(entries), Some(signed_at), Some(signature)) = (
        d.last_hash.as_deref().and_then(unhex),
        d.entries,
        d.signed_at.as_deref(),
        d.signature.as_deref().and_then(unhex),
    ) else {
        report
            .problems
            .push(Problem::CheckpointMismatch { id: e.id });
        return;
    };
    if last_hash != chain_hash || entries_before.is_some_and(|before| entries != before) {
        report
            .problems
            .push(Problem::CheckpointMismatch { id: e.id });
    }
    let message = checkpoint_message(chain, entries, &last_hash, signed_at);
    let valid = Signature::from_slice(&signature)
        .map(|s| public.verify(&message, &s).is_ok())
        .unwrap_or(false);
    if !valid {
        report.problems.push(Problem::BadSignature { id: e.id });
    }
}

/// Every chain's key, for verifying them all.
pub fn chains(conn: &mut PgConnection) -> QueryResult<Vec<Option<AccountId>>> {
    let keys: Vec<Uuid> = audit_chains::table
        .select(audit_chains::chain)
        .order(audit_chains::chain)
        .load(conn)?;
    Ok(keys
        .into_iter()
        .map(|k| (!k.is_nil()).then(|| AccountId::from_uuid(k)))
        .collect())
}

/// Parses a public key written as hex.
pub fn parse_public_key(text: &str) -> Option<VerifyingKey> {
    let bytes: [u8; 32] = unhex(text.trim())?.try_into().ok()?;
    VerifyingKey::from_bytes(&bytes).ok()
}
