//! Load generator: N simulated agents speaking the real protocol to one collector, from one
//! process. See BENCHMARKS.md ("Capacity") for how it is used.
//!
//! ```text
//! fleetlog-loadgen --collector 127.0.0.1:4433 --data-dir COLLECTOR_DATA_DIR \
//!     [--agents 300] [--rate 30000] [--batch-lines 500] [--critical-share 0.001] \
//!     [--duration-secs 60] [--json]
//! ```
//!
//! Each agent is a QUIC connection that says `Hello` (protocol v2, its own agent id and host
//! name), sends a `Status` heartbeat every 10 s, and sends batches the way the agent does:
//! lines (the `fleetlog_protocol` `Entry` with level and score) go into a bulk batch that is
//! sent when it holds `--batch-lines` lines or `--max-wait-ms` passed; critical lines go into
//! a priority-lane batch at once. Batches are encoded with the protocol's codec, sent one per
//! stream, and their in-flight budgets, acks and retries are decided by the agent's own
//! `AgentSession` (8 bulk and 4 priority batches in flight, as the agent's defaults). A batch
//! that cannot be sent yet waits in memory, as it would in the agent's buffer.
//!
//! `--rate` is lines per second over all agents (0: every agent sends as fast as its acks
//! allow). The report: lines and batches acknowledged per second within the run, ack latency
//! (stream opened → `Ack` read) p50/p99/max per lane, and after a drain of up to
//! `--drain-secs`, lines sent, acknowledged and still unacknowledged.
//!
//! On loopback, agents are spread over source addresses 127.0.0.1, 127.0.0.2, ... with
//! `--agents-per-socket` agents on each UDP socket, so the collector's per-address
//! connection cap (`ingest.max_connections_per_address`, 64) applies as it would to hosts.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail};
use clap::Parser;
use fleetlog_agent::ship::backoff::Backoff;
use fleetlog_agent::ship::session::{AgentSession, Decision, Lane, SessionLimits};
use fleetlog_agent::ship::{client_config, read_frame};
use fleetlog_protocol::PROTOCOL_VERSION;
use fleetlog_protocol::codec::{self, PayloadEncoder};
use fleetlog_protocol::messages::{
    AgentState, Batch, BatchPayload, Entry, Frame, Heartbeat, Hello, HostMetrics, Status,
};
use fleetlog_tests::loadgen::{Latencies, LineMaker, Pacer, SOURCES, source_ip};
use serde_json::json;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

#[derive(Parser, Debug, Clone)]
#[command(
    name = "fleetlog-loadgen",
    about = "N simulated agents speaking the real protocol to one collector"
)]
struct Args {
    /// Collector QUIC address, HOST:PORT.
    #[arg(long, default_value = "127.0.0.1:4433")]
    collector: String,
    /// TLS server name (default: the host part of --collector).
    #[arg(long)]
    server_name: Option<String>,
    /// The collector's data dir: its `agent-token` and `ca.pem` are used.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Enrollment token file (default: DATA_DIR/agent-token).
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// The collector's CA certificate (default: DATA_DIR/ca.pem).
    #[arg(long)]
    ca: Option<PathBuf>,
    /// Simulated agents (one QUIC connection each).
    #[arg(long, default_value_t = 300)]
    agents: usize,
    /// Lines per second over all agents; 0 = as fast as acknowledgements allow.
    #[arg(long, default_value_t = 30_000.0)]
    rate: f64,
    /// Lines per bulk batch at most.
    #[arg(long, default_value_t = 500)]
    batch_lines: usize,
    /// A bulk batch is sent after this long even when not full (the agent's batch.max_wait_ms).
    #[arg(long, default_value_t = 500)]
    max_wait_ms: u64,
    /// Share of lines that are critical (priority lane), 0..1.
    #[arg(long, default_value_t = 0.001)]
    critical_share: f64,
    /// How long to send.
    #[arg(long, default_value_t = 60)]
    duration_secs: u64,
    /// After sending stops, how long to wait for outstanding acknowledgements.
    #[arg(long, default_value_t = 30)]
    drain_secs: u64,
    /// Simulated agents sharing one UDP socket (and, on loopback, one source address).
    #[arg(long, default_value_t = 50)]
    agents_per_socket: usize,
    /// Handshakes in progress at once while connecting.
    #[arg(long, default_value_t = 32)]
    connect_concurrency: usize,
    /// Heartbeat interval per agent.
    #[arg(long, default_value_t = 10)]
    heartbeat_secs: u64,
    /// Host names are PREFIX-00000, PREFIX-00001, ...; agent ids add the start time.
    #[arg(long, default_value = "loadgen")]
    host_prefix: String,
    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
}

