//! Serializable checkpoint types: what the agent persists (in redb) per file identity.
//!
//! A checkpoint is written by the caller in the same transaction as the lines it follows,
//! so `offset` is always the position just after the last committed line.
//!
//! # Format versions
//!
//! Keys and values are JSON. [`decode_saved`] reads every version this build knows:
//!
//! - **v0** (no `version` field): `offset` and `path`. Loaded as version 0 and rewritten in
//!   the current format by the first checkpoint the tailer returns for the file.
//! - **v1**: adds `version`.
//! - **v2**: adds `before`, the fingerprint of the bytes just before `offset`, so a copy of
//!   a rotated file (another inode) is only taken for it when its content agrees there.
//!
//! A value with a newer version, or that does not parse, is an error naming the file it
//! belongs to; the caller logs it (never a silent re-read).

use serde::{Deserialize, Serialize};

use super::fingerprint::Fingerprint;

/// Current [`Checkpoint::version`]; bump it when the meaning of a field changes.
pub const CHECKPOINT_VERSION: u16 = 2;

/// A file's identity: the content fingerprint, plus device and inode as a hint.
///
/// See the `tail` module docs for how a file found on disk is matched to a key.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Ord, PartialOrd, Serialize, Deserialize)]
pub struct FileKey {
    /// Hash of the file's first bytes, with the length covered.
    pub fingerprint: Fingerprint,
    /// Device number when the key was made.
    pub dev: u64,
    /// Inode number when the key was made.
    pub ino: u64,
}

/// The position after the last line delivered from one file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Format version, [`CHECKPOINT_VERSION`] when written by this build (0 when absent).
    #[serde(default)]
    pub version: u16,
    /// Byte offset just after the last delivered line (or line piece); in the decompressed
    /// stream for a compressed file.
    pub offset: u64,
    /// The path the file had when the checkpoint was written (informational).
    pub path: String,
    /// Fingerprint of the (at most 256) bytes just before `offset`, when known (v2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Fingerprint>,
}

impl Checkpoint {
    /// A checkpoint in the current format.
    pub fn new(offset: u64, path: impl Into<String>) -> Checkpoint {
        Checkpoint {
            version: CHECKPOINT_VERSION,
            offset,
            path: path.into(),
            before: None,
        }
    }

    /// The same checkpoint with the fingerprint of the bytes before its offset.
    pub fn with_before(mut self, before: Option<Fingerprint>) -> Checkpoint {
        self.before = before;
        self
    }
}

/// Why a stored checkpoint cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The key (file identity) does not parse.
    #[error("checkpoint key does not parse (file {file})")]
    Key {
        /// The file it belongs to, as far as the value tells.
        file: String,
        /// The parser's complaint.
        #[source]
        source: serde_json::Error,
    },
    /// The value does not parse.
    #[error("checkpoint of {file} does not parse")]
    Value {
        /// The file it belongs to, as far as the value or key tells.
        file: String,
        /// The parser's complaint.
        #[source]
        source: serde_json::Error,
    },
    /// Written by a newer build.
    #[error(
        "checkpoint of {file} has format version {version}; this build reads up to {CHECKPOINT_VERSION}"
    )]
    Version {
        /// The path recorded in the checkpoint.
        file: String,
        /// The version found.
        version: u16,
    },
}

impl CheckpointError {
    /// The file the checkpoint belongs to (a path, or a device/inode when no path is known).
    pub fn file(&self) -> &str {
        match self {
            CheckpointError::Key { file, .. }
            | CheckpointError::Value { file, .. }
            | CheckpointError::Version { file, .. } => file,
        }
    }
}

/// Stored bytes of a key.
pub fn encode_key(key: &FileKey) -> Vec<u8> {
    // FileKey is a plain serde struct of integers; JSON cannot fail for it.
    serde_json::to_vec(key).unwrap_or_default()
}

/// Stored bytes of a checkpoint.
pub fn encode_checkpoint(checkpoint: &Checkpoint) -> Vec<u8> {
    // Checkpoint is a plain serde struct of integers and a string; JSON cannot fail for it.
    serde_json::to_vec(checkpoint).unwrap_or_default()
}

/// Decodes the stored (key, checkpoint) pairs the tailer resumes from. A pair that cannot
/// be used is logged at WARN naming its file (which is then read again from its start) and
/// left out.
pub fn load_saved(entries: Vec<(Vec<u8>, Vec<u8>)>) -> Vec<(FileKey, Checkpoint)> {
    entries
        .into_iter()
        .filter_map(|(k, v)| match decode_saved(&k, &v) {
            Ok(saved) => Some(saved),
            Err(err) => {
                tracing::warn!(
                    file = %err.file(),
                    error = %err,
                    "Checkpoint unusable; the file will be read again from its start."
                );
                None
            }
        })
        .collect()
}

