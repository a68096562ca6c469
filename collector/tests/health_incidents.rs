//! Health and incidents through the store, on SQLite and PostgreSQL: batches ingested,
//! the workers stepped with injected time, the API read back. Two replicas on one
//! database take turns by lease and show the same numbers.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use fleetlog_collector::api::{self, AppState};
use fleetlog_collector::auth::secret::SecretStr;
use fleetlog_collector::config::{self, set_key};
use fleetlog_collector::health::{self, Thresholds};
use fleetlog_collector::incidents::decide::Policy;
use fleetlog_collector::incidents::worker as incident_worker;
use fleetlog_collector::ingest::model::ModelSlot;
use fleetlog_collector::metrics::Metrics;
use fleetlog_collector::store::Store;
use fleetlog_protocol::{Entry, Level};
use serde_json::Value;
use tower::ServiceExt;

use common::{Env, make_batch, on_all_backends};

const TOKEN: &str = "health-test-token";
const T0: i64 = 1_800_000_000_000;
const MIN: i64 = 60_000;

fn state(env: &Env, store: Store) -> AppState {
    let mut flags = toml::Table::new();
    set_key(
        &mut flags,
        "data_dir",
        env.archive_dir
            .parent()
            .unwrap()
            .display()
            .to_string()
            .into(),
    );
    AppState::new(
        store,
        Arc::new(Metrics::default()),
        SecretStr::new(TOKEN),
        Arc::new(config::load(None, |_| None, flags).unwrap()),
        ModelSlot::default(),
    )
}

async fn get(state: &AppState, uri: &str) -> Value {
    let req = Request::get(uri)
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .body(Body::empty())
        .unwrap();
    let resp = api::router(state.clone()).oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "{uri}");
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 22)
        .await
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// One minute of a host's `payment.log` (source 0 is `/var/log/app.log` in `make_batch`,
/// so service `app`): `lines` lines, of which `errors` are the TLS failure.
async fn minute(store: &Store, host: &str, seq: u64, minute: i64, lines: u32, errors: u32) {
    let entries: Vec<Entry> = (0..lines)
        .map(|i| {
            let ts = T0 + minute * MIN + i64::from(i) * 10;
            if i < errors {
                Entry {
                    ts_ms: ts,
                    source: 0,
                    line: format!(
                        "ERROR upstream TLS handshake failed: certificate has expired (conn {i})"
                    ),
                    level: Level::Error,
                    score: 0.6,
                    ..Entry::default()
                }
            } else {
                Entry {
                    ts_ms: ts,
                    source: 0,
                    line: format!("INFO sale {i} completed"),
                    level: Level::Info,
                    score: 0.0,
                    ..Entry::default()
                }
            }
        })
        .collect();
    let (batch, payload) = make_batch(&format!("agent-{host}"), seq, entries);
    store
        .ingest(host, &batch, &payload, T0 + minute * MIN + 30_000)
        .await
        .unwrap();
}