/// What one agent did.
#[derive(Debug, Default)]
struct AgentReport {
    connected: bool,
    lines_sent: u64,
    lines_acked: u64,
    /// Acknowledged while the run lasted (not in the drain).
    lines_acked_in_run: u64,
    batches_acked_in_run: u64,
    batches_acked: u64,
    retries: u64,
    duplicates: u64,
    error: Option<String>,
    bulk: Latencies,
    priority: Latencies,
}

/// A batch waiting to be sent: its encoded frame and its line count.
struct Pending {
    seq: u64,
    lane: Lane,
    lines: u64,
    frame: Arc<Vec<u8>>,
}

/// Everything agents share.
struct Shared {
    args: Args,
    addr: SocketAddr,
    server_name: String,
    token: String,
    client: quinn::ClientConfig,
    run_id: u64,
    /// Lines per second for each agent (0: unpaced).
    per_agent_rate: f64,
    connect: Semaphore,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn main() -> Result<()> {
    let args = Args::parse();
    if args.agents == 0 || args.batch_lines == 0 || args.agents_per_socket == 0 {
        bail!("--agents, --batch-lines and --agents-per-socket must be at least 1");
    }
    if !(0.0..=1.0).contains(&args.critical_share) || args.rate < 0.0 {
        bail!("--critical-share must be in 0..1 and --rate at least 0");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(args))
}

async fn run(args: Args) -> Result<()> {
    let token_file = args
        .token_file
        .clone()
        .or_else(|| args.data_dir.as_ref().map(|d| d.join("agent-token")))
        .ok_or_else(|| anyhow!("--token-file or --data-dir is required"))?;
    let ca = args
        .ca
        .clone()
        .or_else(|| args.data_dir.as_ref().map(|d| d.join("ca.pem")))
        .ok_or_else(|| anyhow!("--ca or --data-dir is required"))?;
    let token = std::fs::read_to_string(&token_file)
        .with_context(|| format!("reading {}", token_file.display()))?
        .trim()
        .to_owned();
    let client = client_config(&ca)?;
    let addr = args
        .collector
        .to_socket_addrs()
        .with_context(|| format!("resolving {}", args.collector))?
        .next()
        .ok_or_else(|| anyhow!("{} resolves to nothing", args.collector))?;
    let server_name = args.server_name.clone().unwrap_or_else(|| {
        args.collector
            .rsplit_once(':')
            .map_or(args.collector.as_str(), |(h, _)| h)
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned()
    });
    let shared = Arc::new(Shared {
        per_agent_rate: args.rate / args.agents as f64,
        connect: Semaphore::new(args.connect_concurrency.max(1)),
        run_id: now_ms() as u64,
        args: args.clone(),
        addr,
        server_name,
        token,
        client,
    });

    // One socket per group of agents.
    let groups = args.agents.div_ceil(args.agents_per_socket);
    let mut endpoints = Vec::with_capacity(groups);
    for g in 0..groups {
        let ip = source_ip(addr.ip(), g);
        let endpoint = quinn::Endpoint::client(SocketAddr::new(ip, 0))
            .with_context(|| format!("binding a UDP socket on {ip}"))?;
        endpoints.push(endpoint);
    }

    let (start_tx, start_rx) = watch::channel::<Option<Instant>>(None);
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<bool>(args.agents);
    let mut tasks = JoinSet::new();
    for i in 0..args.agents {
        let endpoint = endpoints[i / args.agents_per_socket].clone();
        let shared = shared.clone();
        let start_rx = start_rx.clone();
        let ready_tx = ready_tx.clone();
        tasks.spawn(async move { agent(i, endpoint, shared, start_rx, ready_tx).await });
    }
    drop(ready_tx);
    let connect_started = Instant::now();
    let mut connected = 0usize;
    let mut answered = 0usize;
    while answered < args.agents {
        match ready_rx.recv().await {
            Some(ok) => {
                answered += 1;
                connected += usize::from(ok);
            }
            None => break,
        }
    }
    let connect_secs = connect_started.elapsed().as_secs_f64();
    eprintln!(
        "fleetlog-loadgen: {connected}/{} agents connected in {connect_secs:.1} s; sending for {} s",
        args.agents, args.duration_secs
    );
    let start = Instant::now();
    let _ = start_tx.send(Some(start));

    let mut total = AgentReport::default();
    let mut agents_ok = 0usize;
    let mut errors = Vec::new();
    while let Some(done) = tasks.join_next().await {
        let r = done.map_err(|e| anyhow!("agent task: {e}"))?;
        agents_ok += usize::from(r.connected && r.error.is_none());
        if let Some(e) = &r.error {
            errors.push(e.clone());
        }
        total.lines_sent += r.lines_sent;
        total.lines_acked += r.lines_acked;
        total.lines_acked_in_run += r.lines_acked_in_run;
        total.batches_acked_in_run += r.batches_acked_in_run;
        total.batches_acked += r.batches_acked;
        total.retries += r.retries;
        total.duplicates += r.duplicates;
        total.bulk.merge(r.bulk);
        total.priority.merge(r.priority);
    }
    for e in &endpoints {
        e.close(0u32.into(), b"loadgen done");
    }
    report(
        &args,
        connected,
        agents_ok,
        connect_secs,
        &mut total,
        &errors,
    );
    if connected == 0 {
        bail!("no agent could connect");
    }
    Ok(())
}

fn ms(micros: Option<u64>) -> f64 {
    micros.map_or(f64::NAN, |m| m as f64 / 1000.0)
}

fn report(
    args: &Args,
    connected: usize,
    agents_ok: usize,
    connect_secs: f64,
    t: &mut AgentReport,
    errors: &[String],
) {
    let secs = args.duration_secs.max(1) as f64;
    let lines_per_sec = t.lines_acked_in_run as f64 / secs;
    let batches_per_sec = t.batches_acked_in_run as f64 / secs;
    let unacked = t.lines_sent.saturating_sub(t.lines_acked);
    let lat = |l: &mut Latencies| {
        json!({
            "n": l.len(),
            "p50_ms": ms(l.percentile(50.0)),
            "p99_ms": ms(l.percentile(99.0)),
            "max_ms": ms(l.percentile(100.0)),
        })
    };
    let mut out = String::new();
    if args.json {
        let v = json!({
            "agents": args.agents,
            "connected": connected,
            "agents_ok": agents_ok,
            "connect_secs": connect_secs,
            "duration_secs": args.duration_secs,
            "offered_lines_per_sec": args.rate,
            "batch_lines": args.batch_lines,
            "critical_share": args.critical_share,
            "lines_per_sec": lines_per_sec,
            "batches_per_sec": batches_per_sec,
            "lines_sent": t.lines_sent,
            "lines_acked": t.lines_acked,
            "lines_unacked": unacked,
            "batches_acked": t.batches_acked,
            "retries": t.retries,
            "duplicates": t.duplicates,
            "bulk": lat(&mut t.bulk),
            "priority": lat(&mut t.priority),
            "errors": errors.iter().take(10).collect::<Vec<_>>(),
            "error_count": errors.len(),
        });
        let _ = writeln!(out, "{v}");
        emit(&out);
        return;
    }
    let offered = if args.rate > 0.0 {
        format!("{:.0} lines/s offered", args.rate)
    } else {
        "unpaced".to_owned()
    };
    let _ = writeln!(
        out,
        "fleetlog-loadgen: {} agents ({connected} connected in {connect_secs:.1} s), {} s, {offered}, \
         batches of up to {} lines, critical share {}",
        args.agents, args.duration_secs, args.batch_lines, args.critical_share
    );
    let _ = writeln!(out, "  lines acked/s     {lines_per_sec:>10.0}");
    let _ = writeln!(out, "  batches acked/s   {batches_per_sec:>10.1}");
    for (name, l) in [("bulk", &mut t.bulk), ("priority", &mut t.priority)] {
        let _ = writeln!(
            out,
            "  ack latency {name:<8} p50 {:>8.1} ms   p99 {:>8.1} ms   max {:>8.1} ms   (n={})",
            ms(l.percentile(50.0)),
            ms(l.percentile(99.0)),
            ms(l.percentile(100.0)),
            l.len()
        );
    }
    let _ = writeln!(
        out,
        "  after the drain: {} lines sent, {} acked, {unacked} unacked; {} retries, {} duplicate acks, {} agents failed",
        t.lines_sent,
        t.lines_acked,
        t.retries,
        t.duplicates,
        errors.len()
    );
    for e in errors.iter().take(5) {
        let _ = writeln!(out, "  error: {e}");
    }
    emit(&out);
}

/// Writes the report to stdout in one piece.
fn emit(text: &str) {
    use std::io::Write as _;
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

/// One simulated agent: connect, wait for the common start, send for the duration, drain.
async fn agent(
    i: usize,
    endpoint: quinn::Endpoint,
    shared: Arc<Shared>,
    mut start_rx: watch::Receiver<Option<Instant>>,
    ready: tokio::sync::mpsc::Sender<bool>,
) -> AgentReport {
    let mut rep = AgentReport::default();
    let host = format!("{}-{i:05}", shared.args.host_prefix);
    let agent_id = format!("{}-{}-{i:05}", shared.args.host_prefix, shared.run_id);
    let conn = match connect(&endpoint, &shared, &host, &agent_id).await {
        Ok(c) => c,
        Err(e) => {
            let _ = ready.send(false).await;
            rep.error = Some(format!("{host}: {e:#}"));
            return rep;
        }
    };
    rep.connected = true;
    let _ = ready.send(true).await;
    let start = loop {
        if let Some(s) = *start_rx.borrow_and_update() {
            break s;
        }
        if start_rx.changed().await.is_err() {
            return rep;
        }
    };
    if let Err(e) = drive(i, &conn.0, conn.1, &shared, &agent_id, start, &mut rep).await {
        rep.error = Some(format!("{host}: {e:#}"));
    }
    conn.0.close(0u32.into(), b"done");
    rep
}

/// Connects and says `Hello`; returns the connection and its control stream's send half.
async fn connect(
    endpoint: &quinn::Endpoint,
    shared: &Shared,
    host: &str,
    agent_id: &str,
) -> Result<(quinn::Connection, quinn::SendStream, u32)> {
    let _permit = shared.connect.acquire().await?;
    let mut last = None;
    for attempt in 0..5u32 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
        }
        match hello(endpoint, shared, host, agent_id).await {
            Ok(c) => return Ok(c),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| anyhow!("no attempt")))
}

