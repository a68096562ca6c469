//! The health driver: every `interval`, under the `health` lease, load observations for
//! every host and service, run [`super::next_state`], and write every row whose state or
//! reason changed (a feed row for each state change) in one transaction.

use std::collections::HashMap;
use std::time::Duration;

use tokio::sync::watch;
use tracing::{debug, warn};

use super::{Health, Thresholds, next_state};
use crate::store::Store;
use crate::store::health::HealthRow;

/// Lease name of this worker.
pub const LEASE: &str = "health";

/// Runs one evaluation; returns how many states changed, or `None` without the lease.
pub async fn step(
    store: &Store,
    owner: &str,
    th: &Thresholds,
    now_ms: i64,
) -> Result<Option<usize>, crate::store::StoreError> {
    let ttl = i64::try_from(th.window.as_millis())
        .unwrap_or(300_000)
        .max(30_000);
    if store.take_lease(LEASE, owner, now_ms, ttl).await?.is_none() {
        return Ok(None);
    }
    // Windows are by the lines' own time, ending at the fleet's line-time watermark;
    // silence is by arrival against the wall clock.
    let watermark = store.line_watermark().await?.unwrap_or(now_ms).min(now_ms);
    let window_ms = i64::try_from(th.window.as_millis()).unwrap_or(i64::MAX);
    let seen_ms = i64::try_from(th.silent_after.as_millis()).unwrap_or(i64::MAX);
    let obs = store
        .observe_fleet(watermark - window_ms, now_ms - 24 * 3_600_000 - seen_ms)
        .await?;
    let prev: HashMap<(String, String), Health> = store
        .health_rows()
        .await?
        .into_iter()
        .map(|r| ((r.host, r.service), r.health))
        .collect();
    let mut rows = Vec::new();
    let mut changes = 0;
    for ((host, service), o) in obs.scopes {
        let before = prev
            .get(&(host.clone(), service.clone()))
            .cloned()
            .unwrap_or_else(|| Health::new(now_ms));
        let after = next_state(&before, &o, th, now_ms);
        let changed =
            after.state != before.state || !prev.contains_key(&(host.clone(), service.clone()));
        if changed || after != before {
            changes += usize::from(changed);
            if changed {
                debug!(%host, %service, state = after.state.as_str(), reason = %after.reason, "Health changed.");
            }
            rows.push((
                HealthRow {
                    host,
                    service,
                    health: after,
                    updated_ms: now_ms,
                },
                changed,
            ));
        }
    }
    if !store.write_health(&rows, (LEASE, owner)).await? {
        return Ok(None);
    }
    Ok(Some(changes))
}

/// Evaluates every `interval` until `shutdown`.
pub async fn run(
    store: Store,
    owner: String,
    th: Thresholds,
    interval: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        match step(&store, &owner, &th, crate::now_ms()).await {
            Ok(Some(n)) if n > 0 => debug!(changes = n, "Health evaluated."),
            Ok(_) => {}
            Err(err) => warn!(error = %err, "Health evaluation failed; will retry."),
        }
    }
}
