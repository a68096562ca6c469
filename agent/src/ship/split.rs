//! Splitting a buffered batch that is over the collector's `max_batch_bytes`.
//!
//! The batch's lines are cut in halves until every piece's frame fits, each piece taking a
//! new seq from the buffer; the pieces replace the batch in one durable transaction. A
//! single line that is over the limit even alone cannot be delivered: it is dropped and
//! counted (`fleetlog_agent_pipeline_dropped_lines_total{reason="too_large"}`), never retried
//! forever.

use fleetlog_protocol::codec::{self, PayloadEncoder};
use fleetlog_protocol::messages::{BatchPayload, Entry, Frame};

use super::ShipError;
use crate::buffer::{Buffer, NewBatch};

/// What a split did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Split {
    /// Batches that replaced the original.
    pub pieces: usize,
    /// Lines that could not be made to fit.
    pub dropped_lines: u64,
}

/// Cuts `entries` into pieces whose encoded frame is at most `max` bytes; `encode` makes
/// a piece's frame. Returns the pieces that fit, in line order, and the lines that fit in
/// no piece (a single line over `max`).
pub(super) fn cut(
    entries: Vec<Entry>,
    max: usize,
    mut encode: impl FnMut(Vec<Entry>) -> Result<NewBatch, ShipError>,
) -> Result<(Vec<NewBatch>, u64), ShipError> {
    let mut out = Vec::new();
    let mut dropped = 0u64;
    // Depth first, first half first, so pieces keep the lines' order.
    let mut stack = vec![entries];
    while let Some(mut entries) = stack.pop() {
        if entries.is_empty() {
            continue;
        }
        let count = entries.len();
        let piece = encode(entries.clone())?;
        if piece.frame.len() <= max {
            out.push(piece);
        } else if count == 1 {
            dropped += 1;
        } else {
            let second = entries.split_off(count / 2);
            stack.push(second);
            stack.push(entries);
        }
    }
    Ok((out, dropped))
}

/// Splits buffered batch `seq` (its frame is `frame`) into pieces of at most `max` bytes
/// and replaces it in `buffer`.
pub(super) fn split_batch(
    buffer: &Buffer,
    seq: u64,
    priority: bool,
    frame: &[u8],
    max: usize,
    agent_id: &str,
) -> Result<Split, ShipError> {
    let batch = match codec::decode(frame)? {
        Some((Frame::Batch(batch), _)) => batch,
        _ => {
            return Err(ShipError::Protocol(format!(
                "buffered batch {seq} is not a batch frame"
            )));
        }
    };
    let mut payload = codec::decode_payload(&batch)?;
    let entries = std::mem::take(&mut payload.entries);
    let mut encoder = PayloadEncoder::new()?;
    let (pieces, dropped_lines) = cut(entries, max, |entries| {
        // Each piece keeps the batch's sources, their metadata and its model version.
        let piece = BatchPayload {
            entries,
            ..payload.clone()
        };
        let seq = buffer.reserve_seqs(1);
        Ok(crate::reader::encode_batch(
            &mut encoder,
            agent_id,
            seq,
            priority,
            &piece,
        )?)
    })?;
    if pieces.is_empty() {
        buffer.discard(seq, priority)?;
    } else {
        buffer.replace(seq, priority, &pieces)?;
    }
    Ok(Split {
        pieces: pieces.len(),
        dropped_lines,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buffer::FullPolicy;
    use fleetlog_protocol::messages::Level;

    fn entry(i: usize, len: usize) -> Entry {
        Entry {
            ts_ms: i as i64,
            source: 0,
            line: format!("{i:06} {}", "x".repeat(len)),
            level: Level::Info,
            score: 0.0,
            ..Entry::default()
        }
    }

    #[test]
    fn cut_keeps_order_and_drops_only_a_line_too_large_alone() {
        // A fake encoding: the frame is as long as the lines; a table of cases.
        let cases: [(Vec<usize>, usize, usize, u64); 4] = [
            (vec![10; 8], 1000, 1, 0),
            (vec![10; 8], 40, 4, 0),
            (vec![10, 10, 500, 10], 100, 2, 1),
            (vec![500], 100, 0, 1),
        ];
        for (lens, max, want_pieces, want_dropped) in cases {
            let entries: Vec<Entry> = lens.iter().enumerate().map(|(i, &l)| entry(i, l)).collect();
            let mut seq = 0;
            let (pieces, dropped) = cut(entries, max, |e| {
                seq += 1;
                let frame: Vec<u8> = e.iter().flat_map(|x| x.line.bytes()).collect();
                Ok(NewBatch {
                    seq,
                    priority: false,
                    frame,
                    lines: e.len() as u32,
                })
            })
            .unwrap();
            assert_eq!(
                (pieces.len(), dropped),
                (want_pieces, want_dropped),
                "{lens:?} max {max}"
            );
            assert!(pieces.iter().all(|p| p.frame.len() <= max));
            assert!(
                pieces.windows(2).all(|w| w[0].frame < w[1].frame),
                "order kept"
            );
        }
    }

    #[test]
    fn a_buffered_batch_is_replaced_by_pieces_that_fit_and_decode_to_the_same_lines() {
        let dir = tempfile::tempdir().unwrap();
        let buf = Buffer::open(&dir.path().join("b.redb"), 64 << 20, FullPolicy::Block).unwrap();
        let payload = BatchPayload {
            sources: vec!["/var/log/a.log".into()],
            entries: (0..2000).map(|i| entry(i, 100)).collect(),
            ..BatchPayload::default()
        };
        let mut enc = PayloadEncoder::new().unwrap();
        let seq = buf.reserve_seqs(1);
        let id = buf.agent_id();
        let big = crate::reader::encode_batch(&mut enc, &id, seq, false, &payload).unwrap();
        let frame = big.frame.clone();
        buf.append(&[big], &[], &[]).unwrap();
        let max = frame.len() / 5;
        let split = split_batch(&buf, seq, false, &frame, max, &id).unwrap();
        assert!(split.pieces >= 5, "{split:?}");
        assert_eq!(split.dropped_lines, 0);
        let pending = buf.pending(100, |_| false).unwrap();
        assert_eq!(pending.len(), split.pieces);
        assert!(pending.iter().all(|p| p.seq > seq && p.frame.len() <= max));
        let mut lines = Vec::new();
        for p in &pending {
            let Some((Frame::Batch(b), _)) = codec::decode(&p.frame).unwrap() else {
                panic!("not a batch");
            };
            lines.extend(codec::decode_payload(&b).unwrap().entries);
        }
        assert_eq!(lines, payload.entries, "same lines, same order");
        assert!(buf.next_seq() > pending.last().unwrap().seq);
    }
}
