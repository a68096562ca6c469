//! Incident rows and their timeline (`incident_changes`, also the change feed), and the
//! worker's batch: new events in id order, under the `incidents` lease.

use std::collections::{BTreeSet, HashMap};

use fleetlog_protocol::Level;
use sqlx::Row;

use super::audit::{AuditEntry, write as write_audit};
use super::{Store, StoreError};
use crate::incidents::decide::{Change, EventIn, Incident, Sample, Status};

/// A stored incident.
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentRecord {
    pub id: i64,
    pub incident: Incident,
    pub resolved_by: Option<String>,
    pub related: Vec<i64>,
    pub updated_ms: i64,
}

/// One step of an incident's timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct TimelineEntry {
    pub id: i64,
    pub change: String,
    pub status: String,
    pub severity: String,
    pub host_count: i64,
    pub event_count: i64,
    pub actor: Option<String>,
    pub ts_ms: i64,
}

/// Filters of [`Store::incidents`].
#[derive(Debug, Clone, Default)]
pub struct IncidentFilter {
    /// Only these statuses; empty means every status but pending.
    pub statuses: Vec<Status>,
    pub min_severity: Option<Level>,
    pub host: Option<String>,
    pub class: Option<String>,
    pub service: Option<String>,
    pub before_id: Option<i64>,
}

const COLUMNS: &str = "id, fingerprint, status, severity, worst, class, service, title, \
    first_seen_ms, last_seen_ms, event_count, host_count, hosts_json, samples_json, \
    window_start_ms, window_count, opened_ms, resolved_ms, resolved_by, regressions, \
    related_json, updated_ms, window_json";

fn level(s: &str) -> Level {
    Level::parse(s).unwrap_or(Level::Warn)
}

fn incident_from(row: &sqlx::any::AnyRow) -> Result<IncidentRecord, StoreError> {
    let hosts: Vec<String> =
        serde_json::from_str(&row.try_get::<String, _>(12)?).unwrap_or_default();
    let samples: Vec<Sample> =
        serde_json::from_str(&row.try_get::<String, _>(13)?).unwrap_or_default();
    let related: Vec<i64> =
        serde_json::from_str(&row.try_get::<String, _>(20)?).unwrap_or_default();
    let status: String = row.try_get(2)?;
    Ok(IncidentRecord {
        id: row.try_get(0)?,
        incident: Incident {
            fingerprint: row.try_get(1)?,
            status: Status::parse(&status).unwrap_or(Status::Open),
            severity: level(&row.try_get::<String, _>(3)?),
            worst: level(&row.try_get::<String, _>(4)?),
            class: row.try_get(5)?,
            service: row.try_get(6)?,
            title: row.try_get(7)?,
            first_seen_ms: row.try_get(8)?,
            last_seen_ms: row.try_get(9)?,
            count: u64::try_from(row.try_get::<i64, _>(10)?).unwrap_or(0),
            host_count: u64::try_from(row.try_get::<i64, _>(11)?).unwrap_or(0),
            hosts: hosts.into_iter().collect::<BTreeSet<_>>(),
            samples,
            window_start_ms: row.try_get(14)?,
            window_count: u64::try_from(row.try_get::<i64, _>(15)?).unwrap_or(0),
            window: row
                .try_get::<Option<String>, _>(22)?
                .and_then(|j| serde_json::from_str(&j).ok())
                .unwrap_or_default(),
            opened_ms: row.try_get(16)?,
            resolved_ms: row.try_get(17)?,
            regressions: u32::try_from(row.try_get::<i64, _>(19)?).unwrap_or(0),
        },
        resolved_by: row.try_get(18)?,
        related,
        updated_ms: row.try_get(21)?,
    })
}

fn json<T: serde::Serialize>(what: &'static str, v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|source| StoreError::Json { what, source })
}

