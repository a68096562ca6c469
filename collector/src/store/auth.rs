//! Users, API tokens and browser sessions. Every change takes an [`AuditEntry`] and
//! writes it in the same transaction.
//!
//! Only hashes are stored: argon2id PHC strings for passwords, SHA-256 for token and
//! session secrets (see `auth::secret`). Record types never carry a hash, except
//! [`LoginUser`], whose `Debug` hides it.

use std::fmt;

use sqlx::Row;
use sqlx::any::AnyRow;

use super::audit::{AuditEntry, write as write_audit};
use super::{Store, StoreError};
use crate::auth::Role;

/// A user, without its password hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub id: i64,
    pub name: String,
    pub role: Role,
    pub disabled: bool,
    pub created_ms: i64,
    pub updated_ms: i64,
}

impl UserRecord {
    /// What the audit trail records of a user.
    pub fn summary(&self) -> serde_json::Value {
        serde_json::json!({ "name": self.name, "role": self.role, "disabled": self.disabled })
    }
}

/// A user with its password hash, for login only.
#[derive(Clone)]
pub struct LoginUser {
    pub user: UserRecord,
    pub password_hash: String,
}

impl fmt::Debug for LoginUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginUser")
            .field("user", &self.user)
            .field("password_hash", &"<redacted>")
            .finish()
    }
}

/// An API token, without its secret hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub id: i64,
    pub name: String,
    pub role: Role,
    pub owner_user_id: Option<i64>,
    pub created_by: String,
    pub created_ms: i64,
    pub last_used_ms: Option<i64>,
    pub revoked_ms: Option<i64>,
}

/// What authenticating a token needs: the token, its secret hash and its owner's state.
#[derive(Clone)]
pub struct TokenAuth {
    pub token: TokenRecord,
    pub secret_sha256: String,
    /// The owner's current (role, disabled), if the token has an owner and it exists.
    pub owner: Option<(Role, bool)>,
}

impl fmt::Debug for TokenAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenAuth")
            .field("token", &self.token)
            .field("owner", &self.owner)
            .finish_non_exhaustive()
    }
}

/// What authenticating a session cookie needs.
#[derive(Clone)]
pub struct SessionAuth {
    pub session_id: String,
    pub secret_sha256: String,
    pub csrf_token: String,
    pub expires_ms: i64,
    pub user: UserRecord,
}

impl fmt::Debug for SessionAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionAuth")
            .field("session_id", &self.session_id)
            .field("expires_ms", &self.expires_ms)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// A new session to store.
#[derive(Clone)]
pub struct NewSession<'a> {
    pub id: &'a str,
    pub secret_sha256: &'a str,
    pub user_id: i64,
    pub csrf_token: &'a str,
    pub expires_ms: i64,
}

/// Changes to a user; `None` leaves a field as it is.
#[derive(Clone, Default)]
pub struct UserChange {
    pub role: Option<Role>,
    pub disabled: Option<bool>,
    pub password_hash: Option<String>,
}

impl fmt::Debug for UserChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserChange")
            .field("role", &self.role)
            .field("disabled", &self.disabled)
            .field("password_changed", &self.password_hash.is_some())
            .finish()
    }
}

const USER_COLUMNS: &str = "id, name, role, disabled, created_ms, updated_ms";
const TOKEN_COLUMNS: &str =
    "id, name, role, owner_user_id, created_by, created_ms, last_used_ms, revoked_ms";

fn role_of(text: &str) -> Role {
    // A role this build does not know gets the least power, never more.
    text.parse().unwrap_or(Role::Viewer)
}

fn user_from(row: &AnyRow, at: usize) -> Result<UserRecord, StoreError> {
    Ok(UserRecord {
        id: row.try_get(at)?,
        name: row.try_get(at + 1)?,
        role: role_of(&row.try_get::<String, _>(at + 2)?),
        disabled: row.try_get::<i64, _>(at + 3)? != 0,
        created_ms: row.try_get(at + 4)?,
        updated_ms: row.try_get(at + 5)?,
    })
}

fn token_from(row: &AnyRow) -> Result<TokenRecord, StoreError> {
    Ok(TokenRecord {
        id: row.try_get(0)?,
        name: row.try_get(1)?,
        role: role_of(&row.try_get::<String, _>(2)?),
        owner_user_id: row.try_get(3)?,
        created_by: row.try_get(4)?,
        created_ms: row.try_get(5)?,
        last_used_ms: row.try_get(6)?,
        revoked_ms: row.try_get(7)?,
    })
}

fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(e) if e.is_unique_violation())
}

