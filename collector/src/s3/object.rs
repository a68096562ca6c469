//! One object's bytes to classified lines: gzip detected by its magic bytes (never the
//! key's name), binary content refused, the decompression-bomb limit enforced while
//! reading, and each physical line judged like an agent judges it (`Detector` + `Judge`).
//!
//! Lines go out in batches of [`BATCH_LINES`] as `BatchPayload`s with one source,
//! `s3://bucket/key`; entry `i` of batch `b` is line `b * BATCH_LINES + i + 1` of the object.
//! Everything here is synchronous and clock-free: run it on a blocking thread.

use std::io::{self, BufRead, BufReader, Read};

use fleetlog_lines::detect::{Detector, DetectorConfig};
use fleetlog_lines::judge::{Context, Judge};
use fleetlog_lines::level::Level as LineLevel;
use fleetlog_protocol::{BatchPayload, Entry, Level};

use crate::analyze::input::{BINARY_PROBE_BYTES, Line, LineReader};

/// Lines per stored batch (the reference analyser's batch size).
pub const BATCH_LINES: usize = 1_000;
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const READ_BUFFER_BYTES: usize = 64 * 1024;

/// Why an object was not (fully) analysed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ObjectError {
    /// Larger than `s3.max_object_bytes`: skipped before download.
    #[error("object of {size} bytes is larger than s3.max_object_bytes ({max})")]
    TooLarge { size: u64, max: u64 },
    /// A NUL byte in the first 8 KiB (after decompression): not a text log.
    #[error("binary object (NUL byte in the first 8 KiB), skipped")]
    Binary,
    /// Decompressed to more than `s3.max_decompressed_bytes`.
    #[error("decompressed size exceeds s3.max_decompressed_bytes ({max}): decompression bomb?")]
    Bomb { max: u64 },
    /// A gzip object that does not decompress.
    #[error("corrupt gzip after line {after_line}: {detail}")]
    CorruptGzip { after_line: u64, detail: String },
    /// Reading failed otherwise.
    #[error("read failed after line {after_line}: {detail}")]
    Read { after_line: u64, detail: String },
}

impl ObjectError {
    /// Skipped (nothing to analyse, reported) rather than failed (an error on the object).
    pub fn is_skip(&self) -> bool {
        matches!(self, ObjectError::TooLarge { .. } | ObjectError::Binary)
    }
}

/// The bomb limit, as an error inside `io::Error` so it survives the line reader.
#[derive(Debug)]
struct BombError;

impl std::fmt::Display for BombError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("decompression limit reached")
    }
}

impl std::error::Error for BombError {}

/// A reader that fails once more than `left` bytes came out of `inner`.
struct Capped<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = buf
            .len()
            .min(usize::try_from(self.left.saturating_add(1)).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        if n as u64 > self.left {
            return Err(io::Error::other(BombError));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// What reading an object produced.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ObjectSummary {
    pub lines: u64,
    /// Lines that become event rows (warn or worse, or scored unhealthy).
    pub events: u64,
    pub gzip: bool,
}

/// An object's bytes as a line reader: gzip by magic, bomb limit, binary probe.
pub fn open(
    bytes: Vec<u8>,
    max_decompressed: u64,
) -> Result<(LineReader<Box<dyn BufRead + Send>>, bool), ObjectError> {
    let gzip = bytes.starts_with(&GZIP_MAGIC);
    let raw = io::Cursor::new(bytes);
    let decoded: Box<dyn Read + Send> = if gzip {
        Box::new(flate2::bufread::MultiGzDecoder::new(raw))
    } else {
        Box::new(raw)
    };
    let mut capped = Capped {
        inner: decoded,
        left: max_decompressed,
    };
    let mut head = Vec::with_capacity(BINARY_PROBE_BYTES);
    if let Err(e) = (&mut capped)
        .take(BINARY_PROBE_BYTES as u64)
        .read_to_end(&mut head)
    {
        return Err(read_error(&e, gzip, 0, max_decompressed));
    }
    if head.contains(&0) {
        return Err(ObjectError::Binary);
    }
    let stream = io::Cursor::new(head).chain(capped);
    let reader: Box<dyn BufRead + Send> =
        Box::new(BufReader::with_capacity(READ_BUFFER_BYTES, stream));
    Ok((LineReader::new(reader), gzip))
}

fn read_error(e: &io::Error, gzip: bool, after_line: u64, max: u64) -> ObjectError {
    if e.get_ref().is_some_and(|inner| inner.is::<BombError>()) {
        return ObjectError::Bomb { max };
    }
    let detail = e.to_string();
    if gzip {
        ObjectError::CorruptGzip { after_line, detail }
    } else {
        ObjectError::Read { after_line, detail }
    }
}

/// Judges lines like the agent: one format detector per object, one verdict per line.
pub struct LineJudge {
    detector: Detector,
    judge: Judge,
}

impl std::fmt::Debug for LineJudge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LineJudge")
    }
}

impl LineJudge {
    /// A judge for one object; `year` is for timestamps without one (RFC 3164).
    pub fn new(year: i32) -> LineJudge {
        LineJudge {
            detector: Detector::new(DetectorConfig::with_year(year)),
            judge: Judge::default(),
        }
    }

    /// The entry for `line`: its own time if it has one, else `fallback_ts_ms`.
    pub fn entry(&mut self, line: String, fallback_ts_ms: i64) -> Entry {
        let parsed = self.detector.parse(&line);
        let v = self.judge.judge(&parsed, Context::default());
        let ts_ms = parsed.timestamp_ms.unwrap_or(fallback_ts_ms);
        let level = wire_level(v.level);
        let score = v.confidence;
        drop(parsed);
        Entry {
            ts_ms,
            source: 0,
            line,
            level,
            score,
            ..Entry::default()
        }
    }
}

