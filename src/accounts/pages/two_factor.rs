//! Setting up two-factor authentication from the profile: a new secret,
//! shown as a QR code (drawn here, as SVG shapes the template writes out:
//! no external service, no script) and as text, confirmed by a first code.
//! Until then the secret waits sealed in the session. Then the ten
//! recovery codes are shown, once. Turning it off and making new recovery
//! codes are dangerous: they ask to re-authenticate.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

use crate::AppState;
use crate::accounts::safe_next;
use crate::accounts::{AccountsError, two_factor};
use crate::audit::Origin;
use crate::web::auth::SignedIn;
use crate::web::error::{AppError, AppResult};
use crate::web::layout::Layout;
use crate::web::reauth::{self, Ask, NoFields, Submitted};
use crate::web::{self as w, session};

/// A QR code as SVG shapes: its size in modules (quiet zone included) and
/// its dark modules as horizontal runs `(x, y, width)`.
pub struct QrPicture {
    pub size: usize,
    pub runs: Vec<(usize, usize, usize)>,
}

const QUIET_ZONE: usize = 4;

impl QrPicture {
    fn of(text: &str) -> AppResult<QrPicture> {
        let code = qrcode::QrCode::new(text.as_bytes())
            .map_err(|e| AppError::internal(anyhow::anyhow!("QR code: {e}")))?;
        let width = code.width();
        let colors = code.to_colors();
        let mut runs = Vec::new();
        for y in 0..width {
            let mut x = 0;
            while x < width {
                if colors[y * width + x] == qrcode::Color::Dark {
                    let start = x;
                    while x < width && colors[y * width + x] == qrcode::Color::Dark {
                        x += 1;
                    }
                    runs.push((start + QUIET_ZONE, y + QUIET_ZONE, x - start));
                } else {
                    x += 1;
                }
            }
        }
        Ok(QrPicture {
            size: width + 2 * QUIET_ZONE,
            runs,
        })
    }
}

#[derive(Template)]
#[template(path = "accounts/two_factor_setup.html")]
struct SetupPage {
    layout: Layout,
    qr: QrPicture,
    /// The secret in groups of four, for typing into an app.
    secret: String,
    next: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "accounts/recovery_codes.html")]
struct RecoveryCodesPage {
    layout: Layout,
    codes: Vec<String>,
    /// The codes as a `data:` URL's percent-encoded text, to download.
    download: String,
    /// Where Continue goes.
    next: String,
    first_time: bool,
}

fn recovery_codes_page(
    signed_in: &SignedIn,
    codes: Vec<String>,
    next: String,
    first_time: bool,
) -> AppResult<HttpResponse> {
    let text = format!(
        "Team Console recovery codes for {}\nEach code works once, in place of a code from your app.\n\n{}\n",
        signed_in.user.email,
        codes.join("\n")
    );
    let download = form_urlencoded::byte_serialize(text.as_bytes())
        .collect::<String>()
        .replace('+', "%20");
    w::page(&RecoveryCodesPage {
        layout: signed_in.layout(None)?,
        codes,
        download,
        next: if next.is_empty() {
            "/profile".into()
        } else {
            next
        },
        first_time,
    })
}

/// The secret being set up in this session, or a new one kept there.
fn setup_secret(state: &AppState, signed_in: &SignedIn) -> AppResult<Vec<u8>> {
    let user = signed_in.user.id;
    let kept = session::setup_secret(&signed_in.session)
        .and_then(|text| STANDARD.decode(text).ok())
        .and_then(|sealed| state.two_factor.unseal(user, &sealed));
    if let Some(secret) = kept {
        return Ok(secret);
    }
    let secret = two_factor::new_secret();
    let sealed = STANDARD.encode(state.two_factor.seal(user, &secret));
    session::keep_setup_secret(&signed_in.session, &sealed)?;
    Ok(secret)
}

