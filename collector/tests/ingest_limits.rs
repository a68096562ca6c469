//! The `[ingest]` resource limits against a real quinn client on loopback: oversized and
//! malformed `Hello`s, a client that never sends one, the per-address cap, stream floods,
//! decompression bombs, and a flood of unauthenticated connections while an authenticated
//! agent keeps being acknowledged. Each test prints its figures (`--nocapture`).

// Helpers outside #[test] fns panic on purpose: a failed setup is a failed test.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use fleetlog_agent::ship::{client_config, read_frame};
use fleetlog_collector::config::{self, set_key};
use fleetlog_protocol::codec;
use fleetlog_protocol::messages::*;
use tokio::sync::watch;

struct Running {
    quic: SocketAddr,
    http: SocketAddr,
    dir: tempfile::TempDir,
    /// In-process collector: its shutdown switch and task.
    inner: Option<(
        watch::Sender<bool>,
        tokio::task::JoinHandle<anyhow::Result<()>>,
    )>,
    /// Collector binary in its own process (so that its RSS is its own).
    process: Option<Process>,
    client: quinn::Endpoint,
}

/// A child process killed when dropped, also when a test fails.
struct Process(std::process::Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn client_endpoint(dir: &std::path::Path) -> quinn::Endpoint {
    let mut client = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    client.set_default_client_config(client_config(&dir.join("ca.pem")).unwrap());
    client
}

/// Starts the `fleetlog-collector serve` binary with `[ingest]` keys set through
/// `FLEETLOG_*` variables, and waits until it answers.
async fn start_process(limits: &[(&str, i64)]) -> Running {
    let dir = tempfile::tempdir().unwrap();
    // Free ports, released just before the collector binds them.
    let quic_port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let http_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let quic: SocketAddr = format!("127.0.0.1:{quic_port}").parse().unwrap();
    let http: SocketAddr = format!("127.0.0.1:{http_port}").parse().unwrap();
    let log = std::fs::File::create(dir.path().join("collector.log")).unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_fleetlog-collector"));
    cmd.arg("serve")
        .arg("--data-dir")
        .arg(dir.path())
        .arg("--quic-listen")
        .arg(quic.to_string())
        .arg("--http-listen")
        .arg(http.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(log);
    for (key, value) in limits {
        cmd.env(config::env_name(key), value.to_string());
    }
    let process = Process(cmd.spawn().unwrap());
    let ready = dir.path().join("agent-token");
    for _ in 0..300 {
        if ready.exists() && tokio::net::TcpStream::connect(http).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let client = client_endpoint(dir.path());
    Running {
        quic,
        http,
        dir,
        inner: None,
        process: Some(process),
        client,
    }
}

/// Starts a collector with `[ingest]` keys set from `limits`.
async fn start(limits: &[(&str, i64)]) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let mut flags = toml::Table::new();
    set_key(
        &mut flags,
        "data_dir",
        dir.path().display().to_string().into(),
    );
    set_key(&mut flags, "quic_listen", "127.0.0.1:0".into());
    set_key(&mut flags, "http_listen", "127.0.0.1:0".into());
    for (key, value) in limits {
        set_key(&mut flags, key, toml::Value::Integer(*value));
    }
    let cfg = config::load(None, |_| None, flags).unwrap();
    let startup = fleetlog_collector::prepare(&cfg).await.unwrap();
    let bound = fleetlog_collector::Bound::bind(cfg, startup).await.unwrap();
    let (quic, http) = (bound.quic_addr().unwrap(), bound.http_addr().unwrap());
    let (stop, rx) = watch::channel(false);
    let task = tokio::spawn(bound.serve(rx));
    let client = client_endpoint(dir.path());
    Running {
        quic,
        http,
        dir,
        inner: Some((stop, task)),
        process: None,
        client,
    }
}

impl Running {
    fn token(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("agent-token"))
            .unwrap()
            .trim()
            .to_owned()
    }

    async fn try_connect(&self) -> Result<quinn::Connection, quinn::ConnectionError> {
        self.client.connect(self.quic, "localhost").unwrap().await
    }

    async fn connect(&self) -> quinn::Connection {
        self.try_connect().await.unwrap()
    }

    /// Connects and completes the hello; returns the connection and the control stream.
    async fn admitted(&self, agent_id: &str) -> (quinn::Connection, quinn::SendStream) {
        let conn = self.connect().await;
        let (mut send, mut recv) = conn.open_bi().await.unwrap();
        send.write_all(&codec::encode(&Frame::Hello(hello(agent_id, &self.token()))).unwrap())
            .await
            .unwrap();
        assert!(matches!(
            read_frame(&mut recv).await.unwrap(),
            Frame::Welcome(_)
        ));
        (conn, send)
    }

    /// `fleetlog_collector_ingest_<family>_total{<label>="<value>"}`, 0 if absent.
    async fn counter(&self, family: &str, label: &str, value: &str) -> u64 {
        let text = http_get(self.http, "/metrics").await;
        let prefix = format!("fleetlog_collector_ingest_{family}_total{{{label}=\"{value}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .map_or(0, |v| v.trim().parse().unwrap())
    }

    async fn stop(self) {
        if let Some((stop, task)) = self.inner {
            stop.send(true).unwrap();
            task.await.unwrap().unwrap();
        }
        drop(self.process);
    }

    /// The collector's process id (this process when it runs in-process).
    fn pid(&self) -> u32 {
        self.process
            .as_ref()
            .map_or_else(std::process::id, |p| p.0.id())
    }
}

/// Minimal HTTP/1.1 GET over a TCP socket.
async fn http_get(addr: SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default()
}

fn hello(agent_id: &str, token: &str) -> Hello {
    Hello {
        protocol_version: fleetlog_protocol::PROTOCOL_VERSION,
        agent_id: agent_id.into(),
        host: format!("host-{agent_id}"),
        token: token.into(),
        labels: vec![],
        agent_version: "test".into(),
    }
}

fn batch_of(agent_id: &str, seq: u64, lines: Vec<String>) -> Batch {
    let payload = BatchPayload {
        sources: vec!["/var/log/pos.log".into()],
        entries: lines
            .into_iter()
            .map(|line| Entry {
                ts_ms: 1,
                source: 0,
                line,
                level: Level::Info,
                score: 0.0,
                ..Entry::default()
            })
            .collect(),
        ..BatchPayload::default()
    };
    let (compressed, raw_len) = codec::encode_payload(&payload).unwrap();
    Batch {
        agent_id: agent_id.into(),
        seq,
        priority: false,
        entry_count: payload.entries.len() as u32,
        raw_len,
        payload: compressed,
    }
}

fn batch(agent_id: &str, seq: u64, n: usize) -> Vec<u8> {
    let lines = (0..n).map(|i| format!("line {seq}-{i}")).collect();
    codec::encode(&Frame::Batch(batch_of(agent_id, seq, lines))).unwrap()
}

async fn send_raw(conn: &quinn::Connection, bytes: &[u8]) -> Result<Frame, String> {
    let (mut send, mut recv) = conn.open_bi().await.map_err(|e| e.to_string())?;
    send.write_all(bytes).await.map_err(|e| e.to_string())?;
    send.finish().map_err(|e| e.to_string())?;
    read_frame(&mut recv).await.map_err(|e| e.to_string())
}

async fn assert_acked(conn: &quinn::Connection, agent_id: &str, seq: u64) {
    match tokio::time::timeout(
        Duration::from_secs(10),
        send_raw(conn, &batch(agent_id, seq, 3)),
    )
    .await
    {
        Ok(Ok(Frame::Ack(a))) => assert_eq!(a.seq, seq),
        other => panic!("expected an ack for {seq}, got {other:?}"),
    }
}

/// Waits for `conn` to be closed by the collector and returns the close reason.
async fn closed_reason(conn: &quinn::Connection, within: Duration) -> String {
    let err = tokio::time::timeout(within, conn.closed())
        .await
        .expect("connection closed by the collector");
    match err {
        quinn::ConnectionError::ApplicationClosed(c) => {
            String::from_utf8_lossy(&c.reason).into_owned()
        }
        other => other.to_string(),
    }
}

/// Resident set of process `pid`, and its peak so far, in KiB.
fn rss_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

#[tokio::test]
async fn oversized_and_malformed_hellos_are_refused_before_allocation() {
    let c = start(&[]).await;
    let (good, _ctl) = c.admitted("agent-good").await;

    // A header announcing 15 MiB (under the 16 MiB batch limit, over the 16 KiB hello
    // limit), and no body: refused at once, not after the first-frame timeout.
    let t0 = Instant::now();
    let conn = c.connect().await;
    let (mut send, _recv) = conn.open_bi().await.unwrap();
    send.write_all(&(15u32 * 1024 * 1024).to_le_bytes())
        .await
        .unwrap();
    let reason = closed_reason(&conn, Duration::from_secs(5)).await;
    assert_eq!(reason, "hello too large");
    println!("oversized hello refused after {:?}", t0.elapsed());
    assert!(t0.elapsed() < Duration::from_secs(5));

    // A real Hello padded past the limit.
    let conn = c.connect().await;
    let mut big = hello("agent-big", &c.token());
    big.labels = vec![("pad".into(), "x".repeat(20_000))];
    let (mut send, _recv) = conn.open_bi().await.unwrap();
    // The write may fail once the collector closes; only the close matters.
    let _ = send
        .write_all(&codec::encode(&Frame::Hello(big)).unwrap())
        .await;
    assert_eq!(
        closed_reason(&conn, Duration::from_secs(5)).await,
        "hello too large"
    );

    // Garbage, and a tiny body claiming u32::MAX labels.
    for body in [
        vec![0xFFu8; 64],
        vec![0, 1, 0, 0, 0, 0xFC, 0xFF, 0xFF, 0xFF, 0x0F],
    ] {
        let conn = c.connect().await;
        let (mut send, _recv) = conn.open_bi().await.unwrap();
        let mut frame = (body.len() as u32).to_le_bytes().to_vec();
        frame.extend(&body);
        send.write_all(&frame).await.unwrap();
        assert_eq!(
            closed_reason(&conn, Duration::from_secs(5)).await,
            "malformed hello"
        );
    }

    assert_eq!(c.counter("rejects", "reason", "hello_too_large").await, 2);
    assert_eq!(c.counter("rejects", "reason", "malformed").await, 2);
    assert_acked(&good, "agent-good", 1).await;
    c.stop().await;
}

#[tokio::test]
async fn client_without_hello_is_dropped_after_the_first_frame_timeout() {
    let c = start(&[("ingest.first_frame_timeout_ms", 300)]).await;
    // One never opens a stream, one sends half a Hello.
    let silent = c.connect().await;
    let partial = c.connect().await;
    let (mut send, _recv) = partial.open_bi().await.unwrap();
    let frame = codec::encode(&Frame::Hello(hello("agent-p", &c.token()))).unwrap();
    send.write_all(&frame[..frame.len() / 2]).await.unwrap();
    let t0 = Instant::now();
    for conn in [&silent, &partial] {
        assert_eq!(
            closed_reason(conn, Duration::from_secs(5)).await,
            "no hello within timeout"
        );
    }
    println!("hello-less clients dropped within {:?}", t0.elapsed());
    assert_eq!(
        c.counter("rejects", "reason", "first_frame_timeout").await,
        2
    );
    // An agent that does say hello in time is unaffected by the short timeout.
    let (good, _ctl) = c.admitted("agent-good").await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_acked(&good, "agent-good", 1).await;
    c.stop().await;
}

#[tokio::test]
async fn per_address_cap_refuses_the_next_connection_and_agents_keep_being_acked() {
    let cap = 4;
    let c = start(&[("ingest.max_connections_per_address", cap)]).await;
    let (good, _ctl) = c.admitted("agent-good").await;
    let mut idle = Vec::new();
    for _ in 1..cap {
        idle.push(c.connect().await);
    }
    let mut refused = 0;
    for _ in 0..3 {
        match c.try_connect().await {
            Err(_) => refused += 1,
            Ok(_) => panic!("connection {} over the cap was accepted", cap + 1 + refused),
        }
    }
    assert_acked(&good, "agent-good", 1).await;
    println!("per-address cap {cap}: {refused} of 3 extra connections refused, agent acked");
    assert_eq!(refused, 3);
    assert_eq!(
        c.counter("rejects", "reason", "max_connections_per_address")
            .await,
        3
    );
    // A place freed is a place available again.
    drop(idle.pop());
    let mut reconnected = false;
    for _ in 0..50 {
        if c.try_connect().await.is_ok() {
            reconnected = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(reconnected, "a freed place is reusable");
    assert_acked(&good, "agent-good", 2).await;
    c.stop().await;
}

#[tokio::test]
async fn streams_are_capped_before_and_after_hello() {
    let c = start(&[("ingest.max_streams_per_connection", 4)]).await;
    // Before Hello: only the control stream may be opened.
    let conn = c.connect().await;
    let (mut ctl, _ctl_recv) = conn.open_bi().await.unwrap();
    ctl.write_all(b"").await.unwrap();
    // Streams are announced by their first byte; the second one gets no credit.
    let second = tokio::time::timeout(Duration::from_millis(500), conn.open_bi()).await;
    assert!(second.is_err(), "a second stream before hello got credit");

    // After Hello: the control stream plus 3 batch streams.
    let (good, _ctl) = c.admitted("agent-s").await;
    let mut held = Vec::new();
    for _ in 0..3 {
        let (mut send, recv) = good.open_bi().await.unwrap();
        send.write_all(&[1]).await.unwrap(); // a partial header keeps it open
        held.push((send, recv));
    }
    let fourth = tokio::time::timeout(Duration::from_millis(500), good.open_bi()).await;
    assert!(fourth.is_err(), "stream 5 of 4 got credit");
    drop(held);
    // Reset streams free their places; batches flow again.
    assert_acked(&good, "agent-s", 1).await;
    let limited = c
        .counter("limited", "limit", "max_streams_per_connection")
        .await;
    println!("stream cap 4: 5th stream waited; cap reached {limited} times");
    assert!(limited >= 1);
    c.stop().await;
}

#[tokio::test]
async fn decompression_bombs_close_only_their_connection() {
    let budget = 1024 * 1024;
    let c = start(&[("ingest.max_decompressed_bytes_per_connection", budget)]).await;
    let (good, _ctl) = c.admitted("agent-good").await;
    assert_acked(&good, "agent-good", 1).await;

    // 32 MiB of one repeated byte: a few KiB compressed, honest about its raw length, but
    // above this connection's budget: refused before it is inflated.
    let bomb = batch_of("agent-bomb", 1, vec!["a".repeat(32 * 1024 * 1024)]);
    println!(
        "bomb: {} compressed bytes declaring {} raw",
        bomb.payload.len(),
        bomb.raw_len
    );
    assert!(bomb.payload.len() < 64 * 1024);
    let (conn, _ctl) = c.admitted("agent-bomb").await;
    match send_raw(&conn, &codec::encode(&Frame::Batch(bomb.clone())).unwrap()).await {
        Ok(Frame::Reject(r)) => {
            assert_eq!(r.reason, RejectReason::Malformed);
            assert!(
                r.message
                    .contains("ingest.max_decompressed_bytes_per_connection"),
                "{}",
                r.message
            );
        }
        other => panic!("expected a reject, got {other:?}"),
    }
    closed_reason(&conn, Duration::from_secs(5)).await;

    // The same bomb claiming a small raw length: inflation stops at the claim.
    let (conn, _ctl) = c.admitted("agent-liar").await;
    let liar = Batch {
        agent_id: "agent-liar".into(),
        raw_len: 1000,
        ..bomb.clone()
    };
    match send_raw(&conn, &codec::encode(&Frame::Batch(liar)).unwrap()).await {
        Ok(Frame::Reject(r)) => assert_eq!(r.reason, RejectReason::Malformed),
        other => panic!("expected a reject, got {other:?}"),
    }
    closed_reason(&conn, Duration::from_secs(5)).await;

    // A small payload claiming 4 GiB.
    let (conn, _ctl) = c.admitted("agent-claim").await;
    let claim = Batch {
        agent_id: "agent-claim".into(),
        raw_len: u32::MAX,
        ..batch_of("agent-claim", 1, vec!["x".into()])
    };
    let _ = send_raw(&conn, &codec::encode(&Frame::Batch(claim)).unwrap()).await;
    closed_reason(&conn, Duration::from_secs(5)).await;

    assert_eq!(
        c.counter("rejects", "reason", "decompressed_budget").await,
        2
    );
    // The good connection is untouched, and its own budget still refills.
    for seq in 2..6 {
        assert_acked(&good, "agent-good", seq).await;
    }
    c.stop().await;
}

#[tokio::test]
async fn a_flood_of_unauthenticated_connections_leaves_agents_acked() {
    // FLEETLOG_FLOOD_CONNECTIONS overrides the size (1000 by default).
    let n: usize = std::env::var("FLEETLOG_FLOOD_CONNECTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    // Room for the agent and the flood, not one more.
    let total_cap = n as i64 + 1;
    let c = start_process(&[
        ("ingest.max_connections", total_cap),
        ("ingest.max_connections_per_address", total_cap + 100),
        ("ingest.first_frame_timeout_ms", 60_000),
    ])
    .await;
    let (good, _ctl) = c.admitted("agent-good").await;
    assert_acked(&good, "agent-good", 1).await;
    let pid = c.pid();
    let (rss_before, _) = rss_kib(pid);
    let (test_rss_before, _) = rss_kib(std::process::id());

    // Sample RSS while the flood runs.
    let (stop_sampling, mut sampling) = watch::channel(false);
    let sampler = tokio::spawn(async move {
        let mut peak = 0;
        loop {
            peak = peak.max(rss_kib(pid).0);
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                _ = sampling.changed() => return peak,
            }
        }
    });

    // The legitimate agent keeps shipping during the flood.
    let (stop_agent, agent_stop) = watch::channel(false);
    let agent_conn = good.clone();
    let agent = tokio::spawn(async move {
        let (mut acked, mut failed, mut worst) = (0u64, 0u64, Duration::ZERO);
        let mut seq = 2;
        while !*agent_stop.borrow() {
            let t = Instant::now();
            match tokio::time::timeout(
                Duration::from_secs(10),
                send_raw(&agent_conn, &batch("agent-good", seq, 20)),
            )
            .await
            {
                Ok(Ok(Frame::Ack(_))) => acked += 1,
                _ => failed += 1,
            }
            worst = worst.max(t.elapsed());
            seq += 1;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        (acked, failed, worst)
    });

    // Each flooding client connects, opens the control stream and sends a header that
    // promises a maximal Hello followed by half of it, then waits.
    let t0 = Instant::now();
    let half_hello = vec![0u8; 8 * 1024];
    let mut held = Vec::with_capacity(n);
    let mut refused = 0usize;
    for chunk in 0..n.div_ceil(100) {
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..(n - chunk * 100).min(100) {
            let ep = c.client.clone();
            let addr = c.quic;
            let half = half_hello.clone();
            set.spawn(async move {
                let conn = ep.connect(addr, "localhost").unwrap().await?;
                let (mut send, recv) = conn.open_bi().await?;
                let mut bytes = (16u32 * 1024).to_le_bytes().to_vec();
                bytes.extend(&half);
                let _ = send.write_all(&bytes).await;
                Ok::<_, quinn::ConnectionError>((conn, send, recv))
            });
        }
        while let Some(r) = set.join_next().await {
            match r.unwrap() {
                Ok(h) => held.push(h),
                Err(_) => refused += 1,
            }
        }
    }
    let connected_in = t0.elapsed();
    // The total cap is reached: further connections are refused before their handshake.
    let mut over_cap = 0;
    for _ in 0..50 {
        if c.try_connect().await.is_err() {
            over_cap += 1;
        }
    }
    // Let the collector hold them all for a while.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let open_gauge = http_get(c.http, "/metrics").await;
    let open = open_gauge
        .lines()
        .find_map(|l| l.strip_prefix("fleetlog_collector_ingest_connections "))
        .unwrap_or("?")
        .trim()
        .to_owned();
    stop_agent.send(true).unwrap();
    let (acked, failed, worst) = agent.await.unwrap();
    stop_sampling.send(true).unwrap();
    let peak = sampler.await.unwrap();
    let (_, hwm) = rss_kib(pid);
    let (test_rss, _) = rss_kib(std::process::id());
    let still_open = held.iter().filter(|h| h.0.close_reason().is_none()).count();
    println!(
        "flood: {n} unauthenticated connections ({} established, {refused} refused) in {connected_in:?}; \
         collector gauge of open connections {open}; {still_open} still open at the end; \
         {over_cap} of 50 connections over ingest.max_connections = {total_cap} refused",
        held.len()
    );
    println!(
        "flood: authenticated agent got {acked} acks and {failed} failures during the flood, \
         slowest ack {worst:?}"
    );
    println!(
        "flood: collector process RSS {} MiB before, peak {} MiB during (VmHWM {} MiB); \
         the test process with the {n} clients went from {} to {} MiB",
        rss_before / 1024,
        peak / 1024,
        hwm / 1024,
        test_rss_before / 1024,
        test_rss / 1024
    );
    assert!(acked >= 5, "the agent was starved: {acked} acks");
    assert_eq!(failed, 0);
    assert_eq!(held.len(), n, "the flood stays under the configured caps");
    assert_eq!(over_cap, 50);
    assert_eq!(c.counter("rejects", "reason", "max_connections").await, 50);
    // Each unauthenticated connection may hold at most ~20 KiB of unread data plus quinn's
    // own state; 1000 of them stay far below 256 MiB.
    assert!(
        peak.saturating_sub(rss_before) < 256 * 1024,
        "RSS grew by {} MiB",
        peak.saturating_sub(rss_before) / 1024
    );
    assert_acked(&good, "agent-good", 100_000).await;
    drop(held);
    c.stop().await;
}

#[tokio::test]
async fn a_stalled_handshake_is_dropped_after_the_handshake_timeout() {
    let c = start(&[
        ("ingest.handshake_timeout_ms", 300),
        ("ingest.max_connections_per_address", 2),
    ])
    .await;
    // A relay that passes the client's first datagram (its Initial) to the collector and
    // nothing else, in either direction: the handshake starts and never completes.
    let relay = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let relay_addr = relay.local_addr().unwrap();
    let quic = c.quic;
    let relay_task = tokio::spawn(async move {
        let mut buf = vec![0u8; 65536];
        let (n, _) = relay.recv_from(&mut buf).await.unwrap();
        relay.send_to(&buf[..n], quic).await.unwrap();
        // Swallow the rest until the test ends.
        while relay.recv_from(&mut buf).await.is_ok() {}
    });
    let stalled = c.client.connect(relay_addr, "localhost").unwrap();
    let stalled = tokio::spawn(stalled);
    let t0 = Instant::now();
    let mut counted = 0;
    while t0.elapsed() < Duration::from_secs(5) {
        counted = c.counter("rejects", "reason", "handshake_timeout").await;
        if counted > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!("stalled handshake dropped after {:?}", t0.elapsed());
    assert_eq!(counted, 1);
    // Its place is free again: two connections fit under the per-address cap of 2.
    let (good, _ctl) = c.admitted("agent-good").await;
    let _second = c.connect().await;
    assert_acked(&good, "agent-good", 1).await;
    relay_task.abort();
    stalled.abort();
    c.stop().await;
}
