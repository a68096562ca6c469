//! Severity scoring: level, weighted keywords and (with a baseline) novelty, combined into a
//! [`Severity`] and a confidence.
//!
//! **What confidence means.** [`Score::confidence`] is the estimated probability that the line
//! reports an unhealthy condition. It comes from a fixed logistic model over three pieces of
//! evidence (see [`Evidence`]) whose coefficients are constants below, not fitted to any
//! dataset's labels. Severity is a banding of that probability ([`Severity::from_confidence`]).
//! Its calibration (expected calibration error) is measured in `tests/bgl_eval.rs`.
//!
//! **Evidence is counted once.** When the line has an explicit level (parsed from its header),
//! keywords that are level words (`error`, `fatal`, `warning`...) count at half their weight: the
//! level already said most of it. Without an explicit level they count in full.
//!
//! **Client errors.** Keywords with a negative weight (`no such file or directory`,
//! `permission denied`, `invalid argument`...) mark failures of a *request* rather than of the
//! system, like HTTP 4xx against 5xx; they pull the score down. They are configurable like every
//! other keyword.
//!
//! The scan is one Aho-Corasick automaton (ASCII case-insensitive, leftmost-longest) with
//! word-boundary checks: no regex and no allocation per line.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};
use serde::{Deserialize, Serialize};

use crate::level::Level;

/// How a keyword must sit in the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchMode {
    /// Whole word: no letter or digit on either side.
    #[default]
    Word,
    /// Start of a word; anything may follow (`fail` matches `failing`).
    Prefix,
    /// Anywhere, also inside identifiers (`exception` in `NullPointerException`).
    Anywhere,
}

/// One weighted keyword.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeywordRule {
    /// Text to find, matched ignoring ASCII case.
    pub pattern: String,
    /// Weight in [-1, 1]: positive for trouble, negative for client-side (benign) failures.
    pub weight: f32,
    /// Where the match may sit; default [`MatchMode::Word`].
    #[serde(default)]
    pub mode: MatchMode,
    /// The level this word names, if it is a level word (`error`, `fatal`...).
    #[serde(default)]
    pub level: Option<Level>,
}

impl KeywordRule {
    fn new(pattern: &str, weight: f32, mode: MatchMode, level: Option<Level>) -> Self {
        KeywordRule {
            pattern: pattern.to_owned(),
            weight,
            mode,
            level,
        }
    }
}

/// Keyword configuration; `Default` is the built-in table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScorerConfig {
    /// The keywords, each with a weight.
    pub keywords: Vec<KeywordRule>,
}

impl Default for ScorerConfig {
    fn default() -> Self {
        ScorerConfig {
            keywords: default_keywords(),
        }
    }
}

impl ScorerConfig {
    /// The defaults plus `extra`; an extra rule with the same pattern (ignoring case) replaces
    /// the default one, so users can re-weight `timeout` or silence a word with weight 0.
    pub fn with_extra(extra: impl IntoIterator<Item = KeywordRule>) -> Self {
        let mut c = Self::default();
        for rule in extra {
            c.keywords
                .retain(|k| !k.pattern.eq_ignore_ascii_case(&rule.pattern));
            c.keywords.push(rule);
        }
        c
    }
}