impl Store {
    /// Creates a user. A name that exists is a `Conflict`.
    pub async fn create_user(
        &self,
        name: &str,
        role: Role,
        password_hash: &str,
        audit: AuditEntry,
        now_ms: i64,
    ) -> Result<UserRecord, StoreError> {
        let mut tx = self.pool.begin_with(self.dialect.begin_write()).await?;
        let inserted = sqlx::query(&format!(
            "INSERT INTO users (name, role, password_hash, disabled, created_ms, updated_ms) \
             VALUES ($1, $2, $3, 0, $4, $4) RETURNING {USER_COLUMNS}"
        ))
        .bind(name)
        .bind(role.as_str())
        .bind(password_hash)
        .bind(now_ms)
        .fetch_one(&mut *tx)
        .await;
        let row = match inserted {
            Ok(row) => row,
            Err(e) if is_unique_violation(&e) => {
                return Err(StoreError::Conflict(format!("user `{name}` exists")));
            }
            Err(e) => return Err(e.into()),
        };
        let user = user_from(&row, 0)?;
        write_audit(&mut tx, &audit.after(user.summary()), now_ms).await?;
        tx.commit().await?;
        Ok(user)
    }

    /// Every user, by name.
    pub async fn users(&self) -> Result<Vec<UserRecord>, StoreError> {
        let rows = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY name"))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| user_from(r, 0)).collect()
    }

