//! HTTP API (axum): `/healthz`, `/readyz`, `/metrics`, and the REST API under `/api/v1`,
//! documented by the OpenAPI document at `/api/v1/openapi.json`.
//!
//! Conventions every `/api/v1` endpoint follows (see ARCHITECTURE.md):
//! - the first extractor is [`auth::Auth<R>`], naming the least role `R` (one place per
//!   route); public routes are login and the OpenAPI document only;
//! - routes are registered only through `routes!` on an `OpenApiRouter` (never plain
//!   `.route`), so the document lists every route; `tests/api_auth.rs` checks both ways;
//! - bodies, queries and paths use [`extract`]'s wrappers and DTOs with explicit types;
//!   errors are [`error::ApiError`] → `{"error": {"code", "message"}}`;
//! - lists are cursor-paged (`limit` ≤ `api.max_page`, `cursor` → `next_cursor`) and
//!   time bounds are RFC 3339 or epoch ms ([`paging`]);
//! - every request is bounded: body size, time, global concurrency, and a rate per token.

pub mod agents;
pub mod alerts;
pub mod audit;
pub mod auth;
pub mod automation;
pub mod channels;
pub mod classes;
pub mod commands;
pub mod error;
pub mod events;
pub mod extract;
pub mod fleet;
pub mod health;
pub mod incidents;
pub mod jira;
pub mod models;
pub mod openapi;
pub mod paging;
pub mod rules;
pub mod s3;
pub mod silences;
pub mod stream;
pub mod tickets;
pub mod tokens;
pub mod training;
pub mod users;
pub mod ws;

use std::sync::Arc;

use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::extract::{DefaultBodyLimit, State};
use axum::routing::get;
use tower::ServiceBuilder;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::secret::SecretStr;
use crate::config::{ApiConfig, CollectorConfig};
use crate::ingest::model::ModelSlot;
use crate::metrics::Metrics;
use crate::store::Store;
use error::ApiError;

pub use openapi::openapi;

/// Everything handlers need.
#[derive(Debug, Clone)]
pub struct AppState {
    pub store: Store,
    pub metrics: Arc<Metrics>,
    /// The bootstrap `admin-token` (an admin API token that cannot be revoked from the API).
    pub admin_token: SecretStr,
    pub config: Arc<CollectorConfig>,
    pub api: Arc<ApiConfig>,
    pub guard: Arc<auth::AuthGuard>,
    /// The model pushed to agents and the live connections (activation and `/reload` set it).
    pub model: ModelSlot,
    /// This replica's training jobs (`[training]`).
    pub training: crate::training::runner::Runner,
    /// Agent enrollments as ingest sees them: a revocation refreshes it at once.
    pub agents: crate::ingest::credentials::AgentBook,
}

impl AppState {
    pub fn new(
        store: Store,
        metrics: Arc<Metrics>,
        admin_token: SecretStr,
        config: Arc<CollectorConfig>,
        model: ModelSlot,
    ) -> AppState {
        let api = Arc::new(config.api.clone());
        AppState {
            training: crate::training::runner::Runner::new(config.training),
            guard: Arc::new(auth::AuthGuard::new(&api)),
            store,
            metrics,
            admin_token,
            config,
            api,
            model,
            agents: Default::default(),
        }
    }

    /// Shares ingest's book of agent enrollments (the collector does; tests may not).
    pub fn with_agents(mut self, agents: crate::ingest::credentials::AgentBook) -> AppState {
        self.agents = agents;
        self
    }
}

