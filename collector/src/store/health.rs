//! Health rows, per-minute line counts (`minute_stats`, written at ingest), agent
//! heartbeats, and the series the charts read.

use std::collections::HashMap;

use sqlx::Row;

use super::{Store, StoreError};
use crate::health::{Health, Observations, State};

/// One health row: a host (`service` empty) or a service on a host.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthRow {
    pub host: String,
    pub service: String,
    pub health: Health,
    pub updated_ms: i64,
}

/// Counts of one (host, service, minute), or summed over a step.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Counts {
    pub lines: i64,
    pub warn: i64,
    pub error: i64,
    pub critical: i64,
    pub lag_ms_sum: i64,
}

/// The latest heartbeat of an agent.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentStatus {
    pub agent_id: String,
    pub host: String,
    pub ts_ms: i64,
    pub received_ms: i64,
    pub status: serde_json::Value,
}

/// What the health worker needs about every host and service seen since `since_ms`.
#[derive(Debug, Clone, Default)]
pub struct FleetObservations {
    /// (host, service) → observations; service "" is the host as a whole.
    pub scopes: HashMap<(String, String), Observations>,
}

impl Store {
    /// The fleet's line-time watermark: the end of the newest minute with lines.
    pub async fn line_watermark(&self) -> Result<Option<i64>, StoreError> {
        let max: Option<i64> = sqlx::query_scalar("SELECT MAX(minute_ms) FROM minute_stats")
            .fetch_one(&self.pool)
            .await?;
        Ok(max.map(|m| m + 60_000))
    }

