//! `/api/v1/users` (admin): list, create, change role, disable, reset password.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::auth::{Admin, Auth};
use super::error::ApiError;
use super::extract::{Json, Path};
use crate::auth::{Role, check_password_policy, password, valid_user_name};
use crate::now_ms;
use crate::store::auth::{UserChange, UserRecord};

/// A user, as the API shows it (never its password hash).
#[derive(Debug, Serialize, ToSchema)]
pub struct UserDto {
    pub id: i64,
    pub name: String,
    pub role: Role,
    pub disabled: bool,
    pub created_ms: i64,
    pub updated_ms: i64,
}

impl From<UserRecord> for UserDto {
    fn from(u: UserRecord) -> Self {
        UserDto {
            id: u.id,
            name: u.name,
            role: u.role,
            disabled: u.disabled,
            created_ms: u.created_ms,
            updated_ms: u.updated_ms,
        }
    }
}

/// Every user.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserList {
    pub users: Vec<UserDto>,
}

/// A new user.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    /// 1-64 characters: letters, digits, `._@-`.
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = "^[A-Za-z0-9._@-]+$",
        example = "alice"
    )]
    pub name: String,
    pub role: Role,
    /// At least 8 characters.
    #[schema(format = Password, min_length = 8, max_length = 1024)]
    pub password: String,
}

impl std::fmt::Debug for CreateUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateUser")
            .field("name", &self.name)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// Changes to a user; absent fields stay as they are.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    pub role: Option<Role>,
    pub disabled: Option<bool>,
    /// A new password, at least 8 characters.
    #[schema(format = Password, min_length = 8, max_length = 1024)]
    pub password: Option<String>,
}

impl std::fmt::Debug for UpdateUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpdateUser")
            .field("role", &self.role)
            .field("disabled", &self.disabled)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Lists users.
#[utoipa::path(
    get, path = "/users", tag = "users",
    responses((status = 200, description = "Every user, by name", body = UserList)),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    _auth: Auth<Admin>,
) -> Result<axum::Json<UserList>, ApiError> {
    let users = state.store.users().await?;
    Ok(axum::Json(UserList {
        users: users.into_iter().map(UserDto::from).collect(),
    }))
}

/// Hashes a password on a blocking thread (argon2id is deliberately slow).
pub(super) async fn hash_password(password: String) -> Result<String, ApiError> {
    check_password_policy(&password).map_err(ApiError::BadRequest)?;
    tokio::task::spawn_blocking(move || password::hash(&password))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)
}

/// Creates a user (the first admin can be created with the bootstrap `admin-token`).
#[utoipa::path(
    post, path = "/users", tag = "users",
    request_body = CreateUser,
    responses(
        (status = 201, description = "Created", body = UserDto),
        (status = 409, description = "A user of that name exists", body = super::error::ErrorBody),
    ),
    security(("bearer" = []), ("session" = []))
)]
pub(super) async fn create(
    State(state): State<AppState>,
    auth: Auth<Admin>,
    Json(req): Json<CreateUser>,
) -> Result<(StatusCode, axum::Json<UserDto>), ApiError> {
    if !valid_user_name(&req.name) {
        return Err(ApiError::BadRequest(
            "name must be 1-64 characters from letters, digits and ._@-".to_owned(),
        ));
    }
    let hash = hash_password(req.password).await?;
    let audit = auth.audit("user.create", format!("user:{}", req.name));
    let user = state
        .store
        .create_user(&req.name, req.role, &hash, audit, now_ms())
        .await?;
    Ok((StatusCode::CREATED, axum::Json(UserDto::from(user))))
}

/// Changes a user's role, disables or enables it, or resets its password.
/// Disabling a user ends its sessions and stops its API tokens.
#[utoipa::path(
    patch, path = "/users/{id}", tag = "users",
    params(("id" = i64, Path, description = "User id")),
    request_body = UpdateUser,
    responses(
        (status = 200, description = "The user after the change", body = UserDto),
        (status = 404, description = "No such user", body = super::error::ErrorBody),
        (status = 409, description = "An admin may not demote or disable themselves", body = super::error::ErrorBody),
    ),
    security(("bearer" = []), ("session" = []))
)]
pub(super) async fn update(
    State(state): State<AppState>,
    auth: Auth<Admin>,
    Path(id): Path<i64>,
    Json(req): Json<UpdateUser>,
) -> Result<axum::Json<UserDto>, ApiError> {
    if auth.principal.user_id == Some(id)
        && (req.disabled == Some(true) || req.role.is_some_and(|r| r < Role::Admin))
    {
        return Err(ApiError::Conflict(
            "an admin may not demote or disable themselves; ask another admin".to_owned(),
        ));
    }
    let password_hash = match req.password {
        Some(p) => Some(hash_password(p).await?),
        None => None,
    };
    let change = UserChange {
        role: req.role,
        disabled: req.disabled,
        password_hash,
    };
    let user = state
        .store
        .update_user(
            id,
            change,
            auth.audit("user.update", format!("user:{id}")),
            now_ms(),
        )
        .await?;
    Ok(axum::Json(UserDto::from(user)))
}