/// Every `/api/v1` route, each with its OpenAPI operation.
pub(crate) fn api_routes() -> OpenApiRouter<AppState> {
    let v1 = OpenApiRouter::new()
        .routes(routes!(auth::login))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::me))
        .routes(routes!(users::list, users::create))
        .routes(routes!(users::update))
        .routes(routes!(tokens::list, tokens::create))
        .routes(routes!(tokens::revoke))
        .routes(routes!(agents::list))
        .routes(routes!(agents::revoke, agents::reinstate))
        .routes(routes!(agents::forget))
        .routes(routes!(audit::list))
        .routes(routes!(classes::list))
        .routes(routes!(classes::set_fix, classes::reset_fix))
        .routes(routes!(events::list))
        .routes(routes!(events::get))
        .routes(routes!(commands::run))
        .routes(routes!(health::fleet))
        .routes(routes!(health::hosts))
        .routes(routes!(health::host))
        .routes(routes!(health::host_series))
        .routes(routes!(health::service_series))
        .routes(routes!(incidents::list))
        .routes(routes!(incidents::get))
        .routes(routes!(incidents::resolve))
        .routes(routes!(incidents::patterns))
        .routes(routes!(alerts::list))
        .routes(routes!(alerts::history))
        .routes(routes!(alerts::ack))
        .routes(routes!(rules::list, rules::create))
        .routes(routes!(rules::get, rules::update, rules::delete))
        .routes(routes!(silences::list, silences::create))
        .routes(routes!(silences::delete))
        .routes(routes!(channels::list, channels::create))
        .routes(routes!(channels::get, channels::update, channels::delete))
        .routes(routes!(channels::test))
        .routes(routes!(channels::deliveries))
        .routes(routes!(stream::stream))
        .routes(routes!(ws::ws))
        .routes(routes!(fleet::lines))
        .routes(routes!(tickets::list))
        .routes(routes!(automation::get, automation::put))
        .routes(routes!(automation::decisions))
        .routes(routes!(jira::status))
        .routes(routes!(models::list))
        .routes(routes!(models::get))
        .routes(routes!(models::activate))
        .routes(routes!(training::upload))
        .routes(routes!(training::window))
        .routes(routes!(training::s3))
        .routes(routes!(training::jobs))
        .routes(routes!(training::job))
        .routes(routes!(training::cancel))
        .routes(routes!(s3::list, s3::create))
        .routes(routes!(s3::get))
        .routes(routes!(s3::cancel))
        .routes(routes!(s3::sources))
        .routes(routes!(s3::push_events))
        .routes(routes!(openapi::document));
    OpenApiRouter::with_openapi(openapi::base()).nest("/api/v1", v1)
}

/// Built as a function so tests can `oneshot` it without a listener.
pub fn router(state: AppState) -> Router {
    let (api, _) = api_routes().split_for_parts();
    // The MCP endpoint (`/mcp`): its own protocol, behind the same auth extractor and limits.
    let api = api.merge(crate::mcp::routes(&state));
    let metrics = state.metrics.clone();
    let limits = ServiceBuilder::new()
        .layer(HandleErrorLayer::new(move |err: tower::BoxError| {
            let metrics = metrics.clone();
            async move {
                if err.is::<tower::timeout::error::Elapsed>() {
                    metrics.api_reject("timeout");
                    ApiError::Unavailable("the request took too long and was abandoned".into())
                } else {
                    ApiError::Internal(anyhow::anyhow!("middleware: {err}"))
                }
            }
        }))
        .layer(tower::timeout::TimeoutLayer::new(state.api.request_timeout))
        .layer(tower::limit::GlobalConcurrencyLimitLayer::new(
            state.api.max_concurrent_requests,
        ));
    api.fallback(not_found)
        .layer(DefaultBodyLimit::max(state.api.max_body_bytes))
        .layer(limits)
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(fleet::readyz))
        .route("/metrics", get(metrics_text))
        .merge(crate::web::routes())
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::NotFound("route".to_owned())
}

/// `/metrics`: OpenMetrics for a scraper that asks for it, else Prometheus text 0.0.4.
async fn metrics_text(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
) -> ([(axum::http::HeaderName, &'static str); 1], String) {
    let accept = headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok());
    let (content_type, body) =
        fleetlog_protocol::exposition::negotiate(accept, state.metrics.render());
    ([(axum::http::header::CONTENT_TYPE, content_type)], body)
}
