//! Agent self-metrics, exposed as Prometheus text on `/metrics` when `metrics_listen` is set,
//! and summarised in heartbeats.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Debug, Default)]
pub struct Metrics {
    pub lines_read: Counter,
    pub bytes_read: Counter,
    pub batches_buffered: Counter,
    pub lines_buffered: Counter,
    pub batches_acked: Counter,
    pub duplicate_acks: Counter,
    pub dropped_lines: Counter,
    pub reconnects: Counter,
    pub buffer_bytes: Gauge,
    pub pending_batches: Gauge,
    pub connected: Gauge,
    pub watched_files: Gauge,
    /// Full rescans of the globs (timed, or asked for by file-system events).
    pub rescans: Counter,
    /// Batches replaced by smaller ones (over the collector's `max_batch_bytes`).
    pub batches_split: Counter,
    /// `Unavailable` answers, each followed by a backoff pause.
    pub batch_retries: Counter,
    /// New agent ids taken after an identity conflict.
    pub rekeys: Counter,
    /// Entries that join several physical lines (a stack trace, merged CRI partials).
    pub joined_entries: Counter,
    /// Entries marked as continuing the one before: a piece of a line over `max_line_bytes`,
    /// or the rest of a joined event over `max_event_bytes`.
    pub continued_entries: Counter,
    /// Lines dropped, by reason (`policy`, `too_large`).
    pub dropped: Family<Vec<(String, String)>, Counter>,
}

impl Metrics {
    /// Lines dropped for `reason` since start.
    pub fn dropped_total(&self, reason: &str) -> u64 {
        self.dropped
            .get_or_create(&vec![("reason".to_owned(), reason.to_owned())])
            .get()
    }

    /// Counts `lines` dropped for `reason`.
    pub fn drop_lines(&self, reason: &str, lines: u64) {
        self.dropped
            .get_or_create(&vec![("reason".to_owned(), reason.to_owned())])
            .inc_by(lines);
    }
}

impl Metrics {
    /// Renders every metric in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut r = Registry::with_prefix("fleetlog_agent");
        r.register(
            "tail_read_lines",
            "Lines read from files",
            self.lines_read.clone(),
        );
        r.register(
            "tail_read_bytes",
            "Bytes of log lines read",
            self.bytes_read.clone(),
        );
        r.register(
            "buffer_committed_lines",
            "Entries committed to the durable buffer (a joined stack trace is one)",
            self.lines_buffered.clone(),
        );
        r.register(
            "assemble_continued_entries",
            "Entries continuing the one before (a line over max_line_bytes cut, or an event over max_event_bytes)",
            self.continued_entries.clone(),
        );
        r.register(
            "assemble_joined_entries",
            "Entries that join several physical lines (stack traces, merged CRI partials)",
            self.joined_entries.clone(),
        );
        r.register(
            "buffer_committed_batches",
            "Batches committed to the durable buffer",
            self.batches_buffered.clone(),
        );
        r.register(
            "ship_acked_batches",
            "Batches acknowledged by the collector",
            self.batches_acked.clone(),
        );
        r.register(
            "ship_duplicate_acked_batches",
            "Acks for batches the collector already had (re-sends)",
            self.duplicate_acks.clone(),
        );
        r.register(
            "buffer_dropped_lines",
            "Lines dropped by the buffer-full policy",
            self.dropped_lines.clone(),
        );
        r.register(
            "ship_reconnects",
            "Connection attempts after a failure",
            self.reconnects.clone(),
        );
        r.register(
            "buffer_used_bytes",
            "Bytes held in the durable buffer",
            self.buffer_bytes.clone(),
        );
        r.register(
            "buffer_pending_batches",
            "Batches waiting for an ack",
            self.pending_batches.clone(),
        );
        r.register(
            "ship_connected",
            "1 when connected to the collector",
            self.connected.clone(),
        );
        r.register(
            "tail_watched_files",
            "Files currently tailed",
            self.watched_files.clone(),
        );
        r.register(
            "tail_rescans",
            "Full rescans of the globs (every poll_interval_ms, or when files come and go)",
            self.rescans.clone(),
        );
        r.register(
            "ship_split_batches",
            "Batches split because they were over the collector's max_batch_bytes",
            self.batches_split.clone(),
        );
        r.register(
            "ship_retried_batches",
            "Batches the collector could not store (Unavailable), retried after a backoff",
            self.batch_retries.clone(),
        );
        r.register(
            "ship_rekeys",
            "New agent ids taken after the collector reported an identity conflict",
            self.rekeys.clone(),
        );
        r.register(
            "pipeline_dropped_lines",
            "Lines dropped, by reason",
            self.dropped.clone(),
        );
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &r);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Areas a metric name starts with, after `fleetlog_agent_`.
    const AREAS: [&str; 5] = ["tail", "assemble", "buffer", "ship", "pipeline"];

    #[test]
    fn names_follow_fleetlog_agent_area_name_unit() {
        let m = Metrics::default();
        m.drop_lines("policy", 1);
        let text = m.render();
        let mut seen = 0;
        for line in text.lines() {
            let Some(rest) = line.strip_prefix("# TYPE ") else {
                continue;
            };
            let (name, kind) = rest.split_once(' ').expect("TYPE line has a kind");
            seen += 1;
            let tail = name
                .strip_prefix("fleetlog_agent_")
                .unwrap_or_else(|| panic!("{name}: not fleetlog_agent_"));
            let area = tail.split('_').next().unwrap_or_default();
            assert!(
                AREAS.contains(&area),
                "{name}: area {area} not in {AREAS:?}"
            );
            assert!(
                tail.split('_').count() >= 2,
                "{name}: needs <area>_<name>[_<unit>]"
            );
            assert!(
                name.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{name}: lower snake case"
            );
            if kind == "counter" {
                // The text format appends `_total` to the sample, never to the family.
                assert!(!name.ends_with("_total"), "{name}: _total doubled");
                assert!(
                    text.contains(&format!("\n{name}_total")),
                    "{name}: counter sample lacks _total"
                );
            }
        }
        assert!(seen >= 18, "only {seen} metrics rendered");
    }
}
