//! The model registry (migration `0011_models.sql`): every baseline model the collector ever
//! had, never overwritten, with the one active model that agents are pushed.
//!
//! The model's JSON lives in the row (`models.model`), not in a file: models are small
//! (kilobytes to a few MiB), every replica on one PostgreSQL reads the same bytes without a
//! shared disk, and a row and its bytes commit in one transaction, so a half-written model
//! can never be listed. The active model is the row with `active = 1` (a unique partial
//! index allows one); replicas poll [`Store::active_model`] to follow activations made on
//! another replica (the store is the change feed).

use std::collections::HashMap;

use sqlx::Row;

use super::audit::{AuditEntry, write as write_audit};
use super::{Store, StoreError};

/// Where a model came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelSource {
    /// `POST /api/v1/training/uploads`.
    Upload,
    /// `POST /api/v1/training/windows` (lines from the archive).
    Window,
    /// An S3 prefix.
    S3,
    /// The configured `model` file, imported at start or by `/reload`.
    File,
}

impl ModelSource {
    pub fn as_str(self) -> &'static str {
        match self {
            ModelSource::Upload => "upload",
            ModelSource::Window => "window",
            ModelSource::S3 => "s3",
            ModelSource::File => "file",
        }
    }
}

/// A model to add to the registry.
#[derive(Debug, Clone)]
pub struct NewModel {
    /// The baseline's JSON (checked by the caller).
    pub bytes: Vec<u8>,
    /// `ingest::model::content_hash(bytes)`: the version agents report.
    pub content_hash: u64,
    pub source: ModelSource,
    /// File names, the window, or the path it was trained from.
    pub source_detail: String,
    pub created_by: String,
    pub templates: u64,
    /// JSON object: what training read and skipped.
    pub summary: serde_json::Value,
    pub job_id: Option<i64>,
}

/// A registry row, without its bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInfo {
    /// Also the model's version number in the registry (1, 2, 3...).
    pub id: i64,
    pub content_hash: u64,
    pub source: String,
    pub source_detail: String,
    pub created_by: String,
    pub created_ms: i64,
    pub templates: u64,
    pub size_bytes: u64,
    pub summary: serde_json::Value,
    pub job_id: Option<i64>,
    pub active: bool,
    pub activated_ms: Option<i64>,
}

const COLUMNS: &str = "id, content_hash, source, source_detail, created_by, created_ms, \
     templates, size_bytes, summary_json, job_id, active, activated_ms";

fn hash_to_sql(h: u64) -> i64 {
    i64::from_ne_bytes(h.to_ne_bytes())
}

fn hash_from_sql(h: i64) -> u64 {
    u64::from_ne_bytes(h.to_ne_bytes())
}

fn info_of(row: &sqlx::any::AnyRow) -> Result<ModelInfo, StoreError> {
    let summary: String = row.try_get("summary_json")?;
    let active: i64 = row.try_get("active")?;
    Ok(ModelInfo {
        id: row.try_get("id")?,
        content_hash: hash_from_sql(row.try_get("content_hash")?),
        source: row.try_get("source")?,
        source_detail: row.try_get("source_detail")?,
        created_by: row.try_get("created_by")?,
        created_ms: row.try_get("created_ms")?,
        templates: row.try_get::<i64, _>("templates")?.max(0) as u64,
        size_bytes: row.try_get::<i64, _>("size_bytes")?.max(0) as u64,
        summary: serde_json::from_str(&summary).unwrap_or(serde_json::Value::Null),
        job_id: row.try_get("job_id")?,
        active: active == 1,
        activated_ms: row.try_get("activated_ms")?,
    })
}

impl ModelInfo {
    fn audit_summary(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "content_hash": format!("{:016x}", self.content_hash),
            "source": self.source,
            "active": self.active,
        })
    }
}

/// Inserts a model row inside `tx`; returns its id.
pub(crate) async fn insert(
    conn: &mut sqlx::AnyConnection,
    model: &NewModel,
    now_ms: i64,
) -> Result<i64, StoreError> {
    let summary = serde_json::to_string(&model.summary).map_err(|source| StoreError::Json {
        what: "model summary",
        source,
    })?;
    let row = sqlx::query(
        "INSERT INTO models (content_hash, source, source_detail, created_by, created_ms, \
         templates, size_bytes, summary_json, job_id, active, model) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0, $10) RETURNING id",
    )
    .bind(hash_to_sql(model.content_hash))
    .bind(model.source.as_str())
    .bind(super::clean(&model.source_detail).as_ref())
    .bind(super::clean(&model.created_by).as_ref())
    .bind(now_ms)
    .bind(i64::try_from(model.templates).unwrap_or(i64::MAX))
    .bind(i64::try_from(model.bytes.len()).unwrap_or(i64::MAX))
    .bind(&summary)
    .bind(model.job_id)
    .bind(model.bytes.clone())
    .fetch_one(&mut *conn)
    .await?;
    Ok(row.try_get("id")?)
}

