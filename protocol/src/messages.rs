//! Messages that cross the wire.
//!
//! The control stream carries `Hello`, `Welcome`, `Heartbeat` and `Reject`, and, after
//! `Welcome`, the collector's `Model` push (a trained healthy baseline for the agent) and
//! (protocol v5) the agent's own `Credential`.
//! Each batch travels on its own bidirectional stream: the agent writes one
//! `Frame::Batch` and the collector answers with one `Frame::Ack` (or `Reject`).
//! A batch's entries travel zstd-compressed in `Batch::payload`, so the collector
//! can archive them exactly as they arrived (compress once, at the edge).

use serde::{Deserialize, Serialize};

/// Everything that can be written to a fleetlog stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Frame {
    Hello(Hello),
    Welcome(Welcome),
    Batch(Batch),
    Ack(Ack),
    Heartbeat(Heartbeat),
    Reject(Reject),
    /// Appended last so that every earlier variant keeps its v1 encoding.
    Model(ModelPush),
    /// Protocol v2: the heartbeat with host metrics and the agent's own state. Sent in place
    /// of `Heartbeat` to a collector whose `Welcome` names version 2 or later.
    Status(Status),
    /// Protocol v3: the v2 status and the model the agent classifies with. Sent in place of
    /// `Status` to a collector whose `Welcome` names version 3 or later.
    StatusV3(StatusV3),
    /// Protocol v5: the agent's own credential, sent by the collector on the control stream
    /// after `Welcome` to an agent that presented the fleet enrollment token. The agent keeps
    /// it and presents it in place of the fleet token from then on.
    Credential(AgentCredential),
}

/// Protocol v5: a per-agent credential, bound to one agent id. Its `Debug` leaves the
/// token out.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentCredential {
    /// The agent id the credential was issued to; an agent that has taken another id since
    /// (a re-key) ignores it.
    pub agent_id: String,
    /// The secret the agent presents as `Hello::token`.
    pub token: String,
}

impl std::fmt::Debug for AgentCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentCredential")
            .field("agent_id", &self.agent_id)
            .field("token", &"<redacted>")
            .finish()
    }
}

/// First frame an agent sends on its control stream.
/// Its `Debug` leaves the token out.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    pub protocol_version: u16,
    /// Stable identity of the agent installation (survives restarts).
    pub agent_id: String,
    /// Host name shown in the fleet view.
    pub host: String,
    /// The fleet enrollment token, or (protocol v5) the agent's own credential
    /// (`Frame::Credential`); checked by the collector before anything else.
    pub token: String,
    /// Static labels from the agent's config (store, site, ...).
    pub labels: Vec<(String, String)>,
    pub agent_version: String,
}

impl std::fmt::Debug for Hello {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hello")
            .field("protocol_version", &self.protocol_version)
            .field("agent_id", &self.agent_id)
            .field("host", &self.host)
            .field("token", &"<redacted>")
            .field("labels", &self.labels)
            .field("agent_version", &self.agent_version)
            .finish()
    }
}

/// The collector's answer to an accepted `Hello`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Welcome {
    pub protocol_version: u16,
    pub collector_version: String,
    /// Highest sequence number the collector has durably stored for this agent, if any.
    /// Informational: the agent still re-sends everything it holds un-acked.
    pub last_stored_seq: Option<u64>,
    /// Largest compressed payload the collector accepts in one batch.
    pub max_batch_bytes: u32,
}

/// A batch of log lines, identified by (agent id, sequence number).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Batch {
    pub agent_id: String,
    pub seq: u64,
    /// True when the batch holds critical lines sent on the priority lane.
    pub priority: bool,
    /// Number of entries in the payload, checked after decompression.
    pub entry_count: u32,
    /// Uncompressed size of the payload, checked before decompression.
    pub raw_len: u32,
    /// zstd-compressed encoding of a `BatchPayload` (see `codec::encode_payload`).
    // Encoded as one byte string (same bytes on the wire as a sequence of u8, but
    // serialized in one copy instead of one call per byte).
    #[serde(with = "serde_bytes")]
    pub payload: Vec<u8>,
}

