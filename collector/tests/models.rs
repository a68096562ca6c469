//! The model registry and training jobs against a real store (SQLite and PostgreSQL): models
//! are never overwritten, activation and rollback are audited and followed by a second
//! replica through the store, agents are counted by the model their heartbeat names, and
//! training jobs (upload, window) end in a new inactive model, an error, or a cancel,
//! through the HTTP API.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use fleetlog_collector::api::{self, AppState};
use fleetlog_collector::auth::secret::SecretStr;
use fleetlog_collector::config::{self, set_key};
use fleetlog_collector::ingest::model::{ModelSlot, content_hash};
use fleetlog_collector::metrics::Metrics;
use fleetlog_collector::store::audit::AuditEntry;
use fleetlog_collector::store::models::{ModelSource, NewModel};
use fleetlog_collector::store::training_jobs::JobKind;
use fleetlog_collector::training::job::{JobEvent, JobState};
use fleetlog_collector::training::registry;
use fleetlog_lines::baseline::Baseline;
use fleetlog_protocol::Level;
use serde_json::{Value, json};
use tower::ServiceExt;

use common::{Env, entry, make_batch, on_all_backends};

const TOKEN: &str = "models-test-bootstrap-token";

fn admin(action: &'static str, target: &str) -> AuditEntry {
    AuditEntry {
        actor: "alice".into(),
        actor_role: "admin".into(),
        action,
        target: target.into(),
        before: None,
        after: None,
        client_addr: None,
    }
}

fn model_json(words: &[&str]) -> Vec<u8> {
    let lines: Vec<String> = words.iter().map(|w| format!("{w} 1 done")).collect();
    let b = Baseline::train(lines.iter().map(|l| (l.as_str(), None)));
    serde_json::to_vec(&b).unwrap()
}

fn new_model(bytes: Vec<u8>) -> NewModel {
    NewModel {
        content_hash: content_hash(&bytes),
        bytes,
        source: ModelSource::Upload,
        source_detail: "a.log".into(),
        created_by: "alice".into(),
        templates: 1,
        summary: json!({"lines": 1}),
        job_id: None,
    }
}

#[tokio::test]
async fn models_are_versions_activation_is_audited_and_replicas_follow() {
    on_all_backends(|env: Env| async move {
        let store = &env.store;
        let bytes = model_json(&["login", "logout"]);
        let m1 = store
            .add_model(&new_model(bytes.clone()), admin("model.create", "m"), 1)
            .await
            .unwrap();
        // The same content again is a new version, never an overwrite.
        let m2 = store
            .add_model(&new_model(bytes.clone()), admin("model.create", "m"), 2)
            .await
            .unwrap();
        assert!(m2.id > m1.id);
        assert!(!m1.active && !m2.active);
        assert_eq!(store.model_bytes(m1.id).await.unwrap(), bytes);
        assert_eq!(m1.size_bytes, bytes.len() as u64);
        assert_eq!(store.active_model().await.unwrap(), None);

        let replica = env.replica().await;
        let follower = ModelSlot::default();
        assert!(!registry::sync(&replica, &follower).await.unwrap());

        let other = model_json(&["paid", "refunded", "voided"]);
        let m3 = store
            .add_model(&new_model(other.clone()), admin("model.create", "m"), 3)
            .await
            .unwrap();
        let a = store
            .activate_model(m3.id, admin("model.activate", "model:3"), 4)
            .await
            .unwrap();
        assert!(a.active);
        assert_eq!(
            store.active_model().await.unwrap(),
            Some((m3.id, content_hash(&other)))
        );
        // The other replica sees the activation through the store.
        assert!(registry::sync(&replica, &follower).await.unwrap());
        assert_eq!(follower.get().unwrap().version, content_hash(&other));
        assert_eq!(follower.get().unwrap().registry_id, Some(m3.id));
        assert!(!registry::sync(&replica, &follower).await.unwrap());

        // Rollback: an older version becomes the one active model.
        store
            .activate_model(m1.id, admin("model.activate", "model:1"), 5)
            .await
            .unwrap();
        let page = store.models(None, 10).await.unwrap();
        assert_eq!(page.iter().filter(|m| m.active).count(), 1);
        assert!(page.iter().find(|m| m.id == m1.id).unwrap().active);
        assert!(registry::sync(&replica, &follower).await.unwrap());
        assert_eq!(follower.get().unwrap().version, content_hash(&bytes));
        assert!(matches!(
            store
                .activate_model(987_654, admin("model.activate", "x"), 6)
                .await,
            Err(fleetlog_collector::store::StoreError::NotFound(_))
        ));
        // Paging: newest first.
        let first = store.models(None, 2).await.unwrap();
        assert_eq!(first[0].id, m3.id);
        let rest = store.models(Some(first[1].id), 2).await.unwrap();
        assert_eq!(rest[0].id, m1.id);

        let audit = store.audit_page(&Default::default(), 100).await.unwrap();
        let activations = audit
            .iter()
            .filter(|r| r.action == "model.activate")
            .count();
        assert_eq!(activations, 2);

        // Agents are counted by the model their latest heartbeat names.
        let v = content_hash(&bytes);
        for (agent, model) in [("a1", Some(v)), ("a2", Some(v)), ("a3", None)] {
            let status = json!({ "ts_ms": 10, "model_version": model });
            store
                .record_heartbeat(agent, "h", 10, &status, 1000)
                .await
                .unwrap();
        }
        let counts = store.agents_per_model(500).await.unwrap();
        assert_eq!(counts.get(&v), Some(&2));
        assert!(store.agents_per_model(2000).await.unwrap().is_empty());
    })
    .await;
}

