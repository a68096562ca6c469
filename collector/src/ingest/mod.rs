//! QUIC ingest: accepts agent connections, admits them by their own credential or the fleet
//! enrollment token (`credentials`), and stores each batch exactly once before acknowledging
//! it.
//!
//! The per-frame decisions live in `fleetlog_protocol::session::collector`; this module
//! does the I/O. A malformed or oversized frame closes that one connection; nothing
//! else is affected. Ingest never awaits anything but the store.
//!
//! After `Welcome`, the collector pushes the model in force (the registry's active model) as
//! `Frame::Model` on the control stream, and each model activated later, from its own task
//! per connection (`push_models`, fed by `connections::Connections`), so that an agent that
//! never reads the control stream (flow control) cannot hold up its batches.

pub mod connections;
pub mod credentials;
pub mod limits;
pub mod model;
mod order;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use fleetlog_protocol::messages::{
    Ack, AgentCredential, Batch, BatchPayload, Frame, Reject, RejectReason,
};
use fleetlog_protocol::session::collector::{
    BatchStreamAction, check_hello_fields, on_batch_frame, reject_for_peer, welcome,
};
use fleetlog_protocol::{CodecError, MAX_FRAME_LEN, codec};
use tokio::sync::{Semaphore, watch};
use tracing::{Instrument, debug, error, info, info_span, warn};

use crate::config::{INGEST_DECOMPRESS_WINDOW, IngestConfig};
use crate::metrics::Metrics;
use crate::store::{IngestOutcome, Store, StoreError};
use limits::{ConnectionSlot, ConnectionTable, DecompressBudget, Take};

