//! Generic "date time [pid] LEVEL [thread] component: message" headers.
//!
//! One recogniser instead of one parser per product: it reads up to [`MAX_HEADER_TOKENS`]
//! header tokens (timestamps in any shape from [`super::time`], bracketed groups, pids, host or
//! node names), requires a timestamp and then a level word, and finally skips what commonly sits
//! between the level and the message: one `[thread]`/`[context]` group, one `component:` (or a
//! dotted component followed by a bracket group) and a lone `-` separator.
//! That covers log4j/logback/Python defaults, Hadoop, HDFS, Spark, Zookeeper, OpenStack, BGL and
//! the Apache error log.

use std::borrow::Cow;

use super::{Format, Parsed, time, trim_end};
use crate::level::Level;

/// How many tokens may precede the level word.
pub(super) const MAX_HEADER_TOKENS: usize = 9;
/// Longest bracket group the recogniser will skip.
const MAX_BRACKET: usize = 256;

/// Parses a header line; `None` if no timestamp-then-level header is found.
pub(super) fn parse(line: &str, year: i32) -> Option<Parsed<'_>> {
    let b = line.as_bytes();
    let mut pos = 0;
    let mut ts = None;
    let mut level = None;
    let mut tokens = 0;
    // Whether the previous token was a timestamp: a lone level letter may follow one.
    let mut after_ts = false;
    while tokens < MAX_HEADER_TOKENS {
        pos = skip_spaces(b, pos);
        let rest = line.get(pos..)?;
        if rest.is_empty() {
            return None;
        }
        if let Some((ms, n)) = time::parse_prefix(rest, year) {
            ts.get_or_insert(ms);
            pos += n;
            tokens += 1;
            after_ts = true;
            continue;
        }
        if b[pos] == b'[' {
            let end = bracket_end(b, pos)?;
            let inner = &line[pos + 1..end];
            pos = end + 1;
            tokens += 1;
            // `[2026-11-28 10:00:01]`, also with one token after the time (`#1234`, a zone).
            if let Some((ms, n)) = time::parse_prefix(inner, year)
                && inner[n..].split_whitespace().count() <= 1
            {
                ts.get_or_insert(ms);
                after_ts = true;
                continue;
            }
            after_ts = false;
            if ts.is_some()
                && let Some(l) = Level::from_word_strict(inner.trim())
            {
                level = Some(l);
                break;
            }
            continue;
        }
        let end = token_end(b, pos);
        let tok = &line[pos..end];
        pos = end;
        if ts.is_some()
            && let Some(l) =
                level_token(tok).or_else(|| after_ts.then(|| level_letter(tok)).flatten())
        {
            level = Some(l);
            break;
        }
        after_ts = false;
        tokens += 1;
    }
    let level = level?;
    let mut fields = Vec::new();
    let mut brackets = 0;
    let mut component = false;
    for _ in 0..4 {
        pos = skip_spaces(b, pos);
        if pos >= b.len() {
            break;
        }
        if b[pos] == b'[' && brackets == 0 && !component {
            // Two or more bracket groups right after the level are header fields (a logger, a
            // node, an error code: Elasticsearch, MySQL); one alone may be the message's own.
            let groups = bracket_run(b, pos);
            if groups.len() >= 2 {
                for &(start, end) in &groups {
                    fields.push((
                        Cow::Borrowed("context"),
                        Cow::Borrowed(line[start + 1..end].trim()),
                    ));
                }
                pos = groups[groups.len() - 1].1 + 1;
                break;
            }
        }
        if b[pos] == b'[' && brackets == 0 {
            let Some(end) = bracket_end(b, pos) else {
                break;
            };
            // Skip the group only when a separator or component follows it; otherwise it is
            // part of the message (Apache's `[client 1.2.3.4] ...`).
            let after = skip_spaces(b, end + 1);
            let next_end = token_end(b, after);
            let next = &line[after..next_end];
            let dotted = next.strip_suffix(':').is_some_and(is_dotted_component)
                || logger_then_dash(line, after);
            if !(component || dotted || is_separator(next)) {
                break;
            }
            fields.push((Cow::Borrowed("context"), Cow::Borrowed(&line[pos + 1..end])));
            pos = end + 1;
            brackets += 1;
            continue;
        }
        let end = token_end(b, pos);
        let tok = &line[pos..end];
        if is_separator(tok) {
            pos = end;
            break;
        }
        if component {
            break;
        }
        if let Some(name) = tok.strip_suffix(':')
            && (is_dotted_component(name) || program_tag(name).is_some())
            && end < b.len()
        {
            match program_tag(name) {
                Some((program, pid)) => {
                    fields.push((Cow::Borrowed("component"), Cow::Borrowed(program)));
                    fields.push((Cow::Borrowed("pid"), Cow::Borrowed(pid)));
                }
                None => fields.push((Cow::Borrowed("component"), Cow::Borrowed(name))),
            }
            component = true;
            pos = end;
            continue;
        }
        // logback's `[thread] com.shop.Logger - message`.
        if !component && is_dotted_component(tok) && logger_then_dash(line, pos) {
            fields.push((Cow::Borrowed("component"), Cow::Borrowed(tok)));
            component = true;
            pos = end;
            continue;
        }
        let next = skip_spaces(b, end);
        if brackets == 0 && b.get(next) == Some(&b'[') && tok.contains('.') && is_component(tok) {
            fields.push((Cow::Borrowed("component"), Cow::Borrowed(tok)));
            component = true;
            pos = end;
            continue;
        }
        break;
    }
    let pos = skip_tail(line, pos, &mut fields);
    Some(Parsed {
        format: Format::Header,
        timestamp_ms: ts,
        level: Some(level),
        content: Cow::Borrowed(trim_end(line.get(pos..).unwrap_or(""))),
        fields,
    })
}

