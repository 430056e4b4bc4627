//! API keys (SPEC §12): an Admin creates a key with scopes and an expiry;
//! a script presents it as `Authorization: Bearer tc_…`. The secret is
//! shown once and only its SHA-256 is kept. A key acts for its account and
//! never more than its creator's current role: `authenticate` finds the
//! creator's membership on every request (none: the key is useless), and
//! each scope also needs the capability it stands for in that role.
//!
//! The per-key rate limit is a fixed window counted on the key's own row,
//! so every console process behind a load balancer shares it.

pub mod pages;

use diesel::prelude::*;
use time::{Duration, OffsetDateTime};

use crate::accounts::models::User;
use crate::audit::{Action, Actor, Change, Origin};
use crate::authz::{self, AccountKind, Capability, Role};
use crate::db::schema::{accounts, api_keys, memberships, users};
use crate::ids::{AccountId, ApiKeyId};
use crate::tokens;

/// Every key's secret starts with this, so scanners can find leaked ones.
pub const SECRET_PREFIX: &str = "tc_";
/// How many characters of the secret (after `tc_`) lists show.
const SHOWN: usize = 8;
pub const DEFAULT_LIFETIME_DAYS: i64 = 90;
pub const MAX_LIFETIME_DAYS: i64 = 365;
pub const MAX_NAME_CHARS: usize = 64;
/// The rate limit's window.
pub const WINDOW: Duration = Duration::seconds(60);

/// What a key may be allowed to do, each standing for one row of SPEC §2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    AuditRead,
    MembersRead,
    InvitesWrite,
    PodsRead,
    PodsWrite,
    BillingRead,
}

impl Scope {
    pub const ALL: [Scope; 6] = [
        Scope::AuditRead,
        Scope::MembersRead,
        Scope::InvitesWrite,
        Scope::PodsRead,
        Scope::PodsWrite,
        Scope::BillingRead,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::AuditRead => "audit:read",
            Scope::MembersRead => "members:read",
            Scope::InvitesWrite => "invites:write",
            Scope::PodsRead => "pods:read",
            Scope::PodsWrite => "pods:write",
            Scope::BillingRead => "billing:read",
        }
    }

    pub fn parse(raw: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// What the page says the scope allows.
    pub fn label(self) -> &'static str {
        match self {
            Scope::AuditRead => "Read the audit log",
            Scope::MembersRead => "List members",
            Scope::InvitesWrite => "Create and revoke invites",
            Scope::PodsRead => "List Pods",
            Scope::PodsWrite => "Start and stop Pods",
            Scope::BillingRead => "Read the balance and this month's usage",
        }
    }

    /// The capability the creator's role must still have for the key to
    /// use this scope.
    pub fn capability(self) -> Capability {
        match self {
            Scope::AuditRead => Capability::ViewAuditLog,
            Scope::MembersRead => Capability::ViewMembers,
            Scope::InvitesWrite => Capability::ManageInvites,
            Scope::PodsRead => Capability::UsePods,
            Scope::PodsWrite => Capability::ManagePods,
            Scope::BillingRead => Capability::ViewBilling,
        }
    }
}

/// What the API keys core refuses.
#[derive(Debug, thiserror::Error)]
pub enum ApiKeysError {
    #[error("the key is already revoked")]
    AlreadyRevoked,
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
}

crate::core_error!(ApiKeysError);

/// A new key, checked (`NewKey::check`).
#[derive(Debug, Clone)]
pub struct NewKey {
    pub name: String,
    pub scopes: Vec<Scope>,
    pub lifetime_days: i64,
}

/// What is wrong with a new key's fields, field by field.
#[derive(Debug, Default)]
pub struct NewKeyErrors {
    pub name: Option<String>,
    pub scopes: Option<String>,
    pub lifetime: Option<String>,
}

