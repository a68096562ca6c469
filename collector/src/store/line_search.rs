//! A bounded substring search over one host's archived raw lines, newest first: the host
//! page's search box and `GET /api/v1/lines?q=` read through it.
//!
//! The archive has no text index, so a search decodes segments from the newest back and
//! stops after `max_scan` lines (`api.max_line_search_scan`), `limit` matches or
//! [`MAX_PAGE_BYTES`] of matched text, whichever comes first; its cursor resumes the
//! search at the line before the last one it read.

use sqlx::Row;

use super::cursor::Cursor;
use super::{LineRecord, MAX_PAGE_BYTES, MAX_PAGE_LINES, SegmentRow, Store, StoreError, clean};
use super::{corrupt, sql};

/// Segment rows fetched per index query while searching backwards.
const SEGMENTS_PER_QUERY: i64 = 32;

/// One page of a raw-line search.
#[derive(Debug, Clone, PartialEq)]
pub struct LineSearch {
    /// Matching lines, newest first.
    pub lines: Vec<LineRecord>,
    /// Lines read by this request (at most its `max_scan`).
    pub scanned: u64,
    /// Pass back to search older lines; `None` when the oldest stored line was read.
    pub next_cursor: Option<String>,
}

/// Whether `line` contains `needle` (already lower-cased), ignoring case.
fn contains_folded(line: &str, needle: &str) -> bool {
    if needle.is_empty() {
        true
    } else if line.is_ascii() && needle.is_ascii() {
        line.as_bytes()
            .windows(needle.len().max(1))
            .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
    } else {
        line.to_lowercase().contains(needle)
    }
}

impl Store {
    /// `host`'s lines containing `needle` (case-insensitive), newest first, starting
    /// before `cursor` (from a previous page) or at the newest stored line. Reads at
    /// most `max_scan` lines and returns at most `limit` (clamped to
    /// `1..=MAX_PAGE_LINES`) matches; `next_cursor` is set whenever older lines remain
    /// unread.
    pub async fn search_lines(
        &self,
        host: &str,
        needle: &str,
        cursor: Option<&str>,
        limit: u32,
        max_scan: u64,
    ) -> Result<LineSearch, StoreError> {
        let before = cursor.map(Cursor::parse).transpose()?;
        let limit = limit.clamp(1, MAX_PAGE_LINES) as usize;
        let max_scan = max_scan.max(1);
        let needle = needle.to_lowercase();
        let host = clean(host);
        let mut out: Vec<LineRecord> = Vec::new();
        let mut page_bytes = 0usize;
        let mut scanned = 0u64;
        let mut to_id = before.map_or(i64::MAX, |c| c.segment_id);
        let full = |out: &Vec<LineRecord>, bytes: usize, scanned: u64| {
            out.len() >= limit || bytes >= MAX_PAGE_BYTES || scanned >= max_scan
        };
        loop {
            let rows = sqlx::query(sql::HOST_SEGMENTS_BACKWARDS)
                .bind(host.as_ref())
                .bind(to_id)
                .bind(SEGMENTS_PER_QUERY)
                .fetch_all(&self.pool)
                .await?;
            let Some(last) = rows.last() else {
                return Ok(LineSearch {
                    lines: out,
                    scanned,
                    next_cursor: None,
                });
            };
            to_id = last.try_get::<i64, _>(0)?.saturating_sub(1);
            for row in rows {
                let seg = SegmentRow::from_row(&row)?;
                // Lines `0..end` of this segment are still to be read.
                let end = match before {
                    Some(c) if c.segment_id == seg.id => i64::from(c.line_no).min(seg.line_count),
                    _ => seg.line_count,
                };
                let Ok(end) = u32::try_from(end) else {
                    continue;
                };
                if end == 0 {
                    continue;
                }
                if full(&out, page_bytes, scanned) {
                    return Ok(LineSearch {
                        lines: out,
                        scanned,
                        next_cursor: Some(resume(seg.id, end)),
                    });
                }
                let Some(payload) = self.load_segment(&seg).await? else {
                    continue; // deleted by retention while we read
                };
                let seq = u64::try_from(seg.seq).unwrap_or(0);
                let sources = &payload.sources;
                for (line_no, entry) in (0..end).rev().zip(payload.entries.into_iter().rev().skip(
                    // `load_segment` checked the entry count against `line_count`.
                    usize::try_from(seg.line_count - i64::from(end)).unwrap_or(0),
                )) {
                    if full(&out, page_bytes, scanned) {
                        return Ok(LineSearch {
                            lines: out,
                            scanned,
                            next_cursor: Some(resume(seg.id, line_no + 1)),
                        });
                    }
                    scanned += 1;
                    if !contains_folded(&entry.line, &needle) {
                        continue;
                    }
                    page_bytes += entry.line.len();
                    let source = sources
                        .get(entry.source as usize)
                        .cloned()
                        .ok_or_else(|| corrupt(seg.id, "entry names an unknown source"))?;
                    out.push(LineRecord {
                        segment_id: seg.id,
                        seq,
                        line_no,
                        ts_ms: entry.ts_ms,
                        source,
                        line: entry.line,
                        level: entry.level,
                        score: entry.score,
                    });
                }
            }
        }
    }
}

/// The cursor of a search that has read line `line_no` of `segment_id` and everything
/// after it: the next page starts at the line before.
fn resume(segment_id: i64, line_no: u32) -> String {
    Cursor {
        segment_id,
        line_no,
    }
    .encode()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_case() {
        let cases = [
            ("Payment TIMEOUT after 30s", "timeout", true),
            ("payment ok", "timeout", false),
            ("Überweisung FEHLGESCHLAGEN", "fehlgeschlagen", true),
            ("ÜBERWEISUNG", "überweisung", true),
            ("short", "much longer needle", false),
            ("anything", "", true),
        ];
        for (line, needle, want) in cases {
            assert_eq!(contains_folded(line, needle), want, "{line:?} {needle:?}");
        }
    }
}
