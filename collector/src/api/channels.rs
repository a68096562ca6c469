//! `/api/v1/channels`: notification channels (admin). Secrets are write-only: a response
//! names which secrets are set, never their values. `POST /channels/{id}/test` queues a
//! test notification through the outbox; `/channels/{id}/deliveries` is the channel's
//! delivery history (attempts, outcome, status, latency, error).

use axum::extract::State as AxState;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::{Admin, Auth};
use super::error::ApiError;
use super::extract::{Json, Path, Query};
use super::paging;
use crate::alerts::payload::Notification;
use crate::alerts::route::Route;
use crate::store::channels::{ChannelRecord, NewChannel};
use crate::store::outbox::NewMessage;

type Map = serde_json::Map<String, serde_json::Value>;

/// A channel, without its secrets' values.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelDto {
    pub id: i64,
    pub name: String,
    /// `email`, `slack` or `webhook`.
    pub kind: String,
    /// Settings without secrets.
    #[schema(value_type = Object)]
    pub config: Map,
    /// Names of the secrets that are set (values are write-only).
    pub secrets_set: Vec<String>,
    pub route: Route,
    /// `api`, or `config` (declared in the config file, re-applied at start).
    pub source: String,
    pub created_ms: i64,
    pub updated_ms: i64,
}

fn dto(c: ChannelRecord) -> ChannelDto {
    ChannelDto {
        id: c.id,
        name: c.name,
        kind: c.kind,
        config: c.config,
        secrets_set: c.secrets.keys().cloned().collect(),
        route: c.route,
        source: c.source,
        created_ms: c.created_ms,
        updated_ms: c.updated_ms,
    }
}

/// Every channel.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelList {
    pub channels: Vec<ChannelDto>,
}

/// Every channel.
#[utoipa::path(
    get, path = "/channels", tag = "alerts",
    responses((status = 200, description = "Channels", body = ChannelList)),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn list(
    AxState(state): AxState<AppState>,
    _auth: Auth<Admin>,
) -> Result<axum::Json<ChannelList>, ApiError> {
    Ok(axum::Json(ChannelList {
        channels: state.store.channels().await?.into_iter().map(dto).collect(),
    }))
}

/// `POST /api/v1/channels` and `PATCH /api/v1/channels/{id}`.
///
/// webhook: `config.url`, `secrets.secret` (HMAC key). slack: `secrets.webhook_url`.
/// email: `config.host`, `config.port`, `config.tls` (`starttls` | `tls` | `none`),
/// `config.from`, `config.to` (address or list), `config.username`, `secrets.password`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelRequest {
    pub name: String,
    pub kind: String,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub config: Map,
    /// Write-only. On PATCH, secrets not given are kept.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub secrets: Map,
    /// Default: the default route (receives what no other route takes).
    pub route: Option<Route>,
}

impl std::fmt::Debug for ChannelRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelRequest")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

fn new_channel(req: ChannelRequest, keep_secrets: Option<&Map>) -> Result<NewChannel, ApiError> {
    let c = NewChannel {
        name: req.name.trim().to_owned(),
        kind: req.kind,
        config: req.config,
        secrets: req.secrets,
        route: req.route.unwrap_or(Route {
            default: true,
            ..Route::default()
        }),
    };
    // Validate with the secrets the channel will have after the change.
    let mut check = c.clone();
    if let Some(kept) = keep_secrets {
        let mut s = kept.clone();
        s.extend(c.secrets.clone());
        check.secrets = s;
    }
    crate::notify::validate(&check).map_err(ApiError::BadRequest)?;
    Ok(c)
}

/// Creates a channel.
#[utoipa::path(
    post, path = "/channels", tag = "alerts",
    request_body = ChannelRequest,
    responses(
        (status = 201, description = "Created", body = ChannelDto),
        (status = 409, description = "The name is taken", body = super::error::ErrorBody),
    ),
    security(("bearer" = []), ("session" = []))
)]
pub(super) async fn create(
    AxState(state): AxState<AppState>,
    auth: Auth<Admin>,
    Json(req): Json<ChannelRequest>,
) -> Result<(StatusCode, axum::Json<ChannelDto>), ApiError> {
    let c = new_channel(req, None)?;
    let rec = state
        .store
        .create_channel(
            &c,
            auth.audit("channel.create", format!("channel:{}", c.name)),
            crate::now_ms(),
        )
        .await?;
    Ok((StatusCode::CREATED, axum::Json(dto(rec))))
}

async fn load(state: &AppState, id: i64) -> Result<ChannelRecord, ApiError> {
    state
        .store
        .channel(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("channel {id}")))
}

/// One channel.
#[utoipa::path(
    get, path = "/channels/{id}", tag = "alerts",
    params(("id" = i64, Path, description = "Channel id")),
    responses(
        (status = 200, description = "The channel", body = ChannelDto),
        (status = 404, description = "No such channel", body = super::error::ErrorBody),
    ),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn get(
    AxState(state): AxState<AppState>,
    _auth: Auth<Admin>,
    Path(id): Path<i64>,
) -> Result<axum::Json<ChannelDto>, ApiError> {
    Ok(axum::Json(dto(load(&state, id).await?)))
}

