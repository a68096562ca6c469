//! Retention of SQL rows against real databases (SQLite, and PostgreSQL as `store.rs`
//! explains): every table gets rows older and younger than its age, retention runs with an
//! injected `now`, and exactly the old rows go, except the ones the invariants keep.
//! Run with `--nocapture` to see the figures (rows deleted per table, transactions).

// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used)]

use std::num::NonZeroU32;
use std::time::Duration;

use fleetlog_collector::store::{IngestOutcome, RowPolicy, RowTable, Store};
use fleetlog_protocol::{Batch, BatchPayload, Level};

mod common;
use common::{Env, entry, make_batch, on_all_backends};

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;
/// The injected clock: day 400 after the epoch.
const NOW: i64 = 400 * DAY;
/// Older than every age below.
const OLD: i64 = NOW - 40 * DAY;
/// Younger than every age below.
const NEW: i64 = NOW - DAY;
/// Inside the 30-day ages, outside the 7-day dedupe window.
const MID: i64 = NOW - 10 * DAY;

fn policy(batch_rows: u32) -> RowPolicy {
    let days = |d: u64| Some(Duration::from_secs(d * 24 * 3600));
    RowPolicy {
        events: days(30),
        minute_stats: days(30),
        batches: days(7),
        outbox: days(30),
        heartbeats: days(7),
        audit: days(30),
        batch_rows: NonZeroU32::new(batch_rows).unwrap(),
    }
}

/// Four lines at `ts` (two warnings, an error, an info line), each with its own text.
fn batch(agent: &str, seq: u64, ts: i64) -> (Batch, BatchPayload) {
    let levels = [Level::Warn, Level::Error, Level::Info, Level::Warn];
    let entries = levels
        .iter()
        .enumerate()
        .map(|(i, &level)| {
            let text = format!(
                "{agent} batch {seq} kind-{} failed",
                ["a", "b", "c", "d"][i]
            );
            entry(ts + i as i64, i as u32 % 2, &text, level)
        })
        .collect();
    make_batch(agent, seq, entries)
}

async fn store_batch(store: &Store, agent: &str, seq: u64, at: i64) -> IngestOutcome {
    resend(store, agent, seq, at, at).await
}

/// The batch of lines at `at`, (re-)sent at `now`: byte for byte the same batch.
async fn resend(store: &Store, agent: &str, seq: u64, at: i64, now: i64) -> IngestOutcome {
    let (b, p) = batch(agent, seq, at);
    store
        .ingest(&format!("host-{agent}"), &b, &p, now)
        .await
        .unwrap()
}

async fn count(store: &Store, sql: &str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(store.pool())
        .await
        .unwrap()
}

async fn exec(store: &Store, sql: &str) {
    sqlx::query(sql).execute(store.pool()).await.unwrap();
}

/// Outbox messages (done, dead, pending) with one attempt each, heartbeats, audit rows.
async fn fill_side_tables(store: &Store) {
    let messages = [
        (1, "done", Some(OLD)),
        (2, "done", Some(OLD)),
        (3, "dead", Some(OLD)),
        (4, "pending", None),
        (5, "done", Some(NEW)),
    ];
    for (id, state, finished) in messages {
        let finished = finished.map_or("NULL".to_owned(), |t| t.to_string());
        exec(
            store,
            &format!(
                "INSERT INTO outbox (id, kind, target, idempotency_key, payload, created_ms, \
                 due_ms, attempts, state, finished_ms) VALUES ({id}, 'webhook', '1', \
                 'key-{id}', '{{}}', {OLD}, {OLD}, 1, '{state}', {finished})"
            ),
        )
        .await;
        // Message 5 was delivered recently; the others were tried long ago.
        let started = if id == 5 { NEW } else { OLD };
        exec(
            store,
            &format!(
                "INSERT INTO outbox_attempts (message_id, target, attempt, started_ms, \
                 latency_ms, outcome) VALUES ({id}, '1', 1, {started}, 5, 'delivered')"
            ),
        )
        .await;
    }
    // Agent a: three old heartbeats and a new one; agent b went quiet long ago.
    for (agent, at) in [("a", OLD), ("a", OLD + 1), ("a", OLD + 2), ("a", NEW)]
        .into_iter()
        .chain([("b", OLD), ("b", OLD + 1)])
    {
        exec(
            store,
            &format!(
                "INSERT INTO heartbeats (agent_id, host, ts_ms, received_ms, status_json) \
                 VALUES ('{agent}', 'host-{agent}', {at}, {at}, '{{}}')"
            ),
        )
        .await;
    }
    for i in 0..7 {
        let at = if i < 5 { OLD + i } else { NEW + i };
        exec(
            store,
            &format!(
                "INSERT INTO audit (ts_ms, actor, actor_role, action, target) \
                 VALUES ({at}, 'admin', 'admin', 'user.create', 'u{i}')"
            ),
        )
        .await;
    }
}