/// The built-in keyword table. TIMEOUT 0.9, ERROR 0.8 and FAILED 0.7 are today's users' weights.
pub fn default_keywords() -> Vec<KeywordRule> {
    use Level::{Critical, Error, Warn};
    use MatchMode::{Anywhere, Prefix, Word};
    let k = KeywordRule::new;
    vec![
        // Today's weights.
        k("timeout", 0.9, Anywhere, None),
        k("error", 0.8, Prefix, Some(Error)),
        k("failed", 0.7, Word, None),
        // Level words.
        k("fatal", 0.9, Word, Some(Critical)),
        k("critical", 0.85, Word, Some(Critical)),
        k("emerg", 0.9, Word, Some(Critical)),
        k("severe", 0.75, Word, Some(Error)),
        k("err", 0.7, Word, Some(Error)),
        k("warn", 0.3, Word, Some(Warn)),
        k("warning", 0.3, Word, Some(Warn)),
        // Failures of the system.
        k("timed out", 0.9, Word, None),
        k("time out", 0.6, Word, None),
        k("panic", 0.95, Prefix, Some(Critical)),
        k("exception", 0.7, Anywhere, None),
        k("traceback", 0.8, Word, None),
        k("stack trace", 0.6, Word, None),
        k("fail", 0.6, Prefix, None),
        k("oom", 0.95, Word, None),
        k("out of memory", 0.95, Word, None),
        k("outofmemory", 0.95, Anywhere, None),
        k("cannot allocate memory", 0.9, Word, None),
        k("segfault", 0.95, Word, None),
        k("segmentation fault", 0.95, Word, None),
        k("core dumped", 0.9, Word, None),
        k("refused", 0.8, Word, None),
        k("connection reset", 0.85, Word, None),
        k("reset by peer", 0.85, Word, None),
        k("broken pipe", 0.8, Word, None),
        k("unreachable", 0.8, Word, None),
        k("connection lost", 0.8, Word, None),
        k("lost connection", 0.8, Word, None),
        k("no route to host", 0.85, Word, None),
        k("unavailable", 0.6, Word, None),
        k("no space left", 0.95, Word, None),
        k("disk full", 0.95, Word, None),
        k("input/output error", 0.9, Word, None),
        k("i/o error", 0.9, Word, None),
        k("corrupt", 0.85, Prefix, None),
        k("abort", 0.8, Prefix, None),
        k("crash", 0.9, Prefix, None),
        k("killed", 0.7, Word, None),
        k("terminated", 0.5, Word, None),
        k("deadlock", 0.85, Prefix, None),
        k("unauthorized", 0.7, Word, None),
        k("access denied", 0.7, Word, None),
        k("authentication failure", 0.75, Word, None),
        k("certificate", 0.3, Prefix, None),
        k("expired", 0.5, Word, None),
        k("declined", 0.7, Word, None),
        k("out of stock", 0.5, Word, None),
        k("paper out", 0.7, Word, None),
        k("offline", 0.6, Word, None),
        // Client-side failures: the request was wrong, the host is fine.
        k("no such file or directory", -1.0, Word, None),
        k("permission denied", -1.0, Word, None),
        k("exec format error", -1.0, Word, None),
        k("invalid argument", -0.8, Word, None),
        k("not found", -0.5, Word, None),
    ]
}

/// Graded severity, least to most severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Healthy-looking.
    Info,
    /// Worth keeping an eye on.
    Low,
    /// Probably a problem.
    Medium,
    /// Likely a real incident.
    High,
    /// Almost certainly an incident.
    Critical,
}

impl Severity {
    /// Confidence at or above which a line counts as unhealthy (the `High` band starts here too).
    pub const UNHEALTHY_AT: f32 = 0.5;

    /// Bands an unhealthy-probability: <0.15 info, <0.35 low, <0.5 medium, <0.85 high, else critical.
    pub fn from_confidence(p: f32) -> Severity {
        if p >= 0.85 {
            Severity::Critical
        } else if p >= Self::UNHEALTHY_AT {
            Severity::High
        } else if p >= 0.35 {
            Severity::Medium
        } else if p >= 0.15 {
            Severity::Low
        } else {
            Severity::Info
        }
    }

    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Errors building a [`Scorer`].
#[derive(Debug, thiserror::Error)]
pub enum ScoreError {
    /// A keyword is empty or its weight is outside [-1, 1].
    #[error("keyword #{index} ({pattern:?}): {reason}")]
    InvalidKeyword {
        /// Position in `keywords`.
        index: usize,
        /// The pattern.
        pattern: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The automaton could not be built.
    #[error("building keyword automaton: {0}")]
    Build(#[from] aho_corasick::BuildError),
}

/// The raw evidence about one line, before it is turned into a probability.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Evidence<'s> {
    /// The explicit level, or the one implied by a level keyword.
    pub level: Option<Level>,
    /// Whether `level` came from the line's header (explicit) rather than a keyword.
    pub explicit_level: bool,
    /// Highest positive keyword weight (all keywords, level words included), in [0, 1].
    pub keyword_score: f32,
    /// Highest positive weight among keywords that count as evidence (see module doc).
    pub trouble: f32,
    /// Most negative weight among client-error keywords, in [-1, 0].
    pub benign: f32,
    /// The pattern behind `keyword_score`.
    pub matched: Option<&'s str>,
}

/// Per-line result of [`Scorer::score`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Score<'s> {
    /// Level: explicit, or implied by a level word in the text.
    pub level: Option<Level>,
    /// Highest positive keyword weight found, in [0, 1] (0 when none).
    pub keyword_score: f32,
    /// Banded `confidence`.
    pub severity: Severity,
    /// Estimated probability that the line reports an unhealthy condition, in [0, 1].
    pub confidence: f32,
    /// The keyword behind `keyword_score`.
    pub matched: Option<&'s str>,
}

/// Logistic model coefficients (hand-set, documented in the module doc and the report).
pub(crate) mod model {
    /// Weight of the best trouble keyword.
    pub(crate) const KEYWORD: f32 = 2.5;
    /// Weight of the level (see [`super::level_strength`]).
    pub(crate) const LEVEL: f32 = 3.0;
    /// Weight of client-error keywords (their weight is negative).
    pub(crate) const BENIGN: f32 = 2.0;
    /// Intercept without a baseline: novelty unknown.
    pub(crate) const BIAS_NO_BASELINE: f32 = -3.2;
    /// Intercept with a baseline. Chosen so that a critical-level line from a never-seen
    /// template still needs one trouble keyword to cross 0.5.
    pub(crate) const BIAS: f32 = -5.5;
    /// Weight of novelty in [0, 1] (1 = template never seen in healthy logs).
    pub(crate) const NOVELTY: f32 = 2.0;
}

/// Factor on a level word's weight when the line also has an explicit level.
const LEVEL_WORD_DISCOUNT: f32 = 0.5;

/// How strongly a level alone suggests trouble, in [0, 1].
pub fn level_strength(level: Option<Level>) -> f32 {
    match level {
        Some(Level::Critical) => 1.0,
        Some(Level::Error) => 0.55,
        Some(Level::Warn) => 0.25,
        _ => 0.0,
    }
}

pub(crate) fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + (-z).exp())
}

