//! fleetlog agent: tails log files, classifies lines, buffers them durably in redb and
//! ships compressed batches to the collector over QUIC.
//!
//! `run` wires three tasks: the reader (`reader`: tail → classify → durable buffer),
//! the shipper (`ship::driver`: buffer → QUIC → ack → delete) and, when configured,
//! the metrics endpoint. The shipper hands models pushed by the collector to the reader's
//! classifier through `Signals::model`; the latest one is kept in the buffer across restarts.

pub mod assemble;
pub mod buffer;
pub mod check;
pub mod classify;
pub mod config;
pub mod metrics;
pub mod probe;
mod reader;
pub mod reload;
pub mod ship;
pub mod status;
pub mod tail;

use std::sync::Arc;

use anyhow::Context;
use axum::routing::get;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::buffer::Buffer;
use crate::config::AgentConfig;
use crate::metrics::Metrics;
use crate::ship::driver::{ShipConfig, Signals};

/// Milliseconds since the Unix epoch (0 if the clock is before 1970).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Runs the agent until `shutdown` turns true.
pub async fn run(config: AgentConfig, shutdown: watch::Receiver<bool>) -> anyhow::Result<()> {
    run_with_metrics(config, shutdown, Arc::new(Metrics::default())).await
}

/// [`run`] with the agent's metrics given, so that they outlive a configuration reload
/// (counters keep counting across `reload::run_reloading`'s restarts).
pub async fn run_with_metrics(
    config: AgentConfig,
    shutdown: watch::Receiver<bool>,
    metrics: Arc<Metrics>,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data dir {}", config.data_dir.display()))?;
    let token = std::fs::read_to_string(&config.token_file)
        .with_context(|| format!("reading token file {}", config.token_file.display()))?
        .trim()
        .to_owned();
    anyhow::ensure!(
        !token.is_empty(),
        "token file {} is empty",
        config.token_file.display()
    );
    let client = ship::client_config(&config.ca)?;
    let buffer_path = config.data_dir.join("buffer.redb");
    let buffer = Arc::new(
        Buffer::open(&buffer_path, config.buffer_max_bytes, config.when_full)
            .with_context(|| format!("opening buffer {}", buffer_path.display()))?
            .with_priority_reserve(config.priority_reserve_bytes),
    );
    let saved = tail::load_saved(buffer.checkpoints()?);
    let tail_config = tail::TailConfig {
        include: config.paths.clone(),
        exclude: config.exclude.clone(),
        max_line_bytes: config.max_line_bytes,
        start_at_end: config.start_at_end,
        start_at_end_globs: config.start_at_end_globs.clone(),
    };
    let tailer = tail::Tailer::new(tail_config.clone(), saved)?;
    let watcher = tail::Watcher::new(&tail_config)?;
    let signals = Arc::new(Signals::default());
    // The last model the collector pushed classifies from the first line on.
    match buffer.load_model() {
        Ok(Some((version, bytes))) => match classify::Model::from_json(version, &bytes) {
            Ok(model) => {
                info!(
                    version,
                    templates = model.baseline.templates(),
                    "Saved model loaded."
                );
                signals.model.send_replace(Some(Arc::new(model)));
            }
            Err(err) => {
                warn!(version, error = %err, "Saved model unusable; classifying without one until the collector pushes one.");
            }
        },
        Ok(None) => {}
        Err(err) => warn!(error = %err, "Reading the saved model failed; classifying without one."),
    }
    let stats = buffer.stats();
    info!(
        agent_id = %buffer.agent_id(),
        host = %config.host_name,
        collector = %config.collector,
        pending_batches = stats.pending_batches,
        buffer_bytes = stats.used_bytes,
        "Agent starting."
    );

    let mut metrics_server = None;
    if let Some(addr) = config.metrics_listen {
        let m = metrics.clone();
        let app = axum::Router::new()
            .route(
                "/metrics",
                get(move |headers: axum::http::HeaderMap| async move {
                    let accept = headers
                        .get(axum::http::header::ACCEPT)
                        .and_then(|v| v.to_str().ok());
                    let (content_type, body) =
                        fleetlog_protocol::exposition::negotiate(accept, m.render());
                    ([(axum::http::header::CONTENT_TYPE, content_type)], body)
                }),
            )
            .route("/healthz", get(|| async { "ok" }));
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding metrics_listen {addr}"))?;
        let mut sd = shutdown.clone();
        metrics_server = Some(tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = sd.changed().await;
                })
                .await;
        }));
    }

    let shipper = tokio::spawn(ship::driver::run(
        ShipConfig {
            collector: config.collector.clone(),
            rebalance_after: config.rebalance_after,
            server_name: config.server_name.clone(),
            client,
            token,
            host_name: config.host_name.clone(),
            labels: config.labels.clone(),
            heartbeat: config.heartbeat,
            max_in_flight: config.max_in_flight,
            max_in_flight_priority: config.max_in_flight_priority,
            data_dir: config.data_dir.clone(),
            log_dirs: config.paths.iter().map(|p| status::glob_dir(p)).collect(),
            config_hash: status::config_hash(&format!("{config:?}")),
        },
        buffer.clone(),
        signals.clone(),
        metrics.clone(),
        shutdown.clone(),
    ));
    let reader = reader::Reader {
        join_running: None,
        tailer,
        watcher,
        buffer,
        encoder: Some(fleetlog_protocol::codec::PayloadEncoder::new()?),
        in_flight: None,
        classifier: classify::Classifier::following(signals.model.subscribe()),
        signals,
        metrics,
        batch_max_bytes: config.batch_max_bytes,
        batch_max_wait: config.batch_max_wait,
        poll_interval: config.poll_interval,
        assemble: config.assemble,
        services: assemble::Services::new(&config.services)
            .context("compiling [[sources]] globs")?,
    };
    let result = reader.run(shutdown).await;
    let _ = shipper.await;
    // Its port is free again when `run` returns (a reload binds it anew).
    if let Some(server) = metrics_server {
        server.abort();
        let _ = server.await;
    }
    result
}
