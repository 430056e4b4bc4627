//! The gate for request text: every query string, urlencoded form body
//! and path, decoded as the extractors will decode it, is refused (400)
//! before any handler runs if it is not valid UTF-8, holds a NUL, or a
//! value longer than any field takes. A browser never sends such bytes
//! from a form, so the gate answers with the error page. What a person can
//! type or paste (other control characters, a name too long, a bidi
//! control) is refused by the field's own check, with the form shown
//! again and a message; no field stores a control character.
//!
//! Without it, serde_urlencoded decodes invalid UTF-8 lossily (stored as
//! U+FFFD) and PostgreSQL refuses NUL in text with an error (a 500).

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::web::{self, Bytes};

use crate::web::error::AppError;

/// The longest value any field or parameter takes, in characters (a
/// password is at most 128, a name 64, an email 254).
pub const MAX_VALUE_CHARS: usize = 4096;
const MAX_FORM_BYTES: usize = 64 * 1024;

/// Why a piece of request text is refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    NotUtf8,
    Nul,
    TooLong,
}

impl Refusal {
    pub fn message(&self) -> &'static str {
        match self {
            Refusal::NotUtf8 => {
                "The request holds text that is not valid UTF-8. Go back, correct what you entered and try again."
            }
            Refusal::Nul => {
                "The request holds a NUL character. Go back, correct what you entered and try again."
            }
            Refusal::TooLong => {
                "A value in the request is far longer than any field takes. Go back, shorten it and try again."
            }
        }
    }
}

/// Checks one decoded value.
pub fn check_value(bytes: &[u8]) -> Result<(), Refusal> {
    let text = std::str::from_utf8(bytes).map_err(|_| Refusal::NotUtf8)?;
    if text.contains('\0') {
        return Err(Refusal::Nul);
    }
    if text.chars().count() > MAX_VALUE_CHARS {
        return Err(Refusal::TooLong);
    }
    Ok(())
}

/// Checks every key and value of an urlencoded string (`a=1&b=%00`),
/// decoded as `serde_urlencoded` decodes it (`+` is a space).
pub fn check_urlencoded(raw: &[u8]) -> Result<(), Refusal> {
    for pair in raw.split(|b| *b == b'&') {
        for part in pair.splitn(2, |b| *b == b'=') {
            let plus_as_space: Vec<u8> = part
                .iter()
                .map(|b| if *b == b'+' { b' ' } else { *b })
                .collect();
            let decoded: Vec<u8> = percent_decode(&plus_as_space);
            check_value(&decoded)?;
        }
    }
    Ok(())
}

fn percent_decode(input: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        match (
            input[i],
            input.get(i + 1).copied().and_then(hex),
            input.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(high), Some(low)) => {
                out.push(high << 4 | low);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// Sign-in throttles and audits every refused attempt, whatever made it
/// refused, so its form reaches the handler as sent (decoded lossily,
/// which the accounts core copes with: see `accounts::users`).
fn counts_its_own_refusals(req: &ServiceRequest) -> bool {
    req.path() == "/sign-in"
}

fn is_form(req: &ServiceRequest) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
}

/// The middleware. Errors become responses here (not `Err`), so the error
/// page and the security headers of the outer middleware apply to them.
pub async fn gate(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let mut checked = check_urlencoded(req.uri().path().as_bytes())
        .and_then(|()| check_urlencoded(req.uri().query().unwrap_or_default().as_bytes()));
    if checked.is_ok() && is_form(&req) && !counts_its_own_refusals(&req) {
        match req.extract::<web::Bytes>().await {
            Ok(body) if body.len() <= MAX_FORM_BYTES => {
                checked = check_urlencoded(&body);
                req.set_payload(bytes_to_payload(body));
            }
            _ => {
                let error = AppError::BadRequest("The form could not be read.".into());
                return Ok(req.error_response(error).map_into_right_body());
            }
        }
    }
    match checked {
        Ok(()) => Ok(next.call(req).await?.map_into_left_body()),
        Err(refusal) => {
            tracing::info!(?refusal, "request text refused");
            let error = AppError::BadRequest(refusal.message().into());
            Ok(req.error_response(error).map_into_right_body())
        }
    }
}

pub fn bytes_to_payload(buf: Bytes) -> Payload {
    let (_, mut payload) = actix_http::h1::Payload::create(true);
    payload.unread_data(buf);
    Payload::from(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gate_refuses_what_no_form_sends() {
        assert_eq!(check_urlencoded(b"name=Ada+Lovelace&x=%C3%A9"), Ok(()));
        assert_eq!(check_urlencoded(b"a=%ff%fe"), Err(Refusal::NotUtf8));
        assert_eq!(check_urlencoded(b"a=%C0%80"), Err(Refusal::NotUtf8));
        assert_eq!(check_urlencoded(b"a=%ED%A0%80"), Err(Refusal::NotUtf8));
        assert_eq!(check_urlencoded(b"a=x%00y"), Err(Refusal::Nul));
        assert_eq!(check_urlencoded(b"a%00=1"), Err(Refusal::Nul));
        assert_eq!(
            check_urlencoded(b"a=%1b&b=line%0D%0Anext"),
            Ok(()),
            "other control characters are the fields' to refuse, with the form"
        );
        assert_eq!(
            check_urlencoded(b"a=100%"),
            Ok(()),
            "a lone % stays as typed"
        );
        let long = format!("a={}", "x".repeat(MAX_VALUE_CHARS + 1));
        assert_eq!(check_urlencoded(long.as_bytes()), Err(Refusal::TooLong));
    }
}
