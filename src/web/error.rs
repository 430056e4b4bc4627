//! One error type for handlers, and the HTML error page every error status
//! gets — ours and actix's own (routing, extractors, payload limits).

use actix_web::body::{BoxBody, EitherBody};
use actix_web::dev::ServiceResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{HttpResponse, ResponseError};
use askama::Template;

use crate::AppState;
use crate::authz::{self, Capability};
use crate::web::auth::SignedIn;
use crate::web::layout::Layout;
use crate::web::request_id::RequestId;

pub type AppResult<T> = Result<T, AppError>;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("forbidden")]
    Forbidden,
    /// The member's role lacks the capability: the page says which roles
    /// have it and names the team's Admins.
    #[error("not permitted: {0:?}")]
    NotPermitted(Capability),
    /// The CSRF token did not match: the form was sent from a page older
    /// than the session (signed out or in since, in another tab).
    #[error("form expired")]
    FormExpired,
    #[error("not found")]
    NotFound,
    #[error("conflict: {0}")]
    Conflict(String),
    /// A rule of an area refused the request; the area chose the status
    /// and the sentence (see each area's `pages/mod.rs`).
    #[error("refused ({status}): {message}")]
    Refused { status: StatusCode, message: String },
    /// Not found, with a page saying what was looked for (an invite link).
    #[error("not found: {title}")]
    NotFoundWith { title: String, message: String },
    /// The thing existed but is no longer usable (an expired invite link).
    #[error("gone: {title}")]
    Gone { title: String, message: String },
    #[error("too many requests")]
    TooManyRequests { retry_after_secs: u64 },
    /// A refusal with a page of its own (a team's two-factor rule), sent
    /// as rendered.
    #[error("refused with its own page ({status})")]
    Page { status: StatusCode, html: String },
    /// Signed out (or the session expired): go sign in, then come back.
    #[error("sign-in required")]
    SignInRequired { next: String },
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl AppError {
    pub fn internal(e: impl Into<anyhow::Error>) -> Self {
        AppError::Internal(e.into())
    }

    pub fn refused(status: StatusCode, message: impl Into<String>) -> Self {
        AppError::Refused {
            status,
            message: message.into(),
        }
    }

    /// The sentence shown on the error page (never an internal cause).
    fn public_message(&self) -> Option<String> {
        match self {
            AppError::BadRequest(m) | AppError::Conflict(m) => Some(m.clone()),
            AppError::Refused { message, .. } => Some(message.clone()),
            AppError::Gone { message, .. } | AppError::NotFoundWith { message, .. } => {
                Some(message.clone())
            }
            AppError::FormExpired => Some(
                "The page this form came from is out of date: you signed in or out since it was opened, perhaps in another tab. Reload the form and send it again."
                    .into(),
            ),
            _ => None,
        }
    }

    fn public_title(&self) -> Option<String> {
        match self {
            AppError::Gone { title, .. } | AppError::NotFoundWith { title, .. } => {
                Some(title.clone())
            }
            AppError::FormExpired => Some("This form expired".into()),
            _ => None,
        }
    }
}

/// For an area's `refusal` function, the case of its database error
/// (which `AppState::core` never hands back as a refusal).
pub fn internal() -> (StatusCode, &'static str) {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        "An unexpected error happened. It has been logged.",
    )
}

impl From<diesel::result::Error> for AppError {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match e {
            Error::NotFound => AppError::NotFound,
            Error::DatabaseError(DatabaseErrorKind::ClosedConnection, info)
            | Error::DatabaseError(DatabaseErrorKind::UnableToSendCommand, info) => {
                AppError::Unavailable(info.message().to_string())
            }
            other => AppError::Internal(other.into()),
        }
    }
}

impl From<diesel::r2d2::PoolError> for AppError {
    fn from(e: diesel::r2d2::PoolError) -> Self {
        AppError::Unavailable(e.to_string())
    }
}

impl From<crate::db::Blocked> for AppError {
    fn from(e: crate::db::Blocked) -> Self {
        match e {
            crate::db::Blocked::Busy => {
                AppError::Unavailable("no database connection came free".into())
            }
            crate::db::Blocked::Failed(e) => {
                AppError::Internal(anyhow::anyhow!("blocking task failed: {e}"))
            }
        }
    }
}

impl From<actix_web::error::BlockingError> for AppError {
    fn from(e: actix_web::error::BlockingError) -> Self {
        AppError::Internal(anyhow::anyhow!("blocking task failed: {e}"))
    }
}