/// Application close codes.
const CLOSE_REJECTED: u32 = 1;
const CLOSE_MALFORMED: u32 = 2;
const CLOSE_TIMEOUT: u32 = 3;
const CLOSE_REVOKED: u32 = 4;
/// Frame bodies up to this size are decoded on the async worker; larger ones (batches, up
/// to `MAX_FRAME_LEN`) on the blocking pool.
const INLINE_DECODE_MAX: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
enum StreamError {
    #[error("read: {0}")]
    Read(#[from] quinn::ReadExactError),
    #[error("write: {0}")]
    Write(#[from] quinn::WriteError),
    #[error("closed: {0}")]
    Closed(#[from] quinn::ClosedStream),
    #[error("{0}")]
    Codec(#[from] CodecError),
    #[error("decoder task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// Shared state of the ingest server.
#[derive(Debug, Clone)]
pub struct Ingest {
    pub store: Store,
    pub metrics: Arc<Metrics>,
    /// The fleet enrollment token.
    pub agent_token: crate::auth::secret::SecretStr,
    /// The key agent credentials are derived from (`credentials`).
    pub credential_key: credentials::CredentialKey,
    /// Enrollments and revocations, followed from the store.
    pub agents: credentials::AgentBook,
    pub max_batch_bytes: u32,
    /// The model pushed after `Welcome` and on every activation, and the live connections.
    pub model: model::ModelSlot,
    /// The `[ingest]` limits.
    pub limits: IngestConfig,
}

/// The admitted agent a batch stream belongs to.
#[derive(Debug, Clone, Copy)]
struct Peer<'a> {
    agent_id: &'a str,
    host: &'a str,
    /// `Hello::protocol_version`.
    version: u16,
    /// The connection's bulk batches, stored in sequence order.
    order: &'a order::Sequencer,
}

/// What `Ingest::serve` shares between connections besides `Ingest`.
#[derive(Debug, Clone)]
struct Shared {
    connections: Arc<ConnectionTable>,
    /// Batches decoded and stored at once (`ingest.max_concurrent_stores`).
    stores: Arc<Semaphore>,
    /// Slots of their own for priority-lane batches (`ingest.max_concurrent_priority_stores`):
    /// critical lines never queue behind bulk batches for the store.
    priority_stores: Arc<Semaphore>,
}

/// Reads one frame's body, refusing (before allocating it) a length above `max`.
async fn read_body(recv: &mut quinn::RecvStream, max: usize) -> Result<Vec<u8>, StreamError> {
    let mut header = [0u8; codec::HEADER_LEN];
    recv.read_exact(&mut header).await?;
    // Checked before the body is allocated.
    let len = codec::body_len_within(header, max)?;
    let mut body = vec![0u8; len];
    recv.read_exact(&mut body).await?;
    Ok(body)
}

/// Decodes a frame body, on the blocking pool when it is large.
async fn decode_frame(body: Vec<u8>) -> Result<Frame, StreamError> {
    if body.len() <= INLINE_DECODE_MAX {
        return Ok(codec::decode_body(&body)?);
    }
    Ok(tokio::task::spawn_blocking(move || codec::decode_body(&body)).await??)
}

async fn read_frame(recv: &mut quinn::RecvStream) -> Result<Frame, StreamError> {
    decode_frame(read_body(recv, MAX_FRAME_LEN).await?).await
}

async fn write_frame(send: &mut quinn::SendStream, frame: &Frame) -> Result<(), StreamError> {
    send.write_all(&codec::encode(frame)?).await?;
    Ok(())
}

/// Inflates and decodes a batch's payload (zstd + bincode, up to 64 MiB) on the blocking
/// pool, never on an async worker. The error carries the batch's sequence number.
async fn decode_payload(batch: Batch) -> Result<(Batch, BatchPayload), (u64, String)> {
    let seq = batch.seq;
    tokio::task::spawn_blocking(move || match codec::decode_payload(&batch) {
        Ok(payload) => Ok((batch, payload)),
        Err(err) => Err((seq, err.to_string())),
    })
    .await
    .unwrap_or_else(|err| Err((seq, format!("decoder task failed: {err}"))))
}

/// Closes `conn` as soon as the book says its agent is revoked (through the API on any
/// replica); the agent's next `Hello` is then refused with the reason.
async fn close_when_revoked(
    conn: quinn::Connection,
    agent_id: String,
    mut book: watch::Receiver<Arc<std::collections::HashMap<String, credentials::AgentAuth>>>,
    metrics: Arc<Metrics>,
) {
    loop {
        let revoked = credentials::revoked_reason(&book.borrow_and_update(), &agent_id);
        if let Some(reason) = revoked {
            metrics.reject("revoked");
            warn!(%agent_id, %reason, "Agent revoked; closing its connection.");
            conn.close(CLOSE_REVOKED.into(), b"agent credential revoked");
            return;
        }
        tokio::select! {
            changed = book.changed() => if changed.is_err() { return },
            _ = conn.closed() => return,
        }
    }
}

/// Sends `reject` on `send`, waits (bounded) until the peer has it, then closes `conn`
/// with `code`. Closing at once would discard the unsent reject.
async fn refuse(conn: &quinn::Connection, send: &mut quinn::SendStream, reject: Reject, code: u32) {
    let reason = reason_label(reject.reason);
    if write_frame(send, &Frame::Reject(reject)).await.is_ok() && send.finish().is_ok() {
        let _ = tokio::time::timeout(Duration::from_secs(2), send.stopped()).await;
    }
    conn.close(code.into(), reason.as_bytes());
}

fn reason_label(r: RejectReason) -> &'static str {
    match r {
        RejectReason::Unauthorized => "unauthorized",
        RejectReason::UnsupportedVersion => "unsupported_version",
        RejectReason::Malformed => "malformed",
        RejectReason::ProtocolViolation => "protocol_violation",
        RejectReason::Unavailable => "unavailable",
        RejectReason::TooLarge => "too_large",
        RejectReason::IdentityConflict => "identity_conflict",
        RejectReason::Revoked => "revoked",
    }
}

/// The stored form of a heartbeat: its time and its JSON. A v1 `Heartbeat` is stored as its
/// fields; a v2 `Status` as the heartbeat's fields plus `host` and `agent` objects, so
/// readers of the v1 fields see both alike.
fn heartbeat_status(frame: &Frame) -> (i64, serde_json::Value) {
    match frame {
        Frame::Heartbeat(hb) => {
            debug!(
                buffer_bytes = hb.buffer_bytes,
                pending = hb.pending_batches,
                "Heartbeat."
            );
            (hb.ts_ms, serde_json::to_value(hb).unwrap_or_default())
        }
        Frame::Status(st) => status_json(st, None),
        Frame::StatusV3(st) => status_json(&st.status, Some(st.model_version)),
        _ => (0, serde_json::Value::Null),
    }
}

/// A v2 status as stored; a v3 one adds `model_version` (the applied model's content hash,
/// `null` without one), which `GET /api/v1/models/{id}` counts.
fn status_json(
    st: &fleetlog_protocol::messages::Status,
    model_version: Option<Option<u64>>,
) -> (i64, serde_json::Value) {
    debug!(
        buffer_bytes = st.heartbeat.buffer_bytes,
        cpu = st.host.cpu_percent,
        ?model_version,
        "Status heartbeat."
    );
    let mut v = serde_json::to_value(&st.heartbeat).unwrap_or_default();
    if let Some(obj) = v.as_object_mut() {
        obj.insert(
            "host".into(),
            serde_json::to_value(&st.host).unwrap_or_default(),
        );
        obj.insert(
            "agent".into(),
            serde_json::to_value(&st.agent).unwrap_or_default(),
        );
        if let Some(model) = model_version {
            obj.insert("model_version".into(), serde_json::json!(model));
        }
    }
    (st.heartbeat.ts_ms, v)
}

/// Writes the model in force on the control stream, then each model set later (an
/// activation), until the connection ends; keeps the stream's send half open as long as the
/// connection lives. `live` keeps the connection in the registry meanwhile.
async fn push_models(
    conn: quinn::Connection,
    mut ctl_send: quinn::SendStream,
    mut models: tokio::sync::watch::Receiver<Option<Arc<model::PushModel>>>,
    live: connections::LiveGuard,
) {
    let mut sent: Option<u64> = None;
    loop {
        let current = models.borrow_and_update().clone();
        if let Some(m) = current.filter(|m| sent != Some(m.version)) {
            match ctl_send.write_all(&m.frame).await {
                Ok(()) => {
                    debug!(version = m.version, origin = %m.origin, "Model pushed.");
                    sent = Some(m.version);
                    live.pushed(m.version);
                }
                Err(err) => {
                    debug!(error = %err, "Model push not delivered.");
                    break;
                }
            }
        }
        tokio::select! {
            changed = models.changed() => {
                if changed.is_err() {
                    break;
                }
            }
            _ = conn.closed() => break,
        }
    }
    conn.closed().await;
    drop(ctl_send);
    drop(live);
}

impl Ingest {
    /// Accepts connections until `shutdown` turns true.
    pub async fn serve(self, endpoint: quinn::Endpoint, mut shutdown: watch::Receiver<bool>) {
        let shared = Shared {
            connections: ConnectionTable::new(
                self.limits.max_connections,
                self.limits.max_connections_per_address,
            ),
            stores: Arc::new(Semaphore::new(self.limits.max_concurrent_stores)),
            priority_stores: Arc::new(Semaphore::new(self.limits.max_concurrent_priority_stores)),
        };
        loop {
            let incoming = tokio::select! {
                i = endpoint.accept() => i,
                _ = shutdown.changed() => break,
            };
            let Some(incoming) = incoming else { break };
            let remote = incoming.remote_address();
            // Counted before the handshake costs anything: a refused peer gets
            // CONNECTION_REFUSED and no TLS work.
            let slot = match shared.connections.try_open(remote.ip()) {
                Ok(slot) => slot,
                Err(refusal) => {
                    self.metrics.reject(refusal.reason());
                    debug!(%remote, limit = refusal.reason(), "Connection refused by a limit.");
                    incoming.refuse();
                    continue;
                }
            };
            let this = self.clone();
            let shared = shared.clone();
            tokio::spawn(async move { this.handshake(incoming, slot, shared).await });
        }
        endpoint.close(0u32.into(), b"collector shutting down");
    }

    /// Completes the QUIC/TLS handshake within `ingest.handshake_timeout_ms`, then serves
    /// the connection; `slot` holds its place in the connection caps until it ends.
    async fn handshake(self, incoming: quinn::Incoming, slot: ConnectionSlot, shared: Shared) {
        let remote = incoming.remote_address();
        let connecting = match incoming.accept() {
            Ok(c) => c,
            Err(err) => {
                self.metrics.reject("handshake");
                warn!(%remote, error = %err, "Agent TLS/QUIC handshake failed.");
                return;
            }
        };
        // Dropping `connecting` on timeout closes the half-open connection.
        match tokio::time::timeout(self.limits.handshake_timeout, connecting).await {
            Err(_) => {
                self.metrics.reject("handshake_timeout");
                debug!(%remote, "Handshake timed out.");
            }
            Ok(Err(err)) => {
                self.metrics.reject("handshake");
                warn!(%remote, error = %err, "Agent TLS/QUIC handshake failed.");
            }
            Ok(Ok(conn)) => self.connection(conn, shared).await,
        }
        drop(slot);
    }

    async fn connection(self, conn: quinn::Connection, shared: Shared) {
        let remote = conn.remote_address();
        self.metrics.connections.inc();
        let metrics = self.metrics.clone();
        let result = self.admit_agent(&conn).await;
        match result {
            Ok((agent_id, host, version, ctl_send, ctl_recv)) => {
                let span = info_span!("agent", %agent_id, %host);
                let live = self.model.register(&agent_id, &host);
                tokio::spawn(close_when_revoked(
                    conn.clone(),
                    agent_id.clone(),
                    self.agents.subscribe(),
                    self.metrics.clone(),
                ));
                tokio::spawn(
                    push_models(conn.clone(), ctl_send, self.model.subscribe(), live)
                        .instrument(span.clone()),
                );
                self.run_agent(conn, agent_id, host, version, ctl_recv, shared)
                    .instrument(span)
                    .await;
            }
            Err(msg) => {
                debug!(%remote, reason = %msg, "Agent connection refused.");
            }
        }
        metrics.connections.dec();
    }

    /// Reads the `Hello` (at most `ingest.max_hello_bytes`, within
    /// `ingest.first_frame_timeout_ms`), checks the token before anything touches the store,
    /// then raises the connection's limits and answers `Welcome`; or answers `Reject`.
    async fn admit_agent(
        &self,
        conn: &quinn::Connection,
    ) -> Result<(String, String, u16, quinn::SendStream, quinn::RecvStream), String> {
        let deadline = tokio::time::Instant::now() + self.limits.first_frame_timeout;
        let max_hello = self.limits.max_hello_bytes;
        let first = tokio::time::timeout_at(deadline, async {
            let (send, mut recv) = conn.accept_bi().await.map_err(|e| e.to_string())?;
            Ok::<_, String>((send, read_body(&mut recv, max_hello).await, recv))
        })
        .await;
        let (mut send, body, recv) = match first {
            Err(_) => {
                self.metrics.reject("first_frame_timeout");
                conn.close(CLOSE_TIMEOUT.into(), b"no hello within timeout");
                return Err("no hello within timeout".into());
            }
            Ok(Err(err)) => return Err(err),
            Ok(Ok(first)) => first,
        };
        let body = match body {
            Ok(body) => body,
            Err(StreamError::Codec(CodecError::TooLarge { len, max })) => {
                self.metrics.reject("hello_too_large");
                conn.close(CLOSE_MALFORMED.into(), b"hello too large");
                return Err(format!(
                    "hello of {len} bytes exceeds ingest.max_hello_bytes ({max})"
                ));
            }
            Err(StreamError::Codec(err)) => {
                self.metrics.reject("malformed");
                conn.close(CLOSE_MALFORMED.into(), b"malformed hello");
                return Err(format!("malformed hello: {err}"));
            }
            Err(err) => return Err(err.to_string()),
        };
        let frame = match codec::decode_first_body(&body) {
            Ok(frame) => frame,
            Err(err) => {
                self.metrics.reject("malformed");
                conn.close(CLOSE_MALFORMED.into(), b"malformed hello");
                return Err(format!("malformed hello: {err}"));
            }
        };
        let Frame::Hello(hello) = frame else {
            self.metrics.reject("protocol_violation");
            conn.close(CLOSE_MALFORMED.into(), b"expected hello");
            return Err("first frame was not a hello".into());
        };
        // The token is checked before any query runs for this peer: a credential against the
        // key, the fleet token against the config, the agent id against the book in memory.
        let known = self.agents.get(&hello.agent_id);
        let admitted = credentials::authenticate(
            &hello,
            self.agent_token.expose(),
            &self.credential_key,
            known.as_ref(),
            self.limits.enrollment,
        )
        .and_then(|admission| check_hello_fields(&hello).map(|()| admission));
        let admission = match admitted {
            Ok(admission) => admission,
            Err(reject) => {
                let reject = reject_for_peer(reject, hello.protocol_version);
                self.metrics.reject(reason_label(reject.reason));
                let msg = format!(
                    "{}: {} (host {})",
                    reject.reason, reject.message, hello.host
                );
                warn!(remote = %conn.remote_address(), reason = %msg, "Agent connection refused.");
                let mut send = send;
                refuse(conn, &mut send, reject, CLOSE_REJECTED).await;
                return Err(msg);
            }
        };
        let last = self.store.last_seq(&hello.agent_id).await.ok().flatten();
        // Trusted now: batch streams and a larger receive window. Raised before `Welcome`
        // so that the credit travels with it.
        conn.set_max_concurrent_bi_streams(self.limits.max_streams_per_connection.into());
        conn.set_receive_window(limits::ADMITTED_RECEIVE_WINDOW.into());
        let welcome = welcome(last, self.max_batch_bytes, env!("CARGO_PKG_VERSION"));
        write_frame(&mut send, &Frame::Welcome(welcome))
            .await
            .map_err(|e| e.to_string())?;
        self.enroll(&hello, admission, known.as_ref(), &mut send)
            .await;
        if let Err(err) = self
            .store
            .upsert_agent(&hello.agent_id, &hello.host, &hello.labels, crate::now_ms())
            .await
        {
            warn!(error = %err, "Recording agent identity failed.");
        }
        info!(agent_id = %hello.agent_id, host = %hello.host, version = %hello.agent_version, "Agent connected.");
        Ok((
            hello.agent_id,
            hello.host,
            hello.protocol_version,
            send,
            recv,
        ))
    }

    /// Records what the store does not know yet of an admission and, for
    /// `Admission::Enroll`, sends the agent its credential. The enrollment is recorded first,
    /// so that the agent can be revoked, but marked `credential_used` only when the agent presents the
    /// credential: until then the fleet token still admits it, so a credential lost on the
    /// way (a connection cut after `Welcome`) never locks an agent out. A failure is logged;
    /// the agent is admitted all the same and enrolls again on its next connection.
    async fn enroll(
        &self,
        hello: &fleetlog_protocol::Hello,
        admission: credentials::Admission,
        known: Option<&credentials::AgentAuth>,
        send: &mut quinn::SendStream,
    ) {
        use credentials::Admission;
        let record = match admission {
            Admission::Credential => known.is_none_or(|k| !k.credential_used).then_some(true),
            Admission::Enroll | Admission::Legacy => known.is_none().then_some(false),
        };
        if let Some(credential_used) = record {
            match self
                .store
                .record_enrollment(
                    &hello.agent_id,
                    &hello.host,
                    credential_used,
                    crate::now_ms(),
                )
                .await
            {
                Ok(record) => self.agents.note(&hello.agent_id, record.auth()),
                Err(err) => {
                    warn!(agent_id = %hello.agent_id, error = %err, "Recording an agent enrollment failed.");
                    return;
                }
            }
        }
        if admission != Admission::Enroll {
            return;
        }
        let credential = AgentCredential {
            agent_id: hello.agent_id.clone(),
            token: self.credential_key.issue(&hello.agent_id),
        };
        match write_frame(send, &Frame::Credential(credential)).await {
            Ok(()) => {
                self.metrics.credentials_issued.inc();
                info!(agent_id = %hello.agent_id, host = %hello.host, "Agent enrolled; issued its own credential.");
            }
            Err(err) => {
                warn!(agent_id = %hello.agent_id, error = %err, "Sending an agent its credential failed; it enrolls again next time.");
            }
        }
    }

    async fn run_agent(
        self,
        conn: quinn::Connection,
        agent_id: String,
        host: String,
        version: u16,
        mut ctl_recv: quinn::RecvStream,
        shared: Shared,
    ) {
        let agent_id: Arc<str> = agent_id.into();
        let host: Arc<str> = host.into();
        let metrics = self.metrics.clone();
        let ctl_conn = conn.clone();
        let hb_store = self.store.clone();
        let (hb_agent, hb_host) = (agent_id.clone(), host.clone());
        // Control stream: heartbeats, stored as the agent's latest status (and history).
        tokio::spawn(async move {
            loop {
                match read_frame(&mut ctl_recv).await {
                    Ok(frame @ (Frame::Heartbeat(_) | Frame::Status(_) | Frame::StatusV3(_))) => {
                        metrics.heartbeats.inc();
                        let (ts_ms, status) = heartbeat_status(&frame);
                        if let Err(err) = hb_store
                            .record_heartbeat(&hb_agent, &hb_host, ts_ms, &status, crate::now_ms())
                            .await
                        {
                            warn!(error = %err, "Storing a heartbeat failed.");
                        }
                    }
                    Ok(other) => {
                        metrics.reject("protocol_violation");
                        warn!(frame = ?fleetlog_protocol::session::collector::frame_name(&other), "Unexpected frame on control stream; closing connection.");
                        ctl_conn.close(CLOSE_MALFORMED.into(), b"unexpected control frame");
                        return;
                    }
                    Err(StreamError::Codec(err)) => {
                        metrics.reject("malformed");
                        warn!(error = %err, "Malformed control frame; closing connection.");
                        ctl_conn.close(CLOSE_MALFORMED.into(), b"malformed frame");
                        return;
                    }
                    Err(_) => return,
                }
            }
        });
        let budget = Arc::new(Mutex::new(DecompressBudget::new(
            self.limits.max_decompressed_bytes_per_connection,
            INGEST_DECOMPRESS_WINDOW,
            Instant::now(),
        )));
        // Batch streams open now; with the control stream they count against
        // `ingest.max_streams_per_connection`, which QUIC flow control enforces.
        let open_streams = Arc::new(AtomicU32::new(0));
        let order = Arc::new(order::Sequencer::default());
        loop {
            let (send, recv) = match conn.accept_bi().await {
                Ok(s) => s,
                Err(err) => {
                    info!(reason = %err, "Agent disconnected.");
                    return;
                }
            };
            let open = open_streams.fetch_add(1, Ordering::Relaxed) + 1;
            if open + 1 >= self.limits.max_streams_per_connection {
                self.metrics.limited("max_streams_per_connection");
            }
            let this = self.clone();
            let conn = conn.clone();
            let agent_id = agent_id.clone();
            let host = host.clone();
            let budget = budget.clone();
            let stores = shared.clone();
            let open_streams = open_streams.clone();
            let order = order.clone();
            tokio::spawn(
                async move {
                    let peer = Peer {
                        agent_id: &agent_id,
                        host: &host,
                        version,
                        order: &order,
                    };
                    this.batch_stream(conn, send, recv, peer, &budget, &stores)
                        .await;
                    open_streams.fetch_sub(1, Ordering::Relaxed);
                }
                .in_current_span(),
            );
        }
    }

    /// Stores a batch unless the store's volumes are short of `store.min_free_bytes` (then
    /// nothing is written and the agent keeps the batch); records the free space found.
    async fn store_unless_full(
        &self,
        host: &str,
        batch: &Batch,
        payload: &BatchPayload,
    ) -> Result<IngestOutcome, StoreError> {
        let store = self.store.clone();
        let (found, short) = tokio::task::spawn_blocking(move || store.space())
            .await
            .unwrap_or_default();
        self.metrics.disk_free(&found);
        if let Some(full) = short {
            return Err(full.into());
        }
        self.store
            .ingest(host, batch, payload, crate::now_ms())
            .await
    }

    /// Reads one batch, charges its declared size to the connection's decompression
    /// budget, waits for a store slot, decodes it off the async workers, stores it, acks.
    #[allow(clippy::too_many_arguments)]
    async fn batch_stream(
        &self,
        conn: quinn::Connection,
        mut send: quinn::SendStream,
        mut recv: quinn::RecvStream,
        peer: Peer<'_>,
        budget: &Mutex<DecompressBudget>,
        shared: &Shared,
    ) {
        let frame = match read_frame(&mut recv).await {
            Ok(f) => f,
            Err(StreamError::Codec(err)) => {
                self.metrics.reject("malformed");
                warn!(error = %err, "Malformed batch frame; closing this connection.");
                let reject = Reject {
                    reason: RejectReason::Malformed,
                    message: err.to_string(),
                };
                refuse(&conn, &mut send, reject, CLOSE_MALFORMED).await;
                return;
            }
            Err(err) => {
                debug!(error = %err, "Batch stream ended early.");
                return;
            }
        };
        let Peer {
            agent_id,
            host,
            version,
            order,
        } = peer;
        let batch = match on_batch_frame(frame, agent_id, self.max_batch_bytes, version) {
            BatchStreamAction::Answer(reject) => {
                self.metrics.reject(reason_label(reject.reason));
                warn!(reason = %reject.reason, message = %reject.message, "Batch refused; the agent splits it.");
                if write_frame(&mut send, &Frame::Reject(reject)).await.is_ok() {
                    let _ = send.finish();
                }
                return;
            }
            BatchStreamAction::Refuse(reject) => {
                self.metrics.reject(reason_label(reject.reason));
                warn!(reason = %reject.reason, message = %reject.message, "Batch refused; closing this connection.");
                refuse(&conn, &mut send, reject, CLOSE_MALFORMED).await;
                return;
            }
            BatchStreamAction::Store(batch) => batch,
        };
        let take = budget
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take(u64::from(batch.raw_len), Instant::now());
        match take {
            Take::Now => {}
            Take::After(wait) => {
                self.metrics
                    .limited("max_decompressed_bytes_per_connection");
                debug!(
                    seq = batch.seq,
                    wait_ms = wait.as_millis() as u64,
                    "Batch waits for decompression budget."
                );
                tokio::time::sleep(wait).await;
            }
            Take::Never => {
                self.metrics.reject("decompressed_budget");
                warn!(
                    seq = batch.seq,
                    raw_len = batch.raw_len,
                    "Batch declares more than the connection's decompression budget; closing this connection."
                );
                let reject = Reject {
                    reason: RejectReason::Malformed,
                    message: format!(
                        "batch declares {} decompressed bytes, above ingest.max_decompressed_bytes_per_connection ({})",
                        batch.raw_len, self.limits.max_decompressed_bytes_per_connection
                    ),
                };
                refuse(&conn, &mut send, reject, CLOSE_MALFORMED).await;
                return;
            }
        }
        // Bulk batches take their turn in sequence order before a store slot (module
        // `order`); critical lines do not wait.
        let ticket = order.enter(batch.seq);
        if !batch.priority && !self.limits.order_wait.is_zero() {
            let (store, seq) = (&self.store, batch.seq);
            let stored_before = async move {
                match seq.checked_sub(1) {
                    Some(p) => store.batch_stored(agent_id, p).await.unwrap_or(false),
                    None => true,
                }
            };
            if !order
                .wait_turn(seq, self.limits.order_wait, stored_before)
                .await
            {
                self.metrics.limited("order_wait_ms");
                debug!(
                    seq,
                    "Predecessor batch did not arrive in time; storing out of order."
                );
            }
        }
        // The store slot also bounds decoded payloads in memory across connections.
        // Priority-lane batches have slots of their own.
        let (stores, limit) = if batch.priority {
            (&shared.priority_stores, "max_concurrent_priority_stores")
        } else {
            (&shared.stores, "max_concurrent_stores")
        };
        let permit = match stores.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                self.metrics.limited(limit);
                // The semaphore is never closed.
                let Ok(p) = stores.clone().acquire_owned().await else {
                    return;
                };
                p
            }
        };
        let answer = match decode_payload(batch).await {
            Err((seq, err)) => {
                drop(permit);
                self.metrics.reject("malformed");
                warn!(seq, error = %err, "Malformed batch payload; closing this connection.");
                let reject = Reject {
                    reason: RejectReason::Malformed,
                    message: err,
                };
                refuse(&conn, &mut send, reject, CLOSE_MALFORMED).await;
                return;
            }
            Ok((batch, payload)) => match self.store_unless_full(host, &batch, &payload).await {
                Ok(IngestOutcome::Stored { lines, .. }) => {
                    self.metrics.batch("stored");
                    self.metrics.lines.inc_by(u64::from(lines));
                    self.metrics
                        .payload_bytes
                        .inc_by(batch.payload.len() as u64);
                    Frame::Ack(Ack {
                        seq: batch.seq,
                        duplicate: false,
                    })
                }
                Ok(IngestOutcome::Duplicate) => {
                    self.metrics.batch("duplicate");
                    debug!(
                        seq = batch.seq,
                        "Duplicate batch acknowledged, not stored again."
                    );
                    Frame::Ack(Ack {
                        seq: batch.seq,
                        duplicate: true,
                    })
                }
                Ok(IngestOutcome::Conflict) => {
                    self.metrics.batch("conflict");
                    self.metrics
                        .reject(reason_label(RejectReason::IdentityConflict));
                    error!(
                        agent_id = %agent_id,
                        host = %host,
                        seq = batch.seq,
                        "Identity conflict: a batch with this agent id and seq but other content is stored; two hosts share one agent id (a cloned data directory). Refused."
                    );
                    let message = format!(
                        "batch {} of agent {agent_id} was stored with other content: another host uses this agent id",
                        batch.seq
                    );
                    if version >= fleetlog_protocol::version::V2 {
                        Frame::Reject(Reject {
                            reason: RejectReason::IdentityConflict,
                            message,
                        })
                    } else {
                        // A v1 agent cannot re-key: it retries, and every retry is logged.
                        Frame::Reject(Reject {
                            reason: RejectReason::Unavailable,
                            message,
                        })
                    }
                }
                Err(err) if disk_full(&err) => {
                    self.metrics.batch("failed");
                    self.metrics.reject("disk_full");
                    warn!(seq = batch.seq, error = %err, "Disk full: batch refused; the agent keeps it and retries.");
                    Frame::Reject(Reject {
                        reason: RejectReason::Unavailable,
                        message: "collector disk full; retry later".into(),
                    })
                }
                Err(err) => {
                    self.metrics.batch("failed");
                    warn!(seq = batch.seq, error = %err, "Storing batch failed; agent will retry.");
                    Frame::Reject(Reject {
                        reason: RejectReason::Unavailable,
                        message: "store unavailable".into(),
                    })
                }
            },
        };
        drop(permit);
        drop(ticket);
        if write_frame(&mut send, &answer).await.is_ok() {
            let _ = send.finish();
        }
    }
}

/// Whether a store error means a full disk: the check before writing, or `ENOSPC` from the
/// write itself.
fn disk_full(err: &StoreError) -> bool {
    match err {
        StoreError::DiskFull(_) => true,
        StoreError::Io { source, .. } => crate::store::space::is_full(source),
        _ => false,
    }
}