    /// A user by id.
    pub async fn user(&self, id: i64) -> Result<Option<UserRecord>, StoreError> {
        let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| user_from(&r, 0)).transpose()
    }

    /// A user by name, with its password hash, for login.
    pub async fn login_user(&self, name: &str) -> Result<Option<LoginUser>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS}, password_hash FROM users WHERE name = $1"
        ))
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(LoginUser {
                user: user_from(&r, 0)?,
                password_hash: r.try_get(6)?,
            })
        })
        .transpose()
    }

    /// Applies `change` to user `id` (by id) and audits it with before and after.
    /// Disabling a user also ends its sessions.
    pub async fn update_user(
        &self,
        id: i64,
        change: UserChange,
        audit: AuditEntry,
        now_ms: i64,
    ) -> Result<UserRecord, StoreError> {
        let mut tx = self.pool.begin_with(self.dialect.begin_write()).await?;
        let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("user {id}")))?;
        let before = user_from(&row, 0)?;
        let role = change.role.unwrap_or(before.role);
        let disabled = change.disabled.unwrap_or(before.disabled);
        let row = sqlx::query(&format!(
            "UPDATE users SET role = $2, disabled = $3, updated_ms = $4, \
             password_hash = COALESCE($5, password_hash) WHERE id = $1 RETURNING {USER_COLUMNS}"
        ))
        .bind(id)
        .bind(role.as_str())
        .bind(i64::from(disabled))
        .bind(now_ms)
        .bind(change.password_hash.as_deref())
        .fetch_one(&mut *tx)
        .await?;
        let after = user_from(&row, 0)?;
        if after.disabled {
            sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        let mut after_summary = after.summary();
        if change.password_hash.is_some() {
            after_summary["password"] = serde_json::Value::from("changed");
        }
        write_audit(
            &mut tx,
            &audit.before(before.summary()).after(after_summary),
            now_ms,
        )
        .await?;
        tx.commit().await?;
        Ok(after)
    }

    /// A user's id by name.
    pub async fn user_id(&self, name: &str) -> Result<Option<i64>, StoreError> {
        Ok(sqlx::query_scalar("SELECT id FROM users WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// Stores a new API token (its secret only as a hash).
    #[allow(clippy::too_many_arguments)]
    pub async fn create_token(
        &self,
        name: &str,
        role: Role,
        owner_user_id: Option<i64>,
        created_by: &str,
        secret_sha256: &str,
        audit: AuditEntry,
        now_ms: i64,
    ) -> Result<TokenRecord, StoreError> {
        let mut tx = self.pool.begin_with(self.dialect.begin_write()).await?;
        let row = sqlx::query(&format!(
            "INSERT INTO api_tokens (name, role, secret_sha256, owner_user_id, created_by, \
             created_ms) VALUES ($1, $2, $3, $4, $5, $6) RETURNING {TOKEN_COLUMNS}"
        ))
        .bind(name)
        .bind(role.as_str())
        .bind(secret_sha256)
        .bind(owner_user_id)
        .bind(created_by)
        .bind(now_ms)
        .fetch_one(&mut *tx)
        .await?;
        let token = token_from(&row)?;
        let audit = AuditEntry {
            target: format!("token:{}", token.id),
            ..audit
        };
        write_audit(
            &mut tx,
            &audit.after(serde_json::json!({ "name": token.name, "role": token.role })),
            now_ms,
        )
        .await?;
        tx.commit().await?;
        Ok(token)
    }

    /// Every token (revoked ones too), newest first.
    pub async fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens ORDER BY id DESC"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(token_from).collect()
    }

    /// Revokes token `id`; revoking a revoked token changes nothing and is not an error.
    pub async fn revoke_token(
        &self,
        id: i64,
        audit: AuditEntry,
        now_ms: i64,
    ) -> Result<TokenRecord, StoreError> {
        let mut tx = self.pool.begin_with(self.dialect.begin_write()).await?;
        let row = sqlx::query(&format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("token {id}")))?;
        let before = token_from(&row)?;
        if before.revoked_ms.is_some() {
            return Ok(before);
        }
        let row = sqlx::query(&format!(
            "UPDATE api_tokens SET revoked_ms = $2 WHERE id = $1 RETURNING {TOKEN_COLUMNS}"
        ))
        .bind(id)
        .bind(now_ms)
        .fetch_one(&mut *tx)
        .await?;
        let after = token_from(&row)?;
        write_audit(
            &mut tx,
            &audit
                .before(serde_json::json!({ "name": before.name, "revoked": false }))
                .after(serde_json::json!({ "name": after.name, "revoked": true })),
            now_ms,
        )
        .await?;
        tx.commit().await?;
        Ok(after)
    }

    /// Token `id` with its secret hash and its owner's state, for authentication.
    pub async fn token_auth(&self, id: i64) -> Result<Option<TokenAuth>, StoreError> {
        let row = sqlx::query(
            "SELECT t.id, t.name, t.role, t.owner_user_id, t.created_by, t.created_ms, \
             t.last_used_ms, t.revoked_ms, t.secret_sha256, u.role, u.disabled \
             FROM api_tokens t LEFT JOIN users u ON u.id = t.owner_user_id WHERE t.id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let token = token_from(&row)?;
        let owner_role: Option<String> = row.try_get(9)?;
        let owner_disabled: Option<i64> = row.try_get(10)?;
        let owner = match (token.owner_user_id, owner_role) {
            (Some(_), Some(role)) => Some((role_of(&role), owner_disabled.unwrap_or(1) != 0)),
            // The owner row is gone: treat as disabled.
            (Some(_), None) => Some((Role::Viewer, true)),
            (None, _) => None,
        };
        Ok(Some(TokenAuth {
            token,
            secret_sha256: row.try_get(8)?,
            owner,
        }))
    }

    /// Records that token `id` was used (callers throttle this to about once a minute).
    pub async fn touch_token(&self, id: i64, now_ms: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE api_tokens SET last_used_ms = $2 WHERE id = $1")
            .bind(id)
            .bind(now_ms)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Stores a session created by a successful login, with the login's audit row.
    pub async fn create_session(
        &self,
        session: NewSession<'_>,
        audit: AuditEntry,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin_with(self.dialect.begin_write()).await?;
        // Expired sessions are swept here, so the table stays as small as the live ones.
        sqlx::query("DELETE FROM sessions WHERE expires_ms <= $1")
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO sessions (id, secret_sha256, user_id, csrf_token, created_ms, \
             expires_ms) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(session.id)
        .bind(session.secret_sha256)
        .bind(session.user_id)
        .bind(session.csrf_token)
        .bind(now_ms)
        .bind(session.expires_ms)
        .execute(&mut *tx)
        .await?;
        write_audit(&mut tx, &audit, now_ms).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Session `id` with its user, for authentication.
    pub async fn session_auth(&self, id: &str) -> Result<Option<SessionAuth>, StoreError> {
        let row = sqlx::query(
            "SELECT u.id, u.name, u.role, u.disabled, u.created_ms, u.updated_ms, \
             s.id, s.secret_sha256, s.csrf_token, s.expires_ms \
             FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(SessionAuth {
                user: user_from(&r, 0)?,
                session_id: r.try_get(6)?,
                secret_sha256: r.try_get(7)?,
                csrf_token: r.try_get(8)?,
                expires_ms: r.try_get(9)?,
            })
        })
        .transpose()
    }

    /// Ends a session (logout), with its audit row.
    pub async fn delete_session(
        &self,
        id: &str,
        audit: AuditEntry,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin_with(self.dialect.begin_write()).await?;
        sqlx::query("DELETE FROM sessions WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        write_audit(&mut tx, &audit, now_ms).await?;
        tx.commit().await?;
        Ok(())
    }
}
