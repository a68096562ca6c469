//! Alert rules, alert states and their change feed (`alert_changes`), silences and
//! notification groups; the evaluator's snapshot and its one-transaction write (alert
//! rows, change rows, group states, outbox messages, lease check).

use std::collections::{BTreeMap, HashMap};

use sqlx::Row;

use super::audit::{AuditEntry, write as write_audit};
use super::outbox::{NewMessage, enqueue};
use super::{Store, StoreError};
use crate::alerts::decide::{Ack, AlertState, GroupState, State, acknowledge};
use crate::alerts::evaluate::{IncidentRow, MinuteRow, Snapshot};
use crate::alerts::rules::{RuleSpec, builtins};

/// A stored rule.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleRecord {
    pub id: i64,
    pub name: String,
    pub builtin: bool,
    pub enabled: bool,
    pub spec: RuleSpec,
    pub created_ms: i64,
    pub updated_ms: i64,
}

/// A stored alert: one (rule, scope labels).
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRecord {
    pub id: i64,
    pub rule_id: i64,
    pub fingerprint: String,
    pub labels: BTreeMap<String, String>,
    pub severity: String,
    pub value: f64,
    pub threshold: f64,
    pub summary: String,
    pub decider: AlertState,
    /// When the current or last firing episode started.
    pub started_ms: Option<i64>,
    /// When it resolved.
    pub ended_ms: Option<i64>,
    pub updated_ms: i64,
}

/// One row of the alert history (`alert_changes`).
#[derive(Debug, Clone, PartialEq)]
pub struct AlertChange {
    pub id: i64,
    pub alert_id: i64,
    pub rule_id: i64,
    /// A state, or "acknowledged".
    pub state: String,
    pub severity: String,
    pub value: f64,
    pub labels: BTreeMap<String, String>,
    pub actor: Option<String>,
    pub ts_ms: i64,
}

/// A silence.
#[derive(Debug, Clone, PartialEq)]
pub struct SilenceRecord {
    pub id: i64,
    pub matchers: BTreeMap<String, String>,
    pub starts_ms: i64,
    pub ends_ms: i64,
    pub comment: String,
    pub created_by: String,
    pub created_ms: i64,
}

/// An alert row to write in a round, and the state change it records (if any).
#[derive(Debug, Clone, PartialEq)]
pub struct AlertWrite {
    pub alert: AlertRecord,
    pub change: Option<State>,
}

/// Everything one evaluation writes, in one transaction.
#[derive(Debug, Clone, Default)]
pub struct AlertRound {
    pub alerts: Vec<AlertWrite>,
    pub groups: Vec<(String, GroupState)>,
    pub messages: Vec<NewMessage>,
}

/// Filters of [`Store::alerts`].
#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    /// Only these states; empty: pending and firing (the current alerts).
    pub states: Vec<State>,
    pub rule_id: Option<i64>,
    /// Label matchers (exact or `*` glob).
    pub matchers: BTreeMap<String, String>,
}

fn json<T: serde::Serialize>(what: &'static str, v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|source| StoreError::Json { what, source })
}

fn parse<T: serde::de::DeserializeOwned>(what: &'static str, s: &str) -> Result<T, StoreError> {
    serde_json::from_str(s).map_err(|source| StoreError::Json { what, source })
}

const RULE_COLUMNS: &str = "id, name, builtin, enabled, spec_json, created_ms, updated_ms";

fn rule_from(r: &sqlx::any::AnyRow) -> Result<RuleRecord, StoreError> {
    Ok(RuleRecord {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        builtin: r.try_get::<i64, _>(2)? != 0,
        enabled: r.try_get::<i64, _>(3)? != 0,
        spec: parse("rule spec", &r.try_get::<String, _>(4)?)?,
        created_ms: r.try_get(5)?,
        updated_ms: r.try_get(6)?,
    })
}

const ALERT_COLUMNS: &str = "id, rule_id, fingerprint, labels_json, severity, value, threshold, \
    summary, state_json, started_ms, ended_ms, updated_ms";

