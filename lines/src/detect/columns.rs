//! Learned column headers: a source whose lines start with a fixed number of fields around a
//! timestamp but name no level (`134681 node-246 unix.hw state 1077804742 1 message`, or
//! `web-3 2026-11-28T10:00:01Z 4412 message`) matches no header parser, so its lines come out as
//! plain text with the fields in the content, which splits one template per field value.
//!
//! [`ColumnLearner`] watches the lines that parse as plain text and finds the token index at
//! which a timestamp stands (never index 0: a leading timestamp is plain text's own rule). While
//! that index holds for most plain lines seen so far (the very first line decides alone), it
//! strips every line that has a timestamp there, plus the short field-shaped tokens right after
//! it (a pid, a signed flag, a level word, `-`). At the end of each window of
//! [`DetectorConfig::sample_lines`](super::DetectorConfig) lines it keeps the layout for good if
//! most lines so far had it; a layout that never forms costs one token scan per plain line for at
//! most [`MAX_WINDOWS`] windows, then the source is plain text for good.
//!
//! The layout is learned per source, from the source's own lines: nothing is tuned per dataset.
//! A line that does not fit the layout keeps its whole text, so nothing is ever dropped.

use std::borrow::Cow;

use super::header::{level_token, skip_spaces};
use super::{Parsed, time, trim_end};
use crate::level::Level;

/// Highest token index at which a header timestamp may stand.
pub(super) const MAX_TS_INDEX: usize = 6;
/// Most field-shaped tokens skipped after the timestamp.
const MAX_TRAILING_FIELDS: usize = 2;
/// Longest all-digit token taken for a field (a pid, a flag) rather than content.
const MAX_FIELD_DIGITS: usize = 10;
/// Sampling windows tried before a source is taken for plain text for good.
pub(super) const MAX_WINDOWS: u32 = 8;

/// Where the header of one line ends, if it has a timestamp at token index `index`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Header {
    /// Token index of the timestamp.
    index: usize,
    /// The timestamp, epoch milliseconds.
    ts: i64,
    /// Byte offset where the content starts.
    content_at: usize,
    /// A level word among the skipped fields.
    level: Option<Level>,
}

/// Finds the first timestamp among the first `MAX_TS_INDEX + 1` tokens of `line`.
fn find_header(line: &str, year: i32) -> Option<Header> {
    let b = line.as_bytes();
    let mut pos = skip_spaces(b, 0);
    for index in 0..=MAX_TS_INDEX {
        let rest = line.get(pos..)?;
        if rest.is_empty() {
            return None;
        }
        if let Some((ts, n)) = time::parse_prefix(rest, year) {
            let (content_at, level) = skip_fields(line, pos + n);
            // A timestamp with nothing after it is a message about a time, not a header.
            if content_at >= trim_end(line).len() {
                return None;
            }
            return Some(Header {
                index,
                ts,
                content_at,
                level,
            });
        }
        pos = skip_spaces(b, token_end(b, pos));
    }
    None
}

/// Skips up to [`MAX_TRAILING_FIELDS`] field-shaped tokens from `pos`; returns the content
/// offset and a level word if one was skipped.
fn skip_fields(line: &str, pos: usize) -> (usize, Option<Level>) {
    let b = line.as_bytes();
    let mut pos = skip_spaces(b, pos);
    let mut level = None;
    for _ in 0..MAX_TRAILING_FIELDS {
        let end = token_end(b, pos);
        let tok = &line[pos..end];
        let next = skip_spaces(b, end);
        // Never skip the last token: the message would be empty.
        if tok.is_empty() || next >= b.len() {
            break;
        }
        let digits = tok.strip_prefix('-').unwrap_or(tok);
        let numeric = !digits.is_empty()
            && digits.len() <= MAX_FIELD_DIGITS
            && digits.bytes().all(|c| c.is_ascii_digit());
        let lvl = if level.is_none() {
            level_token(tok)
        } else {
            None
        };
        if !(numeric || tok == "-" || tok == "|" || lvl.is_some()) {
            break;
        }
        level = level.or(lvl);
        pos = next;
    }
    (pos, level)
}

fn token_end(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i] != b' ' && b[i] != b'\t' {
        i += 1;
    }
    i
}

/// What the learner has decided so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Counting timestamp positions in the current window.
    Sampling,
    /// The timestamp stands at this token index in this source.
    Locked(usize),
    /// No layout: the source is plain text.
    Off,
}

/// Per-source learner of a column header; see the module docs.
#[derive(Debug, Clone)]
pub(super) struct ColumnLearner {
    state: State,
    /// Plain lines seen while sampling.
    seen: u32,
    /// Plain lines seen while sampling with their timestamp at token index `i`.
    at: [u32; MAX_TS_INDEX + 1],
    windows: u32,
}

