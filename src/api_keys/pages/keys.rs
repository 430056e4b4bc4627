//! GET /accounts/{id}/settings/api-keys: the account's keys and the form
//! creating one; POST there creates it and shows its secret once (the
//! answer to the form, never stored or shown again); POST
//! …/api-keys/{key_id}/revoke revokes it at once.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::AppState;
use crate::api_keys::{self, DEFAULT_LIFETIME_DAYS, KeyRow, NewKey, NewKeyErrors, Scope};
use crate::audit::Origin;
use crate::authz::can;
use crate::format;
use crate::ids::{AccountId, ApiKeyId};
use crate::web::auth::Member;
use crate::web::error::AppResult;
use crate::web::layout::Layout;
use crate::web::reauth::{self, Ask, Submitted};
use crate::web::{self as w, session};

/// A key as the table shows it.
struct Listed {
    key: KeyRow,
    status: &'static str,
    created: String,
    expires: String,
    last_used: String,
}

/// A scope's checkbox.
struct ScopeBox {
    value: &'static str,
    label: &'static str,
    checked: bool,
}

/// A key just created: shown once.
struct Created {
    name: String,
    secret: String,
}

#[derive(Template)]
#[template(path = "api_keys/page.html")]
struct KeysPage {
    layout: Layout,
    account_id: AccountId,
    keys: Vec<Listed>,
    scopes: Vec<ScopeBox>,
    name: String,
    lifetime_days: String,
    errors: NewKeyErrors,
    created: Option<Created>,
}

async fn render(
    state: &AppState,
    member: &Member<can::ManageApiKeys>,
    status: StatusCode,
    form: &NewKeyForm,
    errors: NewKeyErrors,
    created: Option<Created>,
) -> AppResult<HttpResponse> {
    let account_id = member.account_id();
    let now = state.clock.now();
    let keys = state
        .db(move |conn| api_keys::list(conn, account_id))
        .await?
        .into_iter()
        .map(|key| Listed {
            status: key.status(now),
            created: format::date(&key.created_at),
            expires: format::date(&key.expires_at),
            last_used: match (&key.last_used_at, &key.last_used_ip) {
                (Some(at), Some(ip)) => format!("{} from {ip}", format::time_ago(at, now)),
                (Some(at), None) => format::time_ago(at, now),
                _ => "never".into(),
            },
            key,
        })
        .collect();
    let page = KeysPage {
        layout: member.layout()?.section("settings"),
        account_id,
        keys,
        scopes: Scope::ALL
            .into_iter()
            .map(|s| ScopeBox {
                value: s.as_str(),
                label: s.label(),
                checked: form.scopes().iter().any(|c| c == s.as_str()),
            })
            .collect(),
        name: form.name.clone(),
        lifetime_days: form.lifetime_days.clone(),
        errors,
        created,
    };
    w::render(status, &page)
}

/// The form as sent: one checkbox per scope, named by the scope.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct NewKeyForm {
    name: String,
    lifetime_days: String,
    #[serde(rename = "audit:read")]
    audit_read: String,
    #[serde(rename = "members:read")]
    members_read: String,
    #[serde(rename = "invites:write")]
    invites_write: String,
    #[serde(rename = "pods:read")]
    pods_read: String,
    #[serde(rename = "pods:write")]
    pods_write: String,
    #[serde(rename = "billing:read")]
    billing_read: String,
}

impl NewKeyForm {
    /// The scopes whose box is ticked.
    fn scopes(&self) -> Vec<String> {
        [
            (Scope::AuditRead, &self.audit_read),
            (Scope::MembersRead, &self.members_read),
            (Scope::InvitesWrite, &self.invites_write),
            (Scope::PodsRead, &self.pods_read),
            (Scope::PodsWrite, &self.pods_write),
            (Scope::BillingRead, &self.billing_read),
        ]
        .into_iter()
        .filter(|(_, ticked)| !ticked.is_empty())
        .map(|(scope, _)| scope.as_str().to_string())
        .collect()
    }
}

pub async fn show(
    state: web::Data<AppState>,
    member: Member<can::ManageApiKeys>,
) -> AppResult<HttpResponse> {
    let form = NewKeyForm {
        lifetime_days: DEFAULT_LIFETIME_DAYS.to_string(),
        ..NewKeyForm::default()
    };
    render(
        &state,
        &member,
        StatusCode::OK,
        &form,
        NewKeyErrors::default(),
        None,
    )
    .await
}

/// Creating a key hands out the account's powers to a script: a
/// dangerous action, confirmed with the password (or a code) past ten
/// minutes since the last check, like making someone an Admin.
pub async fn create(
    state: web::Data<AppState>,
    member: Member<can::ManageApiKeys>,
    origin: Origin,
    submitted: Submitted<NewKeyForm>,
) -> AppResult<HttpResponse> {
    let form = &submitted.form;
    let new = match NewKey::check(&form.name, &form.scopes(), &form.lifetime_days) {
        Ok(new) => new,
        Err(errors) => {
            return render(&state, &member, StatusCode::BAD_REQUEST, form, errors, None).await;
        }
    };
    let account_id = member.account_id();
    let ask = || {
        Ok(Ask {
            layout: member.layout()?.section("settings"),
            what: format!("create the API key \u{201c}{}\u{201d}", new.name),
            cancel: format!("/accounts/{account_id}/settings/api-keys"),
        })
    };
    if let Some(page) = reauth::confirm(&state, &member.signed_in, &origin, &submitted, ask).await?
    {
        return Ok(page);
    }
    let cx = member.change(origin, state.clock.now());
    let created = state
        .db(move |conn| api_keys::create(conn, &cx, &new).map(|k| (k, new.name)))
        .await?;
    let (key, name) = created;
    let shown = Created {
        name,
        secret: key.secret,
    };
    let blank = NewKeyForm {
        lifetime_days: DEFAULT_LIFETIME_DAYS.to_string(),
        ..NewKeyForm::default()
    };
    // The secret is in this answer only: nothing may keep it.
    let mut res = render(
        &state,
        &member,
        StatusCode::OK,
        &blank,
        NewKeyErrors::default(),
        Some(shown),
    )
    .await?;
    res.headers_mut().insert(
        actix_web::http::header::CACHE_CONTROL,
        actix_web::http::header::HeaderValue::from_static("no-store"),
    );
    Ok(res)
}

#[derive(Deserialize)]
pub struct KeyPath {
    key_id: ApiKeyId,
}

pub async fn revoke(
    state: web::Data<AppState>,
    member: Member<can::ManageApiKeys>,
    path: web::Path<KeyPath>,
    origin: Origin,
) -> AppResult<HttpResponse> {
    let key = path.key_id;
    let cx = member.change(origin, state.clock.now());
    let revoked = state
        .db(move |conn| api_keys::revoke(conn, &cx, key))
        .await?;
    session::success(
        member.session(),
        format!(
            "API key \u{201c}{}\u{201d} revoked: it no longer works.",
            revoked.name
        ),
    );
    let account_id = member.account_id();
    Ok(w::see_other(&format!(
        "/accounts/{account_id}/settings/api-keys"
    )))
}
