//! Jira automation rows besides tickets: the decision audit (`automation_decisions`, read
//! with its outbox message's state), run-time settings (`automation_settings`), the last
//! Jira call's outcome (`jira_status`), and what the decision worker reads: the incidents
//! to decide on and their confidence.

use std::collections::HashMap;

use sqlx::Row;

use super::audit::{AuditEntry, write as write_audit};
use super::incidents::IncidentRecord;
use super::{Store, StoreError};
use crate::jira::config::Settings;

/// A stored decision, with its Jira job's state.
#[derive(Debug, Clone, PartialEq)]
pub struct DecisionRecord {
    pub id: i64,
    pub incident_id: i64,
    pub fingerprint: String,
    pub decision: String,
    pub reason_code: String,
    pub reason: String,
    pub severity: String,
    pub confidence: f64,
    pub ticket_key: Option<String>,
    /// `skipped`, `queued`, `done`, or `dead` (the outbox gave up).
    pub outcome: String,
    pub job_key: Option<String>,
    pub decided_ms: i64,
    pub done_ms: Option<i64>,
    pub attempts: i64,
    pub error: Option<String>,
}

/// Filters of [`Store::decisions`].
#[derive(Debug, Clone, Default)]
pub struct DecisionFilter {
    pub incident_id: Option<i64>,
    pub decision: Option<String>,
    pub before_id: Option<i64>,
}

/// The last Jira call's outcome.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JiraStatusRecord {
    pub last_ok_ms: Option<i64>,
    pub last_error: Option<String>,
    pub last_error_ms: Option<i64>,
}

