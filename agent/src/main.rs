//! `fleetlog-agent run`: parses flags, loads config, initialises tracing, calls `run`;
//! `fleetlog-agent check`: validates the config and prints what would be tailed.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use fleetlog_agent::config::{self, set_key};
use fleetlog_agent::reload;

#[derive(Parser)]
#[command(name = "fleetlog-agent", version, about = "fleetlog edge agent")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Tail files and ship them to the collector.
    Run(RunArgs),
    /// Validate a configuration and list the files it would tail (and why others not).
    Check(RunArgs),
    /// Health check for images without curl: GET an http:// URL, exit 0 on a 2xx answer.
    Probe(ProbeArgs),
}

#[derive(clap::Args)]
struct ProbeArgs {
    /// The URL to GET, e.g. http://127.0.0.1:9464/healthz.
    url: String,
    /// Seconds to wait for the connection and for each read and write.
    #[arg(long, default_value_t = 5)]
    timeout_secs: u64,
}

#[derive(clap::Args)]
struct RunArgs {
    /// TOML config file; flags and FLEETLOG_* variables override its keys.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Collector QUIC address, HOST:PORT.
    #[arg(long)]
    collector: Option<String>,
    /// TLS server name to verify (default: the host part of --collector).
    #[arg(long)]
    server_name: Option<String>,
    /// File holding the enrollment token.
    #[arg(long = "token-file")]
    token_file: Option<PathBuf>,
    /// PEM file with the collector's CA certificate.
    #[arg(long)]
    ca: Option<PathBuf>,
    /// Glob of files to tail (repeatable).
    #[arg(long = "path")]
    paths: Vec<String>,
    /// Glob of files to skip (repeatable).
    #[arg(long = "exclude")]
    exclude: Vec<String>,
    /// Directory for the durable buffer.
    #[arg(long = "data-dir")]
    data_dir: Option<PathBuf>,
    /// Host name reported to the collector (default: the system's).
    #[arg(long = "host-name")]
    host_name: Option<String>,
    /// Serve /metrics and /healthz on this address.
    #[arg(long = "metrics-listen")]
    metrics_listen: Option<String>,
    /// Emit logs as JSON lines.
    #[arg(long)]
    log_json: bool,
}

impl RunArgs {
    fn flags(&self) -> toml::Table {
        let mut t = toml::Table::new();
        let mut put = |k: &str, v: Option<toml::Value>| {
            if let Some(v) = v {
                set_key(&mut t, k, v);
            }
        };
        let s = |v: &Option<String>| v.clone().map(toml::Value::String);
        let p = |v: &Option<PathBuf>| {
            v.as_ref()
                .map(|p| toml::Value::String(p.display().to_string()))
        };
        let list = |v: &Vec<String>| {
            (!v.is_empty())
                .then(|| toml::Value::Array(v.iter().cloned().map(toml::Value::String).collect()))
        };
        put("collector", s(&self.collector));
        put("server_name", s(&self.server_name));
        put("token_file", p(&self.token_file));
        put("ca", p(&self.ca));
        put("paths", list(&self.paths));
        put("exclude", list(&self.exclude));
        put("data_dir", p(&self.data_dir));
        put("host_name", s(&self.host_name));
        put("metrics_listen", s(&self.metrics_listen));
        t
    }
}

fn main() -> anyhow::Result<()> {
    let args = match Cli::parse().command {
        Command::Run(args) => args,
        Command::Check(args) => {
            let config = config::load(
                args.config.as_deref(),
                |k| std::env::var(k).ok(),
                args.flags(),
            )?;
            use std::io::Write;
            std::io::stdout()
                .lock()
                .write_all(fleetlog_agent::check::report(&config).as_bytes())?;
            return Ok(());
        }
        Command::Probe(args) => {
            let timeout = std::time::Duration::from_secs(args.timeout_secs.max(1));
            // One line, no backtrace: a health check's output is read by people.
            if let Err(err) = fleetlog_agent::probe::probe(&args.url, timeout) {
                eprintln!("probe: {err}");
                std::process::exit(1);
            }
            return Ok(());
        }
    };
    init_tracing(args.log_json);
    let load = move || {
        config::load(
            args.config.as_deref(),
            |k| std::env::var(k).ok(),
            args.flags(),
        )
    };
    let config = load()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        // Registered before the agent starts, so an early SIGHUP reloads instead of killing.
        let signals = Signals::new()?;
        tokio::spawn(signals.forward(tx));
        reload::run_reloading(config, load, rx).await
    })
}

/// SIGTERM, Ctrl-C and SIGHUP, as requests to the agent.
struct Signals {
    term: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> std::io::Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            hup: signal(SignalKind::hangup())?,
        })
    }

    async fn forward(mut self, tx: tokio::sync::mpsc::Sender<reload::Request>) {
        loop {
            let request = tokio::select! {
                _ = tokio::signal::ctrl_c() => reload::Request::Stop,
                _ = self.term.recv() => reload::Request::Stop,
                _ = self.hup.recv() => reload::Request::Reload,
            };
            if tx.send(request).await.is_err() || request == reload::Request::Stop {
                return;
            }
        }
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
