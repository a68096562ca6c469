//! `/api/v1/tokens` (admin): create (the secret is shown once), list, revoke.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::auth::{Admin, Auth};
use super::error::ApiError;
use super::extract::{Json, Path};
use crate::auth::{Role, secret};
use crate::now_ms;
use crate::store::auth::TokenRecord;

/// An API token, without its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenDto {
    pub id: i64,
    pub name: String,
    pub role: Role,
    /// Who created it (user name, or `bootstrap`).
    pub created_by: String,
    pub created_ms: i64,
    pub last_used_ms: Option<i64>,
    pub revoked_ms: Option<i64>,
}

impl From<TokenRecord> for TokenDto {
    fn from(t: TokenRecord) -> Self {
        TokenDto {
            id: t.id,
            name: t.name,
            role: t.role,
            created_by: t.created_by,
            created_ms: t.created_ms,
            last_used_ms: t.last_used_ms,
            revoked_ms: t.revoked_ms,
        }
    }
}

/// Every token, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenList {
    pub tokens: Vec<TokenDto>,
}

/// A token to create; its role may not exceed its creator's.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    /// What it is for, 1-100 printable characters.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$",
        example = "nightly export"
    )]
    pub name: String,
    pub role: Role,
}

/// A created token. `token` is the secret, shown only in this response.
#[derive(Serialize, ToSchema)]
pub struct CreatedToken {
    pub id: i64,
    pub name: String,
    pub role: Role,
    /// Send as `Authorization: Bearer <token>`.
    pub token: String,
}

impl std::fmt::Debug for CreatedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedToken")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// Lists API tokens (never their secrets).
#[utoipa::path(
    get, path = "/tokens", tag = "tokens",
    responses((status = 200, description = "Every token, newest first", body = TokenList)),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    _auth: Auth<Admin>,
) -> Result<axum::Json<TokenList>, ApiError> {
    let tokens = state.store.tokens().await?;
    Ok(axum::Json(TokenList {
        tokens: tokens.into_iter().map(TokenDto::from).collect(),
    }))
}

/// Creates an API token; the response holds its secret, which is never shown again.
#[utoipa::path(
    post, path = "/tokens", tag = "tokens",
    request_body = CreateToken,
    responses((status = 201, description = "Created; `token` is the secret", body = CreatedToken)),
    security(("bearer" = []), ("session" = []))
)]
pub(super) async fn create(
    State(state): State<AppState>,
    auth: Auth<Admin>,
    Json(req): Json<CreateToken>,
) -> Result<(StatusCode, axum::Json<CreatedToken>), ApiError> {
    let name = req.name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(ApiError::BadRequest(
            "name must be 1-100 printable characters".to_owned(),
        ));
    }
    if req.role > auth.principal.role {
        return Err(ApiError::Forbidden(format!(
            "a token's role may not exceed its creator's ({})",
            auth.principal.role
        )));
    }
    let token_secret = secret::new_secret();
    let record = state
        .store
        .create_token(
            name,
            req.role,
            auth.principal.user_id,
            &auth.principal.name,
            &secret::sha256_hex(&token_secret),
            auth.audit("token.create", "token"),
            now_ms(),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(CreatedToken {
            id: record.id,
            token: secret::format_token(record.id, &token_secret),
            name: record.name,
            role: record.role,
        }),
    ))
}

/// Revokes an API token at once; revoking it again changes nothing.
#[utoipa::path(
    delete, path = "/tokens/{id}", tag = "tokens",
    params(("id" = i64, Path, description = "Token id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, description = "No such token", body = super::error::ErrorBody),
    ),
    security(("bearer" = []), ("session" = []))
)]
pub(super) async fn revoke(
    State(state): State<AppState>,
    auth: Auth<Admin>,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    state
        .store
        .revoke_token(
            id,
            auth.audit("token.revoke", format!("token:{id}")),
            now_ms(),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
