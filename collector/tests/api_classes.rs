//! `/api/v1/classes` against a real store (SQLite and PostgreSQL): the class table's fixes are
//! listed, an admin's edit is stored with its audit row and shown on the class's error
//! patterns at once, and removing the edit restores the table's fix.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use fleetlog_collector::api::{self, AppState};
use fleetlog_collector::auth::secret::SecretStr;
use fleetlog_collector::config::{self, set_key};
use fleetlog_collector::ingest::model::ModelSlot;
use fleetlog_collector::metrics::Metrics;
use fleetlog_protocol::Level;
use serde_json::{Value, json};
use tower::ServiceExt;

use common::{Env, entry, make_batch, on_all_backends};

const TOKEN: &str = "classes-test-bootstrap-token";

async fn call(
    state: &AppState,
    method: Method,
    uri: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"));
    let body = match body {
        Some(b) => {
            req = req.header(header::CONTENT_TYPE, "application/json");
            Body::from(b.to_string())
        }
        None => Body::empty(),
    };
    let resp = api::router(state.clone())
        .oneshot(req.body(body).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn class<'a>(list: &'a Value, id: &str) -> &'a Value {
    list["classes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("class {id} missing from {list}"))
}

#[tokio::test]
async fn an_admin_edits_a_suggested_fix_and_restores_it() {
    on_all_backends(|env: Env| async move {
        let mut flags = toml::Table::new();
        let data_dir = env.archive_dir.parent().unwrap().display().to_string();
        set_key(&mut flags, "data_dir", data_dir.into());
        let state = AppState::new(
            env.store.clone(),
            Arc::new(Metrics::default()),
            SecretStr::new(TOKEN),
            Arc::new(config::load(None, |_| None, flags).unwrap()),
            ModelSlot::default(),
        );
        // A disk-full error in the last minutes, so `/patterns` (last hour) shows its class.
        let now = fleetlog_collector::now_ms();
        let (batch, payload) = make_batch(
            "agent-1",
            1,
            vec![entry(
                now - 60_000,
                0,
                "ERROR write failed: No space left on device",
                Level::Error,
            )],
        );
        env.store.ingest("h1", &batch, &payload, 1).await.unwrap();

        let (s, list) = call(&state, Method::GET, "/api/v1/classes", None).await;
        assert_eq!(s, StatusCode::OK, "{list}");
        let disk = class(&list, "disk_full");
        let table_fix = disk["default_fix"].as_str().unwrap().to_owned();
        assert!(!table_fix.is_empty());
        assert_eq!(disk["fix"], table_fix.as_str());
        assert_eq!(disk["edited"], false);
        let (_, patterns) = call(&state, Method::GET, "/api/v1/patterns", None).await;
        assert_eq!(patterns["patterns"][0]["class"], "disk_full", "{patterns}");
        assert_eq!(patterns["patterns"][0]["suggested_fix"], table_fix.as_str());

        // Edit: stored, audited, shown on the class's patterns at once.
        let edited = "Run `/usr/local/bin/rotate-now`, then call the store IT line.";
        let (s, after) = call(
            &state,
            Method::PUT,
            "/api/v1/classes/disk_full/fix",
            Some(json!({ "fix": format!("  {edited} ") })),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{after}");
        assert_eq!(after["fix"], edited);
        assert_eq!(after["default_fix"], table_fix.as_str());
        assert_eq!(after["edited"], true);
        assert!(after["edited_by"].as_str().is_some_and(|b| !b.is_empty()));
        let (_, list) = call(&state, Method::GET, "/api/v1/classes", None).await;
        assert_eq!(class(&list, "disk_full")["fix"], edited);
        assert_eq!(
            class(&list, "out_of_memory")["edited"],
            false,
            "other classes untouched"
        );
        let (_, patterns) = call(&state, Method::GET, "/api/v1/patterns", None).await;
        assert_eq!(patterns["patterns"][0]["suggested_fix"], edited);
        let (_, audit) = call(&state, Method::GET, "/api/v1/audit?action=class.", None).await;
        let rows = audit["entries"]
            .as_array()
            .unwrap_or_else(|| panic!("{audit}"));
        assert_eq!(rows.len(), 1, "{audit}");
        assert_eq!(rows[0]["action"], "class.fix.set");
        assert_eq!(rows[0]["target"], "class:disk_full");

        // Bad edits change nothing.
        for (uri, body, want) in [
            (
                "/api/v1/classes/disk_full/fix",
                json!({ "fix": "   " }),
                StatusCode::BAD_REQUEST,
            ),
            (
                "/api/v1/classes/disk_full/fix",
                json!({ "fix": "x".repeat(4001) }),
                StatusCode::BAD_REQUEST,
            ),
            (
                "/api/v1/classes/no_such_class/fix",
                json!({ "fix": "x" }),
                StatusCode::NOT_FOUND,
            ),
        ] {
            let (s, v) = call(&state, Method::PUT, uri, Some(body)).await;
            assert_eq!(s, want, "{uri}: {v}");
        }
        let (_, list) = call(&state, Method::GET, "/api/v1/classes", None).await;
        assert_eq!(class(&list, "disk_full")["fix"], edited);

        // Reset: the table's fix is back, audited too.
        let (s, after) = call(
            &state,
            Method::DELETE,
            "/api/v1/classes/disk_full/fix",
            None,
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{after}");
        assert_eq!(after["fix"], table_fix.as_str());
        assert_eq!(after["edited"], false);
        assert_eq!(after["edited_by"], Value::Null);
        let (_, patterns) = call(&state, Method::GET, "/api/v1/patterns", None).await;
        assert_eq!(patterns["patterns"][0]["suggested_fix"], table_fix.as_str());
        let (_, audit) = call(&state, Method::GET, "/api/v1/audit?action=class.", None).await;
        assert_eq!(audit["entries"].as_array().unwrap().len(), 2, "{audit}");
    })
    .await;
}
