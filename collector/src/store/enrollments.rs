//! Agent enrollments and the credential key (`ingest::credentials`). Every operator change
//! takes an [`AuditEntry`] and writes it in the same transaction.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::audit::{AuditEntry, write as write_audit};
use super::{Store, StoreError, clean};
use crate::ingest::credentials::AgentAuth;

/// One agent id's enrollment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrollmentRecord {
    pub agent_id: String,
    pub host: String,
    /// The agent has presented its own credential: the fleet token no longer admits it.
    pub credential_used: bool,
    pub enrolled_ms: i64,
    pub revoked_ms: Option<i64>,
    pub revoked_by: Option<String>,
    pub revoked_reason: Option<String>,
}

impl EnrollmentRecord {
    /// What admission needs to know of it.
    pub fn auth(&self) -> AgentAuth {
        AgentAuth {
            credential_used: self.credential_used,
            revoked: self
                .revoked_ms
                .map(|_| self.revoked_reason.clone().unwrap_or_default()),
        }
    }

    fn summary(&self) -> serde_json::Value {
        serde_json::json!({
            "host": self.host,
            "credential_used": self.credential_used,
            "revoked": self.revoked_ms.is_some(),
            "reason": self.revoked_reason,
        })
    }
}

const COLUMNS: &str =
    "agent_id, host, credential_used, enrolled_ms, revoked_ms, revoked_by, revoked_reason";

fn record_from(row: &AnyRow) -> Result<EnrollmentRecord, StoreError> {
    Ok(EnrollmentRecord {
        agent_id: row.try_get(0)?,
        host: row.try_get(1)?,
        credential_used: row.try_get::<i64, _>(2)? != 0,
        enrolled_ms: row.try_get(3)?,
        revoked_ms: row.try_get(4)?,
        revoked_by: row.try_get(5)?,
        revoked_reason: row.try_get(6)?,
    })
}

/// The enrollment of `agent_id` as `conn` (a transaction) sees it.
async fn enrollment_in(
    conn: &mut sqlx::AnyConnection,
    agent_id: &str,
) -> Result<Option<EnrollmentRecord>, StoreError> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM agent_enrollments WHERE agent_id = $1"
    ))
    .bind(agent_id)
    .fetch_optional(conn)
    .await?
    .as_ref()
    .map(record_from)
    .transpose()
}

impl Store {
    /// The secret named `name`, created (32 random bytes) by the first replica that asks;
    /// every replica gets the same one.
    pub async fn shared_secret(&self, name: &str, now_ms: i64) -> Result<Vec<u8>, StoreError> {
        sqlx::query(
            "INSERT INTO collector_secrets (name, secret_hex, created_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(crate::auth::secret::random_hex(32))
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        let stored: String =
            sqlx::query_scalar("SELECT secret_hex FROM collector_secrets WHERE name = $1")
                .bind(name)
                .fetch_one(&self.pool)
                .await?;
        hex::decode(stored.trim()).map_err(|_| StoreError::BadSecret(name.to_owned()))
    }

    /// Every enrollment, by agent id.
    pub async fn agent_enrollments(&self) -> Result<Vec<EnrollmentRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM agent_enrollments ORDER BY agent_id"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(record_from).collect()
    }

