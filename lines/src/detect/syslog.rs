//! Syslog: RFC 5424 and RFC 3164 (BSD), the latter also without `<PRI>` as files hold it.

use std::borrow::Cow;

use super::{Format, Parsed, next_token, time, trim_end};
use crate::level::Level;

/// Reads `<PRI>` at the start; returns the level and the rest.
fn pri(line: &str) -> Option<(Level, &str)> {
    let rest = line.strip_prefix('<')?;
    let end = rest.find('>')?;
    if end == 0 || end > 3 {
        return None;
    }
    let n: u16 = rest[..end].parse().ok()?;
    if n > 191 {
        return None;
    }
    Some((Level::from_syslog_severity((n % 8) as u8), &rest[end + 1..]))
}

/// `<PRI>1 TIMESTAMP HOST APP PROCID MSGID [SD...] MSG`.
pub(super) fn parse_5424(line: &str) -> Option<Parsed<'_>> {
    let (level, rest) = pri(line)?;
    let rest = rest.strip_prefix("1 ")?;
    let (ts_tok, rest) = next_token(rest);
    let ts = if ts_tok == "-" {
        None
    } else {
        let (ms, n) = time::parse_prefix(ts_tok, 1970)?;
        if n != ts_tok.len() {
            return None;
        }
        Some(ms)
    };
    let mut fields = Vec::new();
    let mut rest = rest;
    for key in ["host", "app", "procid", "msgid"] {
        let (tok, r) = next_token(rest);
        if tok.is_empty() {
            return None;
        }
        if tok != "-" {
            fields.push((Cow::Borrowed(key), Cow::Borrowed(tok)));
        }
        rest = r;
    }
    // Structured data: `-` or one or more `[id k="v"...]` elements.
    let msg = if let Some(r) = rest.strip_prefix('-') {
        r
    } else if rest.starts_with('[') {
        let end = sd_end(rest)?;
        fields.push((Cow::Borrowed("sd"), Cow::Borrowed(&rest[..end])));
        &rest[end..]
    } else {
        return None;
    };
    let msg = msg.strip_prefix(' ').unwrap_or(msg);
    let msg = msg.strip_prefix('\u{feff}').unwrap_or(msg);
    Some(Parsed {
        format: Format::Syslog5424,
        timestamp_ms: ts,
        level: Some(level),
        content: Cow::Borrowed(trim_end(msg)),
        fields,
    })
}

/// End (exclusive) of a run of `[...]` SD elements, honouring `\]` and quoted values.
fn sd_end(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() && b[i] == b'[' {
        let mut in_quote = false;
        i += 1;
        loop {
            let c = *b.get(i)?;
            match c {
                b'\\' => i += 1,
                b'"' => in_quote = !in_quote,
                b']' if !in_quote => break,
                _ => {}
            }
            i += 1;
        }
        i += 1;
    }
    Some(i)
}

/// `[<PRI>]Mmm dd hh:mm:ss HOST TAG[PID]: MSG` (also with an ISO timestamp after `<PRI>`).
pub(super) fn parse_3164(line: &str, year: i32) -> Option<Parsed<'_>> {
    let (level, rest) = match pri(line) {
        Some((l, r)) => (Some(l), r),
        None => (None, line),
    };
    let first = *rest.as_bytes().first()?;
    // Without <PRI>, insist on the BSD month-name timestamp so ISO-led headers go elsewhere.
    if level.is_none() && !first.is_ascii_alphabetic() {
        return None;
    }
    let (ts, n) = time::parse_prefix(rest, year)?;
    let rest = rest[n..].strip_prefix(' ')?;
    let (host, after_host) = next_token(rest);
    if host.is_empty() || host.ends_with(':') && level.is_none() && host.len() > 1 {
        // `Jun 14 15:16:01 kernel: msg` (no host) is still syslog: treat the token as the tag.
        return Some(with_tag(level, ts, None, rest));
    }
    Some(with_tag(level, ts, Some(host), after_host))
}

fn with_tag<'a>(level: Option<Level>, ts: i64, host: Option<&'a str>, rest: &'a str) -> Parsed<'a> {
    let mut fields = Vec::new();
    if let Some(h) = host {
        fields.push((Cow::Borrowed("host"), Cow::Borrowed(h)));
    }
    let mut content = rest;
    // TAG is up to 48 printable bytes without spaces, ending in ':' (optionally `[pid]:`).
    if let Some(colon) = rest
        .find(": ")
        .or_else(|| rest.strip_suffix(':').map(str::len))
    {
        let tag = &rest[..colon];
        if !tag.is_empty() && tag.len() <= 64 && !tag.contains(' ') {
            let (name, pid) = match tag.rfind('[') {
                Some(i) if tag.ends_with(']') => (&tag[..i], Some(&tag[i + 1..tag.len() - 1])),
                _ => (tag, None),
            };
            fields.push((Cow::Borrowed("tag"), Cow::Borrowed(name)));
            if let Some(p) = pid {
                fields.push((Cow::Borrowed("pid"), Cow::Borrowed(p)));
            }
            content = rest.get(colon + 2..).unwrap_or("");
        }
    }
    // Without <PRI>, a program that writes its own level first (`app: ERROR ...`) states it;
    // the word stays in the message.
    let level = level.or_else(|| {
        let first = content.split([' ', '\t']).next().unwrap_or("");
        super::header::level_token(first)
    });
    Parsed {
        format: Format::Syslog3164,
        timestamp_ms: Some(ts),
        level,
        content: Cow::Borrowed(trim_end(content)),
        fields,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc5424() {
        let p = parse_5424(
            r#"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application"] An application event"#,
        )
        .unwrap();
        assert_eq!(p.level, Some(Level::Info));
        assert_eq!(p.timestamp_ms, Some(1_065_910_455_003));
        assert_eq!(p.content, "An application event");
        assert_eq!(p.field("host"), Some("mymachine.example.com"));
        assert_eq!(p.field("app"), Some("evntslog"));
        let p = parse_5424("<34>1 - - - - - -").unwrap();
        assert_eq!(p.content, "");
        assert_eq!(p.level, Some(Level::Critical));
    }

    #[test]
    fn rfc3164() {
        let p = parse_3164(
            "<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick",
            2003,
        )
        .unwrap();
        assert_eq!(p.level, Some(Level::Critical));
        assert_eq!(p.content, "'su root' failed for lonvick");
        assert_eq!(p.timestamp_ms, Some(1_065_910_455_000));
        assert_eq!(p.field("tag"), Some("su"));
        let p = parse_3164(
            "Jun 14 15:16:01 combo sshd(pam_unix)[19939]: authentication failure; logname= uid=0 ",
            2005,
        )
        .unwrap();
        assert_eq!(p.content, "authentication failure; logname= uid=0");
        assert_eq!(p.field("pid"), Some("19939"));
        assert_eq!(p.field("tag"), Some("sshd(pam_unix)"));
        assert!(parse_3164("2024-01-01 10:00:00 INFO x", 2024).is_none());
    }
}
