//! The shipper task: connect, say hello, stream buffered batches, apply acks, reconnect.
//!
//! After `Welcome` a second task reads the control stream (`read_control`): a pushed model is
//! decompressed, parsed, saved in the buffer and published to the reader's classifier. A bad
//! push is logged and the previous model kept; it never costs the connection its batches.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use fleetlog_protocol::messages::{Frame, Heartbeat, Hello, ModelPush};
use fleetlog_protocol::session::agent::{
    BatchOutcome, ControlAction, on_batch_answer, on_control_frame,
};
use fleetlog_protocol::{CodecError, PROTOCOL_VERSION, RejectReason, codec};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tracing::{debug, error, info, warn};

use super::backoff::Backoff;
use super::{ShipError, read_frame};
use crate::buffer::{Buffer, BufferError};
use crate::classify::{Model, ModelError, ModelSender};
use crate::metrics::Metrics;

/// Everything the shipper needs. Its `Debug` leaves the token out.
#[derive(Clone)]
pub struct ShipConfig {
    pub collector: String,
    pub server_name: String,
    pub client: quinn::ClientConfig,
    pub token: String,
    pub host_name: String,
    pub labels: Vec<(String, String)>,
    pub heartbeat: Duration,
    pub max_in_flight: usize,
}

impl std::fmt::Debug for ShipConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShipConfig")
            .field("collector", &self.collector)
            .field("server_name", &self.server_name)
            .field("token", &"<redacted>")
            .field("host_name", &self.host_name)
            .field("labels", &self.labels)
            .field("heartbeat", &self.heartbeat)
            .field("max_in_flight", &self.max_in_flight)
            .finish_non_exhaustive()
    }
}

/// Shared handles between the reader and the shipper.
#[derive(Debug, Default)]
pub struct Signals {
    /// Raised by the reader when it buffered a new batch.
    pub batch_ready: Notify,
    /// Raised by the shipper when acks freed buffer space.
    pub space_freed: Notify,
    /// The model in use: set at start from the buffer, replaced by the shipper on a push,
    /// followed by the reader's classifier.
    pub model: ModelSender,
}

/// Runs until `shutdown` becomes true.
pub async fn run(
    cfg: ShipConfig,
    buffer: Arc<Buffer>,
    signals: Arc<Signals>,
    metrics: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut backoff = Backoff::default();
    let endpoint = match quinn::Endpoint::client(SocketAddr::from(([0, 0, 0, 0], 0))) {
        Ok(e) => e,
        Err(err) => {
            error!(error = %err, "Cannot open a UDP socket; the agent cannot ship.");
            return;
        }
    };
    loop {
        if *shutdown.borrow() {
            break;
        }
        let result = tokio::select! {
            r = session(&endpoint, &cfg, &buffer, &signals, &metrics, &mut backoff) => r,
            _ = shutdown.changed() => break,
        };
        metrics.connected.set(0);
        match result {
            Ok(()) => {}
            Err(ShipError::Rejected { reason, message }) => {
                // Operator action needed: the token or version is wrong.
                error!(%reason, %message, collector = %cfg.collector, "Collector rejected this agent.");
            }
            Err(err) if is_tls_failure(&err) => {
                // Operator action needed: wrong CA file or server name; retrying won't fix it.
                error!(error = %err, collector = %cfg.collector, server_name = %cfg.server_name, "TLS handshake with collector failed; check the CA file and server name.");
            }
            Err(err) => {
                warn!(error = %err, collector = %cfg.collector, "Connection to collector failed.");
            }
        }
        metrics.reconnects.inc();
        let delay = backoff.next_delay(fastrand::f64());
        debug!(
            ?delay,
            attempt = backoff.attempts(),
            "Reconnecting after backoff."
        );
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = shutdown.changed() => break,
        }
    }
    endpoint.close(0u32.into(), b"agent shutting down");
    // Give the close frame a moment to leave.
    let _ = tokio::time::timeout(Duration::from_millis(200), endpoint.wait_idle()).await;
}

/// Whether a connection failed in the TLS handshake (QUIC crypto error codes 0x100-0x1ff).
fn is_tls_failure(err: &ShipError) -> bool {
    let transport = match err {
        ShipError::Connection(quinn::ConnectionError::TransportError(t)) => t,
        ShipError::Connection(quinn::ConnectionError::ConnectionClosed(c)) => {
            return (0x100..0x200).contains(&u64::from(c.error_code));
        }
        _ => return false,
    };
    (0x100..0x200).contains(&u64::from(transport.code))
}

async fn resolve(addr: &str) -> Result<SocketAddr, ShipError> {
    tokio::net::lookup_host(addr)
        .await
        .map_err(|_| ShipError::Resolve(addr.to_owned()))?
        .next()
        .ok_or_else(|| ShipError::Resolve(addr.to_owned()))
}

async fn write_frame(send: &mut quinn::SendStream, frame: &Frame) -> Result<(), ShipError> {
    send.write_all(&codec::encode(frame)?).await?;
    Ok(())
}