impl Default for ColumnLearner {
    fn default() -> Self {
        ColumnLearner {
            state: State::Sampling,
            seen: 0,
            at: [0; MAX_TS_INDEX + 1],
            windows: 0,
        }
    }
}

impl ColumnLearner {
    /// Rewrites a plain-text parse of `line` when the source's layout says where its header
    /// ends; learns from the line while sampling.
    pub(super) fn apply<'a>(
        &mut self,
        line: &'a str,
        parsed: Parsed<'a>,
        year: i32,
        sample_lines: usize,
        lock_percent: u8,
    ) -> Parsed<'a> {
        if self.state == State::Off || line.trim().is_empty() {
            return parsed;
        }
        // A timestamp plain text already read (leading, or a klog header) is index 0.
        let header = match parsed.timestamp_ms {
            Some(ts) => Some(Header {
                index: 0,
                ts,
                content_at: 0,
                level: None,
            }),
            None => find_header(line, year),
        };
        let index = match self.state {
            State::Locked(i) => i,
            State::Off => return parsed,
            State::Sampling => {
                self.seen += 1;
                if let Some(h) = header {
                    self.at[h.index] += 1;
                }
                let (best, count) = self.best();
                let majority =
                    u64::from(count) * 100 >= u64::from(self.seen) * u64::from(lock_percent);
                // Counts run across windows, so a stray line at a window's start decides nothing.
                if (self.seen as usize).is_multiple_of(sample_lines.max(1)) {
                    self.windows += 1;
                    if majority && best > 0 {
                        self.state = State::Locked(best);
                    } else if self.windows >= MAX_WINDOWS {
                        self.state = State::Off;
                    }
                }
                if !majority || best == 0 {
                    return parsed;
                }
                best
            }
        };
        match header {
            Some(h) if h.index == index && index > 0 => Parsed {
                timestamp_ms: Some(h.ts),
                level: h.level.or(parsed.level),
                content: Cow::Borrowed(trim_end(&line[h.content_at..])),
                fields: vec![(
                    Cow::Borrowed("columns"),
                    Cow::Borrowed(line[..h.content_at].trim_end()),
                )],
                ..parsed
            },
            _ => parsed,
        }
    }

    /// The most common timestamp index of the window and its count (ties: the lower index).
    fn best(&self) -> (usize, u32) {
        let mut best = (0, self.at[0]);
        for (i, &n) in self.at.iter().enumerate().skip(1) {
            if n > best.1 {
                best = (i, n);
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::plain;

    fn run(lines: &[&str]) -> Vec<String> {
        let mut l = ColumnLearner::default();
        lines
            .iter()
            .map(|line| {
                l.apply(line, plain::parse(line, 2026), 2026, 4, 60)
                    .content
                    .into_owned()
            })
            .collect()
    }

    #[test]
    fn finds_headers() {
        let h = find_header(
            "134681 node-246 unix.hw state_change.unavailable 1077804742 1 Component State Change",
            2026,
        )
        .unwrap();
        assert_eq!(h.index, 4);
        assert_eq!(h.ts, 1_077_804_742_000);
        assert_eq!(h.level, None);
        let h = find_header("web-3 2026-11-28 10:00:01 4412 WARN low disk", 2026).unwrap();
        assert_eq!(h.index, 1);
        assert_eq!(h.level, Some(Level::Warn));
        assert_eq!(find_header("no time here at all", 2026), None);
        assert_eq!(find_header("job ended 2026-11-28T10:00:01Z", 2026), None);
    }

    #[test]
    fn learns_and_strips() {
        let got = run(&[
            "1 node-1 hw up 1077804742 1 Fan speed low",
            "2 node-2 hw up 1077804743 0 link down on port",
            "3 node-3 hw up 1077804744 1 ambient=30",
            "4 node-4 hw up 1077804745 1 Fan speed low",
            "5 node-5 hw up 1077804746 1 Fan speed high",
            "without the columns",
        ]);
        assert_eq!(
            got,
            [
                "Fan speed low",
                "link down on port",
                "ambient=30",
                "Fan speed low",
                "Fan speed high",
                "without the columns"
            ]
        );
    }

    #[test]
    fn plain_text_with_a_stray_time_stays_whole() {
        let lines = [
            "job 1700000000 finished cleanly",
            "hello world",
            "another plain line",
            "and one more",
            "job 1700000001 finished cleanly",
        ];
        let got = run(&lines);
        // The first line decides before any other line is seen; afterwards the majority rules.
        assert_eq!(got[0], "finished cleanly");
        assert_eq!(&got[1..], &lines[1..]);
    }
}
