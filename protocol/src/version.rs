//! Protocol versioning.
//!
//! The ALPN string names the major version; `Hello::protocol_version` names the exact
//! one. A collector accepts every version in `SUPPORTED_VERSIONS` and rejects others
//! with `RejectReason::UnsupportedVersion`, so an old agent gets a clear error.

/// The version this build speaks.
pub const PROTOCOL_VERSION: u16 = 5;

/// Versions a collector of this build accepts.
pub const SUPPORTED_VERSIONS: &[u16] = &[1, 2, 3, 4, 5];

/// The first version with `Frame::Status`, `RejectReason::TooLarge` and
/// `RejectReason::IdentityConflict`: neither end sends them to a peer below it.
pub const V2: u16 = 2;

/// The first version with `Frame::StatusV3` (the heartbeat naming the applied model): an
/// agent sends it only to a collector whose `Welcome` names version 3 or later.
pub const V3: u16 = 3;

/// The first version whose batch payloads may be v4 payloads (`codec::encode_payload`): an
/// agent sends v4 payloads only to a collector whose `Welcome` names version 4 or later, and
/// re-encodes buffered batches as v1 payloads for an older one (`codec::downgrade_batch`).
pub const V4: u16 = 4;

/// The first version with `Frame::Credential` and `RejectReason::Revoked`: a collector
/// issues a per-agent credential only to an agent at this version or later, and tells an
/// older one `Unauthorized` where it would say `Revoked`.
pub const V5: u16 = 5;

/// ALPN identifier negotiated in the TLS handshake.
pub const ALPN: &[u8] = b"fleetlog/1";

/// Whether a peer announcing `version` can be served.
pub fn is_supported(version: u16) -> bool {
    SUPPORTED_VERSIONS.contains(&version)
}