/// One connection's lifetime. Returns `Err` when it ends for any reason but shutdown.
async fn session(
    endpoint: &quinn::Endpoint,
    cfg: &ShipConfig,
    buffer: &Arc<Buffer>,
    signals: &Arc<Signals>,
    metrics: &Arc<Metrics>,
    backoff: &mut Backoff,
) -> Result<(), ShipError> {
    let addr = resolve(&cfg.collector).await?;
    let conn = endpoint
        .connect_with(cfg.client.clone(), addr, &cfg.server_name)?
        .await?;
    let (mut ctl_send, mut ctl_recv) = conn.open_bi().await?;
    let hello = Hello {
        protocol_version: PROTOCOL_VERSION,
        agent_id: buffer.agent_id().to_owned(),
        host: cfg.host_name.clone(),
        token: cfg.token.clone(),
        labels: cfg.labels.clone(),
        agent_version: env!("CARGO_PKG_VERSION").to_owned(),
    };
    write_frame(&mut ctl_send, &Frame::Hello(hello)).await?;
    let welcome = match read_frame(&mut ctl_recv).await? {
        Frame::Welcome(w) => w,
        Frame::Reject(r) => {
            return Err(ShipError::Rejected {
                reason: r.reason,
                message: r.message,
            });
        }
        other => {
            return Err(ShipError::Protocol(format!(
                "expected welcome, got {other:?}"
            )));
        }
    };
    info!(
        collector = %cfg.collector,
        collector_version = %welcome.collector_version,
        last_stored_seq = ?welcome.last_stored_seq,
        "Connected to collector."
    );
    backoff.reset();
    metrics.connected.set(1);
    // Dropped (and so aborted) when this connection's session ends.
    let mut control = JoinSet::new();
    control.spawn(read_control(ctl_recv, buffer.clone(), signals.clone()));

    let mut in_flight: HashSet<u64> = HashSet::new();
    let mut tasks: JoinSet<(u64, bool, Result<BatchOutcome, ShipError>)> = JoinSet::new();
    let mut heartbeat = tokio::time::interval(cfg.heartbeat);
    let mut retry_pause = false;
    loop {
        // Fill the pipeline.
        if !retry_pause && in_flight.len() < cfg.max_in_flight {
            let want = cfg.max_in_flight - in_flight.len();
            let buf = buffer.clone();
            let skip = in_flight.clone();
            let next =
                tokio::task::spawn_blocking(move || buf.pending(want, |s| skip.contains(&s)))
                    .await
                    .map_err(|e| ShipError::Protocol(format!("buffer task: {e}")))??;
            for p in next {
                in_flight.insert(p.seq);
                let conn = conn.clone();
                tasks.spawn(async move {
                    let r = send_batch(&conn, p.priority, &p.frame, p.seq).await;
                    (p.seq, p.priority, r)
                });
            }
        }
        tokio::select! {
            Some(done) = tasks.join_next() => {
                let (seq, priority, result) =
                    done.map_err(|e| ShipError::Protocol(format!("send task: {e}")))?;
                match result? {
                    BatchOutcome::Stored { duplicate } => {
                        let buf = buffer.clone();
                        tokio::task::spawn_blocking(move || buf.ack(&[(seq, priority)]))
                            .await
                            .map_err(|e| ShipError::Protocol(format!("buffer task: {e}")))??;
                        in_flight.remove(&seq);
                        metrics.batches_acked.inc();
                        if duplicate {
                            metrics.duplicate_acks.inc();
                        }
                        let stats = buffer.stats();
                        metrics.buffer_bytes.set(stats.used_bytes as i64);
                        metrics.pending_batches.set(stats.pending_batches as i64);
                        signals.space_freed.notify_waiters();
                    }
                    BatchOutcome::Retry(message) => {
                        debug!(seq, %message, "Collector asked to retry the batch later.");
                        in_flight.remove(&seq);
                        retry_pause = true;
                    }
                    BatchOutcome::Fatal(reason, message) => {
                        if reason == RejectReason::Unauthorized || reason == RejectReason::UnsupportedVersion {
                            return Err(ShipError::Rejected { reason, message });
                        }
                        return Err(ShipError::Protocol(format!("batch {seq}: {reason}: {message}")));
                    }
                }
            }
            _ = signals.batch_ready.notified() => {}
            _ = heartbeat.tick() => {
                let stats = buffer.stats();
                let hb = Heartbeat {
                    ts_ms: crate::now_ms(),
                    buffer_bytes: stats.used_bytes,
                    buffer_capacity: stats.capacity_bytes,
                    pending_batches: stats.pending_batches,
                    dropped_lines: stats.dropped_lines,
                    watched_files: metrics.watched_files.get().max(0) as u32,
                };
                write_frame(&mut ctl_send, &Frame::Heartbeat(hb)).await?;
                retry_pause = false;
            }
            reason = conn.closed() => return Err(ShipError::Connection(reason)),
            // Poll the buffer now and then even without a signal (a batch may have been
            // buffered between the pending() read and the notified() registration).
            _ = tokio::time::sleep(Duration::from_millis(200)) => { retry_pause = false; }
        }
    }
}

