//! GET /api/v1/openapi.json: the API described as OpenAPI 3.1, generated
//! by utoipa from the handlers' own annotations and types (public: it
//! holds nothing of any account).

use actix_web::HttpResponse;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Team Console API",
        version = "1",
        description = "A small JSON API over the same rules as the console's pages (SPEC §12). Authenticate with an API key from Settings → API keys: `Authorization: Bearer tc_…`. Errors are RFC 9457 problem documents; every answer to a request with a key carries the `RateLimit` and `RateLimit-Policy` headers, and a 429 `Retry-After`."
    ),
    paths(
        crate::api::audit::list,
        crate::api::members::list,
        crate::api::invites::create,
        crate::api::invites::revoke,
        crate::api::pods::list,
        crate::api::pods::start,
        crate::api::pods::stop,
        crate::api::billing::show,
    ),
    modifiers(&BearerKey),
)]
pub struct ApiDoc;

/// The one way in: a key as a bearer token.
struct BearerKey;

impl utoipa::Modify for BearerKey {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("tc_…")
                    .description(Some(
                        "An API key; its scopes are listed with each operation.",
                    ))
                    .build(),
            ),
        );
    }
}

pub async fn document() -> HttpResponse {
    match ApiDoc::openapi().to_json() {
        Ok(json) => HttpResponse::Ok()
            .content_type("application/json")
            .body(json),
        Err(e) => {
            tracing::error!(error = %e, "the OpenAPI document could not be written");
            HttpResponse::InternalServerError().finish()
        }
    }
}
