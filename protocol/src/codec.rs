//! Framing and encoding: the only module that names bincode or zstd.
//!
//! A frame is a 4-byte little-endian body length followed by the bincode encoding of
//! a `Frame`. Lengths are checked against `MAX_FRAME_LEN` before anything is
//! allocated, and payload decompression stops at `MAX_DECOMPRESSED_LEN`.
//! Model pushes (`encode_model`, `decode_model`) follow the same discipline: the declared
//! length is checked first and decompression never inflates past it.
//!
//! Batch payloads come in two encodings, told apart by their first (uncompressed) byte:
//! - **v1**: the bincode encoding of `{ sources, entries }` with five fields per entry. It
//!   starts with the varint length of `sources`, which is never `0xFF` (bincode's varint has
//!   no such prefix).
//! - **v4**: the marker `[0xFF, 4]`, then the bincode encoding of the whole `BatchPayload`
//!   (source metadata, model version, and per entry the line's own time, class, template id
//!   and flags).
//!
//! `encode_payload` writes v4; `encode_payload_v1` writes v1 for a collector older than
//! protocol v4 (`downgrade_batch` re-encodes a buffered batch). Both decode with
//! `decode_compressed_payload`, so the archive reads every batch ever stored.

use std::io::Read;

use bincode::config::{Configuration, Limit, LittleEndian, Varint};

use crate::messages::{Batch, BatchPayload, Entry, Frame, Level, ModelPush};

/// Length of the frame header (the body length as `u32` LE).
pub const HEADER_LEN: usize = 4;
/// Largest frame body accepted: 16 MiB.
pub const MAX_FRAME_LEN: usize = 16 * 1024 * 1024;
/// Largest `Hello` frame body a collector may be configured to read before it has checked
/// the token (`ingest.max_hello_bytes` defaults to 16 KiB): 64 KiB.
pub const MAX_HELLO_LEN: usize = 64 * 1024;
/// Largest decompressed batch payload accepted: 64 MiB.
pub const MAX_DECOMPRESSED_LEN: usize = 64 * 1024 * 1024;
/// zstd level used by the agent: the fastest standard level; on store/POS logs it
/// compresses as well as level 3 (6.6x on the benchmark input) at less CPU.
pub const ZSTD_LEVEL: i32 = 1;

const FRAME_CONFIG: Configuration<LittleEndian, Varint, Limit<MAX_FRAME_LEN>> =
    bincode::config::standard().with_limit::<MAX_FRAME_LEN>();
const HELLO_CONFIG: Configuration<LittleEndian, Varint, Limit<MAX_HELLO_LEN>> =
    bincode::config::standard().with_limit::<MAX_HELLO_LEN>();
const PAYLOAD_CONFIG: Configuration<LittleEndian, Varint, Limit<MAX_DECOMPRESSED_LEN>> =
    bincode::config::standard().with_limit::<MAX_DECOMPRESSED_LEN>();

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge { len: usize, max: usize },
    #[error("frame ends before its declared length")]
    Incomplete,
    #[error("malformed frame: {0}")]
    Malformed(String),
    #[error("malformed batch payload: {0}")]
    Payload(String),
    #[error("malformed model push: {0}")]
    Model(String),
    #[error("encoding failed: {0}")]
    Encode(String),
}

/// Encodes `frame` with its length header.
pub fn encode(frame: &Frame) -> Result<Vec<u8>, CodecError> {
    let mut out = vec![0u8; HEADER_LEN];
    bincode::serde::encode_into_std_write(frame, &mut out, FRAME_CONFIG)
        .map_err(|e| CodecError::Encode(e.to_string()))?;
    let len = out.len() - HEADER_LEN;
    if len > MAX_FRAME_LEN {
        return Err(CodecError::TooLarge {
            len,
            max: MAX_FRAME_LEN,
        });
    }
    // Cast is lossless: len <= MAX_FRAME_LEN < u32::MAX.
    out[..HEADER_LEN].copy_from_slice(&(len as u32).to_le_bytes());
    Ok(out)
}