fn setup_page(
    signed_in: &SignedIn,
    secret: &[u8],
    next: String,
    error: Option<String>,
    status: StatusCode,
) -> AppResult<HttpResponse> {
    let text = two_factor::secret_text(secret);
    let grouped = text
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    let uri = two_factor::otpauth_uri(secret, &signed_in.user.email);
    w::render(
        status,
        &SetupPage {
            layout: signed_in.layout(None)?,
            qr: QrPicture::of(&uri)?,
            secret: grouped,
            next,
            error,
        },
    )
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

pub async fn setup(
    state: web::Data<AppState>,
    signed_in: SignedIn,
    query: web::Query<NextQuery>,
) -> AppResult<HttpResponse> {
    if signed_in.user.has_two_factor() {
        session::flash(
            &signed_in.session,
            session::FlashLevel::Info,
            "Two-factor authentication is already on.",
        );
        return Ok(w::see_other("/profile"));
    }
    let secret = setup_secret(&state, &signed_in)?;
    let next = query
        .next
        .as_deref()
        .and_then(safe_next)
        .unwrap_or_default();
    setup_page(&signed_in, &secret, next, None, StatusCode::OK)
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ConfirmForm {
    pub code: String,
    pub next: String,
}

pub async fn confirm(
    state: web::Data<AppState>,
    signed_in: SignedIn,
    origin: Origin,
    form: web::Form<ConfirmForm>,
) -> AppResult<HttpResponse> {
    let form = form.into_inner();
    let next = safe_next(&form.next).unwrap_or_default();
    if signed_in.user.has_two_factor() {
        return Err(AccountsError::TwoFactorAlreadyOn.into());
    }
    let secret = setup_secret(&state, &signed_in)?;
    let now = state.clock.now();
    let cx = signed_in.personal_change(origin, now);
    let (keys, code, confirming) = (state.two_factor.clone(), form.code, secret.clone());
    let enabled = state
        .core(move |conn| two_factor::enable(conn, &cx, &keys, &confirming, &code))
        .await?;
    let codes = match enabled {
        Ok(codes) => codes,
        Err(AccountsError::WrongCode) => {
            let error = Some(
                "That code is not right. Enter the 6-digit code your app shows now for Team Console."
                    .to_string(),
            );
            return setup_page(&signed_in, &secret, next, error, StatusCode::BAD_REQUEST);
        }
        Err(refused) => return Err(refused.into()),
    };
    session::forget_setup_secret(&signed_in.session);
    // Entering the code proved who they are.
    session::mark_verified(&signed_in.session, now)?;
    session::success(
        &signed_in.session,
        "Two-factor authentication is on. Save your recovery codes now: they are not shown again.",
    );
    recovery_codes_page(&signed_in, codes, next, true)
}

pub async fn disable(
    state: web::Data<AppState>,
    signed_in: SignedIn,
    origin: Origin,
    submitted: Submitted<NoFields>,
) -> AppResult<HttpResponse> {
    if !signed_in.user.has_two_factor() {
        return Err(AccountsError::TwoFactorOff.into());
    }
    let ask = || {
        Ok(Ask {
            layout: signed_in.layout(None)?,
            what: "turn off two-factor authentication".into(),
            cancel: "/profile#two-factor".into(),
        })
    };
    if let Some(page) = reauth::confirm(&state, &signed_in, &origin, &submitted, ask).await? {
        return Ok(page);
    }
    let cx = signed_in.personal_change(origin, state.clock.now());
    let outbox = state.outbox.clone();
    state
        .db(move |conn| two_factor::disable(conn, &cx, &outbox))
        .await?;
    session::success(
        &signed_in.session,
        "Two-factor authentication is off, and your recovery codes no longer work.",
    );
    Ok(w::see_other("/profile#two-factor"))
}

pub async fn regenerate_codes(
    state: web::Data<AppState>,
    signed_in: SignedIn,
    origin: Origin,
    submitted: Submitted<NoFields>,
) -> AppResult<HttpResponse> {
    if !signed_in.user.has_two_factor() {
        return Err(AccountsError::TwoFactorOff.into());
    }
    let ask = || {
        Ok(Ask {
            layout: signed_in.layout(None)?,
            what: "make new recovery codes".into(),
            cancel: "/profile#two-factor".into(),
        })
    };
    if let Some(page) = reauth::confirm(&state, &signed_in, &origin, &submitted, ask).await? {
        return Ok(page);
    }
    let cx = signed_in.personal_change(origin, state.clock.now());
    let keys = state.two_factor.clone();
    let codes = state
        .db(move |conn| two_factor::regenerate_recovery_codes(conn, &cx, &keys))
        .await?;
    session::success(
        &signed_in.session,
        "New recovery codes: the old ones no longer work. Save these now: they are not shown again.",
    );
    recovery_codes_page(&signed_in, codes, String::new(), false)
}
