//! The model the collector pushes to agents: a baseline JSON file (`fleetlog-collector train
//! --out`), checked, versioned by a hash of its bytes, and encoded once as a `Frame::Model`.
//!
//! The configured file (`config::CollectorConfig::model_path`) is imported into the model
//! registry at start (`training::registry`); the model pushed is the registry's active one.
//! The version is a content hash, so it is stable across restarts and replicas and an agent
//! that already holds the model can skip it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use fleetlog_protocol::codec;
use fleetlog_protocol::messages::{Frame, ModelPush};

use crate::analyze::model::{self, ModelError};

/// Why the configured model cannot be pushed.
#[derive(Debug, thiserror::Error)]
pub enum PushModelError {
    /// Unreadable, corrupt or of another format version.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// Too large for a frame once compressed.
    #[error("baseline model {} cannot be sent to agents: {source}", path.display())]
    Encode {
        /// The model file.
        path: PathBuf,
        /// Why encoding failed.
        #[source]
        source: codec::CodecError,
    },
}

/// The model in force and the live connections it is pushed to (see `connections`).
pub use super::connections::Connections as ModelSlot;

/// A model ready to push: checked, hashed and encoded.
#[derive(Debug, Clone)]
pub struct PushModel {
    /// Content hash of the model bytes (`ModelPush::version`).
    pub version: u64,
    /// Where it came from, for logs: the file, or `model <id>` of the registry.
    pub origin: String,
    /// Its id in the model registry, once it is there.
    pub registry_id: Option<i64>,
    /// Templates in the model, for the start-up log.
    pub templates: usize,
    /// The encoded `Frame::Model`, written as is on every agent's control stream.
    pub frame: Arc<[u8]>,
}

impl PushModel {
    /// Reads, checks and encodes the model at `path`.
    pub fn load(path: &Path) -> Result<PushModel, PushModelError> {
        let bytes = std::fs::read(path).map_err(|source| ModelError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        PushModel::from_bytes(path, &bytes, path.display().to_string(), None)
    }

    /// Checks and encodes model bytes; `path` names them in errors.
    pub fn from_bytes(
        path: &Path,
        bytes: &[u8],
        origin: String,
        registry_id: Option<i64>,
    ) -> Result<PushModel, PushModelError> {
        let baseline = model::parse(path, bytes)?;
        let encode_err = |source| PushModelError::Encode {
            path: path.to_path_buf(),
            source,
        };
        let (compressed, raw_len) = codec::encode_model(bytes).map_err(encode_err)?;
        let version = content_hash(bytes);
        let frame = codec::encode(&Frame::Model(ModelPush {
            version,
            model: compressed,
            raw_len,
        }))
        .map_err(encode_err)?;
        Ok(PushModel {
            version,
            origin,
            registry_id,
            templates: baseline.templates(),
            frame: frame.into(),
        })
    }
}

/// 64-bit FNV-1a: stable across builds and platforms, unlike `std`'s `DefaultHasher`.
/// A version identifies content; it is not a security boundary (TLS authenticates the source).
pub fn content_hash(bytes: &[u8]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes
        .iter()
        .fold(OFFSET, |h, &b| (h ^ u64::from(b)).wrapping_mul(PRIME))
}

#[cfg(test)]
mod tests {
    use super::*;
    use fleetlog_lines::baseline::Baseline;

    #[test]
    fn hash_is_fnv1a() {
        assert_eq!(content_hash(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(content_hash(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn loads_encodes_and_names_a_corrupt_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("baseline.json");
        let b = Baseline::train([("user 1 logged in", None), ("user 2 logged in", None)]);
        model::save(&path, &b).unwrap();
        let m = PushModel::load(&path).unwrap();
        assert_eq!(m.version, PushModel::load(&path).unwrap().version);
        let Ok(Some((Frame::Model(push), _))) = codec::decode(&m.frame) else {
            panic!("not a model frame");
        };
        assert_eq!(push.version, m.version);
        assert_eq!(
            codec::decode_model(&push).unwrap(),
            std::fs::read(&path).unwrap()
        );

        std::fs::write(&path, b"{oops").unwrap();
        let err = PushModel::load(&path).unwrap_err().to_string();
        assert!(err.contains("baseline.json"), "{err}");
    }
}