/// Reads the body length from a frame header, rejecting it before allocation if too large.
pub fn body_len(header: [u8; HEADER_LEN]) -> Result<usize, CodecError> {
    let len = u32::from_le_bytes(header) as usize;
    if len > MAX_FRAME_LEN {
        return Err(CodecError::TooLarge {
            len,
            max: MAX_FRAME_LEN,
        });
    }
    Ok(len)
}

/// Reads the body length from a frame header, rejecting it before allocation if it exceeds
/// `max` (itself capped at `MAX_FRAME_LEN`). Used for frames read before a peer is trusted.
pub fn body_len_within(header: [u8; HEADER_LEN], max: usize) -> Result<usize, CodecError> {
    let max = max.min(MAX_FRAME_LEN);
    let len = u32::from_le_bytes(header) as usize;
    if len > max {
        return Err(CodecError::TooLarge { len, max });
    }
    Ok(len)
}

/// Decodes the first frame of a control stream, read before the peer is trusted: the body
/// must be at most `MAX_HELLO_LEN` bytes, and decoding never reserves more than that for
/// any string or list it claims to hold. Any frame kind decodes; the caller checks it.
pub fn decode_first_body(body: &[u8]) -> Result<Frame, CodecError> {
    if body.len() > MAX_HELLO_LEN {
        return Err(CodecError::TooLarge {
            len: body.len(),
            max: MAX_HELLO_LEN,
        });
    }
    let (frame, used) = bincode::serde::decode_from_slice(body, HELLO_CONFIG)
        .map_err(|e| CodecError::Malformed(e.to_string()))?;
    if used != body.len() {
        return Err(CodecError::Malformed(format!(
            "{} trailing bytes after frame",
            body.len() - used
        )));
    }
    Ok(frame)
}

/// Decodes one frame body (without header). Trailing bytes are an error.
pub fn decode_body(body: &[u8]) -> Result<Frame, CodecError> {
    if body.len() > MAX_FRAME_LEN {
        return Err(CodecError::TooLarge {
            len: body.len(),
            max: MAX_FRAME_LEN,
        });
    }
    let (frame, used) = bincode::serde::decode_from_slice(body, FRAME_CONFIG)
        .map_err(|e| CodecError::Malformed(e.to_string()))?;
    if used != body.len() {
        return Err(CodecError::Malformed(format!(
            "{} trailing bytes after frame",
            body.len() - used
        )));
    }
    Ok(frame)
}

/// Decodes one frame from the front of `buf`; `Ok(None)` means "need more bytes".
pub fn decode(buf: &[u8]) -> Result<Option<(Frame, usize)>, CodecError> {
    let Some(header) = buf.get(..HEADER_LEN) else {
        return Ok(None);
    };
    let len = body_len([header[0], header[1], header[2], header[3]])?;
    let Some(body) = buf.get(HEADER_LEN..HEADER_LEN + len) else {
        return Ok(None);
    };
    Ok(Some((decode_body(body)?, HEADER_LEN + len)))
}

/// Incremental decoder for a byte stream carrying several frames.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    buf: Vec<u8>,
}

impl FrameDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Returns the next complete frame, if any.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, CodecError> {
        match decode(&self.buf)? {
            Some((frame, used)) => {
                self.buf.drain(..used);
                Ok(Some(frame))
            }
            None => Ok(None),
        }
    }

    /// Bytes received but not yet decoded.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }
}

/// First bytes of a v4 payload (see the module doc).
const PAYLOAD_V4_MARKER: [u8; 2] = [0xFF, 4];

/// The v1 payload encoding, kept for collectors older than protocol v4 and for batches
/// archived before it.
#[derive(serde::Serialize, serde::Deserialize)]
struct PayloadV1 {
    sources: Vec<String>,
    entries: Vec<EntryV1>,
}

/// An entry as the v1 payload encodes it.
#[derive(serde::Serialize, serde::Deserialize)]
struct EntryV1 {
    ts_ms: i64,
    source: u32,
    line: String,
    level: Level,
    score: f32,
}

impl From<PayloadV1> for BatchPayload {
    fn from(v1: PayloadV1) -> Self {
        BatchPayload {
            sources: v1.sources,
            entries: v1
                .entries
                .into_iter()
                .map(|e| Entry {
                    ts_ms: e.ts_ms,
                    source: e.source,
                    line: e.line,
                    level: e.level,
                    score: e.score,
                    ..Entry::default()
                })
                .collect(),
            ..BatchPayload::default()
        }
    }
}

