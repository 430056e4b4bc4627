//! The JSON API (SPEC §12), `/api/v1/…`: the web layer for scripts. Each
//! handler calls the same area core as the page doing the same thing, and
//! words refusals with that area's `pages::refusal`; only the envelope
//! differs (JSON in and out, errors as RFC 9457 problem documents).
//!
//! A request authenticates with `Authorization: Bearer tc_…` and nothing
//! else: cookies are ignored (a browser session alone gets 401), so the
//! CSRF check does not apply here. `Key<S>` finds the key, counts it
//! against its rate limit, checks the account in the URL (another
//! account's: 404) and the scope `S` (lacking it: 403, audited), then the
//! creator's current role (403).

pub mod audit;
pub mod billing;
pub mod invites;
pub mod members;
pub mod openapi;
pub mod pods;

use std::fmt;
use std::marker::PhantomData;
use std::pin::Pin;

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError, web};
use serde::Serialize;

use crate::AppState;
use crate::api_keys::{self, Caller, RateState, Scope};
use crate::ids::AccountId;
use crate::web::error::AppError;

/// The media type of error answers (RFC 9457).
pub const PROBLEM_JSON: &str = "application/problem+json";
/// The name of the rate-limit policy in the `RateLimit` headers.
const POLICY: &str = "per-key";

/// Whether `path` is the API's (no cookies, no CSRF, problem documents).
pub fn is_api(path: &str) -> bool {
    path.starts_with("/api/")
}

/// An API error: its status and the sentence the page would show.
#[derive(Debug)]
pub struct Problem {
    pub status: StatusCode,
    pub detail: String,
    retry_after: Option<u64>,
}

impl Problem {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Problem {
        Problem {
            status,
            detail: detail.into(),
            retry_after: None,
        }
    }

    fn unauthorized() -> Problem {
        Problem::new(
            StatusCode::UNAUTHORIZED,
            "Send a valid API key as `Authorization: Bearer tc_…`. The key may have expired or been revoked, or its creator may no longer be a member of the account.",
        )
    }

    pub fn not_found() -> Problem {
        Problem::new(
            StatusCode::NOT_FOUND,
            "There is nothing here, or this key has no access to it.",
        )
    }

    pub fn unprocessable(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::UNPROCESSABLE_ENTITY, detail)
    }

    /// An area's refusal, as its `pages::refusal` words it.
    pub fn refused((status, detail): (StatusCode, String)) -> Problem {
        Problem::new(status, detail)
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.detail)
    }
}

/// The problem document (RFC 9457), as the OpenAPI document describes it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ProblemDocument {
    /// Always `about:blank`: the status says what kind of problem it is.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    /// The same sentence the console's page shows for this refusal.
    pub detail: String,
}

impl ResponseError for Problem {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let body = ProblemDocument {
            kind: "about:blank".into(),
            title: self
                .status
                .canonical_reason()
                .unwrap_or("Error")
                .to_string(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
        };
        let mut res = HttpResponse::build(self.status);
        res.content_type(PROBLEM_JSON);
        if self.status == StatusCode::UNAUTHORIZED {
            res.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        if let Some(secs) = self.retry_after {
            res.insert_header((header::RETRY_AFTER, secs));
        }
        res.body(serde_json::to_string(&body).unwrap_or_default())
    }
}

impl From<AppError> for Problem {
    fn from(e: AppError) -> Problem {
        let status = e.status_code();
        let detail = match e {
            AppError::BadRequest(m) | AppError::Conflict(m) => m,
            AppError::Refused { message, .. } => message,
            AppError::NotFound | AppError::NotFoundWith { .. } => {
                return Problem::not_found();
            }
            AppError::Unavailable(cause) => {
                tracing::warn!(%cause, "API request: database unavailable");
                return Problem {
                    retry_after: Some(5),
                    ..Problem::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "The console cannot reach its database right now. Try again in a few seconds.",
                    )
                };
            }
            AppError::Internal(cause) => {
                tracing::error!(error = ?cause, "API request failed");
                "An unexpected error happened. It has been logged.".into()
            }
            other => other.to_string(),
        };
        Problem::new(status, detail)
    }
}

impl From<diesel::result::Error> for Problem {
    fn from(e: diesel::result::Error) -> Problem {
        AppError::from(e).into()
    }
}

/// A handler's answer.
pub type ApiResult = Result<HttpResponse, Problem>;

/// 200 with `value` as JSON.
pub fn ok(value: &impl Serialize) -> ApiResult {
    Ok(HttpResponse::Ok().json(value))
}

/// Type-level scopes for `Key<S>`, like `authz::can` for `Member<C>`.
pub trait NeedsScope {
    const SCOPE: Scope;
}

/// Marker types naming each scope.
pub mod scope {
    use super::NeedsScope;
    use crate::api_keys::Scope;

    macro_rules! scopes {
        ($($name:ident),*) => {$(
            pub struct $name;
            impl NeedsScope for $name {
                const SCOPE: Scope = Scope::$name;
            }
        )*};
    }

    scopes!(
        AuditRead,
        MembersRead,
        InvitesWrite,
        PodsRead,
        PodsWrite,
        BillingRead
    );
}

/// A key allowed scope `S` in the account of the URL.
pub struct Key<S> {
    pub caller: Caller,
    _scope: PhantomData<S>,
}

impl<S> Key<S> {
    pub fn account_id(&self) -> AccountId {
        self.caller.account_id
    }
}

