//! Healthy baseline: what a source's logs look like when all is well, as a small serializable
//! model (Drain templates with frequencies and per-minute rate statistics) that the collector
//! trains and pushes to every agent.
//!
//! [`BaselineBuilder`] learns from healthy lines; [`Baseline::assess`] starts from the scorer's
//! own verdict (level and keywords, exactly what [`Scorer::score_with_level`] computes) and
//! moves it by what the model knows about the line's template:
//! - never seen while healthy: *more* alarming (novelty raises, it never lowers);
//! - seen, at its healthy rate: *less* alarming, the more so the more often it was seen
//!   (business noise such as declined cards was there all along);
//! - seen, but (with [`Baseline::assess_with_rate`]) arriving far faster than it ever did
//!   while healthy: *more* alarming (a rate spike of a known template).
//!
//! The result is a [`Severity`] and a confidence, the estimated probability that the line is
//! unhealthy (see `score` for the model and its constants).
//!
//! Pure: timestamps are parameters, nothing reads the clock.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::drain::{Drain, DrainConfig, TemplateId};
use crate::level::Level;
use crate::score::{Evidence, Scorer, Severity, model, sigmoid};

const MS_PER_MIN: i64 = 60_000;
/// Novelty of a template seen `n` times is `RARE_NOVELTY / n`; unseen is 1.
const RARE_NOVELTY: f32 = 0.5;
/// A rate this many times the healthy maximum counts as a spike.
const SPIKE_FACTOR: f64 = 3.0;
/// Minimum per-minute count before a spike is considered at all.
const SPIKE_MIN_PER_MIN: f64 = 10.0;
/// Model format version, bumped on incompatible changes.
pub const BASELINE_VERSION: u32 = 1;

/// Per-template statistics from healthy logs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TemplateStats {
    /// Lines of this template seen while training.
    pub count: u64,
    /// Mean lines per minute over the minutes the source was active.
    pub mean_per_min: f64,
    /// Highest lines in any one minute.
    pub max_per_min: u32,
}

/// The trained model.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Baseline {
    /// [`BASELINE_VERSION`] at training time.
    pub version: u32,
    drain: Drain,
    stats: HashMap<TemplateId, TemplateStats>,
    /// Lines trained on.
    pub lines: u64,
    /// Distinct minutes with at least one line (0 when lines had no timestamps).
    pub active_minutes: u64,
}

/// Accumulates healthy lines; [`BaselineBuilder::finish`] makes the [`Baseline`].
#[derive(Debug, Clone)]
pub struct BaselineBuilder {
    drain: Drain,
    counts: HashMap<TemplateId, u64>,
    // (template, minute) -> lines; only for lines with timestamps.
    per_minute: HashMap<(TemplateId, i64), u32>,
    minutes: std::collections::HashSet<i64>,
    lines: u64,
}

impl Default for BaselineBuilder {
    fn default() -> Self {
        Self::new(DrainConfig::default())
    }
}

impl BaselineBuilder {
    /// An empty builder mining templates with `config`.
    pub fn new(config: DrainConfig) -> Self {
        BaselineBuilder {
            drain: Drain::new(config),
            counts: HashMap::new(),
            per_minute: HashMap::new(),
            minutes: std::collections::HashSet::new(),
            lines: 0,
        }
    }

    /// Learns one healthy line's message content, with its time when known.
    pub fn add(&mut self, content: &str, timestamp_ms: Option<i64>) -> TemplateId {
        let id = self.drain.add(content);
        *self.counts.entry(id).or_default() += 1;
        if let Some(ts) = timestamp_ms {
            let minute = ts.div_euclid(MS_PER_MIN);
            *self.per_minute.entry((id, minute)).or_default() += 1;
            self.minutes.insert(minute);
        }
        self.lines += 1;
        id
    }