impl From<BatchPayload> for PayloadV1 {
    fn from(p: BatchPayload) -> Self {
        PayloadV1 {
            sources: p.sources,
            entries: p
                .entries
                .into_iter()
                .map(|e| EntryV1 {
                    ts_ms: e.ts_ms,
                    source: e.source,
                    line: e.line,
                    level: e.level,
                    score: e.score,
                })
                .collect(),
        }
    }
}

/// Serializes (v4) and compresses a payload; returns the compressed bytes and the raw length.
pub fn encode_payload(payload: &BatchPayload) -> Result<(Vec<u8>, u32), CodecError> {
    PayloadEncoder::new()?.encode(payload)
}

/// Serializes a payload in the v1 encoding (dropping every v4 field) and compresses it, for a
/// collector older than protocol v4.
pub fn encode_payload_v1(payload: BatchPayload) -> Result<(Vec<u8>, u32), CodecError> {
    let raw = bincode::serde::encode_to_vec(PayloadV1::from(payload), PAYLOAD_CONFIG)
        .map_err(|e| CodecError::Encode(e.to_string()))?;
    compress_raw(
        &mut zstd::bulk::Compressor::new(ZSTD_LEVEL)
            .map_err(|e| CodecError::Encode(e.to_string()))?,
        &raw,
    )
}

/// Whether the compressed payload is in the v4 encoding; reads only its first bytes.
pub fn is_v4_payload(compressed: &[u8]) -> bool {
    let Ok(mut decoder) = zstd::stream::read::Decoder::new(compressed) else {
        return false;
    };
    let mut head = [0u8; 2];
    decoder.read_exact(&mut head).is_ok() && head == PAYLOAD_V4_MARKER
}

/// Re-encodes a batch's payload as v1 for a collector older than protocol v4; a batch that is
/// already v1 comes back unchanged. Entry count and sequence number stay the same.
pub fn downgrade_batch(mut batch: Batch) -> Result<Batch, CodecError> {
    if !is_v4_payload(&batch.payload) {
        return Ok(batch);
    }
    let payload = decode_payload(&batch)?;
    let (compressed, raw_len) = encode_payload_v1(payload)?;
    batch.payload = compressed;
    batch.raw_len = raw_len;
    Ok(batch)
}

fn compress_raw(
    compressor: &mut zstd::bulk::Compressor<'static>,
    raw: &[u8],
) -> Result<(Vec<u8>, u32), CodecError> {
    if raw.len() > MAX_DECOMPRESSED_LEN {
        return Err(CodecError::TooLarge {
            len: raw.len(),
            max: MAX_DECOMPRESSED_LEN,
        });
    }
    let compressed = compressor
        .compress(raw)
        .map_err(|e| CodecError::Encode(e.to_string()))?;
    // Cast is lossless: raw.len() <= MAX_DECOMPRESSED_LEN < u32::MAX.
    Ok((compressed, raw.len() as u32))
}

/// Reusable payload encoder: keeps its zstd context and scratch buffer between batches,
/// which saves re-allocating (and page-faulting) them for every batch on the agent's
/// hot path.
pub struct PayloadEncoder {
    compressor: zstd::bulk::Compressor<'static>,
    raw: Vec<u8>,
}

impl std::fmt::Debug for PayloadEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PayloadEncoder").finish_non_exhaustive()
    }
}

impl PayloadEncoder {
    pub fn new() -> Result<Self, CodecError> {
        let compressor = zstd::bulk::Compressor::new(ZSTD_LEVEL)
            .map_err(|e| CodecError::Encode(e.to_string()))?;
        Ok(PayloadEncoder {
            compressor,
            raw: Vec::new(),
        })
    }

    /// Serializes (v4) and compresses a payload; returns the compressed bytes and the raw
    /// length.
    pub fn encode(&mut self, payload: &BatchPayload) -> Result<(Vec<u8>, u32), CodecError> {
        self.raw.clear();
        self.raw.extend_from_slice(&PAYLOAD_V4_MARKER);
        bincode::serde::encode_into_std_write(payload, &mut self.raw, PAYLOAD_CONFIG)
            .map_err(|e| CodecError::Encode(e.to_string()))?;
        compress_raw(&mut self.compressor, &self.raw)
    }
}

