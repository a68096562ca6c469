//! The collector's QUIC ingest against a real quinn client on loopback: admission,
//! exactly-once storage, and hostile frames that close one connection and nothing else.

// Helpers outside #[test] fns panic on purpose: a failed setup is a failed test.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::Duration;

use fleetlog_agent::ship::{client_config, read_frame};
use fleetlog_collector::config::{self, set_key};
use fleetlog_protocol::codec;
use fleetlog_protocol::messages::*;
use tokio::sync::watch;

struct Running {
    quic: SocketAddr,
    http: SocketAddr,
    dir: tempfile::TempDir,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

async fn start() -> Running {
    let dir = tempfile::tempdir().unwrap();
    let mut flags = toml::Table::new();
    set_key(
        &mut flags,
        "data_dir",
        dir.path().display().to_string().into(),
    );
    set_key(&mut flags, "quic_listen", "127.0.0.1:0".into());
    set_key(&mut flags, "http_listen", "127.0.0.1:0".into());
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
        let conn = self.connect().await;
        let (mut send, mut recv) = conn.open_bi().await.unwrap();
        send.write_all(
            &codec::encode(&Frame::Hello(hello(agent_id, &self.token("agent-token")))).unwrap(),
        )
        .await
        .unwrap();
        assert!(matches!(
            read_frame(&mut recv).await.unwrap(),
            Frame::Welcome(_)
        ));
        (conn, send)
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
            })
            .collect(),
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
