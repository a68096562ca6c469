//! The MCP endpoint: `/mcp` on the collector's HTTP port speaks the Model Context Protocol
//! over streamable HTTP (the `rmcp` SDK), so an AI assistant can ask the fleet questions.
//!
//! - **Auth** is the REST API's: the route's middleware runs [`Auth<Viewer>`] (an
//!   `Authorization: Bearer` API token or the bootstrap admin token; a session cookie with
//!   its CSRF header also works), with its rate limit, and hands the [`Caller`] to the
//!   handler through the request's HTTP parts. No credentials: 401, as the API.
//! - **Roles**: each tool names its least role in the registry (`tools/mod.rs`), as the REST
//!   route it mirrors; a lower role gets a tool error, not a protocol error.
//! - **Same answers**: tools call the functions the REST handlers call
//!   (`api::events::search`, `api::incidents::page`, ...).
//! - **Bounded**: at most `mcp.max_page` items per call with `next_cursor`, long lines cut,
//!   and at most `mcp.max_result_bytes` of JSON per result.
//! - **Stateless**: no MCP session is kept between HTTP requests (each POST is answered on
//!   its own, as JSON), so any replica answers any request and memory does not grow with
//!   clients.
//!
//! Files: `server.rs` (the `ServerHandler`: dispatch, role check, bounds, metrics), `tools/`
//! (the registry and one file per family), `resources.rs`, `prompts.rs`, `error.rs`,
//! `config.rs` (`[mcp]`).
//!
//! [`Auth<Viewer>`]: crate::api::auth::Auth

pub mod config;
pub mod error;
pub mod prompts;
pub mod resources;
pub mod server;
pub mod tools;

use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::Response;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};

use crate::api::AppState;
use crate::api::auth::{Auth, Viewer};
use crate::auth::Principal;

pub use config::McpConfig;

/// Who is calling, as the REST API's auth resolved the request's credentials.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    /// The client's IP address, for the audit trail of tools that change state.
    pub client: Option<String>,
}

/// The `/mcp` route behind the API's auth (empty when `mcp.enabled` is false); merged into
/// `api::router`, so the API's timeout, concurrency limit and body limit apply too.
pub fn routes(state: &AppState) -> Router<AppState> {
    if !state.config.mcp.enabled {
        return Router::new();
    }
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_sse_keep_alive(None)
        .with_max_request_body_bytes(state.api.max_body_bytes)
        // Every request needs a bearer token (or a SameSite=Strict cookie plus CSRF header),
        // which a DNS-rebinding page does not have; the collector's name is the operator's.
        .disable_allowed_hosts();
    let handler_state = state.clone();
    let service = StreamableHttpService::new(
        move || Ok(server::FleetlogMcp::new(handler_state.clone())),
        Arc::new(NeverSessionManager::default()),
        config,
    );
    Router::new()
        .route_service("/mcp", service)
        .route_layer(middleware::from_fn_with_state(state.clone(), authenticate))
}

/// Authenticates with the API's extractor and hands the caller on.
async fn authenticate(auth: Auth<Viewer>, mut request: Request, next: Next) -> Response {
    request.extensions_mut().insert(Caller {
        principal: auth.principal,
        client: auth.client,
    });
    next.run(request).await
}
