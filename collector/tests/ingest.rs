//! The collector's QUIC ingest against a real quinn client on loopback: admission,
//! exactly-once storage, hostile frames that close one connection and nothing else, and the
//! model push after `Welcome`.

// Helpers outside #[test] fns panic on purpose: a failed setup is a failed test.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::net::SocketAddr;
use std::time::Duration;

use fleetlog_agent::ship::{client_config, read_frame};
use fleetlog_collector::config::{self, set_key};
use fleetlog_collector::ingest::model::content_hash;
use fleetlog_lines::baseline::Baseline;
use fleetlog_protocol::codec;
use fleetlog_protocol::messages::*;
use tokio::sync::watch;

struct Running {
    quic: SocketAddr,
    http: SocketAddr,
    dir: tempfile::TempDir,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    /// The credential each agent id was issued, presented from its next connection on (as
    /// the real agent does).
    credentials: std::sync::Mutex<std::collections::HashMap<String, String>>,
}

async fn start() -> Running {
    start_with(|_, _| {}).await
}

/// Starts a collector after `setup` has seen its data dir and config flags.
async fn start_with(setup: impl FnOnce(&std::path::Path, &mut toml::Table)) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let mut flags = toml::Table::new();
    set_key(
        &mut flags,
        "data_dir",
        dir.path().display().to_string().into(),
    );
    set_key(&mut flags, "quic_listen", "127.0.0.1:0".into());
    set_key(&mut flags, "http_listen", "127.0.0.1:0".into());
    setup(dir.path(), &mut flags);
    let cfg = config::load(None, |_| None, flags).unwrap();
    let startup = fleetlog_collector::prepare(&cfg).await.unwrap();
    let bound = fleetlog_collector::Bound::bind(cfg, startup).await.unwrap();
    let (quic, http) = (bound.quic_addr().unwrap(), bound.http_addr().unwrap());
    let (stop, rx) = watch::channel(false);
    let task = tokio::spawn(bound.serve(rx));
    Running {
        quic,
        http,
        dir,
        stop,
        task,
        credentials: Default::default(),
    }
}

impl Running {
    fn token(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name))
            .unwrap()
            .trim()
            .to_owned()
    }

    async fn connect(&self) -> quinn::Connection {
        let mut ep = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
        ep.set_default_client_config(client_config(&self.dir.path().join("ca.pem")).unwrap());
        ep.connect(self.quic, "localhost").unwrap().await.unwrap()
    }

    /// Connects and completes the hello; returns the connection and the control stream.
    async fn admitted(&self, agent_id: &str) -> (quinn::Connection, quinn::SendStream) {
        let (conn, send, _recv) = self.admitted_ctl(agent_id).await;
        (conn, send)
    }

    /// Like `admitted`, also returning the control stream's receive half.
    async fn admitted_ctl(
        &self,
        agent_id: &str,
    ) -> (quinn::Connection, quinn::SendStream, quinn::RecvStream) {
        let conn = self.connect().await;
        let (mut send, mut recv) = conn.open_bi().await.unwrap();
        let credential = self.credentials.lock().unwrap().get(agent_id).cloned();
        let token = credential
            .clone()
            .unwrap_or_else(|| self.token("agent-token"));
        send.write_all(&codec::encode(&Frame::Hello(hello(agent_id, &token))).unwrap())
            .await
            .unwrap();
        assert!(matches!(
            read_frame(&mut recv).await.unwrap(),
            Frame::Welcome(_)
        ));
        if credential.is_none() {
            // Enrolled with the fleet token: the credential follows the welcome.
            let Frame::Credential(c) = read_frame(&mut recv).await.unwrap() else {
                panic!("expected the agent's credential after its first welcome");
            };
            assert_eq!(c.agent_id, agent_id);
            self.credentials
                .lock()
                .unwrap()
                .insert(agent_id.to_owned(), c.token);
        }
        (conn, send, recv)
    }

    async fn lines_received(&self) -> u64 {
        let body = reqwest_get(self.http, "/api/v1/hosts", &self.token("admin-token")).await;
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        v["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["lines_received"].as_u64().unwrap())
            .sum()
    }

    async fn stop(self) {
        self.stop.send(true).unwrap();
        self.task.await.unwrap().unwrap();
    }
}

