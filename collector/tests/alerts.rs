//! The alert evaluator on SQLite and PostgreSQL, with injected time: error lines make the
//! built-in error-rate rule fire, the group waits `group_wait`, one notification per
//! routed channel is enqueued in the outbox (in the evaluation's transaction), nothing
//! repeats before `repeat_interval`, a second replica does not evaluate while the lease
//! is held, healthy lines resolve it and one resolved notification follows; a silence
//! suppresses notifications but not evaluation; an ack stops repeats.

// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

mod common;

use std::collections::BTreeMap;

use fleetlog_collector::alerts::config::AlertsConfig;
use fleetlog_collector::alerts::decide::{Ack, State};
use fleetlog_collector::alerts::payload::Notification;
use fleetlog_collector::alerts::route::Route;
use fleetlog_collector::alerts::worker::step;
use fleetlog_collector::store::Store;
use fleetlog_collector::store::audit::AuditEntry;
use fleetlog_collector::store::channels::NewChannel;
use fleetlog_protocol::{Entry, Level};

use common::{Env, make_batch, on_all_backends};

const T0: i64 = 1_800_000_000_000;
const MIN: i64 = 60_000;

/// One minute of a host's `app.log` (service `app`): `lines` lines, `errors` of them errors.
async fn minute(store: &Store, host: &str, seq: u64, minute: i64, lines: u32, errors: u32) {
    let entries: Vec<Entry> = (0..lines)
        .map(|i| Entry {
            ts_ms: T0 + minute * MIN + i64::from(i) * 10,
            source: 0,
            line: if i < errors {
                format!("ERROR payment declined by processor: upstream timeout (conn {i})")
            } else {
                format!("INFO sale {i} completed")
            },
            level: if i < errors {
                Level::Error
            } else {
                Level::Info
            },
            score: if i < errors { 0.7 } else { 0.0 },
            ..Entry::default()
        })
        .collect();
    let (batch, payload) = make_batch(&format!("agent-{host}"), seq, entries);
    store
        .ingest(host, &batch, &payload, T0 + minute * MIN + 30_000)
        .await
        .unwrap();
}

fn audit(action: &'static str, target: &str) -> AuditEntry {
    AuditEntry {
        actor: "test".into(),
        actor_role: "admin".into(),
        action,
        target: target.into(),
        before: None,
        after: None,
        client_addr: None,
    }
}

async fn webhook_channel(store: &Store, name: &str, route: Route) -> i64 {
    let c = NewChannel {
        name: name.into(),
        kind: "webhook".into(),
        config: serde_json::json!({"url": "http://127.0.0.1:9/hook"})
            .as_object()
            .unwrap()
            .clone(),
        secrets: serde_json::json!({"secret": "shh"})
            .as_object()
            .unwrap()
            .clone(),
        route,
    };
    store
        .create_channel(&c, audit("channel.create", name), T0)
        .await
        .unwrap()
        .id
}

/// Every outbox message so far: (target, notification).
async fn outbox(store: &Store) -> Vec<(String, Notification)> {
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT target, payload FROM outbox ORDER BY id")
            .fetch_all(store.pool())
            .await
            .unwrap();
    rows.into_iter()
        .map(|(t, p)| (t, serde_json::from_str(&p).unwrap()))
        .collect()
}

fn cfg() -> AlertsConfig {
    AlertsConfig::default()
}

