//! Common and combined access logs: `host ident user [date] "request" status bytes ["ref" "ua"]`.

use std::borrow::Cow;

use super::{Format, Parsed, next_token, time, trim_end};
use crate::level::Level;

/// Parses a common/combined access log line; content is the request line onward.
pub(super) fn parse(line: &str) -> Option<Parsed<'_>> {
    let (remote, rest) = next_token(line);
    let (ident, rest) = next_token(rest);
    let (user, rest) = next_token(rest);
    if remote.is_empty() || ident.is_empty() || user.is_empty() {
        return None;
    }
    let rest = rest.strip_prefix('[')?;
    let (ts, n) = time::parse_prefix(rest, 1970)?;
    let rest = rest[n..].strip_prefix("] \"")?;
    let content = trim_end(&line[line.len() - rest.len() - 1..]);
    let q = rest.find('"')?;
    let request = &rest[..q];
    let (status, rest) = next_token(&rest[q + 1..]);
    let (bytes, rest) = next_token(rest);
    let code: u16 = status.parse().ok().filter(|c| (100..600).contains(c))?;
    let mut fields = vec![
        (Cow::Borrowed("remote"), Cow::Borrowed(remote)),
        (Cow::Borrowed("status"), Cow::Borrowed(status)),
    ];
    if user != "-" {
        fields.push((Cow::Borrowed("user"), Cow::Borrowed(user)));
    }
    let mut parts = request.splitn(3, ' ');
    if let (Some(method), Some(path)) = (parts.next(), parts.next()) {
        fields.push((Cow::Borrowed("method"), Cow::Borrowed(method)));
        fields.push((Cow::Borrowed("path"), Cow::Borrowed(path)));
    }
    if bytes != "-" && !bytes.is_empty() {
        fields.push((Cow::Borrowed("bytes"), Cow::Borrowed(bytes)));
    }
    // Combined format: "referer" "user-agent".
    let mut quoted = rest.split('"');
    quoted.next();
    if let Some(referer) = quoted.next() {
        fields.push((Cow::Borrowed("referer"), Cow::Borrowed(referer)));
        quoted.next();
        if let Some(ua) = quoted.next() {
            fields.push((Cow::Borrowed("user_agent"), Cow::Borrowed(ua)));
        }
    }
    let level = match code {
        500.. => Level::Error,
        400..=499 => Level::Warn,
        _ => Level::Info,
    };
    Some(Parsed {
        format: Format::AccessLog,
        timestamp_ms: Some(ts),
        level: Some(level),
        content: Cow::Borrowed(content),
        fields,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combined() {
        let p = parse(r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 503 2326 "http://www.example.com/start.html" "Mozilla/4.08""#).unwrap();
        assert_eq!(p.level, Some(Level::Error));
        assert_eq!(p.timestamp_ms, Some(971_211_336_000));
        assert!(p.content.starts_with("\"GET /apache_pb.gif HTTP/1.0\" 503"));
        assert_eq!(p.field("path"), Some("/apache_pb.gif"));
        assert_eq!(p.field("user"), Some("frank"));
        assert_eq!(p.field("user_agent"), Some("Mozilla/4.08"));
        assert_eq!(
            p.field("referer"),
            Some("http://www.example.com/start.html")
        );
    }

    #[test]
    fn common_and_garbage() {
        let p =
            parse(r#"10.0.0.1 - - [10/Oct/2000:13:55:36 +0000] "POST /x HTTP/1.1" 200 -"#).unwrap();
        assert_eq!(p.level, Some(Level::Info));
        assert_eq!(p.field("bytes"), None);
        assert!(parse("a b c [nope] \"x\" 200 1").is_none());
        assert!(parse(r#"a b c [10/Oct/2000:13:55:36 +0000] "x" 999 1"#).is_none());
    }
}
