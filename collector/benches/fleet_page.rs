//! The fleet page for 1,000 hosts, rendered on the server:
//! - `render_1000`: grouping, sparklines and the template from the fleet as
//!   `GET /api/v1/fleet` returns it (mixed states, 100 stores, 12-point sparklines);
//! - `get_1000_sqlite`: `GET /` through the router on a SQLite store holding 1,000 hosts
//!   with an hour of per-minute counts each (store reads + render).
//!
//! `cargo bench -p fleetlog-collector --bench fleet_page`; criterion prints the median.

// Set-up failures should stop the benchmark loudly, as in tests.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, HashMap};
use std::hint::black_box;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, header};
use criterion::{Criterion, criterion_group, criterion_main};
use fleetlog_collector::api::health::{FleetDto, HostDto, StateCounts};
use fleetlog_collector::api::{self, AppState};
use fleetlog_collector::auth::Role;
use fleetlog_collector::auth::secret::SecretStr;
use fleetlog_collector::config::{self, set_key};
use fleetlog_collector::health::State;
use fleetlog_collector::ingest::model::ModelSlot;
use fleetlog_collector::metrics::Metrics;
use fleetlog_collector::store::Store;
use fleetlog_collector::web::fleet::{FleetQuery, render_fleet};
use fleetlog_collector::web::layout::Nav;
use fleetlog_protocol::Level;
use fleetlog_protocol::messages::{Batch, BatchPayload, Entry};
use tower::ServiceExt;

const HOSTS: usize = 1000;
const TOKEN: &str = "bench-bootstrap-token";

fn fleet() -> (FleetDto, HashMap<String, Vec<f64>>) {
    let states = [
        State::Healthy,
        State::Healthy,
        State::Healthy,
        State::Degraded,
        State::Down,
        State::Silent,
    ];
    let mut rates = HashMap::new();
    let hosts = (0..HOSTS)
        .map(|i| {
            let name = format!("pos-{:04}-{:02}", i / 10, i % 10);
            rates.insert(
                name.clone(),
                (0..12)
                    .map(|j| ((i * 7 + j * 3) % 11) as f64 / 100.0)
                    .collect(),
            );
            HostDto {
                state: Some(states[i % states.len()]),
                reason: Some(format!(
                    "error rate {}.5% over 5 min, mostly payment",
                    i % 9
                )),
                since_ms: Some(1_764_000_000_000 + i as i64 * 1000),
                labels: BTreeMap::from([("store".to_owned(), format!("{:04}", i / 10))]),
                last_seen_ms: 1_764_000_000_000,
                lines_received: 1000,
                name,
            }
        })
        .collect();
    let dto = FleetDto {
        counts: StateCounts::default(),
        hosts,
        active_incidents: 3,
    };
    (dto, rates)
}

fn nav() -> Nav {
    Nav {
        user: "bench".to_owned(),
        role: Role::Admin,
        csrf: String::new(),
        active: "fleet",
    }
}

fn render_1000(c: &mut Criterion) {
    let (dto, rates) = fleet();
    let mut group = c.benchmark_group("fleet_page");
    group.bench_function("render_1000", |b| {
        b.iter(|| {
            let dto = FleetDto {
                counts: StateCounts::default(),
                hosts: dto
                    .hosts
                    .iter()
                    .map(|h| HostDto {
                        name: h.name.clone(),
                        last_seen_ms: h.last_seen_ms,
                        lines_received: h.lines_received,
                        state: h.state,
                        reason: h.reason.clone(),
                        since_ms: h.since_ms,
                        labels: h.labels.clone(),
                    })
                    .collect(),
                active_incidents: 3,
            };
            black_box(render_fleet(
                nav(),
                dto,
                FleetQuery::default(),
                &rates,
                1_764_000_100_000,
            ))
        })
    });
    group.finish();
}

fn get_1000_sqlite(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let state = rt.block_on(async {
        let url = format!("sqlite://{}/db/store.sqlite", dir.path().display());
        let store = Store::open(&url, dir.path().join("archive")).await.unwrap();
        let now = fleetlog_collector::now_ms();
        for i in 0..HOSTS {
            let entries: Vec<Entry> = (0..60)
                .map(|m| Entry {
                    ts_ms: now - 3_600_000 + m * 60_000,
                    source: 0,
                    line: if m % 10 == 0 {
                        "ERROR payment timeout".to_owned()
                    } else {
                        format!("info sale {m}")
                    },
                    level: if m % 10 == 0 {
                        Level::Error
                    } else {
                        Level::Info
                    },
                    score: 0.1,
                    ..Entry::default()
                })
                .collect();
            let payload = BatchPayload {
                sources: vec!["/var/log/pos.log".to_owned()],
                entries,
                ..BatchPayload::default()
            };
            let (compressed, raw_len) = fleetlog_protocol::codec::encode_payload(&payload).unwrap();
            let batch = Batch {
                agent_id: format!("agent-{i}"),
                seq: 1,
                priority: false,
                entry_count: payload.entries.len() as u32,
                raw_len,
                payload: compressed,
            };
            store
                .ingest(
                    &format!("pos-{:04}-{:02}", i / 10, i % 10),
                    &batch,
                    &payload,
                    now,
                )
                .await
                .unwrap();
        }
        let mut flags = toml::Table::new();
        set_key(
            &mut flags,
            "data_dir",
            dir.path().display().to_string().into(),
        );
        set_key(&mut flags, "api.rate_limit_per_second", 1_000_000.into());
        set_key(&mut flags, "api.rate_limit_burst", 1_000_000.into());
        AppState::new(
            store,
            Arc::new(Metrics::default()),
            SecretStr::new(TOKEN),
            Arc::new(config::load(None, |_| None, flags).unwrap()),
            ModelSlot::default(),
        )
    });
    let app = api::router(state);
    let mut group = c.benchmark_group("fleet_page");
    group.sample_size(20);
    group.bench_function("get_1000_sqlite", |b| {
        b.iter(|| {
            rt.block_on(async {
                let resp = app
                    .clone()
                    .oneshot(
                        Request::get("/")
                            .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
                            .body(Body::empty())
                            .unwrap(),
                    )
                    .await
                    .unwrap();
                assert!(resp.status().is_success());
                black_box(
                    axum::body::to_bytes(resp.into_body(), 1 << 26)
                        .await
                        .unwrap(),
                )
            })
        })
    });
    group.finish();
}

criterion_group!(benches, render_1000, get_1000_sqlite);
criterion_main!(benches);
