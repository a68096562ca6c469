//! Severity scoring: level, weighted keywords and (with a baseline) novelty, combined into a
//! [`Severity`] and a confidence.
//!
//! **What confidence means.** [`Score::confidence`] is the estimated probability that the line
//! reports an unhealthy condition. It comes from a fixed logistic model over three pieces of
//! evidence (see [`Evidence`]) whose coefficients are constants below, not fitted to any
//! dataset's labels. Severity is a banding of that probability ([`Severity::from_confidence`]).
//! Its calibration (expected calibration error) is measured in `tests/bgl_eval.rs`.
//!
//! **The level comes from the line's level field.** When the format has one (JSON `level`,
//! logfmt `level=`, a header's `ERROR`, a syslog `<PRI>`), that is the level, and words inside
//! the message never change it: `INFO health: no critical alerts` is info. Level words in the
//! message (`error`, `fatal`, `warning`...) then count as trouble at half their weight under a
//! warn-or-worse level (the level already said most of it) and not at all under info, debug or
//! trace (the program itself judged the event ordinary).
//!
//! **Without a level field** the level is unknown, not info: a level word in the text implies
//! it (`ERROR something`), and otherwise the strongest trouble keyword stands in for it, as if
//! the line had been logged at error in proportion to that keyword's weight. So a bare
//! `Out of memory: Killed process 42` from a syslog file without `<PRI>` is as alarming as the
//! same message logged at error.
//!
//! **Negated mentions do not count.** A keyword right after `no`, `zero`, `0`, `without` or
//! `never` (`no errors`, `0 failed`, `without timeout`) is not evidence.
//!
//! **Outcomes of a request, not failures of the system.** Keywords with a negative weight pull
//! the score down. They name failures that the *caller* caused and the system handled, like
//! HTTP 4xx against 5xx: a missing file or permission for the path the caller named
//! (`no such file or directory`, `permission denied`, `not found`), and in a store the outcomes
//! of a customer's own card, PIN, coupon or voucher (`declined`, `insufficient funds`,
//! `wrong PIN`, `coupon`, `voucher`, `gift card`). A card declined by its issuer is the
//! payment system working; a payment terminal that does not answer is not, and its keywords
//! (`not responding`, `timed out`, `offline`) are positive. Such lines stay below high unless a
//! strong trouble keyword or a critical level outweighs the outcome. When the outcome itself
//! becomes an incident (every card declined), its *rate* is the evidence, and that is the
//! baseline's job ([`crate::baseline::Baseline::assess_with_rate`]).
//!
//! Every keyword is configurable ([`ScorerConfig::with_extra`]).
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
        k("unable to", 0.65, Word, None),
        k("could not", 0.65, Word, None),
        k("couldn't", 0.65, Word, None),
        k("can't", 0.65, Word, None),
        k("cannot", 0.65, Word, None),
        k("not responding", 0.75, Word, None),
        k("disconnected", 0.7, Word, None),
        k("oom", 1.0, Word, None),
        k("out of memory", 1.0, Word, None),
        k("outofmemory", 0.95, Anywhere, None),
        k("oomkilled", 1.0, Anywhere, None),
        k("cannot allocate memory", 0.9, Word, None),
        k("killed process", 1.0, Word, None),
        k("segfault", 0.95, Word, None),
        k("segmentation fault", 0.95, Word, None),
        k("core dumped", 0.9, Word, None),
        k("sigsegv", 0.9, Word, None),
        k("sigabrt", 0.9, Word, None),
        k("abrt", 0.9, Word, None),
        k("refused", 0.8, Word, None),
        k("connection reset", 0.85, Word, None),
        k("reset by peer", 0.85, Word, None),
        k("broken pipe", 0.8, Word, None),
        k("unreachable", 0.8, Word, None),
        k("connection lost", 0.8, Word, None),
        k("lost connection", 0.8, Word, None),
        k("no route to host", 0.85, Word, None),
        k("unavailable", 0.6, Word, None),
        k("connection is not available", 0.8, Word, None),
        k("too many connections", 0.8, Word, None),
        k("too many clients", 0.8, Word, None),
        k("remaining connection slots are reserved", 0.8, Word, None),
        k("pool exhausted", 0.85, Word, None),
        k("no space left", 1.0, Word, None),
        k("disk full", 1.0, Word, None),
        k("disk quota exceeded", 0.9, Word, None),
        k("enospc", 0.95, Word, None),
        k("filesystem full", 0.95, Word, None),
        k("file system full", 0.95, Word, None),
        k("not enough space", 0.8, Word, None),
        k("insufficient disk space", 0.8, Word, None),
        k("low disk space", 0.75, Word, None),
        k("input/output error", 0.9, Word, None),
        k("i/o error", 0.9, Word, None),
        k("corrupt", 0.85, Prefix, None),
        k("abort", 0.8, Prefix, None),
        k("crash", 0.9, Prefix, None),
        k("restart loop", 0.9, Word, None),
        k("crashloop", 0.95, Prefix, None),
        k("back-off restarting", 0.9, Word, None),
        k("repeated too quickly", 0.9, Word, None),
        k("restart limit", 0.85, Word, None),
        k("respawning too fast", 0.85, Word, None),
        k("restarting too often", 0.85, Word, None),
        k("not expected", 0.6, Word, None),
        k("unexpectedly", 0.6, Word, None),
        k("killed", 0.7, Word, None),
        k("terminated", 0.5, Word, None),
        k("deadlock", 0.85, Prefix, None),
        k("unauthorized", 0.7, Word, None),
        k("access denied", 0.7, Word, None),
        k("authentication failure", 0.75, Word, None),
        k("certificate", 0.3, Prefix, None),
        k("expired", 0.5, Word, None),
        k("certificate has expired", 0.9, Word, None),
        k("certificate expired", 0.9, Word, None),
        k("expired certificate", 0.9, Word, None),
        k("handshake fail", 0.8, Prefix, None),
        k("cert_has_expired", 0.9, Word, None),
        k("unknown authority", 0.7, Word, None),
        // Name resolution.
        k("no such host", 0.85, Word, None),
        k("could not resolve", 0.85, Word, None),
        k("name resolution", 0.6, Word, None),
        k("nxdomain", 0.8, Word, None),
        k("servfail", 0.8, Word, None),
        k("name or service not known", 0.85, Word, None),
        k("eai_again", 0.8, Word, None),
        k("enotfound", 0.85, Word, None),
        k("unknownhostexception", 0.85, Anywhere, None),
        // Host clock.
        k("clock skew", 0.8, Word, None),
        k("clock drift", 0.75, Word, None),
        k("time drift", 0.75, Word, None),
        k("clock wrong", 0.75, Word, None),
        k("not synchronized", 0.7, Word, None),
        k("not synchronised", 0.7, Word, None),
        k("no selectable sources", 0.7, Word, None),
        k("out of sync", 0.6, Word, None),
        // Store devices and data.
        k("out of stock", 0.5, Word, None),
        k("paper out", 0.75, Word, None),
        k("out of paper", 0.75, Word, None),
        k("paper jam", 0.75, Word, None),
        k("cover open", 0.7, Word, None),
        k("paper empty", 0.75, Word, None),
        k("no paper", 0.75, Word, None),
        k("offline", 0.75, Word, None),
        k("missing price", 0.85, Word, None),
        k("price not found", 0.85, Word, None),
        k("no price", 0.7, Word, None),
        k("invalid price", 0.7, Word, None),
        k("price mismatch", 0.7, Word, None),
        // Outcomes of a request: the caller's input or instrument, the system is fine.
        k("no such file or directory", -1.0, Word, None),
        k("permission denied", -1.0, Word, None),
        k("exec format error", -1.0, Word, None),
        k("invalid argument", -0.8, Word, None),
        k("not found", -0.5, Word, None),
        k("no such user", -0.5, Word, None),
        // A lookup of a person the customer or cashier named: loyalty and customer records.
        k("no member", -0.5, Word, None),
        k("unknown member", -0.5, Word, None),
        k("unknown customer", -0.5, Word, None),
        k("no customer", -0.5, Word, None),
        k("declined", -0.8, Word, None),
        k("card_declined", -0.8, Word, None),
        k("insufficient funds", -0.8, Word, None),
        k("do not honor", -0.8, Word, None),
        k("wrong pin", -0.8, Word, None),
        k("incorrect pin", -0.8, Word, None),
        k("invalid pin", -0.8, Word, None),
        k("pin try limit", -0.8, Word, None),
        k("coupon", -0.6, Word, None),
        k("voucher", -0.6, Word, None),
        k("gift card", -0.6, Word, None),
        k("promo code", -0.6, Word, None),
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
    /// Intercept, the same with or without a baseline: a baseline only moves a line away from
    /// what its level and keywords say (see `baseline`), so loading one never lowers a line
    /// it has not seen. An error level alone stays low; an error level with one solid trouble
    /// keyword (weight 0.6 or more) is high.
    pub(crate) const BIAS: f32 = -3.2;
    /// Added for a template the baseline never saw while healthy.
    pub(crate) const NOVEL: f32 = 0.25;
    /// Subtracted, times familiarity in [0, 1], for a template the baseline knows at its
    /// healthy rate: business noise that was there all along.
    pub(crate) const FAMILIAR: f32 = 2.3;
    /// Added for a known template arriving far faster than while healthy.
    pub(crate) const SPIKE: f32 = 1.0;
}