#[tokio::test]
async fn job_states_follow_the_transition_table() {
    on_all_backends(|env: Env| async move {
        let store = &env.store;
        let spec = json!({"files": []});
        // Cancelled while queued: never runs.
        let j = store
            .create_training_job(JobKind::Upload, &spec, 10, admin("training.upload", "t"), 1)
            .await
            .unwrap();
        assert_eq!(j.state, JobState::Queued);
        let c = store
            .cancel_training_job(j.id, admin("training.cancel", "t"), 2)
            .await
            .unwrap();
        assert_eq!(c.state, JobState::Cancelled);
        assert_eq!(store.start_training_job(j.id, 3).await.unwrap(), None);
        assert!(
            store
                .cancel_training_job(j.id, admin("training.cancel", "t"), 2)
                .await
                .is_err(),
            "an ended job cannot be cancelled"
        );

        // Cancelled while running: the flag is seen, the finish writes no model.
        let j = store
            .create_training_job(JobKind::Upload, &spec, 10, admin("training.upload", "t"), 1)
            .await
            .unwrap();
        assert_eq!(
            store.start_training_job(j.id, 2).await.unwrap(),
            Some(JobState::Running)
        );
        assert!(!store.training_job_progress(j.id, 5, 3, 3).await.unwrap());
        let c = store
            .cancel_training_job(j.id, admin("training.cancel", "t"), 4)
            .await
            .unwrap();
        assert_eq!((c.state, c.cancel_requested), (JobState::Running, true));
        assert!(store.training_job_progress(j.id, 6, 4, 5).await.unwrap());
        let (state, model) = store
            .finish_training_job(j.id, &new_model(model_json(&["a"])), &json!([]), 6)
            .await
            .unwrap();
        assert_eq!((state, model), (JobState::Cancelled, None));
        assert!(store.models(None, 10).await.unwrap().is_empty());

        // Failed.
        let j = store
            .create_training_job(JobKind::Window, &spec, 0, admin("training.window", "t"), 1)
            .await
            .unwrap();
        store.start_training_job(j.id, 2).await.unwrap();
        let s = store
            .end_training_job(j.id, JobEvent::Fail, Some("nothing"), &json!([]), 3)
            .await
            .unwrap();
        assert_eq!(s, JobState::Failed);
        assert_eq!(
            store.training_job(j.id).await.unwrap().error.as_deref(),
            Some("nothing")
        );

        // Succeeded: one new inactive model, linked both ways.
        let j = store
            .create_training_job(JobKind::Upload, &spec, 10, admin("training.upload", "t"), 1)
            .await
            .unwrap();
        store.start_training_job(j.id, 2).await.unwrap();
        let mut m = new_model(model_json(&["b"]));
        m.job_id = Some(j.id);
        let (state, model) = store
            .finish_training_job(j.id, &m, &json!([{"name": "a.log"}]), 3)
            .await
            .unwrap();
        assert_eq!(state, JobState::Succeeded);
        let model = store.model(model.unwrap()).await.unwrap();
        assert_eq!((model.job_id, model.active), (Some(j.id), false));
        assert_eq!(
            store.training_job(j.id).await.unwrap().model_id,
            Some(model.id)
        );

        // A job left running by a stopped collector is failed as abandoned.
        let j = store
            .create_training_job(JobKind::Upload, &spec, 10, admin("training.upload", "t"), 1)
            .await
            .unwrap();
        assert_eq!(
            store.fail_abandoned_training_jobs(100, 200).await.unwrap(),
            1
        );
        let j = store.training_job(j.id).await.unwrap();
        assert_eq!(j.state, JobState::Failed);
        assert!(j.error.unwrap().contains("abandoned"));
        let page = store.training_jobs(None, 2).await.unwrap();
        assert_eq!(page.len(), 2);
        assert!(page[0].id > page[1].id);
    })
    .await;
}

