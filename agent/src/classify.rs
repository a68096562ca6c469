//! Pre-classification at the edge: every line gets a level and an error score before it
//! is buffered, using `fleetlog_lines::score::Scorer` (weighted keywords — TIMEOUT 0.9,
//! ERROR 0.8, FAILED 0.7 among them — plus level words, combined into a probability
//! that the line reports trouble).

use fleetlog_lines::level::Level as LineLevel;
use fleetlog_lines::score::{Scorer, Severity};
use fleetlog_protocol::Level;

/// The agent's classifier; cheap to call per line.
#[derive(Debug, Default)]
pub struct Classifier {
    scorer: Scorer,
}

/// What the agent records about one line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Classified {
    pub level: Level,
    /// Probability in [0, 1] that the line reports an unhealthy condition.
    pub score: f32,
    /// Critical lines take the priority lane.
    pub critical: bool,
}

fn wire_level(level: Option<LineLevel>) -> Level {
    match level {
        Some(LineLevel::Trace) => Level::Trace,
        Some(LineLevel::Debug) => Level::Debug,
        Some(LineLevel::Info) | None => Level::Info,
        Some(LineLevel::Warn) => Level::Warn,
        Some(LineLevel::Error) => Level::Error,
        Some(LineLevel::Critical) => Level::Critical,
    }
}

impl Classifier {
    pub fn classify(&self, line: &str) -> Classified {
        let s = self.scorer.score(line);
        let level = wire_level(s.level);
        Classified {
            level,
            score: s.confidence,
            critical: level == Level::Critical || s.severity == Severity::Critical,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_keywords_raise_the_score() {
        let c = Classifier::default();
        let calm = c.classify("2026-01-01T10:00:00Z INFO register[3] txn=1 approved");
        let timeout = c.classify("payterm lane=3 ERROR authorization TIMEOUT after 30000ms");
        let failed = c.classify("price lookup FAILED sku=123");
        assert_eq!(calm.level, Level::Info);
        assert!(calm.score < 0.2, "{calm:?}");
        assert_eq!(timeout.level, Level::Error);
        assert!(
            timeout.score > failed.score && failed.score > calm.score,
            "{timeout:?} {failed:?}"
        );
    }

    #[test]
    fn fatal_lines_take_the_priority_lane() {
        let c = Classifier::default();
        assert!(c.classify("FATAL kernel panic: out of memory").critical);
        assert!(!c.classify("WARN low paper").critical);
    }
}
