//! Pure decisions of both ends of a fleetlog connection.
//!
//! The drivers in the agent and collector do the I/O; they ask these functions what
//! to do with each frame, so the rules can be tested without sockets.

pub mod agent;
pub mod collector;
