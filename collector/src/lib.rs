//! fleetlog collector: the hub. QUIC ingest into a segment archive indexed in SQL,
//! and the HTTP API over the same store.
//!
//! `run` starts the ingest server (`ingest`), the HTTP server (`api::router`) and the
//! retention task, all over one `store::Store`. `usercli` is the `user` subcommand.

pub mod alerts;
pub mod analyze;
pub mod api;
pub mod auth;
pub mod config;
pub mod health;
pub mod incidents;
pub mod ingest;
pub mod jira;
pub mod mcp;
pub mod metrics;
pub mod notify;
pub mod outbox;
pub mod probe;
pub mod s3;
pub mod store;
pub mod stream;
pub mod tls;
pub mod training;
pub mod usercli;
pub mod web;

use std::sync::Arc;

use anyhow::Context;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::config::CollectorConfig;
use crate::metrics::Metrics;
use crate::store::Store;

/// Milliseconds since the Unix epoch (0 if the clock is before 1970).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// What `prepare` found or created, so the binary can tell the operator.
#[derive(Debug)]
pub struct Startup {
    pub creds: tls::Credentials,
    pub store: Store,
    /// The baseline model pushed to agents (`model` key), if configured or present.
    pub model: Option<Arc<ingest::model::PushModel>>,
}

/// Creates the data dir, loads or creates credentials and opens the store.
pub async fn prepare(config: &CollectorConfig) -> anyhow::Result<Startup> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data dir {}", config.data_dir.display()))?;
    // Checked before anything else starts: a corrupt configured model fails start-up.
    let configured = match config.model_path() {
        Some(path) => {
            let m = ingest::model::PushModel::load(&path)
                .with_context(|| format!("config key `model` ({})", path.display()))?;
            Some((path, m))
        }
        None => None,
    };
    let creds = tls::load_or_create(&config.data_dir, &config.tls)?;
    let store = Store::open_with(
        &config.store_url,
        config.data_dir.join("archive"),
        config.store,
    )
    .await
    .with_context(|| "opening the store".to_string())?;
    // The configured file becomes a registry version (source `file`) unless its content is
    // there; it is activated only when no model is active yet.
    if let Some((path, m)) = &configured {
        let imported = training::registry::import_file(&store, path, None, false)
            .await
            .with_context(|| format!("config key `model` ({})", path.display()))?;
        info!(path = %path.display(), version = m.version, templates = m.templates, model = imported.id, added = imported.added, activated = imported.activated, "Baseline model file in the registry.");
    }
    // Uploads live in memory: a job left queued or running by a stopped collector is failed
    // (with SQLite there is one process, so every such job is this one's).
    let now = now_ms();
    let stale_before = if config.store_url.starts_with("sqlite") {
        now
    } else {
        now - training::runner::ABANDONED_AFTER_MS
    };
    match store.fail_abandoned_training_jobs(stale_before, now).await {
        Ok(0) => {}
        Ok(n) => warn!(
            jobs = n,
            "Training jobs of a stopped collector marked failed (abandoned)."
        ),
        Err(err) => warn!(error = %err, "Looking for abandoned training jobs failed."),
    }
    let model = training::registry::load_active(&store)
        .await
        .context("loading the active model")?;
    if let Some(m) = &model {
        info!(model = ?m.registry_id, version = m.version, templates = m.templates, "Active model loaded; pushed to agents on connect and on activation.");
    }
    Ok(Startup {
        creds,
        store,
        model,
    })
}

/// A collector with its sockets bound, ready to serve.
pub struct Bound {
    config: CollectorConfig,
    store: Store,
    creds: tls::Credentials,
    endpoint: quinn::Endpoint,
    listener: tokio::net::TcpListener,
    model: Option<Arc<ingest::model::PushModel>>,
}

impl Bound {
    /// Binds the QUIC and HTTP sockets (port 0 picks a free port).
    pub async fn bind(config: CollectorConfig, startup: Startup) -> anyhow::Result<Bound> {
        let Startup {
            creds,
            store,
            model,
        } = startup;
        let mut server_config = tls::server_config(&creds)?;
        ingest::limits::apply(&mut server_config, &config.ingest);
        let socket = std::net::UdpSocket::bind(config.quic_listen)
            .with_context(|| format!("binding QUIC on {}", config.quic_listen))?;
        let endpoint = quinn::Endpoint::new(
            tls::endpoint_config(&creds),
            Some(server_config),
            socket,
            Arc::new(quinn::TokioRuntime),
        )
        .with_context(|| format!("starting QUIC on {}", config.quic_listen))?;
        let listener = tokio::net::TcpListener::bind(config.http_listen)
            .await
            .with_context(|| format!("binding HTTP on {}", config.http_listen))?;
        Ok(Bound {
            config,
            store,
            creds,
            endpoint,
            listener,
            model,
        })
    }

