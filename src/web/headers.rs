//! Security headers on every response, error pages and static files
//! included. Handlers may set a stricter value (the invite landing page sends
//! `Referrer-Policy: no-referrer`); these are only added when absent.

use actix_web::middleware::DefaultHeaders;

pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub fn security_headers(secure: bool) -> DefaultHeaders {
    let headers = DefaultHeaders::new()
        .add(("Content-Security-Policy", CONTENT_SECURITY_POLICY))
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("X-Frame-Options", "DENY"))
        .add(("Cross-Origin-Opener-Policy", "same-origin"))
        .add((
            "Permissions-Policy",
            "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()",
        ))
        // Pages show private data: never cached. Static files set their own.
        .add(("Cache-Control", "no-store"));
    if secure {
        headers.add((
            "Strict-Transport-Security",
            "max-age=63072000; includeSubDomains",
        ))
    } else {
        headers
    }
}

/// `Referrer-Policy`: `no-referrer` on every page that can carry an invite
/// or password reset link (the invite pages, the Team page where Admins
/// copy links, the reset page whose path holds its token),
/// `same-origin` elsewhere. Set by path so error pages get it too.
pub async fn referrer_policy(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    let path = req.path();
    let carries_links = path.starts_with("/invite")
        || path.ends_with("/members")
        || path.contains("/invites")
        || path.starts_with("/reset-password");
    let policy = if carries_links {
        "no-referrer"
    } else {
        "same-origin"
    };
    let mut res = next.call(req).await?;
    res.headers_mut().insert(
        actix_web::http::header::REFERRER_POLICY,
        actix_web::http::header::HeaderValue::from_static(policy),
    );
    Ok(res)
}
