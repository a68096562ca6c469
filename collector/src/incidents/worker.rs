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
    if !batch.incidents.is_empty() {
        // Decisions need not wait for the related links below.
        store.nudges().jira.notify_one();
    }
    if !opened.is_empty() && policy.max_related > 0 {
        let active: Vec<(i64, Incident)> = store
            .active_incidents()
            .await?
            .into_iter()
            .map(|r| (r.id, r.incident))
            .collect();
        let links = related_links(&opened, &active, policy.related_window, policy.max_related);
        store.link_incidents(&links, policy.max_related).await?;
    }
    Ok(Some(consumed))
}

/// The links to add for newly `opened` incidents among the `active` ones (id, incident),
/// both ways: each opened incident with at most `max` related active incidents, the
/// nearest in opening time first.
pub fn related_links(
    opened: &[Incident],
    active: &[(i64, Incident)],
    window: Duration,
    max: usize,
) -> Vec<(i64, i64)> {
    let mut links = Vec::new();
    for inc in opened {
        let Some((me, mine)) = active
            .iter()
            .find(|(_, a)| a.fingerprint == inc.fingerprint)
        else {
            continue;
        };
        let at = mine.opened_ms.unwrap_or(0);
        let mut near: Vec<(i64, i64)> = active
            .iter()
            .filter(|(id, other)| id != me && decide::related(mine, other, window))
            .map(|(id, other)| ((other.opened_ms.unwrap_or(0) - at).abs(), *id))
            .collect();
        near.sort_unstable();
        for (_, other) in near.into_iter().take(max) {
            links.push((*me, other));
            links.push((other, *me));
        }
    }
    links
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
        let began = std::time::Instant::now();
        let busy = match step(&store, &owner, &policy, crate::now_ms()).await {
            Ok(Some(n)) => {
                if n > 0 {
                    debug!(
                        events = n,
                        took_ms = began.elapsed().as_millis() as u64,
                        "Incidents updated."
                    );
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incidents::decide::EventIn;

    /// An incident of `fp` on `hosts`, opened at second `opened_s`.
    fn inc(fp: &str, opened_s: i64, hosts: &[&str], class: Option<&str>) -> Incident {
        let mut out: Option<Incident> = None;
        for (i, host) in hosts.iter().enumerate() {
            let ev = EventIn {
                id: i as i64,
                fingerprint: fp.into(),
                host: (*host).into(),
                service: None,
                ts_ms: opened_s * 1_000,
                level: Level::Error,
                class: class.map(Into::into),
                line: format!("ERROR {fp}"),
                occurrences: 1,
                last_ts_ms: None,
            };
            out = Some(decide::apply(out, &ev, &Policy::default()).0);
        }
        let mut i = out.unwrap_or_else(|| panic!("no hosts"));
        i.opened_ms = Some(opened_s * 1_000);
        i
    }

    fn links_of(links: &[(i64, i64)], id: i64) -> Vec<i64> {
        let mut v: Vec<i64> = links.iter().filter(|l| l.0 == id).map(|l| l.1).collect();
        v.sort_unstable();
        v
    }

    #[test]
    fn related_links_keep_the_nearest_and_go_both_ways() {
        let window = Duration::from_secs(300);
        // 30 incidents on one host, a second apart: all related by time and hosts.
        let active: Vec<(i64, Incident)> = (0..30)
            .map(|i| (i + 1, inc(&format!("fp{i}"), i, &["pos-1"], None)))
            .collect();
        let opened = vec![active[15].1.clone()];
        let links = related_links(&opened, &active, window, 4);
        // The four nearest in opening time (ties by id), both ways.
        assert_eq!(links_of(&links, 16), vec![14, 15, 17, 18]);
        for other in [14, 15, 17, 18] {
            assert_eq!(links_of(&links, other), vec![16]);
        }
        assert_eq!(links.len(), 8);

        let cases: &[(&str, Incident, Incident, bool)] = &[
            (
                "other hosts, other class: unrelated",
                inc("a", 0, &["pos-1"], None),
                inc("b", 10, &["pos-2"], None),
                false,
            ),
            (
                "same hosts but opened outside the window: unrelated",
                inc("a", 0, &["pos-1"], None),
                inc("b", 301, &["pos-1"], None),
                false,
            ),
            (
                "same class on other hosts while both are active: related",
                inc("a", 0, &["pos-1"], Some("tls")),
                inc("b", 0, &["pos-2"], Some("tls")),
                true,
            ),
        ];
        for (name, a, b, related) in cases {
            let active = vec![(1, a.clone()), (2, b.clone())];
            let links = related_links(std::slice::from_ref(b), &active, window, 20);
            assert_eq!(!links.is_empty(), *related, "{name}");
        }
        // max 0 links nothing.
        assert!(related_links(&opened, &active, window, 0).is_empty());
    }
}