/// Decompresses and decodes a batch's payload, enforcing the declared and absolute limits.
pub fn decode_payload(batch: &Batch) -> Result<BatchPayload, CodecError> {
    let payload = decode_compressed_payload(&batch.payload, batch.raw_len as usize)?;
    if payload.entries.len() != batch.entry_count as usize {
        return Err(CodecError::Payload(format!(
            "batch declares {} entries but holds {}",
            batch.entry_count,
            payload.entries.len()
        )));
    }
    if let Some(bad) = payload
        .entries
        .iter()
        .find(|e| e.source as usize >= payload.sources.len())
    {
        return Err(CodecError::Payload(format!(
            "entry names source {} of {}",
            bad.source,
            payload.sources.len()
        )));
    }
    Ok(payload)
}

/// Decompresses bytes produced by `encode_payload`, never inflating past `declared_len`
/// or `MAX_DECOMPRESSED_LEN`, whichever is smaller.
pub fn decode_compressed_payload(
    compressed: &[u8],
    declared_len: usize,
) -> Result<BatchPayload, CodecError> {
    let raw = inflate(compressed, declared_len, "payload", CodecError::Payload)?;
    match raw.split_first() {
        Some((&0xFF, rest)) => match rest.split_first() {
            Some((&4, body)) => decode_exact::<BatchPayload>(body),
            Some((v, _)) => Err(CodecError::Payload(format!(
                "payload encoding version {v} is newer than this build reads (4)"
            ))),
            None => Err(CodecError::Payload("payload ends after its marker".into())),
        },
        _ => decode_exact::<PayloadV1>(&raw).map(BatchPayload::from),
    }
}

/// Decodes `raw` as one `T`, refusing trailing bytes.
fn decode_exact<T: serde::de::DeserializeOwned>(raw: &[u8]) -> Result<T, CodecError> {
    let (value, used) = bincode::serde::decode_from_slice(raw, PAYLOAD_CONFIG)
        .map_err(|e| CodecError::Payload(e.to_string()))?;
    if used != raw.len() {
        return Err(CodecError::Payload("trailing bytes after payload".into()));
    }
    Ok(value)
}

/// Compresses a serialized model for `ModelPush::model`; returns the compressed bytes and
/// the raw length for `ModelPush::raw_len`.
pub fn encode_model(raw: &[u8]) -> Result<(Vec<u8>, u32), CodecError> {
    if raw.len() > MAX_DECOMPRESSED_LEN {
        return Err(CodecError::TooLarge {
            len: raw.len(),
            max: MAX_DECOMPRESSED_LEN,
        });
    }
    // Pushed rarely and read by every agent: a higher level than batches is worth it.
    let compressed = zstd::bulk::compress(raw, MODEL_ZSTD_LEVEL)
        .map_err(|e| CodecError::Encode(e.to_string()))?;
    // Cast is lossless: raw.len() <= MAX_DECOMPRESSED_LEN < u32::MAX.
    Ok((compressed, raw.len() as u32))
}

/// Decompresses a pushed model, never inflating past `raw_len` or `MAX_DECOMPRESSED_LEN`.
/// The bytes are the serialized model; parsing them is the receiver's business.
pub fn decode_model(push: &ModelPush) -> Result<Vec<u8>, CodecError> {
    inflate(
        &push.model,
        push.raw_len as usize,
        "model",
        CodecError::Model,
    )
}

/// zstd level for model pushes.
const MODEL_ZSTD_LEVEL: i32 = 9;

