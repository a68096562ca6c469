//! From physical lines to analysed records. Pure: no I/O, no clock.
//!
//! [`Joiner`] runs `fleetlog_lines::multiline` over one file's lines: a stack trace or an
//! indented continuation joins the line before it, and the joined record keeps the number of
//! its *first* physical line (`n`), so `n` always points into the input file.
//!
//! [`Analyzer`] looks at one record:
//! - the file's [`Detector`] parses the record's first line (format, level, timestamp, message);
//!   continuation lines never vote on the format;
//! - the message (first line's content) is mined by one [`Drain`] shared by all files of a run,
//!   so template ids are stable across files; stack frames stay out of templates;
//! - the message is judged by `fleetlog_lines::judge::Judge`, the same rules as the agent:
//!   level and keywords, plus novelty against the baseline when a model is given;
//! - a record with evidence of trouble (a trouble keyword, or warn or worse) is classified on
//!   its whole text, message plus continuation lines, so the exception named deep in a stack
//!   trace picks the class; the summary counts the classes of unhealthy records.

use fleetlog_lines::baseline::Baseline;
use fleetlog_lines::classes::ClassTable;
use fleetlog_lines::detect::{Detector, Format};
use fleetlog_lines::drain::{Drain, TemplateId};
use fleetlog_lines::judge::{Context, Judge};
use fleetlog_lines::level::Level;
use fleetlog_lines::multiline::{Multiline, MultilineConfig};
use fleetlog_lines::score::Severity;

use super::input::Line;

/// Physical lines joined into one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRecord {
    /// 1-based number of the record's first physical line.
    pub n: u64,
    /// Physical lines in the record.
    pub lines: usize,
    /// The kept text, lines joined with `\n`.
    pub text: String,
    /// A line of it was repaired from invalid UTF-8.
    pub invalid_utf8: bool,
    /// A line was cut at the line limit, or the joiner's caps dropped text.
    pub truncated: bool,
}

impl RawRecord {
    /// The first physical line.
    pub fn first_line(&self) -> &str {
        self.text.split('\n').next().unwrap_or_default()
    }

    /// The continuation lines (empty for a one-line record).
    pub fn continuation(&self) -> &str {
        self.text.split_once('\n').map_or("", |(_, rest)| rest)
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct Flags {
    invalid_utf8: bool,
    truncated: bool,
}

/// Multiline joining that remembers where each record started.
#[derive(Debug, Default)]
pub struct Joiner {
    ml: Multiline,
    start: u64,
    flags: Flags,
}

impl Joiner {
    /// A joiner with the default caps (64 KiB and 500 lines per record).
    pub fn new() -> Self {
        Joiner {
            ml: Multiline::new(MultilineConfig::default()),
            ..Joiner::default()
        }
    }

    /// Feeds one physical line; returns the previous record when `line` starts a new one.
    pub fn push(&mut self, line: &Line) -> Option<RawRecord> {
        let had_pending = self.ml.has_pending();
        let line_flags = Flags {
            invalid_utf8: line.invalid_utf8,
            truncated: line.truncated,
        };
        match self.ml.push(&line.text) {
            Some(done) => {
                let rec = self.finish_record(done);
                self.start = line.n;
                self.flags = line_flags;
                Some(rec)
            }
            None => {
                if had_pending {
                    self.flags.invalid_utf8 |= line_flags.invalid_utf8;
                    self.flags.truncated |= line_flags.truncated;
                } else {
                    self.start = line.n;
                    self.flags = line_flags;
                }
                None
            }
        }
    }

    /// The pending record, at the end of the file.
    pub fn flush(&mut self) -> Option<RawRecord> {
        let done = self.ml.flush()?;
        Some(self.finish_record(done))
    }

    fn finish_record(&mut self, done: fleetlog_lines::multiline::Joined) -> RawRecord {
        RawRecord {
            n: self.start,
            lines: done.lines,
            text: done.text,
            invalid_utf8: self.flags.invalid_utf8,
            truncated: self.flags.truncated || done.truncated,
        }
    }
}

/// What the analysis says about one record.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// 1-based number of the record's first physical line.
    pub n: u64,
    /// Physical lines in the record.
    pub lines: usize,
    /// Format the first line was parsed as.
    pub format: Format,
    /// Level (explicit, or implied by a level word).
    pub level: Option<Level>,
    /// Template id in this run's miner.
    pub template_id: TemplateId,
    /// Banded confidence.
    pub severity: Severity,
    /// Estimated probability that the record reports an unhealthy condition.
    pub confidence: f32,
    /// Matched no template of the baseline; `None` without a baseline.
    pub novel: Option<bool>,
    /// Index into the [`ClassTable`]'s classes, for records with evidence of trouble that have
    /// a class.
    pub class: Option<usize>,
    /// Repaired from invalid UTF-8.
    pub invalid_utf8: bool,
    /// Cut at a limit.
    pub truncated: bool,
}

impl Record {
    /// `confidence >= 0.5`.
    pub fn is_unhealthy(&self) -> bool {
        self.confidence >= Severity::UNHEALTHY_AT
    }
}

/// Scores and classifies records; owns the run's template miner.
#[derive(Debug)]
pub struct Analyzer<'b> {
    judge: Judge,
    drain: Drain,
    baseline: Option<&'b Baseline>,
}

impl<'b> Analyzer<'b> {
    /// An analyzer with the built-in keyword and class tables.
    pub fn new(baseline: Option<&'b Baseline>) -> Self {
        Analyzer {
            judge: Judge::default(),
            drain: Drain::default(),
            baseline,
        }
    }