/// The agent's mapping (`agent/src/classify.rs`): no level is info.
fn wire_level(level: Option<LineLevel>) -> Level {
    match level {
        Some(LineLevel::Trace) => Level::Trace,
        Some(LineLevel::Debug) => Level::Debug,
        Some(LineLevel::Info) | None => Level::Info,
        Some(LineLevel::Warn) => Level::Warn,
        Some(LineLevel::Error) => Level::Error,
        Some(LineLevel::Critical) => Level::Critical,
    }
}

/// Whether the store makes an event row of `e` (its rule: warn or worse, or unhealthy).
pub fn is_event(e: &Entry) -> bool {
    e.level >= Level::Warn || e.score >= fleetlog_lines::score::Severity::UNHEALTHY_AT
}

/// Reads an object's lines and hands batches of [`BATCH_LINES`] to `emit` (with the batch's
/// index); stops at the first error `emit` returns. `skip_batches` batches are read but not
/// emitted (none today; kept for resuming inside very large objects).
pub fn analyze<E>(
    bytes: Vec<u8>,
    source: &str,
    max_decompressed: u64,
    fallback_ts_ms: i64,
    year: i32,
    mut emit: impl FnMut(u64, BatchPayload) -> Result<(), E>,
) -> Result<Result<ObjectSummary, ObjectError>, E> {
    let (mut reader, gzip) = match open(bytes, max_decompressed) {
        Ok(r) => r,
        Err(e) => return Ok(Err(e)),
    };
    let mut judge = LineJudge::new(year);
    let mut summary = ObjectSummary {
        gzip,
        ..ObjectSummary::default()
    };
    let mut entries: Vec<Entry> = Vec::with_capacity(BATCH_LINES);
    let mut batch = 0u64;
    loop {
        match reader.next_line() {
            Ok(Some(Line { text, .. })) => {
                let e = judge.entry(text, fallback_ts_ms);
                summary.lines += 1;
                summary.events += u64::from(is_event(&e));
                entries.push(e);
                if entries.len() == BATCH_LINES {
                    emit(batch, payload(source, std::mem::take(&mut entries)))?;
                    batch += 1;
                }
            }
            Ok(None) => break,
            Err(e) => {
                return Ok(Err(read_error(
                    &e,
                    gzip,
                    reader.lines_read(),
                    max_decompressed,
                )));
            }
        }
    }
    if !entries.is_empty() {
        emit(batch, payload(source, entries))?;
    }
    Ok(Ok(summary))
}

fn payload(source: &str, entries: Vec<Entry>) -> BatchPayload {
    BatchPayload {
        sources: vec![source.to_owned()],
        entries,
        ..BatchPayload::default()
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn run(bytes: Vec<u8>, max: u64) -> (Result<ObjectSummary, ObjectError>, Vec<(u64, usize)>) {
        let mut batches = Vec::new();
        let r = analyze::<()>(bytes, "s3://b/k", max, 7, 2026, |i, p| {
            assert_eq!(p.sources, ["s3://b/k"]);
            batches.push((i, p.entries.len()));
            Ok(())
        })
        .unwrap();
        (r, batches)
    }

    fn text(lines: usize) -> Vec<u8> {
        let mut s = String::new();
        for i in 0..lines {
            if i % 10 == 0 {
                s.push_str(&format!("ERROR payment terminal timeout id={i}\n"));
            } else {
                s.push_str(&format!("INFO request served id={i}\n"));
            }
        }
        s.into_bytes()
    }

    #[test]
    fn plain_and_gzip_by_content_in_batches_of_1000() {
        for (bytes, gzip) in [(text(2_500), false), (gz(&text(2_500)), true)] {
            let (r, batches) = run(bytes, u64::MAX);
            let s = r.unwrap();
            assert_eq!((s.lines, s.gzip), (2_500, gzip));
            assert_eq!(s.events, 250);
            assert_eq!(batches, [(0, 1000), (1, 1000), (2, 500)]);
        }
    }

    #[test]
    fn bad_objects_are_named() {
        let mut corrupt = gz(&text(5_000));
        let mid = corrupt.len() / 2;
        corrupt.truncate(mid);
        let mut binary = b"\x7fELF".to_vec();
        binary.extend([0u8; 64]);
        let cases: [(Vec<u8>, u64, &str); 4] = [
            (corrupt, u64::MAX, "corrupt gzip"),
            (binary, u64::MAX, "binary"),
            (gz(&vec![b'a'; 1 << 20]), 64 * 1024, "decompression bomb"),
            (text(100_000), 1024, "decompression bomb"),
        ];
        for (bytes, max, want) in cases {
            let (r, _) = run(bytes, max);
            let err = r.unwrap_err();
            assert!(err.to_string().contains(want), "{err} lacks {want}");
            assert_eq!(err.is_skip(), want == "binary");
        }
    }

    #[test]
    fn a_line_keeps_its_own_time_and_others_fall_back() {
        let mut j = LineJudge::new(2026);
        let e = j.entry("2026-11-28T10:00:00Z ERROR disk full".to_owned(), 7);
        assert_eq!(e.ts_ms, 1_795_860_000_000);
        assert_eq!(e.level, Level::Error);
        assert!(is_event(&e));
        let e = j.entry("plain words".to_owned(), 7);
        assert_eq!(e.ts_ms, 7);
        assert!(!is_event(&e));
    }
}
