//! Kubernetes CRI container log lines (`<rfc3339nano> stdout|stderr P|F <message>`) and the
//! joining of `P` (partial) fragments into whole lines, up to a size cap.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use super::{Format, Parsed, parse_inner, time};

/// Default cap for a joined CRI line: 1 MiB; the rest of an over-long line is discarded and the
/// result marked truncated.
pub const DEFAULT_CRI_MAX_BYTES: usize = 1024 * 1024;

/// Which stream of the container wrote the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CriStream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

impl CriStream {
    fn index(self) -> usize {
        match self {
            CriStream::Stdout => 0,
            CriStream::Stderr => 1,
        }
    }

    /// `stdout` or `stderr`.
    pub fn as_str(self) -> &'static str {
        match self {
            CriStream::Stdout => "stdout",
            CriStream::Stderr => "stderr",
        }
    }
}

/// One CRI line, split into its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CriLine<'a> {
    /// Time the runtime received the bytes, epoch ms.
    pub timestamp_ms: i64,
    /// The stream written to.
    pub stream: CriStream,
    /// `true` for a `P` fragment (more of the same line follows), `false` for `F`.
    pub partial: bool,
    /// The message (a fragment when `partial`).
    pub content: Cow<'a, str>,
    /// `true` when joining hit the size cap and dropped bytes.
    pub truncated: bool,
}

/// Splits one CRI line; `None` when it is not one.
pub fn parse_cri(line: &str) -> Option<CriLine<'_>> {
    let line = line.strip_suffix('\n').unwrap_or(line);
    let line = line.strip_suffix('\r').unwrap_or(line);
    let sp = line.find(' ')?;
    let ts_tok = &line[..sp];
    let (ms, n) = time::parse_prefix(ts_tok, 1970)?;
    if n != ts_tok.len() || !ts_tok.contains('T') {
        return None;
    }
    let rest = &line[sp + 1..];
    let (stream, rest) = if let Some(r) = rest.strip_prefix("stdout ") {
        (CriStream::Stdout, r)
    } else if let Some(r) = rest.strip_prefix("stderr ") {
        (CriStream::Stderr, r)
    } else {
        return None;
    };
    // The tag field is `P`, `F`, or future colon-separated tags whose first is P/F.
    let (tag, content) = match rest.find(' ') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, ""),
    };
    let partial = match tag.split(':').next() {
        Some("P") => true,
        Some("F") => false,
        _ => return None,
    };
    Some(CriLine {
        timestamp_ms: ms,
        stream,
        partial,
        content: Cow::Borrowed(content),
        truncated: false,
    })
}

/// Parses a CRI line as a [`Parsed`], looking inside the message for JSON/logfmt/header shape.
pub(super) fn parse(line: &str, year: i32) -> Option<Parsed<'_>> {
    let cri = parse_cri(line)?;
    let Cow::Borrowed(content) = cri.content else {
        return None;
    };
    let inner = parse_inner(content, year);
    let mut fields = inner.fields;
    fields.push((Cow::Borrowed("stream"), Cow::Borrowed(cri.stream.as_str())));
    if cri.partial {
        fields.push((Cow::Borrowed("partial"), Cow::Borrowed("true")));
    }
    Some(Parsed {
        format: Format::Cri,
        timestamp_ms: inner.timestamp_ms.or(Some(cri.timestamp_ms)),
        level: inner.level,
        content: inner.content,
        fields,
    })
}

/// Joins `P` fragments per stream. Pure state: feed it lines, get whole lines back.
#[derive(Debug, Clone)]
pub struct CriJoiner {
    max_bytes: usize,
    pending: [Option<Pending>; 2],
}

#[derive(Debug, Clone)]
struct Pending {
    timestamp_ms: i64,
    text: String,
    truncated: bool,
}

impl Default for CriJoiner {
    fn default() -> Self {
        Self::new(DEFAULT_CRI_MAX_BYTES)
    }
}

impl CriJoiner {
    /// A joiner whose joined lines hold at most `max_bytes` bytes of message.
    pub fn new(max_bytes: usize) -> Self {
        CriJoiner {
            max_bytes: max_bytes.max(1),
            pending: [None, None],
        }
    }

