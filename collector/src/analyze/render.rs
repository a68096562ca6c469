//! Output: the human summary, the `--json` document and the `--lines` objects.
//!
//! Rendering writes to any `io::Write`; the driver picks stdout or stderr.

use std::io::{self, Write};

use serde::Serialize;

use super::record::Record;
use super::report::{Summary, format_name};

/// Templates shown in the text summary's file list.
const FILES_SHOWN: usize = 20;

/// One `--lines` object.
#[derive(Debug, Serialize)]
pub struct LineOut<'a> {
    /// File the record is in.
    pub file: &'a str,
    /// 1-based number of the record's first physical line in `file`.
    pub n: u64,
    /// Physical lines joined into the record (more than 1 for stack traces).
    pub lines: usize,
    /// Format the first line parsed as.
    pub format: &'static str,
    /// Level, if the line has one.
    pub level: Option<&'static str>,
    /// Template id, stable for the run.
    pub template_id: u32,
    /// The template as known when the record was read (it may generalise later).
    pub template: String,
    /// Severity band.
    pub severity: &'static str,
    /// Probability that the record reports an unhealthy condition, 3 decimals.
    pub confidence: f64,
    /// Error class id of an unhealthy record, if one matched.
    pub class: Option<&'a str>,
    /// Unseen in the baseline; absent without one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub novel: Option<bool>,
    /// Invalid UTF-8 was replaced.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub invalid_utf8: bool,
    /// Text was cut at a limit.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
}

impl<'a> LineOut<'a> {
    /// The object for `rec`.
    pub fn new(file: &'a str, rec: &Record, template: String, class: Option<&'a str>) -> Self {
        LineOut {
            file,
            n: rec.n,
            lines: rec.lines,
            format: format_name(rec.format),
            level: rec.level.map(|l| l.as_str()),
            template_id: rec.template_id.0,
            template,
            severity: rec.severity.as_str(),
            confidence: round3(rec.confidence),
            class,
            novel: rec.novel,
            invalid_utf8: rec.invalid_utf8,
            truncated: rec.truncated,
        }
    }
}

/// `p` rounded to 3 decimals, as f64 so JSON shows `0.831`, not `0.8309999704360962`.
pub fn round3(p: f32) -> f64 {
    (f64::from(p) * 1000.0).round() / 1000.0
}

/// Writes one `--lines` object and a newline.
pub fn write_line(out: &mut impl Write, line: &LineOut<'_>) -> io::Result<()> {
    serde_json::to_writer(&mut *out, line)?;
    out.write_all(b"\n")
}

/// Writes the `--json` document.
pub fn write_json(out: &mut impl Write, summary: &Summary) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, summary)?;
    out.write_all(b"\n")
}

/// Writes the human summary.
pub fn write_text(out: &mut impl Write, s: &Summary) -> io::Result<()> {
    let f = &s.files;
    write!(out, "Read {} file(s)", f.read)?;
    let mut skipped = Vec::new();
    if f.skipped_binary > 0 {
        skipped.push(format!("{} binary skipped", f.skipped_binary));
    }
    if f.unreadable > 0 {
        skipped.push(format!("{} missing or unreadable", f.unreadable));
    }
    if f.read_errors > 0 {
        skipped.push(format!("{} stopped by a read error", f.read_errors));
    }
    if !skipped.is_empty() {
        write!(out, " ({})", skipped.join(", "))?;
    }
    writeln!(out, ": {} lines, {} records.", s.lines, s.records)?;
    for k in &s.skipped {
        writeln!(out, "Skipped {}: {}", k.input, k.reason)?;
    }
    let r = &s.repaired;
    if r.invalid_utf8_lines > 0 || r.truncated_lines > 0 {
        writeln!(
            out,
            "Repaired lines: {} with invalid UTF-8 (replaced), {} over 64 KiB (truncated).",
            r.invalid_utf8_lines, r.truncated_lines
        )?;
    }
    if let Some(b) = &s.baseline {
        writeln!(
            out,
            "Baseline: {} ({} templates, trained on {} records).",
            b.path, b.templates, b.lines
        )?;
    }

    writeln!(out, "\nFormats detected")?;
    for fc in &s.formats {
        writeln!(
            out,
            "  {:<12} {:>9} records",
            format_name(fc.format),
            fc.records
        )?;
    }
    if s.file_list.len() > 1 {
        writeln!(out, "\nFiles")?;
        for file in s.file_list.iter().take(FILES_SHOWN) {
            let format = file.format.map_or("plain/mixed", format_name);
            writeln!(
                out,
                "  {:<12} {:>9} lines  {}",
                format, file.lines, file.path
            )?;
        }
        if s.file_list.len() > FILES_SHOWN {
            writeln!(out, "  ... and {} more", s.file_list.len() - FILES_SHOWN)?;
        }
    }

    let sv = &s.severities;
    writeln!(
        out,
        "\nSeverity: critical {}, high {}, medium {}, low {}, info {}",
        sv.critical, sv.high, sv.medium, sv.low, sv.info
    )?;

    writeln!(out, "\nTop templates ({} distinct)", s.templates.distinct)?;
    for t in &s.templates.top {
        writeln!(out, "  {:>9}  #{:<5} {}", t.count, t.id, t.template)?;
    }

    let a = &s.anomalies;
    write!(
        out,
        "\nAnomalies: {} unhealthy record(s) (confidence >= 0.5)",
        a.unhealthy_records
    )?;
    match a.novel_records {
        Some(n) => writeln!(out, ", {n} record(s) in templates unseen in the baseline")?,
        None => writeln!(out, "; novelty n/a (no --baseline)")?,
    }
    for t in &a.templates {
        let novel = t.novel.map(|n| format!(", {n} novel")).unwrap_or_default();
        writeln!(
            out,
            "  {:>9}  #{:<5} {}  ({} unhealthy{novel} of {}; max {})",
            t.anomalous, t.id, t.template, t.unhealthy, t.count, t.max_severity
        )?;
        writeln!(
            out,
            "             e.g. {}:{}: {}",
            t.sample.file, t.sample.n, t.sample.text
        )?;
    }

    let c = &s.classes;
    writeln!(out, "\nError classes")?;
    if c.found.is_empty() {
        writeln!(out, "  (none)")?;
    }
    for class in &c.found {
        writeln!(out, "  {:>9}  {} [{}]", class.count, class.title, class.id)?;
        writeln!(out, "             fix: {}", class.fix)?;
        writeln!(
            out,
            "             e.g. {}:{}: {}",
            class.sample.file, class.sample.n, class.sample.text
        )?;
    }
    if c.unclassified > 0 {
        writeln!(
            out,
            "  {:>9}  unclassified unhealthy records",
            c.unclassified
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confidences_are_rounded() {
        assert_eq!(round3(0.830_999_9), 0.831);
        assert_eq!(round3(0.0), 0.0);
    }
}