/// The entries of a batch and the sources they came from.
///
/// Two encodings exist (see `codec`): the v1 payload carries `sources` and, per entry, the
/// read time, source, line, level and score; the v4 payload carries every field here. A v1
/// payload decodes with the v4 fields empty (`None`, `0`, empty vectors).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BatchPayload {
    /// Source names (file paths) referenced by `Entry::source`.
    pub sources: Vec<String>,
    pub entries: Vec<Entry>,
    /// v4: what the agent knows about each source, parallel to `sources` (or empty).
    pub source_meta: Vec<SourceMeta>,
    /// v4: content hash of the model (`ModelPush::version`) that `Entry::template` ids refer
    /// to; `None` when the agent classified without a model.
    pub model_version: Option<u64>,
}

impl BatchPayload {
    /// The metadata of `entry`'s source, if the payload carries any.
    pub fn meta_of(&self, entry: &Entry) -> Option<&SourceMeta> {
        self.source_meta.get(entry.source as usize)
    }
}

/// v4: what the agent knows about one source besides its path.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceMeta {
    /// The service the source belongs to, from the agent's config (a `[[sources]]` table's
    /// `service`) or the container name; `None` leaves the collector to derive it from the
    /// path.
    pub service: Option<String>,
    /// Kubernetes coordinates when the source is a container log.
    pub kubernetes: Option<KubernetesRef>,
}

/// v4: the pod a container log belongs to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KubernetesRef {
    pub namespace: String,
    pub pod: String,
    pub container: String,
}

/// One log line with the agent's pre-classification.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Wall-clock time the agent read the line, in milliseconds since the Unix epoch.
    pub ts_ms: i64,
    /// Index into `BatchPayload::sources`.
    pub source: u32,
    pub line: String,
    pub level: Level,
    /// Error score in [0, 1] from the agent's classifier.
    pub score: f32,
    /// v4: when the line says it was logged (its own timestamp), in milliseconds since the
    /// Unix epoch; a timestamp without a zone is read as UTC. `None` when the line has none.
    pub logged_ms: Option<i64>,
    /// v4: the error class the agent assigned (`tls_certificate`, `disk_full`...).
    pub class: Option<String>,
    /// v4: the line's template id in the model named by `BatchPayload::model_version`.
    pub template: Option<u32>,
    /// v4: `ENTRY_*` flags.
    pub flags: u8,
}

impl Entry {
    /// Physical lines the entry holds: a joined multi-line entry holds one per `'\n'` plus
    /// one (the agent joins with `'\n'` and drops nothing); any other entry is one line.
    pub fn physical_lines(&self) -> u64 {
        if self.flags & ENTRY_MULTILINE != 0 {
            1 + self.line.bytes().filter(|&b| b == b'\n').count() as u64
        } else {
            1
        }
    }
}

/// `Entry::flags`: the entry joins several physical lines (a stack trace, a multi-line
/// message) into one event.
pub const ENTRY_MULTILINE: u8 = 1;
/// `Entry::flags`: the entry continues the previous one; a line over the agent's maximum
/// length was split there.
pub const ENTRY_CONTINUATION: u8 = 2;
/// `Entry::flags`: the entry merges partial container-runtime lines (CRI `P` records).
pub const ENTRY_PARTIAL_MERGED: u8 = 4;

/// Severity of a line, from least to most severe.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
pub enum Level {
    Trace,
    Debug,
    #[default]
    Info,
    Warn,
    Error,
    Critical,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
            Level::Critical => "critical",
        }
    }

    /// Parses the names produced by `as_str`.
    pub fn parse(s: &str) -> Option<Level> {
        Some(match s {
            "trace" => Level::Trace,
            "debug" => Level::Debug,
            "info" => Level::Info,
            "warn" => Level::Warn,
            "error" => Level::Error,
            "critical" => Level::Critical,
            _ => return None,
        })
    }
}

/// Positive acknowledgement: the batch is durably stored (or was already).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    pub seq: u64,
    /// True when the batch had been stored before and this copy was discarded.
    pub duplicate: bool,
}

/// Periodic liveness report from the agent, with self-metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Heartbeat {
    pub ts_ms: i64,
    /// Bytes held in the agent's durable buffer.
    pub buffer_bytes: u64,
    /// Configured capacity of the buffer.
    pub buffer_capacity: u64,
    /// Batches waiting for an ack.
    pub pending_batches: u64,
    /// Lines dropped by the buffer policy since the agent started.
    pub dropped_lines: u64,
    /// Files currently tailed.
    pub watched_files: u32,
}

