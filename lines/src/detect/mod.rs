//! Format detection: which shape a source's lines have, and what each line says.
//!
//! [`parse_line`] tries every known format on one line. A [`Detector`] does that for the first
//! lines of a source, then locks the format most of them had and parses later lines with that
//! parser alone, falling back to plain text for a line that does not fit. No line is ever
//! dropped: the worst case is [`Format::Plain`] with the whole line as content.
//!
//! Everything here is pure: no I/O and no clock. Formats without a year in their timestamps
//! (RFC 3164 syslog) take it from [`DetectorConfig::year`].

mod access;
mod columns;
mod cri;
mod header;
mod json;
mod logfmt;
mod plain;
mod syslog;
pub mod time;

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

pub(crate) use cri::floor_char_boundary;
pub use cri::{CriJoiner, CriLine, CriStream, DEFAULT_CRI_MAX_BYTES, parse_cri};

use crate::level::Level;

/// The line formats `lines` recognises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// One JSON object per line.
    Json,
    /// `key=value key2="quoted value"` pairs.
    Logfmt,
    /// BSD syslog, RFC 3164 (`<34>Oct 11 22:14:15 host tag[pid]: message`, `<PRI>` optional).
    Syslog3164,
    /// IETF syslog, RFC 5424 (`<34>1 2003-10-11T22:14:15.003Z host app procid msgid [sd] msg`).
    Syslog5424,
    /// Common or combined access log (Apache, nginx).
    AccessLog,
    /// Kubernetes CRI container log line (`<rfc3339> stdout F message`).
    Cri,
    /// A header of date/time tokens, optional pid, a level word and an optional component,
    /// then the message (log4j, logback, Python logging, Hadoop, HDFS, Spark, Apache error log).
    Header,
    /// Anything else: the whole line is the content (a leading timestamp is still read).
    Plain,
}

impl Format {
    /// Every format, in the order [`parse_line`] tries them.
    pub const ALL: [Format; 8] = [
        Format::Json,
        Format::Cri,
        Format::Syslog5424,
        Format::AccessLog,
        Format::Syslog3164,
        Format::Header,
        Format::Logfmt,
        Format::Plain,
    ];
}

/// One extracted field: key and value, borrowed from the line where possible.
pub type Field<'a> = (Cow<'a, str>, Cow<'a, str>);

/// What one line says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed<'a> {
    /// The format that parsed it.
    pub format: Format,
    /// When the line says it happened, in milliseconds since the Unix epoch (UTC when the line
    /// carries no zone).
    pub timestamp_ms: Option<i64>,
    /// The level the line claims.
    pub level: Option<Level>,
    /// The message without its header, trailing whitespace trimmed.
    pub content: Cow<'a, str>,
    /// Other named values: component, pid, host, HTTP status, JSON/logfmt keys...
    pub fields: Vec<Field<'a>>,
}

impl<'a> Parsed<'a> {
    /// A plain-text result for `line` with nothing extracted.
    pub fn plain(line: &'a str) -> Self {
        Parsed {
            format: Format::Plain,
            timestamp_ms: None,
            level: None,
            content: Cow::Borrowed(line.trim_end()),
            fields: Vec::new(),
        }
    }

    /// The value of the first field named `key`.
    pub fn field(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_ref())
    }

    /// Copies every borrowed part, detaching the result from the line.
    pub fn into_owned(self) -> Parsed<'static> {
        Parsed {
            format: self.format,
            timestamp_ms: self.timestamp_ms,
            level: self.level,
            content: Cow::Owned(self.content.into_owned()),
            fields: self
                .fields
                .into_iter()
                .map(|(k, v)| (Cow::Owned(k.into_owned()), Cow::Owned(v.into_owned())))
                .collect(),
        }
    }
}

/// Options for parsing; see [`Detector`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DetectorConfig {
    /// Year for timestamps that lack one (RFC 3164 syslog). The caller knows "now"; we do not.
    pub year: i32,
    /// How many lines to look at before locking a format.
    pub sample_lines: usize,
    /// Share of sampled lines (percent) one format needs to be locked.
    pub lock_percent: u8,
}

/// Default for [`DetectorConfig::sample_lines`].
pub const DEFAULT_SAMPLE_LINES: usize = 32;
/// Default for [`DetectorConfig::lock_percent`].
pub const DEFAULT_LOCK_PERCENT: u8 = 60;

impl DetectorConfig {
    /// Defaults with the given year.
    pub fn with_year(year: i32) -> Self {
        DetectorConfig {
            year,
            sample_lines: DEFAULT_SAMPLE_LINES,
            lock_percent: DEFAULT_LOCK_PERCENT,
        }
    }
}

impl Default for DetectorConfig {
    /// Year 1970: callers that meet RFC 3164 lines should pass the real year.
    fn default() -> Self {
        Self::with_year(1970)
    }
}

/// Parses one line with one format; `None` when the line does not have that shape.
pub fn parse_as(format: Format, line: &str, year: i32) -> Option<Parsed<'_>> {
    match format {
        Format::Json => json::parse(line, year),
        Format::Logfmt => logfmt::parse(line, year),
        Format::Syslog3164 => syslog::parse_3164(line, year),
        Format::Syslog5424 => syslog::parse_5424(line),
        Format::AccessLog => access::parse(line),
        Format::Cri => cri::parse(line, year),
        Format::Header => header::parse(line, year),
        Format::Plain => Some(plain::parse(line, year)),
    }
}

