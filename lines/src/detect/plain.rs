//! Plain text: the whole line is the content, after an optional leading timestamp and level.

use std::borrow::Cow;

use super::header::{bracket_end, level_token, skip_spaces};
use super::{Format, Parsed, time, trim_end};
use crate::level::Level;

/// A glog/klog header, as Go programs (Kubernetes, many agents) write it:
/// `E1127 10:00:00.123456   12345 client.go:123] message`: level letter, month and day, time,
/// thread id, `file:line]`. Returns the level, the time (year from `year`) and the message.
fn klog(line: &str, year: i32) -> Option<(Level, i64, &str)> {
    let b = line.as_bytes();
    let level = match b.first()? {
        b'I' => Level::Info,
        b'W' => Level::Warn,
        b'E' => Level::Error,
        b'F' => Level::Critical,
        _ => return None,
    };
    let digits = |r: std::ops::Range<usize>| -> Option<u32> {
        let t = line.get(r)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    let (mo, d) = (digits(1..3)?, digits(3..5)?);
    if b.get(5) != Some(&b' ') || b.get(8) != Some(&b':') || b.get(11) != Some(&b':') {
        return None;
    }
    let (h, mi, sec) = (digits(6..8)?, digits(9..11)?, digits(12..14)?);
    let mut i = 14;
    let mut ms = 0;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        ms = digits(start..(start + 3).min(i)).unwrap_or(0);
    }
    let ts = time::to_ms(i64::from(year), mo, d, h, mi, sec, ms)?;
    // Thread id, then `file:line]`.
    let rest = line.get(i..)?.trim_start_matches(' ');
    let (tid, rest) = rest.split_once(' ')?;
    if tid.is_empty() || !tid.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let (src, msg) = rest.trim_start_matches(' ').split_once("] ")?;
    if src.contains(' ') || !src.contains(':') {
        return None;
    }
    Some((level, ts, msg))
}

/// Never fails: reads a leading timestamp (`2024-...`, `[...]`) and level word if present, or
/// a whole glog/klog header.
pub(super) fn parse(line: &str, year: i32) -> Parsed<'_> {
    if let Some((level, ts, msg)) = klog(line, year) {
        return Parsed {
            format: Format::Plain,
            timestamp_ms: Some(ts),
            level: Some(level),
            content: Cow::Borrowed(trim_end(msg)),
            fields: Vec::new(),
        };
    }
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
        let p = parse(
            "E1127 10:00:00.123456   12345 client.go:123] Failed to sync: x509: expired",
            2026,
        );
        assert_eq!(p.level, Some(Level::Error));
        assert_eq!(p.content, "Failed to sync: x509: expired");
        assert_eq!(p.timestamp_ms, Some(1_795_773_600_123));
        assert_eq!(parse("I1127 no header here", 2026).level, None);
    }
}