impl NewKey {
    /// The rules of a key's name, scopes and lifetime (empty lifetime: the
    /// default, 90 days).
    pub fn check(
        name: &str,
        scopes: &[String],
        lifetime_days: &str,
    ) -> Result<NewKey, NewKeyErrors> {
        let mut errors = NewKeyErrors::default();
        let name = name.trim().to_string();
        if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
            errors.name = Some(format!(
                "Give the key a name of 1 to {MAX_NAME_CHARS} characters, saying what uses it."
            ));
        } else if name.chars().any(char::is_control) {
            errors.name = Some("A key's name cannot hold control characters.".into());
        }
        let mut parsed = Vec::new();
        for raw in scopes {
            match Scope::parse(raw.trim()) {
                Some(scope) if !parsed.contains(&scope) => parsed.push(scope),
                Some(_) => {}
                None => {
                    errors.scopes = Some(format!(
                        "Unknown scope {:?}: choose from {}.",
                        raw.chars().take(40).collect::<String>(),
                        scope_list(&Scope::ALL)
                    ))
                }
            }
        }
        if parsed.is_empty() && errors.scopes.is_none() {
            errors.scopes = Some("Choose at least one scope.".into());
        }
        parsed.sort_by_key(|s| Scope::ALL.iter().position(|a| a == s));
        let lifetime = lifetime_days.trim();
        let lifetime_days = if lifetime.is_empty() {
            Some(DEFAULT_LIFETIME_DAYS)
        } else {
            lifetime
                .parse::<i64>()
                .ok()
                .filter(|d| (1..=MAX_LIFETIME_DAYS).contains(d))
        };
        if lifetime_days.is_none() {
            errors.lifetime = Some(format!(
                "Choose an expiry between 1 and {MAX_LIFETIME_DAYS} days."
            ));
        }
        match (
            errors.name.is_some() || errors.scopes.is_some(),
            lifetime_days,
        ) {
            (false, Some(lifetime_days)) => Ok(NewKey {
                name,
                scopes: parsed,
                lifetime_days,
            }),
            _ => Err(errors),
        }
    }
}

/// "audit:read, pods:write".
pub fn scope_list(scopes: &[Scope]) -> String {
    scopes
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn parse_scopes(raw: &[String]) -> Vec<Scope> {
    raw.iter().filter_map(|s| Scope::parse(s)).collect()
}

/// A key just created: its id and its secret, which exists nowhere else.
pub struct CreatedKey {
    pub id: ApiKeyId,
    pub secret: String,
    pub prefix: String,
}

/// Creates a key for the account (audited). The creator is the actor.
pub fn create(
    conn: &mut PgConnection,
    cx: &Change,
    new: &NewKey,
) -> Result<CreatedKey, ApiKeysError> {
    let created_by = cx.actor.id.ok_or(diesel::result::Error::NotFound)?;
    let secret = format!("{SECRET_PREFIX}{}", tokens::random_token(32));
    let prefix: String = secret.chars().take(SECRET_PREFIX.len() + SHOWN).collect();
    let id = ApiKeyId::new();
    let expires_at = cx.now + Duration::days(new.lifetime_days);
    let scopes: Vec<&str> = new.scopes.iter().map(|s| s.as_str()).collect();
    conn.transaction(|conn| {
        diesel::insert_into(api_keys::table)
            .values((
                api_keys::id.eq(id),
                api_keys::account_id.eq(cx.account_id),
                api_keys::name.eq(&new.name),
                api_keys::prefix.eq(&prefix),
                api_keys::secret_hash.eq(tokens::sha256(&secret)),
                api_keys::scopes.eq(&scopes),
                api_keys::created_by.eq(created_by),
                api_keys::created_at.eq(cx.now),
                api_keys::expires_at.eq(expires_at),
            ))
            .execute(conn)?;
        cx.record(
            conn,
            Action::ApiKeyCreated {
                key: id,
                name: new.name.clone(),
                scopes: scope_list(&new.scopes),
                expires_at: crate::format::date_time(&expires_at),
            },
        )?;
        Ok(CreatedKey { id, secret, prefix })
    })
}

/// A key as the API keys page lists it.
#[derive(Debug, Clone)]
pub struct KeyRow {
    pub id: ApiKeyId,
    pub name: String,
    pub prefix: String,
    pub scopes: Vec<Scope>,
    pub created_by: String,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
    pub last_used_at: Option<OffsetDateTime>,
    pub last_used_ip: Option<String>,
}

impl KeyRow {
    pub fn scope_list(&self) -> String {
        scope_list(&self.scopes)
    }

    /// "active", "expired" or "revoked".
    pub fn status(&self, now: OffsetDateTime) -> &'static str {
        if self.revoked_at.is_some() {
            "revoked"
        } else if self.expires_at <= now {
            "expired"
        } else {
            "active"
        }
    }
}