    /// Feeds one parsed CRI line. Returns a whole line when `line` completes one (`F`), or when a
    /// fragment alone reaches the cap; `None` while fragments accumulate.
    pub fn push<'a>(&mut self, line: CriLine<'a>) -> Option<CriLine<'a>> {
        let slot = &mut self.pending[line.stream.index()];
        if slot.is_none() && !line.partial {
            if line.content.len() <= self.max_bytes {
                return Some(line);
            }
            let cut = floor_char_boundary(&line.content, self.max_bytes);
            return Some(CriLine {
                content: Cow::Owned(line.content[..cut].to_owned()),
                truncated: true,
                ..line
            });
        }
        let p = slot.get_or_insert_with(|| Pending {
            timestamp_ms: line.timestamp_ms,
            text: String::new(),
            truncated: false,
        });
        let room = self.max_bytes.saturating_sub(p.text.len());
        if line.content.len() <= room {
            p.text.push_str(&line.content);
        } else {
            let cut = floor_char_boundary(&line.content, room);
            p.text.push_str(&line.content[..cut]);
            p.truncated = true;
        }
        if line.partial {
            return None;
        }
        let p = slot.take()?;
        Some(CriLine {
            timestamp_ms: p.timestamp_ms,
            stream: line.stream,
            partial: false,
            content: Cow::Owned(p.text),
            truncated: p.truncated,
        })
    }

    /// Emits whatever fragments are pending (end of file, container gone, or the caller's
    /// timeout), as lines marked `partial`.
    pub fn flush(&mut self) -> Vec<CriLine<'static>> {
        let mut out = Vec::new();
        for (i, slot) in self.pending.iter_mut().enumerate() {
            if let Some(p) = slot.take() {
                out.push(CriLine {
                    timestamp_ms: p.timestamp_ms,
                    stream: if i == 0 {
                        CriStream::Stdout
                    } else {
                        CriStream::Stderr
                    },
                    partial: true,
                    content: Cow::Owned(p.text),
                    truncated: p.truncated,
                });
            }
        }
        out
    }
}

/// Largest index `<= i` on a char boundary of `s`.
pub(crate) fn floor_char_boundary(s: &str, i: usize) -> usize {
    if i >= s.len() {
        return s.len();
    }
    let mut i = i;
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::level::Level;

    #[test]
    fn split() {
        let c = parse_cri("2016-10-06T00:17:09.669794202Z stdout F hello world\n").unwrap();
        assert_eq!(c.stream, CriStream::Stdout);
        assert!(!c.partial);
        assert_eq!(c.content, "hello world");
        assert_eq!(c.timestamp_ms, 1_475_713_029_669);
        assert!(parse_cri("2016-10-06T00:17:09Z stdin F x").is_none());
        assert!(parse_cri("2016-10-06T00:17:09Z stdout X x").is_none());
        assert_eq!(
            parse_cri("2016-10-06T00:17:09Z stderr F").unwrap().content,
            ""
        );
    }

    #[test]
    fn inner_shape() {
        let p = parse(
            r#"2016-10-06T00:17:09Z stderr F {"level":"error","msg":"boom"}"#,
            2016,
        )
        .unwrap();
        assert_eq!(p.format, Format::Cri);
        assert_eq!(p.level, Some(Level::Error));
        assert_eq!(p.content, "boom");
        assert_eq!(p.field("stream"), Some("stderr"));
    }

    #[test]
    fn join_partials_per_stream() {
        let mut j = CriJoiner::new(10);
        let l = |s: &'static str| parse_cri(s).unwrap();
        assert!(j.push(l("2016-10-06T00:00:01Z stdout P abc")).is_none());
        let e = j.push(l("2016-10-06T00:00:02Z stderr F err")).unwrap();
        assert_eq!(e.content, "err");
        let o = j.push(l("2016-10-06T00:00:03Z stdout F def")).unwrap();
        assert_eq!(o.content, "abcdef");
        assert_eq!(o.timestamp_ms, 1_475_712_001_000);
        assert!(!o.truncated);
        assert!(j.push(l("2016-10-06T00:00:04Z stdout P 0123456")).is_none());
        assert!(j.push(l("2016-10-06T00:00:04Z stdout P 789abc")).is_none());
        let o = j.push(l("2016-10-06T00:00:05Z stdout F tail")).unwrap();
        assert_eq!(o.content, "0123456789");
        assert!(o.truncated);
        assert!(j.push(l("2016-10-06T00:00:06Z stdout P left")).is_none());
        let f = j.flush();
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].content, "left");
        assert!(j.flush().is_empty());
    }
}