/// An incident with `status` whose only sample is event `event_id`.
async fn incident(store: &Store, fingerprint: &str, status: &str, event_id: i64) {
    let samples =
        format!(r#"[{{"event_id":{event_id},"host":"host-a","ts_ms":{OLD},"line":"sample"}}]"#);
    exec(
        store,
        &format!(
            "INSERT INTO incidents (fingerprint, status, severity, worst, title, first_seen_ms, \
             last_seen_ms, event_count, host_count, hosts_json, samples_json, window_start_ms, \
             window_count, regressions, related_json, updated_ms) VALUES ('{fingerprint}', \
             '{status}', 'error', 'error', 't', {OLD}, {OLD}, 1, 1, '[]', '{samples}', {OLD}, \
             1, 0, '[]', {OLD})"
        ),
    )
    .await;
}

#[tokio::test]
async fn row_retention_deletes_exactly_the_old_rows_and_keeps_dedupe() {
    on_all_backends(|env: Env| async move {
        let store = &env.store;
        // Agent a: two old batches and a new one; b: one old batch (its newest);
        // c: two batches inside the segment age but outside the dedupe window.
        for (agent, seq, at) in [
            ("a", 1, OLD),
            ("a", 2, OLD),
            ("b", 1, OLD),
            ("c", 1, MID),
            ("c", 2, MID),
            ("a", 3, NEW),
        ] {
            assert!(matches!(
                store_batch(store, agent, seq, at).await,
                IngestOutcome::Stored { .. }
            ));
        }
        fill_side_tables(store).await;
        let cutoff30 = NOW - 30 * DAY;
        let old_events: Vec<i64> = sqlx::query_scalar(&format!(
            "SELECT id FROM events WHERE ts_ms < {cutoff30} ORDER BY id"
        ))
        .fetch_all(store.pool())
        .await
        .unwrap();
        let events_before = count(store, "SELECT COUNT(*) FROM events").await;
        let stats_old = count(
            store,
            &format!("SELECT COUNT(*) FROM minute_stats WHERE minute_ms < {cutoff30}"),
        )
        .await;
        let stats_before = count(store, "SELECT COUNT(*) FROM minute_stats").await;
        assert!(
            old_events.len() >= 6 && stats_old >= 2,
            "{old_events:?} {stats_old}"
        );
        // An open incident shows the first old event; a resolved one the second.
        incident(store, "fp-open", "open", old_events[0]).await;
        incident(store, "fp-resolved", "resolved", old_events[1]).await;
        // The incident worker has read every event.
        let max_event = *old_events.iter().max().unwrap();
        let max_event = max_event.max(count(store, "SELECT MAX(id) FROM events").await);
        exec(
            store,
            &format!(
                "INSERT INTO worker_leases (name, owner, lease_until_ms, position) \
                 VALUES ('incidents', 'x', 0, {max_event})"
            ),
        )
        .await;

        // Segments first (30 days): the old batches' segments go, c's stay.
        let seg = store
            .apply_retention(NOW, Some(Duration::from_secs(30 * 24 * 3600)), None)
            .await
            .unwrap();
        assert_eq!(seg.segments_deleted, 3);
        assert_eq!(
            seg.transactions, 1,
            "one transaction for the chunk, not one per segment"
        );

        let batch_rows = 2;
        let report = store
            .apply_row_retention(NOW, &policy(batch_rows))
            .await
            .unwrap();
        eprintln!(
            "{}: segments deleted {} in {} transaction(s); rows deleted {:?} in {} transactions \
             of at most {batch_rows} rows",
            env.backend,
            seg.segments_deleted,
            seg.transactions,
            report
                .deleted
                .iter()
                .map(|(t, n)| (t.name(), *n))
                .collect::<Vec<_>>(),
            report.transactions
        );

        // Events: every old one but the open incident's sample.
        assert_eq!(
            report.deleted(RowTable::Events),
            old_events.len() as u64 - 1
        );
        let left_old: Vec<i64> = sqlx::query_scalar(&format!(
            "SELECT id FROM events WHERE ts_ms < {cutoff30} ORDER BY id"
        ))
        .fetch_all(store.pool())
        .await
        .unwrap();
        assert_eq!(left_old, [old_events[0]]);
        assert_eq!(
            count(store, "SELECT COUNT(*) FROM events").await,
            events_before - old_events.len() as i64 + 1
        );
        // Per-minute counts: exactly the old minutes.
        assert_eq!(report.deleted(RowTable::MinuteStats), stats_old as u64);
        assert_eq!(
            count(store, "SELECT COUNT(*) FROM minute_stats").await,
            stats_before - stats_old
        );
        // Dedupe rows: a/1 and a/2 only (b/1 is b's newest, c's segments still exist).
        assert_eq!(report.deleted(RowTable::Batches), 2);
        let left: Vec<(String, i64)> =
            sqlx::query_as("SELECT agent_id, seq FROM batches ORDER BY agent_id, seq")
                .fetch_all(store.pool())
                .await
                .unwrap();
        let left: Vec<(&str, i64)> = left.iter().map(|(a, s)| (a.as_str(), *s)).collect();
        assert_eq!(left, [("a", 3), ("b", 1), ("c", 1), ("c", 2)]);
        // Outbox: the old done and dead messages with their attempts; pending stays.
        assert_eq!(report.deleted(RowTable::Outbox), 3);
        assert_eq!(report.deleted(RowTable::OutboxAttempts), 3);
        let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM outbox ORDER BY id")
            .fetch_all(store.pool())
            .await
            .unwrap();
        assert_eq!(ids, [4, 5]);
        let ids: Vec<i64> =
            sqlx::query_scalar("SELECT message_id FROM outbox_attempts ORDER BY message_id")
                .fetch_all(store.pool())
                .await
                .unwrap();
        assert_eq!(ids, [4, 5]);
        // Heartbeats: a's three old ones and b's older one; b's newest stays.
        assert_eq!(report.deleted(RowTable::Heartbeats), 4);
        let left: Vec<(String, i64)> =
            sqlx::query_as("SELECT agent_id, received_ms FROM heartbeats ORDER BY id")
                .fetch_all(store.pool())
                .await
                .unwrap();
        assert_eq!(left, [("a".to_owned(), NEW), ("b".to_owned(), OLD + 1)]);
        assert_eq!(report.deleted(RowTable::Audit), 5);
        assert_eq!(count(store, "SELECT COUNT(*) FROM audit").await, 2);
        // Bounded batches: no transaction deleted more than `batch_rows` rows, so there
        // are at least ceil(rows / batch_rows) per table.
        let least: u64 = report
            .deleted
            .values()
            .map(|n| n.div_ceil(u64::from(batch_rows)))
            .sum();
        assert!(report.transactions >= least, "{report:?}");

        // Re-sends: recent, newest-of-agent and still-archived batches stay duplicates.
        for (agent, seq, at) in [("a", 3, NEW), ("b", 1, OLD), ("c", 1, MID)] {
            assert_eq!(
                resend(store, agent, seq, at, NOW).await,
                IngestOutcome::Duplicate,
                "{agent}/{seq} stored at {at}"
            );
        }
        assert_eq!(store.last_seq("a").await.unwrap(), Some(3));

        // A second pass finds nothing more.
        let again = store.apply_row_retention(NOW, &policy(2)).await.unwrap();
        assert_eq!((again.total(), again.transactions), (0, 0), "{again:?}");

        // 0 hours keeps forever: nothing goes even far in the future.
        let keep = RowPolicy::keep_all(NonZeroU32::new(2).unwrap());
        let none = store.apply_row_retention(NOW * 10, &keep).await.unwrap();
        assert_eq!(none.total(), 0);

        // An indexed segment whose file vanished is reported, not swept.
        let path: String =
            sqlx::query_scalar("SELECT path FROM segments WHERE agent_id = 'c' AND seq = 1")
                .fetch_one(store.pool())
                .await
                .unwrap();
        std::fs::remove_file(store.archive().resolve(&path).unwrap()).unwrap();
        let seg = store.apply_retention(NOW, None, None).await.unwrap();
        assert_eq!((seg.missing_files, seg.orphans_deleted), (1, 0));
        assert_eq!(
            count(store, "SELECT COUNT(*) FROM segments WHERE agent_id = 'c'").await,
            2
        );
    })
    .await;
}

#[tokio::test]
async fn unread_events_and_a_large_backlog_go_in_bounded_batches() {
    on_all_backends(|env: Env| async move {
        let store = &env.store;
        for seq in 1..=30u64 {
            store_batch(store, "a", seq, OLD + seq as i64 * 60_000).await;
        }
        let events = count(store, "SELECT COUNT(*) FROM events").await;
        // The incident worker read only up to the tenth event: later ones wait for it.
        let tenth: i64 = sqlx::query_scalar("SELECT id FROM events ORDER BY id LIMIT 1 OFFSET 9")
            .fetch_one(store.pool())
            .await
            .unwrap();
        exec(
            store,
            &format!(
                "INSERT INTO worker_leases (name, owner, lease_until_ms, position) \
                 VALUES ('incidents', 'x', 0, {tenth})"
            ),
        )
        .await;
        let mut only_events = RowPolicy::keep_all(NonZeroU32::new(4).unwrap());
        only_events.events = Some(Duration::from_secs(30 * 24 * 3600));
        let report = store.apply_row_retention(NOW, &only_events).await.unwrap();
        assert_eq!(report.deleted(RowTable::Events), 10);
        assert_eq!(report.transactions, 3, "10 rows in batches of 4");
        assert_eq!(
            count(store, "SELECT COUNT(*) FROM events").await,
            events - 10
        );

        // Once read, the rest goes; minute_stats in whole minutes per batch.
        exec(store, "UPDATE worker_leases SET position = 1000000").await;
        let mut policy = only_events;
        policy.minute_stats = only_events.events;
        let report = store.apply_row_retention(NOW, &policy).await.unwrap();
        eprintln!(
            "{}: backlog of {events} events and 30 minutes: deleted {:?} in {} transactions",
            env.backend,
            report
                .deleted
                .iter()
                .map(|(t, n)| (t.name(), *n))
                .collect::<Vec<_>>(),
            report.transactions
        );
        assert_eq!(count(store, "SELECT COUNT(*) FROM events").await, 0);
        assert_eq!(count(store, "SELECT COUNT(*) FROM minute_stats").await, 0);
        assert_eq!(report.deleted(RowTable::Events), events as u64 - 10);
    })
    .await;
}