impl Evidence<'_> {
    /// The logistic model's linear part, without intercept or novelty.
    pub(crate) fn linear(&self) -> f32 {
        model::KEYWORD * self.trouble
            + model::LEVEL * level_strength(self.level)
            + model::BENIGN * self.benign
    }
}

#[derive(Debug, Clone)]
struct Meta {
    weight: f32,
    mode: MatchMode,
    level: Option<Level>,
    pattern: String,
}

/// Keyword scorer; cheap to share (`&self` everywhere), build once.
#[derive(Debug, Clone)]
pub struct Scorer {
    ac: AhoCorasick,
    meta: Vec<Meta>,
}

impl Default for Scorer {
    fn default() -> Self {
        // The built-in table is valid by construction (tested in `default_builds`).
        #[allow(clippy::expect_used)]
        Scorer::new(ScorerConfig::default()).expect("built-in keyword table is valid")
    }
}

impl Scorer {
    /// Builds the automaton; rejects empty patterns and weights outside [-1, 1].
    pub fn new(config: ScorerConfig) -> Result<Self, ScoreError> {
        let mut meta = Vec::with_capacity(config.keywords.len());
        for (index, k) in config.keywords.into_iter().enumerate() {
            let bad = |reason| ScoreError::InvalidKeyword {
                index,
                pattern: k.pattern.clone(),
                reason,
            };
            if k.pattern.trim().is_empty() {
                return Err(bad("empty pattern"));
            }
            if !(-1.0..=1.0).contains(&k.weight) || k.weight.is_nan() {
                return Err(bad("weight must be within [-1, 1]"));
            }
            meta.push(Meta {
                weight: k.weight,
                mode: k.mode,
                level: k.level,
                pattern: k.pattern,
            });
        }
        let ac = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            // A DFA: more memory (tens of KiB here), fastest per byte on the hot path.
            .kind(Some(AhoCorasickKind::DFA))
            .match_kind(MatchKind::LeftmostLongest)
            .build(meta.iter().map(|m| m.pattern.as_bytes()))?;
        Ok(Scorer { ac, meta })
    }

    /// Scores a raw line with no baseline; the level comes from level words in the text.
    pub fn score(&self, line: &str) -> Score<'_> {
        self.score_with_level(line, None)
    }

    /// Scores message content with the level parsed from its header, if any.
    pub fn score_with_level(&self, content: &str, level: Option<Level>) -> Score<'_> {
        let e = self.evidence(content, level);
        let confidence = sigmoid(model::BIAS_NO_BASELINE + e.linear());
        Score {
            level: e.level,
            keyword_score: e.keyword_score,
            severity: Severity::from_confidence(confidence),
            confidence,
            matched: e.matched,
        }
    }

    /// Collects the evidence about one line (used by the baseline, which adds novelty).
    pub fn evidence(&self, content: &str, level: Option<Level>) -> Evidence<'_> {
        let hay = content.as_bytes();
        let mut best = 0.0f32;
        let mut matched = None;
        let mut trouble = 0.0f32;
        let mut benign = 0.0f32;
        let mut implied: Option<Level> = None;
        for m in self.ac.find_iter(hay) {
            let meta = &self.meta[m.pattern().as_usize()];
            if !boundary_ok(hay, m.start(), m.end(), meta.mode) {
                continue;
            }
            if meta.weight < 0.0 {
                benign = benign.min(meta.weight);
                continue;
            }
            if meta.weight > best {
                best = meta.weight;
                matched = Some(meta.pattern.as_str());
            }
            let mut weight = meta.weight;
            if let Some(l) = meta.level {
                implied = Some(implied.map_or(l, |i| i.max(l)));
                if level.is_some() {
                    // The header already said it: the word adds only a little.
                    weight *= LEVEL_WORD_DISCOUNT;
                }
            }
            trouble = trouble.max(weight);
        }
        Evidence {
            level: level.or(implied),
            explicit_level: level.is_some(),
            keyword_score: best,
            trouble,
            benign,
            matched,
        }
    }

    /// The configured patterns, in table order.
    pub fn patterns(&self) -> impl Iterator<Item = &str> {
        self.meta.iter().map(|m| m.pattern.as_str())
    }
}

