//! Plain text: the whole line is the content, after an optional leading timestamp and level.

use std::borrow::Cow;

use super::header::{bracket_end, level_token, skip_spaces};
use super::{Format, Parsed, time, trim_end};
use crate::level::Level;

/// Never fails: reads a leading timestamp (`2024-...`, `[...]`) and level word if present.
pub(super) fn parse(line: &str, year: i32) -> Parsed<'_> {
    let b = line.as_bytes();
    let mut pos = skip_spaces(b, 0);
    let mut ts = None;
    if let Some(rest) = line.get(pos..) {
        if let Some((ms, n)) = time::parse_prefix(rest, year) {
            ts = Some(ms);
            pos += n;
        } else if rest.starts_with('[')
            && let Some(end) = bracket_end(b, pos)
        {
            let inner = &line[pos + 1..end];
            if let Some((ms, n)) = time::parse_prefix(inner, year)
                && n == inner.len()
            {
                ts = Some(ms);
                pos = end + 1;
            }
        }
    }
    let mut level = None;
    let p = skip_spaces(b, pos);
    if let Some(rest) = line.get(p..) {
        if let Some(inner) = rest.strip_prefix('[').and_then(|r| r.split_once(']')) {
            if let Some(l) = Level::from_word_strict(inner.0.trim()) {
                level = Some(l);
                pos = p + inner.0.len() + 2;
            }
        } else {
            let tok = rest.split([' ', '\t']).next().unwrap_or("");
            if let Some(l) = level_token(tok) {
                level = Some(l);
                pos = p + tok.len();
            }
        }
    }
    let start = if ts.is_some() || level.is_some() {
        skip_spaces(b, pos)
    } else {
        0
    };
    Parsed {
        format: Format::Plain,
        timestamp_ms: ts,
        level,
        content: Cow::Borrowed(trim_end(line.get(start..).unwrap_or(line))),
        fields: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain() {
        let p = parse("just some words  \r", 2024);
        assert_eq!(p.content, "just some words");
        assert_eq!(p.level, None);
        let p = parse("ERROR: printer offline", 2024);
        assert_eq!(p.level, Some(Level::Error));
        assert_eq!(p.content, "printer offline");
        let p = parse("2024-01-02T03:04:05Z printer offline", 2024);
        assert_eq!(p.timestamp_ms, Some(1_704_164_645_000));
        assert_eq!(p.content, "printer offline");
        let p = parse("[2024-01-02 03:04:05] [warn] low paper", 2024);
        assert_eq!(p.level, Some(Level::Warn));
        assert_eq!(p.content, "low paper");
        assert_eq!(parse("", 2024).content, "");
    }
}
