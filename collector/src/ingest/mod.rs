//! QUIC ingest: accepts agent connections, admits them by enrollment token, and stores
//! each batch exactly once before acknowledging it.
//!
//! The per-frame decisions live in `fleetlog_protocol::session::collector`; this module
//! does the I/O. A malformed or oversized frame closes that one connection; nothing
//! else is affected. Ingest never awaits anything but the store.
//!
//! After `Welcome`, when a model is configured (`model`), the collector pushes it once per
//! connection as `Frame::Model` on the control stream, from its own task, so that an agent
//! that never reads the control stream (flow control) cannot hold up its batches.

pub mod model;

use std::sync::Arc;
use std::time::Duration;

use fleetlog_protocol::messages::{Ack, Frame, Reject, RejectReason};
use fleetlog_protocol::session::collector::{BatchStreamAction, admit, on_batch_frame};
use fleetlog_protocol::{CodecError, codec};
use tokio::sync::watch;
use tracing::{Instrument, debug, info, info_span, warn};

use crate::metrics::Metrics;
use crate::store::{IngestOutcome, Store};

/// How long an agent has to send its `Hello`.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// Application close codes.
const CLOSE_REJECTED: u32 = 1;
const CLOSE_MALFORMED: u32 = 2;

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
}

/// Shared state of the ingest server.
#[derive(Debug, Clone)]
pub struct Ingest {
    pub store: Store,
    pub metrics: Arc<Metrics>,
    pub agent_token: crate::auth::secret::SecretStr,
    pub max_batch_bytes: u32,
    /// The model pushed after `Welcome`, if one is configured (`/reload` swaps it).
    pub model: model::ModelSlot,
}

async fn read_frame(recv: &mut quinn::RecvStream) -> Result<Frame, StreamError> {
    let mut header = [0u8; codec::HEADER_LEN];
    recv.read_exact(&mut header).await?;
    // Checked before the body is allocated.
    let len = codec::body_len(header)?;
    let mut body = vec![0u8; len];
    recv.read_exact(&mut body).await?;
    Ok(codec::decode_body(&body)?)
}

async fn write_frame(send: &mut quinn::SendStream, frame: &Frame) -> Result<(), StreamError> {
    send.write_all(&codec::encode(frame)?).await?;
    Ok(())
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
    }
}

/// Writes the model (if any) on the control stream, then keeps the stream's send half open
/// as long as the connection lives.
async fn push_model(
    conn: quinn::Connection,
    mut ctl_send: quinn::SendStream,
    model: Option<Arc<model::PushModel>>,
) {
    if let Some(m) = model {
        match ctl_send.write_all(&m.frame).await {
            Ok(()) => debug!(version = m.version, "Model pushed."),
            Err(err) => debug!(error = %err, "Model push not delivered."),
        }
    }
    conn.closed().await;
    drop(ctl_send);
}

impl Ingest {
    /// Accepts connections until `shutdown` turns true.
    pub async fn serve(self, endpoint: quinn::Endpoint, mut shutdown: watch::Receiver<bool>) {
        loop {
            let incoming = tokio::select! {
                i = endpoint.accept() => i,
                _ = shutdown.changed() => break,
            };
            let Some(incoming) = incoming else { break };
            let this = self.clone();
            tokio::spawn(async move {
                let remote = incoming.remote_address();
                match incoming.await {
                    Ok(conn) => this.connection(conn).await,
                    Err(err) => {
                        this.metrics.reject("handshake");
                        warn!(%remote, error = %err, "Agent TLS/QUIC handshake failed.");
                    }
                }
            });
        }
        endpoint.close(0u32.into(), b"collector shutting down");
    }

    async fn connection(self, conn: quinn::Connection) {
        let remote = conn.remote_address();
        self.metrics.connections.inc();
        let metrics = self.metrics.clone();
        let result = self.admit_agent(&conn).await;
        match result {
            Ok((agent_id, host, ctl_send, ctl_recv)) => {
                let span = info_span!("agent", %agent_id, %host);
                tokio::spawn(
                    push_model(conn.clone(), ctl_send, self.model.get()).instrument(span.clone()),
                );
                self.run_agent(conn, agent_id, host, ctl_recv)
                    .instrument(span)
                    .await;
            }
            Err(msg) => {
                warn!(%remote, reason = %msg, "Agent connection refused.");
            }
        }
        metrics.connections.dec();
    }

