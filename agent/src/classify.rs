//! Pre-classification at the edge: every line gets a level, an error score and (when it shows
//! trouble) an error class before it is buffered, through `fleetlog_lines::judge::Judge`, the
//! same rules the collector applies.
//!
//! Each source has its own `fleetlog_lines::detect::Detector`, so the level comes from the
//! line's level field (JSON `level`, logfmt `level=`, a header's `ERROR`, a syslog `<PRI>`)
//! and the keywords are looked for in the message, not in the header. Weighted keywords
//! (TIMEOUT 0.9, ERROR 0.8, FAILED 0.7 among them) and the level combine into a probability
//! that the line reports trouble.
//!
//! With a model the collector pushed (a `fleetlog_lines::baseline::Baseline`), lines with
//! evidence are also judged against what the source looks like when healthy: a never-seen
//! template is raised, a known healthy one quieted.
//!
//! The assess rule, for the per-line cost: the keyword scan runs on every line; the baseline's
//! template match runs only when that scan found evidence, i.e. a trouble keyword or a level of
//! warn or worse. Every other line keeps the cheap score, which is already below 0.05 without
//! evidence. Lines that are matched also count towards their template's rate on this host
//! (`fleetlog_lines::baseline::RateCounter`), by the line's own timestamp so that reading a
//! backlog is not mistaken for a burst (lines without a timestamp are not counted): a known
//! template arriving far faster than it ever did while healthy is raised rather than quieted.
//!
//! Models arrive from the shipper through a `tokio::sync::watch` channel; the reader calls
//! [`Classifier::refresh`] between chunks (one atomic load), so `classify` itself takes no lock.

use std::collections::HashMap;
use std::sync::Arc;

use fleetlog_lines::baseline::{BASELINE_VERSION, Baseline, RateCounter};
use fleetlog_lines::classes::ClassTable;
use fleetlog_lines::detect::{Detector, DetectorConfig};
use fleetlog_lines::judge::{Context, Judge};
use fleetlog_lines::level::Level as LineLevel;
use fleetlog_lines::score::Severity;
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

/// Sources whose detector is kept; beyond this the detectors start over (a detector re-learns
/// its source's format from the next lines).
const MAX_SOURCES: usize = 4096;

/// How far past its read time a line's own timestamp may lie and still be believed: a day.
pub const MAX_FUTURE_MS: i64 = 24 * 3600 * 1000;

/// The agent's classifier; cheap to call per line.
#[derive(Debug)]
pub struct Classifier {
    judge: Judge,
    detectors: HashMap<String, Detector>,
    rates: RateCounter,
    model: Option<Arc<Model>>,
    updates: Option<ModelReceiver>,
    /// The read time of the lines being classified ([`Classifier::set_now`]).
    now_ms: i64,
    /// The year of `now_ms`, for formats that carry none (RFC 3164 syslog).
    year: i32,
}

/// What the agent records about one line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Classified {
    pub level: Level,
    /// Probability in [0, 1] that the line reports an unhealthy condition.
    pub score: f32,
    /// Banded `score`.
    pub severity: Severity,
    /// Error class, as an index into [`Classifier::classes`]; set for every line with evidence
    /// of trouble that matches a class, with or without a model.
    pub class: Option<usize>,
    /// Critical lines take the priority lane.
    pub critical: bool,
    /// When the line says it was logged (its own timestamp; UTC when it names no zone).
    pub logged_ms: Option<i64>,
    /// The line's template in the model, when the model was consulted and knew it.
    pub template: Option<u32>,
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

impl Default for Classifier {
    /// No model, and no read time until [`Classifier::set_now`] (year 1970 for yearless
    /// timestamps, as `DetectorConfig::default`).
    fn default() -> Self {
        Classifier {
            judge: Judge::default(),
            detectors: HashMap::new(),
            rates: RateCounter::default(),
            model: None,
            updates: None,
            now_ms: 0,
            year: DetectorConfig::default().year,
        }
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
        // Template ids belong to a model.
        self.rates.clear();
        true
    }

    /// Sets the read time of the lines classified next (the reader calls it per chunk): a
    /// timestamp without a year takes this one's, and a line claiming to be logged more than
    /// [`MAX_FUTURE_MS`] after it gets no `logged_ms` (a wrong clock or a year guessed wrong
    /// around New Year is not evidence of when it happened).
    pub fn set_now(&mut self, now_ms: i64) {
        self.now_ms = now_ms;
        let year = fleetlog_lines::detect::time::year_of_ms(now_ms);
        if year != self.year {
            self.year = year;
            for d in self.detectors.values_mut() {
                d.set_year(year);
            }
        }
    }