async fn hello(
    endpoint: &quinn::Endpoint,
    shared: &Shared,
    host: &str,
    agent_id: &str,
) -> Result<(quinn::Connection, quinn::SendStream, u32)> {
    let conn = endpoint
        .connect_with(shared.client.clone(), shared.addr, &shared.server_name)?
        .await?;
    let (mut send, mut recv) = conn.open_bi().await?;
    let hello = Frame::Hello(Hello {
        protocol_version: PROTOCOL_VERSION,
        agent_id: agent_id.to_owned(),
        host: host.to_owned(),
        token: shared.token.clone(),
        labels: vec![("loadgen".to_owned(), shared.run_id.to_string())],
        agent_version: format!("loadgen-{}", env!("CARGO_PKG_VERSION")),
    });
    send.write_all(&codec::encode(&hello)?).await?;
    let max_batch = match read_frame(&mut recv).await? {
        Frame::Welcome(w) => w.max_batch_bytes,
        Frame::Reject(r) => bail!("rejected: {}: {}", r.reason, r.message),
        other => bail!("expected Welcome, got {other:?}"),
    };
    // Model pushes and anything else on the control stream are read and dropped.
    tokio::spawn(async move { while read_frame(&mut recv).await.is_ok() {} });
    Ok((conn, send, max_batch))
}