    /// The model.
    pub fn finish(self) -> Baseline {
        let active = self.minutes.len() as u64;
        let mut max: HashMap<TemplateId, u32> = HashMap::new();
        for ((id, _), n) in &self.per_minute {
            let m = max.entry(*id).or_default();
            *m = (*m).max(*n);
        }
        let stats = self
            .counts
            .iter()
            .map(|(id, count)| {
                let mean = if active == 0 {
                    0.0
                } else {
                    *count as f64 / active as f64
                };
                let max_per_min = max.get(id).copied().unwrap_or(0);
                (
                    *id,
                    TemplateStats {
                        count: *count,
                        mean_per_min: mean,
                        max_per_min,
                    },
                )
            })
            .collect();
        Baseline {
            version: BASELINE_VERSION,
            drain: self.drain,
            stats,
            lines: self.lines,
            active_minutes: active,
        }
    }
}

/// What the baseline says about one line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Assessment<'s> {
    /// The healthy template it matches, if any.
    pub template_id: Option<TemplateId>,
    /// 1 for a template never seen while healthy, `0.5 / count` for a seen one, raised to 1 on
    /// a rate spike.
    pub novelty: f32,
    /// Level (explicit, or implied by a level word).
    pub level: Option<Level>,
    /// Highest keyword weight found.
    pub keyword_score: f32,
    /// The keyword behind `keyword_score`.
    pub matched: Option<&'s str>,
    /// Banded `confidence`.
    pub severity: Severity,
    /// Estimated probability that the line is unhealthy, in [0, 1].
    pub confidence: f32,
}

impl<'s> Assessment<'s> {
    /// `confidence >= 0.5`.
    pub fn is_unhealthy(&self) -> bool {
        self.confidence >= Severity::UNHEALTHY_AT
    }
}

impl Baseline {
    /// Trains on `(content, timestamp_ms)` pairs with default Drain settings.
    pub fn train<'a>(lines: impl IntoIterator<Item = (&'a str, Option<i64>)>) -> Baseline {
        let mut b = BaselineBuilder::default();
        for (content, ts) in lines {
            b.add(content, ts);
        }
        b.finish()
    }

    /// Number of healthy templates.
    pub fn templates(&self) -> usize {
        self.stats.len()
    }

    /// Statistics of one template.
    pub fn stats(&self, id: TemplateId) -> Option<&TemplateStats> {
        self.stats.get(&id)
    }

    /// The template text of `id`.
    pub fn template(&self, id: TemplateId) -> Option<String> {
        self.drain.template(id)
    }

    /// The healthy template `content` belongs to, without learning.
    pub fn match_template(&self, content: &str) -> Option<TemplateId> {
        self.drain.match_only(content)
    }

    /// Assesses one line: `content` is the message without header, `level` the parsed level.
    pub fn assess<'s>(
        &self,
        scorer: &'s Scorer,
        content: &str,
        level: Option<Level>,
    ) -> Assessment<'s> {
        self.assess_with_rate(scorer, content, level, None)
    }

    /// Like [`Baseline::assess`], with the template's current rate (lines per minute, counted by
    /// the caller) so that a rate spike counts as novelty.
    pub fn assess_with_rate<'s>(
        &self,
        scorer: &'s Scorer,
        content: &str,
        level: Option<Level>,
        observed_per_min: Option<f64>,
    ) -> Assessment<'s> {
        self.assess_evidence(scorer.evidence(content, level), content, observed_per_min)
    }

    /// Like [`Baseline::assess_with_rate`], with the scorer's evidence already collected for
    /// `content` (so the line is scanned once).
    pub fn assess_evidence<'s>(
        &self,
        evidence: Evidence<'s>,
        content: &str,
        observed_per_min: Option<f64>,
    ) -> Assessment<'s> {
        self.assess_template(evidence, self.drain.match_only(content), observed_per_min)
    }

    /// Like [`Baseline::assess_evidence`], with the line's template already matched
    /// ([`Baseline::match_template`]), e.g. to count its rate first.
    pub fn assess_template<'s>(
        &self,
        evidence: Evidence<'s>,
        template_id: Option<TemplateId>,
        observed_per_min: Option<f64>,
    ) -> Assessment<'s> {
        let known = template_id.and_then(|id| self.stats.get(&id));
        let spike = match (template_id, observed_per_min) {
            (Some(id), Some(rate)) => self.is_spike(id, rate),
            _ => false,
        };
        let (novelty, shift) = match known {
            None => (1.0, model::NOVEL),
            Some(_) if spike => (1.0, model::SPIKE),
            Some(s) => {
                let novelty = RARE_NOVELTY / s.count.max(1) as f32;
                (
                    novelty,
                    model::NOVEL * novelty - model::FAMILIAR * (1.0 - novelty),
                )
            }
        };
        Self::combine(evidence, template_id, novelty, shift)
    }

    /// Whether `per_min` lines of template `id` per minute is far above its healthy rate.
    pub fn is_spike(&self, id: TemplateId, per_min: f64) -> bool {
        let Some(s) = self.stats.get(&id) else {
            return false;
        };
        let healthy = f64::from(s.max_per_min).max(s.mean_per_min);
        per_min >= SPIKE_MIN_PER_MIN && per_min > SPIKE_FACTOR * healthy
    }

    /// The scorer's model ([`Scorer::score_with_level`]) shifted by what the baseline knows:
    /// up for a never-seen template or a rate spike, down for a familiar template.
    fn combine(
        e: Evidence<'_>,
        template_id: Option<TemplateId>,
        novelty: f32,
        shift: f32,
    ) -> Assessment<'_> {
        let z = model::BIAS + e.linear() + shift;
        let confidence = sigmoid(z);
        Assessment {
            template_id,
            novelty,
            level: e.level,
            keyword_score: e.keyword_score,
            matched: e.matched,
            severity: Severity::from_confidence(confidence),
            confidence,
        }
    }
}

