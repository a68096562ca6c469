//! logfmt: `time=... level=warn msg="disk almost full" free=3%`.

use std::borrow::Cow;

use super::json::{LEVEL_KEYS, MESSAGE_KEYS, TIME_KEYS};
use super::{Format, Parsed, time, trim_end};
use crate::level::Level;

/// Parses a logfmt line: it must start with `key=` and hold at least two pairs.
pub(super) fn parse(line: &str, year: i32) -> Option<Parsed<'_>> {
    let pairs = pairs(trim_end(line))?;
    if pairs.len() < 2 {
        return None;
    }
    let mut content = None;
    let mut level = None;
    let mut ts = None;
    let mut fields = Vec::with_capacity(pairs.len());
    for (k, v) in pairs {
        if content.is_none() && MESSAGE_KEYS.contains(&k) {
            content = Some(v);
            continue;
        }
        if level.is_none() && LEVEL_KEYS.contains(&k) {
            level = Level::from_word(&v);
            if level.is_some() {
                continue;
            }
        }
        if ts.is_none() && TIME_KEYS.contains(&k) {
            ts = time::parse_prefix(&v, year).map(|(ms, _)| ms);
            if ts.is_some() {
                continue;
            }
        }
        fields.push((Cow::Borrowed(k), v));
    }
    Some(Parsed {
        format: Format::Logfmt,
        timestamp_ms: ts,
        level,
        content: content.unwrap_or(Cow::Borrowed(trim_end(line))),
        fields,
    })
}

fn is_key_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-' | b'@' | b'/')
}

/// Splits `k=v k="v w"` pairs; `None` if any token is not a pair (bare words are allowed only
/// as `key` flags after the first pair).
fn pairs(s: &str) -> Option<Vec<(&str, Cow<'_, str>)>> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut bare = 0;
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && b[i] == b' ' {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        let ks = i;
        while i < b.len() && is_key_byte(b[i]) {
            i += 1;
        }
        if i == ks {
            return None;
        }
        let key = &s[ks..i];
        if i >= b.len() || b[i] == b' ' {
            bare += 1;
            // One bare flag is logfmt; several bare words are prose.
            if out.is_empty() || bare > 1 {
                return None;
            }
            out.push((key, Cow::Borrowed("")));
            continue;
        }
        if b[i] != b'=' {
            return None;
        }
        i += 1;
        if i < b.len() && b[i] == b'"' {
            i += 1;
            let vs = i;
            let mut escaped = false;
            let mut has_escape = false;
            while i < b.len() {
                match b[i] {
                    b'\\' if !escaped => {
                        escaped = true;
                        has_escape = true;
                    }
                    b'"' if !escaped => break,
                    _ => escaped = false,
                }
                i += 1;
            }
            if i >= b.len() {
                return None;
            }
            let raw = &s[vs..i];
            i += 1;
            let v = if has_escape {
                Cow::Owned(unescape(raw))
            } else {
                Cow::Borrowed(raw)
            };
            out.push((key, v));
        } else {
            let vs = i;
            while i < b.len() && b[i] != b' ' {
                i += 1;
            }
            out.push((key, Cow::Borrowed(&s[vs..i])));
        }
    }
    Some(out)
}

fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some(other) => out.push(other),
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typical() {
        let p = parse(
            r#"time=2024-01-02T03:04:05Z level=warn msg="disk \"almost\" full" free=3% retry"#,
            2024,
        )
        .unwrap();
        assert_eq!(p.level, Some(Level::Warn));
        assert_eq!(p.content, r#"disk "almost" full"#);
        assert_eq!(p.timestamp_ms, Some(1_704_164_645_000));
        assert_eq!(p.field("free"), Some("3%"));
        assert_eq!(p.field("retry"), Some(""));
    }

    #[test]
    fn rejects_prose() {
        assert!(parse("hello world", 2024).is_none());
        assert!(parse("a=1", 2024).is_none());
        assert!(parse("a=\"unterminated b=2", 2024).is_none());
        assert!(parse("x=1 and then prose: here", 2024).is_none());
    }
}