#[tokio::test]
async fn unhealthy_hosts_and_one_incident_across_hosts() {
    on_all_backends(|env: Env| async move {
        let th = Thresholds::default();
        let policy = Policy::default();
        let store = env.store.clone();
        // Three hosts; pos-1 and pos-2 fail TLS from minute 3 on, pos-3 stays fine.
        for m in 0..6i64 {
            let seq = m as u64 + 1;
            let errors = if m >= 3 { 20 } else { 0 };
            minute(&store, "pos-1", seq, m, 100, errors).await;
            minute(&store, "pos-2", seq, m, 100, errors).await;
            minute(&store, "pos-3", seq, m, 100, 0).await;
        }
        let now = T0 + 6 * MIN + 30_000;
        assert_eq!(
            health::worker::step(&store, "r1", &th, now).await.unwrap(),
            Some(6)
        );
        // The second replica does not get the lease while the first holds it.
        let other = env.replica().await;
        assert_eq!(
            health::worker::step(&other, "r2", &th, now).await.unwrap(),
            None
        );
        let consumed = incident_worker::step(&store, "r1", &policy, now)
            .await
            .unwrap();
        // 120 error lines, stored as 6 event rows: one per host and minute, each standing
        // for its 20 lines (`occurrences`); the counts below are still in lines.
        assert_eq!(consumed, Some(6), "{}", env.backend);

        let a = state(&env, store.clone());
        let fleet = get(&a, "/api/v1/fleet").await;
        assert_eq!(fleet["counts"]["degraded"], 2, "{fleet}");
        assert_eq!(fleet["counts"]["healthy"], 1, "{fleet}");
        assert_eq!(
            fleet["hosts"][0]["state"], "degraded",
            "worst first: {fleet}"
        );
        let reason = fleet["hosts"][0]["reason"].as_str().unwrap();
        assert!(
            reason.contains("error rate") && reason.contains("tls"),
            "{reason}"
        );
        assert_eq!(fleet["active_incidents"], 1);

        let incidents = get(&a, "/api/v1/incidents").await;
        let list = incidents["incidents"].as_array().unwrap();
        assert_eq!(list.len(), 1, "{incidents}");
        let inc = &list[0];
        assert_eq!(inc["status"], "open");
        assert_eq!(inc["host_count"], 2);
        assert_eq!(inc["event_count"], 120);
        assert_eq!(inc["hosts"], serde_json::json!(["pos-1", "pos-2"]));
        assert!(inc["suggested_fix"].as_str().is_some(), "{inc}");
        let id = inc["id"].as_i64().unwrap();
        let detail = get(&a, &format!("/api/v1/incidents/{id}")).await;
        assert_eq!(detail["timeline"][0]["change"], "opened", "{detail}");

        let host = get(&a, "/api/v1/hosts/pos-1").await;
        assert_eq!(host["services"][0]["service"], "app", "{host}");
        assert_eq!(host["services"][0]["state"], "degraded", "{host}");
        let series = get(
            &a,
            &format!(
                "/api/v1/hosts/pos-1/health?from={T0}&to={}&step=120",
                T0 + 6 * MIN
            ),
        )
        .await;
        let points = series["points"].as_array().unwrap();
        assert_eq!(points.len(), 3);
        assert_eq!(points[0]["lines"], 200);
        assert_eq!(points[2]["error"], 40);
        let patterns = get(
            &a,
            &format!("/api/v1/patterns?from={T0}&to={}", T0 + 6 * MIN),
        )
        .await;
        assert_eq!(patterns["patterns"][0]["count"], 120, "{patterns}");
        assert!(
            patterns["patterns"][0]["template"]
                .as_str()
                .unwrap()
                .contains("certificate has expired")
        );

        // The second replica reads the same numbers from the same store.
        let b = state(&env, other.clone());
        assert_eq!(get(&b, "/api/v1/fleet").await, fleet);
        assert_eq!(get(&b, "/api/v1/incidents").await, incidents);

        // Quiet for 30 minutes of line time: resolved; back again: regressed.
        for m in 6..40i64 {
            minute(&store, "pos-3", m as u64 + 1, m, 10, 0).await;
        }
        let later = T0 + 40 * MIN;
        incident_worker::step(&store, "r1", &policy, later)
            .await
            .unwrap();
        let inc = get(&a, &format!("/api/v1/incidents/{id}")).await;
        assert_eq!(inc["incident"]["status"], "resolved", "{inc}");
        minute(&store, "pos-1", 100, 41, 100, 20).await;
        incident_worker::step(&store, "r1", &policy, later + 2 * MIN)
            .await
            .unwrap();
        let inc = get(&a, &format!("/api/v1/incidents/{id}")).await;
        assert_eq!(inc["incident"]["status"], "regressed", "{inc}");
        assert_eq!(inc["incident"]["regressions"], 1);
        let changes: Vec<&str> = inc["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["change"].as_str().unwrap())
            .collect();
        assert_eq!(changes, ["opened", "resolved", "regressed"]);

        // A user resolves it: recorded with who did it, in the timeline and the audit.
        let req = Request::post(format!("/api/v1/incidents/{id}/resolve"))
            .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
            .body(Body::empty())
            .unwrap();
        let resp = api::router(a.clone()).oneshot(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let inc = get(&a, &format!("/api/v1/incidents/{id}")).await;
        assert_eq!(inc["incident"]["status"], "resolved");
        assert_eq!(inc["incident"]["resolved_by"], "bootstrap");
        assert_eq!(
            inc["timeline"].as_array().unwrap().last().unwrap()["actor"],
            "bootstrap"
        );
        let audit = get(&a, "/api/v1/audit?action=incident.resolve").await;
        assert_eq!(audit["entries"][0]["target"], format!("incident:{id}"));
        let req = Request::post(format!("/api/v1/incidents/{id}/resolve"))
            .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
            .body(Body::empty())
            .unwrap();
        let resp = api::router(a.clone()).oneshot(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::CONFLICT, "resolving twice");
    })
    .await;
}

#[tokio::test]
async fn a_silent_host_is_reported() {
    on_all_backends(|env: Env| async move {
        let th = Thresholds::default();
        let store = env.store.clone();
        minute(&store, "kiosk-7", 1, 0, 50, 0).await;
        let now = T0 + 30_000 + 11 * MIN;
        health::worker::step(&store, "r1", &th, now).await.unwrap();
        let a = state(&env, store.clone());
        let fleet = get(&a, "/api/v1/fleet").await;
        assert_eq!(fleet["counts"]["silent"], 1, "{fleet}");
        assert!(
            fleet["hosts"][0]["reason"]
                .as_str()
                .unwrap()
                .starts_with("no lines for 11 min"),
            "{fleet}"
        );
    })
    .await;
}