type KeyColumns = (
    api_keys::id,
    api_keys::name,
    api_keys::prefix,
    api_keys::scopes,
    users::display_name,
    api_keys::created_at,
    api_keys::expires_at,
    api_keys::revoked_at,
    api_keys::last_used_at,
    api_keys::last_used_ip,
);

const KEY_COLUMNS: KeyColumns = (
    api_keys::id,
    api_keys::name,
    api_keys::prefix,
    api_keys::scopes,
    users::display_name,
    api_keys::created_at,
    api_keys::expires_at,
    api_keys::revoked_at,
    api_keys::last_used_at,
    api_keys::last_used_ip,
);

type KeyTuple = (
    ApiKeyId,
    String,
    String,
    Vec<String>,
    String,
    OffsetDateTime,
    OffsetDateTime,
    Option<OffsetDateTime>,
    Option<OffsetDateTime>,
    Option<String>,
);

fn key_row(t: KeyTuple) -> KeyRow {
    KeyRow {
        id: t.0,
        name: t.1,
        prefix: t.2,
        scopes: parse_scopes(&t.3),
        created_by: t.4,
        created_at: t.5,
        expires_at: t.6,
        revoked_at: t.7,
        last_used_at: t.8,
        last_used_ip: t.9,
    }
}

/// The account's keys, newest first (revoked and expired ones too: the
/// page says so).
pub fn list(conn: &mut PgConnection, account_id: AccountId) -> QueryResult<Vec<KeyRow>> {
    let rows: Vec<KeyTuple> = api_keys::table
        .inner_join(users::table)
        .filter(api_keys::account_id.eq(account_id))
        .order((api_keys::created_at.desc(), api_keys::id.desc()))
        .select(KEY_COLUMNS)
        .load(conn)?;
    Ok(rows.into_iter().map(key_row).collect())
}

/// Revokes a key at once (audited). Another account's key is NotFound.
pub fn revoke(conn: &mut PgConnection, cx: &Change, key: ApiKeyId) -> Result<KeyRow, ApiKeysError> {
    conn.transaction(|conn| {
        api_keys::table
            .filter(api_keys::account_id.eq(cx.account_id))
            .filter(api_keys::id.eq(key))
            .select(api_keys::id)
            .for_update()
            .first::<ApiKeyId>(conn)?;
        let row: KeyTuple = api_keys::table
            .inner_join(users::table)
            .filter(api_keys::id.eq(key))
            .select(KEY_COLUMNS)
            .first(conn)?;
        let row = key_row(row);
        if row.revoked_at.is_some() {
            return Err(ApiKeysError::AlreadyRevoked);
        }
        diesel::update(api_keys::table.find(key))
            .set(api_keys::revoked_at.eq(cx.now))
            .execute(conn)?;
        cx.record(
            conn,
            Action::ApiKeyRevoked {
                key,
                name: row.name.clone(),
            },
        )?;
        Ok(row)
    })
}

/// Where a key stands in its rate-limit window after this request.
#[derive(Debug, Clone, Copy)]
pub struct RateState {
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the window ends.
    pub reset_secs: u64,
    pub exceeded: bool,
}

/// A key that authenticated: for whom it acts, as whom, with what.
#[derive(Debug, Clone)]
pub struct Caller {
    pub key: ApiKeyId,
    pub key_name: String,
    pub account_id: AccountId,
    pub account_kind: AccountKind,
    /// The team requires two-factor sign-in and the creator has not set
    /// it up: the key is refused as its creator's pages are.
    pub two_factor_missing: bool,
    pub creator: User,
    /// The creator's role in the account now.
    pub role: Role,
    pub scopes: Vec<Scope>,
    pub rate: RateState,
}

impl Caller {
    pub fn has_scope(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }

    /// Whether the creator's current role allows what `scope` stands for.
    pub fn role_allows(&self, scope: Scope) -> bool {
        authz::allows(self.account_kind, self.role, scope.capability())
    }

    pub fn role_can(&self, capability: Capability) -> bool {
        authz::allows(self.account_kind, self.role, capability)
    }

    /// How entries name a change made with the key: its creator's id and
    /// email, and a name saying which key did it ("API key “cron” of
    /// Alice Admin"), so the sentence names the key and the user filter
    /// still finds the person behind it.
    pub fn actor(&self) -> Actor {
        Actor {
            id: Some(self.creator.id),
            email: self.creator.email.clone(),
            name: Some(format!(
                "API key \u{201c}{}\u{201d} of {}",
                self.key_name, self.creator.display_name
            )),
        }
    }

