//! Reads only the dashboard needs: error rate per host and step across the whole fleet
//! in one query (the fleet page's sparklines).

use std::collections::HashMap;

use sqlx::Row;

use super::{Store, StoreError};

impl Store {
    /// Per host, `(error + critical) / lines` for each `step_ms` step from `from_ms`
    /// (inclusive) to `to_ms` (exclusive); a step without lines is 0.
    pub async fn fleet_error_rates(
        &self,
        from_ms: i64,
        to_ms: i64,
        step_ms: i64,
    ) -> Result<HashMap<String, Vec<f64>>, StoreError> {
        let step = step_ms.max(60_000);
        let buckets = usize::try_from((to_ms - from_ms + step - 1) / step).unwrap_or(0);
        let rows = sqlx::query(
            "SELECT host, minute_ms, CAST(SUM(lines) AS BIGINT), CAST(SUM(error + critical) AS BIGINT) \
             FROM minute_stats \
             WHERE minute_ms >= $1 AND minute_ms < $2 GROUP BY host, minute_ms",
        )
        .bind(from_ms)
        .bind(to_ms)
        .fetch_all(&self.pool)
        .await?;
        let mut sums: HashMap<String, Vec<(i64, i64)>> = HashMap::new();
        for row in rows {
            let host: String = row.try_get(0)?;
            let minute: i64 = row.try_get(1)?;
            let lines: i64 = row.try_get(2)?;
            let bad: i64 = row.try_get(3)?;
            let Ok(i) = usize::try_from((minute - from_ms) / step) else {
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
