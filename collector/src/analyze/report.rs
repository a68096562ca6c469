//! The analysis summary: counts, formats, top templates, anomalies and error classes.
//!
//! Pure: [`ReportBuilder`] folds analysed records into bounded aggregates (one entry per
//! template, class and file, never per line), and [`ReportBuilder::finish`] turns them into a
//! [`Summary`], the one value both the text and the `--json` output render.
//!
//! An *anomaly* is a record that is unhealthy (confidence >= 0.5) or, with a baseline, whose
//! template the baseline never saw (`novel`). Templates are listed by their final text.

use std::collections::HashMap;

use fleetlog_lines::classes::ClassTable;
use fleetlog_lines::detect::Format;
use fleetlog_lines::drain::{Drain, TemplateId};
use fleetlog_lines::score::Severity;
use serde::Serialize;

use super::input::Line;
use super::record::Record;

/// Templates listed under "top templates".
pub const TOP_TEMPLATES: usize = 10;
/// Templates listed under "anomalies".
pub const TOP_ANOMALIES: usize = 10;
/// Characters kept of a sample line, and of a template in the summary.
pub const SAMPLE_CHARS: usize = 240;

/// Everything the summary says.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Files read and skipped.
    pub files: FileCounts,
    /// Physical lines read.
    pub lines: u64,
    /// Records analysed (multiline events joined; blank lines not counted).
    pub records: u64,
    /// Lines repaired on the way in.
    pub repaired: Repaired,
    /// Records per format, most first.
    pub formats: Vec<FormatCount>,
    /// Per file: format locked by detection, lines and records.
    pub file_list: Vec<FileReport>,
    /// Records per severity.
    pub severities: SeverityCounts,
    /// Template statistics.
    pub templates: Templates,
    /// Unhealthy and novel records.
    pub anomalies: Anomalies,
    /// Error classes of unhealthy records, with suggested fixes.
    pub classes: Classes,
    /// The model scored against, if any.
    pub baseline: Option<BaselineInfo>,
    /// Inputs skipped or stopped early, each named with its reason (S3 objects; absent when
    /// none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<SkippedInput>,
}

/// An input skipped (or read only partly), with the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkippedInput {
    /// The input (`s3://bucket/key`).
    pub input: String,
    pub reason: String,
}

/// Files read and skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FileCounts {
    /// Files read as text (possibly partly, see `read_errors`).
    pub read: u64,
    /// Binary files skipped.
    pub skipped_binary: u64,
    /// Paths missing or unreadable.
    pub unreadable: u64,
    /// Files whose reading stopped early (I/O error, corrupt gzip).
    pub read_errors: u64,
}

/// Lines repaired on the way in.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Repaired {
    /// Lines whose invalid UTF-8 was replaced.
    pub invalid_utf8_lines: u64,
    /// Lines cut at 64 KiB.
    pub truncated_lines: u64,
}

/// Records of one format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FormatCount {
    /// The format.
    pub format: Format,
    /// Records parsed as it.
    pub records: u64,
}

/// One file read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileReport {
    /// Its path as given or found.
    pub path: String,
    /// Format detection locked for it (`None`: plain or mixed).
    pub format: Option<Format>,
    /// Physical lines.
    pub lines: u64,
    /// Records.
    pub records: u64,
}

/// Records per severity.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SeverityCounts {
    /// Info.
    pub info: u64,
    /// Low.
    pub low: u64,
    /// Medium.
    pub medium: u64,
    /// High.
    pub high: u64,
    /// Critical.
    pub critical: u64,
}

impl SeverityCounts {
    fn add(&mut self, s: Severity) {
        let slot = match s {
            Severity::Info => &mut self.info,
            Severity::Low => &mut self.low,
            Severity::Medium => &mut self.medium,
            Severity::High => &mut self.high,
            Severity::Critical => &mut self.critical,
        };
        *slot += 1;
    }
}

/// Template statistics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Templates {
    /// Distinct templates mined.
    pub distinct: u64,
    /// The most frequent ones.
    pub top: Vec<TemplateCount>,
}

/// One template and how often it occurred.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TemplateCount {
    /// Stable id within this run.
    pub id: u32,
    /// Final template text, `<*>` for parameters (cut at [`SAMPLE_CHARS`] characters).
    pub template: String,
    /// Records.
    pub count: u64,
}