type Answer = (Pending, Instant, Result<Frame>);

/// Sends batches as the pacer and the session allow until the run ends, then drains.
#[allow(clippy::too_many_arguments)]
async fn drive(
    i: usize,
    conn: &quinn::Connection,
    mut ctl: quinn::SendStream,
    shared: &Shared,
    agent_id: &str,
    start: Instant,
    rep: &mut AgentReport,
) -> Result<()> {
    let args = &shared.args;
    let end = start + Duration::from_secs(args.duration_secs);
    let drain_end = end + Duration::from_secs(args.drain_secs);
    let mut sess = AgentSession::new(
        SessionLimits {
            bulk_in_flight: 8,
            priority_in_flight: 4,
        },
        Backoff::default(),
    );
    let mut pacer = Pacer::new(shared.per_agent_rate);
    let mut maker = LineMaker::new(shared.run_id ^ (i as u64) << 20, args.critical_share);
    let mut encoder = PayloadEncoder::new()?;
    let mut queue: VecDeque<Pending> = VecDeque::new();
    let mut bulk: Vec<Entry> = Vec::new();
    let mut bulk_since = Instant::now();
    let mut seq = 0u64;
    let mut tasks: JoinSet<Answer> = JoinSet::new();
    // Spread the agents' ticks over one tick period.
    let tick = Duration::from_millis(if pacer.is_paced() {
        (args.max_wait_ms / 5).clamp(10, 100)
    } else {
        20
    });
    let mut ticker = tokio::time::interval_at(
        tokio::time::Instant::now() + tick.mul_f64((i % 97) as f64 / 97.0),
        tick,
    );
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut heartbeat = tokio::time::interval(Duration::from_secs(args.heartbeat_secs.max(1)));
    let t0 = Instant::now();
    let mut sending = true;
    loop {
        let now = Instant::now();
        if sending && now >= end {
            sending = false;
        }
        if sending {
            // Generate what is owed (paced) or keep the queue topped up (unpaced).
            let due = if pacer.is_paced() {
                pacer.due(now.duration_since(t0).as_millis() as u64)
            } else if queue.len() < 2 {
                args.batch_lines as u64
            } else {
                0
            };
            let ts = now_ms();
            let mut critical = Vec::new();
            for _ in 0..due {
                let made = maker.next(ts);
                if made.critical {
                    critical.push(made.entry);
                } else {
                    bulk.push(made.entry);
                }
                if bulk.len() >= args.batch_lines {
                    seq += 1;
                    queue.push_back(encode(&mut encoder, agent_id, seq, false, &mut bulk)?);
                    bulk_since = now;
                }
            }
            if !critical.is_empty() {
                seq += 1;
                // Critical lines flush at once and go first.
                queue.push_front(encode(&mut encoder, agent_id, seq, true, &mut critical)?);
            }
            if !bulk.is_empty()
                && now.duration_since(bulk_since).as_millis() as u64 >= args.max_wait_ms
            {
                seq += 1;
                queue.push_back(encode(&mut encoder, agent_id, seq, false, &mut bulk)?);
                bulk_since = now;
            }
        } else if !bulk.is_empty() {
            seq += 1;
            queue.push_back(encode(&mut encoder, agent_id, seq, false, &mut bulk)?);
        }
        // Send what the lanes have room for, priority first.
        for lane in [Lane::Priority, Lane::Bulk] {
            let mut room = sess.room(lane, now);
            let mut kept = VecDeque::with_capacity(queue.len());
            while let Some(p) = queue.pop_front() {
                if p.lane == lane && room > 0 {
                    room -= 1;
                    sess.on_sent(p.seq, lane);
                    rep.lines_sent += p.lines;
                    let conn = conn.clone();
                    tasks.spawn(send(conn, p));
                } else {
                    kept.push_back(p);
                }
            }
            queue = kept;
        }
        if !sending && queue.is_empty() && tasks.is_empty() {
            return Ok(());
        }
        if now >= drain_end {
            return Ok(());
        }
        tokio::select! {
            Some(done) = tasks.join_next() => {
                let (p, sent_at, answer) = done.map_err(|e| anyhow!("send task: {e}"))?;
                let (seq, lane, lines) = (p.seq, p.lane, p.lines);
                let now = Instant::now();
                match answer {
                    Ok(frame) => match sess.on_answer(seq, frame, now, fastrand_unit(seq)) {
                        Decision::Delete { duplicate, .. } => {
                            let micros = now.duration_since(sent_at).as_micros() as u64;
                            match lane {
                                Lane::Bulk => rep.bulk.record(micros),
                                Lane::Priority => rep.priority.record(micros),
                            }
                            rep.lines_acked += lines;
                            rep.batches_acked += 1;
                            rep.duplicates += u64::from(duplicate);
                            if now <= end {
                                rep.lines_acked_in_run += lines;
                                rep.batches_acked_in_run += 1;
                            }
                        }
                        Decision::Retry { .. } => {
                            rep.retries += 1;
                            rep.lines_sent -= lines;
                            queue.push_front(p);
                        }
                        Decision::Split { seq, .. } => bail!("batch {seq} refused as too large"),
                        Decision::Rekey { message, .. } => bail!("identity conflict: {message}"),
                        Decision::Fatal(reason, message) => bail!("{reason}: {message}"),
                    },
                    Err(e) => bail!("batch {seq}: {e:#}"),
                }
            }
            _ = heartbeat.tick() => {
                let frame = status_frame(queue.iter().map(|p| p.frame.len() as u64).sum(), queue.len() as u64 + tasks.len() as u64);
                ctl.write_all(&codec::encode(&frame)?).await?;
            }
            _ = ticker.tick() => {}
            reason = conn.closed() => bail!("connection closed: {reason}"),
        }
    }
}

