//! Jira automation: one ticket per ticket-worthy incident, kept up to date, never
//! duplicated.
//!
//! - `decide.rs` — pure: create / comment / reopen / skip with a reason, per-band
//!   confidence thresholds, at most one comment about repeats per interval;
//! - `adf.rs` — pure: descriptions and comments in Atlassian Document Format;
//! - `client.rs` — the Jira Cloud REST v3 client (reqwest + rustls, basic auth);
//! - `config.rs` — the `[jira]` and `[automation]` keys and the run-time [`config::Settings`];
//! - `worker.rs` — under the `jira` lease: reads incidents, decides, and writes the decision
//!   with its Jira job in one transaction;
//! - `deliver.rs` — carries out one job against Jira: before a create it looks for the
//!   ticket locally, then by JQL on the fingerprint label (with `reconcileIssues`), so a
//!   create that timed out after Jira accepted it never makes a second ticket.

pub mod adf;
pub mod client;
pub mod config;
pub mod decide;
pub mod deliver;
pub mod worker;

/// The label every ticket carries, naming its incident's fingerprint.
pub fn fingerprint_label(fingerprint: &str) -> String {
    format!("fleetlog-fp-{fingerprint}")
}

/// The label every fleetlog ticket carries.
pub const LABEL: &str = "fleetlog";
