//! `/api/v1/models`: the model registry (viewer), and activation (admin, audited), which
//! pushes the model to every connected agent at once; rollback is activating an older one.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::{Admin, Auth, Viewer};
use super::error::ApiError;
use super::extract::{Path, Query};
use super::paging;
use crate::now_ms;
use crate::store::models::ModelInfo;

/// Agents count as running a model when their latest heartbeat, received within this
/// window, names it.
pub const AGENT_WINDOW_MS: i64 = 10 * 60 * 1000;

/// One model version.
#[derive(Debug, Serialize, ToSchema)]
pub struct ModelDto {
    /// Registry id, also the version number (1, 2, 3...).
    pub id: i64,
    pub version: i64,
    /// Content hash (16 hex digits): the version agents report in their heartbeats.
    pub content_hash: String,
    /// `upload`, `window`, `s3` or `file`.
    pub source: String,
    /// What it was trained from.
    pub source_detail: String,
    pub created_by: String,
    pub created_ms: i64,
    pub templates: u64,
    pub size_bytes: u64,
    /// What training read and skipped (lines, records, files, window, duration).
    #[schema(value_type = Object)]
    pub summary: serde_json::Value,
    pub job_id: Option<i64>,
    /// Whether agents are pushed this model.
    pub active: bool,
    pub activated_ms: Option<i64>,
    /// Agents whose latest heartbeat (within 10 minutes) reports this model.
    pub agents: u64,
}

impl ModelDto {
    fn new(m: ModelInfo, agents: &std::collections::HashMap<u64, u64>) -> ModelDto {
        ModelDto {
            agents: agents.get(&m.content_hash).copied().unwrap_or(0),
            id: m.id,
            version: m.id,
            content_hash: format!("{:016x}", m.content_hash),
            source: m.source,
            source_detail: m.source_detail,
            created_by: m.created_by,
            created_ms: m.created_ms,
            templates: m.templates,
            size_bytes: m.size_bytes,
            summary: m.summary,
            job_id: m.job_id,
            active: m.active,
            activated_ms: m.activated_ms,
        }
    }
}

/// A page of models, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct ModelPage {
    pub models: Vec<ModelDto>,
    /// The active model's id, if any.
    pub active_id: Option<i64>,
    pub next_cursor: Option<String>,
}

/// Paging of `GET /api/v1/models`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ModelsQuery {
    /// Page size (1 to `api.max_page`, default 100).
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Lists the model versions, newest first.
#[utoipa::path(
    get, path = "/models", tag = "models",
    params(ModelsQuery),
    responses((status = 200, description = "A page of models", body = ModelPage)),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    _auth: Auth<Viewer>,
    Query(q): Query<ModelsQuery>,
) -> Result<axum::Json<ModelPage>, ApiError> {
    let limit = paging::limit(q.limit, state.api.max_page)?;
    let before = paging::decode_id_cursor(q.cursor.as_deref())?;
    let rows = state.store.models(before, limit).await?;
    let agents = state
        .store
        .agents_per_model(now_ms() - AGENT_WINDOW_MS)
        .await?;
    let active_id = state.store.active_model().await?.map(|(id, _)| id);
    let next_cursor = paging::next_id_cursor(rows.iter().map(|m| m.id), rows.len(), limit);
    Ok(axum::Json(ModelPage {
        models: rows
            .into_iter()
            .map(|m| ModelDto::new(m, &agents))
            .collect(),
        active_id,
        next_cursor,
    }))
}

/// One model version, with how many agents run it.
#[utoipa::path(
    get, path = "/models/{id}", tag = "models",
    params(("id" = i64, Path, description = "Model id (its version number)")),
    responses(
        (status = 200, description = "The model", body = ModelDto),
        (status = 404, description = "No such model", body = super::error::ErrorBody),
    ),
    security(("bearer" = []), ("session" = []))
)]
pub(super) async fn get(
    State(state): State<AppState>,
    _auth: Auth<Viewer>,
    Path(id): Path<i64>,
) -> Result<axum::Json<ModelDto>, ApiError> {
    let model = state.store.model(id).await?;
    let agents = state
        .store
        .agents_per_model(now_ms() - AGENT_WINDOW_MS)
        .await?;
    Ok(axum::Json(ModelDto::new(model, &agents)))
}

/// Makes a model the one agents apply and pushes it to every connected agent now (agents on
/// other replicas within `training.poll_interval_ms`); activating an older one is a rollback.
#[utoipa::path(
    post, path = "/models/{id}/activate", tag = "models",
    params(("id" = i64, Path, description = "Model id (its version number)")),
    responses(
        (status = 200, description = "The model, now active", body = ModelDto),
        (status = 404, description = "No such model", body = super::error::ErrorBody),
    ),
    security(("bearer" = []), ("session" = []))
)]
pub(super) async fn activate(
    State(state): State<AppState>,
    auth: Auth<Admin>,
    Path(id): Path<i64>,
) -> Result<axum::Json<ModelDto>, ApiError> {
    // Checked before it becomes active: a model that cannot be pushed is never activated.
    let push = crate::training::registry::load(&state.store, id).await?;
    let audit = auth.audit("model.activate", format!("model:{id}"));
    let model = state.store.activate_model(id, audit, now_ms()).await?;
    if state.model.set(Some(push)) {
        state.metrics.model_activations.inc();
    }
    let agents = state
        .store
        .agents_per_model(now_ms() - AGENT_WINDOW_MS)
        .await?;
    Ok(axum::Json(ModelDto::new(model, &agents)))
}