/// Unhealthy and novel records.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Anomalies {
    /// Records with confidence >= 0.5.
    pub unhealthy_records: u64,
    /// Records whose template the baseline never saw (`None` without a baseline).
    pub novel_records: Option<u64>,
    /// Templates with anomalous records, most unhealthy first.
    pub templates: Vec<AnomalousTemplate>,
}

/// A template with anomalous records.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AnomalousTemplate {
    /// Stable id within this run.
    pub id: u32,
    /// Final template text.
    pub template: String,
    /// All records of the template.
    pub count: u64,
    /// Its records that are unhealthy or novel.
    pub anomalous: u64,
    /// Its unhealthy records.
    pub unhealthy: u64,
    /// Its records unseen in the baseline (`None` without a baseline).
    pub novel: Option<u64>,
    /// Highest severity among its records.
    pub max_severity: Severity,
    /// An anomalous record (an unhealthy one when there is one).
    pub sample: Sample,
}

/// Where a record is, and its first line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sample {
    /// File.
    pub file: String,
    /// Line number of the record's first line.
    pub n: u64,
    /// The first line, cut at [`SAMPLE_CHARS`] characters.
    pub text: String,
}

/// Error classes of unhealthy records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Classes {
    /// Unhealthy records no class matched.
    pub unclassified: u64,
    /// Classes found, most records first.
    pub found: Vec<ClassCount>,
}

/// One error class.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClassCount {
    /// Class id (`disk_full`...).
    pub id: String,
    /// Human title.
    pub title: String,
    /// Suggested fix.
    pub fix: String,
    /// Unhealthy records of the class.
    pub count: u64,
    /// The first one.
    pub sample: Sample,
}

/// The model scored against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BaselineInfo {
    /// Model file.
    pub path: String,
    /// Templates in it.
    pub templates: u64,
    /// Records it was trained on (`Baseline::lines`: joined multiline events count once).
    pub lines: u64,
}

#[derive(Debug)]
struct TemplateAgg {
    count: u64,
    anomalous: u64,
    unhealthy: u64,
    novel: u64,
    max_severity: Severity,
    sample: Option<(bool, Sample)>,
}

#[derive(Debug)]
struct ClassAgg {
    count: u64,
    sample: Sample,
}

/// Folds records into a [`Summary`]; memory grows with templates, classes and files only.
#[derive(Debug, Default)]
pub struct ReportBuilder {
    files: FileCounts,
    lines: u64,
    records: u64,
    repaired: Repaired,
    formats: HashMap<Format, u64>,
    file_list: Vec<FileReport>,
    severities: SeverityCounts,
    templates: HashMap<TemplateId, TemplateAgg>,
    classes: HashMap<usize, ClassAgg>,
    unclassified: u64,
    unhealthy: u64,
    novel: u64,
    skipped: Vec<SkippedInput>,
}

impl ReportBuilder {
    /// An empty report.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts a binary file skipped.
    pub fn skipped_binary(&mut self) {
        self.files.skipped_binary += 1;
    }

    /// Counts a path missing or unreadable.
    pub fn unreadable(&mut self) {
        self.files.unreadable += 1;
    }

    /// Counts a file whose reading stopped early.
    pub fn read_error(&mut self) {
        self.files.read_errors += 1;
    }

    /// Names an input skipped or read only partly, with the reason.
    pub fn skipped_object(&mut self, input: &str, reason: &str) {
        self.skipped.push(SkippedInput {
            input: input.to_owned(),
            reason: reason.to_owned(),
        });
    }

    /// Counts one physical line and its repairs.
    pub fn line(&mut self, line: &Line) {
        self.lines += 1;
        self.repaired.invalid_utf8_lines += u64::from(line.invalid_utf8);
        self.repaired.truncated_lines += u64::from(line.truncated);
    }

    /// Records a file read to its end (or to a read error).
    pub fn file_done(&mut self, path: &str, format: Option<Format>, lines: u64, records: u64) {
        self.files.read += 1;
        self.file_list.push(FileReport {
            path: path.to_owned(),
            format,
            lines,
            records,
        });
    }