/// Lines per minute of each template, as a caller sees them arrive, for
/// [`Baseline::assess_with_rate`]. Pure: the time of each line is a parameter.
///
/// The rate is the count in the current minute plus the previous minute's count weighted by
/// the share of it still within the last 60 seconds. Memory is one entry per template counted;
/// callers count only templates the baseline knows, so it is bounded by the model's size.
#[derive(Debug, Clone, Default)]
pub struct RateCounter {
    // template -> (minute, lines in that minute, lines in the minute before).
    counts: HashMap<TemplateId, (i64, u32, u32)>,
}

impl RateCounter {
    /// Counts one line of `id` at `ts_ms`; returns its rate in lines per minute. A line older
    /// than the template's current minute is not counted and reports 0.
    pub fn observe(&mut self, id: TemplateId, ts_ms: i64) -> f64 {
        let minute = ts_ms.div_euclid(MS_PER_MIN);
        let into = ts_ms.rem_euclid(MS_PER_MIN) as f64 / MS_PER_MIN as f64;
        let e = self.counts.entry(id).or_insert((minute, 0, 0));
        if minute > e.0 {
            let prev = if minute == e.0 + 1 { e.1 } else { 0 };
            *e = (minute, 0, prev);
        } else if minute < e.0 {
            // Out of order (another file behind in time, a clock step): not counted, no rate.
            return 0.0;
        }
        e.1 = e.1.saturating_add(1);
        f64::from(e.1) + f64::from(e.2) * (1.0 - into)
    }

