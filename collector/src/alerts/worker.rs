//! The evaluator: every `alerts.interval_secs`, under the `alerts` lease (so exactly one
//! replica evaluates each rule), load the rules, a snapshot of the store, the alerts,
//! silences, groups and channels; run the measures ([`super::evaluate::measure`]), the
//! state machine ([`super::decide::next_state`]) and the grouping windows
//! ([`super::decide::group_step`]); write alert rows, change rows, group states and the
//! outbox notifications they cause in one transaction.

use std::collections::{BTreeMap, HashMap};

use tokio::sync::watch;
use tracing::{debug, warn};

use super::config::AlertsConfig;
use super::decide::{AlertState, Change, Member, State, group_step, next_state};
use super::evaluate::{Candidate, EvalParams, measure};
use super::payload::{AlertItem, Notification};
use super::route::route;
use super::rules::{fingerprint, group_key, matches};
use crate::store::alerts::{AlertRecord, AlertRound, AlertWrite};
use crate::store::outbox::NewMessage;
use crate::store::{Store, StoreError};

/// Lease name of this worker.
pub const LEASE: &str = "alerts";

/// What one evaluation did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StepReport {
    pub changes: usize,
    pub notifications: usize,
}

/// Runs one evaluation at `now_ms`; `None` without the lease.
pub async fn step(
    store: &Store,
    owner: &str,
    cfg: &AlertsConfig,
    now_ms: i64,
) -> Result<Option<StepReport>, StoreError> {
    let ttl = i64::try_from(cfg.interval.as_millis())
        .unwrap_or(10_000)
        .saturating_mul(3)
        .max(30_000);
    if store.take_lease(LEASE, owner, now_ms, ttl).await?.is_none() {
        return Ok(None);
    }
    let rules: Vec<_> = store.alert_rules().await?;
    let max_window = rules
        .iter()
        .map(|r| i64::try_from(r.spec.window_secs.saturating_mul(1_000)).unwrap_or(0))
        .max()
        .unwrap_or(300_000);
    let snap = store.alert_snapshot(max_window, now_ms).await?;
    let existing: HashMap<String, AlertRecord> = store
        .all_alerts()
        .await?
        .into_iter()
        .map(|a| (a.fingerprint.clone(), a))
        .collect();
    let silences = store.silences(now_ms, false).await?;
    let groups = store.alert_groups().await?;
    let channels = store.channels().await?;
    let routes: Vec<(i64, super::route::Route)> =
        channels.iter().map(|c| (c.id, c.route.clone())).collect();
    let kinds: HashMap<i64, String> = channels.iter().map(|c| (c.id, c.kind.clone())).collect();
    let params = EvalParams {
        min_lines: cfg.min_lines,
    };

    let mut round = AlertRound::default();
    let mut report = StepReport::default();
    for rule in &rules {
        let mut current: HashMap<String, Candidate> = HashMap::new();
        if rule.enabled {
            for c in measure(&rule.spec, &snap, &params) {
                current.insert(fingerprint(rule.id, &c.labels), c);
            }
        }
        let timing = rule.spec.timing();
        // Every alert of this rule after this evaluation: fingerprint → record.
        let mut after: BTreeMap<String, AlertRecord> = BTreeMap::new();
        let mut fps: Vec<&String> = current.keys().collect();
        fps.extend(
            existing
                .values()
                .filter(|a| a.rule_id == rule.id)
                .map(|a| &a.fingerprint),
        );
        fps.sort();
        fps.dedup();
        for fp in fps {
            let cand = current.get(fp);
            let holds =
                cand.is_some_and(|c| rule.spec.comparison.holds(c.value, rule.spec.threshold));
            let prev = existing.get(fp);
            let prev_state = prev.map(|a| a.decider.clone()).unwrap_or_default();
            if prev.is_none() && !holds {
                continue;
            }
            let (next, change) = next_state(&prev_state, holds, &timing, now_ms);
            let mut rec = prev.cloned().unwrap_or_else(|| AlertRecord {
                id: 0,
                rule_id: rule.id,
                fingerprint: fp.clone(),
                labels: cand.map(|c| c.labels.clone()).unwrap_or_default(),
                severity: rule.spec.severity.clone(),
                value: 0.0,
                threshold: rule.spec.threshold,
                summary: String::new(),
                decider: AlertState::default(),
                started_ms: None,
                ended_ms: None,
                updated_ms: now_ms,
            });
            let value_changed =
                cand.is_some_and(|c| c.value != rec.value || c.summary != rec.summary);
            if let Some(c) = cand {
                // A resolved alert keeps the value it had when it cleared... unless measured.
                rec.value = c.value;
                rec.summary = c.summary.clone();
                rec.labels = c.labels.clone();
            }
            rec.threshold = rule.spec.threshold;
            rec.severity = rule.spec.severity.clone();
            rec.started_ms = next.firing_since_ms;
            rec.ended_ms = (next.state == State::Resolved)
                .then_some(next.resolved_ms)
                .flatten();
            let state_changed = next != prev_state;
            let recorded = match change {
                Some(Change::Pending) => Some(State::Pending),
                Some(Change::Cleared) => Some(State::Inactive),
                Some(Change::Firing) => Some(State::Firing),
                Some(Change::Resolved) => Some(State::Resolved),
                None => None,
            };
            rec.decider = next;
            if state_changed || value_changed || prev.is_none() {
                rec.updated_ms = now_ms;
                report.changes += usize::from(recorded.is_some());
                if let Some(s) = recorded {
                    debug!(rule = %rule.name, fingerprint = %fp, state = s.as_str(), value = rec.value, "Alert changed.");
                }
                round.alerts.push(AlertWrite {
                    alert: rec.clone(),
                    change: recorded,
                });
            }
            after.insert(fp.clone(), rec);
        }

        // Notification groups of this rule.
        let mut by_group: BTreeMap<String, Vec<&AlertRecord>> = BTreeMap::new();
        for a in after.values() {
            by_group
                .entry(group_key(rule.id, &rule.spec.group_by, &a.labels))
                .or_default()
                .push(a);
        }
        // Groups with state but no alerts left still need a step (to forget them).
        for key in groups
            .keys()
            .filter(|k| k.starts_with(&format!("r{}|", rule.id)))
        {
            by_group.entry(key.clone()).or_default();
        }
        for (key, alerts) in by_group {
            let prev = groups.get(&key).cloned().unwrap_or_default();
            let members: Vec<Member> = alerts
                .iter()
                .filter(|a| matches!(a.decider.state, State::Firing | State::Resolved))
                .map(|a| Member {
                    fingerprint: a.fingerprint.clone(),
                    firing: a.decider.state == State::Firing,
                    silenced: silences.iter().any(|s| {
                        s.starts_ms <= now_ms
                            && now_ms < s.ends_ms
                            && matches(&s.matchers, &a.labels)
                    }),
                    acked: a.decider.acked(now_ms),
                })
                .collect();
            let (next, send) = group_step(&prev, &members, &cfg.group, now_ms);
            if let Some(send) = send {
                let item = |fp: &String, status: &str| {
                    alerts
                        .iter()
                        .find(|a| &a.fingerprint == fp)
                        .map(|a| AlertItem {
                            fingerprint: a.fingerprint.clone(),
                            status: status.to_owned(),
                            labels: a.labels.clone(),
                            value: a.value,
                            threshold: a.threshold,
                            comparison: rule.spec.comparison.symbol().to_owned(),
                            unit: rule.spec.measure.unit().to_owned(),
                            summary: a.summary.clone(),
                            starts_ms: a.started_ms,
                            ends_ms: a.ended_ms,
                        })
                };
                let items: Vec<AlertItem> = send
                    .firing
                    .iter()
                    .filter_map(|f| item(f, "firing"))
                    .chain(send.resolved.iter().filter_map(|f| item(f, "resolved")))
                    .collect();
                let status = if send.firing.is_empty() {
                    "resolved"
                } else {
                    "firing"
                };
                let labels = items.first().map(|i| i.labels.clone()).unwrap_or_default();
                let n = Notification {
                    status: status.into(),
                    group_key: key.clone(),
                    rule: rule.name.clone(),
                    rule_id: rule.id,
                    severity: rule.spec.severity.clone(),
                    alerts: items,
                    dashboard_url: format!("{}/alerts?rule={}", cfg.dashboard_url, rule.id),
                    sent_ms: now_ms,
                };
                let payload = serde_json::to_string(&n).map_err(|source| StoreError::Json {
                    what: "notification",
                    source,
                })?;
                for ch in route(&routes, &rule.name, &labels) {
                    let Some(kind) = kinds.get(&ch) else { continue };
                    round.messages.push(NewMessage {
                        kind: kind.clone(),
                        target: ch.to_string(),
                        idempotency_key: format!("alert:{key}:{now_ms}:{ch}"),
                        payload: payload.clone(),
                        due_ms: None,
                    });
                    report.notifications += 1;
                }
            }
            if next != prev {
                round.groups.push((key, next));
            }
        }
    }
    if round.alerts.is_empty() && round.groups.is_empty() && round.messages.is_empty() {
        return Ok(Some(report));
    }
    if !store
        .write_alert_round(&round, (LEASE, owner), now_ms)
        .await?
    {
        return Ok(None);
    }
    Ok(Some(report))
}

/// Evaluates every `alerts.interval_secs` until `shutdown`.
pub async fn run(
    store: Store,
    owner: String,
    cfg: AlertsConfig,
    mut shutdown: watch::Receiver<bool>,
) {
    if let Err(err) = store.seed_builtin_rules(crate::now_ms()).await {
        warn!(error = %err, "Seeding the built-in alert rules failed.");
    }
    for c in &cfg.channels {
        if let Err(err) = store.upsert_config_channel(c, crate::now_ms()).await {
            warn!(channel = %c.name, error = %err, "Applying a configured channel failed.");
        }
    }
    if !cfg.enabled {
        return;
    }
    let mut tick = tokio::time::interval(cfg.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        match step(&store, &owner, &cfg, crate::now_ms()).await {
            Ok(Some(r)) if r.changes > 0 || r.notifications > 0 => {
                if r.notifications > 0 {
                    store.nudges().outbox.notify_one();
                }
                debug!(
                    changes = r.changes,
                    notifications = r.notifications,
                    "Alerts evaluated."
                )
            }
            Ok(_) => {}
            Err(err) => warn!(error = %err, "Alert evaluation failed; will retry."),
        }
    }
}