    /// Folds one record; `first_line` is its raw first line (for samples).
    pub fn record(&mut self, file: &str, rec: &Record, first_line: &str) {
        self.records += 1;
        *self.formats.entry(rec.format).or_default() += 1;
        self.severities.add(rec.severity);
        let unhealthy = rec.is_unhealthy();
        let novel = rec.novel == Some(true);
        self.unhealthy += u64::from(unhealthy);
        self.novel += u64::from(novel);
        let sample = || Sample {
            file: file.to_owned(),
            n: rec.n,
            text: cut(first_line, SAMPLE_CHARS),
        };
        let t = self
            .templates
            .entry(rec.template_id)
            .or_insert_with(|| TemplateAgg {
                count: 0,
                anomalous: 0,
                unhealthy: 0,
                novel: 0,
                max_severity: Severity::Info,
                sample: None,
            });
        t.count += 1;
        t.anomalous += u64::from(unhealthy || novel);
        t.unhealthy += u64::from(unhealthy);
        t.novel += u64::from(novel);
        t.max_severity = t.max_severity.max(rec.severity);
        // Prefer an unhealthy sample over a merely novel one.
        let better = match &t.sample {
            None => unhealthy || novel,
            Some((was_unhealthy, _)) => unhealthy && !was_unhealthy,
        };
        if better {
            t.sample = Some((unhealthy, sample()));
        }
        if unhealthy {
            match rec.class {
                Some(c) => {
                    self.classes
                        .entry(c)
                        .or_insert_with(|| ClassAgg {
                            count: 0,
                            sample: sample(),
                        })
                        .count += 1;
                }
                None => self.unclassified += 1,
            }
        }
    }

    /// The summary, with final template texts from `drain` and class names from `classes`.
    pub fn finish(
        self,
        drain: &Drain,
        classes: &ClassTable,
        baseline: Option<BaselineInfo>,
    ) -> Summary {
        let has_baseline = baseline.is_some();
        let text = |id: TemplateId| cut(&drain.template(id).unwrap_or_default(), SAMPLE_CHARS);

        let mut formats: Vec<_> = self
            .formats
            .into_iter()
            .map(|(format, records)| FormatCount { format, records })
            .collect();
        formats.sort_by(|a, b| b.records.cmp(&a.records).then(fmt_key(a).cmp(fmt_key(b))));

        let mut by_count: Vec<_> = self.templates.iter().collect();
        by_count.sort_by(|(ia, a), (ib, b)| b.count.cmp(&a.count).then(ia.cmp(ib)));
        let top = by_count
            .iter()
            .take(TOP_TEMPLATES)
            .map(|(id, t)| TemplateCount {
                id: id.0,
                template: text(**id),
                count: t.count,
            })
            .collect();

        let mut anomalous: Vec<_> = self
            .templates
            .iter()
            .filter_map(|(id, t)| t.sample.as_ref().map(|(_, s)| (id, t, s)))
            .collect();
        anomalous.sort_by(|(ia, a, _), (ib, b, _)| {
            b.unhealthy
                .cmp(&a.unhealthy)
                .then(b.max_severity.cmp(&a.max_severity))
                .then(b.novel.cmp(&a.novel))
                .then(b.count.cmp(&a.count))
                .then(ia.cmp(ib))
        });
        let anomaly_templates = anomalous
            .into_iter()
            .take(TOP_ANOMALIES)
            .map(|(id, t, s)| AnomalousTemplate {
                id: id.0,
                template: text(*id),
                count: t.count,
                anomalous: t.anomalous,
                unhealthy: t.unhealthy,
                novel: has_baseline.then_some(t.novel),
                max_severity: t.max_severity,
                sample: s.clone(),
            })
            .collect();

        let mut found: Vec<_> = self
            .classes
            .into_iter()
            .filter_map(|(i, agg)| {
                let c = classes.classes().get(i)?;
                Some(ClassCount {
                    id: c.id.clone(),
                    title: c.title.clone(),
                    fix: c.fix.clone(),
                    count: agg.count,
                    sample: agg.sample,
                })
            })
            .collect();
        found.sort_by(|a, b| b.count.cmp(&a.count).then(a.id.cmp(&b.id)));

        Summary {
            files: self.files,
            lines: self.lines,
            records: self.records,
            repaired: self.repaired,
            formats,
            file_list: self.file_list,
            severities: self.severities,
            templates: Templates {
                distinct: self.templates.len() as u64,
                top,
            },
            anomalies: Anomalies {
                unhealthy_records: self.unhealthy,
                novel_records: has_baseline.then_some(self.novel),
                templates: anomaly_templates,
            },
            classes: Classes {
                unclassified: self.unclassified,
                found,
            },
            baseline,
            skipped: self.skipped,
        }
    }
}