/// Minimal HTTP/1.1 GET over a TCP socket (keeps this test free of an HTTP client dep).
async fn reqwest_get(addr: SocketAddr, path: &str, token: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    );
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
        labels: vec![("store".into(), "042".into())],
        agent_version: "test".into(),
    }
}

fn batch(agent_id: &str, seq: u64, n: usize) -> Vec<u8> {
    let payload = BatchPayload {
        sources: vec!["/var/log/pos.log".into()],
        entries: (0..n)
            .map(|i| Entry {
                ts_ms: 1,
                source: 0,
                line: format!("line {seq}-{i}"),
                level: if i == 0 { Level::Error } else { Level::Info },
                score: 0.0,
                ..Entry::default()
            })
            .collect(),
        ..BatchPayload::default()
    };
    let (compressed, raw_len) = codec::encode_payload(&payload).unwrap();
    codec::encode(&Frame::Batch(Batch {
        agent_id: agent_id.into(),
        seq,
        priority: false,
        entry_count: n as u32,
        raw_len,
        payload: compressed,
    }))
    .unwrap()
}

async fn send_raw(conn: &quinn::Connection, bytes: &[u8]) -> Result<Frame, String> {
    let (mut send, mut recv) = conn.open_bi().await.map_err(|e| e.to_string())?;
    send.write_all(bytes).await.map_err(|e| e.to_string())?;
    send.finish().map_err(|e| e.to_string())?;
    read_frame(&mut recv).await.map_err(|e| e.to_string())
}

#[tokio::test]
async fn resent_batch_is_acked_and_stored_once() {
    let c = start().await;
    let (conn, _ctl) = c.admitted("agent-a").await;
    let frame = batch("agent-a", 1, 10);
    assert_eq!(
        send_raw(&conn, &frame).await.unwrap(),
        Frame::Ack(Ack {
            seq: 1,
            duplicate: false
        })
    );
    assert_eq!(
        send_raw(&conn, &frame).await.unwrap(),
        Frame::Ack(Ack {
            seq: 1,
            duplicate: true
        })
    );
    // Also across a new connection (the agent reconnected before seeing the ack).
    let (conn2, _ctl2) = c.admitted("agent-a").await;
    assert_eq!(
        send_raw(&conn2, &frame).await.unwrap(),
        Frame::Ack(Ack {
            seq: 1,
            duplicate: true
        })
    );
    assert_eq!(c.lines_received().await, 10);
    c.stop().await;
}

#[tokio::test]
async fn wrong_token_is_rejected_with_reason() {
    let c = start().await;
    let conn = c.connect().await;
    let (mut send, mut recv) = conn.open_bi().await.unwrap();
    send.write_all(&codec::encode(&Frame::Hello(hello("agent-x", "wrong"))).unwrap())
        .await
        .unwrap();
    match read_frame(&mut recv).await.unwrap() {
        Frame::Reject(r) => assert_eq!(r.reason, RejectReason::Unauthorized),
        other => panic!("expected reject, got {other:?}"),
    }
    // The connection is closed afterwards, and a batch cannot sneak in.
    let err = send_raw(&conn, &batch("agent-x", 1, 1)).await.unwrap_err();
    assert!(!err.is_empty());
    assert_eq!(c.lines_received().await, 0);
    c.stop().await;
}