impl Store {
    /// Adds a model (inactive) with its audit row; returns it.
    pub async fn add_model(
        &self,
        model: &NewModel,
        audit: AuditEntry,
        now_ms: i64,
    ) -> Result<ModelInfo, StoreError> {
        let mut tx = self.pool.begin_with(self.dialect.begin_write()).await?;
        let id = insert(&mut tx, model, now_ms).await?;
        let info = model_in(&mut tx, id).await?;
        write_audit(&mut tx, &audit.after(info.audit_summary()), now_ms).await?;
        tx.commit().await?;
        Ok(info)
    }

    /// Models newest first, at most `limit`, below `before_id` if given.
    pub async fn models(
        &self,
        before_id: Option<i64>,
        limit: u32,
    ) -> Result<Vec<ModelInfo>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM models WHERE id < $1 ORDER BY id DESC LIMIT $2"
        ))
        .bind(before_id.unwrap_or(i64::MAX))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(info_of).collect()
    }

    /// One model; `NotFound` if there is none with this id.
    pub async fn model(&self, id: i64) -> Result<ModelInfo, StoreError> {
        let mut conn = self.pool.acquire().await?;
        model_in(&mut conn, id).await
    }

    /// A model's JSON.
    pub async fn model_bytes(&self, id: i64) -> Result<Vec<u8>, StoreError> {
        let row = sqlx::query("SELECT model FROM models WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("model {id}")))?;
        Ok(row.try_get("model")?)
    }

    /// The active model's id and content hash (the cheap query replicas poll).
    pub async fn active_model(&self) -> Result<Option<(i64, u64)>, StoreError> {
        let row: Option<(i64, i64)> =
            sqlx::query_as("SELECT id, content_hash FROM models WHERE active = 1")
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|(id, h)| (id, hash_from_sql(h))))
    }

    /// The newest model with this content hash, if any.
    pub async fn model_by_hash(&self, content_hash: u64) -> Result<Option<i64>, StoreError> {
        let row: Option<(i64,)> = sqlx::query_as(
            "SELECT id FROM models WHERE content_hash = $1 ORDER BY id DESC LIMIT 1",
        )
        .bind(hash_to_sql(content_hash))
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(id,)| id))
    }

    /// Makes model `id` the one pushed to agents (rollback is activating an older one), with
    /// its audit row in the same transaction. `NotFound` if there is no such model.
    pub async fn activate_model(
        &self,
        id: i64,
        audit: AuditEntry,
        now_ms: i64,
    ) -> Result<ModelInfo, StoreError> {
        let mut tx = self.pool.begin_with(self.dialect.begin_write()).await?;
        let target = model_in(&mut tx, id).await?;
        let before: Option<(i64,)> = sqlx::query_as("SELECT id FROM models WHERE active = 1")
            .fetch_optional(&mut *tx)
            .await?;
        // Two statements: the unique index on active rows holds after each.
        sqlx::query("UPDATE models SET active = 0 WHERE active = 1 AND id <> $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE models SET active = 1, activated_ms = $2 WHERE id = $1")
            .bind(id)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
        let after = model_in(&mut tx, id).await?;
        let entry = audit
            .before(serde_json::json!({ "active_model": before.map(|(b,)| b) }))
            .after(after.audit_summary());
        write_audit(&mut tx, &entry, now_ms).await?;
        tx.commit().await?;
        drop(target);
        Ok(after)
    }

    /// How many agents run each model version (content hash), by the `model_version` of
    /// their latest heartbeat received since `since_ms`.
    pub async fn agents_per_model(&self, since_ms: i64) -> Result<HashMap<u64, u64>, StoreError> {
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT status_json FROM agent_status WHERE received_ms >= $1")
                .bind(since_ms)
                .fetch_all(&self.pool)
                .await?;
        let mut counts = HashMap::new();
        for (json,) in rows {
            let version = serde_json::from_str::<serde_json::Value>(&json)
                .ok()
                .and_then(|v| v.get("model_version").and_then(serde_json::Value::as_u64));
            if let Some(v) = version {
                *counts.entry(v).or_insert(0) += 1;
            }
        }
        Ok(counts)
    }
}

async fn model_in(conn: &mut sqlx::AnyConnection, id: i64) -> Result<ModelInfo, StoreError> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM models WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("model {id}")))?;
    info_of(&row)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_survive_the_signed_column() {
        for h in [0, 1, u64::MAX, 0x8000_0000_0000_0000, 0x0123_4567_89ab_cdef] {
            assert_eq!(hash_from_sql(hash_to_sql(h)), h);
        }
    }
}
