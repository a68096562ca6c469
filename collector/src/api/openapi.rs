//! The OpenAPI document: generated from the handlers' `#[utoipa::path]` attributes by
//! `api_routes`, plus the security schemes and the error responses every operation
//! shares (added here in one place rather than repeated on each handler).

use std::sync::OnceLock;

use axum::http::header;
use axum::response::IntoResponse;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi as _};

use super::auth::SESSION_COOKIE;
use super::error::ErrorBody;

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "fleetlog collector API",
        description = "Fleet health, events, users, tokens and audit of a fleetlog collector. \
            Authenticate with `Authorization: Bearer <token>` (an API token, or the \
            collector's `admin-token` file) or with the session cookie from \
            `POST /api/v1/auth/login`; cookie requests that change state must send the \
            login's `csrf_token` as `X-CSRF-Token`. Errors are `{\"error\": {\"code\", \
            \"message\"}}`; lists are cursor-paged (`limit`, `cursor` → `next_cursor`)."
    ),
    components(schemas(ErrorBody)),
    modifiers(&Security)
)]
struct Base;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(SESSION_COOKIE))),
        );
    }
}

/// The document's fixed parts, before the routes add their operations.
pub(super) fn base() -> OpenApi {
    Base::openapi()
}

/// The complete document, as served.
pub fn openapi() -> OpenApi {
    let (_, mut doc) = super::api_routes().split_for_parts();
    add_standard_errors(&mut doc);
    doc
}

/// Adds the error responses any operation can give, where a handler did not describe
/// them itself: 400, 500 and 503 everywhere; 401, 403 and 429 where credentials are
/// needed; 404 where the path has a parameter; 413 and 415 where a body is read.
fn add_standard_errors(doc: &mut OpenApi) {
    for (path, item) in doc.paths.paths.iter_mut() {
        let has_param = path.contains('{');
        for op in [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
        ]
        .into_iter()
        .flatten()
        {
            let secured = op
                .security
                .as_ref()
                .is_none_or(|reqs| !reqs.iter().all(is_empty_requirement));
            let mut codes: Vec<(&str, &str)> = vec![
                ("400", "Bad request: a parameter or the body is invalid"),
                ("500", "Internal error (the cause is logged, not sent)"),
                ("503", "Overloaded or timed out; retry later"),
            ];
            if secured {
                codes.push(("401", "Missing, invalid, expired or revoked credentials"));
                codes.push((
                    "403",
                    "The credentials' role may not do this, or the CSRF token is missing",
                ));
                codes.push(("429", "Rate limit exceeded; see Retry-After"));
            }
            if has_param {
                codes.push(("404", "Not found"));
            }
            if op.request_body.is_some() {
                codes.push(("413", "Request body too large (`api.max_body_bytes`)"));
                codes.push(("415", "The body must be application/json"));
            }
            for (code, description) in codes {
                op.responses
                    .responses
                    .entry(code.to_owned())
                    .or_insert_with(|| RefOr::T(error_response(description)));
            }
        }
    }
}

fn is_empty_requirement(req: &utoipa::openapi::security::SecurityRequirement) -> bool {
    serde_json::to_value(req).is_ok_and(|v| v.as_object().is_some_and(|o| o.is_empty()))
}

fn error_response(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build()
}

/// The OpenAPI 3.1 document of this API.
#[utoipa::path(
    get, path = "/openapi.json", tag = "meta",
    responses((status = 200, description = "This document", content_type = "application/json", body = Object)),
    security(())
)]
pub(super) async fn document() -> impl IntoResponse {
    static DOC: OnceLock<String> = OnceLock::new();
    let json = DOC.get_or_init(|| openapi().to_json().unwrap_or_else(|_| "{}".to_owned()));
    ([(header::CONTENT_TYPE, "application/json")], json.clone())
}
