//! One verdict per line, the same for agent and collector: level, severity, confidence and
//! error class.
//!
//! [`Judge`] puts `score`, `baseline` and `classes` together so that every caller applies the
//! same rules:
//! - the level is the line's level field as [`crate::detect`] parsed it; level words in the
//!   message only stand in for a missing field (see `score`);
//! - with a baseline, a line is judged against it ([`Baseline::assess_evidence`]): novelty
//!   raises, familiarity lowers, a rate spike raises; without one, the scorer alone decides;
//! - the error class is assigned whenever the line has evidence of trouble (a trouble keyword,
//!   or warn or worse), with or without a baseline and whatever the severity, from the message
//!   plus its continuation lines (the exception named deep in a stack trace picks the class)
//!   and an HTTP status field. A class says *what kind* of trouble; severity says how bad.
//!
//! Pure: no I/O, no clock.

use crate::baseline::Baseline;
use crate::classes::{ClassTable, ErrorClass};
use crate::detect::Parsed;
use crate::drain::TemplateId;
use crate::level::Level;
use crate::score::{Scorer, Severity};

/// What else is known about a line besides its parse.
#[derive(Debug, Clone, Copy, Default)]
pub struct Context<'a> {
    /// The healthy model, if one is loaded.
    pub baseline: Option<&'a Baseline>,
    /// Consult the baseline only for lines with evidence of trouble. A line without evidence
    /// scores below 0.05 either way; the agent saves the template match on its hot path.
    pub baseline_only_with_evidence: bool,
    /// Lines per minute of this line's template as the caller counts them (for rate spikes).
    pub rate_per_min: Option<f64>,
    /// Continuation lines of a multi-line record (stack frames), used for the class only.
    pub continuation: &'a str,
}

/// The verdict on one line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verdict<'j> {
    /// The level field, or the level a level word implies when there is no field.
    pub level: Option<Level>,
    /// Banded `confidence`.
    pub severity: Severity,
    /// Estimated probability that the line reports an unhealthy condition, in [0, 1].
    pub confidence: f32,
    /// Whether the line has evidence of trouble (see [`crate::score::Evidence::has_trouble`]).
    pub evidence: bool,
    /// The error class, for lines with evidence that match one.
    pub class: Option<&'j ErrorClass>,
    /// The strongest keyword found.
    pub matched: Option<&'j str>,
    /// The healthy template the line matched, when the baseline was consulted.
    pub template_id: Option<TemplateId>,
    /// Novelty against the baseline (1 = never seen), when it was consulted.
    pub novelty: Option<f32>,
}

/// Scorer and class table; build once, share by reference.
#[derive(Debug, Clone, Default)]
pub struct Judge {
    scorer: Scorer,
    classes: ClassTable,
}

impl Judge {
    /// A judge with these tables.
    pub fn new(scorer: Scorer, classes: ClassTable) -> Self {
        Judge { scorer, classes }
    }

    /// The keyword scorer.
    pub fn scorer(&self) -> &Scorer {
        &self.scorer
    }

    /// The class table; [`Verdict::class`] points into it.
    pub fn classes(&self) -> &ClassTable {
        &self.classes
    }

    /// The class of a line known to show trouble (the collector's event rows: warn or worse,
    /// or unhealthy): its message plus `continuation` lines, and its HTTP status field.
    pub fn class_of(&self, parsed: &Parsed<'_>, continuation: &str) -> Option<&ErrorClass> {
        let status = parsed.field("status").and_then(|s| s.parse::<u16>().ok());
        if continuation.is_empty() {
            self.classes.classify_with_status(&parsed.content, status)
        } else {
            let text = format!("{}\n{continuation}", parsed.content);
            self.classes.classify_with_status(&text, status)
        }
    }

