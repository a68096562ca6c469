//! `/api/v1/rules`: alert rules. Everyone may list them; creating, editing (built-in
//! thresholds too), disabling and deleting custom rules is for admins.

use axum::extract::State as AxState;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::auth::{Admin, Auth, Viewer};
use super::error::ApiError;
use super::extract::{Json, Path};
use crate::alerts::rules::RuleSpec;
use crate::store::alerts::RuleRecord;

/// An alert rule.
#[derive(Debug, Serialize, ToSchema)]
pub struct RuleDto {
    pub id: i64,
    pub name: String,
    /// Shipped with fleetlog: editable, not deletable.
    pub builtin: bool,
    pub enabled: bool,
    pub spec: RuleSpec,
    pub created_ms: i64,
    pub updated_ms: i64,
}

fn dto(r: RuleRecord) -> RuleDto {
    RuleDto {
        id: r.id,
        name: r.name,
        builtin: r.builtin,
        enabled: r.enabled,
        spec: r.spec,
        created_ms: r.created_ms,
        updated_ms: r.updated_ms,
    }
}

/// Every rule.
#[derive(Debug, Serialize, ToSchema)]
pub struct RuleList {
    pub rules: Vec<RuleDto>,
}

/// Every alert rule, built-in and custom.
#[utoipa::path(
    get, path = "/rules", tag = "alerts",
    responses((status = 200, description = "Rules", body = RuleList)),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn list(
    AxState(state): AxState<AppState>,
    _auth: Auth<Viewer>,
) -> Result<axum::Json<RuleList>, ApiError> {
    Ok(axum::Json(RuleList {
        rules: state
            .store
            .alert_rules()
            .await?
            .into_iter()
            .map(dto)
            .collect(),
    }))
}

/// `POST /api/v1/rules`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRule {
    pub name: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    pub spec: RuleSpec,
}

fn yes() -> bool {
    true
}

fn check(spec: &RuleSpec) -> Result<(), ApiError> {
    spec.validate().map_err(ApiError::BadRequest)
}

/// Creates a custom rule.
#[utoipa::path(
    post, path = "/rules", tag = "alerts",
    request_body = CreateRule,
    responses(
        (status = 201, description = "Created", body = RuleDto),
        (status = 409, description = "The name is taken", body = super::error::ErrorBody),
    ),
    security(("bearer" = []), ("session" = []))
)]
pub(super) async fn create(
    AxState(state): AxState<AppState>,
    auth: Auth<Admin>,
    Json(req): Json<CreateRule>,
) -> Result<(StatusCode, axum::Json<RuleDto>), ApiError> {
    let name = req.name.trim();
    if name.is_empty() || name.len() > 100 {
        return Err(ApiError::BadRequest(
            "name must be 1 to 100 characters".into(),
        ));
    }
    check(&req.spec)?;
    let r = state
        .store
        .create_rule(
            name,
            &req.spec,
            req.enabled,
            auth.audit("rule.create", format!("rule:{name}")),
            crate::now_ms(),
        )
        .await?;
    Ok((StatusCode::CREATED, axum::Json(dto(r))))
}

/// One rule.
#[utoipa::path(
    get, path = "/rules/{id}", tag = "alerts",
    params(("id" = i64, Path, description = "Rule id")),
    responses(
        (status = 200, description = "The rule", body = RuleDto),
        (status = 404, description = "No such rule", body = super::error::ErrorBody),
    ),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn get(
    AxState(state): AxState<AppState>,
    _auth: Auth<Viewer>,
    Path(id): Path<i64>,
) -> Result<axum::Json<RuleDto>, ApiError> {
    let r = state
        .store
        .alert_rule(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("rule {id}")))?;
    Ok(axum::Json(dto(r)))
}

/// `PATCH /api/v1/rules/{id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateRule {
    pub enabled: Option<bool>,
    /// The whole new spec.
    pub spec: Option<RuleSpec>,
}

/// Edits a rule (built-in ones too) or turns it on or off.
#[utoipa::path(
    patch, path = "/rules/{id}", tag = "alerts",
    params(("id" = i64, Path, description = "Rule id")),
    request_body = UpdateRule,
    responses(
        (status = 200, description = "The rule", body = RuleDto),
        (status = 404, description = "No such rule", body = super::error::ErrorBody),
    ),
    security(("bearer" = []), ("session" = []))
)]
pub(super) async fn update(
    AxState(state): AxState<AppState>,
    auth: Auth<Admin>,
    Path(id): Path<i64>,
    Json(req): Json<UpdateRule>,
) -> Result<axum::Json<RuleDto>, ApiError> {
    if let Some(spec) = &req.spec {
        check(spec)?;
    }
    let r = state
        .store
        .update_rule(
            id,
            req.spec.as_ref(),
            req.enabled,
            auth.audit("rule.update", format!("rule:{id}")),
            crate::now_ms(),
        )
        .await?;
    Ok(axum::Json(dto(r)))
}

/// Deletes a custom rule and its alerts (a built-in rule can only be disabled).
#[utoipa::path(
    delete, path = "/rules/{id}", tag = "alerts",
    params(("id" = i64, Path, description = "Rule id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such rule", body = super::error::ErrorBody),
        (status = 409, description = "A built-in rule", body = super::error::ErrorBody),
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
        .delete_rule(
            id,
            auth.audit("rule.delete", format!("rule:{id}")),
            crate::now_ms(),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