/// Reads the collector's frames on the control stream until it ends.
async fn read_control(mut recv: quinn::RecvStream, buffer: Arc<Buffer>, signals: Arc<Signals>) {
    loop {
        let frame = match read_frame(&mut recv).await {
            Ok(frame) => frame,
            // The whole body was read, so the stream is still in step: skip the frame.
            Err(ShipError::Codec(err @ CodecError::Malformed(_))) => {
                warn!(error = %err, "Malformed frame on the control stream; ignored.");
                continue;
            }
            Err(ShipError::Codec(err)) => {
                warn!(error = %err, "Unreadable control stream; no more model pushes on this connection.");
                return;
            }
            Err(err) => {
                debug!(error = %err, "Control stream ended.");
                return;
            }
        };
        match on_control_frame(frame) {
            ControlAction::ApplyModel(push) => apply_model(push, &buffer, &signals).await,
            ControlAction::Closing(reason, message) => {
                info!(%reason, %message, "Collector is closing the connection.");
                return;
            }
            ControlAction::Ignore(frame) => {
                warn!(frame, "Unexpected frame on the control stream; ignored.");
            }
        }
    }
}

/// Why a pushed model was not adopted.
#[derive(Debug, thiserror::Error)]
enum ApplyModelError {
    #[error("{0}")]
    Codec(#[from] CodecError),
    #[error("{0}")]
    Model(#[from] ModelError),
}

/// Decodes, checks, saves and publishes a pushed model; a bad one keeps the previous model.
async fn apply_model(push: ModelPush, buffer: &Arc<Buffer>, signals: &Arc<Signals>) {
    let version = push.version;
    if signals
        .model
        .borrow()
        .as_ref()
        .is_some_and(|m| m.version == version)
    {
        debug!(version, "Pushed model already in use.");
        return;
    }
    let buf = buffer.clone();
    let decoded = tokio::task::spawn_blocking(
        move || -> Result<(Model, Result<(), BufferError>), ApplyModelError> {
            let raw = codec::decode_model(&push)?;
            let model = Model::from_json(version, &raw)?;
            Ok((model, buf.save_model(version, &raw)))
        },
    )
    .await;
    match decoded {
        Ok(Ok((model, saved))) => {
            if let Err(err) = saved {
                warn!(version, error = %err, "Saving the pushed model failed; it is used until restart.");
            }
            info!(
                version,
                templates = model.baseline.templates(),
                "Model received from the collector; classifying with it."
            );
            signals.model.send_replace(Some(Arc::new(model)));
        }
        Ok(Err(err)) => {
            warn!(version, error = %err, "Pushed model rejected; keeping the previous one.");
        }
        Err(err) => {
            warn!(version, error = %err, "Model task failed; keeping the previous one.");
        }
    }
}

/// Sends one batch on its own stream and waits for the collector's answer.
async fn send_batch(
    conn: &quinn::Connection,
    priority: bool,
    frame: &[u8],
    seq: u64,
) -> Result<BatchOutcome, ShipError> {
    let (mut send, mut recv) = conn.open_bi().await?;
    // The priority lane overtakes bulk streams queued on the same connection.
    let _ = send.set_priority(if priority { 10 } else { 0 });
    send.write_all(frame).await?;
    send.finish()?;
    let answer = read_frame(&mut recv).await?;
    Ok(on_batch_answer(seq, answer))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buffer::FullPolicy;
    use fleetlog_lines::baseline::Baseline;

    fn push(version: u64, raw: &[u8]) -> ModelPush {
        let (model, raw_len) = codec::encode_model(raw).unwrap();
        ModelPush {
            version,
            model,
            raw_len,
        }
    }

    #[tokio::test]
    async fn bad_push_keeps_the_old_model_and_good_one_is_saved() {
        let dir = tempfile::tempdir().unwrap();
        let buffer =
            Arc::new(Buffer::open(&dir.path().join("b.redb"), 1 << 20, FullPolicy::Block).unwrap());
        let signals = Arc::new(Signals::default());
        let json = serde_json::to_vec(&Baseline::train([("user 1 logged in", None)])).unwrap();

        apply_model(push(1, &json), &buffer, &signals).await;
        assert_eq!(signals.model.borrow().as_ref().map(|m| m.version), Some(1));
        assert_eq!(buffer.load_model().unwrap(), Some((1, json.clone())));

        // Not a baseline, then bytes that lie about their length: both ignored.
        apply_model(push(2, b"{\"not\":\"a model\"}"), &buffer, &signals).await;
        let mut lying = push(3, &json);
        lying.raw_len += 5;
        apply_model(lying, &buffer, &signals).await;
        assert_eq!(signals.model.borrow().as_ref().map(|m| m.version), Some(1));
        assert_eq!(buffer.load_model().unwrap(), Some((1, json)));
    }
}
