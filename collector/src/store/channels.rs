//! Notification channels: kind, settings, write-only secrets and route. A channel is
//! created through the API or declared in the config file (re-applied at every start).

use sqlx::Row;

use super::audit::{AuditEntry, write as write_audit};
use super::{Store, StoreError};
use crate::alerts::route::Route;

/// A stored channel. `secrets` never leaves the collector except to its receiver.
#[derive(Clone, PartialEq)]
pub struct ChannelRecord {
    pub id: i64,
    pub name: String,
    /// "email" | "slack" | "webhook"
    pub kind: String,
    /// Settings without secrets (URL host, SMTP server, addresses, ...).
    pub config: serde_json::Map<String, serde_json::Value>,
    /// Passwords, webhook URLs with tokens, signing secrets.
    pub secrets: serde_json::Map<String, serde_json::Value>,
    pub route: Route,
    /// "api" | "config"
    pub source: String,
    pub created_ms: i64,
    pub updated_ms: i64,
}

impl std::fmt::Debug for ChannelRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelRecord")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("config", &self.config)
            .field("secrets", &self.secrets.keys().collect::<Vec<_>>())
            .field("route", &self.route)
            .finish()
    }
}

/// A channel to create or replace.
#[derive(Clone, PartialEq)]
pub struct NewChannel {
    pub name: String,
    pub kind: String,
    pub config: serde_json::Map<String, serde_json::Value>,
    pub secrets: serde_json::Map<String, serde_json::Value>,
    pub route: Route,
}

impl std::fmt::Debug for NewChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewChannel")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("secrets", &self.secrets.keys().collect::<Vec<_>>())
            .finish()
    }
}

const COLUMNS: &str =
    "id, name, kind, config_json, secrets_json, route_json, source, created_ms, updated_ms";

fn map(
    what: &'static str,
    s: &str,
) -> Result<serde_json::Map<String, serde_json::Value>, StoreError> {
    serde_json::from_str(s).map_err(|source| StoreError::Json { what, source })
}

fn text<T: serde::Serialize>(what: &'static str, v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|source| StoreError::Json { what, source })
}

fn channel_from(r: &sqlx::any::AnyRow) -> Result<ChannelRecord, StoreError> {
    Ok(ChannelRecord {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        kind: r.try_get(2)?,
        config: map("channel config", &r.try_get::<String, _>(3)?)?,
        secrets: map("channel secrets", &r.try_get::<String, _>(4)?)?,
        route: serde_json::from_str(&r.try_get::<String, _>(5)?).map_err(|source| {
            StoreError::Json {
                what: "channel route",
                source,
            }
        })?,
        source: r.try_get(6)?,
        created_ms: r.try_get(7)?,
        updated_ms: r.try_get(8)?,
    })
}

/// What an audit row may say about a channel: never its secrets, only their names.
fn summary(c: &NewChannel) -> serde_json::Value {
    serde_json::json!({
        "name": c.name,
        "kind": c.kind,
        "config": c.config,
        "secrets": c.secrets.keys().collect::<Vec<_>>(),
        "route": c.route,
    })
}

impl Store {
    /// Every channel, by id.
    pub async fn channels(&self) -> Result<Vec<ChannelRecord>, StoreError> {
        let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM channels ORDER BY id"))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(channel_from).collect()
    }

    pub async fn channel(&self, id: i64) -> Result<Option<ChannelRecord>, StoreError> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM channels WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(channel_from).transpose()
    }

    /// Creates a channel; `Conflict` if the name is taken.
    pub async fn create_channel(
        &self,
        c: &NewChannel,
        audit: AuditEntry,
        now_ms: i64,
    ) -> Result<ChannelRecord, StoreError> {
        let mut tx = self.pool.begin_with(self.dialect.begin_write()).await?;
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO channels (name, kind, config_json, secrets_json, route_json, source, \
             created_ms, updated_ms) VALUES ($1, $2, $3, $4, $5, 'api', $6, $6) \
             ON CONFLICT (name) DO NOTHING RETURNING id",
        )
        .bind(&c.name)
        .bind(&c.kind)
        .bind(text("channel config", &c.config)?)
        .bind(text("channel secrets", &c.secrets)?)
        .bind(text("channel route", &c.route)?)
        .bind(now_ms)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(id) = id else {
            return Err(StoreError::Conflict(format!(
                "a channel named `{}` exists",
                c.name
            )));
        };
        let audit = AuditEntry {
            target: format!("channel:{id}"),
            ..audit
        }
        .after(summary(c));
        write_audit(&mut tx, &audit, now_ms).await?;
        tx.commit().await?;
        self.channel(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("channel {id}")))
    }

    /// Replaces a channel's settings and route; secrets given replace those stored
    /// (secrets not given are kept, since they cannot be read back).
    pub async fn update_channel(
        &self,
        id: i64,
        c: &NewChannel,
        audit: AuditEntry,
        now_ms: i64,
    ) -> Result<ChannelRecord, StoreError> {
        let before = self
            .channel(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("channel {id}")))?;
        let mut secrets = before.secrets.clone();
        secrets.extend(c.secrets.clone());
        let mut tx = self.pool.begin_with(self.dialect.begin_write()).await?;
        sqlx::query(
            "UPDATE channels SET name = $2, kind = $3, config_json = $4, secrets_json = $5, \
             route_json = $6, updated_ms = $7 WHERE id = $1",
        )
        .bind(id)
        .bind(&c.name)
        .bind(&c.kind)
        .bind(text("channel config", &c.config)?)
        .bind(text("channel secrets", &secrets)?)
        .bind(text("channel route", &c.route)?)
        .bind(now_ms)
        .execute(&mut *tx)
        .await
        .map_err(|e| match e {
            sqlx::Error::Database(d) if d.is_unique_violation() => {
                StoreError::Conflict(format!("a channel named `{}` exists", c.name))
            }
            e => e.into(),
        })?;
        write_audit(&mut tx, &audit.after(summary(c)), now_ms).await?;
        tx.commit().await?;
        self.channel(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("channel {id}")))
    }

    pub async fn delete_channel(
        &self,
        id: i64,
        audit: AuditEntry,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin_with(self.dialect.begin_write()).await?;
        let done = sqlx::query("DELETE FROM channels WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() != 1 {
            return Err(StoreError::NotFound(format!("channel {id}")));
        }
        write_audit(&mut tx, &audit, now_ms).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Creates or replaces a channel declared in the config file (by name).
    pub async fn upsert_config_channel(
        &self,
        c: &NewChannel,
        now_ms: i64,
    ) -> Result<i64, StoreError> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO channels (name, kind, config_json, secrets_json, route_json, source, \
             created_ms, updated_ms) VALUES ($1, $2, $3, $4, $5, 'config', $6, $6) \
             ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, \
             config_json = excluded.config_json, secrets_json = excluded.secrets_json, \
             route_json = excluded.route_json, source = 'config', updated_ms = excluded.updated_ms \
             RETURNING id",
        )
        .bind(&c.name)
        .bind(&c.kind)
        .bind(text("channel config", &c.config)?)
        .bind(text("channel secrets", &c.secrets)?)
        .bind(text("channel route", &c.route)?)
        .bind(now_ms)
        .fetch_one(&self.pool)
        .await?;
        Ok(id)
    }
}
