//! "Export your data" (SPEC §13): what the console holds about one person,
//! as JSON. Everything is selected by the person's own id, so nobody
//! else's data can slip in: their profile, their memberships and roles,
//! their sessions (never a session's key or state), the devices they signed
//! in from, the Pods they created
//! or started, and the audit entries they are the actor of, in every log.
//! The entries come in keyset batches, so the page can stream them. Money
//! stays where the person's role may see it (`billing_visible`).

use diesel::prelude::*;
use serde_json::{Value, json};

use crate::audit::ActionKind;
use crate::audit::query::{EntryDetails, EntryRow};
use crate::authz::{self, AccountKind, Capability, Role};
use crate::db::schema::{
    accounts, audit_entries, known_devices, memberships, pods, sessions, users,
};
use crate::format::rfc3339;
use crate::ids::{AccountId, PodId, UserId};
use crate::pods::Pod;

/// Entries read per query.
pub const BATCH: i64 = 500;

/// Everything but the audit entries, as the opening members of the JSON
/// object (`"profile": …, "memberships": …, "sessions": …, "pods_started": …`).
pub fn head(conn: &mut PgConnection, user: UserId) -> QueryResult<serde_json::Map<String, Value>> {
    let (email, display_name, created_at, totp_enabled_at): (
        String,
        String,
        time::OffsetDateTime,
        Option<time::OffsetDateTime>,
    ) = users::table
        .find(user)
        .filter(users::deleted_at.is_null())
        .select((
            users::email,
            users::display_name,
            users::created_at,
            users::totp_enabled_at,
        ))
        .first(conn)?;
    let profile = json!({
        "user_id": user.to_string(),
        "email": email,
        "display_name": display_name,
        "signed_up_at": rfc3339(&created_at),
        "two_factor_since": totp_enabled_at.as_ref().map(rfc3339),
    });

    let member_rows: Vec<(AccountId, String, String, String, time::OffsetDateTime)> =
        memberships::table
            .inner_join(accounts::table)
            .filter(memberships::user_id.eq(user))
            .filter(accounts::deleted_at.is_null())
            .order((accounts::kind.asc(), accounts::name.asc()))
            .select((
                accounts::id,
                accounts::name,
                accounts::kind,
                memberships::role,
                memberships::created_at,
            ))
            .load(conn)?;
    let memberships: Vec<Value> = member_rows
        .into_iter()
        .map(|(id, name, kind, role, since)| {
            json!({"account_id": id.to_string(), "account_name": name, "kind": kind,
                   "role": role, "member_since": rfc3339(&since)})
        })
        .collect();

    type SessionRow = (
        uuid::Uuid,
        time::OffsetDateTime,
        time::OffsetDateTime,
        time::OffsetDateTime,
        Option<String>,
        Option<String>,
    );
    let session_rows: Vec<SessionRow> = sessions::table
        .filter(sessions::user_id.eq(user))
        .order(sessions::created_at.asc())
        .select((
            sessions::id,
            sessions::created_at,
            sessions::last_seen_at,
            sessions::expires_at,
            sessions::ip,
            sessions::user_agent,
        ))
        .load(conn)?;
    let sessions: Vec<Value> = session_rows
        .into_iter()
        .map(|(id, created, seen, expires, ip, agent)| {
            json!({"id": id.to_string(), "signed_in_at": rfc3339(&created),
                   "last_seen_at": rfc3339(&seen), "expires_at": rfc3339(&expires),
                   "ip": ip, "user_agent": agent})
        })
        .collect();

    // The Pods the person created or started, by their own entries (a
    // Pod's `started_by` only names the current run's starter).
    let resources: Vec<Option<String>> = audit_entries::table
        .filter(audit_entries::actor_id.eq(user))
        .filter(
            audit_entries::action
                .eq_any([ActionKind::PodCreated.name(), ActionKind::PodStarted.name()]),
        )
        .select(audit_entries::resource_id)
        .distinct()
        .load(conn)?;
    let mut ids: Vec<PodId> = resources
        .into_iter()
        .flatten()
        .filter_map(|id| id.parse().ok())
        .collect();
    let running_now: Vec<PodId> = pods::table
        .filter(pods::started_by.eq(user))
        .select(pods::id)
        .load(conn)?;
    ids.extend(running_now);
    let pod_rows: Vec<Pod> = pods::table
        .filter(pods::id.eq_any(&ids))
        .order((pods::created_at.asc(), pods::id.asc()))
        .select(Pod::as_select())
        .load(conn)?;
    let pods: Vec<Value> = pod_rows
        .into_iter()
        .map(|p| {
            json!({"id": p.id.to_string(), "account_id": p.account_id.to_string(),
                   "name": p.name, "gpu_type": p.gpu_type, "gpu_count": p.gpu_count,
                   "image": p.image, "status": p.status,
                   "created_at": rfc3339(&p.created_at),
                   "terminated_at": p.terminated_at.as_ref().map(rfc3339)})
        })
        .collect();

    // The devices (browser family and address) they signed in from, which
    // decide the notice of a sign-in from a new one.
    let device_rows: Vec<(String, String, time::OffsetDateTime, time::OffsetDateTime)> =
        known_devices::table
            .filter(known_devices::user_id.eq(user))
            .order(known_devices::first_seen.asc())
            .select((
                known_devices::device,
                known_devices::ip,
                known_devices::first_seen,
                known_devices::last_seen,
            ))
            .load(conn)?;
    let devices: Vec<Value> = device_rows
        .into_iter()
        .map(|(device, ip, first, last)| {
            json!({"device": device, "ip": ip, "first_seen_at": rfc3339(&first),
                   "last_seen_at": rfc3339(&last)})
        })
        .collect();

    let mut head = serde_json::Map::new();
    head.insert("profile".into(), profile);
    head.insert("memberships".into(), Value::Array(memberships));
    head.insert("sessions".into(), Value::Array(sessions));
    head.insert("known_devices".into(), Value::Array(devices));
    head.insert("pods_started".into(), Value::Array(pods));
    Ok(head)
}