/// Replaces a channel's settings and route (secrets not given are kept).
#[utoipa::path(
    patch, path = "/channels/{id}", tag = "alerts",
    params(("id" = i64, Path, description = "Channel id")),
    request_body = ChannelRequest,
    responses(
        (status = 200, description = "The channel", body = ChannelDto),
        (status = 404, description = "No such channel", body = super::error::ErrorBody),
        (status = 409, description = "The name is taken", body = super::error::ErrorBody),
    ),
    security(("bearer" = []), ("session" = []))
)]
pub(super) async fn update(
    AxState(state): AxState<AppState>,
    auth: Auth<Admin>,
    Path(id): Path<i64>,
    Json(req): Json<ChannelRequest>,
) -> Result<axum::Json<ChannelDto>, ApiError> {
    let before = load(&state, id).await?;
    let c = new_channel(req, Some(&before.secrets))?;
    let rec = state
        .store
        .update_channel(
            id,
            &c,
            auth.audit("channel.update", format!("channel:{id}")),
            crate::now_ms(),
        )
        .await?;
    Ok(axum::Json(dto(rec)))
}

/// Deletes a channel (its queued messages dead-letter).
#[utoipa::path(
    delete, path = "/channels/{id}", tag = "alerts",
    params(("id" = i64, Path, description = "Channel id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such channel", body = super::error::ErrorBody),
    ),
    security(("bearer" = []), ("session" = []))
)]
pub(super) async fn delete(
    AxState(state): AxState<AppState>,
    auth: Auth<Admin>,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    state
        .store
        .delete_channel(
            id,
            auth.audit("channel.delete", format!("channel:{id}")),
            crate::now_ms(),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A queued test notification.
#[derive(Debug, Serialize, ToSchema)]
pub struct TestQueued {
    /// The outbox message; its attempts appear under `/channels/{id}/deliveries`.
    pub message_id: i64,
    pub idempotency_key: String,
}

/// Queues a test notification to the channel.
#[utoipa::path(
    post, path = "/channels/{id}/test", tag = "alerts",
    params(("id" = i64, Path, description = "Channel id")),
    responses(
        (status = 202, description = "Queued", body = TestQueued),
        (status = 404, description = "No such channel", body = super::error::ErrorBody),
    ),
    security(("bearer" = []), ("session" = []))
)]
pub(super) async fn test(
    AxState(state): AxState<AppState>,
    _auth: Auth<Admin>,
    Path(id): Path<i64>,
) -> Result<(StatusCode, axum::Json<TestQueued>), ApiError> {
    let c = load(&state, id).await?;
    let now = crate::now_ms();
    let n = Notification::test(&c.name, &state.config.alerts.dashboard_url, now);
    let key = format!("test:{id}:{now}:{}", crate::auth::secret::random_hex(4));
    let msg = NewMessage {
        kind: c.kind,
        target: id.to_string(),
        idempotency_key: key.clone(),
        payload: serde_json::to_string(&n).map_err(|e| {
            ApiError::Internal(anyhow::anyhow!("encoding a test notification: {e}"))
        })?,
        due_ms: None,
    };
    let message_id = state
        .store
        .enqueue_one(&msg, now)
        .await?
        .ok_or_else(|| ApiError::Conflict("a test was just queued; try again".into()))?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(TestQueued {
            message_id,
            idempotency_key: key,
        }),
    ))
}

/// One delivery attempt.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryDto {
    pub id: i64,
    pub message_id: i64,
    pub idempotency_key: String,
    pub attempt: i64,
    pub started_ms: i64,
    pub latency_ms: i64,
    /// `delivered`, `retry` or `dead`.
    pub outcome: String,
    pub http_status: Option<i64>,
    pub error: Option<String>,
}

/// A page of a channel's delivery history, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryPage {
    pub deliveries: Vec<DeliveryDto>,
    pub next_cursor: Option<String>,
}

/// Paging of `GET /api/v1/channels/{id}/deliveries`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeliveryQuery {
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// The channel's delivery attempts, newest first.
#[utoipa::path(
    get, path = "/channels/{id}/deliveries", tag = "alerts",
    params(("id" = i64, Path, description = "Channel id"), DeliveryQuery),
    responses(
        (status = 200, description = "Deliveries", body = DeliveryPage),
        (status = 404, description = "No such channel", body = super::error::ErrorBody),
    ),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn deliveries(
    AxState(state): AxState<AppState>,
    _auth: Auth<Admin>,
    Path(id): Path<i64>,
    Query(q): Query<DeliveryQuery>,
) -> Result<axum::Json<DeliveryPage>, ApiError> {
    load(&state, id).await?;
    let limit = paging::limit(q.limit, state.api.max_page)?;
    let before = paging::decode_id_cursor(q.cursor.as_deref())?;
    let rows = state
        .store
        .deliveries(&id.to_string(), before, limit)
        .await?;
    let next_cursor = (rows.len() == limit as usize)
        .then(|| rows.last().map(|r| paging::encode_id_cursor(r.id)))
        .flatten();
    Ok(axum::Json(DeliveryPage {
        deliveries: rows
            .into_iter()
            .map(|d| DeliveryDto {
                id: d.id,
                message_id: d.message_id,
                idempotency_key: d.idempotency_key,
                attempt: d.attempt,
                started_ms: d.started_ms,
                latency_ms: d.latency_ms,
                outcome: d.outcome,
                http_status: d.http_status,
                error: d.error,
            })
            .collect(),
        next_cursor,
    }))
}
