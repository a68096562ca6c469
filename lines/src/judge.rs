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
//! - keywords and classes read the message *and* the detail fields of structured lines
//!   ([`DETAIL_KEYS`]: `error`, `exception`, `reason`...), where JSON and logfmt loggers put
//!   the error itself; the baseline's templates use the message alone.
//!
//! Pure: no I/O, no clock.

use std::borrow::Cow;

use crate::baseline::{Baseline, RateCounter};
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
        let text = with_details(parsed);
        if continuation.is_empty() {
            self.classes.classify_with_status(&text, status)
        } else {
            let text = format!("{text}\n{continuation}");
            self.classes.classify_with_status(&text, status)
        }
    }

    /// Judges one parsed line (or the first line of a multi-line record).
    pub fn judge(&self, parsed: &Parsed<'_>, cx: Context<'_>) -> Verdict<'_> {
        self.judge_inner(parsed, cx, None)
    }

    /// Like [`Judge::judge`], and counts the line's template in `rates` at `ts_ms`, so that a
    /// known template arriving far faster than while healthy is raised (a rate spike). Only
    /// lines that consult the baseline are counted.
    pub fn judge_counting(
        &self,
        parsed: &Parsed<'_>,
        cx: Context<'_>,
        rates: &mut RateCounter,
        ts_ms: i64,
    ) -> Verdict<'_> {
        self.judge_inner(parsed, cx, Some((rates, ts_ms)))
    }

    fn judge_inner(
        &self,
        parsed: &Parsed<'_>,
        cx: Context<'_>,
        rates: Option<(&mut RateCounter, i64)>,
    ) -> Verdict<'_> {
        let content: &str = &parsed.content;
        let text = with_details(parsed);
        let e = self.scorer.evidence(&text, parsed.level);
        let evidence = e.has_trouble();
        let (confidence, template_id, novelty) = match cx.baseline {
            Some(b) if evidence || !cx.baseline_only_with_evidence => {
                let id = b.match_template(content);
                let rate = match (rates, id) {
                    (Some((r, ts)), Some(id)) => Some(r.observe(id, ts)),
                    _ => cx.rate_per_min,
                };
                let a = b.assess_template(e, id, rate);
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

/// Fields of structured lines (JSON, logfmt) that carry the error itself rather than the
/// message: `{"msg":"request failed","error":"x509: certificate has expired"}`.
pub const DETAIL_KEYS: &[&str] = &[
    "error",
    "err",
    "error.message",
    "error_message",
    "exception",
    "exc_info",
    "reason",
    "cause",
    "stack_trace",
    "stacktrace",
];

/// The message plus its detail fields, for keywords and classes (templates use the message
/// alone). Borrows when the line has no detail field.
fn with_details<'p>(parsed: &'p Parsed<'_>) -> Cow<'p, str> {
    let mut text = Cow::Borrowed(parsed.content.as_ref());
    for (k, v) in &parsed.fields {
        if !v.is_empty() && DETAIL_KEYS.contains(&k.as_ref()) {
            let t = text.to_mut();
            t.push_str(" | ");
            t.push_str(v);
        }
    }
    text
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

    /// One row per line, no baseline: `severity class`, one line per input.
    fn check_all(lines: &str, expect: Expect) {
        let judge = Judge::default();
        let mut out = String::new();
        for line in lines.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let v = judge.judge(&parse_line(line, 2026), Context::default());
            let class = v.class.map_or("-", |c| c.id.as_str());
            out.push_str(&format!("{} {class}\n", v.severity));
        }
        expect.assert_eq(&out);
    }

    /// Phrasings from other programs than the scenario generator's, per incident kind and
    /// decoy, to keep the keyword and class tables general.
    #[test]
    fn vocabulary_of_other_programs() {
        check_all(
            r#"
            {"level":"error","msg":"request failed","error":"Get \"https://api.example.com\": x509: certificate has expired or is not yet valid"}
            Nov 27 10:00:00 pos-01 nginx[123]: SSL_do_handshake() failed (SSL: error:0A000086:SSL routines::certificate verify failed)
            2026-11-27 10:00:00,000 ERROR [main] o.h.SqlExceptionHelper - FATAL: remaining connection slots are reserved for non-replication superuser connections
            time=2026-11-27T10:00:00Z level=error msg="db query failed" err="pq: sorry, too many clients already"
            {"level":"error","msg":"upstream call failed","error":"dial tcp: lookup api.example.com: i/o timeout"}
            Nov 27 10:00:00 pos-01 app[55]: socket.gaierror: [Errno -2] Name or service not known
            2026-11-27T10:00:00Z ERROR OSError: [Errno 28] No space left on device: '/var/lib/app/cache'
            <4>Nov 27 10:00:00 pos-01 systemd[1]: kiosk-ui.service: A process of this unit has been killed by the OOM killer.
            time=2026-11-27T10:00:00Z level=warn msg="container pos-app terminated" reason=OOMKilled
            2026-11-27T10:00:00Z WARN printer: Printer EPSON TM-T20 went offline
            Nov 27 10:00:00 pos-01 cupsd[77]: Printer 'receipt' stopped: Paper empty
            2026-11-27 10:00:00,000 ERROR [main] c.s.Pricing - PriceLookupException: no price for item 4006381333931
            time=2026-11-27T10:00:00Z level=warn msg="Back-off restarting failed container pos-app in pod pos-7f9"
            Nov 27 10:00:00 pos-01 supervisord[3]: gave up: pos-app entered FATAL state, too many start retries too quickly
            {"level":"warn","msg":"Clock skew detected: 45s behind server"}
            {"level":"warn","msg":"payment failed","reason":"card_declined"}
            {"level":"error","msg":"Payment declined by issuer"}
            2026-11-27T10:00:00Z WARN PIN incorrect, 2 tries left
            {"level":"error","msg":"Promo code AUTUMN expired"}
            {"level":"warn","status":404,"path":"/favicon.ico","msg":"not found"}
            2026-11-27T10:00:00Z INFO backup finished without errors
            "#,
            expect![[r#"
                high tls_certificate
                high tls_certificate
                high database
                high database
                high dns
                high dns
                high disk_full
                high out_of_memory
                high out_of_memory
                medium printer
                medium printer
                high pricing
                high crash_loop
                critical crash_loop
                medium clock_skew
                info payment_terminal
                info -
                info -
                low -
                info -
                info -
            "#]],
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
        // Counted by the judge itself: a burst of 300 in one minute is a spike.
        let mut rates = RateCounter::default();
        let mut last = steady;
        for i in 0..300 {
            last = judge.judge_counting(&p, cx, &mut rates, 60_000 + i * 100);
        }
        assert_eq!(last.confidence, spike.confidence, "{last:?}");
        let mut quiet = RateCounter::default();
        let one = judge.judge_counting(&p, cx, &mut quiet, 60_000);
        assert_eq!(one.confidence, steady.confidence);
    }
}