#[tokio::test]
async fn error_rate_fires_notifies_once_and_resolves() {
    on_all_backends(|env: Env| async move {
        let s = env.store.clone();
        s.seed_builtin_rules(T0).await.unwrap();
        let default = webhook_channel(
            &s,
            "ops",
            Route {
                default: true,
                ..Route::default()
            },
        )
        .await;
        // A route that takes only silence alerts: it must not get this one.
        let silent_only = webhook_channel(
            &s,
            "noc",
            Route {
                rules: vec!["silent".into()],
                ..Route::default()
            },
        )
        .await;
        for m in 0..6 {
            minute(&s, "pos-1", m as u64 + 1, m, 100, 20).await;
            minute(&s, "pos-2", m as u64 + 1, m, 100, 0).await;
        }
        let now = T0 + 6 * MIN;
        let r = step(&s, "a", &cfg(), now).await.unwrap().unwrap();
        assert_eq!(
            (r.changes, r.notifications),
            (1, 0),
            "{}: group_wait",
            env.backend
        );
        let firing = s.alerts(&Default::default(), 10).await.unwrap();
        assert_eq!(firing.len(), 1);
        assert_eq!(firing[0].decider.state, State::Firing);
        assert_eq!(
            firing[0].labels.get("host").map(String::as_str),
            Some("pos-1")
        );
        assert_eq!(firing[0].value, 20.0);
        // Another replica does not evaluate while "a" holds the lease.
        let other = env.replica().await;
        assert_eq!(step(&other, "b", &cfg(), now + 1_000).await.unwrap(), None);
        assert_eq!(
            step(&s, "a", &cfg(), now + 29_000)
                .await
                .unwrap()
                .unwrap()
                .notifications,
            0
        );
        let r = step(&s, "a", &cfg(), now + 30_000).await.unwrap().unwrap();
        assert_eq!(r.notifications, 1);
        let sent = outbox(&s).await;
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].0, default.to_string());
        assert_ne!(sent[0].0, silent_only.to_string());
        let n = &sent[0].1;
        assert_eq!(
            (n.status.as_str(), n.rule.as_str()),
            ("firing", "error-rate")
        );
        assert_eq!(n.alerts.len(), 1);
        assert_eq!(n.alerts[0].fingerprint, firing[0].fingerprint);
        assert_eq!((n.alerts[0].value, n.alerts[0].threshold), (20.0, 5.0));
        // Nothing repeats before repeat_interval.
        for dt in [60_000, 120_000, 240_000] {
            step(&s, "a", &cfg(), now + dt).await.unwrap().unwrap();
        }
        assert_eq!(outbox(&s).await.len(), 1);
        // Healthy minutes push the window past the errors: resolved, announced once.
        for m in 6..12 {
            minute(&s, "pos-1", m as u64 + 1, m, 100, 0).await;
        }
        let later = T0 + 12 * MIN;
        let r = step(&s, "a", &cfg(), later).await.unwrap().unwrap();
        assert_eq!((r.changes, r.notifications), (1, 1));
        step(&s, "a", &cfg(), later + 600_000)
            .await
            .unwrap()
            .unwrap();
        let sent = outbox(&s).await;
        assert_eq!(sent.len(), 2, "{}", env.backend);
        assert_eq!(sent[1].1.status, "resolved");
        assert_eq!(sent[1].1.alerts[0].status, "resolved");
        assert_eq!(sent[1].1.alerts[0].ends_ms, Some(later));
        let history: Vec<String> = s
            .alert_history(Some(firing[0].id), None, 10)
            .await
            .unwrap()
            .into_iter()
            .map(|c| c.state)
            .collect();
        assert_eq!(history, ["resolved", "firing"]);
        // By then both hosts have been silent for over 10 minutes: the silent rule fires.
        let silent = s.alerts(&Default::default(), 10).await.unwrap();
        assert_eq!(silent.len(), 4, "pos-1, pos-2, and their app services");
        println!(
            "{}: notifications {} (firing 1, resolved 1), duplicates 0",
            env.backend,
            sent.len()
        );
    })
    .await;
}

#[tokio::test]
async fn silence_suppresses_notifications_not_evaluation_and_ack_stops_repeats() {
    on_all_backends(|env: Env| async move {
        let s = env.store.clone();
        s.seed_builtin_rules(T0).await.unwrap();
        webhook_channel(
            &s,
            "ops",
            Route {
                default: true,
                ..Route::default()
            },
        )
        .await;
        for m in 0..6 {
            minute(&s, "pos-1", m as u64 + 1, m, 100, 20).await;
            minute(&s, "pos-2", m as u64 + 1, m, 100, 30).await;
        }
        let now = T0 + 6 * MIN;
        let matchers: BTreeMap<String, String> = [("host".to_owned(), "pos-1".to_owned())].into();
        s.create_silence(
            &matchers,
            now - 1,
            now + 120_000,
            "maintenance",
            audit("silence.create", "s"),
            now,
        )
        .await
        .unwrap();
        step(&s, "a", &cfg(), now).await.unwrap().unwrap();
        step(&s, "a", &cfg(), now + 30_000).await.unwrap().unwrap();
        // Both alerts fire (evaluation goes on), only pos-2 is announced.
        let firing = s.alerts(&Default::default(), 10).await.unwrap();
        assert_eq!(firing.len(), 2, "{}", env.backend);
        let sent = outbox(&s).await;
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].1.alerts.len(), 1);
        assert_eq!(sent[0].1.alerts[0].labels["host"], "pos-2");
        // Acknowledge pos-2: no repeat even after repeat_interval.
        let pos2 = firing.iter().find(|a| a.labels["host"] == "pos-2").unwrap();
        s.ack_alert(
            pos2.id,
            Ack {
                by: "alice".into(),
                at_ms: now + 31_000,
                until_ms: None,
            },
            audit("alert.ack", "a"),
            now + 31_000,
        )
        .await
        .unwrap();
        // The silence ends at +120 s: pos-1 is announced (after group_interval).
        step(&s, "a", &cfg(), now + 200_000).await.unwrap().unwrap();
        step(&s, "a", &cfg(), now + 330_000).await.unwrap().unwrap();
        let sent = outbox(&s).await;
        assert_eq!(sent.len(), 2, "{}", env.backend);
        let hosts: Vec<&str> = sent[1]
            .1
            .alerts
            .iter()
            .map(|a| a.labels["host"].as_str())
            .collect();
        assert_eq!(hosts, ["pos-1"], "the acknowledged pos-2 is left out");
        // Four hours later: pos-1 repeats; pos-2 stays quiet (acknowledged).
        step(&s, "a", &cfg(), now + 330_000 + 4 * 3_600_000)
            .await
            .unwrap()
            .unwrap();
        let sent = outbox(&s).await;
        assert_eq!(sent.len(), 3);
        let hosts: Vec<&str> = sent[2]
            .1
            .alerts
            .iter()
            .map(|a| a.labels["host"].as_str())
            .collect();
        assert_eq!(hosts, ["pos-1"]);
        // Acknowledging a resolved or unknown alert is refused.
        assert!(
            s.ack_alert(
                99_999,
                Ack {
                    by: "x".into(),
                    at_ms: 0,
                    until_ms: None
                },
                audit("alert.ack", "x"),
                now
            )
            .await
            .is_err()
        );
    })
    .await;
}
