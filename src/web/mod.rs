//! The web layer shared by every area: errors and error pages, sessions,
//! CSRF, security headers, request ids and the page layout.

pub mod auth;
pub mod client;
pub mod csrf;
pub mod error;
pub mod headers;
pub mod input;
pub mod layout;
pub mod metrics;
pub mod reauth;
pub mod request_id;
pub mod session;
pub mod session_store;
pub mod static_files;

use actix_web::HttpResponse;
use actix_web::http::header;

/// 303 See Other: where every successful form post goes (post/redirect/get).
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

/// Renders an askama template as an HTML response with `status`.
pub fn render(
    status: actix_web::http::StatusCode,
    template: &impl askama::Template,
) -> error::AppResult<HttpResponse> {
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(html(template, PAGE_CAPACITY)?))
}

/// What a page's HTML usually fits in: askama's own estimate is the
/// template's text alone, so a page with rows grew its `String` (and copied
/// it) several times while rendering.
pub const PAGE_CAPACITY: usize = 32 * 1024;

/// A template rendered into a buffer of `capacity` bytes to start with.
pub fn html(template: &impl askama::Template, capacity: usize) -> askama::Result<String> {
    let mut buf = String::with_capacity(capacity);
    template.render_into(&mut buf)?;
    Ok(buf)
}

/// 200 OK page.
pub fn page(template: &impl askama::Template) -> error::AppResult<HttpResponse> {
    render(actix_web::http::StatusCode::OK, template)
}