#[tokio::test]
async fn malformed_and_oversized_frames_close_only_their_connection() {
    let c = start().await;
    let (good, _good_ctl) = c.admitted("agent-good").await;
    assert!(matches!(
        send_raw(&good, &batch("agent-good", 1, 5)).await.unwrap(),
        Frame::Ack(_)
    ));

    // Garbage body with a plausible length.
    let (bad, _ctl) = c.admitted("agent-bad").await;
    let mut garbage = 64u32.to_le_bytes().to_vec();
    garbage.extend(std::iter::repeat_n(0xFFu8, 64));
    match send_raw(&bad, &garbage).await {
        Ok(Frame::Reject(r)) => assert_eq!(r.reason, RejectReason::Malformed),
        other => panic!("expected a malformed reject, got {other:?}"),
    }
    tokio::time::timeout(Duration::from_secs(5), bad.closed())
        .await
        .expect("bad connection closed");

    // A header announcing more than the frame limit: refused before allocation.
    let (huge, _ctl) = c.admitted("agent-huge").await;
    let header = ((fleetlog_protocol::MAX_FRAME_LEN + 1) as u32).to_le_bytes();
    let _ = send_raw(&huge, &header).await;
    tokio::time::timeout(Duration::from_secs(5), huge.closed())
        .await
        .expect("huge connection closed");

    // A batch whose payload lies about its size.
    let (liar, _ctl) = c.admitted("agent-liar").await;
    let Frame::Batch(mut b) = codec::decode(&batch("agent-liar", 1, 3))
        .unwrap()
        .unwrap()
        .0
    else {
        unreachable!()
    };
    b.raw_len += 100;
    let _ = send_raw(&liar, &codec::encode(&Frame::Batch(b)).unwrap()).await;
    tokio::time::timeout(Duration::from_secs(5), liar.closed())
        .await
        .expect("liar connection closed");

    // The good connection is unaffected.
    assert!(matches!(
        send_raw(&good, &batch("agent-good", 2, 5)).await.unwrap(),
        Frame::Ack(_)
    ));
    assert_eq!(c.lines_received().await, 10);
    c.stop().await;
}

#[tokio::test]
async fn batch_for_another_agent_is_refused() {
    let c = start().await;
    let (conn, _ctl) = c.admitted("agent-a").await;
    match send_raw(&conn, &batch("agent-b", 1, 1)).await {
        Ok(Frame::Reject(r)) => assert_eq!(r.reason, RejectReason::ProtocolViolation),
        other => panic!("expected reject, got {other:?}"),
    }
    assert_eq!(c.lines_received().await, 0);
    c.stop().await;
}

#[tokio::test]
async fn unknown_ca_fails_the_handshake() {
    let c = start().await;
    let other = tempfile::tempdir().unwrap();
    // A second collector data dir gives a second, unrelated development CA.
    fleetlog_collector::tls::load_or_create(other.path(), &config::TlsSource::Development).unwrap();
    let mut ep = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    ep.set_default_client_config(client_config(&other.path().join("ca.pem")).unwrap());
    let err = ep.connect(c.quic, "localhost").unwrap().await.unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("certificate") || msg.contains("UnknownIssuer"),
        "{msg}"
    );
    c.stop().await;
}

/// A small healthy baseline, as `fleetlog-collector train --out` writes it.
fn write_model(path: &std::path::Path) -> Vec<u8> {
    let lines: Vec<String> = (0..20)
        .map(|i| format!("register {i} txn approved total={i}.50 EUR"))
        .collect();
    let model = Baseline::train(lines.iter().map(|l| (l.as_str(), None)));
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    fleetlog_collector::analyze::model::save(path, &model).unwrap();
    std::fs::read(path).unwrap()
}

#[tokio::test]
async fn configured_model_is_pushed_after_welcome() {
    let mut file_bytes = Vec::new();
    let c = start_with(|dir, flags| {
        let path = dir.join("models/store.json");
        file_bytes = write_model(&path);
        set_key(flags, "model", path.display().to_string().into());
    })
    .await;
    let mut versions = Vec::new();
    for _ in 0..2 {
        let (conn, _ctl, mut recv) = c.admitted_ctl("agent-m").await;
        let frame = tokio::time::timeout(Duration::from_secs(5), read_frame(&mut recv))
            .await
            .expect("model frame after welcome")
            .unwrap();
        let Frame::Model(push) = frame else {
            panic!("expected a model push, got {frame:?}");
        };
        let raw = codec::decode_model(&push).unwrap();
        assert_eq!(raw, file_bytes);
        let baseline: Baseline = serde_json::from_slice(&raw).unwrap();
        assert!(baseline.templates() >= 1);
        assert_eq!(push.version, content_hash(&file_bytes));
        versions.push(push.version);
        // Batches still flow on the same connection.
        assert!(matches!(
            send_raw(&conn, &batch("agent-m", versions.len() as u64, 2))
                .await
                .unwrap(),
            Frame::Ack(_)
        ));
    }
    assert_eq!(versions[0], versions[1], "one model, one version");
    c.stop().await;
}

