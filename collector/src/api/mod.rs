//! HTTP API (axum): `/healthz`, `/readyz`, `/metrics`, and the REST API under `/api/v1`
//! behind `Authorization: Bearer <admin token>`.

pub mod error;
mod fleet;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::{Next, from_fn_with_state};
use axum::response::Response;
use axum::routing::get;
use fleetlog_protocol::session::collector::constant_time_eq;

use crate::metrics::Metrics;
use crate::store::Store;
use error::ApiError;

/// Everything handlers need.
#[derive(Debug, Clone)]
pub struct AppState {
    pub store: Store,
    pub metrics: Arc<Metrics>,
    pub admin_token: Arc<str>,
}

/// Built as a function so tests can `oneshot` it without a listener.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/hosts", get(fleet::hosts))
        .route("/lines", get(fleet::lines))
        .route_layer(from_fn_with_state(state.clone(), require_token));
    Router::new()
        .nest("/api/v1", api)
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(fleet::readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn metrics(
    State(state): State<AppState>,
) -> ([(axum::http::HeaderName, &'static str); 1], String) {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
}

async fn require_token(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let presented = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(ApiError::Unauthorized)?;
    if !constant_time_eq(presented.trim().as_bytes(), state.admin_token.as_bytes()) {
        return Err(ApiError::Unauthorized);
    }
    Ok(next.run(req).await)
}
