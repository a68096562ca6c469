//! Jira automation on SQLite and PostgreSQL: the decision worker and the real outbox
//! delivering to the Jira Cloud stand-in (`fleetlog_tests::jira_double`, which checks every
//! request against Atlassian's contract). One ticket per ticket-worthy incident through
//! 429 / 503 / a timeout after a successful create / search lag; one comment per interval
//! for repeats; a regression reopens through a transition; lost local state and a second
//! replica find the existing ticket by JQL on the fingerprint label. Skips with a notice
//! when `../shared` (the contract) is absent.

// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fleetlog_collector::incidents::decide::{Change, Incident, Sample, Status};
use fleetlog_collector::jira::config::AutomationConfig;
use fleetlog_collector::jira::deliver::{self, JiraDeliver};
use fleetlog_collector::jira::{fingerprint_label, worker};
use fleetlog_collector::metrics::Metrics;
use fleetlog_collector::outbox::worker::{OutboxWorker, Registry};
use fleetlog_collector::outbox::{OutboxConfig, RetryPolicy};
use fleetlog_collector::store::Store;
use fleetlog_collector::store::automation::DecisionFilter;
use fleetlog_collector::store::incidents::IncidentBatch;
use fleetlog_protocol::Level;
use fleetlog_tests::jira_double::{DoubleConfig, Fault, JiraDouble, Op, contract_path};

use common::{Env, on_all_backends};

fn incident(
    fp: &str,
    status: Status,
    severity: Level,
    count: u64,
    hosts: u64,
    regressions: u32,
) -> Incident {
    let names: BTreeSet<String> = (0..hosts).map(|h| format!("pos-{h}")).collect();
    Incident {
        fingerprint: fp.into(),
        status,
        worst: severity,
        severity,
        class: Some("payment_terminal".into()),
        service: Some("pos".into()),
        title: format!("ERROR payment terminal offline ({fp})"),
        first_seen_ms: 1_764_000_000_000,
        last_seen_ms: 1_764_000_060_000,
        count,
        hosts: names,
        host_count: hosts,
        samples: vec![Sample {
            event_id: 1,
            host: "pos-0".into(),
            ts_ms: 1_764_000_000_000,
            line: "ERROR payment terminal offline".into(),
        }],
        window_start_ms: 0,
        window_count: 0,
        window: Default::default(),
        opened_ms: Some(1_764_000_000_000),
        resolved_ms: None,
        regressions,
    }
}

async fn put_incidents(store: &Store, incs: Vec<Incident>) {
    let now = fleetlog_collector::now_ms();
    store
        .take_lease("incidents", "test", now, 60_000)
        .await
        .unwrap()
        .unwrap();
    let batch = IncidentBatch {
        incidents: incs
            .into_iter()
            .map(|i| (i, vec![Change::Updated]))
            .collect(),
        position: 0,
    };
    assert!(
        store
            .write_incident_batch(&batch, &HashMap::new(), ("incidents", "test"), now)
            .await
            .unwrap()
    );
}

struct Rig {
    double: JiraDouble,
    cfg: AutomationConfig,
    _dir: tempfile::TempDir,
}

