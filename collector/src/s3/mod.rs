//! S3 analysis: scan a bucket prefix, react to new objects, resume without reprocessing.
//!
//! - `config` — the `[s3]` keys; `client` — S3/SQS clients from `aws-config` plus those keys.
//! - `scan` — pure decisions: which listed objects a scan takes or skips (unchanged ETag,
//!   too large, outside the time filter), and a scan's next step.
//! - `object` — one object's bytes to judged lines in batches of 1,000 (gzip by magic bytes,
//!   binary refused, decompression-bomb limit).
//! - `worker` — the scan runner under the `s3` lease; `events` — SQS polling and pushed
//!   events with a signature, deduplicated by (bucket, key, ETag).
//!
//! Storage is `store/s3.rs`; the HTTP surface `api/s3.rs`; the CLI `analyze/s3.rs`.

pub mod client;
pub mod config;
pub mod events;
pub mod object;
pub mod scan;
pub mod worker;

pub use config::S3Config;