/// Most tokens [`skip_tail`] drops between the header and the message.
const MAX_TAIL_TOKENS: usize = 4;
/// Most consecutive bracket groups taken for header fields after the level.
const MAX_BRACKET_RUN: usize = 3;
/// File extensions of source files, for `file.go:42` caller fields.
const SOURCE_EXTENSIONS: [&str; 16] = [
    "go", "py", "java", "rs", "c", "cc", "cpp", "h", "js", "ts", "rb", "cs", "kt", "scala", "php",
    "ex",
];

/// A lone separator between header fields and the message.
fn is_separator(tok: &str) -> bool {
    matches!(tok, "-" | "|" | ":" | "--" | "::" | "-->" | "=>" | ">")
}

/// Skips what sits between the level (or component) and the message: separators, a caller's
/// source location (`server/http.go:118`, loguru's `app.db:connect:42`) and nginx's
/// `pid#tid:`. Never skips the last token, so a message is never emptied.
fn skip_tail<'a>(line: &'a str, pos: usize, fields: &mut Vec<super::Field<'a>>) -> usize {
    let b = line.as_bytes();
    let mut pos = skip_spaces(b, pos);
    for _ in 0..MAX_TAIL_TOKENS {
        let end = token_end(b, pos);
        let tok = &line[pos..end];
        let next = skip_spaces(b, end);
        if tok.is_empty() || next >= b.len() {
            break;
        }
        if is_source_location(tok) {
            fields.push((Cow::Borrowed("caller"), Cow::Borrowed(tok)));
        } else if is_pid_tid(tok) {
            fields.push((
                Cow::Borrowed("pid"),
                Cow::Borrowed(tok.trim_end_matches(':')),
            ));
        } else if !is_separator(tok) {
            break;
        }
        pos = next;
    }
    pos
}

/// `file.go:42`, `pkg/server/http.go:118:`, `Checkout.java:88`, or loguru's `module:func:42`.
fn is_source_location(tok: &str) -> bool {
    let tok = tok.strip_suffix(':').unwrap_or(tok);
    let Some((path, line)) = tok.rsplit_once(':') else {
        return false;
    };
    let ok_line = !line.is_empty() && line.len() <= 7 && line.bytes().all(|c| c.is_ascii_digit());
    let ok_chars = path.bytes().all(|c| {
        c.is_ascii_alphanumeric()
            || matches!(c, b'_' | b'.' | b'/' | b'-' | b'$' | b'<' | b'>' | b':')
    });
    if !ok_line || path.is_empty() || !ok_chars {
        return false;
    }
    if path.contains(':') {
        // `module:function`: every part named, none numeric (an IPv6 address or a port is not).
        return path
            .split(':')
            .all(|p| p.bytes().any(|c| c.is_ascii_alphabetic() || c == b'_') && !p.is_empty());
    }
    let file = path.rsplit('/').next().unwrap_or(path);
    file.rsplit_once('.')
        .is_some_and(|(stem, ext)| !stem.is_empty() && SOURCE_EXTENSIONS.contains(&ext))
}

