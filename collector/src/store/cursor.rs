//! Read cursors for a host's lines: pure encoding and validation, no I/O.
//!
//! A cursor names the last line a page returned, as (segment id, line number within
//! the segment). Segment ids are never reused, so a cursor stays meaningful after
//! retention deleted its segment: reading resumes at the next surviving segment.
//! The text form `v1.<segment>.<line>` is opaque to clients and strictly parsed.

use super::StoreError;

/// Longest cursor text accepted, checked before parsing.
const MAX_CURSOR_LEN: usize = 64;
const PREFIX: &str = "v1.";

/// Position of the last line a page returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Cursor {
    pub(super) segment_id: i64,
    pub(super) line_no: u32,
}

impl Cursor {
    /// The opaque text handed to clients.
    pub(super) fn encode(self) -> String {
        format!("{PREFIX}{}.{}", self.segment_id, self.line_no)
    }

    /// Parses text produced by [`Cursor::encode`]; anything else is `BadCursor`.
    pub(super) fn parse(text: &str) -> Result<Cursor, StoreError> {
        let bad = |why: &str| StoreError::BadCursor(why.to_owned());
        if text.len() > MAX_CURSOR_LEN {
            return Err(bad("too long"));
        }
        let rest = text
            .strip_prefix(PREFIX)
            .ok_or_else(|| bad("unknown format"))?;
        let (segment, line) = rest
            .split_once('.')
            .ok_or_else(|| bad("missing line number"))?;
        // `str::parse` accepts a leading `+`; a canonical cursor has digits only.
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(segment) || !digits(line) {
            return Err(bad("not a number"));
        }
        let segment_id: i64 = segment.parse().map_err(|_| bad("segment out of range"))?;
        let line_no: u32 = line.parse().map_err(|_| bad("line out of range"))?;
        Ok(Cursor {
            segment_id,
            line_no,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for c in [
            Cursor {
                segment_id: 0,
                line_no: 0,
            },
            Cursor {
                segment_id: 42,
                line_no: 7,
            },
            Cursor {
                segment_id: i64::MAX,
                line_no: u32::MAX,
            },
        ] {
            assert_eq!(Cursor::parse(&c.encode()).unwrap(), c);
        }
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "v1.",
            "v1.1",
            "v1.1.",
            "v1..1",
            "v1.-1.0",
            "v1.+1.0",
            "v1.1.-1",
            "v1.1.2.3",
            "v2.1.2",
            "v1.99999999999999999999.0",
            "v1.1.4294967296",
            "v1.1.2\n",
            "\u{1F600}",
        ] {
            assert!(
                matches!(Cursor::parse(bad), Err(StoreError::BadCursor(_))),
                "{bad:?}"
            );
        }
        assert!(Cursor::parse(&format!("v1.1.{}", "0".repeat(100))).is_err());
    }
}
