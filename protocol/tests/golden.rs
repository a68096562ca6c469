//! Golden frames: the encodings under `tests/data/v1/` are frozen.
//!
//! A failure here means the wire format changed. If that is deliberate, bump
//! `PROTOCOL_VERSION`, add a `tests/data/v2/` directory and keep decoding v1,
//! or regenerate with `FLEETLOG_BLESS=1 cargo test -p fleetlog-protocol --test golden`
//! only when no agent in the field speaks the old encoding.
//! A frame kind appended to `Frame` (which leaves every earlier encoding unchanged) gets its
//! file with `FLEETLOG_BLESS=new`, which writes only files that do not exist yet.
//! Batch payloads have their own versions (see `codec`): `tests/data/v1/batch-payload.*` is a
//! v1 payload, `tests/data/v4/` a v4 one; both must keep decoding.

use std::path::PathBuf;

use fleetlog_protocol::codec;
use fleetlog_protocol::messages::*;

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/v1")
}

fn payload() -> BatchPayload {
    BatchPayload {
        sources: vec![
            "/var/log/pos/register.log".into(),
            "/var/log/kiosk/app.log".into(),
        ],
        entries: vec![
            Entry {
                ts_ms: 1_790_000_000_123,
                source: 0,
                line: "2026-09-21T10:13:20Z INFO txn=88121 lane=3 total=12.50 EUR approved".into(),
                level: Level::Info,
                score: 0.0,
                ..Entry::default()
            },
            Entry {
                ts_ms: 1_790_000_000_456,
                source: 1,
                line: "2026-09-21T10:13:21Z ERROR payment terminal TIMEOUT after 30s".into(),
                level: Level::Error,
                score: 0.9,
                ..Entry::default()
            },
        ],
        ..BatchPayload::default()
    }
}

/// The serialized model carried by the golden `model` frame (opaque to the protocol).
fn model_raw() -> Vec<u8> {
    br#"{"version":1,"lines":2,"active_minutes":1,"templates":["user <*> logged in"]}"#.to_vec()
}

/// How `FLEETLOG_BLESS` is set.
#[derive(Clone, Copy, PartialEq)]
enum Bless {
    Off,
    /// Write only missing files.
    New,
    /// Rewrite everything.
    All,
}

fn bless() -> Bless {
    match std::env::var("FLEETLOG_BLESS").as_deref() {
        Err(_) => Bless::Off,
        Ok("new") => Bless::New,
        Ok(_) => Bless::All,
    }
}