/// nginx's `1234#0:` (process id and thread id).
fn is_pid_tid(tok: &str) -> bool {
    let Some(t) = tok.strip_suffix(':') else {
        return false;
    };
    let Some((pid, tid)) = t.split_once('#') else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.len() <= 10 && s.bytes().all(|c| c.is_ascii_digit());
    digits(pid) && digits(tid)
}

/// Consecutive bracket groups from `pos` (spaces between them allowed), at most
/// [`MAX_BRACKET_RUN`]: `(start, end)` byte offsets of each `[` and its `]`.
fn bracket_run(b: &[u8], mut pos: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    while out.len() < MAX_BRACKET_RUN && b.get(pos) == Some(&b'[') {
        let Some(end) = bracket_end(b, pos) else {
            break;
        };
        out.push((pos, end));
        pos = skip_spaces(b, end + 1);
    }
    // The message must not be empty.
    if pos >= b.len() {
        out.clear();
    }
    out
}

/// A one-letter level right after a timestamp (`2026/11/28 10:00:01.123456 W ...`).
fn level_letter(tok: &str) -> Option<Level> {
    Some(match tok {
        "D" => Level::Debug,
        "I" => Level::Info,
        "W" => Level::Warn,
        "E" => Level::Error,
        "F" => Level::Critical,
        _ => return None,
    })
}

/// A level written as a header field: `INFO`, `WARN:`, `info:`; not a lower-case prose word.
/// PostgreSQL's `LOG:` is its informational level.
pub(super) fn level_token(tok: &str) -> Option<Level> {
    if matches!(tok, "LOG" | "LOG:") {
        return Some(Level::Info);
    }
    let (word, colon) = match tok.strip_suffix(':') {
        Some(w) => (w, true),
        None => (tok, false),
    };
    let upper = word.bytes().all(|c| c.is_ascii_uppercase());
    if !upper && !colon {
        return None;
    }
    Level::from_word_strict(word)
}

/// A `package.Class` / `Outer$Inner` style component: without a dot or `$` a `word:` is more
/// likely the start of the message (`ciod: ...`, `Kind: ...`).
fn is_dotted_component(s: &str) -> bool {
    is_component(s) && s.bytes().any(|c| c == b'.' || c == b'$')
}

/// `program[pid]`, as syslog-style tags write it: `printerd[812]` gives `("printerd", "812")`.
fn program_tag(s: &str) -> Option<(&str, &str)> {
    let (program, rest) = s.split_once('[')?;
    let pid = rest.strip_suffix(']')?;
    let ok = !program.is_empty()
        && program.len() <= 64
        && program
            .bytes()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic())
        && program
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'/'))
        && !pid.is_empty()
        && pid.len() <= 10
        && pid.bytes().all(|c| c.is_ascii_digit());
    ok.then_some((program, pid))
}

/// Whether the token at `pos` is a dotted logger name followed by a lone `-` separator.
fn logger_then_dash(line: &str, pos: usize) -> bool {
    let b = line.as_bytes();
    let end = token_end(b, pos);
    let after = skip_spaces(b, end);
    is_dotted_component(&line[pos..end]) && &line[after..token_end(b, after)] == "-"
}

fn is_component(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 160
        && s.bytes().any(|c| c.is_ascii_alphabetic())
        && s.bytes()
            .all(|c| c.is_ascii_graphic() && !matches!(c, b'"' | b'=' | b',' | b';' | b'\''))
}

pub(super) fn skip_spaces(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && (b[i] == b' ' || b[i] == b'\t') {
        i += 1;
    }
    i
}

fn token_end(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i] != b' ' && b[i] != b'\t' {
        i += 1;
    }
    i
}