/// Tries every format on one line, most specific first; never fails.
pub fn parse_line(line: &str, year: i32) -> Parsed<'_> {
    for format in Format::ALL {
        if let Some(p) = parse_as(format, line, year) {
            return p;
        }
    }
    Parsed::plain(line)
}

/// Parses the content of a wrapper (CRI, syslog) again, for a level or fields inside it.
pub(crate) fn parse_inner(content: &str, year: i32) -> Parsed<'_> {
    for format in [Format::Json, Format::Header, Format::Logfmt] {
        if let Some(p) = parse_as(format, content, year) {
            return p;
        }
    }
    plain::parse(content, year)
}

/// Per-source format detection: samples the first lines, then locks one format.
#[derive(Debug, Clone)]
pub struct Detector {
    config: DetectorConfig,
    votes: [u32; Format::ALL.len()],
    seen: usize,
    locked: Option<Format>,
    /// The learned column header of a source whose lines parse as plain text.
    columns: columns::ColumnLearner,
}

impl Detector {
    /// A detector that has seen nothing yet.
    pub fn new(config: DetectorConfig) -> Self {
        Detector {
            config,
            votes: [0; Format::ALL.len()],
            seen: 0,
            locked: None,
            columns: columns::ColumnLearner::default(),
        }
    }

    /// A detector already locked to `format` (for a source whose format is configured).
    pub fn locked(config: DetectorConfig, format: Format) -> Self {
        Detector {
            locked: Some(format),
            ..Self::new(config)
        }
    }

    /// The locked format, once sampling has decided.
    pub fn format(&self) -> Option<Format> {
        self.locked
    }

    /// Changes the year used for timestamps without one (call it when the year turns).
    pub fn set_year(&mut self, year: i32) {
        self.config.year = year;
    }

    /// Parses one line; never fails and never drops the line.
    pub fn parse<'a>(&mut self, line: &'a str) -> Parsed<'a> {
        if let Some(format) = self.locked {
            return parse_as(format, line, self.config.year)
                .unwrap_or_else(|| plain::parse(line, self.config.year));
        }
        let parsed = parse_line(line, self.config.year);
        if !line.trim().is_empty() {
            self.vote(parsed.format);
        }
        if parsed.format == Format::Plain {
            let c = &self.config;
            return self
                .columns
                .apply(line, parsed, c.year, c.sample_lines, c.lock_percent);
        }
        parsed
    }

    fn vote(&mut self, format: Format) {
        if let Some(i) = Format::ALL.iter().position(|f| *f == format) {
            self.votes[i] += 1;
        }
        self.seen += 1;
        if self.seen < self.config.sample_lines {
            return;
        }
        let (best, count) = self
            .votes
            .iter()
            .enumerate()
            .max_by_key(|(_, c)| **c)
            .map(|(i, c)| (Format::ALL[i], *c))
            .unwrap_or((Format::Plain, 0));
        let enough =
            u64::from(count) * 100 >= self.seen as u64 * u64::from(self.config.lock_percent);
        // Plain is never locked: a source that looked plain may still carry a known format later.
        if enough && best != Format::Plain {
            self.locked = Some(best);
        } else {
            // Keep sampling with a fresh window so an early burst of noise does not decide.
            self.votes = [0; Format::ALL.len()];
            self.seen = 0;
        }
    }
}

/// Trims trailing whitespace (spaces, tabs, `\r`, `\n`).
pub(crate) fn trim_end(s: &str) -> &str {
    s.trim_end_matches([' ', '\t', '\r', '\n'])
}

/// Splits off the first space-delimited token; returns `(token, rest_after_spaces)`.
pub(crate) fn next_token(s: &str) -> (&str, &str) {
    let s = s.trim_start_matches(' ');
    match s.find(' ') {
        Some(i) => (&s[..i], s[i..].trim_start_matches(' ')),
        None => (s, ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detector_locks_and_falls_back() {
        let mut d = Detector::new(DetectorConfig {
            sample_lines: 3,
            ..DetectorConfig::with_year(2024)
        });
        for _ in 0..3 {
            let p = d.parse(r#"{"level":"info","msg":"ok"}"#);
            assert_eq!(p.format, Format::Json);
        }
        assert_eq!(d.format(), Some(Format::Json));
        let p = d.parse("not json at all");
        assert_eq!(p.format, Format::Plain);
        assert_eq!(p.content, "not json at all");
    }

    #[test]
    fn plain_sources_are_not_locked() {
        let mut d = Detector::new(DetectorConfig {
            sample_lines: 2,
            ..DetectorConfig::with_year(2024)
        });
        d.parse("hello");
        d.parse("world");
        assert_eq!(d.format(), None);
        assert_eq!(d.parse(r#"{"msg":"x"}"#).format, Format::Json);
    }

    #[test]
    fn tokens() {
        assert_eq!(next_token("  a  b c"), ("a", "b c"));
        assert_eq!(next_token("a"), ("a", ""));
    }
}
