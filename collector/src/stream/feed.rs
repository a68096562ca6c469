//! Reads the change feeds after a position, oldest first, at most `limit` rows per feed.

use sqlx::Row;

use super::{Item, Position, severity_rank};
use crate::store::{Store, StoreError};

/// The newest position (a client without `Last-Event-ID` starts here: live only).
pub async fn head(store: &Store) -> Result<Position, StoreError> {
    let max = |table: &'static str| async move {
        let v: Option<i64> = sqlx::query_scalar(&format!("SELECT MAX(id) FROM {table}"))
            .fetch_one(store.pool())
            .await?;
        Ok::<i64, StoreError>(v.unwrap_or(0))
    };
    Ok(Position {
        events: max("events").await?,
        health: max("health_changes").await?,
        incidents: max("incident_changes").await?,
        alerts: max("alert_changes").await?,
    })
}

/// Items after `pos` from every feed, each feed in id order.
pub async fn after(store: &Store, pos: Position, limit: i64) -> Result<Vec<Item>, StoreError> {
    let pool = store.pool();
    let mut out = Vec::new();
    let rows = sqlx::query(
        "SELECT id, host, service, ts_ms, level, class, line, occurrences FROM events WHERE id > $1 \
         ORDER BY id LIMIT $2",
    )
    .bind(pos.events)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    for r in rows {
        let level: String = r.try_get(4)?;
        let line: String = r.try_get(6)?;
        out.push(Item {
            kind: "event",
            id: r.try_get(0)?,
            host: Some(r.try_get(1)?),
            service: r.try_get(2)?,
            severity: severity_rank(&level).unwrap_or(0),
            ts_ms: r.try_get(3)?,
            // `line` is the first of `occurrences` like lines (see `store::grouping`).
            data: serde_json::json!({
                "level": level,
                "class": r.try_get::<Option<String>, _>(5)?,
                "line": line,
                "occurrences": r.try_get::<i64, _>(7)?,
            }),
        });
    }
    let rows = sqlx::query(
        "SELECT id, host, service, state, reason, ts_ms FROM health_changes WHERE id > $1 \
         ORDER BY id LIMIT $2",
    )
    .bind(pos.health)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    for r in rows {
        let state: String = r.try_get(3)?;
        let service: String = r.try_get(2)?;
        out.push(Item {
            kind: "health",
            id: r.try_get(0)?,
            host: Some(r.try_get(1)?),
            service: (!service.is_empty()).then_some(service),
            severity: severity_rank(&state).unwrap_or(0),
            ts_ms: r.try_get(5)?,
            data: serde_json::json!({"state": state, "reason": r.try_get::<String, _>(4)?}),
        });
    }
    let rows = sqlx::query(
        "SELECT c.id, c.incident_id, c.change, c.status, c.severity, c.host_count, c.ts_ms, \
         i.service, i.title, i.hosts_json FROM incident_changes c \
         JOIN incidents i ON i.id = c.incident_id WHERE c.id > $1 ORDER BY c.id LIMIT $2",
    )
    .bind(pos.incidents)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    for r in rows {
        let severity: String = r.try_get(4)?;
        let hosts: Vec<String> =
            serde_json::from_str(&r.try_get::<String, _>(9)?).unwrap_or_default();
        out.push(Item {
            kind: "incident",
            id: r.try_get(0)?,
            host: (hosts.len() == 1).then(|| hosts[0].clone()),
            service: r.try_get(7)?,
            severity: severity_rank(&severity).unwrap_or(0),
            ts_ms: r.try_get(6)?,
            data: serde_json::json!({
                "incident_id": r.try_get::<i64, _>(1)?,
                "change": r.try_get::<String, _>(2)?,
                "status": r.try_get::<String, _>(3)?,
                "severity": severity,
                "host_count": r.try_get::<i64, _>(5)?,
                "title": r.try_get::<String, _>(8)?,
                "hosts": hosts,
            }),
        });
    }
    let rows = sqlx::query(
        "SELECT id, alert_id, rule_id, state, severity, value, labels_json, ts_ms \
         FROM alert_changes WHERE id > $1 ORDER BY id LIMIT $2",
    )
    .bind(pos.alerts)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    for r in rows {
        let labels: std::collections::BTreeMap<String, String> =
            serde_json::from_str(&r.try_get::<String, _>(6)?).unwrap_or_default();
        let state: String = r.try_get(3)?;
        let severity: String = r.try_get(4)?;
        out.push(Item {
            kind: "alert",
            id: r.try_get(0)?,
            host: labels.get("host").cloned(),
            service: labels.get("service").cloned(),
            severity: if state == "firing" {
                severity_rank(&severity).unwrap_or(2)
            } else {
                0
            },
            ts_ms: r.try_get(7)?,
            data: serde_json::json!({
                "alert_id": r.try_get::<i64, _>(1)?,
                "rule_id": r.try_get::<i64, _>(2)?,
                "state": state,
                "severity": severity,
                "value": r.try_get::<f64, _>(5)?,
                "labels": labels,
            }),
        });
    }
    Ok(out)
}
