//! The incident driver: under the `incidents` lease, read events after the lease's
//! position in id order, feed them to [`decide::apply`] grouped by fingerprint (first
//! resolving an incident quiet for long enough by the event's own time, so a comeback
//! regresses however far behind the worker runs), resolve quiet incidents with
//! [`decide::tick`] at the fleet's line-time watermark, link related incidents, and write
//! everything with the new position in one transaction.

use std::collections::HashMap;
use std::time::Duration;

use fleetlog_protocol::Level;
use tokio::sync::watch;
use tracing::{debug, warn};

use super::decide::{self, Change, Incident, Policy};
use crate::store::incidents::IncidentBatch;
use crate::store::{Store, StoreError};

/// Lease name of this worker.
pub const LEASE: &str = "incidents";
/// Events read per step.
pub const BATCH: u32 = 5_000;

/// One step; `Ok(None)` without the lease, else how many events were consumed.
pub async fn step(
    store: &Store,
    owner: &str,
    policy: &Policy,
    now_ms: i64,
) -> Result<Option<usize>, StoreError> {
    let Some(lease) = store.take_lease(LEASE, owner, now_ms, 60_000).await? else {
        return Ok(None);
    };
    let events = store.events_for_incidents(lease.position, BATCH).await?;
    let mut fingerprints: Vec<String> = events.iter().map(|e| e.fingerprint.clone()).collect();
    fingerprints.sort();
    fingerprints.dedup();
    let stored = store.incidents_by_fingerprint(&fingerprints).await?;
    let mut current: HashMap<String, (Incident, Vec<Change>)> = HashMap::new();
    // Events the agent judged healthy (a declined card logged at ERROR) are not evidence:
    // they neither start an incident nor keep one alive.
    for ev in events.iter().filter(|e| e.level >= Level::Warn) {
        let prev = match current.remove(&ev.fingerprint) {
            Some((inc, changes)) => Some((inc, changes)),
            None => stored
                .get(&ev.fingerprint)
                .map(|r| (r.incident.clone(), Vec::new())),
        };
        let (mut prev_inc, mut changes) = match prev {
            Some((i, c)) => (Some(i), c),
            None => (None, Vec::new()),
        };
        // Quiet for long enough by the event's own time: resolved before this event, so a
        // comeback regresses however far behind the worker runs.
        if let Some(inc) = &prev_inc
            && let Some((resolved, change)) = decide::tick(inc, policy, ev.ts_ms)
        {
            changes.push(change);
            prev_inc = Some(resolved);
        }
        let (next, change) = decide::apply(prev_inc, ev, policy);
        if change != Change::Updated {
            changes.push(change);
        }
        current.insert(ev.fingerprint.clone(), (next, changes));
    }
    // Quiet incidents resolve at the line-time watermark.
    let watermark = store.line_watermark().await?.unwrap_or(now_ms).min(now_ms);
    for rec in store.active_incidents().await? {
        let fp = rec.incident.fingerprint.clone();
        let inc = current
            .get(&fp)
            .map(|(i, _)| i.clone())
            .unwrap_or_else(|| rec.incident.clone());
        if let Some((next, change)) = decide::tick(&inc, policy, watermark) {
            let entry = current.entry(fp).or_insert_with(|| (inc, Vec::new()));
            entry.0 = next;
            entry.1.push(change);
        }
    }
    let position = events.last().map_or(lease.position, |e| e.id);
    let consumed = events.len();
    let batch = IncidentBatch {
        incidents: current.into_values().collect(),
        position,
    };
    if batch.incidents.is_empty() && position == lease.position {
        return Ok(Some(0));
    }
    let opened: Vec<Incident> = batch
        .incidents
        .iter()
        .filter(|(_, c)| {
            c.iter()
                .any(|c| matches!(c, Change::Opened | Change::Regressed))
        })
        .map(|(i, _)| i.clone())
        .collect();
    if !store
        .write_incident_batch(&batch, &HashMap::new(), (LEASE, owner), now_ms)
        .await?
    {
        return Ok(None);
    }
    link_related(store, &opened, policy.related_window).await?;
    Ok(Some(consumed))
}

/// Links each newly opened incident with active incidents that opened near it on shared
/// hosts, both ways.
async fn link_related(
    store: &Store,
    opened: &[Incident],
    window: Duration,
) -> Result<(), StoreError> {
    if opened.is_empty() {
        return Ok(());
    }
    let active = store.active_incidents().await?;
    for inc in opened {
        let Some(me) = active
            .iter()
            .find(|r| r.incident.fingerprint == inc.fingerprint)
        else {
            continue;
        };
        for other in &active {
            if other.id != me.id && decide::related(&me.incident, &other.incident, window) {
                store.link_incidents(me.id, other.id).await?;
                store.link_incidents(other.id, me.id).await?;
            }
        }
    }
    Ok(())
}

/// Steps every `interval`, sooner when ingest nudges (at once again while a step consumed
/// a full batch); nudges the Jira worker when incidents changed.
pub async fn run(
    store: Store,
    owner: String,
    policy: Policy,
    interval: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let busy = match step(&store, &owner, &policy, crate::now_ms()).await {
            Ok(Some(n)) => {
                if n > 0 {
                    debug!(events = n, "Incidents updated.");
                    store.nudges().jira.notify_one();
                }
                n >= BATCH as usize
            }
            Ok(None) => false,
            Err(err) => {
                warn!(error = %err, "Incident step failed; will retry.");
                false
            }
        };
        if busy {
            continue;
        }
        tokio::select! {
            _ = crate::store::nudge::wait(interval, &store.nudges().incidents) => {}
            _ = shutdown.changed() => return,
        }
    }
}