/// Inserts or updates `inc` on `conn`; returns its id. `related` is written on insert
/// only: links are added by [`Store::link_incidents`] and never dropped by an update.
async fn upsert(
    conn: &mut sqlx::AnyConnection,
    inc: &Incident,
    related: &[i64],
    resolved_by: Option<&str>,
    now_ms: i64,
) -> Result<i64, StoreError> {
    let hosts: Vec<&String> = inc.hosts.iter().collect();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO incidents (fingerprint, status, severity, worst, class, service, title, \
         first_seen_ms, last_seen_ms, event_count, host_count, hosts_json, samples_json, \
         window_start_ms, window_count, opened_ms, resolved_ms, resolved_by, regressions, \
         related_json, updated_ms, window_json) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, \
         $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22) \
         ON CONFLICT (fingerprint) DO UPDATE SET status = excluded.status, \
         severity = excluded.severity, worst = excluded.worst, class = excluded.class, \
         first_seen_ms = excluded.first_seen_ms, last_seen_ms = excluded.last_seen_ms, \
         event_count = excluded.event_count, host_count = excluded.host_count, \
         hosts_json = excluded.hosts_json, samples_json = excluded.samples_json, \
         window_start_ms = excluded.window_start_ms, window_count = excluded.window_count, \
         opened_ms = excluded.opened_ms, resolved_ms = excluded.resolved_ms, \
         resolved_by = excluded.resolved_by, regressions = excluded.regressions, \
         updated_ms = excluded.updated_ms, window_json = excluded.window_json RETURNING id",
    )
    .bind(&inc.fingerprint)
    .bind(inc.status.as_str())
    .bind(inc.severity.as_str())
    .bind(inc.worst.as_str())
    .bind(inc.class.as_deref())
    .bind(inc.service.as_deref())
    .bind(&inc.title)
    .bind(inc.first_seen_ms)
    .bind(inc.last_seen_ms)
    .bind(i64::try_from(inc.count).unwrap_or(i64::MAX))
    .bind(i64::try_from(inc.host_count).unwrap_or(i64::MAX))
    .bind(json("incident hosts", &hosts)?)
    .bind(json("incident samples", &inc.samples)?)
    .bind(inc.window_start_ms)
    .bind(i64::try_from(inc.window_count).unwrap_or(i64::MAX))
    .bind(inc.opened_ms)
    .bind(inc.resolved_ms)
    .bind(resolved_by)
    .bind(i64::from(inc.regressions))
    .bind(json("related incidents", &related)?)
    .bind(now_ms)
    .bind(json("incident window", &inc.window)?)
    .fetch_one(&mut *conn)
    .await?;
    Ok(id)
}

