//! Incidents: events grouped by fingerprint across hosts, with their life (pending, open,
//! resolved, regressed), evidence and related incidents.
//!
//! `decide.rs` is the pure decider, `fingerprint.rs` the stable grouping key computed at
//! ingest, `worker.rs` the driver that feeds stored events to the decider under a lease.

pub mod decide;
pub mod fingerprint;
pub mod worker;