    /// Observations for every host and service: counts over `[window_from, ∞)` by line
    /// time, last arrivals since `seen_since` by arrival, latest heartbeats.
    pub async fn observe_fleet(
        &self,
        window_from_ms: i64,
        seen_since_ms: i64,
    ) -> Result<FleetObservations, StoreError> {
        let mut out = FleetObservations::default();
        let rows = sqlx::query(
            "SELECT host, service, CAST(MAX(last_arrival_ms) AS BIGINT), \
             CAST(SUM(CASE WHEN minute_ms >= $1 THEN lines ELSE 0 END) AS BIGINT), \
             CAST(SUM(CASE WHEN minute_ms >= $1 THEN error + critical ELSE 0 END) AS BIGINT), \
             CAST(SUM(CASE WHEN minute_ms >= $1 THEN critical ELSE 0 END) AS BIGINT) \
             FROM minute_stats WHERE last_arrival_ms >= $2 OR minute_ms >= $1 \
             GROUP BY host, service",
        )
        .bind(window_from_ms)
        .bind(seen_since_ms)
        .fetch_all(&self.pool)
        .await?;
        for row in rows {
            let host: String = row.try_get(0)?;
            let service: String = row.try_get(1)?;
            let last: i64 = row.try_get(2)?;
            let lines = u64::try_from(row.try_get::<i64, _>(3)?).unwrap_or(0);
            let errors = u64::try_from(row.try_get::<i64, _>(4)?).unwrap_or(0);
            let criticals = u64::try_from(row.try_get::<i64, _>(5)?).unwrap_or(0);
            for key in [(host.clone(), service), (host, String::new())] {
                let o = out.scopes.entry(key).or_default();
                o.last_line_ms = o.last_line_ms.max(Some(last));
                o.lines += lines;
                o.errors += errors;
                o.criticals += criticals;
            }
        }
        // Hosts that sent nothing recently still have a last line and maybe heartbeats.
        let hosts: Vec<(String, i64)> = sqlx::query_as("SELECT host, last_seen_ms FROM hosts")
            .fetch_all(&self.pool)
            .await?;
        for (host, last_seen) in hosts {
            let o = out.scopes.entry((host, String::new())).or_default();
            o.last_line_ms = o.last_line_ms.max(Some(last_seen));
        }
        let beats: Vec<(String, i64)> = sqlx::query_as(
            "SELECT host, CAST(MAX(received_ms) AS BIGINT) FROM agent_status GROUP BY host",
        )
        .fetch_all(&self.pool)
        .await?;
        for (host, received) in beats {
            let o = out.scopes.entry((host, String::new())).or_default();
            o.last_heartbeat_ms = o.last_heartbeat_ms.max(Some(received));
        }
        let classes: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT host, class, CAST(SUM(occurrences) AS BIGINT) AS n FROM events \
             WHERE ts_ms >= $1 AND class IS NOT NULL AND level IN ('error', 'critical') \
             GROUP BY host, class",
        )
        .bind(window_from_ms)
        .fetch_all(&self.pool)
        .await?;
        let mut best: HashMap<String, (String, i64)> = HashMap::new();
        for (host, class, n) in classes {
            let e = best.entry(host).or_insert((class.clone(), n));
            if n > e.1 {
                *e = (class, n);
            }
        }
        for (host, (class, _)) in best {
            if let Some(o) = out.scopes.get_mut(&(host, String::new())) {
                o.top_class = Some(class);
            }
        }
        Ok(out)
    }

    /// Every health row.
    pub async fn health_rows(&self) -> Result<Vec<HealthRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT host, service, state, reason, since_ms, clear_since_ms, updated_ms \
             FROM health ORDER BY host, service",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(health_from).collect()
    }

    /// Writes changed health rows and their feed rows in one transaction; rows whose
    /// state is unchanged only get their reason and time updated.
    pub async fn write_health(
        &self,
        rows: &[(HealthRow, bool)],
        lease: (&str, &str),
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin_with(self.dialect.begin_write()).await?;
        let Some(pos) = sqlx::query_scalar::<_, i64>(
            "SELECT position FROM worker_leases WHERE name = $1 AND owner = $2",
        )
        .bind(lease.0)
        .bind(lease.1)
        .fetch_optional(&mut *tx)
        .await?
        else {
            tx.rollback().await?;
            return Ok(false);
        };
        for (row, changed) in rows {
            sqlx::query(
                "INSERT INTO health (host, service, state, reason, since_ms, clear_since_ms, \
                 updated_ms) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (host, service) DO UPDATE SET state = excluded.state, \
                 reason = excluded.reason, since_ms = excluded.since_ms, \
                 clear_since_ms = excluded.clear_since_ms, updated_ms = excluded.updated_ms",
            )
            .bind(&row.host)
            .bind(&row.service)
            .bind(row.health.state.as_str())
            .bind(&row.health.reason)
            .bind(row.health.since_ms)
            .bind(row.health.clear_since_ms)
            .bind(row.updated_ms)
            .execute(&mut *tx)
            .await?;
            if *changed {
                sqlx::query(
                    "INSERT INTO health_changes (host, service, state, reason, ts_ms) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&row.host)
                .bind(&row.service)
                .bind(row.health.state.as_str())
                .bind(&row.health.reason)
                .bind(row.updated_ms)
                .execute(&mut *tx)
                .await?;
            }
        }
        super::lease::advance(&mut tx, lease.0, lease.1, pos + 1).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Stores an agent heartbeat: the latest per agent and a history row.
    pub async fn record_heartbeat(
        &self,
        agent_id: &str,
        host: &str,
        ts_ms: i64,
        status: &serde_json::Value,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let json = status.to_string();
        let agent_id = super::clean(agent_id);
        let host = super::clean(host);
        let mut tx = self.pool.begin_with(self.dialect.begin_write()).await?;
        sqlx::query(
            "INSERT INTO agent_status (agent_id, host, ts_ms, received_ms, status_json) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (agent_id) DO UPDATE SET \
             host = excluded.host, ts_ms = excluded.ts_ms, received_ms = excluded.received_ms, \
             status_json = excluded.status_json",
        )
        .bind(agent_id.as_ref())
        .bind(host.as_ref())
        .bind(ts_ms)
        .bind(now_ms)
        .bind(&json)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO heartbeats (agent_id, host, ts_ms, received_ms, status_json) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(agent_id.as_ref())
        .bind(host.as_ref())
        .bind(ts_ms)
        .bind(now_ms)
        .bind(&json)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The latest heartbeat of each agent on `host`.
    pub async fn agent_status(&self, host: &str) -> Result<Vec<AgentStatus>, StoreError> {
        let rows: Vec<(String, String, i64, i64, String)> = sqlx::query_as(
            "SELECT agent_id, host, ts_ms, received_ms, status_json FROM agent_status \
             WHERE host = $1 ORDER BY agent_id",
        )
        .bind(host)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(agent_id, host, ts_ms, received_ms, json)| AgentStatus {
                agent_id,
                host,
                ts_ms,
                received_ms,
                status: serde_json::from_str(&json).unwrap_or(serde_json::Value::Null),
            })
            .collect())
    }

    /// Counts summed over the minutes in `[from, to)` (line time), for one host or the fleet:
    /// the sum of [`Store::series`] over the hosts in scope.
    pub async fn totals(
        &self,
        host: Option<&str>,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Counts, StoreError> {
        let host_clause = if host.is_some() { " AND host = $3" } else { "" };
        let sql = format!(
            "SELECT CAST(COALESCE(SUM(lines), 0) AS BIGINT), CAST(COALESCE(SUM(warn), 0) AS BIGINT), \
             CAST(COALESCE(SUM(error), 0) AS BIGINT), CAST(COALESCE(SUM(critical), 0) AS BIGINT), \
             CAST(COALESCE(SUM(lag_ms_sum), 0) AS BIGINT) FROM minute_stats \
             WHERE minute_ms >= $1 AND minute_ms < $2{host_clause}"
        );
        let mut q = sqlx::query(&sql).bind(from_ms).bind(to_ms);
        if let Some(h) = host {
            q = q.bind(h);
        }
        let row = q.fetch_one(&self.pool).await?;
        Ok(Counts {
            lines: row.try_get(0)?,
            warn: row.try_get(1)?,
            error: row.try_get(2)?,
            critical: row.try_get(3)?,
            lag_ms_sum: row.try_get(4)?,
        })
    }

    /// Counts per step over `[from, to)` for a host (all services, or one).
    pub async fn series(
        &self,
        host: &str,
        service: Option<&str>,
        from_ms: i64,
        to_ms: i64,
        step_ms: i64,
    ) -> Result<Vec<(i64, Counts)>, StoreError> {
        let service_clause = if service.is_some() {
            " AND service = $4"
        } else {
            ""
        };
        let sql = format!(
            "SELECT minute_ms, lines, warn, error, critical, lag_ms_sum FROM minute_stats \
             WHERE host = $1 AND minute_ms >= $2 AND minute_ms < $3{service_clause}"
        );
        let mut q = sqlx::query(&sql).bind(host).bind(from_ms).bind(to_ms);
        if let Some(s) = service {
            q = q.bind(s);
        }
        let rows = q.fetch_all(&self.pool).await?;
        let step = step_ms.max(60_000);
        let buckets = usize::try_from((to_ms - from_ms + step - 1) / step).unwrap_or(0);
        let mut out: Vec<(i64, Counts)> = (0..buckets)
            .map(|i| (from_ms + i as i64 * step, Counts::default()))
            .collect();
        for row in rows {
            let minute: i64 = row.try_get(0)?;
            let Ok(i) = usize::try_from((minute - from_ms) / step) else {
                continue;
            };
            if let Some((_, c)) = out.get_mut(i) {
                c.lines += row.try_get::<i64, _>(1)?;
                c.warn += row.try_get::<i64, _>(2)?;
                c.error += row.try_get::<i64, _>(3)?;
                c.critical += row.try_get::<i64, _>(4)?;
                c.lag_ms_sum += row.try_get::<i64, _>(5)?;
            }
        }
        Ok(out)
    }
}

fn health_from(row: &sqlx::any::AnyRow) -> Result<HealthRow, StoreError> {
    let state: String = row.try_get(2)?;
    Ok(HealthRow {
        host: row.try_get(0)?,
        service: row.try_get(1)?,
        health: Health {
            state: State::parse(&state).unwrap_or(State::Healthy),
            reason: row.try_get(3)?,
            since_ms: row.try_get(4)?,
            clear_since_ms: row.try_get(5)?,
        },
        updated_ms: row.try_get(6)?,
    })
}
