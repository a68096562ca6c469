//! Per-minute counts written in the ingest transaction: every line counts, by (service,
//! minute of the line's own time) and judged severity (the agent's confidence that it
//! reports trouble: warn = medium, error = high, critical; see
//! `incidents::decide::judged_level`), with the summed arrival lag. One upsert per
//! (service, minute) in a batch, so the cost is a few rows per batch, not a row per line.

use std::collections::HashMap;

use fleetlog_protocol::{BatchPayload, Level};

use super::StoreError;

/// Counts for one (service, minute) of a batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct MinuteCounts {
    pub lines: i64,
    pub warn: i64,
    pub error: i64,
    pub critical: i64,
    pub lag_ms_sum: i64,
}

/// Counts of a batch per (service index, minute start).
pub(super) fn count(payload: &BatchPayload, now_ms: i64) -> HashMap<(u32, i64), MinuteCounts> {
    let mut out: HashMap<(u32, i64), MinuteCounts> = HashMap::new();
    for e in &payload.entries {
        let minute = e.ts_ms - e.ts_ms.rem_euclid(60_000);
        let c = out.entry((e.source, minute)).or_default();
        c.lines += 1;
        match crate::incidents::decide::judged_level(f64::from(e.score)) {
            Level::Warn => c.warn += 1,
            Level::Error => c.error += 1,
            Level::Critical => c.critical += 1,
            _ => {}
        }
        c.lag_ms_sum = c.lag_ms_sum.saturating_add((now_ms - e.ts_ms).max(0));
    }
    out
}

const UPSERT: &str = "INSERT INTO minute_stats \
    (host, service, minute_ms, lines, warn, error, critical, lag_ms_sum, last_arrival_ms) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
    ON CONFLICT (host, service, minute_ms) DO UPDATE SET \
    lines = minute_stats.lines + excluded.lines, warn = minute_stats.warn + excluded.warn, \
    error = minute_stats.error + excluded.error, \
    critical = minute_stats.critical + excluded.critical, \
    lag_ms_sum = minute_stats.lag_ms_sum + excluded.lag_ms_sum, \
    last_arrival_ms = CASE WHEN excluded.last_arrival_ms > minute_stats.last_arrival_ms \
        THEN excluded.last_arrival_ms ELSE minute_stats.last_arrival_ms END";

/// Adds a batch's counts for `host`; `services[i]` is the service of source `i`.
pub(super) async fn upsert(
    conn: &mut sqlx::AnyConnection,
    host: &str,
    services: &[String],
    counts: HashMap<(u32, i64), MinuteCounts>,
    now_ms: i64,
) -> Result<(), StoreError> {
    // Sources of one service merge into one row.
    let mut merged: HashMap<(&str, i64), MinuteCounts> = HashMap::new();
    for ((src, minute), c) in counts {
        let service = services.get(src as usize).map_or("", String::as_str);
        let m = merged.entry((service, minute)).or_default();
        m.lines += c.lines;
        m.warn += c.warn;
        m.error += c.error;
        m.critical += c.critical;
        m.lag_ms_sum = m.lag_ms_sum.saturating_add(c.lag_ms_sum);
    }
    let mut rows: Vec<_> = merged.into_iter().collect();
    // A stable order keeps concurrent upserts from deadlocking on PostgreSQL.
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    for ((service, minute), c) in rows {
        sqlx::query(UPSERT)
            .bind(host)
            .bind(service)
            .bind(minute)
            .bind(c.lines)
            .bind(c.warn)
            .bind(c.error)
            .bind(c.critical)
            .bind(c.lag_ms_sum)
            .bind(now_ms)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use fleetlog_protocol::Entry;

    #[test]
    fn counts_by_source_minute_and_level() {
        let e = |ts: i64, source: u32, level: Level| Entry {
            ts_ms: ts,
            source,
            line: String::new(),
            level,
            score: match level {
                Level::Critical => 0.9,
                Level::Error => 0.6,
                Level::Warn => 0.4,
                _ => 0.0,
            },
            ..Entry::default()
        };
        let payload = BatchPayload {
            sources: vec!["a".into(), "b".into()],
            entries: vec![
                e(60_000, 0, Level::Info),
                e(119_999, 0, Level::Error),
                e(120_000, 0, Level::Warn),
                e(60_500, 1, Level::Critical),
            ],
            ..BatchPayload::default()
        };
        let c = count(&payload, 200_000);
        assert_eq!(c.len(), 3);
        let m = c[&(0, 60_000)];
        assert_eq!((m.lines, m.error, m.warn), (2, 1, 0));
        assert_eq!(m.lag_ms_sum, 140_000 + 80_001);
        assert_eq!(c[&(0, 120_000)].warn, 1);
        assert_eq!(c[&(1, 60_000)].critical, 1);
    }
}