fn app_state(env: &Env) -> AppState {
    let mut flags = toml::Table::new();
    let data_dir = env.archive_dir.parent().unwrap().display().to_string();
    set_key(&mut flags, "data_dir", data_dir.into());
    set_key(&mut flags, "training.max_upload_bytes", 100_000i64.into());
    AppState::new(
        env.store.clone(),
        Arc::new(Metrics::default()),
        SecretStr::new(TOKEN),
        Arc::new(config::load(None, |_| None, flags).unwrap()),
        ModelSlot::default(),
    )
}

async fn call(
    state: &AppState,
    method: Method,
    uri: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> (StatusCode, Value) {
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"));
    if let Some(ct) = content_type {
        req = req.header(header::CONTENT_TYPE, ct);
    }
    let resp = api::router(state.clone())
        .oneshot(req.body(Body::from(body)).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 22)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// Polls a job until it ends.
async fn wait_job(state: &AppState, id: i64) -> Value {
    for _ in 0..200 {
        let (s, job) = call(
            state,
            Method::GET,
            &format!("/api/v1/training/jobs/{id}"),
            None,
            Vec::new(),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{job}");
        if !matches!(job["state"].as_str(), Some("queued" | "running")) {
            return job;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("job {id} did not end");
}

fn gzip(text: &str) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(text.as_bytes()).unwrap();
    enc.finish().unwrap()
}

fn healthy_log(n: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                "2026-11-28 10:00:00 INFO register: sale {i} completed in {}ms\n",
                i % 97
            )
        })
        .collect()
}

#[tokio::test]
async fn uploads_and_windows_train_models_and_bad_input_never_becomes_one() {
    on_all_backends(|env: Env| async move {
        let state = app_state(&env);

        // Raw gzip body → job → a new inactive model.
        let (s, job) = call(
            &state,
            Method::POST,
            "/api/v1/training/uploads?name=register.log.gz",
            Some("application/gzip"),
            gzip(&healthy_log(500)),
        )
        .await;
        assert_eq!(s, StatusCode::ACCEPTED, "{job}");
        let job = wait_job(&state, job["id"].as_i64().unwrap()).await;
        assert_eq!(job["state"], "succeeded", "{job}");
        assert_eq!(job["percent"], 100);
        assert_eq!(job["files"][0]["encoding"], "gzip");
        assert_eq!(job["files"][0]["lines"], 500);
        let model_id = job["model_id"].as_i64().unwrap();
        let (_, model) = call(
            &state,
            Method::GET,
            &format!("/api/v1/models/{model_id}"),
            None,
            Vec::new(),
        )
        .await;
        assert_eq!(model["source"], "upload");
        assert_eq!(model["active"], false);
        assert!(model["templates"].as_u64().unwrap() >= 1, "{model}");

        // Multipart: one good file, one corrupt gzip reported, the model made from the good.
        let mut bad = gzip(&healthy_log(2000));
        let half = bad.len() / 2;
        bad.truncate(half);
        let boundary = "XyZfleetlogBoundary";
        let mut body = Vec::new();
        for (name, bytes) in [("good.log", healthy_log(50).into_bytes()), ("bad.log.gz", bad.clone())] {
            write!(
                body,
                "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .unwrap();
            body.extend_from_slice(&bytes);
            body.extend_from_slice(b"\r\n");
        }
        write!(body, "--{boundary}--\r\n").unwrap();
        let (s, job) = call(
            &state,
            Method::POST,
            "/api/v1/training/uploads",
            Some(&format!("multipart/form-data; boundary={boundary}")),
            body,
        )
        .await;
        assert_eq!(s, StatusCode::ACCEPTED, "{job}");
        let job = wait_job(&state, job["id"].as_i64().unwrap()).await;
        assert_eq!(job["state"], "succeeded", "{job}");
        assert_eq!(job["files"][0]["error"], Value::Null);
        let err = job["files"][1]["error"].as_str().unwrap();
        assert!(err.contains("corrupt gzip"), "{err}");

        // Only a corrupt gzip: the job fails and no model is made.
        let before = env.store.models(None, 100).await.unwrap().len();
        let (s, job) = call(
            &state,
            Method::POST,
            "/api/v1/training/uploads?name=bad.gz",
            Some("application/octet-stream"),
            bad,
        )
        .await;
        assert_eq!(s, StatusCode::ACCEPTED, "{job}");
        let job = wait_job(&state, job["id"].as_i64().unwrap()).await;
        assert_eq!(job["state"], "failed", "{job}");
        assert!(job["error"].as_str().unwrap().contains("no usable file"), "{job}");
        assert_eq!(env.store.models(None, 100).await.unwrap().len(), before);

        // Over the size limit: 413; empty: 400; never 500.
        let (s, _) = call(
            &state,
            Method::POST,
            "/api/v1/training/uploads",
            Some("text/plain"),
            vec![b'a'; 100_001],
        )
        .await;
        assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
        let (s, _) = call(
            &state,
            Method::POST,
            "/api/v1/training/uploads",
            None,
            Vec::new(),
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST);

        // A window of a host's archived lines.
        let now = fleetlog_collector::now_ms();
        let entries = (0..40)
            .map(|i| entry(now - 60_000 + i, 0, &format!("INFO order {i} shipped"), Level::Info))
            .collect();
        let (batch, payload) = make_batch("agent-w", 1, entries);
        env.store.ingest("pos-7", &batch, &payload, now).await.unwrap();
        let (s, job) = call(
            &state,
            Method::POST,
            "/api/v1/training/windows",
            Some("application/json"),
            json!({"host": "pos-7", "service": "app", "from": (now - 120_000).to_string(), "to": now.to_string()})
                .to_string()
                .into_bytes(),
        )
        .await;
        assert_eq!(s, StatusCode::ACCEPTED, "{job}");
        let job = wait_job(&state, job["id"].as_i64().unwrap()).await;
        assert_eq!(job["state"], "succeeded", "{job}");
        assert_eq!(job["lines_read"], 40);
        let (_, model) = call(
            &state,
            Method::GET,
            &format!("/api/v1/models/{}", job["model_id"]),
            None,
            Vec::new(),
        )
        .await;
        assert_eq!(model["source"], "window", "{model}");
        // An empty window: failed, no model.
        let (_, job) = call(
            &state,
            Method::POST,
            "/api/v1/training/windows",
            Some("application/json"),
            json!({"host": "pos-7", "from": "2020-01-01T00:00:00Z", "to": "2020-01-02T00:00:00Z"})
                .to_string()
                .into_bytes(),
        )
        .await;
        let job = wait_job(&state, job["id"].as_i64().unwrap()).await;
        assert_eq!(job["state"], "failed", "{job}");
        let (s, _) = call(
            &state,
            Method::POST,
            "/api/v1/training/windows",
            Some("application/json"),
            json!({"host": "pos-7", "from": "2020-01-02T00:00:00Z", "to": "2020-01-01T00:00:00Z"})
                .to_string()
                .into_bytes(),
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST);

        // Activation through the API sets the model pushed to agents; rollback too.
        let (s, a) = call(
            &state,
            Method::POST,
            &format!("/api/v1/models/{model_id}/activate"),
            None,
            Vec::new(),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{a}");
        assert_eq!(a["active"], true);
        assert_eq!(state.model.get().unwrap().registry_id, Some(model_id));
        let (_, list) = call(&state, Method::GET, "/api/v1/models", None, Vec::new()).await;
        assert_eq!(list["active_id"], model_id);
        let (s, _) = call(
            &state,
            Method::POST,
            "/api/v1/models/987654/activate",
            None,
            Vec::new(),
        )
        .await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        let (_, jobs) = call(&state, Method::GET, "/api/v1/training/jobs?limit=2", None, Vec::new()).await;
        assert_eq!(jobs["jobs"].as_array().unwrap().len(), 2);
        assert!(jobs["next_cursor"].is_string());
    })
    .await;
}