fn fastrand_unit(seed: u64) -> f64 {
    (seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11) as f64 / (1u64 << 53) as f64
}

fn encode(
    encoder: &mut PayloadEncoder,
    agent_id: &str,
    seq: u64,
    priority: bool,
    entries: &mut Vec<Entry>,
) -> Result<Pending> {
    let lines = entries.len() as u64;
    let payload = BatchPayload {
        sources: SOURCES.iter().map(|s| (*s).to_owned()).collect(),
        entries: std::mem::take(entries),
        ..BatchPayload::default()
    };
    let (compressed, raw_len) = encoder.encode(&payload)?;
    let frame = codec::encode(&Frame::Batch(Batch {
        agent_id: agent_id.to_owned(),
        seq,
        priority,
        entry_count: lines as u32,
        raw_len,
        payload: compressed,
    }))?;
    Ok(Pending {
        seq,
        lane: Lane::of(priority),
        lines,
        frame: Arc::new(frame),
    })
}

async fn send(conn: quinn::Connection, p: Pending) -> Answer {
    let sent_at = Instant::now();
    let result = async {
        let (mut send, mut recv) = conn.open_bi().await?;
        let _ = send.set_priority(if p.lane == Lane::Priority { 10 } else { 0 });
        send.write_all(&p.frame).await?;
        send.finish()?;
        Ok::<Frame, anyhow::Error>(read_frame(&mut recv).await?)
    }
    .await;
    (p, sent_at, result)
}

fn status_frame(buffered_bytes: u64, pending: u64) -> Frame {
    Frame::Status(Status {
        heartbeat: Heartbeat {
            ts_ms: now_ms(),
            buffer_bytes: buffered_bytes,
            buffer_capacity: 512 * 1024 * 1024,
            pending_batches: pending,
            dropped_lines: 0,
            watched_files: SOURCES.len() as u32,
        },
        host: HostMetrics::default(),
        agent: AgentState {
            buffered_bytes,
            buffered_batches: pending,
            version: format!("loadgen-{}", env!("CARGO_PKG_VERSION")),
            ..AgentState::default()
        },
    })
}