/// The secret of `Authorization: Bearer …`, if the request has one.
fn bearer(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, secret) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| secret.trim().to_string())
}

impl<S: NeedsScope + 'static> FromRequest for Key<S> {
    type Error = Problem;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = req
                .app_data::<web::Data<AppState>>()
                .cloned()
                .ok_or_else(|| {
                    Problem::from(AppError::internal(anyhow::anyhow!("no app state")))
                })?;
            let secret = bearer(&req).ok_or_else(Problem::unauthorized)?;
            let origin = crate::web::client::origin(&req);
            let now = state.clock.now();
            let (limit, ip) = (state.api_rate_limit, origin.ip.clone());
            let caller = state
                .db(move |conn| api_keys::authenticate(conn, &secret, ip.as_deref(), now, limit))
                .await?
                .ok_or_else(Problem::unauthorized)?;
            req.extensions_mut().insert(caller.rate);
            if caller.rate.exceeded {
                return Err(Problem {
                    retry_after: Some(caller.rate.reset_secs),
                    ..Problem::new(
                        StatusCode::TOO_MANY_REQUESTS,
                        format!(
                            "This key made more than {} requests in a minute. Wait {} s and try again.",
                            caller.rate.limit, caller.rate.reset_secs
                        ),
                    )
                });
            }
            let in_url = req
                .match_info()
                .get("account_id")
                .and_then(|id| id.parse::<AccountId>().ok());
            if in_url != Some(caller.account_id) {
                return Err(Problem::not_found());
            }
            if caller.two_factor_missing {
                return Err(Problem::new(
                    StatusCode::FORBIDDEN,
                    "This team requires two-factor sign-in, and the key's creator has not set it up: their keys work again once they do.",
                ));
            }
            if !caller.has_scope(S::SCOPE) {
                let request = format!(
                    "{} {}",
                    req.method(),
                    req.match_pattern()
                        .unwrap_or_else(|| req.path().to_string())
                );
                let cx = caller.change(origin, now);
                let refused = caller.clone();
                state
                    .db(move |conn| api_keys::refuse_scope(conn, &cx, &refused, S::SCOPE, request))
                    .await?;
                return Err(Problem::new(
                    StatusCode::FORBIDDEN,
                    format!(
                        "This key does not have the scope {} that this request needs. Create a key with it on the account's API keys page.",
                        S::SCOPE.as_str()
                    ),
                ));
            }
            if !caller.role_allows(S::SCOPE) {
                return Err(Problem::new(
                    StatusCode::FORBIDDEN,
                    format!(
                        "The key's creator is now {} in this account, a role that may not do this: a key never does more than its creator's role allows.",
                        caller.role
                    ),
                ));
            }
            Ok(Key {
                caller,
                _scope: PhantomData,
            })
        })
    }
}

/// Adds the rate-limit headers (draft-ietf-httpapi-ratelimit-headers) to
/// every answer of a request made with a key, its 429 included.
pub async fn rate_limit_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let mut res = next.call(req).await?;
    let rate = res.request().extensions().get::<RateState>().copied();
    if let Some(rate) = rate {
        let headers = res.headers_mut();
        let window = api_keys::WINDOW.whole_seconds();
        if let Ok(v) = HeaderValue::from_str(&format!("\"{POLICY}\";q={};w={window}", rate.limit)) {
            headers.insert(HeaderName::from_static("ratelimit-policy"), v);
        }
        if let Ok(v) = HeaderValue::from_str(&format!(
            "\"{POLICY}\";r={};t={}",
            rate.remaining, rate.reset_secs
        )) {
            headers.insert(HeaderName::from_static("ratelimit"), v);
        }
    }
    Ok(res)
}

/// Reads a JSON body: malformed JSON is 400, text the request-text gate
/// would refuse in a form (not UTF-8, NUL, far too long) is 400 with the
/// same sentence.
pub fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Problem> {
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            format!(
                "The body must be a JSON object (line {}, column {}: {}).",
                e.line(),
                e.column(),
                match e.classify() {
                    serde_json::error::Category::Eof => "it ends too soon",
                    serde_json::error::Category::Io => "it could not be read",
                    _ => "it is not valid JSON",
                }
            ),
        )
    })?;
    check_strings(&value)?;
    serde_json::from_value(value).map_err(|e| {
        Problem::unprocessable(format!("The body does not have the expected fields: {e}."))
    })
}

fn check_strings(value: &serde_json::Value) -> Result<(), Problem> {
    let refuse = |r: crate::web::input::Refusal| Problem::new(StatusCode::BAD_REQUEST, r.message());
    match value {
        serde_json::Value::String(s) => {
            crate::web::input::check_value(s.as_bytes()).map_err(refuse)
        }
        serde_json::Value::Array(items) => items.iter().try_for_each(check_strings),
        serde_json::Value::Object(fields) => fields.iter().try_for_each(|(k, v)| {
            crate::web::input::check_value(k.as_bytes()).map_err(refuse)?;
            check_strings(v)
        }),
        _ => Ok(()),
    }
}

/// A typed id from the URL's `name` segment (malformed: 404, as pages).
pub fn path_id<T: std::str::FromStr>(req: &HttpRequest, name: &str) -> Result<T, Problem> {
    req.match_info()
        .get(name)
        .and_then(|raw| raw.parse().ok())
        .ok_or_else(Problem::not_found)
}

/// A time as the API writes it (RFC 3339, UTC).
pub fn time(t: &time::OffsetDateTime) -> String {
    crate::format::rfc3339(t)
}
