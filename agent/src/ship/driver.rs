//! The shipper task: connect, say hello, stream buffered batches, apply acks, reconnect.
//!
//! After `Welcome` a second task reads the control stream (`read_control`): a pushed model is
//! decompressed, parsed, saved in the buffer and published to the reader's classifier. A bad
//! push is logged and the previous model kept; it never costs the connection its batches.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fleetlog_protocol::messages::{AgentCredential, Frame, Hello, ModelPush};
use fleetlog_protocol::session::agent::{ControlAction, on_control_frame};
use fleetlog_protocol::{CodecError, PROTOCOL_VERSION, RejectReason, codec};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tracing::{debug, error, info, warn};

use super::backoff::Backoff;
use super::session::{Admit, AgentSession, Decision, Lane, SessionLimits};
use super::targets::{Targets, split_addrs};
use super::{ShipError, read_frame};
use crate::buffer::{Buffer, BufferError};
use crate::classify::{Model, ModelError, ModelSender};
use crate::metrics::Metrics;
use crate::status::{HostProbe, StatusSource, heartbeat_frame};

/// Everything the shipper needs. Its `Debug` leaves the token out.
#[derive(Clone)]
pub struct ShipConfig {
    /// One or more collectors, `HOST:PORT`, comma-separated (replicas on one database).
    pub collector: String,
    /// Away from its home collector, a connection ends after this long so the agent goes
    /// back home (`rebalance_after_secs`; `None`: never).
    pub rebalance_after: Option<Duration>,
    pub server_name: String,
    pub client: quinn::ClientConfig,
    pub token: String,
    pub host_name: String,
    pub labels: Vec<(String, String)>,
    pub heartbeat: Duration,
    /// Bulk batches in flight (`batch.max_in_flight`).
    pub max_in_flight: usize,
    /// Priority batches in flight, never shared with bulk (`batch.max_in_flight_priority`).
    pub max_in_flight_priority: usize,
    /// The agent's data directory and the tailed directories, for the volumes reported.
    pub data_dir: std::path::PathBuf,
    pub log_dirs: Vec<std::path::PathBuf>,
    /// `status::config_hash` of the effective configuration.
    pub config_hash: u64,
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
    /// Unread bytes per tailed file, largest first, published by the reader.
    pub file_lag: std::sync::Mutex<Vec<(String, u64)>>,
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
    let mut retry = Backoff::default();
    let mut targets = Targets::new(split_addrs(&cfg.collector), &buffer.agent_id());
    let mut source = StatusSource {
        probe: HostProbe::new(&cfg.data_dir, cfg.log_dirs.clone()),
        config_hash: cfg.config_hash,
    };
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
        let target = targets.current().to_owned();
        let rebalance = targets
            .rebalances(cfg.rebalance_after)
            .then_some(cfg.rebalance_after)
            .flatten();
        let result = tokio::select! {
            r = session(&endpoint, &cfg, &target, rebalance, &buffer, &signals, &metrics, (&mut backoff, &mut retry), &mut source) => r,
            _ = shutdown.changed() => break,
        };
        metrics.connected.set(0);
        let err = match result {
            Ok(()) => {
                // A rebalancing session ended on purpose: straight back home.
                targets.go_home();
                info!(from = %target, to = %targets.current(), "Going back to this agent's home collector.");
                continue;
            }
            Err(err) => err,
        };
        // Any failure moves on to the next collector (with one, the same one again).
        targets.failed();
        match err {
            ShipError::Rejected {
                reason: RejectReason::Revoked,
                message,
            } => {
                // Operator action needed: lines stay buffered until the agent is reinstated.
                error!(%message, collector = %target, "This agent was revoked; it keeps buffering and retries until an operator reinstates it.");
            }
            ShipError::Rejected { reason, message } => {
                // Operator action needed: the token or version is wrong.
                error!(%reason, %message, collector = %target, "Collector rejected this agent.");
            }
            err if is_tls_failure(&err) => {
                // Operator action needed: wrong CA file or server name; retrying won't fix it.
                error!(error = %err, collector = %target, server_name = %cfg.server_name, "TLS handshake with collector failed; check the CA file and server name.");
            }
            ShipError::Rekeyed => {}
            err => {
                warn!(error = %err, collector = %target, next = %targets.current(), "Connection to collector failed.");
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

/// How long a connection attempt to one address may take (a replica that is down answers
/// nothing; without this the attempt would wait out the idle timeout).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Connects to `target`, trying each address its name resolves to in turn.
async fn connect(
    endpoint: &quinn::Endpoint,
    cfg: &ShipConfig,
    target: &str,
) -> Result<quinn::Connection, ShipError> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host(target)
        .await
        .map_err(|_| ShipError::Resolve(target.to_owned()))?
        .collect();
    let mut last = ShipError::Resolve(target.to_owned());
    for addr in addrs {
        let connecting = endpoint.connect_with(cfg.client.clone(), addr, &cfg.server_name)?;
        match tokio::time::timeout(CONNECT_TIMEOUT, connecting).await {
            Ok(Ok(conn)) => return Ok(conn),
            Ok(Err(err)) => {
                debug!(%addr, error = %err, "Connecting failed; trying the next address.");
                last = err.into();
            }
            Err(_) => {
                debug!(%addr, "Connecting timed out; trying the next address.");
                last = ShipError::Protocol(format!(
                    "no answer from {addr} within {CONNECT_TIMEOUT:?}"
                ));
            }
        }
    }
    Err(last)
}

async fn write_frame(send: &mut quinn::SendStream, frame: &Frame) -> Result<(), ShipError> {
    send.write_all(&codec::encode(frame)?).await?;
    Ok(())
}

/// One connection's lifetime. Returns `Err` when it ends for any reason but shutdown.
/// `retry` is the `Unavailable` backoff, carried from one connection to the next.
#[allow(clippy::too_many_arguments)]
async fn session(
    endpoint: &quinn::Endpoint,
    cfg: &ShipConfig,
    target: &str,
    rebalance: Option<Duration>,
    buffer: &Arc<Buffer>,
    signals: &Arc<Signals>,
    metrics: &Arc<Metrics>,
    (backoff, retry): (&mut Backoff, &mut Backoff),
    source: &mut StatusSource,
) -> Result<(), ShipError> {
    let conn = connect(endpoint, cfg, target).await?;
    let (mut ctl_send, mut ctl_recv) = conn.open_bi().await?;
    let agent_id = buffer.agent_id();
    // The agent's own credential once the collector issued one (protocol v5), else the
    // fleet enrollment token.
    let credential = match buffer.credential() {
        Ok(credential) => credential,
        Err(err) => {
            warn!(error = %err, "Reading the saved credential failed; presenting the fleet token.");
            None
        }
    };
    let with_credential = credential.is_some();
    let hello = Hello {
        protocol_version: PROTOCOL_VERSION,
        agent_id: agent_id.clone(),
        host: cfg.host_name.clone(),
        token: credential.unwrap_or_else(|| cfg.token.clone()),
        labels: cfg.labels.clone(),
        agent_version: env!("CARGO_PKG_VERSION").to_owned(),
    };
    write_frame(&mut ctl_send, &Frame::Hello(hello)).await?;
    let welcome = match read_frame(&mut ctl_recv).await? {
        Frame::Welcome(w) => w,
        Frame::Reject(r) => {
            if with_credential && r.reason == RejectReason::Unauthorized {
                // Issued by a collector whose database is gone, say: enroll again.
                warn!(message = %r.message, "The collector does not accept this agent's credential; enrolling again with the fleet token.");
                let buf = buffer.clone();
                tokio::task::spawn_blocking(move || buf.clear_credential())
                    .await
                    .map_err(|e| ShipError::Protocol(format!("buffer task: {e}")))??;
            }
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
        collector = %target,
        collector_version = %welcome.collector_version,
        last_stored_seq = ?welcome.last_stored_seq,
        max_batch_bytes = welcome.max_batch_bytes,
        "Connected to collector."
    );
    backoff.reset();
    metrics.connected.set(1);
    // Dropped (and so aborted) when this connection's session ends.
    let mut control = JoinSet::new();
    control.spawn(read_control(ctl_recv, buffer.clone(), signals.clone()));

    let mut sess = AgentSession::new(
        SessionLimits {
            bulk_in_flight: cfg.max_in_flight,
            priority_in_flight: cfg.max_in_flight_priority,
        },
        std::mem::take(retry),
    );
    sess.on_welcome(&welcome);
    let link = Link {
        conn: &conn,
        buffer,
        signals,
        metrics,
        agent_id,
        restamp_below: buffer.rekeyed_below()?,
    };
    let result = link
        .drive(&mut sess, cfg, &mut ctl_send, source, rebalance)
        .await;
    *retry = sess.take_backoff();
    result
}

/// What one connection's loop works with.
struct Link<'a> {
    conn: &'a quinn::Connection,
    buffer: &'a Arc<Buffer>,
    signals: &'a Arc<Signals>,
    metrics: &'a Arc<Metrics>,
    /// The id this connection said `Hello` with.
    agent_id: String,
    /// Batches below this seq may carry an id from before a re-key.
    restamp_below: u64,
}

type SendResult = (u64, Lane, Result<Frame, ShipError>);

impl Link<'_> {
    /// Sends batches as the session allows, applies its decisions, sends heartbeats.
    async fn drive(
        &self,
        sess: &mut AgentSession,
        cfg: &ShipConfig,
        ctl_send: &mut quinn::SendStream,
        source: &mut StatusSource,
        rebalance: Option<Duration>,
    ) -> Result<(), ShipError> {
        let mut tasks: JoinSet<SendResult> = JoinSet::new();
        // Away from home: end the session after `rebalance` (un-acked batches stay buffered
        // and go to the home collector, which stores each once).
        let go_home = tokio::time::sleep(rebalance.unwrap_or(Duration::MAX / 4));
        tokio::pin!(go_home);
        let mut heartbeat = tokio::time::interval(cfg.heartbeat);
        // A newly applied model is reported at once, not at the next tick.
        let mut model_changed = self.signals.model.subscribe();
        model_changed.mark_unchanged();
        loop {
            self.fill(sess, &mut tasks).await?;
            // Poll the buffer now and then even without a signal (a batch may have been
            // buffered between the pending() read and the notified() registration), and
            // wake at the end of a retry pause.
            let wake = sess
                .paused_for(Instant::now())
                .unwrap_or(Duration::from_millis(200));
            tokio::select! {
                Some(done) = tasks.join_next() => {
                    let (seq, _lane, answer) =
                        done.map_err(|e| ShipError::Protocol(format!("send task: {e}")))?;
                    let decision = sess.on_answer(seq, answer?, Instant::now(), fastrand::f64());
                    self.apply(decision, sess).await?;
                }
                _ = self.signals.batch_ready.notified() => {}
                Ok(()) = model_changed.changed() => {
                    let frame = heartbeat_frame(self.buffer, self.metrics, self.signals, source, sess.version());
                    write_frame(ctl_send, &frame).await?;
                }
                _ = heartbeat.tick() => {
                    // A few /proc reads: cheap enough for the async worker.
                    let frame = heartbeat_frame(self.buffer, self.metrics, self.signals, source, sess.version());
                    write_frame(ctl_send, &frame).await?;
                }
                reason = self.conn.closed() => return Err(ShipError::Connection(reason)),
                _ = &mut go_home, if rebalance.is_some() => {
                    self.conn.close(0u32.into(), b"agent rebalancing");
                    return Ok(());
                }
                _ = tokio::time::sleep(wake) => {}
            }
        }
    }

    /// Starts as many sends as each lane's budget allows, priority lane first.
    async fn fill(
        &self,
        sess: &mut AgentSession,
        tasks: &mut JoinSet<SendResult>,
    ) -> Result<(), ShipError> {
        for lane in [Lane::Priority, Lane::Bulk] {
            let room = sess.room(lane, Instant::now());
            if room == 0 {
                continue;
            }
            let buf = self.buffer.clone();
            let skip = sess.in_flight_seqs();
            let next = tokio::task::spawn_blocking(move || {
                buf.pending_in(&[lane.is_priority()], room, |s| skip.contains(&s))
            })
            .await
            .map_err(|e| ShipError::Protocol(format!("buffer task: {e}")))??;
            for p in next {
                let frame = self.outgoing(p.seq, p.frame, sess.version())?;
                if sess.admit(frame.len()) == Admit::Split {
                    self.split(p.seq, lane, frame, sess).await?;
                    continue;
                }
                sess.on_sent(p.seq, lane);
                let conn = self.conn.clone();
                let seq = p.seq;
                tasks.spawn(async move {
                    let r = send_batch(&conn, lane.is_priority(), &frame).await;
                    (seq, lane, r)
                });
            }
        }
        Ok(())
    }

    /// The bytes to send for buffered batch `seq` on a connection speaking `version`.
    fn outgoing(&self, seq: u64, frame: Vec<u8>, version: u16) -> Result<Vec<u8>, ShipError> {
        reencode(
            frame,
            &self.agent_id,
            seq < self.restamp_below,
            version < fleetlog_protocol::version::V4,
        )
    }

    /// Does what the session decided about a batch's answer.
    async fn apply(&self, decision: Decision, sess: &mut AgentSession) -> Result<(), ShipError> {
        match decision {
            Decision::Delete {
                seq,
                lane,
                duplicate,
            } => {
                let buf = self.buffer.clone();
                tokio::task::spawn_blocking(move || buf.ack(&[(seq, lane.is_priority())]))
                    .await
                    .map_err(|e| ShipError::Protocol(format!("buffer task: {e}")))??;
                self.metrics.batches_acked.inc();
                if duplicate {
                    self.metrics.duplicate_acks.inc();
                }
                let stats = self.buffer.stats();
                self.metrics.buffer_bytes.set(stats.used_bytes as i64);
                self.metrics
                    .pending_batches
                    .set(stats.pending_batches as i64);
                self.signals.space_freed.notify_waiters();
            }
            Decision::Split { seq, lane } => {
                let found = self
                    .buffer
                    .pending_in(&[lane.is_priority()], usize::MAX, |s| s != seq)?;
                if let Some(p) = found.into_iter().next() {
                    warn!(
                        seq,
                        bytes = p.frame.len(),
                        "Collector refused a batch as too large; splitting it."
                    );
                    let frame = self.outgoing(p.seq, p.frame, sess.version())?;
                    self.split(seq, lane, frame, sess).await?;
                }
            }
            Decision::Retry { seq, until } => {
                self.metrics.batch_retries.inc();
                let pause = until.saturating_duration_since(Instant::now());
                warn!(
                    seq,
                    pause_ms = pause.as_millis() as u64,
                    "Collector could not store a batch; backing off."
                );
            }
            Decision::Rekey { seq, message } => {
                let buf = self.buffer.clone();
                let (new_id, _) = tokio::task::spawn_blocking(move || buf.rekey())
                    .await
                    .map_err(|e| ShipError::Protocol(format!("buffer task: {e}")))??;
                self.metrics.rekeys.inc();
                error!(
                    seq,
                    old_agent_id = %self.agent_id,
                    new_agent_id = %new_id,
                    %message,
                    "Another agent uses this agent id (a cloned data directory?); took a new id, reconnecting."
                );
                return Err(ShipError::Rekeyed);
            }
            Decision::Fatal(reason, message) => {
                if reason == RejectReason::Unauthorized
                    || reason == RejectReason::Revoked
                    || reason == RejectReason::UnsupportedVersion
                {
                    return Err(ShipError::Rejected { reason, message });
                }
                return Err(ShipError::Protocol(format!("{reason}: {message}")));
            }
        }
        Ok(())
    }

    /// Replaces batch `seq` in the buffer by pieces within the collector's limit.
    async fn split(
        &self,
        seq: u64,
        lane: Lane,
        frame: Vec<u8>,
        sess: &AgentSession,
    ) -> Result<(), ShipError> {
        let max = sess.max_batch_bytes().map_or(usize::MAX, |m| m as usize);
        let buf = self.buffer.clone();
        let agent_id = self.agent_id.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            super::split::split_batch(&buf, seq, lane.is_priority(), &frame, max, &agent_id)
        })
        .await
        .map_err(|e| ShipError::Protocol(format!("buffer task: {e}")))??;
        self.metrics.batches_split.inc();
        if outcome.dropped_lines > 0 {
            self.metrics.drop_lines("too_large", outcome.dropped_lines);
            error!(
                seq,
                lines = outcome.dropped_lines,
                max_batch_bytes = max,
                "A single line is over the collector's max_batch_bytes even alone; dropped (counted)."
            );
        }
        info!(
            seq,
            pieces = outcome.pieces,
            max_batch_bytes = max,
            "Batch split to fit the collector's limit."
        );
        self.signals.batch_ready.notify_one();
        Ok(())
    }
}