/// Protocol v2 heartbeat: the v1 figures, the host's metrics and the agent's own state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    pub heartbeat: Heartbeat,
    pub host: HostMetrics,
    pub agent: AgentState,
}

/// Protocol v3 heartbeat: the v2 `Status` and the version (`ModelPush::version`, a content
/// hash) of the baseline model the agent applies, `None` without one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusV3 {
    pub status: Status,
    pub model_version: Option<u64>,
}

/// How the agent's host is doing, sampled when the status is sent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HostMetrics {
    /// CPU use over the last interval, 0-100 (all cores together).
    pub cpu_percent: f32,
    pub memory_total_bytes: u64,
    pub memory_used_bytes: u64,
    /// Load averages over 1, 5 and 15 minutes.
    pub load: [f64; 3],
    pub uptime_secs: u64,
    /// The volumes holding the tailed logs and the agent's data directory.
    pub volumes: Vec<VolumeUse>,
}

/// Space on one volume the agent depends on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VolumeUse {
    /// `data` (the agent's buffer) or `logs` (a tailed directory).
    pub role: String,
    /// Where the volume is mounted.
    pub mount: String,
    pub total_bytes: u64,
    pub available_bytes: u64,
}

/// The agent's own state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AgentState {
    pub buffered_bytes: u64,
    pub buffered_batches: u64,
    /// Age of the oldest batch not yet acknowledged, in milliseconds.
    pub oldest_unacked_ms: Option<u64>,
    /// Bytes written to each tailed file and not read yet (largest first, at most 32).
    pub file_lag: Vec<FileLag>,
    /// Lines dropped since start, by reason (`policy`, `too_large`, `disk_full`...).
    pub drops: Vec<(String, u64)>,
    pub version: String,
    /// Hash of the effective configuration, to see which hosts run which config.
    pub config_hash: u64,
}

/// How far the agent is behind on one file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileLag {
    pub path: String,
    pub lag_bytes: u64,
}

/// A trained model pushed by the collector on the control stream after `Welcome`.
///
/// `model` is the serialized `fleetlog_lines::baseline::Baseline` (serde JSON), compressed
/// by `codec::encode_model`; the protocol treats it as opaque bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelPush {
    /// Content hash of the uncompressed model: equal versions are equal models.
    pub version: u64,
    /// zstd-compressed model bytes (see `codec::encode_model`).
    #[serde(with = "serde_bytes")]
    pub model: Vec<u8>,
    /// Uncompressed size of `model`, checked before decompression.
    pub raw_len: u32,
}

/// Refusal, with a reason the other side can log and act on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reject {
    pub reason: RejectReason,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RejectReason {
    /// The enrollment token was wrong.
    Unauthorized,
    /// The agent speaks a protocol version this collector does not.
    UnsupportedVersion,
    /// A frame or payload was malformed or over a limit.
    Malformed,
    /// The agent sent something out of order (e.g. a batch before `Hello`).
    ProtocolViolation,
    /// The collector could not store the batch; the agent should retry later.
    Unavailable,
    /// Protocol v2: the batch's payload exceeds `Welcome::max_batch_bytes`. The connection
    /// stays open; the agent splits the batch and sends the halves.
    TooLarge,
    /// Protocol v2: a batch with this (agent id, seq) and different content is stored: two
    /// installations share one agent id (a cloned data directory). The agent re-keys itself.
    IdentityConflict,
    /// Protocol v5: the agent's credential was revoked by an operator; the message says why.
    /// A peer below v5 is told `Unauthorized` with the same message.
    Revoked,
}

impl std::fmt::Display for RejectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = match self {
            RejectReason::Unauthorized => "unauthorized",
            RejectReason::UnsupportedVersion => "unsupported protocol version",
            RejectReason::Malformed => "malformed frame",
            RejectReason::ProtocolViolation => "protocol violation",
            RejectReason::Unavailable => "collector unavailable",
            RejectReason::TooLarge => "batch too large",
            RejectReason::IdentityConflict => "agent identity conflict",
            RejectReason::Revoked => "agent credential revoked",
        };
        f.write_str(s)
    }
}