impl From<askama::Error> for AppError {
    fn from(e: askama::Error) -> Self {
        AppError::Internal(anyhow::anyhow!("template: {e}"))
    }
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Forbidden | AppError::NotPermitted(_) | AppError::FormExpired => {
                StatusCode::FORBIDDEN
            }
            AppError::NotFound | AppError::NotFoundWith { .. } => StatusCode::NOT_FOUND,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::Refused { status, .. } => *status,
            AppError::Gone { .. } => StatusCode::GONE,
            AppError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::Page { status, .. } => *status,
            AppError::SignInRequired { .. } => StatusCode::SEE_OTHER,
            AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A bare response: the error-page middleware renders the page, so
    /// errors raised by actix itself look the same as ours.
    fn error_response(&self) -> HttpResponse {
        if let AppError::SignInRequired { next } = self {
            if next == "/" {
                return crate::web::see_other("/sign-in");
            }
            let query = serde_urlencoded::to_string([("next", next)]).unwrap_or_default();
            return crate::web::see_other(&format!("/sign-in?{query}"));
        }
        if let AppError::Page { status, html } = self {
            return HttpResponse::build(*status)
                .content_type("text/html; charset=utf-8")
                .body(html.clone());
        }
        let mut res = HttpResponse::new(self.status_code());
        if let AppError::TooManyRequests { retry_after_secs } = self {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
        }
        if matches!(self, AppError::Unavailable(_)) {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        res
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    layout: Layout,
    status: u16,
    title: String,
    message: String,
    request_id: String,
    /// A failed CSRF check: the page the form came from, to reload it.
    reload: Option<String>,
    /// A refusal by role: the team's Admins, whom to ask.
    admins: Vec<String>,
}

fn default_text(status: StatusCode) -> (&'static str, &'static str) {
    match status.as_u16() {
        400 => (
            "Bad request",
            "The request could not be understood. Check what you entered and try again.",
        ),
        403 => ("Not allowed", "You do not have permission to do this."),
        404 => (
            "Page not found",
            "There is nothing here, or you do not have access to it.",
        ),
        405 => ("Method not allowed", "This page cannot be used that way."),
        409 => ("Conflict", "This could not be done in the current state."),
        410 => ("No longer available", "This link is no longer valid."),
        413 => ("Too large", "What you sent is too large."),
        415 => ("Unsupported form", "This form could not be read."),
        429 => (
            "Too many attempts",
            "Too many attempts. Wait a little and try again.",
        ),
        503 => (
            "Temporarily unavailable",
            "The console cannot reach its database right now. Try again in a few seconds.",
        ),
        _ if status.is_server_error() => (
            "Something went wrong",
            "An unexpected error happened. It has been logged.",
        ),
        _ => ("Error", "The request could not be completed."),
    }
}

fn content_type_is<B>(res: &ServiceResponse<B>, prefix: &str) -> bool {
    res.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(prefix))
}

fn is_html<B>(res: &ServiceResponse<B>) -> bool {
    content_type_is(res, "text/html")
}

/// The API's problem documents are its error pages: they are kept as
/// they are.
fn is_problem<B>(res: &ServiceResponse<B>) -> bool {
    content_type_is(res, crate::api::PROBLEM_JSON)
}

/// The local page a form was sent from (its `Referer`, when it is one of
/// the console's own pages), for "Reload the form".
fn form_page(req: &actix_web::HttpRequest) -> Option<String> {
    let public_url = req
        .app_data::<actix_web::web::Data<AppState>>()?
        .public_url
        .clone();
    let referer = req.headers().get(header::REFERER)?.to_str().ok()?;
    let path = referer.strip_prefix(public_url.trim_end_matches('/'))?;
    (path.starts_with('/') && !path.starts_with("//")).then(|| path.to_string())
}

/// The error page of `res`, inside `layout`, replacing its body.
fn error_page<B>(
    res: ServiceResponse<B>,
    layout: Layout,
    refusal: Option<(String, Vec<String>)>,
) -> ServiceResponse<EitherBody<B>>
where
    B: actix_web::body::MessageBody + 'static,
{
    let status = res.status();
    let request_id = RequestId::of(res.request());
    let app_error = res
        .response()
        .error()
        .and_then(|e| e.as_error::<AppError>());
    let (title, message) = default_text(status);
    let reload = matches!(app_error, Some(AppError::FormExpired))
        .then(|| form_page(res.request()).unwrap_or_else(|| "/".into()));
    let (message, admins) = match refusal {
        Some((message, admins)) => (message, admins),
        None => (
            app_error
                .and_then(AppError::public_message)
                .unwrap_or_else(|| message.to_string()),
            Vec::new(),
        ),
    };
    let page = ErrorPage {
        layout,
        status: status.as_u16(),
        title: app_error
            .and_then(AppError::public_title)
            .unwrap_or_else(|| title.to_string()),
        message,
        request_id: request_id.to_string(),
        reload,
        admins,
    };
    let html = page
        .render()
        .unwrap_or_else(|_| format!("{} {}", status.as_u16(), title));
    res.map_body(|head, _| {
        head.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        head.headers_mut().remove(header::CONTENT_LENGTH);
        EitherBody::right(BoxBody::new(html))
    })
}

/// `ErrorHandlers` default handler, outermost: replaces any error response
/// that is not already an HTML page with the rendered error page (no
/// layout: the session may be gone), and logs 5xx causes with the request
/// id (shown to the user so support can find the log).
pub fn render_error_page<B>(res: ServiceResponse<B>) -> actix_web::Result<ErrorHandlerResponse<B>>
where
    B: actix_web::body::MessageBody + 'static,
{
    if is_html(&res) {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let request_id = RequestId::of(res.request());
    if status.is_server_error() {
        match res.response().error() {
            Some(e) => {
                tracing::error!(%request_id, status = status.as_u16(), error = ?e, "request failed")
            }
            None => tracing::error!(%request_id, status = status.as_u16(), "request failed"),
        }
    }
    if is_problem(&res) {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    Ok(ErrorHandlerResponse::Response(error_page(
        res,
        Layout::default(),
        None,
    )))
}

/// `ErrorHandlers` default handler inside the session: a signed-in
/// person's 4xx pages keep the header, the account switcher and the
/// account's navigation. A refusal by role says which roles may do it and
/// names the team's Admins. Server errors are left to `render_error_page`.
pub fn render_error_page_in_layout<B>(
    res: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>>
where
    B: actix_web::body::MessageBody + 'static,
{
    use crate::web::session_store::SessionExt;
    if is_html(&res) || is_problem(&res) || !res.status().is_client_error() {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    if let Some(to) = refused_post(&res) {
        return Ok(ErrorHandlerResponse::Response(to));
    }
    Ok(ErrorHandlerResponse::Future(Box::pin(async move {
        let req = res.request().clone();
        // A page that failed before it loaded the session (an unknown
        // address, say) loads it now: a signed-in person's page keeps the
        // layout.
        let session = req.get_session();
        let loaded = session.load(&req).await.is_ok();
        if !loaded || crate::web::session::user_id(&session).is_none() {
            return Ok(res.map_into_left_body());
        }
        let capability = match res
            .response()
            .error()
            .and_then(|e| e.as_error::<AppError>())
        {
            Some(AppError::NotPermitted(capability)) => Some(*capability),
            _ => None,
        };
        let signed_in = match <SignedIn as actix_web::FromRequest>::extract(&req).await {
            Ok(signed_in) => signed_in,
            Err(_) => return Ok(error_page(res, Layout::default(), None)),
        };
        let current = req
            .match_info()
            .get("account_id")
            .and_then(|id| id.parse::<crate::ids::AccountId>().ok())
            .and_then(|id| signed_in.accounts.iter().find(|m| m.account.id == id));
        let layout = signed_in.layout(current).unwrap_or_default();
        let refusal = match (capability, current) {
            (Some(capability), Some(membership)) => {
                let state = req.app_data::<actix_web::web::Data<AppState>>().cloned();
                let account_id = membership.account.id;
                let admins = match state {
                    Some(state) => state
                        .db(move |conn| crate::accounts::models::admin_names(conn, account_id))
                        .await
                        .unwrap_or_default(),
                    None => Vec::new(),
                };
                Some((not_permitted(membership, capability), admins))
            }
            _ => None,
        };
        Ok(error_page(res, layout, refusal))
    })))
}

/// A rule refused a POST (409) sent from one of the console's pages:
/// post/redirect/get, back to that page (303) with the reason as an error
/// flash, so the address bar never holds a POST address.
fn refused_post<B>(res: &ServiceResponse<B>) -> Option<ServiceResponse<EitherBody<B>>>
where
    B: actix_web::body::MessageBody + 'static,
{
    use crate::web::session_store::SessionExt;
    let req = res.request();
    if req.method() != actix_web::http::Method::POST || res.status() != StatusCode::CONFLICT {
        return None;
    }
    let session = req.get_session();
    if !session.is_loaded() || crate::web::session::user_id(&session).is_none() {
        return None;
    }
    let message = res
        .response()
        .error()
        .and_then(|e| e.as_error::<AppError>())
        .and_then(AppError::public_message)?;
    let to = form_page(req)?;
    crate::web::session::flash(&session, crate::web::session::FlashLevel::Error, message);
    let redirect = crate::web::see_other(&to);
    Some(ServiceResponse::new(req.clone(), redirect).map_into_right_body())
}

/// "Only Billing and Admin members of Acme GPU may see billing
/// information. Your role is Dev."
fn not_permitted(
    membership: &crate::accounts::models::AccountMembership,
    capability: Capability,
) -> String {
    let roles: Vec<&str> = authz::roles_allowed(membership.account.kind, capability)
        .into_iter()
        .map(|r| r.label())
        .collect();
    let who = match roles.as_slice() {
        [] => {
            return format!(
                "No one may {} in {}.",
                capability.describe(),
                membership.account.name
            );
        }
        [one] => one.to_string(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    };
    format!(
        "Only {who} members of {} may {}. Your role is {}.",
        membership.account.name,
        capability.describe(),
        membership.role.label()
    )
}