fn write_if_blessed(mode: Bless, path: &std::path::Path, bytes: &[u8]) {
    if mode == Bless::All || (mode == Bless::New && !path.exists()) {
        std::fs::write(path, bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
}

/// Frames whose encodings are frozen. The batch payload bytes come from a frozen file
/// too, because zstd output may differ between zstd versions while staying decodable.
fn frames(
    batch_payload: Vec<u8>,
    raw_len: u32,
    model: Vec<u8>,
    model_raw_len: u32,
) -> Vec<(&'static str, Frame)> {
    vec![
        (
            "hello",
            Frame::Hello(Hello {
                protocol_version: 1,
                agent_id: "0f6c7d2e-agent".into(),
                host: "store-042-pos-1".into(),
                token: "enroll-token".into(),
                labels: vec![
                    ("store".into(), "042".into()),
                    ("site".into(), "berlin".into()),
                ],
                agent_version: "0.1.0".into(),
            }),
        ),
        (
            "welcome",
            Frame::Welcome(Welcome {
                protocol_version: 1,
                collector_version: "0.1.0".into(),
                last_stored_seq: Some(41),
                max_batch_bytes: 8 * 1024 * 1024,
            }),
        ),
        (
            "batch",
            Frame::Batch(Batch {
                agent_id: "0f6c7d2e-agent".into(),
                seq: 42,
                priority: true,
                entry_count: 2,
                raw_len,
                payload: batch_payload,
            }),
        ),
        (
            "ack",
            Frame::Ack(Ack {
                seq: 42,
                duplicate: false,
            }),
        ),
        (
            "heartbeat",
            Frame::Heartbeat(Heartbeat {
                ts_ms: 1_790_000_000_000,
                buffer_bytes: 1024,
                buffer_capacity: 512 * 1024 * 1024,
                pending_batches: 3,
                dropped_lines: 0,
                watched_files: 7,
            }),
        ),
        (
            "reject",
            Frame::Reject(Reject {
                reason: RejectReason::Unauthorized,
                message: "enrollment token not accepted".into(),
            }),
        ),
        (
            "model",
            Frame::Model(ModelPush {
                version: 0x5eed_f00d_cafe_0001,
                model,
                raw_len: model_raw_len,
            }),
        ),
    ]
}

#[test]
fn golden_frames_are_frozen() {
    let dir = data_dir();
    let bless = bless();
    let payload_path = dir.join("batch-payload.zst");
    let model_path = dir.join("model.zst");
    if bless != Bless::Off {
        std::fs::create_dir_all(&dir).unwrap();
        let (bytes, raw_len) = codec::encode_payload_v1(payload()).unwrap();
        write_if_blessed(bless, &payload_path, &bytes);
        write_if_blessed(
            bless,
            &dir.join("batch-payload.len"),
            raw_len.to_string().as_bytes(),
        );
        let (bytes, _) = codec::encode_model(&model_raw()).unwrap();
        write_if_blessed(bless, &model_path, &bytes);
    }
    let payload_bytes = std::fs::read(&payload_path).expect("frozen payload; see module docs");
    let raw_len: u32 = std::fs::read_to_string(dir.join("batch-payload.len"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // The frozen payload still decodes to the same entries.
    assert_eq!(
        codec::decode_compressed_payload(&payload_bytes, raw_len as usize).unwrap(),
        payload()
    );
    // The frozen model bytes still inflate to the same model.
    let model_bytes = std::fs::read(&model_path).expect("frozen model; see module docs");
    let model_raw_len = model_raw().len() as u32;
    let push = ModelPush {
        version: 1,
        model: model_bytes.clone(),
        raw_len: model_raw_len,
    };
    assert_eq!(codec::decode_model(&push).unwrap(), model_raw());

    for (name, frame) in frames(payload_bytes, raw_len, model_bytes, model_raw_len) {
        let path = dir.join(format!("{name}.bin"));
        let encoded = codec::encode(&frame).unwrap();
        write_if_blessed(bless, &path, &encoded);
        let frozen = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(
            encoded, frozen,
            "encoding of `{name}` changed: the wire format is frozen"
        );
        let (decoded, used) = codec::decode(&frozen).unwrap().unwrap();
        assert_eq!(used, frozen.len());
        assert_eq!(
            decoded, frame,
            "frozen `{name}` no longer decodes to the same frame"
        );
    }
}

/// Frames protocol v2 added (`Frame::Status`, `RejectReason::TooLarge` and
/// `IdentityConflict`, all appended last so every v1 encoding above is unchanged).
fn v2_frames() -> Vec<(&'static str, Frame)> {
    vec![
        (
            "status",
            Frame::Status(Status {
                heartbeat: Heartbeat {
                    ts_ms: 1_790_000_000_000,
                    buffer_bytes: 1024,
                    buffer_capacity: 512 * 1024 * 1024,
                    pending_batches: 3,
                    dropped_lines: 2,
                    watched_files: 7,
                },
                host: HostMetrics {
                    cpu_percent: 12.5,
                    memory_total_bytes: 8 << 30,
                    memory_used_bytes: 3 << 30,
                    load: [0.5, 0.75, 1.0],
                    uptime_secs: 86_400,
                    volumes: vec![VolumeUse {
                        role: "data".into(),
                        mount: "/var".into(),
                        total_bytes: 100 << 30,
                        available_bytes: 40 << 30,
                    }],
                },
                agent: AgentState {
                    buffered_bytes: 1024,
                    buffered_batches: 3,
                    oldest_unacked_ms: Some(1500),
                    file_lag: vec![FileLag {
                        path: "/var/log/pos/register.log".into(),
                        lag_bytes: 4096,
                    }],
                    drops: vec![("policy".into(), 0), ("too_large".into(), 2)],
                    version: "0.2.0".into(),
                    config_hash: 0x0123_4567_89ab_cdef,
                },
            }),
        ),
        (
            "reject-too-large",
            Frame::Reject(Reject {
                reason: RejectReason::TooLarge,
                message: "batch 7 payload of 9000 bytes exceeds max_batch_bytes (8192)".into(),
            }),
        ),
        (
            "reject-identity-conflict",
            Frame::Reject(Reject {
                reason: RejectReason::IdentityConflict,
                message: "batch 7 of agent 0f6c7d2e-agent was stored with other content".into(),
            }),
        ),
    ]
}

#[test]
fn v2_golden_frames_are_frozen() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/v2");
    let bless = bless();
    if bless != Bless::Off {
        std::fs::create_dir_all(&dir).unwrap();
    }
    for (name, frame) in v2_frames() {
        let path = dir.join(format!("{name}.bin"));
        let encoded = codec::encode(&frame).unwrap();
        write_if_blessed(bless, &path, &encoded);
        let frozen = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(encoded, frozen, "encoding of v2 `{name}` changed");
        let (decoded, _) = codec::decode(&frozen).unwrap().unwrap();
        assert_eq!(decoded, frame);
    }
}

/// Frames protocol v3 added (`Frame::StatusV3`, appended last).
fn v3_frames() -> Vec<(&'static str, Frame)> {
    let Some((_, Frame::Status(status))) = v2_frames().into_iter().next() else {
        unreachable!("the first v2 frame is a status");
    };
    vec![
        (
            "status-v3",
            Frame::StatusV3(StatusV3 {
                status: status.clone(),
                model_version: Some(0x0fed_cba9_8765_4321),
            }),
        ),
        (
            "status-v3-no-model",
            Frame::StatusV3(StatusV3 {
                status,
                model_version: None,
            }),
        ),
    ]
}

#[test]
fn v3_golden_frames_are_frozen() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/v3");
    let bless = bless();
    if bless != Bless::Off {
        std::fs::create_dir_all(&dir).unwrap();
    }
    for (name, frame) in v3_frames() {
        let path = dir.join(format!("{name}.bin"));
        let encoded = codec::encode(&frame).unwrap();
        write_if_blessed(bless, &path, &encoded);
        let frozen = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(encoded, frozen, "encoding of v3 `{name}` changed");
        let (decoded, _) = codec::decode(&frozen).unwrap().unwrap();
        assert_eq!(decoded, frame);
    }
}

/// Frames protocol v5 added (`Frame::Credential` and `RejectReason::Revoked`, appended last).
fn v5_frames() -> Vec<(&'static str, Frame)> {
    vec![
        (
            "credential",
            Frame::Credential(AgentCredential {
                agent_id: "0f6c7d2e-agent".into(),
                token: "fla_3b1d9c0e7a5f4e2d8c6b0a9f1e3d5c7b9a0f2e4d6c8b0a1f3e5d7c9b1a3f5e7d"
                    .into(),
            }),
        ),
        (
            "reject-revoked",
            Frame::Reject(Reject {
                reason: RejectReason::Revoked,
                message: "agent 0f6c7d2e-agent was revoked: terminal stolen".into(),
            }),
        ),
    ]
}

#[test]
fn v5_golden_frames_are_frozen() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/v5");
    let bless = bless();
    if bless != Bless::Off {
        std::fs::create_dir_all(&dir).unwrap();
    }
    for (name, frame) in v5_frames() {
        let path = dir.join(format!("{name}.bin"));
        let encoded = codec::encode(&frame).unwrap();
        write_if_blessed(bless, &path, &encoded);
        let frozen = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(encoded, frozen, "encoding of v5 `{name}` changed");
        let (decoded, _) = codec::decode(&frozen).unwrap().unwrap();
        assert_eq!(decoded, frame);
    }
}

/// A v4 payload: every field protocol v4 added to `BatchPayload` and `Entry` set.
fn v4_payload() -> BatchPayload {
    let mut p = payload();
    p.sources
        .push("/var/log/pods/shop_pos-7_0c1d/pos/0.log".into());
    p.source_meta = vec![
        SourceMeta {
            service: Some("register".into()),
            kubernetes: None,
        },
        SourceMeta::default(),
        SourceMeta {
            service: Some("pos".into()),
            kubernetes: Some(KubernetesRef {
                namespace: "shop".into(),
                pod: "pos-7".into(),
                container: "pos".into(),
            }),
        },
    ];
    p.model_version = Some(0x0fed_cba9_8765_4321);
    p.entries[0].logged_ms = Some(1_790_000_000_000);
    p.entries[1].logged_ms = Some(1_790_000_001_000);
    p.entries[1].class = Some("payment".into());
    p.entries[1].template = Some(42);
    p.entries.push(Entry {
        ts_ms: 1_790_000_000_789,
        source: 2,
        line: "java.sql.SQLException: pool exhausted\n\tat com.store.Db.get(Db.java:42)".into(),
        level: Level::Error,
        score: 0.95,
        logged_ms: None,
        class: Some("db_pool".into()),
        template: None,
        flags: ENTRY_MULTILINE | ENTRY_CONTINUATION,
    });
    p
}

/// The v4 payload's uncompressed bytes are frozen (the compressed ones depend on zstd's
/// version), and a v4 batch frame around them.
#[test]
fn v4_golden_payload_is_frozen() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/v4");
    let bless = bless();
    let (compressed, raw_len) = codec::encode_payload(&v4_payload()).unwrap();
    let raw = zstd::bulk::decompress(&compressed, raw_len as usize).unwrap();
    let path = dir.join("batch-payload.raw");
    if bless != Bless::Off {
        std::fs::create_dir_all(&dir).unwrap();
    }
    write_if_blessed(bless, &path, &raw);
    let frozen = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(raw, frozen, "the v4 payload encoding changed");
    let again = zstd::bulk::compress(&frozen, 1).unwrap();
    assert!(codec::is_v4_payload(&again));
    assert_eq!(
        codec::decode_compressed_payload(&again, frozen.len()).unwrap(),
        v4_payload()
    );
    // A v4 agent's batch, re-encoded for a collector older than v4, decodes there as the v1
    // fields of the same entries.
    let batch = Batch {
        agent_id: "0f6c7d2e-agent".into(),
        seq: 43,
        priority: false,
        entry_count: 3,
        raw_len,
        payload: compressed,
    };
    let old = codec::downgrade_batch(batch).unwrap();
    let v1 = codec::decode_payload(&old).unwrap();
    assert_eq!(v1.entries.len(), 3);
    assert_eq!(v1.sources, v4_payload().sources);
    assert!(
        v1.entries
            .iter()
            .all(|e| e.logged_ms.is_none() && e.class.is_none())
    );
}