#[tokio::test]
async fn default_model_file_in_the_data_dir_is_pushed() {
    let c = start_with(|dir, _| {
        write_model(&dir.join(config::DEFAULT_MODEL_FILE));
    })
    .await;
    let (_conn, _ctl, mut recv) = c.admitted_ctl("agent-d").await;
    let frame = tokio::time::timeout(Duration::from_secs(5), read_frame(&mut recv))
        .await
        .expect("model frame after welcome")
        .unwrap();
    assert!(matches!(frame, Frame::Model(_)), "{frame:?}");
    c.stop().await;
}

#[tokio::test]
async fn no_model_means_nothing_after_welcome() {
    let c = start().await;
    let (conn, _ctl, mut recv) = c.admitted_ctl("agent-n").await;
    assert!(
        tokio::time::timeout(Duration::from_millis(500), read_frame(&mut recv))
            .await
            .is_err(),
        "nothing follows the welcome without a model"
    );
    assert!(matches!(
        send_raw(&conn, &batch("agent-n", 1, 2)).await.unwrap(),
        Frame::Ack(_)
    ));
    c.stop().await;
}

#[tokio::test]
async fn corrupt_model_fails_start_naming_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.json");
    std::fs::write(&path, b"{not a model").unwrap();
    let mut flags = toml::Table::new();
    set_key(
        &mut flags,
        "data_dir",
        dir.path().display().to_string().into(),
    );
    set_key(&mut flags, "model", path.display().to_string().into());
    let cfg = config::load(None, |_| None, flags).unwrap();
    let err = format!("{:#}", fleetlog_collector::prepare(&cfg).await.unwrap_err());
    assert!(
        err.contains("`model`") && err.contains("broken.json"),
        "{err}"
    );
}

/// The real agent shipper adopts the pushed model and keeps it in its buffer.
#[tokio::test]
async fn agent_shipper_adopts_and_saves_the_pushed_model() {
    use fleetlog_agent::buffer::{Buffer, FullPolicy};
    use fleetlog_agent::metrics::Metrics;
    use fleetlog_agent::ship::driver::{self, ShipConfig, Signals};
    use std::sync::Arc;

    let mut file_bytes = Vec::new();
    let c = start_with(|dir, _| {
        file_bytes = write_model(&dir.join(config::DEFAULT_MODEL_FILE));
    })
    .await;
    let agent_dir = tempfile::tempdir().unwrap();
    let buffer = Arc::new(
        Buffer::open(
            &agent_dir.path().join("buffer.redb"),
            1 << 20,
            FullPolicy::Block,
        )
        .unwrap(),
    );
    let signals = Arc::new(Signals::default());
    let mut models = signals.model.subscribe();
    let (stop, stopped) = watch::channel(false);
    let shipper = tokio::spawn(driver::run(
        ShipConfig {
            collector: c.quic.to_string(),
            rebalance_after: None,
            server_name: "localhost".into(),
            client: client_config(&c.dir.path().join("ca.pem")).unwrap(),
            token: c.token("agent-token"),
            host_name: "store-1".into(),
            labels: vec![],
            heartbeat: Duration::from_secs(1),
            max_in_flight: 4,
            max_in_flight_priority: 2,
            data_dir: agent_dir.path().to_owned(),
            log_dirs: vec![],
            config_hash: 1,
        },
        buffer.clone(),
        signals.clone(),
        Arc::new(Metrics::default()),
        stopped,
    ));
    let version = tokio::time::timeout(Duration::from_secs(10), models.wait_for(Option::is_some))
        .await
        .expect("model adopted")
        .unwrap()
        .as_ref()
        .map(|m| m.version);
    assert_eq!(version, Some(content_hash(&file_bytes)));
    assert_eq!(
        buffer.load_model().unwrap(),
        Some((content_hash(&file_bytes), file_bytes))
    );
    stop.send(true).unwrap();
    shipper.await.unwrap();
    c.stop().await;
}

