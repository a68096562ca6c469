//! Training and the model registry: models in SQL with versions (`store::models`), pushed
//! to connected agents when one is activated (`registry`, `ingest::connections`).
//!
//! - `job.rs` — pure: a job's states (queued → running → succeeded | failed | cancelled) and
//!   what a cancel does in each, table-tested.
//! - `train.rs` — synchronous training over uploaded files (plain or gzip by magic bytes, bad
//!   input reported per file) or archived lines, through the CLI `train`'s `Trainer`.
//! - `runner.rs` — runs jobs one at a time per replica, with progress and cancel through the
//!   job's row; a finished job adds an inactive model version.
//! - `registry.rs` — imports the `model` file, loads the active model, follows activations
//!   made on other replicas by polling the store.
//! - `config.rs` — the `[training]` keys.

pub mod config;
pub mod job;
pub mod registry;
pub mod runner;
pub mod train;
