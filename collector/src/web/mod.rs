//! The fleet dashboard at `/`: server-rendered HTML pages over the same REST handlers
//! and store as `/api/v1`, with SVG charts drawn here and a few small scripts (embedded
//! files, no build step) for live updates and actions.
//!
//! One auth layer: a page's [`layout::Page`] extractor is the API's `Auth` (session
//! cookie from `POST /api/v1/auth/login`, or a bearer token); a missing or expired
//! session redirects to `/login?next=<the page>`. Pages only read; every action (ack,
//! silence, resolve, send test, create/revoke token, logout, upload, train, activate,
//! start or cancel a scan) is a `fetch` from `app.js` (or `training.js`) to the REST
//! endpoint with the session's `X-CSRF-Token`, so the API's role checks apply
//! unchanged: a viewer sees no action buttons and gets 403 if it posts.
//! Every response carries a strict Content-Security-Policy (`layout::CSP`).

pub mod admin;
pub mod alerts;
pub mod assets;
pub mod charts;
pub mod fleet;
pub mod host;
pub mod incidents;
pub mod layout;
pub mod login;
pub mod s3;
pub mod stream;
pub mod training;

use axum::Router;
use axum::middleware::map_response;
use axum::routing::get;

use crate::api::AppState;

/// The dashboard's routes (merged into `api::router`).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(fleet::page))
        .route("/login", get(login::page))
        .route("/hosts/{name}", get(host::page))
        .route("/stream", get(stream::page))
        .route("/events/{id}", get(stream::event))
        .route("/incidents", get(incidents::list))
        .route("/incidents/{id}", get(incidents::detail))
        .route("/alerts", get(alerts::page))
        .route("/training", get(training::page))
        .route("/s3", get(s3::list))
        .route("/s3/scans/{id}", get(s3::scan))
        .route("/admin", get(admin::page))
        .route("/assets/{file}", get(assets::serve))
        .layer(map_response(layout::security_headers))
}