fn fmt_key(f: &FormatCount) -> &'static str {
    format_name(f.format)
}

/// The snake_case name `Format` serializes to.
pub fn format_name(f: Format) -> &'static str {
    match f {
        Format::Json => "json",
        Format::Logfmt => "logfmt",
        Format::Syslog3164 => "syslog3164",
        Format::Syslog5424 => "syslog5424",
        Format::AccessLog => "access_log",
        Format::Cri => "cri",
        Format::Header => "header",
        Format::Plain => "plain",
    }
}

/// At most `max` characters of `s`, with `…` when cut.
pub fn cut(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(n: u64, id: TemplateId, confidence: f32, class: Option<usize>) -> Record {
        Record {
            n,
            lines: 1,
            format: Format::Plain,
            level: None,
            template_id: id,
            severity: Severity::from_confidence(confidence),
            confidence,
            novel: None,
            class,
            invalid_utf8: false,
            truncated: false,
        }
    }

    #[test]
    fn counts_templates_anomalies_and_classes() {
        let mut drain = Drain::default();
        let ok = drain.add("user 1 logged in");
        let _ = drain.add("user 2 logged in");
        let bad = drain.add("disk full on /var");
        let classes = ClassTable::default();
        let disk = classes
            .classes()
            .iter()
            .position(|c| c.id == "disk_full")
            .unwrap();

        let mut b = ReportBuilder::new();
        for n in 1..=3 {
            b.line(&Line {
                n,
                text: String::new(),
                invalid_utf8: n == 2,
                truncated: false,
            });
        }
        b.record("a.log", &rec(1, ok, 0.05, None), "user 1 logged in");
        b.record("a.log", &rec(2, ok, 0.05, None), "user 2 logged in");
        b.record("a.log", &rec(3, bad, 0.9, Some(disk)), "disk full on /var");
        b.file_done("a.log", None, 3, 3);
        b.skipped_binary();
        let s = b.finish(&drain, &classes, None);

        assert_eq!((s.lines, s.records), (3, 3));
        assert_eq!(s.files.read, 1);
        assert_eq!(s.files.skipped_binary, 1);
        assert_eq!(s.repaired.invalid_utf8_lines, 1);
        assert_eq!(
            s.formats,
            [FormatCount {
                format: Format::Plain,
                records: 3
            }]
        );
        assert_eq!(s.severities.info, 2);
        assert_eq!(s.severities.critical, 1);
        assert_eq!(s.templates.distinct, 2);
        assert_eq!(s.templates.top[0].count, 2);
        assert_eq!(s.templates.top[0].template, "user <*> logged in");
        assert_eq!(s.anomalies.unhealthy_records, 1);
        assert_eq!(s.anomalies.novel_records, None);
        assert_eq!(s.anomalies.templates.len(), 1);
        assert_eq!(s.anomalies.templates[0].sample.n, 3);
        assert_eq!(s.anomalies.templates[0].max_severity, Severity::Critical);
        assert_eq!(s.classes.found.len(), 1);
        assert_eq!(s.classes.found[0].id, "disk_full");
        assert!(!s.classes.found[0].fix.is_empty());
        assert_eq!(s.classes.unclassified, 0);
    }

    #[test]
    fn novel_templates_are_anomalies_with_a_baseline() {
        let mut drain = Drain::default();
        let t = drain.add("new thing happened");
        let mut r = rec(7, t, 0.2, None);
        r.novel = Some(true);
        let mut b = ReportBuilder::new();
        b.record("x", &r, "new thing happened");
        let info = BaselineInfo {
            path: "m.json".into(),
            templates: 3,
            lines: 10,
        };
        let s = b.finish(&drain, &ClassTable::default(), Some(info));
        assert_eq!(s.anomalies.unhealthy_records, 0);
        assert_eq!(s.anomalies.novel_records, Some(1));
        assert_eq!(s.anomalies.templates[0].novel, Some(1));
        assert_eq!(s.anomalies.templates[0].sample.text, "new thing happened");
    }

    #[test]
    fn format_names_match_serde() {
        for f in Format::ALL {
            assert_eq!(serde_json::to_value(f).unwrap(), format_name(f));
        }
    }

    #[test]
    fn samples_are_cut_on_characters() {
        assert_eq!(cut("héllo", 2), "hé…");
        assert_eq!(cut("hi", 2), "hi");
    }
}
