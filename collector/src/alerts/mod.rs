//! Alerting: rules over the store's health, aggregates, heartbeats and incidents
//! (`rules.rs`), the pure state machine and grouping windows (`decide.rs`), the
//! evaluator that runs them under the `alerts` lease and writes state changes with
//! their outbox notifications in one transaction (`worker.rs`), and `[alerts]`
//! (`config.rs`).

pub mod config;
pub mod decide;
pub mod evaluate;
pub mod payload;
pub mod route;
pub mod rules;
pub mod worker;