/// Factor on a level word's weight when the line also has an explicit level.
const LEVEL_WORD_DISCOUNT: f32 = 0.5;

/// How strongly a level alone suggests trouble, in [0, 1].
pub fn level_strength(level: Option<Level>) -> f32 {
    match level {
        Some(Level::Critical) => 0.9,
        Some(Level::Error) => 0.55,
        Some(Level::Warn) => 0.35,
        _ => 0.0,
    }
}

pub(crate) fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + (-z).exp())
}

impl Evidence<'_> {
    /// Whether the line says anything about trouble: a trouble keyword (after the level-word
    /// rules of the module doc) or a level of warn or worse. Lines without evidence get no
    /// error class and need no baseline lookup.
    pub fn has_trouble(&self) -> bool {
        self.trouble > 0.0 || self.level >= Some(Level::Warn)
    }

    /// The probability that the line is unhealthy from this evidence alone (no baseline).
    pub fn confidence(&self) -> f32 {
        sigmoid(model::BIAS + self.linear())
    }

    /// The logistic model's linear part, without intercept or novelty.
    ///
    /// Without a level field, the strongest trouble keyword stands in for the level (see the
    /// module doc): as strong as an error level times the keyword's weight.
    pub(crate) fn linear(&self) -> f32 {
        let mut level = level_strength(self.level);
        if !self.explicit_level {
            level = level.max(level_strength(Some(Level::Error)) * self.trouble);
        }
        model::KEYWORD * self.trouble + model::LEVEL * level + model::BENIGN * self.benign
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
        let confidence = e.confidence();
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
            if !boundary_ok(hay, m.start(), m.end(), meta.mode) || negated(hay, m.start()) {
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
                match level {
                    // A level word only implies a level when the line has no level field.
                    None => implied = Some(implied.map_or(l, |i| i.max(l))),
                    // The program called it ordinary: the word is prose (`no critical alerts`).
                    Some(explicit) if explicit <= Level::Info => weight = 0.0,
                    // The header already said it: the word adds only a little.
                    Some(_) => weight *= LEVEL_WORD_DISCOUNT,
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

/// Words that negate the keyword right after them (`no errors`, `0 failed`).
const NEGATIONS: [&[u8]; 5] = [b"no", b"zero", b"0", b"without", b"never"];

/// Whether the word just before `start` (one space or tab between) is a negation.
fn negated(hay: &[u8], start: usize) -> bool {
    let Some(before) = hay.get(..start) else {
        return false;
    };
    let Some(word) = before
        .strip_suffix(b" ")
        .or_else(|| before.strip_suffix(b"\t"))
    else {
        return false;
    };
    let begin = word
        .iter()
        .rposition(|&c| !is_word_byte(c))
        .map_or(0, |i| i + 1);
    let word = &word[begin..];
    NEGATIONS.iter().any(|n| word.eq_ignore_ascii_case(n))
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