async fn rig(lag: Duration, settle: Duration) -> Option<Rig> {
    let contract = contract_path();
    if !contract.is_file() {
        eprintln!("SKIP: {} is absent", contract.display());
        return None;
    }
    let double = JiraDouble::start(
        DoubleConfig {
            contract,
            email: "bot@example.test".into(),
            token: "tok-jira-s3cret".into(),
            project: "OPS".into(),
            search_lag: lag,
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("jira-token");
    std::fs::write(&token_file, "tok-jira-s3cret\n").unwrap();
    let mut cfg = AutomationConfig::default();
    cfg.settings.jira.url = Some(double.url());
    cfg.settings.jira.email = Some("bot@example.test".into());
    cfg.settings.jira.api_token_file = Some(token_file);
    cfg.settings.jira.project = Some("OPS".into());
    cfg.request_timeout = Duration::from_millis(500);
    cfg.create_settle = settle;
    Some(Rig {
        double,
        cfg,
        _dir: dir,
    })
}

fn outbox(store: &Store, owner: &str, cfg: &AutomationConfig) -> OutboxWorker {
    let mut reg = Registry::default();
    reg.register(deliver::KIND, JiraDeliver::new(store.clone(), cfg.clone()));
    OutboxWorker::new(
        store.clone(),
        owner.into(),
        OutboxConfig {
            retry: RetryPolicy {
                max_attempts: 30,
                base_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_secs(2),
            },
            lease: Duration::from_secs(10),
            delivery_timeout: Duration::from_secs(5),
            concurrency: 8,
            poll_interval: Duration::from_millis(50),
        },
        reg,
        Arc::new(Metrics::default()),
    )
}

/// Decides and delivers until the outbox is empty (or `limit`), deciding at `now`.
async fn settle(
    store: &Store,
    ob: &mut OutboxWorker,
    cfg: &AutomationConfig,
    now: i64,
    limit: Duration,
) {
    let t0 = Instant::now();
    loop {
        worker::step(store, "r1", cfg, now).await.unwrap();
        ob.step().await.unwrap();
        let c = store.outbox_counts().await.unwrap();
        if c.pending == 0 {
            return;
        }
        if t0.elapsed() >= limit {
            let ds = store
                .decisions(&DecisionFilter::default(), 100)
                .await
                .unwrap();
            panic!("outbox not drained: {c:?}; decisions {ds:#?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn jira_automation_one_ticket_per_incident_through_faults() {
    on_all_backends(|env: Env| async move {
        let Some(r) = rig(Duration::from_millis(1500), Duration::from_secs(3)).await else {
            return;
        };
        let s = &env.store;
        put_incidents(
            s,
            vec![
                incident("fpcrit", Status::Open, Level::Critical, 5, 1, 0),
                // Confidence 0 (no events): below the high threshold.
                incident("fphigh", Status::Open, Level::Error, 9, 1, 0),
                incident("fpmed", Status::Open, Level::Warn, 9, 1, 0),
                incident("fppend", Status::Pending, Level::Critical, 1, 1, 0),
            ],
        )
        .await;
        // Every fault on the create: 429 with Retry-After, a 503, then a timeout after
        // Jira created the issue (search lags 1.5 s behind it).
        r.double.inject(Op::Create, Fault::Status { status: 429, retry_after_secs: Some(1) });
        r.double.inject(Op::Create, Fault::Status { status: 503, retry_after_secs: None });
        r.double.inject(Op::Create, Fault::DelayAfter(Duration::from_millis(1200)));
        r.double.inject(Op::Search, Fault::Status { status: 500, retry_after_secs: None });
        let mut ob = outbox(s, "r1", &r.cfg);
        let now = fleetlog_collector::now_ms();
        settle(s, &mut ob, &r.cfg, now, Duration::from_secs(30)).await;
        let (issues, faults, violations) = r.double.with(|d| {
            (d.with_label(&fingerprint_label("fpcrit")).len(), d.faults_served, d.violations.clone())
        });
        assert!(violations.is_empty(), "{violations:?}");
        assert_eq!(issues, 1, "exactly one ticket for the critical incident");
        assert_eq!(faults, 4);
        assert_eq!(r.double.with(|d| d.issues.len()), 1);
        let t = s.ticket("fpcrit").await.unwrap().unwrap();
        assert_eq!((t.issue_key.as_deref(), t.state.as_str()), (Some("OPS-1"), "open"));
        let ds = s.decisions(&DecisionFilter::default(), 100).await.unwrap();
        let mut summary: Vec<(String, String, String)> = ds
            .iter()
            .map(|d| (d.fingerprint.clone(), d.decision.clone(), d.outcome.clone()))
            .collect();
        summary.sort();
        assert_eq!(
            summary,
            vec![
                ("fpcrit".into(), "create".into(), "done".into()),
                ("fphigh".into(), "skip".into(), "skipped".into()),
                ("fpmed".into(), "skip".into(), "skipped".into()),
            ]
        );
        let create = ds.iter().find(|d| d.decision == "create").unwrap();
        assert_eq!(create.ticket_key.as_deref(), Some("OPS-1"));
        assert!(create.attempts >= 4, "{create:?}");
        // Deciding again changes nothing: skips are recorded once.
        worker::step(s, "r1", &r.cfg, now + 1).await.unwrap();
        assert_eq!(s.decisions(&DecisionFilter::default(), 100).await.unwrap().len(), 3);

        // Repeats (a fresh incident, a 3 s comment interval): 200 more occurrences on 2
        // more hosts within the interval → no comment; after it → exactly one comment
        // summarising them.
        let mut cfg = r.cfg.clone();
        cfg.settings.comment_interval_secs = 3;
        put_incidents(s, vec![incident("fprep", Status::Open, Level::Critical, 5, 1, 0)]).await;
        let t0 = Instant::now();
        settle(s, &mut ob, &cfg, fleetlog_collector::now_ms(), Duration::from_secs(10)).await;
        let key = s.ticket("fprep").await.unwrap().unwrap().issue_key.unwrap();
        let comments_of = |key: &str| {
            r.double.with(|d| d.issues.iter().find(|i| i.key == key).map(|i| i.comments.clone()).unwrap())
        };
        put_incidents(s, vec![incident("fprep", Status::Open, Level::Critical, 105, 2, 0)]).await;
        settle(s, &mut ob, &cfg, fleetlog_collector::now_ms(), Duration::from_secs(10)).await;
        put_incidents(s, vec![incident("fprep", Status::Open, Level::Critical, 205, 3, 0)]).await;
        settle(s, &mut ob, &cfg, fleetlog_collector::now_ms(), Duration::from_secs(10)).await;
        assert!(t0.elapsed() < Duration::from_secs(3), "too slow to test the interval");
        assert_eq!(comments_of(&key).len(), 0);
        tokio::time::sleep(Duration::from_secs(3).saturating_sub(t0.elapsed()) + Duration::from_millis(300)).await;
        settle(s, &mut ob, &cfg, fleetlog_collector::now_ms(), Duration::from_secs(10)).await;
        settle(s, &mut ob, &cfg, fleetlog_collector::now_ms(), Duration::from_secs(10)).await;
        let comment = comments_of(&key);
        assert_eq!(comment.len(), 1);
        let text = fleetlog_collector::jira::adf::plain_text(&comment[0]);
        assert!(text.contains("200 new occurrences, 2 new hosts"), "{text}");

        // A regression after the issue was closed reopens it through a transition (a 503
        // on the transition first).
        assert!(r.double.close(&key));
        put_incidents(s, vec![incident("fprep", Status::Regressed, Level::Critical, 206, 3, 1)]).await;
        r.double.inject(Op::Transition, Fault::Status { status: 503, retry_after_secs: Some(1) });
        settle(s, &mut ob, &cfg, fleetlog_collector::now_ms(), Duration::from_secs(15)).await;
        let (status, transitions, comments) = r.double.with(|d| {
            let i = d.issues.iter().find(|i| i.key == key).unwrap();
            (i.status.clone(), i.transitions_done.clone(), i.comments.len())
        });
        assert_eq!((status.as_str(), transitions), ("To Do", vec!["Reopen".to_owned()]));
        assert_eq!(comments, 2);
        let ds = s.decisions(&DecisionFilter::default(), 100).await.unwrap();
        let lost = ds.iter().filter(|d| d.outcome != "done" && d.outcome != "skipped").count();
        let counts: Vec<(String, usize)> = ["create", "comment", "reopen", "skip"]
            .iter()
            .map(|k| (k.to_string(), ds.iter().filter(|d| d.decision == *k).count()))
            .collect();
        eprintln!(
            "jira_automation[{}]: tickets {} duplicates {} decisions {:?} not done {} faults served {}",
            env.backend,
            r.double.with(|d| d.issues.len()),
            r.double.with(|d| d.with_label(&fingerprint_label("fpcrit")).len()
                + d.with_label(&fingerprint_label("fprep")).len())
                - 2,
            counts,
            lost,
            r.double.with(|d| d.faults_served)
        );
        assert_eq!(lost, 0);
        assert!(r.double.with(|d| d.violations.is_empty()));
    })
    .await;
}

#[tokio::test]
async fn jira_automation_lost_state_and_a_second_replica_find_the_ticket() {
    on_all_backends(|env: Env| async move {
        let Some(r) = rig(Duration::from_millis(800), Duration::from_secs(2)).await else {
            return;
        };
        // Replica 1 creates the ticket.
        put_incidents(
            &env.store,
            vec![incident("fplost", Status::Open, Level::Critical, 3, 1, 0)],
        )
        .await;
        let mut ob = outbox(&env.store, "r1", &r.cfg);
        let now = fleetlog_collector::now_ms();
        settle(&env.store, &mut ob, &r.cfg, now, Duration::from_secs(10)).await;
        assert_eq!(r.double.with(|d| d.issues.len()), 1);
        // A collector whose local state is lost (a fresh store) with the same incident:
        // it decides to create, and the duplicate check finds the existing issue by JQL.
        let dir = tempfile::tempdir().unwrap();
        let fresh = Store::open(
            &format!("sqlite://{}/fresh.sqlite", dir.path().display()),
            dir.path().join("archive"),
        )
        .await
        .unwrap();
        put_incidents(
            &fresh,
            vec![incident("fplost", Status::Open, Level::Critical, 3, 1, 0)],
        )
        .await;
        tokio::time::sleep(Duration::from_millis(900)).await;
        let mut ob2 = outbox(&fresh, "r2", &r.cfg);
        settle(&fresh, &mut ob2, &r.cfg, now, Duration::from_secs(10)).await;
        assert_eq!(r.double.with(|d| d.issues.len()), 1, "no second ticket");
        let t = fresh.ticket("fplost").await.unwrap().unwrap();
        assert_eq!(t.issue_key.as_deref(), Some("OPS-1"));
        // Two replicas on one store deciding at once: one create decision.
        put_incidents(
            &env.store,
            vec![incident("fptwo", Status::Open, Level::Critical, 3, 1, 0)],
        )
        .await;
        let other = env.replica().await;
        let (a, b) = tokio::join!(
            worker::step(&env.store, "r1", &r.cfg, now + 10),
            worker::step(&other, "r2", &r.cfg, now + 10)
        );
        let written = a.unwrap().unwrap_or(0) + b.unwrap().unwrap_or(0);
        assert_eq!(written, 1);
        settle(
            &env.store,
            &mut ob,
            &r.cfg,
            now + 20,
            Duration::from_secs(10),
        )
        .await;
        assert_eq!(
            r.double
                .with(|d| d.with_label(&fingerprint_label("fptwo")).len()),
            1
        );
        assert!(r.double.with(|d| d.violations.is_empty()));
    })
    .await;
}

#[tokio::test]
async fn jira_automation_without_the_settle_guard_a_lost_create_answer_duplicates() {
    // The guard is what prevents the duplicate: with `jira.create_settle_secs = 0` and search
    // lagging, a timeout after a successful create makes a second ticket. (This shows the
    // fault injection bites; production keeps the default of 60 s.)
    on_all_backends(|env: Env| async move {
        let Some(r) = rig(Duration::from_secs(5), Duration::ZERO).await else {
            return;
        };
        put_incidents(
            &env.store,
            vec![incident("fpdup", Status::Open, Level::Critical, 3, 1, 0)],
        )
        .await;
        r.double
            .inject(Op::Create, Fault::DelayAfter(Duration::from_millis(1200)));
        let mut ob = outbox(&env.store, "r1", &r.cfg);
        settle(
            &env.store,
            &mut ob,
            &r.cfg,
            fleetlog_collector::now_ms(),
            Duration::from_secs(10),
        )
        .await;
        assert_eq!(
            r.double
                .with(|d| d.with_label(&fingerprint_label("fpdup")).len()),
            2
        );
    })
    .await;
}

const API_TOKEN: &str = "jira-api-test-bootstrap-token";

async fn call(
    state: &fleetlog_collector::api::AppState,
    method: &str,
    uri: &str,
    body: Option<serde_json::Value>,
) -> (axum::http::StatusCode, serde_json::Value) {
    use tower::ServiceExt;
    let req = axum::http::Request::builder()
        .method(method)
        .uri(uri)
        .header("authorization", format!("Bearer {API_TOKEN}"))
        .header("content-type", "application/json")
        .body(axum::body::Body::from(
            body.map(|b| b.to_string()).unwrap_or_default(),
        ))
        .unwrap();
    let resp = fleetlog_collector::api::router(state.clone())
        .oneshot(req)
        .await
        .unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

#[tokio::test]
async fn jira_automation_api_shows_tickets_decisions_status_and_settings() {
    use fleetlog_collector::config::{self, set_key};
    on_all_backends(|env: Env| async move {
        let Some(r) = rig(Duration::ZERO, Duration::from_secs(2)).await else {
            return;
        };
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
        let s = &r.cfg.settings.jira;
        set_key(&mut flags, "jira.url", s.url.clone().unwrap().into());
        set_key(&mut flags, "jira.email", s.email.clone().unwrap().into());
        set_key(
            &mut flags,
            "jira.api_token_file",
            s.api_token_file
                .clone()
                .unwrap()
                .display()
                .to_string()
                .into(),
        );
        set_key(&mut flags, "jira.project", "OPS".into());
        set_key(
            &mut flags,
            "jira.dashboard_url",
            "https://fleet.example".into(),
        );
        let cfg = config::load(None, |_| None, flags).unwrap();
        let state = fleetlog_collector::api::AppState::new(
            env.store.clone(),
            Arc::new(Metrics::default()),
            fleetlog_collector::auth::secret::SecretStr::new(API_TOKEN),
            Arc::new(cfg.clone()),
            fleetlog_collector::ingest::model::ModelSlot::default(),
        );
        put_incidents(
            &env.store,
            vec![incident("fpapi", Status::Open, Level::Critical, 3, 2, 0)],
        )
        .await;
        let mut ob = outbox(&env.store, "r1", &cfg.automation);
        settle(
            &env.store,
            &mut ob,
            &cfg.automation,
            fleetlog_collector::now_ms(),
            Duration::from_secs(10),
        )
        .await;
        // The description links the incident on the dashboard and names the hosts.
        let desc = r
            .double
            .with(|d| fleetlog_collector::jira::adf::plain_text(&d.issues[0].description));
        assert!(
            desc.contains("https://fleet.example/incidents/") && desc.contains("pos-0, pos-1"),
            "{desc}"
        );
        assert_eq!(
            r.double.with(|d| d.issues[0].priority.clone()),
            Some("Highest".into())
        );

        let (st, v) = call(&state, "GET", "/api/v1/tickets", None).await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["tickets"][0]["key"], "OPS-1");
        assert_eq!(
            v["tickets"][0]["url"],
            format!("{}/browse/OPS-1", r.double.url())
        );
        let (st, v) = call(
            &state,
            "GET",
            "/api/v1/automation/decisions?decision=create",
            None,
        )
        .await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["decisions"][0]["outcome"], "done");
        assert_eq!(v["decisions"][0]["ticket_key"], "OPS-1");
        assert!(v["decisions"][0]["latency_ms"].as_i64().unwrap() >= 0);
        let (st, v) = call(&state, "GET", "/api/v1/jira/status", None).await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(
            (v["configured"].as_bool(), v["test"]["ok"].as_bool()),
            (Some(true), Some(true))
        );
        assert_eq!(v["test"]["account"], "fleetlog bot");
        assert!(v["last_ok_ms"].is_i64());

        let (st, v) = call(&state, "PUT", "/api/v1/automation", Some(serde_json::json!({
            "enabled": false,
            "thresholds": {"critical": 0.0, "high": 0.6, "medium": null, "low": null, "info": null},
            "comment_interval_secs": 600,
        }))).await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["settings"]["thresholds"]["high"], 0.6);
        assert!(!v.to_string().contains("tok-jira-s3cret"));
        let (st, _) = call(
            &state,
            "PUT",
            "/api/v1/automation",
            Some(serde_json::json!({
                "thresholds": {"critical": 1.5}
            })),
        )
        .await;
        assert_eq!(st, 400);
        let (_, v) = call(&state, "GET", "/api/v1/automation", None).await;
        assert_eq!(
            (
                v["settings"]["enabled"].as_bool(),
                v["settings"]["comment_interval_secs"].as_u64()
            ),
            (Some(false), Some(600))
        );
        // Off: a new critical incident gets a recorded skip, no ticket.
        put_incidents(
            &env.store,
            vec![incident("fpoff", Status::Open, Level::Critical, 3, 1, 0)],
        )
        .await;
        settle(
            &env.store,
            &mut ob,
            &cfg.automation,
            fleetlog_collector::now_ms(),
            Duration::from_secs(10),
        )
        .await;
        let (_, v) = call(
            &state,
            "GET",
            "/api/v1/automation/decisions?decision=skip",
            None,
        )
        .await;
        assert_eq!(v["decisions"][0]["reason_code"], "automation_off");
        assert_eq!(r.double.with(|d| d.issues.len()), 1);
        let (_, v) = call(&state, "GET", "/api/v1/audit?action=automation.", None).await;
        assert_eq!(v["entries"].as_array().map(Vec::len), Some(1), "{v}");
    })
    .await;
}
