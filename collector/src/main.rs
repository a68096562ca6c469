//! `fleetlog-collector serve`: parses flags, loads config, initialises tracing, calls `run`.

use std::io::Write;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use fleetlog_collector::config::{self, set_key};

#[derive(Parser)]
#[command(name = "fleetlog-collector", version, about = "fleetlog hub")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Receive logs from agents and serve the API.
    Serve(ServeArgs),
    /// Analyse log files: formats, templates, anomalies, error classes.
    Analyze(fleetlog_collector::analyze::AnalyzeArgs),
    /// Train a healthy baseline model from log files.
    Train(fleetlog_collector::analyze::TrainArgs),
    /// Manage API users (add, list, set-role, disable, enable, passwd).
    User(fleetlog_collector::usercli::UserArgs),
    /// Health check for images without curl: GET an http:// URL, exit 0 on a 2xx answer.
    Probe(ProbeArgs),
}

#[derive(clap::Args)]
struct ProbeArgs {
    /// The URL to GET, e.g. http://127.0.0.1:8080/readyz.
    url: String,
    /// Seconds to wait for the connection and for each read and write.
    #[arg(long, default_value_t = 5)]
    timeout_secs: u64,
}

#[derive(clap::Args)]
struct ServeArgs {
    /// TOML config file; flags and FLEETLOG_* variables override its keys.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Data directory (SQLite database, archive, certificates, tokens).
    #[arg(long = "data-dir")]
    data_dir: Option<PathBuf>,
    /// QUIC listen address for agents.
    #[arg(long = "quic-listen")]
    quic_listen: Option<String>,
    /// HTTP listen address for the API.
    #[arg(long = "http-listen")]
    http_listen: Option<String>,
    /// Store URL: sqlite://FILE or postgres://...
    #[arg(long = "store-url")]
    store_url: Option<String>,
    /// Emit logs as JSON lines.
    #[arg(long)]
    log_json: bool,
}

fn main() -> anyhow::Result<()> {
    let args = match Cli::parse().command {
        Command::Serve(args) => args,
        // Synchronous one-shot commands: no runtime, no tracing setup.
        Command::Analyze(args) => return fleetlog_collector::analyze::run_analyze(args),
        Command::Train(args) => return fleetlog_collector::analyze::run_train(args),
        Command::User(args) => return fleetlog_collector::usercli::run(args),
        Command::Probe(args) => {
            let timeout = std::time::Duration::from_secs(args.timeout_secs.max(1));
            // One line, no backtrace: a health check's output is read by people.
            if let Err(err) = fleetlog_collector::probe::probe(&args.url, timeout) {
                eprintln!("probe: {err}");
                std::process::exit(1);
            }
            return Ok(());
        }
    };
    init_tracing(args.log_json);
    let mut flags = toml::Table::new();
    for (key, value) in [
        ("data_dir", args.data_dir.map(|p| p.display().to_string())),
        ("quic_listen", args.quic_listen),
        ("http_listen", args.http_listen),
        ("store_url", args.store_url),
    ] {
        if let Some(v) = value {
            set_key(&mut flags, key, toml::Value::String(v));
        }
    }
    let config = config::load(args.config.as_deref(), |k| std::env::var(k).ok(), flags)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let startup = fleetlog_collector::prepare(&config).await?;
        announce(&config, &startup)?;
        let (tx, rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            shutdown_signal().await;
            let _ = tx.send(true);
        });
        fleetlog_collector::run(config, startup, rx).await
    })
}

/// Tells the operator where the agent's CA and tokens are (never the secrets themselves).
fn announce(
    config: &config::CollectorConfig,
    startup: &fleetlog_collector::Startup,
) -> anyhow::Result<()> {
    use fleetlog_collector::tls::{ADMIN_TOKEN_FILE, AGENT_TOKEN_FILE};
    let dir = &config.data_dir;
    let mut err = std::io::stderr().lock();
    if startup.creds.generated {
        writeln!(
            err,
            "fleetlog-collector: first start, credentials created in {}",
            dir.display()
        )?;
    }
    if let Some(ca) = &startup.creds.ca_path {
        writeln!(err, "  agent CA certificate:   {}", ca.display())?;
    }
    writeln!(
        err,
        "  agent enrollment token: {}",
        dir.join(AGENT_TOKEN_FILE).display()
    )?;
    writeln!(
        err,
        "  admin API token:        {}",
        dir.join(ADMIN_TOKEN_FILE).display()
    )?;
    writeln!(
        err,
        "  QUIC {}  HTTP http://{}",
        config.quic_listen, config.http_listen
    )?;
    Ok(())
}

async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

fn init_tracing(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}