fn alert_from(r: &sqlx::any::AnyRow) -> Result<AlertRecord, StoreError> {
    Ok(AlertRecord {
        id: r.try_get(0)?,
        rule_id: r.try_get(1)?,
        fingerprint: r.try_get(2)?,
        labels: parse("alert labels", &r.try_get::<String, _>(3)?)?,
        severity: r.try_get(4)?,
        value: r.try_get(5)?,
        threshold: r.try_get(6)?,
        summary: r.try_get(7)?,
        decider: parse("alert state", &r.try_get::<String, _>(8)?)?,
        started_ms: r.try_get(9)?,
        ended_ms: r.try_get(10)?,
        updated_ms: r.try_get(11)?,
    })
}

async fn insert_change(
    conn: &mut sqlx::AnyConnection,
    a: &AlertRecord,
    state: &str,
    actor: Option<&str>,
    now_ms: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO alert_changes (alert_id, rule_id, state, severity, value, labels_json, \
         actor, ts_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(a.id)
    .bind(a.rule_id)
    .bind(state)
    .bind(&a.severity)
    .bind(a.value)
    .bind(json("alert labels", &a.labels)?)
    .bind(actor)
    .bind(now_ms)
    .execute(conn)
    .await?;
    Ok(())
}

impl Store {
    /// Inserts the built-in rules that are missing (an edited one keeps its edits).
    pub async fn seed_builtin_rules(&self, now_ms: i64) -> Result<(), StoreError> {
        for (name, spec) in builtins() {
            sqlx::query(
                "INSERT INTO alert_rules (name, builtin, enabled, spec_json, created_ms, \
                 updated_ms) VALUES ($1, 1, 1, $2, $3, $3) ON CONFLICT (name) DO NOTHING",
            )
            .bind(name)
            .bind(json("rule spec", &spec)?)
            .bind(now_ms)
            .execute(&self.pool)
            .await?;
        }
        Ok(())
    }

    /// Every rule, by id.
    pub async fn alert_rules(&self) -> Result<Vec<RuleRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {RULE_COLUMNS} FROM alert_rules ORDER BY id"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(rule_from).collect()
    }

    pub async fn alert_rule(&self, id: i64) -> Result<Option<RuleRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {RULE_COLUMNS} FROM alert_rules WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(rule_from).transpose()
    }

    /// Creates a custom rule; `Conflict` if the name is taken.
    pub async fn create_rule(
        &self,
        name: &str,
        spec: &RuleSpec,
        enabled: bool,
        audit: AuditEntry,
        now_ms: i64,
    ) -> Result<RuleRecord, StoreError> {
        let mut tx = self.pool.begin_with(self.dialect.begin_write()).await?;
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO alert_rules (name, builtin, enabled, spec_json, created_ms, updated_ms) \
             VALUES ($1, 0, $2, $3, $4, $4) ON CONFLICT (name) DO NOTHING RETURNING id",
        )
        .bind(name)
        .bind(i64::from(enabled))
        .bind(json("rule spec", spec)?)
        .bind(now_ms)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(id) = id else {
            return Err(StoreError::Conflict(format!(
                "a rule named `{name}` exists"
            )));
        };
        let audit =
            audit.after(serde_json::json!({"name": name, "enabled": enabled, "spec": spec}));
        write_audit(
            &mut tx,
            &AuditEntry {
                target: format!("rule:{id}"),
                ..audit
            },
            now_ms,
        )
        .await?;
        tx.commit().await?;
        self.alert_rule(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("rule {id}")))
    }

    /// Replaces a rule's spec and/or enabled flag (built-in rules too: thresholds are
    /// editable).
    pub async fn update_rule(
        &self,
        id: i64,
        spec: Option<&RuleSpec>,
        enabled: Option<bool>,
        audit: AuditEntry,
        now_ms: i64,
    ) -> Result<RuleRecord, StoreError> {
        let before = self
            .alert_rule(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("rule {id}")))?;
        let spec = spec.unwrap_or(&before.spec);
        let enabled = enabled.unwrap_or(before.enabled);
        let mut tx = self.pool.begin_with(self.dialect.begin_write()).await?;
        sqlx::query(
            "UPDATE alert_rules SET spec_json = $2, enabled = $3, updated_ms = $4 WHERE id = $1",
        )
        .bind(id)
        .bind(json("rule spec", spec)?)
        .bind(i64::from(enabled))
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        let audit = audit
            .before(serde_json::json!({"enabled": before.enabled, "spec": before.spec}))
            .after(serde_json::json!({"enabled": enabled, "spec": spec}));
        write_audit(&mut tx, &audit, now_ms).await?;
        tx.commit().await?;
        self.alert_rule(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("rule {id}")))
    }

    /// Deletes a custom rule and its alerts; built-in rules can only be disabled.
    pub async fn delete_rule(
        &self,
        id: i64,
        audit: AuditEntry,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let before = self
            .alert_rule(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("rule {id}")))?;
        if before.builtin {
            return Err(StoreError::Conflict(
                "a built-in rule cannot be deleted; disable it instead".into(),
            ));
        }
        let mut tx = self.pool.begin_with(self.dialect.begin_write()).await?;
        sqlx::query("DELETE FROM alerts WHERE rule_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM alert_rules WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let audit = audit.before(serde_json::json!({"name": before.name, "spec": before.spec}));
        write_audit(&mut tx, &audit, now_ms).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every alert row (the evaluator's previous states).
    pub async fn all_alerts(&self) -> Result<Vec<AlertRecord>, StoreError> {
        let rows = sqlx::query(&format!("SELECT {ALERT_COLUMNS} FROM alerts ORDER BY id"))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(alert_from).collect()
    }

    pub async fn alert(&self, id: i64) -> Result<Option<AlertRecord>, StoreError> {
        let row = sqlx::query(&format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(alert_from).transpose()
    }

    /// Alerts matching `filter`, newest change first, at most `limit`.
    pub async fn alerts(
        &self,
        filter: &AlertFilter,
        limit: usize,
    ) -> Result<Vec<AlertRecord>, StoreError> {
        let states: Vec<State> = if filter.states.is_empty() {
            vec![State::Pending, State::Firing]
        } else {
            filter.states.clone()
        };
        let all = self.all_alerts().await?;
        let mut out: Vec<AlertRecord> = all
            .into_iter()
            .filter(|a| states.contains(&a.decider.state))
            .filter(|a| filter.rule_id.is_none_or(|r| r == a.rule_id))
            .filter(|a| crate::alerts::rules::matches(&filter.matchers, &a.labels))
            .collect();
        out.sort_by_key(|a| std::cmp::Reverse((a.updated_ms, a.id)));
        out.truncate(limit);
        Ok(out)
    }

    /// The alert history (state changes and acknowledgements), newest first, ids below
    /// `before_id`, optionally of one alert.
    pub async fn alert_history(
        &self,
        alert_id: Option<i64>,
        before_id: Option<i64>,
        limit: u32,
    ) -> Result<Vec<AlertChange>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, alert_id, rule_id, state, severity, value, labels_json, actor, ts_ms \
             FROM alert_changes WHERE id < $1 AND ($2 = 0 OR alert_id = $2) \
             ORDER BY id DESC LIMIT $3",
        )
        .bind(before_id.unwrap_or(i64::MAX))
        .bind(alert_id.unwrap_or(0))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AlertChange {
                    id: r.try_get(0)?,
                    alert_id: r.try_get(1)?,
                    rule_id: r.try_get(2)?,
                    state: r.try_get(3)?,
                    severity: r.try_get(4)?,
                    value: r.try_get(5)?,
                    labels: parse("alert labels", &r.try_get::<String, _>(6)?)?,
                    actor: r.try_get(7)?,
                    ts_ms: r.try_get(8)?,
                })
            })
            .collect()
    }

    /// Acknowledges a firing alert; `Conflict` if it is not firing.
    pub async fn ack_alert(
        &self,
        id: i64,
        ack: Ack,
        audit: AuditEntry,
        now_ms: i64,
    ) -> Result<AlertRecord, StoreError> {
        let mut tx = self.pool.begin_with(self.dialect.begin_write()).await?;
        let row = sqlx::query(&format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE id = $1"))
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        let mut alert = row
            .as_ref()
            .map(alert_from)
            .transpose()?
            .ok_or_else(|| StoreError::NotFound(format!("alert {id}")))?;
        let by = ack.by.clone();
        let until = ack.until_ms;
        let Some(next) = acknowledge(&alert.decider, ack) else {
            return Err(StoreError::Conflict(format!(
                "alert {id} is {}, not firing",
                alert.decider.state.as_str()
            )));
        };
        alert.decider = next;
        alert.updated_ms = now_ms;
        sqlx::query("UPDATE alerts SET state_json = $2, updated_ms = $3 WHERE id = $1")
            .bind(id)
            .bind(json("alert state", &alert.decider)?)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
        insert_change(&mut tx, &alert, "acknowledged", Some(&by), now_ms).await?;
        write_audit(
            &mut tx,
            &audit.after(serde_json::json!({"until_ms": until})),
            now_ms,
        )
        .await?;
        tx.commit().await?;
        Ok(alert)
    }

    /// Creates a silence.
    pub async fn create_silence(
        &self,
        matchers: &BTreeMap<String, String>,
        starts_ms: i64,
        ends_ms: i64,
        comment: &str,
        audit: AuditEntry,
        now_ms: i64,
    ) -> Result<SilenceRecord, StoreError> {
        let mut tx = self.pool.begin_with(self.dialect.begin_write()).await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO silences (matchers_json, starts_ms, ends_ms, comment, created_by, \
             created_ms) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(json("silence matchers", matchers)?)
        .bind(starts_ms)
        .bind(ends_ms)
        .bind(comment)
        .bind(&audit.actor)
        .bind(now_ms)
        .fetch_one(&mut *tx)
        .await?;
        let created_by = audit.actor.clone();
        let audit = AuditEntry {
            target: format!("silence:{id}"),
            ..audit
        }
        .after(serde_json::json!({"matchers": matchers, "starts_ms": starts_ms, "ends_ms": ends_ms, "comment": comment}));
        write_audit(&mut tx, &audit, now_ms).await?;
        tx.commit().await?;
        Ok(SilenceRecord {
            id,
            matchers: matchers.clone(),
            starts_ms,
            ends_ms,
            comment: comment.to_owned(),
            created_by,
            created_ms: now_ms,
        })
    }

    /// Silences that have not ended by `now_ms` (active or future), or all with `all`.
    pub async fn silences(&self, now_ms: i64, all: bool) -> Result<Vec<SilenceRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, matchers_json, starts_ms, ends_ms, comment, created_by, created_ms \
             FROM silences WHERE ends_ms > $1 ORDER BY id",
        )
        .bind(if all { i64::MIN } else { now_ms })
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(SilenceRecord {
                    id: r.try_get(0)?,
                    matchers: parse("silence matchers", &r.try_get::<String, _>(1)?)?,
                    starts_ms: r.try_get(2)?,
                    ends_ms: r.try_get(3)?,
                    comment: r.try_get(4)?,
                    created_by: r.try_get(5)?,
                    created_ms: r.try_get(6)?,
                })
            })
            .collect()
    }

    /// Ends a silence now (kept for the record).
    pub async fn expire_silence(
        &self,
        id: i64,
        audit: AuditEntry,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin_with(self.dialect.begin_write()).await?;
        let done = sqlx::query("UPDATE silences SET ends_ms = $2 WHERE id = $1 AND ends_ms > $2")
            .bind(id)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() != 1 {
            return Err(StoreError::NotFound(format!("active silence {id}")));
        }
        write_audit(&mut tx, &audit, now_ms).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every notification group's state.
    pub async fn alert_groups(&self) -> Result<HashMap<String, GroupState>, StoreError> {
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT group_key, state_json FROM alert_groups")
                .fetch_all(&self.pool)
                .await?;
        rows.into_iter()
            .map(|(k, s)| Ok((k, parse("group state", &s)?)))
            .collect()
    }

    /// What the alert rules read: counts over `[watermark − window, ∞)` by line time,
    /// last arrivals, buffers, active incidents, host labels.
    pub async fn alert_snapshot(
        &self,
        window_ms: i64,
        now_ms: i64,
    ) -> Result<Snapshot, StoreError> {
        let watermark = self.line_watermark().await?.unwrap_or(now_ms).min(now_ms);
        let from = watermark.saturating_sub(window_ms);
        let rows: Vec<(String, String, i64, i64, i64, i64, i64)> = sqlx::query_as(
            "SELECT host, service, minute_ms, lines, error + critical, critical, lag_ms_sum \
             FROM minute_stats WHERE minute_ms >= $1",
        )
        .bind(from)
        .fetch_all(&self.pool)
        .await?;
        let minutes = rows
            .into_iter()
            .map(
                |(host, service, minute_ms, lines, errors, critical, lag_ms_sum)| MinuteRow {
                    host,
                    service,
                    minute_ms,
                    lines,
                    errors,
                    critical,
                    lag_ms_sum,
                },
            )
            .collect();
        let mut last_arrival = BTreeMap::new();
        let hosts: Vec<(String, i64)> = sqlx::query_as("SELECT host, last_seen_ms FROM hosts")
            .fetch_all(&self.pool)
            .await?;
        for (host, last) in hosts {
            last_arrival.insert((host, String::new()), last);
        }
        let services: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT host, service, CAST(MAX(last_arrival_ms) AS BIGINT) FROM minute_stats \
             WHERE last_arrival_ms >= $1 AND service <> '' GROUP BY host, service",
        )
        .bind(now_ms - 24 * 3_600_000)
        .fetch_all(&self.pool)
        .await?;
        for (host, service, last) in services {
            last_arrival.insert((host, service), last);
        }
        let mut buffers: BTreeMap<String, Vec<(u64, u64)>> = BTreeMap::new();
        let beats: Vec<(String, String)> =
            sqlx::query_as("SELECT host, status_json FROM agent_status")
                .fetch_all(&self.pool)
                .await?;
        for (host, status) in beats {
            let v: serde_json::Value = serde_json::from_str(&status).unwrap_or_default();
            let n = |k: &str| v.get(k).and_then(serde_json::Value::as_u64);
            if let (Some(b), Some(c)) = (n("buffer_bytes"), n("buffer_capacity")) {
                buffers.entry(host).or_default().push((b, c));
            }
        }
        let incidents = self
            .active_incidents()
            .await?
            .into_iter()
            .map(|r| {
                use fleetlog_protocol::Level;
                let severity = match r.incident.severity {
                    Level::Critical => 4.0,
                    Level::Error => 3.0,
                    Level::Warn => 2.0,
                    _ => 1.0,
                };
                IncidentRow {
                    id: r.id,
                    service: r.incident.service,
                    class: r.incident.class,
                    severity,
                    title: r.incident.title,
                    hosts: r.incident.hosts.into_iter().collect(),
                }
            })
            .collect();
        Ok(Snapshot {
            now_ms,
            watermark_ms: watermark,
            minutes,
            last_arrival,
            buffers,
            incidents,
            host_labels: self.host_labels().await?,
        })
    }

    /// Writes an evaluation in one transaction if `lease` (name, owner) is still held:
    /// alert rows, a change row per state change, group states, outbox messages.
    /// `false` (nothing written) if the lease was lost.
    pub async fn write_alert_round(
        &self,
        round: &AlertRound,
        lease: (&str, &str),
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin_with(self.dialect.begin_write()).await?;
        if !super::lease::advance(&mut tx, lease.0, lease.1, now_ms).await? {
            tx.rollback().await?;
            return Ok(false);
        }
        for w in &round.alerts {
            let a = &w.alert;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO alerts (rule_id, fingerprint, labels_json, state, severity, value, \
                 threshold, summary, state_json, started_ms, ended_ms, updated_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
                 ON CONFLICT (fingerprint) DO UPDATE SET labels_json = excluded.labels_json, \
                 state = excluded.state, severity = excluded.severity, value = excluded.value, \
                 threshold = excluded.threshold, summary = excluded.summary, \
                 state_json = excluded.state_json, started_ms = excluded.started_ms, \
                 ended_ms = excluded.ended_ms, updated_ms = excluded.updated_ms RETURNING id",
            )
            .bind(a.rule_id)
            .bind(&a.fingerprint)
            .bind(json("alert labels", &a.labels)?)
            .bind(a.decider.state.as_str())
            .bind(&a.severity)
            .bind(a.value)
            .bind(a.threshold)
            .bind(&a.summary)
            .bind(json("alert state", &a.decider)?)
            .bind(a.started_ms)
            .bind(a.ended_ms)
            .bind(a.updated_ms)
            .fetch_one(&mut *tx)
            .await?;
            if let Some(state) = w.change {
                let a = AlertRecord { id, ..a.clone() };
                insert_change(&mut tx, &a, state.as_str(), None, now_ms).await?;
            }
        }
        for (key, state) in &round.groups {
            sqlx::query(
                "INSERT INTO alert_groups (group_key, state_json, updated_ms) VALUES ($1, $2, $3) \
                 ON CONFLICT (group_key) DO UPDATE SET state_json = excluded.state_json, \
                 updated_ms = excluded.updated_ms",
            )
            .bind(key)
            .bind(json("group state", state)?)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
        }
        for m in &round.messages {
            enqueue(&mut tx, m, now_ms).await?;
        }
        tx.commit().await?;
        Ok(true)
    }
}
