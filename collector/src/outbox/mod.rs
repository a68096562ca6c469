//! The outbox's delivery side: a pure retry decider (`decide.rs`) and the worker that
//! claims due messages and hands each to the [`Deliver`] impl registered for its kind
//! (`worker.rs`). The queue itself is `store::outbox`; `[outbox]` configures it
//! ([`OutboxConfig`]).

pub mod config;
pub mod decide;
pub mod worker;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

pub use crate::store::outbox::{NewMessage, Next, OutboxMessage};
pub use config::OutboxConfig;
pub use decide::{RetryPolicy, next_after_failure};

/// A boxed future, so [`Deliver`] needs no `async_trait`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A successful delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Delivered {
    /// The receiver's HTTP status, if it spoke HTTP.
    pub status: Option<u16>,
}

/// A failed delivery. `message` must hold no secret (it is stored and logged).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DeliverError {
    /// Retrying cannot help (e.g. 400, 404, a channel that no longer exists).
    pub permanent: bool,
    /// The receiver asked to wait this long (`Retry-After`).
    pub retry_after: Option<Duration>,
    pub status: Option<u16>,
    pub message: String,
}

impl DeliverError {
    /// A failure worth retrying.
    pub fn transient(message: impl Into<String>) -> Self {
        DeliverError {
            permanent: false,
            retry_after: None,
            status: None,
            message: message.into(),
        }
    }

    /// A failure retrying cannot fix.
    pub fn permanent(message: impl Into<String>) -> Self {
        DeliverError {
            permanent: true,
            ..DeliverError::transient(message)
        }
    }
}

/// Performs one kind of side effect (one impl per `kind`: email, slack, webhook, jira).
pub trait Deliver: Send + Sync {
    /// Delivers `msg` once; the worker applies the timeout, retries and dead-lettering.
    fn deliver<'a>(
        &'a self,
        msg: &'a OutboxMessage,
    ) -> BoxFuture<'a, Result<Delivered, DeliverError>>;
}