    /// Reads the `Hello`, answers `Welcome` or `Reject`.
    async fn admit_agent(
        &self,
        conn: &quinn::Connection,
    ) -> Result<(String, String, quinn::SendStream, quinn::RecvStream), String> {
        let (mut send, mut recv) = tokio::time::timeout(HELLO_TIMEOUT, conn.accept_bi())
            .await
            .map_err(|_| "no control stream within timeout".to_owned())?
            .map_err(|e| e.to_string())?;
        let frame = match tokio::time::timeout(HELLO_TIMEOUT, read_frame(&mut recv)).await {
            Err(_) => return Err("no hello within timeout".into()),
            Ok(Err(err)) => {
                self.metrics.reject("malformed");
                conn.close(CLOSE_MALFORMED.into(), b"malformed hello");
                return Err(format!("malformed hello: {err}"));
            }
            Ok(Ok(f)) => f,
        };
        let Frame::Hello(hello) = frame else {
            self.metrics.reject("protocol_violation");
            conn.close(CLOSE_MALFORMED.into(), b"expected hello");
            return Err("first frame was not a hello".into());
        };
        let last = self.store.last_seq(&hello.agent_id).await.ok().flatten();
        match admit(
            &hello,
            self.agent_token.expose(),
            last,
            self.max_batch_bytes,
            env!("CARGO_PKG_VERSION"),
        ) {
            Ok(welcome) => {
                write_frame(&mut send, &Frame::Welcome(welcome))
                    .await
                    .map_err(|e| e.to_string())?;
                if let Err(err) = self
                    .store
                    .upsert_agent(&hello.agent_id, &hello.host, &hello.labels, crate::now_ms())
                    .await
                {
                    warn!(error = %err, "Recording agent identity failed.");
                }
                info!(agent_id = %hello.agent_id, host = %hello.host, version = %hello.agent_version, "Agent connected.");
                Ok((hello.agent_id, hello.host, send, recv))
            }
            Err(reject) => {
                self.metrics.reject(reason_label(reject.reason));
                let msg = format!(
                    "{}: {} (host {})",
                    reject.reason, reject.message, hello.host
                );
                refuse(conn, &mut send, reject, CLOSE_REJECTED).await;
                Err(msg)
            }
        }
    }

    async fn run_agent(
        self,
        conn: quinn::Connection,
        agent_id: String,
        host: String,
        mut ctl_recv: quinn::RecvStream,
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
                    Ok(Frame::Heartbeat(hb)) => {
                        metrics.heartbeats.inc();
                        debug!(
                            buffer_bytes = hb.buffer_bytes,
                            pending = hb.pending_batches,
                            dropped = hb.dropped_lines,
                            "Heartbeat."
                        );
                        let status = serde_json::to_value(&hb).unwrap_or_default();
                        if let Err(err) = hb_store
                            .record_heartbeat(
                                &hb_agent,
                                &hb_host,
                                hb.ts_ms,
                                &status,
                                crate::now_ms(),
                            )
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
        loop {
            let (send, recv) = match conn.accept_bi().await {
                Ok(s) => s,
                Err(err) => {
                    info!(reason = %err, "Agent disconnected.");
                    return;
                }
            };
            let this = self.clone();
            let conn = conn.clone();
            let agent_id = agent_id.clone();
            let host = host.clone();
            tokio::spawn(
                async move { this.batch_stream(conn, send, recv, &agent_id, &host).await }
                    .in_current_span(),
            );
        }
    }

    async fn batch_stream(
        &self,
        conn: quinn::Connection,
        mut send: quinn::SendStream,
        mut recv: quinn::RecvStream,
        agent_id: &str,
        host: &str,
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
        let answer = match on_batch_frame(frame, agent_id, self.max_batch_bytes) {
            BatchStreamAction::Refuse(reject) => {
                self.metrics.reject(reason_label(reject.reason));
                warn!(reason = %reject.reason, message = %reject.message, "Batch refused; closing this connection.");
                refuse(&conn, &mut send, reject, CLOSE_MALFORMED).await;
                return;
            }
            BatchStreamAction::Store(batch) => match codec::decode_payload(&batch) {
                Err(err) => {
                    self.metrics.reject("malformed");
                    warn!(seq = batch.seq, error = %err, "Malformed batch payload; closing this connection.");
                    let reject = Reject {
                        reason: RejectReason::Malformed,
                        message: err.to_string(),
                    };
                    refuse(&conn, &mut send, reject, CLOSE_MALFORMED).await;
                    return;
                }
                Ok(payload) => match self
                    .store
                    .ingest(host, &batch, &payload, crate::now_ms())
                    .await
                {
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
                    Err(err) => {
                        self.metrics.batch("failed");
                        warn!(seq = batch.seq, error = %err, "Storing batch failed; agent will retry.");
                        Frame::Reject(Reject {
                            reason: RejectReason::Unavailable,
                            message: "store unavailable".into(),
                        })
                    }
                },
            },
        };
        if write_frame(&mut send, &answer).await.is_ok() {
            let _ = send.finish();
        }
    }
}