    /// The enrollment of `agent_id`, if any.
    pub async fn agent_enrollment(
        &self,
        agent_id: &str,
    ) -> Result<Option<EnrollmentRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM agent_enrollments WHERE agent_id = $1"
        ))
        .bind(agent_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(record_from).transpose()
    }

    /// Records that `agent_id` was admitted (`credential_used`: with its own credential).
    /// `credential_used` never goes back to false, and a revocation is left as it is.
    pub async fn record_enrollment(
        &self,
        agent_id: &str,
        host: &str,
        credential_used: bool,
        now_ms: i64,
    ) -> Result<EnrollmentRecord, StoreError> {
        let row = sqlx::query(&format!(
            "INSERT INTO agent_enrollments (agent_id, host, credential_used, enrolled_ms) \
             VALUES ($1, $2, $3, $4) \
             ON CONFLICT (agent_id) DO UPDATE SET host = excluded.host, \
             credential_used = CASE WHEN excluded.credential_used = 1 THEN 1 \
             ELSE agent_enrollments.credential_used END \
             RETURNING {COLUMNS}"
        ))
        .bind(clean(agent_id).as_ref())
        .bind(clean(host).as_ref())
        .bind(i64::from(credential_used))
        .bind(now_ms)
        .fetch_one(&self.pool)
        .await?;
        record_from(&row)
    }

    /// Revokes `agent_id` with `reason`. An agent that connected before enrollments were
    /// recorded (known only from `agents`) gets a row now. Revoking again keeps the first
    /// revocation. `NotFound` if the collector never saw the agent.
    pub async fn revoke_agent(
        &self,
        agent_id: &str,
        reason: &str,
        audit: AuditEntry,
        now_ms: i64,
    ) -> Result<EnrollmentRecord, StoreError> {
        let mut tx = self.pool.begin_with(self.dialect.begin_write()).await?;
        let before = enrollment_in(&mut tx, agent_id).await?;
        if let Some(before) = &before
            && before.revoked_ms.is_some()
        {
            return Ok(before.clone());
        }
        if before.is_none() {
            let host: Option<String> =
                sqlx::query_scalar("SELECT host FROM agents WHERE agent_id = $1")
                    .bind(agent_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            let host = host.ok_or_else(|| StoreError::NotFound(format!("agent {agent_id}")))?;
            sqlx::query(
                "INSERT INTO agent_enrollments (agent_id, host, credential_used, enrolled_ms) \
                 VALUES ($1, $2, 0, $3)",
            )
            .bind(agent_id)
            .bind(host)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
        }
        let row = sqlx::query(&format!(
            "UPDATE agent_enrollments SET revoked_ms = $2, revoked_by = $3, revoked_reason = $4 \
             WHERE agent_id = $1 RETURNING {COLUMNS}"
        ))
        .bind(agent_id)
        .bind(now_ms)
        .bind(&audit.actor)
        .bind(reason)
        .fetch_one(&mut *tx)
        .await?;
        let after = record_from(&row)?;
        let entry = match &before {
            Some(b) => audit.before(b.summary()),
            None => audit,
        };
        write_audit(&mut tx, &entry.after(after.summary()), now_ms).await?;
        tx.commit().await?;
        Ok(after)
    }

    /// Lifts the revocation of `agent_id`: its credential (or, for an agent older than
    /// protocol v5, the fleet token) admits it again. `NotFound` without an enrollment.
    pub async fn reinstate_agent(
        &self,
        agent_id: &str,
        audit: AuditEntry,
        now_ms: i64,
    ) -> Result<EnrollmentRecord, StoreError> {
        let mut tx = self.pool.begin_with(self.dialect.begin_write()).await?;
        let before = enrollment_in(&mut tx, agent_id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("enrollment of agent {agent_id}")))?;
        if before.revoked_ms.is_none() {
            return Ok(before);
        }
        let row = sqlx::query(&format!(
            "UPDATE agent_enrollments SET revoked_ms = NULL, revoked_by = NULL, \
             revoked_reason = NULL WHERE agent_id = $1 RETURNING {COLUMNS}"
        ))
        .bind(agent_id)
        .fetch_one(&mut *tx)
        .await?;
        let after = record_from(&row)?;
        write_audit(
            &mut tx,
            &audit.before(before.summary()).after(after.summary()),
            now_ms,
        )
        .await?;
        tx.commit().await?;
        Ok(after)
    }

    /// Deletes the enrollment of `agent_id`, so that the fleet token admits it again (an
    /// agent that lost its credential). A revoked agent must be reinstated first
    /// (`Conflict`); `NotFound` without an enrollment.
    pub async fn forget_enrollment(
        &self,
        agent_id: &str,
        audit: AuditEntry,
        now_ms: i64,
    ) -> Result<EnrollmentRecord, StoreError> {
        let mut tx = self.pool.begin_with(self.dialect.begin_write()).await?;
        let before = enrollment_in(&mut tx, agent_id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("enrollment of agent {agent_id}")))?;
        if before.revoked_ms.is_some() {
            return Err(StoreError::Conflict(format!(
                "agent {agent_id} is revoked; reinstate it before forgetting its enrollment"
            )));
        }
        sqlx::query("DELETE FROM agent_enrollments WHERE agent_id = $1")
            .bind(agent_id)
            .execute(&mut *tx)
            .await?;
        write_audit(&mut tx, &audit.before(before.summary()), now_ms).await?;
        tx.commit().await?;
        Ok(before)
    }
}
