//! Pre-classification at the edge: every line gets a level and an error score before it
//! is buffered, using `fleetlog_lines::score::Scorer` (weighted keywords — TIMEOUT 0.9,
//! ERROR 0.8, FAILED 0.7 among them — plus level words, combined into a probability
//! that the line reports trouble).
//!
//! With a model the collector pushed (a `fleetlog_lines::baseline::Baseline`), lines with
//! evidence are also judged against what the source looks like when healthy: a known healthy
//! template is quieted, a never-seen one raised.
//!
//! The assess rule, for the per-line cost: the keyword scan runs on every line; the baseline's
//! `assess` (a second scan plus a template match) runs only when that scan found evidence, i.e.
//! a positive keyword (the warn/error/fatal level words are keywords too) or a level of warn or
//! worse. Every other line keeps the cheap score, which is already below 0.05 without evidence.
//!
//! Models arrive from the shipper through a `tokio::sync::watch` channel; the reader calls
//! [`Classifier::refresh`] between chunks (one atomic load), so `classify` itself takes no lock.

use std::sync::Arc;

use fleetlog_lines::baseline::{BASELINE_VERSION, Baseline};
use fleetlog_lines::level::Level as LineLevel;
use fleetlog_lines::score::{Scorer, Severity};
use fleetlog_protocol::Level;
use tokio::sync::watch;

/// A model the collector pushed, ready to classify with.
#[derive(Debug)]
pub struct Model {
    /// `ModelPush::version` (content hash): equal versions are equal models.
    pub version: u64,
    pub baseline: Baseline,
}

/// Why pushed model bytes cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("model is not a baseline: {0}")]
    Json(#[from] serde_json::Error),
    #[error("model format version {found}, this agent reads version {BASELINE_VERSION}")]
    Version { found: u32 },
}

impl Model {
    /// Parses the serialized baseline (serde JSON) pushed at `version`.
    pub fn from_json(version: u64, bytes: &[u8]) -> Result<Model, ModelError> {
        let baseline: Baseline = serde_json::from_slice(bytes)?;
        if baseline.version != BASELINE_VERSION {
            return Err(ModelError::Version {
                found: baseline.version,
            });
        }
        Ok(Model { version, baseline })
    }
}

/// The shipper's end of the model channel.
pub type ModelSender = watch::Sender<Option<Arc<Model>>>;
/// The reader's end of the model channel.
pub type ModelReceiver = watch::Receiver<Option<Arc<Model>>>;

/// The agent's classifier; cheap to call per line.
#[derive(Debug, Default)]
pub struct Classifier {
    scorer: Scorer,
    model: Option<Arc<Model>>,
    updates: Option<ModelReceiver>,
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
    /// A classifier using `model` and never updating it.
    pub fn with_model(model: Arc<Model>) -> Classifier {
        Classifier {
            model: Some(model),
            ..Classifier::default()
        }
    }

    /// A classifier that starts with the channel's current model and follows its updates.
    pub fn following(mut updates: ModelReceiver) -> Classifier {
        let model = updates.borrow_and_update().clone();
        Classifier {
            model,
            updates: Some(updates),
            ..Classifier::default()
        }
    }

    /// Picks up a newer model, if one was published; returns whether it changed.
    pub fn refresh(&mut self) -> bool {
        let Some(updates) = &mut self.updates else {
            return false;
        };
        // `has_changed` errs only when the sender is gone: keep the current model.
        if !updates.has_changed().unwrap_or(false) {
            return false;
        }
        self.model = updates.borrow_and_update().clone();
        true
    }

    /// Version of the model in use.
    pub fn model_version(&self) -> Option<u64> {
        self.model.as_ref().map(|m| m.version)
    }

    pub fn classify(&self, line: &str) -> Classified {
        let s = self.scorer.score(line);
        let level = wire_level(s.level);
        let (score, severity) = match &self.model {
            // The assess rule (module doc): only lines with evidence pay for the baseline.
            Some(m) if s.keyword_score > 0.0 || level >= Level::Warn => {
                let a = m.baseline.assess(&self.scorer, line, None);
                (a.confidence, a.severity)
            }
            _ => (s.confidence, s.severity),
        };
        Classified {
            level,
            score,
            critical: level == Level::Critical || severity == Severity::Critical,
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

    fn healthy_model() -> Model {
        let lines: Vec<String> = (0..50)
            .flat_map(|i| {
                [
                    format!("register {i} txn approved total={i}.50 EUR"),
                    format!("ERROR printer {i} paper low, retrying job {i}"),
                ]
            })
            .collect();
        let baseline = Baseline::train(lines.iter().map(|l| (l.as_str(), None)));
        let json = serde_json::to_vec(&baseline).unwrap();
        Model::from_json(42, &json).unwrap()
    }

    #[test]
    fn baseline_rates_novel_errors_above_known_healthy_ones() {
        let plain = Classifier::default();
        let c = Classifier::with_model(Arc::new(healthy_model()));
        let known = "ERROR printer 77 paper low, retrying job 77";
        let novel = "ERROR payment terminal connection reset by peer";
        let k = c.classify(known);
        let n = c.classify(novel);
        assert_eq!(k.level, Level::Error);
        assert!(n.score > k.score, "novel {n:?} vs known {k:?}");
        assert!(n.score >= 0.5, "{n:?}");
        // The model quiets a line it knows is healthy.
        assert!(k.score < plain.classify(known).score, "{k:?}");
        // Lines without evidence keep the cheap score.
        let calm = "register 9 txn approved total=9.50 EUR";
        assert_eq!(c.classify(calm), plain.classify(calm));
    }

    #[test]
    fn follows_published_models() {
        let (tx, rx) = watch::channel(None);
        let mut c = Classifier::following(rx);
        assert_eq!(c.model_version(), None);
        assert!(!c.refresh());
        tx.send_replace(Some(Arc::new(healthy_model())));
        assert!(c.refresh());
        assert_eq!(c.model_version(), Some(42));
        assert!(!c.refresh());
    }

    #[test]
    fn bad_model_bytes_are_an_error() {
        assert!(matches!(
            Model::from_json(1, b"{nope"),
            Err(ModelError::Json(_))
        ));
    }
}