/// Decodes one stored (key, checkpoint) pair, of any version up to [`CHECKPOINT_VERSION`].
pub fn decode_saved(key: &[u8], value: &[u8]) -> Result<(FileKey, Checkpoint), CheckpointError> {
    let parsed_key = serde_json::from_slice::<FileKey>(key);
    let file_hint = || {
        // Whatever can still be read, to name the file in the error.
        let path = serde_json::from_slice::<serde_json::Value>(value)
            .ok()
            .and_then(|v| v.get("path").and_then(|p| p.as_str()).map(str::to_owned));
        match (path, &parsed_key) {
            (Some(path), _) => path,
            (None, Ok(k)) => format!("device {} inode {}", k.dev, k.ino),
            (None, Err(_)) => format!("unknown (key {})", String::from_utf8_lossy(key)),
        }
    };
    let checkpoint: Checkpoint =
        serde_json::from_slice(value).map_err(|source| CheckpointError::Value {
            file: file_hint(),
            source,
        })?;
    let key = parsed_key.map_err(|source| CheckpointError::Key {
        file: checkpoint.path.clone(),
        source,
    })?;
    if checkpoint.version > CHECKPOINT_VERSION {
        return Err(CheckpointError::Version {
            file: checkpoint.path,
            version: checkpoint.version,
        });
    }
    Ok((key, checkpoint))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> FileKey {
        FileKey {
            fingerprint: Fingerprint::of(b"a\n"),
            dev: 1,
            ino: 7,
        }
    }

    /// Expected offset and version, or the error text.
    type Want = Result<(u64, u16), &'static str>;

    /// One row per stored form: (value JSON, what it decodes to).
    #[test]
    fn decodes_every_version_and_names_the_file_on_error() {
        let k = encode_key(&key());
        let rows: &[(&str, Want)] = &[
            // v0: no version field (agents before checkpoint versioning).
            (r#"{"offset":12,"path":"/l/a.log"}"#, Ok((12, 0))),
            (r#"{"version":1,"offset":5,"path":"/l/a.log"}"#, Ok((5, 1))),
            (
                r#"{"version":2,"offset":5,"path":"/l/a.log","before":{"len":2,"hash":1}}"#,
                Ok((5, 2)),
            ),
            (
                r#"{"version":9,"offset":5,"path":"/l/a.log"}"#,
                Err("checkpoint of /l/a.log has format version 9; this build reads up to 2"),
            ),
            (
                r#"{"offset":"x","path":"/l/b.log"}"#,
                Err("checkpoint of /l/b.log does not parse"),
            ),
            (
                "garbage",
                Err("checkpoint of device 1 inode 7 does not parse"),
            ),
        ];
        for (value, want) in rows {
            let got = decode_saved(&k, value.as_bytes())
                .map(|(_, c)| (c.offset, c.version))
                .map_err(|e| e.to_string());
            assert_eq!(got, want.map_err(str::to_owned), "{value}");
        }
        let err = decode_saved(b"{}", br#"{"offset":1,"path":"/l/c.log"}"#).unwrap_err();
        assert_eq!(err.file(), "/l/c.log");
    }

    /// A writer the test subscriber logs into.
    #[derive(Clone, Default)]
    struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn unusable_checkpoint_is_warned_with_its_file_and_left_out() {
        let captured = Captured::default();
        let sink = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || sink.clone())
            .with_ansi(false)
            .finish();
        let k = encode_key(&key());
        let good = encode_checkpoint(&Checkpoint::new(3, "/l/good.log"));
        let loaded = tracing::subscriber::with_default(subscriber, || {
            load_saved(vec![
                (k.clone(), good),
                (
                    k.clone(),
                    br#"{"offset":-1,"path":"/l/broken.log"}"#.to_vec(),
                ),
            ])
        });
        assert_eq!(loaded.len(), 1);
        assert_eq!(loaded[0].1.path, "/l/good.log");
        let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert!(
            log.contains("WARN") && log.contains("file=/l/broken.log"),
            "{log}"
        );
    }

    #[test]
    fn current_format_round_trips() {
        let cp = Checkpoint::new(42, "/l/a.log").with_before(Some(Fingerprint::of(b"x\n")));
        let (k, back) = decode_saved(&encode_key(&key()), &encode_checkpoint(&cp)).unwrap();
        assert_eq!((k, back), (key(), cp));
    }
}
