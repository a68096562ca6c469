//! `GET /api/v1/stream`: the live stream as Server-Sent Events — unhealthy events,
//! health changes, incident changes, alert changes — filtered by `types`, `host`,
//! `service` and `min_severity`. Every event's id is the stream position
//! (`stream::Position`), so a client reconnecting with `Last-Event-ID` (or `?since=`)
//! gets exactly what came after, nothing lost or repeated. Heartbeat comments keep
//! proxies from closing an idle stream. Each client has a bounded buffer
//! (`alerts.stream_client_buffer` events): a client that falls that far behind gets a
//! final `disconnect` event with the reason and the stream ends (counted in
//! `fleetlog_collector_api_rejects_total{reason="stream_slow_client"}`); it may resume
//! from its last id.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use axum::extract::State as AxState;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use serde::Deserialize;
use tokio::sync::mpsc;
use utoipa::IntoParams;

use super::AppState;
use super::auth::{Auth, Viewer};
use super::error::ApiError;
use super::extract::Query;
use crate::stream::pump::{End, pump};
use crate::stream::{Filter, Position, feed};

/// Filters of `GET /api/v1/stream`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StreamQuery {
    /// Comma-separated: `event`, `health`, `incident`, `alert` (default: all).
    pub types: Option<String>,
    pub host: Option<String>,
    pub service: Option<String>,
    /// `info`, `warn`, `error` or `critical` (default: info).
    pub min_severity: Option<String>,
    /// Resume after this position (as `Last-Event-ID`); default: from now on.
    pub since: Option<String>,
}

/// The live stream (`text/event-stream`).
#[utoipa::path(
    get, path = "/stream", tag = "alerts",
    params(StreamQuery, ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event id")),
    responses((status = 200, description = "Server-Sent Events: `event:` is the type, `id:` the position, `data:` the item as JSON", content_type = "text/event-stream", body = String)),
    security(("bearer" = []), ("session" = []))
)]
pub(super) async fn stream(
    AxState(state): AxState<AppState>,
    _auth: Auth<Viewer>,
    headers: HeaderMap,
    Query(q): Query<StreamQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let filter = Filter::parse(
        q.types.as_deref(),
        q.host,
        q.service,
        q.min_severity.as_deref(),
    )
    .map_err(ApiError::BadRequest)?;
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or(q.since);
    let start = match resume {
        Some(id) => Position::decode(&id)
            .ok_or_else(|| ApiError::BadRequest(format!("`{id}` is not a stream position")))?,
        None => feed::head(&state.store).await?,
    };
    let cfg = &state.config.alerts;
    let buffer = cfg.stream_client_buffer.max(1);
    let (tx, rx) = mpsc::channel::<Event>(buffer);
    let reason: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
    let producer_reason = reason.clone();
    let store = state.store.clone();
    let metrics = state.metrics.clone();
    let poll = cfg.stream_poll;
    let limit = i64::try_from(buffer).unwrap_or(i64::MAX);
    tokio::spawn(async move {
        let end = pump(store, start, filter, poll, limit, tx, |pos, item| {
            Event::default()
                .id(pos.encode())
                .event(item.kind)
                .json_data(&item)
                .unwrap_or_else(|_| Event::default().comment("unencodable item"))
        })
        .await;
        if end == End::SlowClient {
            metrics.api_reject("stream_slow_client");
            if let Ok(mut r) = producer_reason.lock() {
                *r = Some(format!(
                    "slow client: {buffer} events waiting (alerts.stream_client_buffer); resume with Last-Event-ID"
                ));
            }
        }
    });
    let events =
        futures_util::stream::unfold((rx, reason, false), |(mut rx, reason, done)| async move {
            if done {
                return None;
            }
            match rx.recv().await {
                Some(e) => Some((Ok(e), (rx, reason, false))),
                None => {
                    let why = reason.lock().ok().and_then(|mut r| r.take())?;
                    let e = Event::default()
                        .event("disconnect")
                        .data(serde_json::json!({ "reason": why }).to_string());
                    Some((Ok(e), (rx, reason, true)))
                }
            }
        });
    Ok(Sse::new(events).keep_alive(
        KeepAlive::new()
            .interval(cfg.stream_heartbeat)
            .text("heartbeat"),
    ))
}