/// Index of the `]` matching the `[` at `start` (nesting allowed), within [`MAX_BRACKET`] bytes.
pub(super) fn bracket_end(b: &[u8], start: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (i, &c) in b.iter().enumerate().skip(start).take(MAX_BRACKET) {
        match c {
            b'[' => depth += 1,
            b']' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn content(line: &str) -> String {
        parse(line, 2024)
            .map(|p| p.content.into_owned())
            .unwrap_or_else(|| "<none>".into())
    }

    #[test]
    fn loghub_shapes() {
        assert_eq!(
            content(
                "081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 for block blk_3 terminating"
            ),
            "PacketResponder 1 for block blk_3 terminating"
        );
        assert_eq!(
            content(
                "17/06/09 20:10:40 INFO spark.SecurityManager: Changing view acls to: yarn,curi"
            ),
            "Changing view acls to: yarn,curi"
        );
        assert_eq!(
            content(
                "2015-10-18 18:01:48,963 INFO [main] org.apache.hadoop.mapreduce.v2.app.MRAppMaster: Executing with tokens:"
            ),
            "Executing with tokens:"
        );
        assert_eq!(
            content(
                "2015-07-29 17:41:44,747 - INFO  [QuorumPeer[myid=1]/0:0:0:0:0:0:0:0:2181:FastLeaderElection@774] - Notification time out: 3200"
            ),
            "Notification time out: 3200"
        );
        assert_eq!(
            content("[Sun Dec 04 04:47:44 2005] [error] mod_jk child workerEnv in error state 6"),
            "mod_jk child workerEnv in error state 6"
        );
        assert_eq!(
            content(
                "1117838570 2005.06.03 R02-M1-N0-C:J12-U11 2005-06-03-15.42.50.675872 R02-M1-N0-C:J12-U11 RAS KERNEL INFO instruction cache parity error corrected"
            ),
            "instruction cache parity error corrected"
        );
        assert_eq!(
            content(
                r#"nova-api.log.1.2017-05-16_13:53:08 2017-05-16 00:00:00.008 25746 INFO nova.osapi_compute.wsgi.server [req-38101a0b - - -] 10.11.10.1 "GET /v2 HTTP/1.1" status: 200"#
            ),
            r#"10.11.10.1 "GET /v2 HTTP/1.1" status: 200"#
        );
    }

    #[test]
    fn fields_and_level() {
        let p = parse(
            "2024-01-02 03:04:05,006 ERROR [pool-1] com.shop.Pos: payment declined",
            2024,
        )
        .unwrap();
        assert_eq!(p.level, Some(Level::Error));
        assert_eq!(p.field("component"), Some("com.shop.Pos"));
        assert_eq!(p.field("context"), Some("pool-1"));
        assert_eq!(p.timestamp_ms, Some(1_704_164_645_006));
    }

    #[test]
    fn logback_and_program_tags() {
        let p = parse(
            "2026-11-27 08:00:00,123 ERROR [http-nio-8080-exec-3] com.store.pos.Checkout - Checkout failed",
            2024,
        )
        .unwrap();
        assert_eq!(p.content, "Checkout failed");
        assert_eq!(p.field("component"), Some("com.store.pos.Checkout"));
        assert_eq!(p.field("context"), Some("http-nio-8080-exec-3"));
        let p = parse(
            "2026-11-27T08:00:00.123Z WARN printerd[812]: Printer TM-T88 offline",
            2024,
        )
        .unwrap();
        assert_eq!(p.content, "Printer TM-T88 offline");
        assert_eq!(p.field("component"), Some("printerd"));
        assert_eq!(p.field("pid"), Some("812"));
        // A dotted word followed by something else than `-` stays in the message.
        assert_eq!(
            content("2024-01-02 03:04:05 INFO [x] see example.com for details"),
            "[x] see example.com for details"
        );
    }

    #[test]
    fn not_headers() {
        assert!(parse("hello INFO world", 2024).is_none());
        assert!(parse("2024-01-02 03:04:05 the user got an alert", 2024).is_none());
        assert!(parse("2024-01-02 [unclosed INFO x", 2024).is_none());
    }
}
