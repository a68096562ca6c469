//! What the buffer does when it is full.

use serde::Deserialize;

/// Declared behaviour of a full buffer. Every dropped line is counted
/// (`fleetlog_agent_buffer_dropped_lines_total` and the heartbeat).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FullPolicy {
    /// Stop reading files until acks free space (backpressure); nothing is dropped.
    /// Lines keep waiting in the files themselves.
    #[default]
    Block,
    /// Skip the lines that do not fit (the checkpoint still advances past them).
    DropNewest,
    /// Evict the oldest normal-lane batches to make room; the priority lane is kept.
    DropOldest,
}

impl std::fmt::Display for FullPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FullPolicy::Block => "block",
            FullPolicy::DropNewest => "drop_newest",
            FullPolicy::DropOldest => "drop_oldest",
        })
    }
}

impl std::str::FromStr for FullPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "block" => Ok(FullPolicy::Block),
            "drop_newest" => Ok(FullPolicy::DropNewest),
            "drop_oldest" => Ok(FullPolicy::DropOldest),
            other => Err(format!(
                "unknown policy `{other}` (expected block, drop_newest or drop_oldest)"
            )),
        }
    }
}
