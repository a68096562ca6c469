//! Collector metrics in the Prometheus text format (`/metrics`).
//! Labels are bounded: outcomes and reject reasons, never hosts or lines.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LimitLabel {
    pub limit: &'static str,
}

/// A SQL table retention deletes from (a fixed set, `store::RowTable::name`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TableLabel {
    pub table: &'static str,
}

/// A volume the store writes to (`archive`, `database`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VolumeLabel {
    pub volume: &'static str,
}

/// An MCP tool call: the tool (a registry name, so bounded) and how it ended.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ToolLabel {
    pub tool: &'static str,
    pub outcome: &'static str,
}

#[derive(Debug, Default)]
pub struct Metrics {
    /// Batches by outcome: stored, duplicate, failed.
    pub batches: Family<OutcomeLabel, Counter>,
    pub lines: Counter,
    pub payload_bytes: Counter,
    /// Connections or streams refused, by reason. Besides the `RejectReason`s and
    /// `handshake`, the `[ingest]` limits add: `hello_too_large`, `handshake_timeout`,
    /// `first_frame_timeout`, `max_connections`, `max_connections_per_address`,
    /// `decompressed_budget` (a batch larger than the whole per-connection budget),
    /// `disk_full` (a batch refused for want of space, see `store::space`); `revoked` also
    /// counts a live connection closed because its agent was revoked.
    pub rejects: Family<ReasonLabel, Counter>,
    /// Times an `[ingest]` limit made work wait instead of refusing it, by limit:
    /// `max_streams_per_connection` (an agent reached its stream cap),
    /// `max_decompressed_bytes_per_connection` (a batch waited for budget),
    /// `max_concurrent_stores` (a batch waited for a store slot).
    pub limited: Family<LimitLabel, Counter>,
    pub connections: Gauge,
    /// Free bytes on each volume the store writes to, as of the last batch or `/readyz`.
    pub disk_free_bytes: Family<VolumeLabel, Gauge>,
    pub heartbeats: Counter,
    /// Per-agent credentials issued at enrollment (`ingest::credentials`).
    pub credentials_issued: Counter,
    pub retention_segments_deleted: Counter,
    /// SQL rows deleted by retention, by table: events, minute_stats, batches, outbox,
    /// outbox_attempts, heartbeats, audit.
    pub retention_rows_deleted: Family<TableLabel, Counter>,
    /// Retention delete transactions committed (segments and rows).
    pub retention_transactions: Counter,
    /// Indexed segments whose file is missing, found by the orphan sweep (lost lines).
    pub retention_missing_files: Counter,
    /// API requests refused before a handler ran, by reason (unauthorized, forbidden,
    /// csrf, rate_limited, login_failed, login_locked, timeout).
    pub api_rejects: Family<ReasonLabel, Counter>,
    /// Outbox delivery attempts by outcome: delivered, retry, dead, lease_lost.
    pub outbox_deliveries: Family<OutcomeLabel, Counter>,
    /// Training jobs ended, by outcome: succeeded, failed, cancelled.
    pub training_jobs: Family<OutcomeLabel, Counter>,
    /// Model activations pushed to this replica's connections (API or another replica).
    pub model_activations: Counter,
    /// MCP tool calls by tool and outcome: ok, bad_argument, forbidden, not_found, conflict,
    /// too_large, failed (unknown tool names are counted as tool `unknown`).
    pub mcp_tool_calls: Family<ToolLabel, Counter>,
    /// S3 objects finished by a scan, by outcome: done, failed, skipped.
    pub s3_objects: Family<OutcomeLabel, Counter>,
    /// Lines read from S3 objects.
    pub s3_lines: Counter,
    /// S3 event notifications received (SQS or pushed), by outcome: accepted, duplicate,
    /// ignored (not ObjectCreated), bad_signature, invalid.
    pub s3_events: Family<OutcomeLabel, Counter>,
}