/// A collector of this build serves agents of every supported protocol version at once: an
/// agent that says `protocol_version: 1` and sends v1 payloads (fleets upgrade the hub
/// first, so old agents keep talking to a new collector) and a v4 agent whose entries carry
/// the line's own time, its template and its source's service. Both are stored, both are
/// read back from the archive, and only the v4 event has the v4 fields.
#[tokio::test]
async fn v1_and_v4_agents_are_served_side_by_side() {
    let c = start().await;
    let token = c.token("agent-token");
    let error_line = "2026-11-28T10:00:00Z ERROR payment terminal TIMEOUT after 30s";
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;

    // The v1 agent: hello at version 1, payload in the v1 encoding.
    let conn = c.connect().await;
    let (mut ctl, mut ctl_recv) = conn.open_bi().await.unwrap();
    let mut old_hello = hello("agent-v1", &token);
    old_hello.protocol_version = 1;
    ctl.write_all(&codec::encode(&Frame::Hello(old_hello)).unwrap())
        .await
        .unwrap();
    // The welcome names the collector's version; the agent speaks the lower of the two.
    assert!(matches!(
        read_frame(&mut ctl_recv).await.unwrap(),
        Frame::Welcome(_)
    ));
    let v1 = BatchPayload {
        sources: vec!["/var/log/pos/register.log".into()],
        entries: vec![Entry {
            ts_ms: now,
            source: 0,
            line: error_line.into(),
            level: Level::Error,
            score: 0.9,
            ..Entry::default()
        }],
        ..BatchPayload::default()
    };
    let (payload, raw_len) = codec::encode_payload_v1(v1).unwrap();
    assert!(!codec::is_v4_payload(&payload));
    let frame = codec::encode(&Frame::Batch(Batch {
        agent_id: "agent-v1".into(),
        seq: 1,
        priority: false,
        entry_count: 1,
        raw_len,
        payload,
    }))
    .unwrap();
    assert_eq!(
        send_raw(&conn, &frame).await.unwrap(),
        Frame::Ack(Ack {
            seq: 1,
            duplicate: false
        })
    );

    // The v4 agent.
    let (conn4, _ctl4) = c.admitted("agent-v4").await;
    let v4 = BatchPayload {
        sources: vec!["/var/log/pods/shop_pos-7_0c1d/pos/0.log".into()],
        entries: vec![Entry {
            ts_ms: now,
            source: 0,
            line: error_line.into(),
            level: Level::Error,
            score: 0.9,
            logged_ms: Some(now - 3_600_000),
            class: Some("payment".into()),
            template: Some(7),
            flags: 0,
        }],
        source_meta: vec![SourceMeta {
            service: Some("pos-terminal".into()),
            kubernetes: None,
        }],
        model_version: Some(42),
    };
    let (payload, raw_len) = codec::encode_payload(&v4).unwrap();
    let frame = codec::encode(&Frame::Batch(Batch {
        agent_id: "agent-v4".into(),
        seq: 1,
        priority: false,
        entry_count: 1,
        raw_len,
        payload,
    }))
    .unwrap();
    assert_eq!(
        send_raw(&conn4, &frame).await.unwrap(),
        Frame::Ack(Ack {
            seq: 1,
            duplicate: false
        })
    );

    let admin = c.token("admin-token");
    for (host, logged, template, service) in [
        ("host-agent-v1", None, None, "register"),
        (
            "host-agent-v4",
            Some(now - 3_600_000),
            Some(7),
            "pos-terminal",
        ),
    ] {
        let body = reqwest_get(c.http, &format!("/api/v1/events?host={host}"), &admin).await;
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        let events = v["events"].as_array().unwrap();
        assert_eq!(events.len(), 1, "{host}: {body}");
        let e = &events[0];
        assert_eq!(e["logged_ms"].as_i64(), logged, "{host}: {e}");
        assert_eq!(e["template_id"].as_i64(), template, "{host}: {e}");
        assert_eq!(e["service"].as_str(), Some(service), "{host}: {e}");
        // The raw line comes back from the archive whatever the payload's encoding.
        let body = reqwest_get(c.http, &format!("/api/v1/lines?host={host}"), &admin).await;
        assert!(body.contains("payment terminal TIMEOUT"), "{host}: {body}");
        println!("{host}: logged_ms {logged:?}, template_id {template:?}, service {service}");
    }
    c.stop().await;
}