    /// The class table records' `class` indexes point into.
    pub fn classes(&self) -> &ClassTable {
        self.judge.classes()
    }

    /// The run's templates.
    pub fn drain(&self) -> &Drain {
        &self.drain
    }

    /// Analyses one record of the file `detector` belongs to.
    pub fn analyze(&mut self, detector: &mut Detector, raw: &RawRecord) -> Record {
        let parsed = detector.parse(raw.first_line());
        let template_id = self.drain.add(&parsed.content);
        let v = self.judge.judge(
            &parsed,
            Context {
                baseline: self.baseline,
                continuation: raw.continuation(),
                ..Context::default()
            },
        );
        let (severity, confidence, level) = (v.severity, v.confidence, v.level);
        let novel = self.baseline.map(|_| v.template_id.is_none());
        let classes = self.judge.classes().classes();
        let class = v
            .class
            .and_then(|c| classes.iter().position(|x| std::ptr::eq(x, c)));
        Record {
            n: raw.n,
            lines: raw.lines,
            format: parsed.format,
            level,
            template_id,
            severity,
            confidence,
            novel,
            class,
            invalid_utf8: raw.invalid_utf8,
            truncated: raw.truncated,
        }
    }
}

/// Trains a baseline on records, with the same parsing as [`Analyzer`].
#[derive(Debug, Default)]
pub struct Trainer {
    builder: fleetlog_lines::baseline::BaselineBuilder,
}

impl Trainer {
    /// Learns one record's message.
    pub fn add(&mut self, detector: &mut Detector, raw: &RawRecord) {
        let parsed = detector.parse(raw.first_line());
        self.builder.add(&parsed.content, parsed.timestamp_ms);
    }

    /// The model.
    pub fn finish(self) -> Baseline {
        self.builder.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fleetlog_lines::detect::DetectorConfig;

    fn line(n: u64, text: &str) -> Line {
        Line {
            n,
            text: text.to_owned(),
            invalid_utf8: false,
            truncated: false,
        }
    }

    fn join(texts: &[&str]) -> Vec<RawRecord> {
        let mut j = Joiner::new();
        let mut out = Vec::new();
        for (i, t) in texts.iter().enumerate() {
            out.extend(j.push(&line(i as u64 + 1, t)));
        }
        out.extend(j.flush());
        out
    }

    #[test]
    fn records_keep_the_number_of_their_first_line() {
        let recs = join(&[
            "first",
            "ERROR boom",
            "java.lang.IllegalStateException: bad",
            "\tat a.B.c(B.java:1)",
            "after",
        ]);
        let got: Vec<_> = recs.iter().map(|r| (r.n, r.lines)).collect();
        assert_eq!(got, [(1, 1), (2, 3), (5, 1)]);
        assert_eq!(recs[1].first_line(), "ERROR boom");
        assert!(recs[1].continuation().starts_with("java.lang"));
        assert!(join(&[]).is_empty());
    }

    #[test]
    fn repair_flags_follow_the_record_their_line_is_in() {
        let mut j = Joiner::new();
        let mut bad = line(2, "\tat x");
        bad.invalid_utf8 = true;
        assert!(j.push(&line(1, "start")).is_none());
        assert!(j.push(&bad).is_none());
        let first = j.push(&line(3, "next")).unwrap();
        assert!(first.invalid_utf8);
        let second = j.flush().unwrap();
        assert!(!second.invalid_utf8);
        assert_eq!(second.n, 3);
    }

    #[test]
    fn unhealthy_records_get_a_class_from_the_whole_trace() {
        let recs = join(&[
            "2024-05-01 10:00:00,000 ERROR [main] com.shop.Checkout - request for basket 17 failed",
            "java.lang.OutOfMemoryError: Java heap space",
            "\tat com.shop.Checkout.run(Checkout.java:10)",
            "2024-05-01 10:00:01,000 INFO [main] com.shop.Checkout - request for basket 18 served",
        ]);
        let mut a = Analyzer::new(None);
        let mut det = Detector::new(DetectorConfig::with_year(2024));
        let bad = a.analyze(&mut det, &recs[0]);
        let good = a.analyze(&mut det, &recs[1]);
        assert!(bad.is_unhealthy(), "{bad:?}");
        assert!(!good.is_unhealthy(), "{good:?}");
        assert_eq!(bad.novel, None);
        let class = &a.classes().classes()[bad.class.unwrap()];
        assert_eq!(class.id, "out_of_memory");
        assert_eq!(good.class, None);
        // "... failed" and "... served" are one template: health is per record.
        assert_eq!(bad.template_id, good.template_id);
    }

    #[test]
    fn with_a_baseline_unseen_templates_are_novel() {
        let mut t = Trainer::default();
        let mut det = Detector::new(DetectorConfig::with_year(2024));
        for i in 0..20 {
            let raw = RawRecord {
                n: i + 1,
                lines: 1,
                text: format!("user {i} logged in"),
                invalid_utf8: false,
                truncated: false,
            };
            t.add(&mut det, &raw);
        }
        let model = t.finish();
        let mut a = Analyzer::new(Some(&model));
        let mut det = Detector::new(DetectorConfig::with_year(2024));
        let rec = |text: &str| RawRecord {
            n: 1,
            lines: 1,
            text: text.to_owned(),
            invalid_utf8: false,
            truncated: false,
        };
        let seen = a.analyze(&mut det, &rec("user 77 logged in"));
        let unseen = a.analyze(&mut det, &rec("disk controller reset"));
        assert_eq!(seen.novel, Some(false));
        assert_eq!(unseen.novel, Some(true));
    }
}
