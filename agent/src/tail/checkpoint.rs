//! Serializable checkpoint types: what the agent persists (in redb) per file identity.
//!
//! A checkpoint is written by the caller in the same transaction as the lines it follows,
//! so `offset` is always the position just after the last committed line.

use serde::{Deserialize, Serialize};

use super::fingerprint::Fingerprint;

/// Current [`Checkpoint::version`]; bump it when the meaning of a field changes.
pub const CHECKPOINT_VERSION: u16 = 1;

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
    /// Format version, [`CHECKPOINT_VERSION`] when written by this build.
    pub version: u16,
    /// Byte offset just after the last delivered line (or line piece).
    pub offset: u64,
    /// The path the file had when the checkpoint was written (informational).
    pub path: String,
}

impl Checkpoint {
    /// A checkpoint in the current format.
    pub fn new(offset: u64, path: impl Into<String>) -> Checkpoint {
        Checkpoint {
            version: CHECKPOINT_VERSION,
            offset,
            path: path.into(),
        }
    }
}
