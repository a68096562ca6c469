//! One client's reader of the change feeds: from a position on, every `poll`, read what
//! came after, keep what the filter admits, and hand it to the client's bounded queue.
//! Shared by the SSE endpoint and the WebSocket endpoint, so both resume, filter and shed
//! slow clients the same way.

use std::time::Duration;

use tokio::sync::mpsc;
use tracing::debug;

use super::{Filter, Item, Position, feed};
use crate::store::Store;

/// Why a pump stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The client went away (its queue was closed).
    Closed,
    /// The client's queue was full: it fell `limit` items behind.
    SlowClient,
}

/// Reads the feeds after `start` for as long as the client listens; each admitted item is
/// wrapped by `wrap` (with the position to resume after it) and offered to `tx` without
/// waiting. Returns why it stopped. Store errors are retried at the next tick.
pub async fn pump<T>(
    store: Store,
    start: Position,
    filter: Filter,
    poll: Duration,
    limit: i64,
    tx: mpsc::Sender<T>,
    wrap: impl Fn(Position, Item) -> T,
) -> End {
    let mut pos = start;
    let mut tick = tokio::time::interval(poll);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if tx.is_closed() {
            return End::Closed;
        }
        let items = match feed::after(&store, pos, limit).await {
            Ok(items) => items,
            Err(err) => {
                debug!(error = %err, "Reading the stream feeds failed; will retry.");
                continue;
            }
        };
        for item in items {
            pos = pos.after(item.kind, item.id);
            if !filter.admits(&item) {
                continue;
            }
            match tx.try_send(wrap(pos, item)) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => return End::SlowClient,
                Err(mpsc::error::TrySendError::Closed(_)) => return End::Closed,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn store_with_changes(dir: &std::path::Path, n: i64) -> Store {
        let url = format!("sqlite://{}", dir.join("s.db").display());
        let store = Store::open(&url, dir.join("archive")).await.unwrap();
        for i in 0..n {
            sqlx::query(
                "INSERT INTO health_changes (host, service, state, reason, ts_ms) \
                 VALUES ($1, 'pay', 'down', 'test', $2)",
            )
            .bind(if i % 2 == 0 { "pos-1" } else { "pos-2" })
            .bind(i)
            .execute(store.pool())
            .await
            .unwrap();
        }
        store
    }

    #[tokio::test]
    async fn hands_over_admitted_items_with_resume_positions() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_changes(dir.path(), 6).await;
        let (tx, mut rx) = mpsc::channel(16);
        let filter = Filter {
            host: Some("pos-2".into()),
            ..Filter::default()
        };
        let task = tokio::spawn(pump(
            store,
            Position::default(),
            filter,
            Duration::from_millis(10),
            16,
            tx,
            |pos, item| (pos, item.id),
        ));
        let mut got = Vec::new();
        while got.len() < 3 {
            got.push(rx.recv().await.unwrap());
        }
        assert_eq!(
            got.iter().map(|g| g.1).collect::<Vec<_>>(),
            [2, 4, 6],
            "pos-2's changes, in order"
        );
        assert_eq!(got[2].0.health, 6, "the position resumes after the item");
        drop(rx);
        assert_eq!(task.await.unwrap(), End::Closed);
    }

    #[tokio::test]
    async fn a_client_that_stops_reading_is_shed_not_buffered() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_changes(dir.path(), 20).await;
        let (tx, rx) = mpsc::channel(4);
        let end = pump(
            store,
            Position::default(),
            Filter::default(),
            Duration::from_millis(10),
            4,
            tx,
            |_, item| item.id,
        )
        .await;
        assert_eq!(end, End::SlowClient);
        assert_eq!(rx.len(), 4, "the queue holds its bound, no more");
    }
}