    pub fn change(&self, origin: Origin, now: OffsetDateTime) -> Change {
        Change {
            account_id: self.account_id,
            actor: self.actor(),
            origin,
            now,
        }
    }
}

/// Finds the live key with this secret, its live account and its creator's
/// current membership, and counts the request against the key's rate
/// limit (`limit` per `WINDOW`), noting when and from where it was used.
/// None: no such key, or it expired, was revoked, or its creator left the
/// account or deleted their user (the key is then useless).
pub fn authenticate(
    conn: &mut PgConnection,
    secret: &str,
    ip: Option<&str>,
    now: OffsetDateTime,
    limit: u32,
) -> QueryResult<Option<Caller>> {
    if !secret.starts_with(SECRET_PREFIX) || secret.len() > 200 {
        return Ok(None);
    }
    let hash = tokens::sha256(secret);
    type Found = (
        ApiKeyId,
        String,
        AccountId,
        AccountKind,
        bool,
        Vec<String>,
        User,
        Role,
    );
    let found: Option<Found> = api_keys::table
        .inner_join(accounts::table)
        .inner_join(
            memberships::table.on(memberships::account_id
                .eq(api_keys::account_id)
                .and(memberships::user_id.eq(api_keys::created_by))),
        )
        .inner_join(users::table.on(users::id.eq(api_keys::created_by)))
        .filter(api_keys::secret_hash.eq(&hash))
        .filter(api_keys::revoked_at.is_null())
        .filter(api_keys::expires_at.gt(now))
        .filter(accounts::deleted_at.is_null())
        .filter(users::deleted_at.is_null())
        .select((
            api_keys::id,
            api_keys::name,
            api_keys::account_id,
            accounts::kind,
            accounts::require_two_factor,
            api_keys::scopes,
            User::as_select(),
            memberships::role,
        ))
        .first(conn)
        .optional()?;
    let Some((key, key_name, account_id, account_kind, require_two_factor, scopes, creator, role)) =
        found
    else {
        return Ok(None);
    };
    let rate = count_request(conn, key, ip, now, limit)?;
    Ok(Some(Caller {
        key,
        key_name,
        account_id,
        account_kind,
        two_factor_missing: require_two_factor && !creator.has_two_factor(),
        creator,
        role,
        scopes: parse_scopes(&scopes),
        rate,
    }))
}

/// One request of `key`: a new window when the last one is over, then one
/// more in it. Two statements, each atomic on the row, so concurrent
/// requests on any number of consoles never lose a count.
fn count_request(
    conn: &mut PgConnection,
    key: ApiKeyId,
    ip: Option<&str>,
    now: OffsetDateTime,
    limit: u32,
) -> QueryResult<RateState> {
    diesel::update(
        api_keys::table.find(key).filter(
            api_keys::window_start
                .is_null()
                .or(api_keys::window_start.le(now - WINDOW))
                .or(api_keys::window_start.gt(now)),
        ),
    )
    .set((api_keys::window_start.eq(now), api_keys::window_count.eq(0)))
    .execute(conn)?;
    let (start, count): (Option<OffsetDateTime>, i32) = diesel::update(api_keys::table.find(key))
        .set((
            api_keys::window_count.eq(api_keys::window_count + 1),
            api_keys::last_used_at.eq(now),
            api_keys::last_used_ip.eq(ip),
        ))
        .returning((api_keys::window_start, api_keys::window_count))
        .get_result(conn)?;
    let ends = start.unwrap_or(now) + WINDOW;
    let count = count.max(0) as u32;
    Ok(RateState {
        limit,
        remaining: limit.saturating_sub(count),
        reset_secs: (ends - now).whole_seconds().max(1) as u64,
        exceeded: count > limit,
    })
}

/// Records that `caller` asked for something its key's scopes do not
/// cover (the request is refused).
pub fn refuse_scope(
    conn: &mut PgConnection,
    cx: &Change,
    caller: &Caller,
    scope: Scope,
    request: String,
) -> QueryResult<()> {
    conn.transaction(|conn| {
        cx.record(
            conn,
            Action::ApiKeyScopeRefused {
                key: caller.key,
                name: caller.key_name.clone(),
                scope: scope.as_str(),
                request,
            },
        )
    })
}
