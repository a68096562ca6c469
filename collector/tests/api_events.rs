//! `GET /api/v1/events` and `/events/{id}` against a real store (SQLite and PostgreSQL):
//! every filter, cursor paging without gaps or repeats, and the raw lines around an event.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use fleetlog_collector::api::{self, AppState};
use fleetlog_collector::auth::secret::SecretStr;
use fleetlog_collector::config::{self, set_key};
use fleetlog_collector::ingest::model::ModelSlot;
use fleetlog_collector::metrics::Metrics;
use fleetlog_protocol::Level;
use serde_json::Value;
use tower::ServiceExt;

use common::{Env, entry, make_batch, on_all_backends};

const TOKEN: &str = "events-test-bootstrap-token";

async fn get(state: &AppState, uri: &str) -> (StatusCode, Value) {
    let req = Request::get(uri)
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .body(Body::empty())
        .unwrap();
    let resp = api::router(state.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn ids(v: &Value) -> Vec<i64> {
    v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn events_are_filtered_paged_and_shown_in_context() {
    on_all_backends(|env: Env| async move {
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
        let state = AppState::new(
            env.store.clone(),
            Arc::new(Metrics::default()),
            SecretStr::new(TOKEN),
            Arc::new(config::load(None, |_| None, flags).unwrap()),
            ModelSlot::default(),
        );
        // Host h1: 3 batches of 10 lines; line 5 of each is an error on app.log
        // ("No space left on device" → disk_full), line 7 a warning on sys.log.
        for seq in 1..=3u64 {
            let entries = (0..10)
                .map(|i| {
                    let ts = 1_700_000_000_000 + (seq as i64) * 60_000 + i64::from(i);
                    match i {
                        5 => entry(
                            ts,
                            0,
                            &format!("ERROR write failed: No space left on device (batch {seq})"),
                            Level::Error,
                        ),
                        7 => entry(ts, 1, &format!("WARN slow NTP response {seq}"), Level::Warn),
                        _ => entry(ts, i % 2, &format!("info line {seq}.{i}"), Level::Info),
                    }
                })
                .collect();
            let (batch, payload) = make_batch("agent-1", seq, entries);
            env.store.ingest("h1", &batch, &payload, 1).await.unwrap();
        }
        let (batch, payload) = make_batch(
            "agent-2",
            1,
            vec![entry(
                1_700_000_000_000,
                0,
                "CRITICAL payment terminal unreachable",
                Level::Critical,
            )],
        );
        env.store.ingest("h2", &batch, &payload, 1).await.unwrap();

        let (s, all) = get(&state, "/api/v1/events").await;
        assert_eq!(s, StatusCode::OK, "{all}");
        let all_ids = ids(&all);
        assert_eq!(all_ids.len(), 7);
        assert!(
            all_ids.windows(2).all(|w| w[0] > w[1]),
            "newest first: {all_ids:?}"
        );
        assert_eq!(all["next_cursor"], Value::Null);

        for (query, expect) in [
            ("host=h1", 6),
            ("host=h2", 1),
            ("service=app", 4),
            ("service=sys", 3),
            ("severity=error", 4),
            ("severity=critical", 1),
            ("class=disk_full", 3),
            ("q=no%20SPACE", 3),
            ("q=100%25", 0),
            ("from=1700000120000", 4),
            ("from=2023-11-14T22:15:20Z&to=2023-11-14T22:16:20Z", 2),
            ("host=h1&severity=warn&service=sys", 3),
            ("host=nobody", 0),
        ] {
            let (s, v) = get(&state, &format!("/api/v1/events?{query}")).await;
            assert_eq!(s, StatusCode::OK, "{query}: {v}");
            assert_eq!(ids(&v).len(), expect, "{} {query}: {v}", env.backend);
        }
        let (_, v) = get(&state, "/api/v1/events?class=disk_full").await;
        let e = &v["events"][0];
        assert_eq!(e["severity"], "error");
        assert_eq!(e["service"], "app");
        assert_eq!(e["source"], "/var/log/app.log");

        // Cursor paging: pages of 2 cover every event once, in order.
        let mut seen = Vec::new();
        let mut uri = "/api/v1/events?limit=2".to_owned();
        loop {
            let (s, v) = get(&state, &uri).await;
            assert_eq!(s, StatusCode::OK);
            seen.extend(ids(&v));
            match v["next_cursor"].as_str() {
                Some(c) => uri = format!("/api/v1/events?limit=2&cursor={c}"),
                None => break,
            }
        }
        assert_eq!(seen, all_ids);

        // Bad input is a 400 with the API's error shape.
        for bad in [
            "limit=0",
            "limit=100000",
            "cursor=zz",
            "from=yesterday",
            "severity=loud",
            "from=5&to=4",
            "colour=red",
        ] {
            let (s, v) = get(&state, &format!("/api/v1/events?{bad}")).await;
            assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {v}");
            assert_eq!(v["error"]["code"], "bad_request", "{bad}");
        }

        // Context: the event of batch 2 has lines of its own source around it, across
        // the segment boundary into batches 1 and 3.
        let (_, v) = get(&state, "/api/v1/events?class=disk_full").await;
        let middle = v["events"][1]["id"].as_i64().unwrap();
        let (s, d) = get(&state, &format!("/api/v1/events/{middle}?context=4")).await;
        assert_eq!(s, StatusCode::OK, "{d}");
        assert_eq!(d["archived"], true);
        let texts = |k: &str| -> Vec<String> {
            d[k].as_array()
                .unwrap()
                .iter()
                .map(|l| l["line"].as_str().unwrap().to_owned())
                .collect()
        };
        assert_eq!(
            texts("before"),
            [
                "info line 1.8",
                "info line 2.0",
                "info line 2.2",
                "info line 2.4"
            ]
        );
        assert_eq!(
            texts("after"),
            [
                "info line 2.6",
                "info line 2.8",
                "info line 3.0",
                "info line 3.2"
            ]
        );
        let sources: BTreeSet<String> = d["before"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["source"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(sources.len(), 1);
        let (s, _) = get(&state, "/api/v1/events/999999").await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        let (s, _) = get(&state, &format!("/api/v1/events/{middle}?context=1000")).await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
    })
    .await;
}
