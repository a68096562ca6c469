//! The fleetlog wire protocol, free of I/O.
//!
//! `messages` holds the serde types that cross the wire, `codec` turns them into
//! length-prefixed frames (and is the only module that knows bincode and zstd),
//! `version` says which protocol versions this build speaks, and `session` holds the
//! pure decisions of both ends of a connection. `exposition` is the other thing both
//! binaries serve alike: `/metrics` in the format the scraper asks for.
//! Nothing here opens a socket, touches a file or reads the clock.

pub mod codec;
pub mod exposition;
pub mod messages;
pub mod session;
pub mod version;

pub use codec::{CodecError, FrameDecoder, MAX_DECOMPRESSED_LEN, MAX_FRAME_LEN};
pub use messages::{
    Ack, AgentCredential, Batch, BatchPayload, Entry, Frame, Heartbeat, Hello, KubernetesRef,
    Level, ModelPush, Reject, RejectReason, SourceMeta, Welcome,
};
pub use version::{ALPN, PROTOCOL_VERSION};