impl Metrics {
    pub fn render(&self) -> String {
        let mut r = Registry::with_prefix("fleetlog_collector");
        r.register(
            "outbox_deliveries",
            "Outbox delivery attempts, by outcome",
            self.outbox_deliveries.clone(),
        );
        r.register(
            "ingest_batches",
            "Batches received, by outcome",
            self.batches.clone(),
        );
        r.register("ingest_lines", "Lines stored", self.lines.clone());
        r.register(
            "ingest_payload_bytes",
            "Compressed payload bytes stored",
            self.payload_bytes.clone(),
        );
        r.register(
            "ingest_rejects",
            "Connections or streams refused, by reason",
            self.rejects.clone(),
        );
        r.register(
            "ingest_limited",
            "Times an ingest limit made a connection or batch wait, by limit",
            self.limited.clone(),
        );
        r.register(
            "ingest_connections",
            "Open agent connections",
            self.connections.clone(),
        );
        r.register(
            "ingest_heartbeats",
            "Agent heartbeats received",
            self.heartbeats.clone(),
        );
        r.register(
            "ingest_credentials_issued",
            "Per-agent credentials issued to agents enrolling with the fleet token",
            self.credentials_issued.clone(),
        );
        r.register(
            "retention_deleted_segments",
            "Segments deleted by retention",
            self.retention_segments_deleted.clone(),
        );
        r.register(
            "disk_free_bytes",
            "Free bytes on each volume the store writes to (archive, database)",
            self.disk_free_bytes.clone(),
        );
        r.register(
            "retention_deleted_rows",
            "SQL rows deleted by retention, by table",
            self.retention_rows_deleted.clone(),
        );
        r.register(
            "retention_transactions",
            "Retention delete transactions committed",
            self.retention_transactions.clone(),
        );
        r.register(
            "retention_missing_segment_files",
            "Indexed segments found without their file by the orphan sweep",
            self.retention_missing_files.clone(),
        );
        r.register(
            "api_rejects",
            "API requests refused, by reason",
            self.api_rejects.clone(),
        );
        r.register(
            "training_jobs",
            "Training jobs ended, by outcome",
            self.training_jobs.clone(),
        );
        r.register(
            "model_activations",
            "Model changes pushed to this replica's agent connections",
            self.model_activations.clone(),
        );
        r.register(
            "mcp_tool_calls",
            "MCP tool calls, by tool and outcome",
            self.mcp_tool_calls.clone(),
        );
        r.register(
            "s3_objects",
            "S3 objects finished by scans, by outcome",
            self.s3_objects.clone(),
        );
        r.register(
            "s3_lines",
            "Lines read from S3 objects",
            self.s3_lines.clone(),
        );
        r.register(
            "s3_events",
            "S3 event notifications received, by outcome",
            self.s3_events.clone(),
        );
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &r);
        out
    }

    pub fn api_reject(&self, reason: &'static str) {
        self.api_rejects
            .get_or_create(&ReasonLabel { reason })
            .inc();
    }

    pub fn mcp_tool_call(&self, tool: &'static str, outcome: &'static str) {
        self.mcp_tool_calls
            .get_or_create(&ToolLabel { tool, outcome })
            .inc();
    }

    /// Records the free space the store found.
    pub fn disk_free(&self, found: &[crate::store::space::Free]) {
        for f in found {
            self.disk_free_bytes
                .get_or_create(&VolumeLabel { volume: f.role })
                .set(i64::try_from(f.bytes).unwrap_or(i64::MAX));
        }
    }

    pub fn reject(&self, reason: &'static str) {
        self.rejects.get_or_create(&ReasonLabel { reason }).inc();
    }

    pub fn limited(&self, limit: &'static str) {
        self.limited.get_or_create(&LimitLabel { limit }).inc();
    }

    /// Counts `rows` deleted from `table` by retention.
    pub fn retention_rows(&self, table: &'static str, rows: u64) {
        self.retention_rows_deleted
            .get_or_create(&TableLabel { table })
            .inc_by(rows);
    }

    pub fn batch(&self, outcome: &'static str) {
        self.batches.get_or_create(&OutcomeLabel { outcome }).inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_counters_are_per_table() {
        let m = Metrics::default();
        m.retention_rows("events", 8);
        m.retention_rows("events", 2);
        m.retention_rows("batches", 3);
        m.retention_transactions.inc_by(4);
        let text = m.render();
        assert!(
            text.contains("fleetlog_collector_retention_deleted_rows_total{table=\"events\"} 10"),
            "{text}"
        );
        assert!(
            text.contains("fleetlog_collector_retention_deleted_rows_total{table=\"batches\"} 3"),
            "{text}"
        );
        assert!(
            text.contains("fleetlog_collector_retention_transactions_total 4"),
            "{text}"
        );
    }
}