impl Store {
    /// Decisions newest first, with the outbox state of their job (`dead` overrides).
    pub async fn decisions(
        &self,
        filter: &DecisionFilter,
        limit: u32,
    ) -> Result<Vec<DecisionRecord>, StoreError> {
        let mut sql = String::from(
            "SELECT d.id, d.incident_id, d.fingerprint, d.decision, d.reason_code, d.reason, \
             d.severity, d.confidence, d.ticket_key, d.outcome, d.job_key, d.decided_ms, \
             d.done_ms, d.attempts, d.error, o.state, o.attempts, o.last_error \
             FROM automation_decisions d LEFT JOIN outbox o ON o.idempotency_key = d.job_key \
             WHERE 1 = 1",
        );
        let mut n = 0;
        if filter.incident_id.is_some() {
            n += 1;
            sql.push_str(&format!(" AND d.incident_id = ${n}"));
        }
        if filter.decision.is_some() {
            n += 1;
            sql.push_str(&format!(" AND d.decision = ${n}"));
        }
        if filter.before_id.is_some() {
            n += 1;
            sql.push_str(&format!(" AND d.id < ${n}"));
        }
        sql.push_str(&format!(" ORDER BY d.id DESC LIMIT {}", limit.max(1)));
        let mut q = sqlx::query(&sql);
        if let Some(i) = filter.incident_id {
            q = q.bind(i);
        }
        if let Some(d) = &filter.decision {
            q = q.bind(d.clone());
        }
        if let Some(b) = filter.before_id {
            q = q.bind(b);
        }
        let rows = q.fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                let mut outcome: String = r.try_get(9)?;
                let mut attempts: i64 = r.try_get(13)?;
                let mut error: Option<String> = r.try_get(14)?;
                let job_state: Option<String> = r.try_get(15)?;
                if let Some(a) = r.try_get::<Option<i64>, _>(16)? {
                    attempts = attempts.max(a);
                }
                if job_state.as_deref() == Some("dead") {
                    outcome = "dead".into();
                    error = error.or(r.try_get(17)?);
                }
                Ok(DecisionRecord {
                    id: r.try_get(0)?,
                    incident_id: r.try_get(1)?,
                    fingerprint: r.try_get(2)?,
                    decision: r.try_get(3)?,
                    reason_code: r.try_get(4)?,
                    reason: r.try_get(5)?,
                    severity: r.try_get(6)?,
                    confidence: r.try_get(7)?,
                    ticket_key: r.try_get(8)?,
                    outcome,
                    job_key: r.try_get(10)?,
                    decided_ms: r.try_get(11)?,
                    done_ms: r.try_get(12)?,
                    attempts,
                    error,
                })
            })
            .collect()
    }

    /// The reason code of each incident's latest recorded decision.
    pub async fn last_decision_codes(
        &self,
        incident_ids: &[i64],
    ) -> Result<HashMap<i64, String>, StoreError> {
        let mut out = HashMap::new();
        for chunk in incident_ids.chunks(100) {
            let ph: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT incident_id, reason_code FROM automation_decisions WHERE id IN \
                 (SELECT MAX(id) FROM automation_decisions WHERE incident_id IN ({}) \
                 GROUP BY incident_id)",
                ph.join(", ")
            );
            let mut q = sqlx::query(&sql);
            for id in chunk {
                q = q.bind(*id);
            }
            for r in q.fetch_all(&self.pool).await? {
                out.insert(r.try_get(0)?, r.try_get(1)?);
            }
        }
        Ok(out)
    }

    /// An incident's confidence: the highest stored confidence (`events.score`) of its
    /// events (see `jira::decide` for why the maximum).
    pub async fn incident_confidence(
        &self,
        fingerprints: &[String],
    ) -> Result<HashMap<String, f64>, StoreError> {
        let mut out = HashMap::new();
        for chunk in fingerprints.chunks(100) {
            let ph: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT fingerprint, MAX(score) FROM events WHERE fingerprint IN ({}) \
                 GROUP BY fingerprint",
                ph.join(", ")
            );
            let mut q = sqlx::query(&sql);
            for f in chunk {
                q = q.bind(f);
            }
            for r in q.fetch_all(&self.pool).await? {
                out.insert(
                    r.try_get(0)?,
                    r.try_get::<Option<f64>, _>(1)?.unwrap_or(0.0),
                );
            }
        }
        Ok(out)
    }

    /// Incidents the decision worker looks at: active ones, and those whose ticket has not
    /// been told everything (new events or a regression), oldest first, at most `limit`.
    pub async fn automation_candidates(
        &self,
        limit: u32,
    ) -> Result<Vec<IncidentRecord>, StoreError> {
        let fps: Vec<String> = sqlx::query_scalar(&format!(
            "SELECT i.fingerprint FROM incidents i LEFT JOIN tickets t \
             ON t.fingerprint = i.fingerprint \
             WHERE (t.id IS NULL AND i.status IN ('open', 'regressed')) \
             OR (t.id IS NOT NULL AND (i.event_count > t.told_events \
             OR i.regressions > t.regressions_seen)) \
             ORDER BY i.id LIMIT {}",
            limit.max(1)
        ))
        .fetch_all(&self.pool)
        .await?;
        let mut by_fp = self.incidents_by_fingerprint(&fps).await?;
        Ok(fps.iter().filter_map(|f| by_fp.remove(f)).collect())
    }

    /// Incidents that opened or regressed after `incident_changes` id `after`, with the
    /// last change id read (at most `limit` changes).
    pub async fn incidents_changed_after(
        &self,
        after: i64,
        limit: u32,
    ) -> Result<(Vec<IncidentRecord>, i64), StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT id, incident_id FROM incident_changes WHERE id > $1 \
             AND change IN ('opened', 'regressed') ORDER BY id LIMIT {}",
            limit.max(1)
        ))
        .bind(after)
        .fetch_all(&self.pool)
        .await?;
        let mut last = after;
        let mut ids = Vec::new();
        for r in &rows {
            last = r.try_get(0)?;
            let id: i64 = r.try_get(1)?;
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        let mut out = Vec::new();
        for id in ids {
            if let Some(rec) = self.incident(id).await? {
                out.push(rec);
            }
        }
        Ok((out, last))
    }

    /// The newest `incident_changes` id (0 when there is none).
    pub async fn last_incident_change(&self) -> Result<i64, StoreError> {
        let id: Option<i64> = sqlx::query_scalar("SELECT MAX(id) FROM incident_changes")
            .fetch_one(&self.pool)
            .await?;
        Ok(id.unwrap_or(0))
    }

    /// The stored settings override, if any.
    pub async fn automation_settings(&self) -> Result<Option<Settings>, StoreError> {
        let text: Option<String> =
            sqlx::query_scalar("SELECT settings_json FROM automation_settings WHERE id = 1")
                .fetch_optional(&self.pool)
                .await?;
        Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
    }

    /// Stores the settings, with the audit row, in one transaction.
    pub async fn put_automation_settings(
        &self,
        before: &Settings,
        settings: &Settings,
        audit: AuditEntry,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let text = serde_json::to_string(settings).map_err(|source| StoreError::Json {
            what: "automation settings",
            source,
        })?;
        let mut tx = self.pool.begin_with(self.dialect.begin_write()).await?;
        sqlx::query(
            "INSERT INTO automation_settings (id, settings_json, updated_ms) VALUES (1, $1, $2) \
             ON CONFLICT (id) DO UPDATE SET settings_json = excluded.settings_json, \
             updated_ms = excluded.updated_ms",
        )
        .bind(&text)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        let summary = |s: &Settings| serde_json::to_value(s).unwrap_or_default();
        write_audit(
            &mut tx,
            &audit.before(summary(before)).after(summary(settings)),
            now_ms,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Notes the outcome of a Jira call (`error` holds no secret).
    pub async fn note_jira_call(&self, error: Option<&str>, now_ms: i64) -> Result<(), StoreError> {
        let sql = if error.is_some() {
            "INSERT INTO jira_status (id, last_error, last_error_ms) VALUES (1, $1, $2) \
             ON CONFLICT (id) DO UPDATE SET last_error = excluded.last_error, \
             last_error_ms = excluded.last_error_ms"
        } else {
            "INSERT INTO jira_status (id, last_ok_ms) VALUES (1, $2) \
             ON CONFLICT (id) DO UPDATE SET last_ok_ms = excluded.last_ok_ms"
        };
        sqlx::query(sql)
            .bind(error.map(|e| e.chars().take(500).collect::<String>()))
            .bind(now_ms)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn jira_status(&self) -> Result<JiraStatusRecord, StoreError> {
        let row = sqlx::query(
            "SELECT last_ok_ms, last_error, last_error_ms FROM jira_status WHERE id = 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        match row {
            None => Ok(JiraStatusRecord::default()),
            Some(r) => Ok(JiraStatusRecord {
                last_ok_ms: r.try_get(0)?,
                last_error: r.try_get(1)?,
                last_error_ms: r.try_get(2)?,
            }),
        }
    }
}