/// Decompresses `compressed`, which must inflate to exactly `declared_len` bytes (itself at
/// most `MAX_DECOMPRESSED_LEN`); reads at most one byte past it.
fn inflate(
    compressed: &[u8],
    declared_len: usize,
    what: &str,
    err: fn(String) -> CodecError,
) -> Result<Vec<u8>, CodecError> {
    if declared_len > MAX_DECOMPRESSED_LEN {
        return Err(CodecError::TooLarge {
            len: declared_len,
            max: MAX_DECOMPRESSED_LEN,
        });
    }
    let decoder = zstd::stream::read::Decoder::new(compressed).map_err(|e| err(e.to_string()))?;
    let mut raw = Vec::with_capacity(declared_len.min(1024 * 1024));
    // Read one byte past the declared length to notice data that lies about its size.
    decoder
        .take(declared_len as u64 + 1)
        .read_to_end(&mut raw)
        .map_err(|e| err(e.to_string()))?;
    if raw.len() != declared_len {
        return Err(err(format!(
            "{what} inflates to {}{} bytes, declared {declared_len}",
            if raw.len() > declared_len {
                "more than "
            } else {
                ""
            },
            raw.len().min(declared_len)
        )));
    }
    Ok(raw)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::{Ack, ENTRY_MULTILINE, KubernetesRef, SourceMeta};

    #[test]
    fn oversized_header_is_rejected_before_reading_body() {
        let header = ((MAX_FRAME_LEN + 1) as u32).to_le_bytes();
        assert!(matches!(decode(&header), Err(CodecError::TooLarge { .. })));
    }

    #[test]
    fn first_frame_limits_are_checked_before_allocation() {
        let header = 1000u32.to_le_bytes();
        assert!(matches!(
            body_len_within(header, 999),
            Err(CodecError::TooLarge {
                len: 1000,
                max: 999
            })
        ));
        assert_eq!(body_len_within(header, 1000).unwrap(), 1000);
        // A tiny body claiming a huge label list fails instead of reserving for it.
        let mut body = vec![0u8]; // Frame::Hello
        body.extend([1, 0]); // protocol_version 1 (varint), empty agent_id
        body.extend([0, 0]); // host, token
        body.extend([0xFC, 0xFF, 0xFF, 0xFF, 0x0F]); // labels: u32::MAX entries
        assert!(decode_first_body(&body).is_err());
        let bytes = encode(&Frame::Ack(Ack {
            seq: 1,
            duplicate: false,
        }))
        .unwrap();
        assert!(matches!(
            decode_first_body(&bytes[HEADER_LEN..]).unwrap(),
            Frame::Ack(_)
        ));
    }

    #[test]
    fn partial_frame_needs_more_bytes() {
        let bytes = encode(&Frame::Ack(Ack {
            seq: 7,
            duplicate: false,
        }))
        .unwrap();
        assert!(decode(&bytes[..bytes.len() - 1]).unwrap().is_none());
        let (frame, used) = decode(&bytes).unwrap().unwrap();
        assert_eq!(used, bytes.len());
        assert_eq!(
            frame,
            Frame::Ack(Ack {
                seq: 7,
                duplicate: false
            })
        );
    }

    #[test]
    fn payload_that_lies_about_its_size_is_rejected() {
        let payload = BatchPayload {
            sources: vec!["/var/log/pos.log".into()],
            entries: vec![Entry {
                ts_ms: 1,
                source: 0,
                line: "x".repeat(1000),
                level: Level::Info,
                score: 0.0,
                ..Entry::default()
            }],
            ..BatchPayload::default()
        };
        let (compressed, raw_len) = encode_payload(&payload).unwrap();
        let err = decode_compressed_payload(&compressed, raw_len as usize - 10).unwrap_err();
        assert!(matches!(err, CodecError::Payload(_)), "{err}");
        assert_eq!(
            decode_compressed_payload(&compressed, raw_len as usize).unwrap(),
            payload
        );
    }

    fn v4_payload() -> BatchPayload {
        BatchPayload {
            sources: vec!["/var/log/pods/shop_pos-7_u1/pos/0.log".into()],
            entries: vec![Entry {
                ts_ms: 1_790_000_000_500,
                source: 0,
                line: "2026-09-21T10:13:20Z ERROR pool exhausted\n\tat com.x.Pool.get".into(),
                level: Level::Error,
                score: 0.91,
                logged_ms: Some(1_790_000_000_000),
                class: Some("db_pool".into()),
                template: Some(17),
                flags: ENTRY_MULTILINE,
            }],
            source_meta: vec![SourceMeta {
                service: Some("pos".into()),
                kubernetes: Some(KubernetesRef {
                    namespace: "shop".into(),
                    pod: "pos-7".into(),
                    container: "pos".into(),
                }),
            }],
            model_version: Some(0xabc),
        }
    }

    #[test]
    fn v4_payloads_round_trip_and_downgrade_to_v1() {
        let payload = v4_payload();
        let (compressed, raw_len) = encode_payload(&payload).unwrap();
        assert!(is_v4_payload(&compressed));
        assert_eq!(
            decode_compressed_payload(&compressed, raw_len as usize).unwrap(),
            payload
        );
        let batch = Batch {
            agent_id: "a".into(),
            seq: 9,
            priority: true,
            entry_count: 1,
            raw_len,
            payload: compressed,
        };
        let old = downgrade_batch(batch).unwrap();
        assert!(!is_v4_payload(&old.payload));
        assert_eq!((old.seq, old.entry_count, old.priority), (9, 1, true));
        // The v1 encoding keeps the five v1 fields and drops the rest.
        let back = decode_payload(&old).unwrap();
        let e = &back.entries[0];
        assert_eq!(
            (e.ts_ms, e.source, e.line.as_str(), e.level, e.score),
            (
                1_790_000_000_500,
                0,
                payload.entries[0].line.as_str(),
                Level::Error,
                0.91
            )
        );
        assert_eq!(
            (e.logged_ms, e.class.as_deref(), e.template, e.flags),
            (None, None, None, 0)
        );
        assert!(back.source_meta.is_empty() && back.model_version.is_none());
        // Downgrading a v1 batch changes nothing.
        assert_eq!(downgrade_batch(old.clone()).unwrap(), old);
    }

    #[test]
    fn a_newer_payload_encoding_is_named_not_misread() {
        let raw = [0xFF, 9, 0, 0];
        let compressed = zstd::bulk::compress(&raw, 1).unwrap();
        let err = decode_compressed_payload(&compressed, raw.len()).unwrap_err();
        assert!(err.to_string().contains("version 9"), "{err}");
    }

    #[test]
    fn zstd_bomb_stops_at_the_limit() {
        let zeros = vec![0u8; 8 * 1024 * 1024];
        let bomb = zstd::bulk::compress(&zeros, 19).unwrap();
        assert!(bomb.len() < 4096);
        let err = decode_compressed_payload(&bomb, 1024).unwrap_err();
        assert!(matches!(err, CodecError::Payload(_)));
    }

    #[test]
    fn entry_with_unknown_source_is_rejected() {
        let payload = BatchPayload {
            sources: vec![],
            entries: vec![Entry {
                ts_ms: 1,
                source: 3,
                line: "x".into(),
                level: Level::Info,
                score: 0.0,
                ..Entry::default()
            }],
            ..BatchPayload::default()
        };
        let (compressed, raw_len) = encode_payload(&payload).unwrap();
        let batch = Batch {
            agent_id: "a".into(),
            seq: 1,
            priority: false,
            entry_count: 1,
            raw_len,
            payload: compressed,
        };
        assert!(matches!(
            decode_payload(&batch),
            Err(CodecError::Payload(_))
        ));
    }

    #[test]
    fn model_round_trips_and_lies_are_caught() {
        let raw = br#"{"version":1,"lines":3}"#.repeat(50);
        let (model, raw_len) = encode_model(&raw).unwrap();
        let push = ModelPush {
            version: 7,
            model,
            raw_len,
        };
        assert_eq!(decode_model(&push).unwrap(), raw);
        let short = ModelPush {
            raw_len: raw_len - 1,
            ..push.clone()
        };
        assert!(matches!(decode_model(&short), Err(CodecError::Model(_))));
        let huge = ModelPush {
            raw_len: (MAX_DECOMPRESSED_LEN + 1) as u32,
            ..push.clone()
        };
        assert!(matches!(
            decode_model(&huge),
            Err(CodecError::TooLarge { .. })
        ));
        let garbage = ModelPush {
            model: vec![0xFF; 32],
            ..push
        };
        assert!(matches!(decode_model(&garbage), Err(CodecError::Model(_))));
    }

    #[test]
    fn model_bomb_stops_at_the_limit() {
        let bomb = zstd::bulk::compress(&vec![b'{'; 8 * 1024 * 1024], 19).unwrap();
        let push = ModelPush {
            version: 1,
            model: bomb,
            raw_len: 1024,
        };
        assert!(matches!(decode_model(&push), Err(CodecError::Model(_))));
    }
}