fn is_word_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

fn boundary_ok(hay: &[u8], start: usize, end: usize, mode: MatchMode) -> bool {
    let before_ok = start == 0 || !is_word_byte(hay[start - 1]);
    let after_ok = end >= hay.len() || !is_word_byte(hay[end]);
    match mode {
        MatchMode::Anywhere => true,
        MatchMode::Prefix => before_ok,
        MatchMode::Word => before_ok && after_ok,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_builds() {
        let s = Scorer::default();
        assert!(s.patterns().count() > 40);
    }

    #[test]
    fn users_weights() {
        let s = Scorer::default();
        assert_eq!(s.score("request TIMEOUT after 30s").keyword_score, 0.9);
        assert_eq!(s.score("ERROR something").keyword_score, 0.8);
        assert_eq!(s.score("upload FAILED").keyword_score, 0.7);
        assert_eq!(s.score("all good").keyword_score, 0.0);
        assert_eq!(s.score("all good").severity, Severity::Info);
    }

    #[test]
    fn boundaries() {
        let s = Scorer::default();
        assert_eq!(
            s.score("java.net.SocketTimeoutException: x").matched,
            Some("timeout")
        );
        assert_eq!(s.score("the terror").matched, None);
        assert_eq!(s.score("errors happened").matched, Some("error"));
        assert_eq!(s.score("nofailed").matched, None);
        assert_eq!(s.score("connection refused").matched, Some("refused"));
        assert_eq!(
            s.score("Connection reset by peer").matched,
            Some("connection reset")
        );
    }

    #[test]
    fn ordering_makes_sense() {
        let s = Scorer::default();
        let info = s
            .score_with_level("user logged in", Some(Level::Info))
            .confidence;
        let err = s
            .score_with_level("could not save", Some(Level::Error))
            .confidence;
        let fatal = s
            .score_with_level("connection timed out", Some(Level::Critical))
            .confidence;
        assert!(
            info < 0.15 && info < err && err < fatal && fatal > 0.85,
            "{info} {err} {fatal}"
        );
        let client = s.score_with_level("open x: No such file or directory", Some(Level::Error));
        assert!(client.confidence < err);
        let warn = s.score("WARNING: low paper");
        assert_eq!(warn.level, Some(Level::Warn));
        assert_eq!(
            s.score("kernel panic - not syncing").severity,
            Severity::Critical
        );
    }

    #[test]
    fn config() {
        let c = ScorerConfig::with_extra([KeywordRule::new("timeout", 0.2, MatchMode::Word, None)]);
        let s = Scorer::new(c).unwrap();
        assert_eq!(s.score("timeout").keyword_score, 0.2);
        let bad = ScorerConfig {
            keywords: vec![KeywordRule::new("x", 2.0, MatchMode::Word, None)],
        };
        assert!(matches!(
            Scorer::new(bad),
            Err(ScoreError::InvalidKeyword { .. })
        ));
        let toml_like: ScorerConfig =
            serde_json::from_str(r#"{"keywords":[{"pattern":"printer jam","weight":0.8}]}"#)
                .unwrap();
        let s = Scorer::new(toml_like).unwrap();
        assert_eq!(
            s.score("Printer Jam on till 3").matched,
            Some("printer jam")
        );
    }

    #[test]
    fn severity_bands() {
        assert_eq!(Severity::from_confidence(0.0), Severity::Info);
        assert_eq!(Severity::from_confidence(0.2), Severity::Low);
        assert_eq!(Severity::from_confidence(0.4), Severity::Medium);
        assert_eq!(Severity::from_confidence(0.5), Severity::High);
        assert_eq!(Severity::from_confidence(0.9), Severity::Critical);
    }
}
