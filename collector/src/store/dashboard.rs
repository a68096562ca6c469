//! Reads only the dashboard needs: error rate per host and step across the whole fleet
//! in one query (the fleet page's sparklines).

use std::collections::HashMap;

use sqlx::Row;

use super::{Store, StoreError};

impl Store {
    /// Per host, `(error + critical) / lines` for each `step_ms` step from `from_ms`
    /// (inclusive) to `to_ms` (exclusive); a step without lines is 0.
    ///
    /// Summed per (host, step) in SQL, so the driver hands over one row per host and step
    /// (12,000 for 1,000 hosts and an hour in 5-minute steps) rather than one per host,
    /// service and minute (60,000 or more): moving rows from SQLite's thread was most of
    /// the fleet page's time (`BENCHMARKS.md`, "Fleet page").
    pub async fn fleet_error_rates(
        &self,
        from_ms: i64,
        to_ms: i64,
        step_ms: i64,
    ) -> Result<HashMap<String, Vec<f64>>, StoreError> {
        let step = step_ms.max(60_000);
        let buckets = usize::try_from((to_ms - from_ms + step - 1) / step).unwrap_or(0);
        let rows = sqlx::query(
            "SELECT host, bucket, CAST(SUM(lines) AS BIGINT), CAST(SUM(bad) AS BIGINT) \
             FROM (SELECT host, (minute_ms - $1) / $3 AS bucket, lines, error + critical AS bad \
                   FROM minute_stats WHERE minute_ms >= $1 AND minute_ms < $2) AS m \
             GROUP BY host, bucket",
        )
        .bind(from_ms)
        .bind(to_ms)
        .bind(step)
        .fetch_all(&self.pool)
        .await?;
        let mut sums: HashMap<String, Vec<(i64, i64)>> = HashMap::new();
        for row in rows {
            let host: String = row.try_get(0)?;
            let bucket: i64 = row.try_get(1)?;
            let lines: i64 = row.try_get(2)?;
            let bad: i64 = row.try_get(3)?;
            let Ok(i) = usize::try_from(bucket) else {
                continue;
            };
            let slots = sums.entry(host).or_insert_with(|| vec![(0, 0); buckets]);
            if let Some(slot) = slots.get_mut(i) {
                slot.0 += lines;
                slot.1 += bad;
            }
        }
        Ok(sums
            .into_iter()
            .map(|(host, slots)| {
                let rates = slots
                    .into_iter()
                    .map(|(lines, bad)| {
                        if lines > 0 {
                            bad as f64 / lines as f64
                        } else {
                            0.0
                        }
                    })
                    .collect();
                (host, rates)
            })
            .collect())
    }
}

impl Store {
    /// A host's heartbeats (agent time, status JSON) from `from_ms` to `to_ms`, oldest
    /// first, at most `limit` (the newest ones when there are more).
    pub async fn heartbeat_history(
        &self,
        host: &str,
        from_ms: i64,
        to_ms: i64,
        limit: i64,
    ) -> Result<Vec<(i64, serde_json::Value)>, StoreError> {
        let rows = sqlx::query(
            "SELECT ts_ms, status_json FROM heartbeats WHERE host = $1 AND ts_ms >= $2 \
             AND ts_ms < $3 ORDER BY ts_ms DESC LIMIT $4",
        )
        .bind(host)
        .bind(from_ms)
        .bind(to_ms)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows.iter().rev() {
            let ts: i64 = row.try_get(0)?;
            let json: String = row.try_get(1)?;
            out.push((ts, serde_json::from_str(&json).unwrap_or_default()));
        }
        Ok(out)
    }
}