/// A minimal HTTP/1.1 request with a JSON body; returns (status, body).
async fn http_call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: &str,
    body: Option<&str>,
) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let body = body.unwrap_or("");
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    let status = out
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// Sends `hello` on a new connection and returns the collector's first answer.
async fn answer_to(c: &Running, hello: Hello) -> Frame {
    let conn = c.connect().await;
    let (mut send, mut recv) = conn.open_bi().await.unwrap();
    send.write_all(&codec::encode(&Frame::Hello(hello)).unwrap())
        .await
        .unwrap();
    read_frame(&mut recv).await.unwrap()
}

fn reject_of(frame: Frame) -> Reject {
    match frame {
        Frame::Reject(r) => r,
        other => panic!("expected a reject, got {other:?}"),
    }
}

/// Per-agent credentials (issue 16): the fleet token enrolls an agent and it is issued its
/// own credential; once it has presented it, the fleet token no longer passes for it; a
/// revocation through the API closes its live connection and refuses it with the reason
/// (said as `Unauthorized` to a pre-v5 agent); reinstating it lets its credential in again.
#[tokio::test]
async fn agent_credentials_enroll_revoke_and_reinstate() {
    let c = start().await;
    let admin = c.token("admin-token");
    let fleet = c.token("agent-token");
    // First connection: fleet token, then the credential (read by the helper).
    let (first, _ctl, _recv) = c.admitted_ctl("agent-c").await;
    first.close(0u32.into(), b"done");
    let credential = c.credentials.lock().unwrap()["agent-c"].clone();
    assert!(credential.starts_with("fla_"), "{credential}");
    // Second: the credential; nothing follows the welcome now.
    let (live, _ctl, mut recv) = c.admitted_ctl("agent-c").await;
    assert!(
        tokio::time::timeout(Duration::from_millis(300), read_frame(&mut recv))
            .await
            .is_err()
    );
    assert!(matches!(
        send_raw(&live, &batch("agent-c", 1, 3)).await.unwrap(),
        Frame::Ack(_)
    ));
    // The fleet token no longer passes for agent-c; its credential is worth nothing for
    // another agent id.
    let r = reject_of(answer_to(&c, hello("agent-c", &fleet)).await);
    assert_eq!(r.reason, RejectReason::Unauthorized);
    assert!(r.message.contains("must present it"), "{}", r.message);
    let r = reject_of(answer_to(&c, hello("agent-d", &credential)).await);
    assert_eq!(r.reason, RejectReason::Unauthorized);
    println!("another agent's credential: {}", r.message);

    // Revoke through the API: the live connection closes at once.
    let t0 = std::time::Instant::now();
    let (status, body) = http_call(
        c.http,
        "PUT",
        "/api/v1/agents/agent-c/revocation",
        &admin,
        Some(r#"{"reason":"terminal reported stolen"}"#),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let closed = tokio::time::timeout(Duration::from_secs(5), live.closed())
        .await
        .expect("the revoked agent's connection closes");
    println!(
        "revoked connection closed after {:?}: {closed}",
        t0.elapsed()
    );
    match closed {
        quinn::ConnectionError::ApplicationClosed(a) => {
            assert_eq!(&a.reason[..], b"agent credential revoked");
        }
        other => panic!("expected an application close, got {other}"),
    }
    // Refused with the reason: `Revoked` to v5, `Unauthorized` to v4, fleet token too.
    let r = reject_of(answer_to(&c, hello("agent-c", &credential)).await);
    assert_eq!(r.reason, RejectReason::Revoked);
    assert_eq!(
        r.message,
        "agent agent-c was revoked: terminal reported stolen"
    );
    let mut v4 = hello("agent-c", &credential);
    v4.protocol_version = 4;
    let r = reject_of(answer_to(&c, v4).await);
    assert_eq!(r.reason, RejectReason::Unauthorized);
    assert!(r.message.contains("terminal reported stolen"));
    let r = reject_of(answer_to(&c, hello("agent-c", &fleet)).await);
    assert_eq!(r.reason, RejectReason::Revoked);
    // Listed with who revoked it and why; forgetting a revoked agent is refused.
    let (status, body) = http_call(c.http, "GET", "/api/v1/agents/enrollments", &admin, None).await;
    assert_eq!(status, 200);
    let list: serde_json::Value = serde_json::from_str(&body).unwrap();
    let row = &list["enrollments"][0];
    assert_eq!(row["agent_id"], "agent-c");
    assert_eq!(row["credential_used"], true);
    assert_eq!(row["revoked_reason"], "terminal reported stolen");
    assert_eq!(row["revoked_by"], "bootstrap");
    let (status, _) = http_call(
        c.http,
        "DELETE",
        "/api/v1/agents/agent-c/enrollment",
        &admin,
        None,
    )
    .await;
    assert_eq!(status, 409);
    let (status, _) = http_call(
        c.http,
        "PUT",
        "/api/v1/agents/never-seen/revocation",
        &admin,
        Some(r#"{"reason":"x"}"#),
    )
    .await;
    assert_eq!(status, 404);
    let metrics = reqwest_get(c.http, "/metrics", &admin).await;
    for want in [
        "fleetlog_collector_ingest_credentials_issued_total 1",
        "fleetlog_collector_ingest_rejects_total{reason=\"revoked\"} 3",
    ] {
        assert!(metrics.contains(want), "{want} in\n{metrics}");
    }

    // Reinstated: the credential admits it again and its batches are stored.
    let (status, body) = http_call(
        c.http,
        "DELETE",
        "/api/v1/agents/agent-c/revocation",
        &admin,
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (again, _ctl, _recv) = c.admitted_ctl("agent-c").await;
    assert!(matches!(
        send_raw(&again, &batch("agent-c", 2, 3)).await.unwrap(),
        Frame::Ack(_)
    ));
    // Forgotten: the fleet token enrolls it again, with the same credential.
    again.close(0u32.into(), b"done");
    let (status, _) = http_call(
        c.http,
        "DELETE",
        "/api/v1/agents/agent-c/enrollment",
        &admin,
        None,
    )
    .await;
    assert_eq!(status, 204);
    c.credentials.lock().unwrap().clear();
    let (_conn, _ctl, _recv) = c.admitted_ctl("agent-c").await;
    assert_eq!(c.credentials.lock().unwrap()["agent-c"], credential);
    assert_eq!(c.lines_received().await, 6);
    c.stop().await;
}

/// An agent older than protocol v5 cannot hold a credential: the fleet token admits it, and
/// it is recorded, so that it can be revoked all the same. With `ingest.enrollment =
/// "closed"` the fleet token admits nobody.
#[tokio::test]
async fn pre_v5_agents_can_be_revoked_and_enrollment_can_be_closed() {
    let c = start().await;
    let admin = c.token("admin-token");
    let fleet = c.token("agent-token");
    let mut v4 = hello("agent-old", &fleet);
    v4.protocol_version = 4;
    assert!(matches!(answer_to(&c, v4.clone()).await, Frame::Welcome(_)));
    assert!(matches!(answer_to(&c, v4.clone()).await, Frame::Welcome(_)));
    let (status, body) = http_call(
        c.http,
        "PUT",
        "/api/v1/agents/agent-old/revocation",
        &admin,
        Some(r#"{"reason":"decommissioned"}"#),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let r = reject_of(answer_to(&c, v4).await);
    assert_eq!(r.reason, RejectReason::Unauthorized);
    assert_eq!(r.message, "agent agent-old was revoked: decommissioned");
    c.stop().await;

    let closed = start_with(|_, flags| set_key(flags, "ingest.enrollment", "closed".into())).await;
    let r = reject_of(answer_to(&closed, hello("agent-new", &closed.token("agent-token"))).await);
    assert_eq!(r.reason, RejectReason::Unauthorized);
    assert!(r.message.contains("enrollment is closed"), "{}", r.message);
    closed.stop().await;
}