    /// Forgets every count (for a new model, whose template ids differ).
    pub fn clear(&mut self) {
        self.counts.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> Baseline {
        let mut lines = Vec::new();
        for i in 0..50 {
            lines.push((
                format!("user {i} logged in from 10.0.0.{i}"),
                Some(i64::from(i) * 1000),
            ));
            lines.push((
                format!("instruction cache parity error corrected {i}"),
                Some(i64::from(i) * 1000),
            ));
        }
        Baseline::train(lines.iter().map(|(s, t)| (s.as_str(), *t)))
    }

    #[test]
    fn seen_healthy_lines_stay_quiet() {
        let b = model();
        let s = Scorer::default();
        assert!(b.templates() >= 2);
        let a = b.assess(&s, "user 77 logged in from 10.0.0.9", Some(Level::Info));
        assert!(a.template_id.is_some());
        assert!(a.confidence < 0.1, "{a:?}");
        let a = b.assess(
            &s,
            "instruction cache parity error corrected 99",
            Some(Level::Info),
        );
        assert_eq!(a.severity, Severity::Info, "{a:?}");
    }

    #[test]
    fn novel_trouble_is_flagged() {
        let b = model();
        let s = Scorer::default();
        let a = b.assess(
            &s,
            "payment terminal connection timed out",
            Some(Level::Error),
        );
        assert_eq!(a.novelty, 1.0);
        assert!(a.is_unhealthy(), "{a:?}");
        let quiet = b.assess(&s, "cache warmed in 3 ms", Some(Level::Info));
        assert!(!quiet.is_unhealthy(), "{quiet:?}");
    }

    #[test]
    fn novelty_raises_familiarity_lowers() {
        let b = model();
        let s = Scorer::default();
        let lines = [
            ("x509: certificate has expired", Some(Level::Error)),
            ("disk controller reset", Some(Level::Error)),
            ("Out of memory: Killed process 42 (java)", None),
            ("card declined by issuer", Some(Level::Warn)),
            ("everything fine", Some(Level::Info)),
            ("FATAL something odd", None),
        ];
        for (line, level) in lines {
            let alone = s.score_with_level(line, level);
            let a = b.assess(&s, line, level);
            assert_eq!(a.template_id, None, "{line}");
            assert!(a.confidence > alone.confidence, "{line}: {a:?} {alone:?}");
            assert!(a.severity >= alone.severity, "{line}");
        }
        // A template seen 50 times while healthy is quieter than the scorer alone says.
        let line = "instruction cache parity error corrected 7";
        let alone = s.score_with_level(line, Some(Level::Warn));
        let a = b.assess(&s, line, Some(Level::Warn));
        assert!(a.template_id.is_some());
        assert!(a.confidence < alone.confidence, "{a:?} {alone:?}");
        // The same template at a rate far above its healthy one is louder than when steady.
        let spiking = b.assess_with_rate(&s, line, Some(Level::Warn), Some(500.0));
        assert!(spiking.confidence > alone.confidence, "{spiking:?}");
    }

    #[test]
    fn rate_counter() {
        let mut r = RateCounter::default();
        let id = TemplateId(3);
        let mut last = 0.0;
        for i in 0..120 {
            last = r.observe(id, 60_000 + i * 500);
        }
        // 120 lines in the minute 60 s-120 s.
        assert_eq!(last, 120.0);
        // Half a minute later the previous minute still counts for half.
        assert_eq!(r.observe(id, 150_000), 1.0 + 60.0);
        // After a quiet minute the old count is gone.
        assert_eq!(r.observe(id, 300_000), 1.0);
        // A line from the past is not counted.
        assert_eq!(r.observe(id, 0), 0.0);
        assert_eq!(r.observe(id, 300_001), 2.0);
    }

    #[test]
    fn rate_spike_and_serde() {
        let b = model();
        let id = b.match_template("user 1 logged in from 10.0.0.1").unwrap();
        assert!(!b.is_spike(id, 5.0));
        assert!(b.is_spike(id, 1000.0));
        let json = serde_json::to_string(&b).unwrap();
        let back: Baseline = serde_json::from_str(&json).unwrap();
        assert_eq!(back.templates(), b.templates());
        assert_eq!(back.lines, 100);
    }
}
