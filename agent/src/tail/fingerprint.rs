//! File identity from content: a stable hash of a file's first bytes.
//!
//! The hash is FNV-1a 64 over at most [`FINGERPRINT_MAX_BYTES`] head bytes.
//! It is written out here (not `std`'s `RandomState` or `DefaultHasher`) because
//! checkpoints outlive the process and the toolchain: the same bytes must give the
//! same fingerprint on every run and every Rust release.

use std::fs::Metadata;

use serde::{Deserialize, Serialize};

/// The most head bytes a fingerprint covers.
pub const FINGERPRINT_MAX_BYTES: usize = 256;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// Hash of a file's first `len` bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Ord, PartialOrd, Serialize, Deserialize)]
pub struct Fingerprint {
    /// How many head bytes the hash covers (1..=[`FINGERPRINT_MAX_BYTES`]).
    pub len: u32,
    /// FNV-1a 64 of those bytes.
    pub hash: u64,
}

impl Fingerprint {
    /// Fingerprint of exactly `bytes`.
    pub fn of(bytes: &[u8]) -> Fingerprint {
        let bytes = &bytes[..bytes.len().min(FINGERPRINT_MAX_BYTES)];
        Fingerprint {
            len: bytes.len() as u32,
            hash: fnv1a(bytes),
        }
    }

    /// Whether `head` (a file's first bytes) starts with the bytes this fingerprint covers.
    pub fn matches(&self, head: &[u8]) -> bool {
        head.get(..self.len as usize)
            .is_some_and(|h| fnv1a(h) == self.hash)
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(FNV_OFFSET, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(FNV_PRIME)
    })
}

/// The fingerprint length for a given `max_line_bytes`: at most 256 bytes, and never more
/// than a forced split needs, so any file with something to emit can be fingerprinted.
pub(crate) fn fingerprint_cap(max_line_bytes: usize) -> usize {
    FINGERPRINT_MAX_BYTES
        .min(max_line_bytes.saturating_add(2))
        .max(1)
}

/// How many of `head` (a file's first `min(256, size)` bytes) identify the file, or `None`
/// while the file is too short: it needs `cap` bytes or at least one complete line.
pub(crate) fn fingerprint_len(head: &[u8], cap: usize) -> Option<usize> {
    if head.len() >= cap {
        Some(cap)
    } else if memchr::memchr(b'\n', head).is_some() {
        Some(head.len())
    } else {
        None
    }
}

/// Device and inode: the hint half of a file's identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct DevIno {
    pub(crate) dev: u64,
    pub(crate) ino: u64,
}

impl DevIno {
    pub(crate) fn of(meta: &Metadata) -> DevIno {
        use std::os::unix::fs::MetadataExt;
        DevIno {
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }
}

/// What changes when a file is written to: compared between stats to skip unchanged files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct StatSig {
    pub(crate) size: u64,
    pub(crate) mtime: (i64, i64),
}

impl StatSig {
    pub(crate) fn of(meta: &Metadata) -> StatSig {
        use std::os::unix::fs::MetadataExt;
        StatSig {
            size: meta.len(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_is_stable_across_runs() {
        // Frozen value: a change here orphans every stored checkpoint.
        // Published FNV-1a 64 test vector for "a".
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(
            Fingerprint::of(b"hello\n"),
            Fingerprint {
                len: 6,
                hash: 0xa9bc_80cc_a21f_28b3
            }
        );
    }

    #[test]
    fn matches_needs_the_whole_prefix() {
        let fp = Fingerprint::of(b"abc\n");
        assert!(fp.matches(b"abc\ndef"));
        assert!(!fp.matches(b"abc"));
        assert!(!fp.matches(b"abd\n"));
    }

    #[test]
    fn fingerprint_len_waits_for_a_line_or_cap() {
        assert_eq!(fingerprint_len(b"", 256), None);
        assert_eq!(fingerprint_len(b"partial", 256), None);
        assert_eq!(fingerprint_len(b"a\nb", 256), Some(3));
        assert_eq!(fingerprint_len(&[b'x'; 300][..256], 256), Some(256));
        assert_eq!(fingerprint_cap(10), 12);
        assert_eq!(fingerprint_cap(1 << 20), 256);
    }
}