    /// Version of the model in use.
    pub fn model_version(&self) -> Option<u64> {
        self.model.as_ref().map(|m| m.version)
    }

    /// The class table [`Classified::class`] indexes.
    pub fn classes(&self) -> &ClassTable {
        self.judge.classes()
    }

    /// The id of a classified line's class (`disk_full`...).
    pub fn class_id(&self, c: &Classified) -> Option<&str> {
        c.class
            .and_then(|i| self.classes().classes().get(i))
            .map(|c| c.id.as_str())
    }

    /// Classifies one line of `source` (its file path: each source keeps its own format
    /// detector).
    pub fn classify(&mut self, source: &str, line: &str) -> Classified {
        if !self.detectors.contains_key(source) && self.detectors.len() >= MAX_SOURCES {
            self.detectors.clear();
        }
        let detector = self
            .detectors
            .entry(source.to_owned())
            .or_insert_with(|| Detector::new(DetectorConfig::with_year(self.year)));
        // A joined multi-line entry (a stack trace) is judged by its first line; the rest
        // only helps to name its class.
        let (line, details) = line.split_once('\n').unwrap_or((line, ""));
        let parsed = detector.parse(line);
        let cx = Context {
            baseline: self.model.as_deref().map(|m| &m.baseline),
            // The assess rule (module doc): only lines with evidence pay for the baseline.
            baseline_only_with_evidence: true,
            ..Context::default()
        };
        let v = match parsed.timestamp_ms {
            Some(ts) => self.judge.judge_counting(&parsed, cx, &mut self.rates, ts),
            None => self.judge.judge(&parsed, cx),
        };
        let level = wire_level(v.level);
        let classes = self.judge.classes().classes();
        let class = v
            .class
            .or_else(|| {
                (v.evidence && !details.is_empty())
                    .then(|| self.judge.class_of(&parsed, details))
                    .flatten()
            })
            .and_then(|c| classes.iter().position(|x| std::ptr::eq(x, c)));
        Classified {
            level,
            score: v.confidence,
            severity: v.severity,
            class,
            critical: level == Level::Critical || v.severity == Severity::Critical,
            logged_ms: parsed
                .timestamp_ms
                .filter(|&ts| self.now_ms == 0 || ts <= self.now_ms.saturating_add(MAX_FUTURE_MS)),
            template: v.template_id.map(|t| t.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use fleetlog_lines::detect::parse_line;

    use super::*;

    const SRC: &str = "/var/log/pos/app.log";
    fn cl(c: &mut Classifier, source: &str, line: &str) -> Classified {
        c.classify(source, line)
    }

    #[test]
    fn users_keywords_raise_the_score() {
        let mut c = Classifier::default();
        let calm = cl(
            &mut c,
            SRC,
            "2026-01-01T10:00:00Z INFO register[3] txn=1 approved",
        );
        let timeout = cl(
            &mut c,
            SRC,
            "payterm lane=3 ERROR authorization TIMEOUT after 30000ms",
        );
        let failed = cl(&mut c, SRC, "price lookup FAILED sku=123");
        assert_eq!(calm.level, Level::Info);
        assert!(calm.score < 0.2, "{calm:?}");
        assert_eq!(timeout.level, Level::Error);
        assert!(
            timeout.score > failed.score && failed.score > calm.score,
            "{timeout:?} {failed:?}"
        );
    }

    #[test]
    fn the_level_field_decides_not_words_in_the_message() {
        let mut c = Classifier::default();
        let json = "/var/log/kiosk/app.json";
        let info = cl(
            &mut c,
            json,
            r#"{"level":"info","msg":"health: no critical alerts, 0 errors"}"#,
        );
        assert_eq!(info.level, Level::Info);
        assert_eq!(info.severity, Severity::Info);
        assert!(!info.critical);
        let err = cl(
            &mut c,
            json,
            r#"{"level":"error","msg":"x509: certificate has expired or is not yet valid"}"#,
        );
        assert_eq!(err.level, Level::Error);
        assert!(err.severity >= Severity::High, "{err:?}");
        assert_eq!(c.class_id(&err), Some("tls_certificate"));
    }

    #[test]
    fn fatal_lines_take_the_priority_lane() {
        let mut c = Classifier::default();
        assert!(cl(&mut c, SRC, "FATAL kernel panic: out of memory").critical);
        assert!(!cl(&mut c, SRC, "WARN low paper").critical);
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
        // As `fleetlog-collector train` does: the message content, without its header.
        let contents: Vec<String> = lines
            .iter()
            .map(|l| parse_line(l, 2026).content.into_owned())
            .collect();
        let baseline = Baseline::train(contents.iter().map(|l| (l.as_str(), None)));
        let json = serde_json::to_vec(&baseline).unwrap();
        Model::from_json(42, &json).unwrap()
    }

    #[test]
    fn baseline_rates_novel_errors_above_known_healthy_ones() {
        let mut plain = Classifier::default();
        let mut c = Classifier::with_model(Arc::new(healthy_model()));
        let known = "ERROR printer 77 paper low, retrying job 77";
        let novel = "ERROR payment terminal connection reset by peer";
        let k = cl(&mut c, SRC, known);
        let n = cl(&mut c, SRC, novel);
        assert_eq!(k.level, Level::Error);
        assert!(n.score > k.score, "novel {n:?} vs known {k:?}");
        assert!(n.score >= 0.5, "{n:?}");
        // The model quiets a line it knows is healthy, and never lowers one it has not seen.
        assert!(k.score < cl(&mut plain, SRC, known).score, "{k:?}");
        assert!(n.score >= cl(&mut plain, SRC, novel).score, "{n:?}");
        // Classes do not depend on the model.
        assert_eq!(c.class_id(&n), Some("payment_terminal"));
        let p = cl(&mut plain, SRC, novel);
        assert_eq!(plain.class_id(&p), Some("payment_terminal"));
        // Lines without evidence keep the cheap score.
        let calm = "register 9 txn approved total=9.50 EUR";
        assert_eq!(cl(&mut c, SRC, calm), cl(&mut plain, SRC, calm));
    }

    #[test]
    fn lines_carry_their_own_time_and_their_template() {
        // Read on 2026-11-28T12:00:00Z.
        let now = 1_795_867_200_000;
        let mut c = Classifier::with_model(Arc::new(healthy_model()));
        c.set_now(now);
        let cases: [(&str, Option<i64>); 6] = [
            // A zone is honoured; a line without one is read as UTC.
            (
                "2026-11-28T11:59:00+01:00 ERROR printer 7 paper low, retrying job 7",
                Some(now - 3_660_000),
            ),
            (
                "2026-11-28 11:00:00,250 ERROR printer 7 paper low, retrying job 7",
                Some(now - 3_599_750),
            ),
            // RFC 3164 has no year: the read time's year.
            (
                "<11>Nov 28 11:30:00 pos1 printd: ERROR printer 7 paper low, retrying job 7",
                Some(now - 1_800_000),
            ),
            // More than a day ahead of the read time: not believed.
            (
                "2026-11-30T12:00:00Z ERROR printer 7 paper low, retrying job 7",
                None,
            ),
            // A line from a backlog is believed however old.
            (
                "2026-11-01T00:00:00Z ERROR printer 7 paper low, retrying job 7",
                Some(1_793_491_200_000),
            ),
            ("ERROR printer 7 paper low, retrying job 7", None),
        ];
        for (i, (line, logged)) in cases.into_iter().enumerate() {
            let got = c.classify(&format!("/var/log/{i}.log"), line);
            assert_eq!(got.logged_ms, logged, "{line}");
            // The model knows the printer warning: its template id rides along (the syslog
            // line's message also holds its tag, which the model never saw).
            if !line.starts_with('<') {
                assert!(got.template.is_some(), "{line}: {got:?}");
            }
        }
        let novel = c.classify(SRC, "ERROR payment terminal connection reset by peer");
        assert_eq!(
            novel.template, None,
            "a template the model never saw has no id"
        );
    }

    #[test]
    fn a_known_template_at_a_spiking_rate_is_raised() {
        let mut c = Classifier::with_model(Arc::new(healthy_model()));
        let at = |ms: u32| {
            format!(
                "2026-11-27T10:{:02}:{:02}.{:03}Z ERROR printer 77 paper low, retrying job 77",
                ms / 60_000,
                ms / 1000 % 60,
                ms % 1000
            )
        };
        let steady = cl(&mut c, SRC, &at(0));
        let mut last = steady;
        for i in 0..400 {
            last = cl(&mut c, SRC, &at(60_000 + i * 100));
        }
        assert!(last.score > steady.score, "{last:?} {steady:?}");
        // A backlog of the same lines read at once, without timestamps, is not a burst.
        let mut c = Classifier::with_model(Arc::new(healthy_model()));
        let known = "ERROR printer 77 paper low, retrying job 77";
        let first = cl(&mut c, SRC, known);
        for _ in 0..400 {
            assert_eq!(cl(&mut c, SRC, known), first);
        }
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