/// Re-encodes a buffered batch frame for the connection: with `agent_id` when it carries
/// another (made before a re-key, `restamp`), and with a v1 payload for a collector older
/// than protocol v4 (`downgrade`). Most frames need neither and are returned as they are.
fn reencode(
    frame: Vec<u8>,
    agent_id: &str,
    restamp: bool,
    downgrade: bool,
) -> Result<Vec<u8>, ShipError> {
    if !restamp && !downgrade {
        return Ok(frame);
    }
    match codec::decode(&frame)? {
        Some((Frame::Batch(mut batch), _)) => {
            let mut changed = false;
            if restamp && batch.agent_id != agent_id {
                batch.agent_id = agent_id.to_owned();
                changed = true;
            }
            if downgrade && codec::is_v4_payload(&batch.payload) {
                batch = codec::downgrade_batch(batch)?;
                changed = true;
            }
            if changed {
                Ok(codec::encode(&Frame::Batch(batch))?)
            } else {
                Ok(frame)
            }
        }
        _ => Ok(frame),
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
            ControlAction::SaveCredential(credential) => save_credential(credential, &buffer).await,
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

/// Keeps a credential the collector issued to this agent id; one for another id (the agent
/// re-keyed since) is ignored.
async fn save_credential(credential: AgentCredential, buffer: &Arc<Buffer>) {
    if credential.agent_id != buffer.agent_id() {
        warn!(issued_to = %credential.agent_id, "Ignored a credential issued to another agent id.");
        return;
    }
    let buf = buffer.clone();
    let saved = tokio::task::spawn_blocking(move || {
        buf.save_credential(&credential.agent_id, &credential.token)
    })
    .await;
    match saved {
        Ok(Ok(())) => info!(
            "The collector issued this agent its own credential; it is presented from the next connection on."
        ),
        Ok(Err(err)) => {
            warn!(error = %err, "Saving the issued credential failed; the fleet token stays in use.")
        }
        Err(err) => {
            warn!(error = %err, "Saving the issued credential failed; the fleet token stays in use.")
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

/// Sends one batch on its own stream and reads the collector's answer.
async fn send_batch(
    conn: &quinn::Connection,
    priority: bool,
    frame: &[u8],
) -> Result<Frame, ShipError> {
    let (mut send, mut recv) = conn.open_bi().await?;
    // The priority lane overtakes bulk streams queued on the same connection.
    let _ = send.set_priority(if priority { 10 } else { 0 });
    send.write_all(frame).await?;
    send.finish()?;
    read_frame(&mut recv).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buffer::FullPolicy;
    use fleetlog_lines::baseline::Baseline;

    /// A buffered v4 batch frame goes out unchanged to a v4 collector and with a v1 payload
    /// (same seq, same lines) to an older one; a re-keyed agent's old batch gets its id.
    #[test]
    fn buffered_frames_are_reencoded_only_when_the_connection_needs_it() {
        use fleetlog_protocol::messages::{BatchPayload, Entry};
        let payload = BatchPayload {
            sources: vec!["/var/log/a.log".into()],
            entries: vec![Entry {
                ts_ms: 5,
                line: "2026-11-28T10:00:00Z ERROR x".into(),
                logged_ms: Some(4),
                template: Some(3),
                ..Entry::default()
            }],
            model_version: Some(9),
            ..BatchPayload::default()
        };
        let (bytes, raw_len) = codec::encode_payload(&payload).unwrap();
        let frame = codec::encode(&Frame::Batch(fleetlog_protocol::Batch {
            agent_id: "old-id".into(),
            seq: 7,
            priority: false,
            entry_count: 1,
            raw_len,
            payload: bytes,
        }))
        .unwrap();
        let batch_of = |f: &[u8]| match codec::decode(f).unwrap() {
            Some((Frame::Batch(b), _)) => b,
            other => panic!("{other:?}"),
        };
        // (restamp, downgrade) → (same bytes, agent id, v4 payload)
        for (restamp, downgrade, same, id, v4) in [
            (false, false, true, "old-id", true),
            (true, false, false, "new-id", true),
            (false, true, false, "old-id", false),
            (true, true, false, "new-id", false),
        ] {
            let out = reencode(frame.clone(), "new-id", restamp, downgrade).unwrap();
            assert_eq!(out == frame, same, "{restamp} {downgrade}");
            let b = batch_of(&out);
            assert_eq!((b.agent_id.as_str(), b.seq), (id, 7));
            assert_eq!(codec::is_v4_payload(&b.payload), v4);
            let back = codec::decode_payload(&b).unwrap();
            assert_eq!(back.entries[0].line, payload.entries[0].line);
            assert_eq!(back.entries[0].logged_ms, v4.then_some(4));
        }
    }

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
