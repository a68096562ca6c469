//! Property tests: every frame round-trips, and no byte string panics the decoder.

// Strategy helpers outside #[test] fns unwrap on purpose: a failure is a test failure.
#![allow(clippy::unwrap_used)]

use fleetlog_protocol::codec::{self, FrameDecoder};
use fleetlog_protocol::messages::*;
use proptest::prelude::*;

fn level() -> impl Strategy<Value = Level> {
    prop_oneof![
        Just(Level::Trace),
        Just(Level::Debug),
        Just(Level::Info),
        Just(Level::Warn),
        Just(Level::Error),
        Just(Level::Critical),
    ]
}

fn payload() -> impl Strategy<Value = BatchPayload> {
    (1usize..4)
        .prop_flat_map(|n_sources| {
            (
                prop::collection::vec("/var/log/[a-z]{1,8}\\.log", n_sources),
                prop::collection::vec(
                    (
                        any::<i64>(),
                        0..n_sources as u32,
                        ".{0,200}",
                        level(),
                        0.0f32..=1.0,
                        (
                            proptest::option::of(any::<i64>()),
                            proptest::option::of("[a-z_]{1,16}"),
                            proptest::option::of(any::<u32>()),
                            any::<u8>(),
                        ),
                    ),
                    0..20,
                ),
                proptest::option::of(any::<u64>()),
                proptest::option::of("[a-z-]{1,12}"),
            )
        })
        .prop_map(|(sources, entries, model_version, service)| BatchPayload {
            source_meta: sources
                .iter()
                .map(|_| SourceMeta {
                    service: service.clone(),
                    kubernetes: None,
                })
                .collect(),
            sources,
            entries: entries
                .into_iter()
                .map(
                    |(ts_ms, source, line, level, score, (logged_ms, class, template, flags))| {
                        Entry {
                            ts_ms,
                            source,
                            line,
                            level,
                            score,
                            logged_ms,
                            class,
                            template,
                            flags,
                        }
                    },
                )
                .collect(),
            model_version,
        })
}

fn reason() -> impl Strategy<Value = RejectReason> {
    prop_oneof![
        Just(RejectReason::Unauthorized),
        Just(RejectReason::UnsupportedVersion),
        Just(RejectReason::Malformed),
        Just(RejectReason::ProtocolViolation),
        Just(RejectReason::Unavailable),
    ]
}

fn frame() -> impl Strategy<Value = Frame> {
    prop_oneof![
        (
            any::<u16>(),
            ".{0,40}",
            ".{0,40}",
            ".{0,40}",
            prop::collection::vec((".{0,10}", ".{0,10}"), 0..4)
        )
            .prop_map(
                |(protocol_version, agent_id, host, token, labels)| Frame::Hello(Hello {
                    protocol_version,
                    agent_id,
                    host,
                    token,
                    labels,
                    agent_version: "0.1.0".into(),
                })
            ),
        (any::<u16>(), any::<Option<u64>>(), any::<u32>()).prop_map(|(v, last, max)| {
            Frame::Welcome(Welcome {
                protocol_version: v,
                collector_version: "0.1.0".into(),
                last_stored_seq: last,
                max_batch_bytes: max,
            })
        }),
        (any::<u64>(), any::<bool>())
            .prop_map(|(seq, duplicate)| Frame::Ack(Ack { seq, duplicate })),
        (
            any::<i64>(),
            any::<u64>(),
            any::<u64>(),
            any::<u64>(),
            any::<u64>(),
            any::<u32>()
        )
            .prop_map(
                |(
                    ts_ms,
                    buffer_bytes,
                    buffer_capacity,
                    pending_batches,
                    dropped_lines,
                    watched_files,
                )| {
                    Frame::Heartbeat(Heartbeat {
                        ts_ms,
                        buffer_bytes,
                        buffer_capacity,
                        pending_batches,
                        dropped_lines,
                        watched_files,
                    })
                }
            ),
        (reason(), ".{0,60}")
            .prop_map(|(reason, message)| Frame::Reject(Reject { reason, message })),
        (any::<u64>(), prop::collection::vec(any::<u8>(), 0..512)).prop_map(|(version, raw)| {
            let (model, raw_len) = codec::encode_model(&raw).unwrap();
            Frame::Model(ModelPush {
                version,
                model,
                raw_len,
            })
        }),
        (".{1,20}", any::<u64>(), any::<bool>(), payload()).prop_map(
            |(agent_id, seq, priority, p)| {
                let (payload, raw_len) = codec::encode_payload(&p).unwrap();
                Frame::Batch(Batch {
                    agent_id,
                    seq,
                    priority,
                    entry_count: p.entries.len() as u32,
                    raw_len,
                    payload,
                })
            }
        ),
    ]
}

proptest! {
    #[test]
    fn frames_round_trip(frames in prop::collection::vec(frame(), 1..5), split in 0usize..64) {
        let mut wire = Vec::new();
        for f in &frames {
            wire.extend(codec::encode(f).unwrap());
        }
        // Feed the stream in two arbitrary pieces, as a socket would.
        let cut = split.min(wire.len());
        let mut dec = FrameDecoder::new();
        let mut got = Vec::new();
        dec.push(&wire[..cut]);
        while let Some(f) = dec.next_frame().unwrap() { got.push(f); }
        dec.push(&wire[cut..]);
        while let Some(f) = dec.next_frame().unwrap() { got.push(f); }
        prop_assert_eq!(dec.buffered(), 0);
        prop_assert_eq!(got, frames);
    }

    #[test]
    fn payload_round_trips(p in payload()) {
        let (compressed, raw_len) = codec::encode_payload(&p).unwrap();
        prop_assert_eq!(codec::decode_compressed_payload(&compressed, raw_len as usize).unwrap(), p);
    }

    #[test]
    fn v1_encoding_keeps_exactly_the_v1_fields(p in payload()) {
        let (compressed, raw_len) = codec::encode_payload_v1(p.clone()).unwrap();
        prop_assert!(!codec::is_v4_payload(&compressed));
        let back = codec::decode_compressed_payload(&compressed, raw_len as usize).unwrap();
        let v1_only = BatchPayload {
            sources: p.sources,
            entries: p
                .entries
                .into_iter()
                .map(|e| Entry { ts_ms: e.ts_ms, source: e.source, line: e.line, level: e.level, score: e.score, ..Entry::default() })
                .collect(),
            ..BatchPayload::default()
        };
        prop_assert_eq!(back, v1_only);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = codec::decode(&bytes);
        let _ = codec::decode_body(&bytes);
        let _ = codec::decode_compressed_payload(&bytes, bytes.len());
        let _ = codec::decode_model(&ModelPush { version: 0, raw_len: bytes.len() as u32, model: bytes });
    }

    #[test]
    fn corrupted_frames_never_panic(f in frame(), flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let mut wire = codec::encode(&f).unwrap();
        for (i, b) in flips {
            let i = i.index(wire.len());
            wire[i] ^= b;
        }
        match codec::decode(&wire) {
            Ok(Some((Frame::Batch(batch), _))) => { let _ = codec::decode_payload(&batch); }
            Ok(Some((Frame::Model(push), _))) => { let _ = codec::decode_model(&push); }
            _ => {}
        }
    }
}