async fn timeline(
    conn: &mut sqlx::AnyConnection,
    id: i64,
    change: Change,
    inc: &Incident,
    actor: Option<&str>,
    ts_ms: i64,
) -> Result<(), StoreError> {
    let name = match change {
        Change::Opened => "opened",
        Change::Regressed => "regressed",
        Change::Escalated => "escalated",
        Change::Resolved => "resolved",
        Change::Updated => "updated",
    };
    sqlx::query(
        "INSERT INTO incident_changes (incident_id, change, status, severity, host_count, \
         event_count, actor, ts_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(id)
    .bind(name)
    .bind(inc.status.as_str())
    .bind(inc.severity.as_str())
    .bind(i64::try_from(inc.host_count).unwrap_or(i64::MAX))
    .bind(i64::try_from(inc.count).unwrap_or(i64::MAX))
    .bind(actor)
    .bind(ts_ms)
    .execute(conn)
    .await?;
    Ok(())
}

/// What one worker step wants written.
#[derive(Debug, Default)]
pub struct IncidentBatch {
    /// Incidents after the step, with the significant changes they went through.
    pub incidents: Vec<(Incident, Vec<Change>)>,
    /// New lease position (the last event id consumed).
    pub position: i64,
}

impl Store {
    /// Events after `after_id` that have a fingerprint, in id order, at most `limit`.
    pub async fn events_for_incidents(
        &self,
        after_id: i64,
        limit: u32,
    ) -> Result<Vec<EventIn>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT id, fingerprint, host, service, ts_ms, score, class, line, occurrences, \
             last_ts_ms FROM events \
             WHERE id > $1 AND fingerprint IS NOT NULL ORDER BY id LIMIT {}",
            limit.max(1)
        ))
        .bind(after_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(EventIn {
                    id: r.try_get(0)?,
                    fingerprint: r.try_get(1)?,
                    host: r.try_get(2)?,
                    service: r.try_get(3)?,
                    ts_ms: r.try_get(4)?,
                    level: crate::incidents::decide::judged_level(r.try_get::<f64, _>(5)?),
                    class: r.try_get(6)?,
                    line: r.try_get(7)?,
                    occurrences: u64::try_from(r.try_get::<i64, _>(8)?).unwrap_or(1).max(1),
                    last_ts_ms: r.try_get::<Option<i64>, _>(9)?,
                })
            })
            .collect()
    }

    /// The incidents of these fingerprints.
    pub async fn incidents_by_fingerprint(
        &self,
        fingerprints: &[String],
    ) -> Result<HashMap<String, IncidentRecord>, StoreError> {
        let mut out = HashMap::new();
        for chunk in fingerprints.chunks(100) {
            let placeholders: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT {COLUMNS} FROM incidents WHERE fingerprint IN ({})",
                placeholders.join(", ")
            );
            let mut q = sqlx::query(&sql);
            for f in chunk {
                q = q.bind(f);
            }
            for row in q.fetch_all(&self.pool).await? {
                let rec = incident_from(&row)?;
                out.insert(rec.incident.fingerprint.clone(), rec);
            }
        }
        Ok(out)
    }

    /// Active incidents (open or regressed).
    pub async fn active_incidents(&self) -> Result<Vec<IncidentRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM incidents WHERE status IN ('open', 'regressed') ORDER BY id"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(incident_from).collect()
    }

    /// Writes a worker step in one transaction, if the lease is still ours: incidents,
    /// their timeline rows, related links (`related`: fingerprint → related ids), and
    /// the lease position.
    pub async fn write_incident_batch(
        &self,
        batch: &IncidentBatch,
        related: &HashMap<String, Vec<i64>>,
        lease: (&str, &str),
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin_with(self.dialect.begin_write()).await?;
        if !super::lease::advance(&mut tx, lease.0, lease.1, batch.position).await? {
            tx.rollback().await?;
            return Ok(false);
        }
        for (inc, changes) in &batch.incidents {
            let rel = related.get(&inc.fingerprint).cloned().unwrap_or_default();
            let id = upsert(&mut tx, inc, &rel, None, now_ms).await?;
            for change in changes {
                timeline(&mut tx, id, *change, inc, None, now_ms).await?;
            }
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Adds each `(id, other)`: `other` joins the related list of incident `id` (both
    /// directions are given by the caller), keeping at most `max` per incident (the
    /// newest), all in one transaction.
    pub async fn link_incidents(&self, links: &[(i64, i64)], max: usize) -> Result<(), StoreError> {
        if links.is_empty() {
            return Ok(());
        }
        let mut by_id: std::collections::BTreeMap<i64, Vec<i64>> = Default::default();
        for &(id, other) in links {
            by_id.entry(id).or_default().push(other);
        }
        let mut tx = self.pool.begin_with(self.dialect.begin_write()).await?;
        for (id, others) in by_id {
            let current: Option<String> =
                sqlx::query_scalar("SELECT related_json FROM incidents WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
            let Some(text) = current else { continue };
            let before: BTreeSet<i64> = serde_json::from_str::<Vec<i64>>(&text)
                .unwrap_or_default()
                .into_iter()
                .collect();
            let mut ids = before.clone();
            ids.extend(others);
            // The newest `max` when more qualify (ids grow with opening order).
            let ids: BTreeSet<i64> = ids.into_iter().rev().take(max).collect();
            if ids != before {
                let ids: Vec<i64> = ids.into_iter().collect();
                sqlx::query("UPDATE incidents SET related_json = $2 WHERE id = $1")
                    .bind(id)
                    .bind(json("related incidents", &ids)?)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Incidents matching `filter`, most recently changed first by id (newest first).
    pub async fn incidents(
        &self,
        filter: &IncidentFilter,
        limit: u32,
    ) -> Result<Vec<IncidentRecord>, StoreError> {
        let mut sql = format!("SELECT {COLUMNS} FROM incidents WHERE 1 = 1");
        let mut binds: Vec<String> = Vec::new();
        let statuses: Vec<&str> = if filter.statuses.is_empty() {
            vec!["open", "regressed", "resolved"]
        } else {
            filter.statuses.iter().map(|s| s.as_str()).collect()
        };
        sql.push_str(" AND status IN (");
        for (i, s) in statuses.iter().enumerate() {
            binds.push((*s).to_owned());
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("${}", binds.len()));
        }
        sql.push(')');
        if let Some(min) = filter.min_severity {
            let levels: Vec<&str> = [Level::Warn, Level::Error, Level::Critical]
                .into_iter()
                .filter(|l| *l >= min)
                .map(Level::as_str)
                .collect();
            sql.push_str(" AND severity IN (");
            for (i, l) in levels.iter().enumerate() {
                binds.push((*l).to_owned());
                if i > 0 {
                    sql.push_str(", ");
                }
                sql.push_str(&format!("${}", binds.len()));
            }
            sql.push(')');
        }
        for (col, v) in [("class", &filter.class), ("service", &filter.service)] {
            if let Some(v) = v {
                binds.push(v.clone());
                sql.push_str(&format!(" AND {col} = ${}", binds.len()));
            }
        }
        if let Some(h) = &filter.host {
            // Hosts are a JSON array of strings; match the quoted name.
            binds.push(format!(
                "%{}%",
                super::audit::escape_like(&serde_json::to_string(h).unwrap_or_default())
            ));
            sql.push_str(&format!(
                " AND hosts_json LIKE ${} ESCAPE '\\'",
                binds.len()
            ));
        }
        let mut before = None;
        if let Some(b) = filter.before_id {
            before = Some(b);
            sql.push_str(&format!(" AND id < ${}", binds.len() + 1));
        }
        sql.push_str(&format!(" ORDER BY id DESC LIMIT {}", limit.max(1)));
        let mut q = sqlx::query(&sql);
        for b in binds {
            q = q.bind(b);
        }
        if let Some(b) = before {
            q = q.bind(b);
        }
        let rows = q.fetch_all(&self.pool).await?;
        rows.iter().map(incident_from).collect()
    }

    /// One incident by id.
    pub async fn incident(&self, id: i64) -> Result<Option<IncidentRecord>, StoreError> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM incidents WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| incident_from(&r)).transpose()
    }

    /// An incident's timeline, oldest first.
    pub async fn incident_timeline(&self, id: i64) -> Result<Vec<TimelineEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, change, status, severity, host_count, event_count, actor, ts_ms \
             FROM incident_changes WHERE incident_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(TimelineEntry {
                    id: r.try_get(0)?,
                    change: r.try_get(1)?,
                    status: r.try_get(2)?,
                    severity: r.try_get(3)?,
                    host_count: r.try_get(4)?,
                    event_count: r.try_get(5)?,
                    actor: r.try_get(6)?,
                    ts_ms: r.try_get(7)?,
                })
            })
            .collect()
    }

    /// Resolves an active incident on a user's word, with its timeline and audit rows.
    pub async fn resolve_incident(
        &self,
        id: i64,
        by: &str,
        audit: AuditEntry,
        now_ms: i64,
    ) -> Result<IncidentRecord, StoreError> {
        let mut tx = self.pool.begin_with(self.dialect.begin_write()).await?;
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM incidents WHERE id = $1"))
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("incident {id}")))?;
        let rec = incident_from(&row)?;
        let Some(next) = crate::incidents::decide::resolve_by_user(&rec.incident, now_ms) else {
            return Err(StoreError::Conflict(format!(
                "incident {id} is {}, not open",
                rec.incident.status.as_str()
            )));
        };
        upsert(&mut tx, &next, &rec.related, Some(by), now_ms).await?;
        timeline(&mut tx, id, Change::Resolved, &next, Some(by), now_ms).await?;
        write_audit(
            &mut tx,
            &audit
                .before(serde_json::json!({ "status": rec.incident.status.as_str() }))
                .after(serde_json::json!({ "status": "resolved" })),
            now_ms,
        )
        .await?;
        tx.commit().await?;
        Ok(IncidentRecord {
            incident: next,
            resolved_by: Some(by.to_owned()),
            ..rec
        })
    }
}