    pub fn quic_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.endpoint.local_addr()
    }

    pub fn http_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` turns true.
    pub async fn serve(self, shutdown: watch::Receiver<bool>) -> anyhow::Result<()> {
        let Bound {
            config,
            store,
            creds,
            endpoint,
            listener,
            model,
        } = self;
        let metrics = Arc::new(Metrics::default());
        info!(quic = ?endpoint.local_addr().ok(), http = ?listener.local_addr().ok(), "Collector listening.");
        let model = ingest::model::ModelSlot::new(model);
        // Agent credentials: the key every replica derives them from, and the enrollments
        // as of now (read before the first agent is admitted), then followed.
        let credential_key = ingest::credentials::CredentialKey::new(
            &store
                .shared_secret(ingest::credentials::KEY_NAME, now_ms())
                .await
                .context("reading the agent credential key")?,
        );
        let agents = ingest::credentials::AgentBook::default();
        agents.replace(
            store
                .agent_enrollments()
                .await
                .context("reading agent enrollments")?
                .into_iter()
                .map(|r| {
                    let auth = r.auth();
                    (r.agent_id, auth)
                })
                .collect(),
        );
        let agents_task = tokio::spawn(agents.clone().follow(
            store.clone(),
            config.ingest.credential_refresh,
            shutdown.clone(),
        ));
        let ingest = ingest::Ingest {
            store: store.clone(),
            metrics: metrics.clone(),
            agent_token: auth::secret::SecretStr::new(creds.agent_token.as_str()),
            credential_key,
            agents: agents.clone(),
            max_batch_bytes: config.max_batch_bytes,
            model: model.clone(),
            limits: config.ingest.clone(),
        };
        let ingest_task = tokio::spawn(ingest.serve(endpoint, shutdown.clone()));
        // Workers that act once across replicas take a lease under this replica's name.
        let replica = auth::secret::random_hex(8);
        let health_task = tokio::spawn(health::worker::run(
            store.clone(),
            replica.clone(),
            config.health,
            config.intervals.health,
            shutdown.clone(),
        ));
        let alerts_task = tokio::spawn(alerts::worker::run(
            store.clone(),
            replica.clone(),
            config.alerts.clone(),
            shutdown.clone(),
        ));
        // Jira automation: decisions under the `jira` lease; their Jira calls go through the
        // outbox (kind `jira`).
        let jira_task = tokio::spawn(jira::worker::run(
            store.clone(),
            replica.clone(),
            config.automation.clone(),
            shutdown.clone(),
        ));
        // Every side effect is delivered from the outbox; each kind registers its deliverer.
        let mut deliverers = outbox::worker::Registry::default();
        notify::register(&mut deliverers, &store).context("building the HTTP client")?;
        deliverers.register(
            jira::deliver::KIND,
            jira::deliver::JiraDeliver::new(store.clone(), config.automation.clone()),
        );
        let outbox_task = tokio::spawn(
            outbox::worker::OutboxWorker::new(
                store.clone(),
                replica.clone(),
                config.outbox,
                deliverers,
                metrics.clone(),
            )
            .run(shutdown.clone()),
        );
        // Activations made on another replica reach this one's agents through the store.
        let models_task = tokio::spawn(training::registry::follow(
            store.clone(),
            model.clone(),
            metrics.clone(),
            config.training.poll_interval,
            shutdown.clone(),
        ));
        // S3 scans under the `s3` lease; SQS polling (when configured) on every replica.
        let s3_config = Arc::new(config.s3.clone());
        let s3_task = tokio::spawn(
            s3::worker::ScanWorker {
                store: store.clone(),
                replica: replica.clone(),
                config: s3_config.clone(),
                metrics: metrics.clone(),
            }
            .run(shutdown.clone()),
        );
        let sqs_task = tokio::spawn(s3::events::poll_sqs(
            store.clone(),
            s3_config,
            metrics.clone(),
            shutdown.clone(),
        ));
        let incidents_task = tokio::spawn(incidents::worker::run(
            store.clone(),
            replica,
            config.incidents,
            config.intervals.incidents,
            shutdown.clone(),
        ));
        let retention_task = tokio::spawn(retention_loop(
            store.clone(),
            metrics.clone(),
            config.clone(),
            shutdown.clone(),
        ));
        let app = api::router(
            api::AppState::new(
                store.clone(),
                metrics,
                auth::secret::SecretStr::new(creds.admin_token.as_str()),
                Arc::new(config.clone()),
                model,
            )
            .with_agents(agents),
        );
        let mut sd = shutdown.clone();
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            let _ = sd.changed().await;
        })
        .await
        .context("HTTP server")?;
        let _ = ingest_task.await;
        let _ = retention_task.await;
        let _ = agents_task.await;
        let _ = health_task.await;
        let _ = incidents_task.await;
        let _ = alerts_task.await;
        let _ = jira_task.await;
        let _ = outbox_task.await;
        let _ = models_task.await;
        let _ = s3_task.await;
        let _ = sqs_task.await;
        store.close().await;
        Ok(())
    }
}

/// Runs the collector until `shutdown` turns true.
pub async fn run(
    config: CollectorConfig,
    startup: Startup,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    Bound::bind(config, startup).await?.serve(shutdown).await
}

async fn retention_loop(
    store: Store,
    metrics: Arc<Metrics>,
    config: CollectorConfig,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(config.retention_interval);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        let now = now_ms();
        match store
            .apply_retention(now, config.retention_max_age, config.retention_max_bytes)
            .await
        {
            Ok(report) => {
                metrics
                    .retention_segments_deleted
                    .inc_by(report.segments_deleted);
                metrics.retention_transactions.inc_by(report.transactions);
                metrics.retention_missing_files.inc_by(report.missing_files);
                if report.segments_deleted > 0 || report.orphans_deleted > 0 {
                    info!(
                        segments = report.segments_deleted,
                        bytes = report.bytes_freed,
                        orphans = report.orphans_deleted,
                        "Retention deleted segments."
                    );
                }
            }
            Err(err) => warn!(error = %err, "Retention pass failed; will retry."),
        }
        match store.apply_row_retention(now, &config.retention_rows).await {
            Ok(report) => {
                for (table, rows) in &report.deleted {
                    metrics.retention_rows(table.name(), *rows);
                }
                metrics.retention_transactions.inc_by(report.transactions);
                if report.total() > 0 {
                    info!(
                        rows = report.total(),
                        transactions = report.transactions,
                        "Retention deleted rows."
                    );
                }
            }
            Err(err) => warn!(error = %err, "Retention pass failed; will retry."),
        }
    }
}