    /// Judges one parsed line (or the first line of a multi-line record).
    pub fn judge(&self, parsed: &Parsed<'_>, cx: Context<'_>) -> Verdict<'_> {
        let content: &str = &parsed.content;
        let e = self.scorer.evidence(content, parsed.level);
        let evidence = e.has_trouble();
        let (confidence, template_id, novelty) = match cx.baseline {
            Some(b) if evidence || !cx.baseline_only_with_evidence => {
                let a = b.assess_evidence(e, content, cx.rate_per_min);
                (a.confidence, a.template_id, Some(a.novelty))
            }
            _ => (e.confidence(), None, None),
        };
        let class = if evidence {
            self.class_of(parsed, cx.continuation)
        } else {
            None
        };
        Verdict {
            level: e.level,
            severity: Severity::from_confidence(confidence),
            confidence,
            evidence,
            class,
            matched: e.matched,
            template_id,
            novelty,
        }
    }
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;
    use crate::detect::parse_line;

    fn healthy() -> Baseline {
        let mut lines = Vec::new();
        for i in 0..60 {
            lines.push(format!(
                "Card declined: insufficient funds, card ****{i:04}"
            ));
            lines.push(format!("Basket {i} closed: {i} items"));
        }
        Baseline::train(lines.iter().map(|l| (l.as_str(), None)))
    }

    /// One row: the line, then `severity class` without a baseline and with one.
    fn check(line: &str, expect: Expect) {
        let judge = Judge::default();
        let b = healthy();
        let p = parse_line(line, 2026);
        let show =
            |v: Verdict<'_>| format!("{} {}", v.severity, v.class.map_or("-", |c| c.id.as_str()));
        let plain = judge.judge(&p, Context::default());
        let with = judge.judge(
            &p,
            Context {
                baseline: Some(&b),
                ..Context::default()
            },
        );
        expect.assert_eq(&format!("{} | {}", show(plain), show(with)));
    }

    #[test]
    fn verdicts() {
        // The level field decides; words in an info message do not raise it.
        check(
            "2026-11-27T08:00:00Z INFO health: no critical alerts, error rate 0.0%",
            expect!["info - | info -"],
        );
        check(
            r#"{"level":"info","msg":"nightly report: 0 errors, 0 failed uploads"}"#,
            expect!["info - | info -"],
        );
        // A never-seen error: high, classed, and a baseline never lowers it.
        check(
            r#"{"level":"error","msg":"upstream api.hq.example: certificate has expired"}"#,
            expect!["high tls_certificate | high tls_certificate"],
        );
        // Lines that announce themselves.
        check(
            "2026-11-27T08:00:00Z CRITICAL: Pricing error | Missing price for product 4006381",
            expect!["high pricing | critical pricing"],
        );
        // No level field: the strongest trouble keyword stands in for it.
        check(
            "Nov 27 08:00:00 pos-1 kernel: Out of memory: Killed process 4312 (java)",
            expect!["high out_of_memory | high out_of_memory"],
        );
        check(
            "<28>Nov 27 08:00:00 pos-1 chronyd[81]: System clock wrong by 3602.5 seconds",
            expect!["medium clock_skew | medium clock_skew"],
        );
        check(
            "2026-11-27T08:00:00Z WARN printerd[812]: Printer TM-T88 offline, receipt queued",
            expect!["medium printer | medium printer"],
        );
        check(
            "Nov 27 08:00:00 pos-1 systemd[1]: pos-app.service: Start request repeated too quickly.",
            expect!["high crash_loop | high crash_loop"],
        );
        // Business noise: the customer's card said no. Classless, below high, and quieter
        // still once the baseline knows it as a steady template.
        check(
            r#"{"level":"error","msg":"Card declined: insufficient funds, card ****7781"}"#,
            expect!["info - | info -"],
        );
        check(
            "2026-11-27 08:00:00,123 WARN [main] com.store.pos.Promotions - Coupon SAVE10 expired, not applied",
            expect!["info - | info -"],
        );
        check(
            r#"10.1.2.3 - - [27/Nov/2026:08:00:00 +0000] "GET /favicon.ico HTTP/1.1" 404 153 "-" "kiosk""#,
            expect!["info - | info -"],
        );
    }

    #[test]
    fn rate_spike_of_a_known_template_raises_it() {
        let judge = Judge::default();
        let b = healthy();
        let p = parse_line(
            r#"{"level":"warn","msg":"Card declined: insufficient funds, card ****0001"}"#,
            2026,
        );
        let cx = Context {
            baseline: Some(&b),
            ..Context::default()
        };
        let steady = judge.judge(&p, cx);
        let spike = judge.judge(
            &p,
            Context {
                rate_per_min: Some(500.0),
                ..cx
            },
        );
        assert!(steady.template_id.is_some());
        assert!(spike.confidence > steady.confidence, "{spike:?} {steady:?}");
        let alone = judge.judge(&p, Context::default());
        assert!(spike.confidence > alone.confidence && steady.confidence < alone.confidence);
    }
}
