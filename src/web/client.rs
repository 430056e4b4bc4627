//! Who is calling: the client IP and user agent of a request, as audit
//! entries record them (`audit::Origin`) and sign-in throttling keys them.

use std::future::{Ready, ready};
use std::net::IpAddr;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};

use crate::AppState;
use crate::audit::Origin;

/// The request's origin.
pub fn origin(req: &HttpRequest) -> Origin {
    let peer = req.peer_addr().map(|a| a.ip());
    let trusted = req
        .app_data::<web::Data<AppState>>()
        .and_then(|s| s.trusted_proxy);
    let ip = match (peer, trusted) {
        // Behind the configured proxy, its X-Forwarded-For's last hop is
        // the client; anyone else's header is ignored (it is forgeable).
        (Some(peer), Some(proxy)) if peer == proxy => req
            .headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .and_then(|v| v.trim().parse::<IpAddr>().ok())
            .or(Some(peer)),
        (peer, _) => peer,
    };
    let user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .map(|v| clean_user_agent(v.as_bytes()));
    Origin {
        ip: ip.map(|ip| ip.to_string()),
        user_agent,
    }
}

/// The user agent as stored: any bytes a client sent, as text without
/// control characters, at most 512 characters (recorded, never refused).
fn clean_user_agent(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw)
        .chars()
        .filter(|c| !c.is_control())
        .take(512)
        .collect()
}

impl FromRequest for Origin {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(origin(req)))
    }
}