/// The accounts whose billing the person may see now (SPEC §2): their
/// entries there are exported whole. Elsewhere (a team where their role
/// has no billing access, one they left or that was deleted) money is
/// withheld from them (SPEC §10), as every page withholds it.
pub fn billing_visible(conn: &mut PgConnection, user: UserId) -> QueryResult<Vec<AccountId>> {
    let rows: Vec<(AccountId, AccountKind, Role)> = memberships::table
        .inner_join(accounts::table)
        .filter(memberships::user_id.eq(user))
        .filter(accounts::deleted_at.is_null())
        .select((accounts::id, accounts::kind, memberships::role))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter(|(_, kind, role)| authz::allows(*kind, *role, Capability::ViewBilling))
        .map(|(id, _, _)| id)
        .collect())
}

/// The entry without money: billing entries keep only what happened and
/// when; others lose every amount (`…_cents`), and their summary is
/// written again from what is left.
fn without_money(mut entry: EntryRow) -> EntryRow {
    let mut details: Value = serde_json::from_str(&entry.details.raw).unwrap_or(Value::Null);
    match details.as_object_mut() {
        Some(fields) if entry.resource_type == "billing" => fields.clear(),
        Some(fields) => fields.retain(|key, _| !key.ends_with("_cents")),
        None => {}
    }
    entry.details = EntryDetails::from_text(details.to_string());
    // Changed, so no longer the entry its hash covers.
    entry.prev_hash = None;
    entry.hash = None;
    entry
}

/// Up to `size` of the person's own audit entries after entry `after`, in
/// the order they were written, each with the account whose log holds it;
/// money withheld outside `billing_visible` accounts.
pub fn own_entries(
    conn: &mut PgConnection,
    user: UserId,
    billing_visible: &[AccountId],
    after: i64,
    size: i64,
) -> QueryResult<Vec<(i64, Value)>> {
    let rows: Vec<EntryRow> = audit_entries::table
        .filter(audit_entries::actor_id.eq(user))
        .filter(audit_entries::id.gt(after))
        .order(audit_entries::id.asc())
        .limit(size)
        .select(EntryRow::as_select())
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|entry| {
            let visible = entry
                .account_id
                .is_some_and(|a| billing_visible.contains(&a));
            let billing = entry.resource_type == "billing";
            let entry = if visible { entry } else { without_money(entry) };
            let mut value = crate::audit::export::json(&entry);
            if billing && !visible {
                value["summary"] = json!(
                    "Billing information: withheld, as the account's billing is shown to its Billing and Admin members only"
                );
            }
            (entry.id, value)
        })
        .collect())
}
