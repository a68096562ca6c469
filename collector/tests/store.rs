//! Store tests against real databases: every test runs on SQLite (in a temp dir) and
//! on PostgreSQL (a fresh database per test, dropped afterwards).
//!
//! PostgreSQL comes from `FLEETLOG_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`); the role needs CREATEDB. If it is
//! unreachable the PostgreSQL half is skipped with "SKIP postgres: <reason>" on stderr,
//! unless `FLEETLOG_REQUIRE_POSTGRES=1`, which turns the skip into a failure.

// The helpers below are test code too: a panic is the failure report.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fleetlog_collector::store::{Archive, IngestOutcome, LineRecord, Store, StoreError};
use fleetlog_protocol::codec::encode_payload;
use fleetlog_protocol::{Batch, BatchPayload, Entry, Level};
use tempfile::TempDir;

mod common;
use common::{Env, entry, make_batch, on_all_backends};

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A batch of `n` lines for `agent`/`seq`; every third line is a warning, every fifth an error.
fn batch_of(agent: &str, seq: u64, n: u32) -> (Batch, BatchPayload) {
    let entries = (0..n)
        .map(|i| {
            let level = match i {
                i if i % 5 == 4 => Level::Error,
                i if i % 3 == 2 => Level::Warn,
                _ => Level::Info,
            };
            entry(
                1_000 + i64::from(i),
                i % 2,
                &format!("{agent} seq {seq} line {i}"),
                level,
            )
        })
        .collect();
    make_batch(agent, seq, entries)
}

async fn ingest(store: &Store, host: &str, agent: &str, seq: u64, n: u32, now: i64) -> i64 {
    let (batch, payload) = batch_of(agent, seq, n);
    match store.ingest(host, &batch, &payload, now).await.unwrap() {
        IngestOutcome::Stored { segment_id, lines } => {
            assert_eq!(lines, n);
            segment_id
        }
        other => panic!("batch {agent}/{seq} unexpectedly {other:?}"),
    }
}

/// All of a host's lines, paging `limit` at a time; checks cursors as it goes.
async fn read_all(store: &Store, host: &str, limit: u32) -> Vec<LineRecord> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10_000 {
        let page = store.lines(host, cursor.as_deref(), limit).await.unwrap();
        assert!(page.lines.len() <= limit as usize);
        out.extend(page.lines.iter().cloned());
        match page.next_cursor {
            Some(next) => {
                assert_eq!(
                    page.lines.len(),
                    limit as usize,
                    "a short page must be the last"
                );
                cursor = Some(next);
            }
            None => return out,
        }
    }
    panic!("paging did not terminate");
}

fn texts(lines: &[LineRecord]) -> Vec<String> {
    lines.iter().map(|l| l.line.clone()).collect()
}

fn expected_texts(agent: &str, seqs: impl IntoIterator<Item = u64>, n: u32) -> Vec<String> {
    seqs.into_iter()
        .flat_map(|seq| (0..n).map(move |i| format!("{agent} seq {seq} line {i}")))
        .collect()
}

/// Segment files (not temp files) under the archive.
fn segment_files(archive_dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in std::fs::read_dir(archive_dir).unwrap() {
        let dir = dir.unwrap().path();
        if dir.is_dir() {
            for f in std::fs::read_dir(&dir).unwrap() {
                let f = f.unwrap().path();
                if f.extension().is_some_and(|e| e == "zst") {
                    out.push(f);
                }
            }
        }
    }
    out.sort();
    out
}

async fn segment_path(store: &Store, segment_id: i64) -> PathBuf {
    let rel: String = sqlx::query_scalar("SELECT path FROM segments WHERE id = $1")
        .bind(segment_id)
        .fetch_one(store.pool())
        .await
        .unwrap();
    store.archive().resolve(&rel).unwrap()
}

// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn ingest_and_read_back_in_order_with_paging() {
    on_all_backends(|env: Env| async move {
        let store = &env.store;
        let mut ids = Vec::new();
        for seq in 1..=5 {
            ids.push(ingest(store, "h1", "agent-a", seq, 7, 10_000 + seq as i64).await);
            // Another host's batches interleave in id order and must not show up.
            ingest(store, "h2", "agent-b", seq, 3, 10_000).await;
        }
        // An empty batch is stored (and deduplicated) but contributes no lines.
        let (empty, empty_payload) = make_batch("agent-a", 6, vec![]);
        assert!(matches!(
            store
                .ingest("h1", &empty, &empty_payload, 10_006)
                .await
                .unwrap(),
            IngestOutcome::Stored { lines: 0, .. }
        ));
        ingest(store, "h1", "agent-a", 7, 4, 10_007).await;
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "segment ids grow: {ids:?}"
        );

        let mut expected = expected_texts("agent-a", 1..=5, 7);
        expected.extend(expected_texts("agent-a", [7], 4));
        assert_eq!(expected.len(), 39);
        // Page sizes around segment boundaries, the exact total, and beyond.
        for limit in [1, 2, 3, 6, 7, 8, 13, 38, 39, 40, 10_000] {
            let lines = read_all(store, "h1", limit).await;
            assert_eq!(texts(&lines), expected, "{} limit {limit}", env.backend);
        }

        // Limits are clamped to 1..=MAX_PAGE_LINES.
        assert_eq!(store.lines("h1", None, 0).await.unwrap().lines.len(), 1);
        assert_eq!(
            store.lines("h1", None, u32::MAX).await.unwrap().lines.len(),
            39
        );

        let lines = read_all(store, "h1", 100).await;
        let first = &lines[0];
        assert_eq!((first.seq, first.line_no, first.ts_ms), (1, 0, 1_000));
        assert_eq!(first.source, "/var/log/app.log");
        assert_eq!(lines[1].source, "/var/log/sys.log");
        assert_eq!(lines[4].level, Level::Error);
        assert_eq!(lines[2].level, Level::Warn);
        assert_eq!(lines[0].level, Level::Info);
        assert!((first.score - 0.25).abs() < f32::EPSILON);
        assert_eq!(lines.last().unwrap().seq, 7);

        // A full page ending exactly at the last stored line says there is no more.
        let page = store.lines("h1", None, 39).await.unwrap();
        assert_eq!(page.lines.len(), 39);
        assert_eq!(page.next_cursor, None);
        // A cursor from the last page keeps working once more lines arrive (tailing).
        let page = store.lines("h1", None, 38).await.unwrap();
        let cursor = page.next_cursor.unwrap();
        let tail = store.lines("h1", Some(&cursor), 10).await.unwrap();
        assert_eq!(tail.lines.len(), 1);
        let last = tail.lines[0].clone();
        ingest(store, "h1", "agent-a", 8, 2, 10_008).await;
        let more = store.lines("h1", Some(&last.cursor()), 10).await.unwrap();
        assert_eq!(texts(&more.lines), expected_texts("agent-a", [8], 2));

        assert_eq!(
            texts(&read_all(store, "h2", 4).await),
            expected_texts("agent-b", 1..=5, 3)
        );
        let none = store.lines("nobody", None, 10).await.unwrap();
        assert!(none.lines.is_empty() && none.next_cursor.is_none());
        assert_eq!(store.last_seq("agent-a").await.unwrap(), Some(8));
        assert_eq!(store.last_seq("agent-b").await.unwrap(), Some(5));
        assert_eq!(store.last_seq("agent-z").await.unwrap(), None);
    })
    .await;
}

/// Every match of a raw-line search, paging with `limit` and `max_scan`; checks the bounds.
async fn search_all(store: &Store, host: &str, q: &str, limit: u32, max_scan: u64) -> Vec<String> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..1000 {
        let page = store
            .search_lines(host, q, cursor.as_deref(), limit, max_scan)
            .await
            .unwrap();
        assert!(page.lines.len() <= limit as usize);
        assert!(page.scanned <= max_scan, "{} > {max_scan}", page.scanned);
        out.extend(texts(&page.lines));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return out,
        }
    }
    panic!("search paging did not terminate");
}

#[tokio::test]
async fn raw_line_search_is_newest_first_bounded_and_resumable() {
    on_all_backends(|env: Env| async move {
        let store = &env.store;
        for seq in 1..=5 {
            ingest(store, "h1", "agent-a", seq, 7, 10_000 + seq as i64).await;
            ingest(store, "h2", "agent-b", seq, 7, 10_000 + seq as i64).await;
        }
        // "line 3" of every batch of h1, newest batch first; never h2's.
        let want: Vec<String> = (1..=5)
            .rev()
            .map(|seq| format!("agent-a seq {seq} line 3"))
            .collect();
        for (limit, max_scan) in [(100, 1_000_000), (2, 1_000_000), (100, 4), (1, 1), (3, 7)] {
            assert_eq!(
                search_all(store, "h1", "LINE 3", limit, max_scan).await,
                want,
                "limit {limit}, max_scan {max_scan}"
            );
        }
        // Everything, newest first: the reverse of reading in order.
        let mut all = expected_texts("agent-a", 1..=5, 7);
        all.reverse();
        assert_eq!(search_all(store, "h1", "agent-a", 5, 6).await, all);
        // One bounded page: it read `max_scan` lines and says where to go on.
        let page = store
            .search_lines("h1", "seq 1 ", None, 100, 10)
            .await
            .unwrap();
        assert_eq!(page.scanned, 10);
        assert!(page.lines.is_empty(), "{:?}", texts(&page.lines));
        assert!(page.next_cursor.is_some());
        let none = store
            .search_lines("h1", "no such text", None, 100, 1_000)
            .await
            .unwrap();
        assert_eq!(
            (none.lines.len(), none.scanned, none.next_cursor),
            (0, 35, None)
        );
        let other = store
            .search_lines("nobody", "x", None, 100, 1_000)
            .await
            .unwrap();
        assert_eq!((other.scanned, other.next_cursor), (0, None));
        assert!(matches!(
            store.search_lines("h1", "x", Some("garbage"), 10, 10).await,
            Err(StoreError::BadCursor(_))
        ));
    })
    .await;
}

#[tokio::test]
async fn fleet_error_rates_per_host_and_step() {
    on_all_backends(|env: Env| async move {
        let store = &env.store;
        let line = |ts: i64, error: bool| {
            if error {
                // Counted by the judged severity of the line's score, not its level.
                Entry {
                    score: 0.9,
                    ..entry(
                        ts,
                        0,
                        "ERROR payment failed: terminal timeout",
                        Level::Error,
                    )
                }
            } else {
                entry(ts, 0, "INFO sale completed", Level::Info)
            }
        };
        // h1: 1 error in 4 lines in the first 5-minute step, 2 in 2 in the second.
        let entries = vec![
            line(1_000, true),
            line(2_000, false),
            line(61_000, false),
            line(299_000, false),
            line(301_000, true),
            line(599_000, true),
        ];
        let (batch, payload) = make_batch("agent-a", 1, entries);
        store.ingest("h1", &batch, &payload, 10_000).await.unwrap();
        let (batch, payload) = make_batch("agent-b", 1, vec![line(5_000, false)]);
        store.ingest("h2", &batch, &payload, 10_000).await.unwrap();
        let rates = store.fleet_error_rates(0, 600_000, 300_000).await.unwrap();
        assert_eq!(rates.len(), 2, "{rates:?}");
        assert_eq!(rates["h1"], vec![0.25, 1.0]);
        assert_eq!(rates["h2"], vec![0.0, 0.0]);
        // A window after the lines: no host has a sparkline.
        let later = store
            .fleet_error_rates(600_000, 1_200_000, 300_000)
            .await
            .unwrap();
        assert!(later.is_empty(), "{later:?}");
    })
    .await;
}

#[tokio::test]
async fn same_agent_and_seq_with_other_content_is_a_conflict_not_a_duplicate() {
    on_all_backends(|env: Env| async move {
        let store = &env.store;
        let (batch, payload) = batch_of("kiosk-image", 7, 5);
        let first = store
            .ingest("kiosk-1", &batch, &payload, 1_000)
            .await
            .unwrap();
        assert!(matches!(first, IngestOutcome::Stored { .. }), "{first:?}");
        // The clone: same agent id and seq, its own lines.
        let (mut clone, mut clone_payload) = batch_of("kiosk-image", 7, 6);
        clone_payload.entries[0].line = "kiosk-2 own line".into();
        let (bytes, raw_len) = encode_payload(&clone_payload).unwrap();
        clone.payload = bytes;
        clone.raw_len = raw_len;
        assert_eq!(
            store
                .ingest("kiosk-2", &clone, &clone_payload, 2_000)
                .await
                .unwrap(),
            IngestOutcome::Conflict
        );
        // The first host's re-send is still a plain duplicate, on a replica too.
        assert_eq!(
            env.replica()
                .await
                .ingest("kiosk-1", &batch, &payload, 3_000)
                .await
                .unwrap(),
            IngestOutcome::Duplicate
        );
        assert_eq!(read_all(store, "kiosk-2", 100).await.len(), 0);
        assert_eq!(read_all(store, "kiosk-1", 100).await.len(), 5);
    })
    .await;
}

#[tokio::test]
async fn resent_batch_is_a_duplicate_and_stored_once() {
    on_all_backends(|env: Env| async move {
        let store = &env.store;
        let (batch, payload) = batch_of("agent-a", 42, 5);
        let first = store.ingest("h1", &batch, &payload, 1_000).await.unwrap();
        assert!(
            matches!(first, IngestOutcome::Stored { lines: 5, .. }),
            "{first:?}"
        );
        for now in [2_000, 3_000] {
            assert_eq!(
                store.ingest("h1", &batch, &payload, now).await.unwrap(),
                IngestOutcome::Duplicate
            );
        }
        // A restarted collector (a fresh Store on the same data) still knows it.
        let replica = env.replica().await;
        assert_eq!(
            replica.ingest("h1", &batch, &payload, 4_000).await.unwrap(),
            IngestOutcome::Duplicate
        );
        assert_eq!(read_all(store, "h1", 100).await.len(), 5);
        assert_eq!(segment_files(&env.archive_dir).len(), 1);
        let hosts = store.hosts().await.unwrap();
        assert_eq!(hosts.len(), 1);
        assert_eq!(hosts[0].lines_received, 5);
        assert_eq!(hosts[0].last_seen_ms, 1_000);
        assert_eq!(store.last_seq("agent-a").await.unwrap(), Some(42));
        // The archived segment is the agent's payload byte for byte.
        assert_eq!(
            std::fs::read(&segment_files(&env.archive_dir)[0]).unwrap(),
            batch.payload
        );
        replica.close().await;
    })
    .await;
}

#[tokio::test]
async fn concurrent_ingest_of_one_batch_stores_it_exactly_once() {
    on_all_backends(|env: Env| async move {
        let replica = env.replica().await;
        for seq in 1..=5u64 {
            let (batch, payload) = batch_of("agent-a", seq, 6);
            let mut tasks = Vec::new();
            for i in 0..8 {
                // Half the copies go through a second replica sharing the database.
                let store = if i % 2 == 0 {
                    env.store.clone()
                } else {
                    replica.clone()
                };
                let (batch, payload) = (batch.clone(), payload.clone());
                tasks.push(tokio::spawn(async move {
                    store.ingest("h1", &batch, &payload, 1_000).await.unwrap()
                }));
            }
            let mut stored = 0;
            for task in tasks {
                if matches!(task.await.unwrap(), IngestOutcome::Stored { .. }) {
                    stored += 1;
                }
            }
            assert_eq!(stored, 1, "{} seq {seq}", env.backend);
        }
        assert_eq!(
            texts(&read_all(&env.store, "h1", 7).await),
            expected_texts("agent-a", 1..=5, 6)
        );
        // Losers deleted their own files; no orphan is left behind.
        assert_eq!(segment_files(&env.archive_dir).len(), 5);
        assert_eq!(env.store.hosts().await.unwrap()[0].lines_received, 30);
        replica.close().await;
    })
    .await;
}

/// host, source, level, ts_ms, line_no, segment_id, score
type EventRow = (String, String, String, i64, i64, Option<i64>, f64);

#[tokio::test]
async fn tailing_reader_sees_every_line_once_during_concurrent_ingest() {
    on_all_backends(|env: Env| async move {
        let replica = env.replica().await;
        const WRITERS: u64 = 6;
        const BATCHES: u64 = 8;
        let mut writers = Vec::new();
        for w in 0..WRITERS {
            let store = if w % 2 == 0 {
                env.store.clone()
            } else {
                replica.clone()
            };
            writers.push(tokio::spawn(async move {
                for b in 0..BATCHES {
                    let (batch, payload) = batch_of(&format!("agent-{w}"), b + 1, 5);
                    store.ingest("h1", &batch, &payload, 1_000).await.unwrap();
                }
            }));
        }
        // Tail with a cursor while the writers run, as a live view would.
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        let total = (WRITERS * BATCHES * 5) as usize;
        loop {
            // Checked before reading: once every writer is done, one empty page means
            // the reader has caught up with everything committed.
            let done = writers.iter().all(|w| w.is_finished());
            let page = env.store.lines("h1", cursor.as_deref(), 7).await.unwrap();
            if let Some(last) = page.lines.last() {
                cursor = Some(last.cursor());
            }
            let empty = page.lines.is_empty();
            seen.extend(page.lines.into_iter().map(|l| l.line));
            if done && empty {
                break;
            }
            tokio::task::yield_now().await;
        }
        for w in writers {
            w.await.unwrap();
        }
        let unique: BTreeSet<&String> = seen.iter().collect();
        assert_eq!(unique.len(), seen.len(), "a line was read twice");
        assert_eq!(seen.len(), total, "{}: a line was skipped", env.backend);
        replica.close().await;
    })
    .await;
}

#[tokio::test]
async fn events_hold_only_warn_and_worse() {
    on_all_backends(|env: Env| async move {
        let store = &env.store;
        let entries = vec![
            entry(1, 0, "trace", Level::Trace),
            entry(2, 0, "debug", Level::Debug),
            entry(3, 0, "info", Level::Info),
            entry(4, 1, "warn", Level::Warn),
            entry(5, 0, "error", Level::Error),
            entry(6, 1, "critical", Level::Critical),
        ];
        let (batch, payload) = make_batch("agent-a", 1, entries);
        let IngestOutcome::Stored { segment_id, .. } =
            store.ingest("h1", &batch, &payload, 1_000).await.unwrap()
        else {
            panic!("not stored")
        };
        let rows: Vec<EventRow> = sqlx::query_as(
            "SELECT host, source, level, ts_ms, line_no, segment_id, score FROM events ORDER BY line_no",
        )
        .fetch_all(store.pool())
        .await
        .unwrap();
        let levels: Vec<&str> = rows.iter().map(|r| r.2.as_str()).collect();
        assert_eq!(levels, ["warn", "error", "critical"]);
        assert_eq!(rows.iter().map(|r| r.4).collect::<Vec<_>>(), [3, 4, 5]);
        assert_eq!(rows.iter().map(|r| r.3).collect::<Vec<_>>(), [4, 5, 6]);
        assert!(rows.iter().all(|r| r.0 == "h1" && r.5 == Some(segment_id)));
        assert_eq!(rows[0].1, "/var/log/sys.log");
        assert!((rows[0].6 - 0.25).abs() < 1e-6);

        // A big batch spans several multi-row INSERTs: one event a minute, so no two
        // lines share a row.
        let (batch, payload) = make_batch(
            "agent-a",
            2,
            (0..1_000)
                .map(|i| entry(i * 60_000, 0, &format!("e{i}"), Level::Error))
                .collect(),
        );
        store.ingest("h1", &batch, &payload, 2_000).await.unwrap();
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(count, 1_003);
        // A duplicate adds no events.
        store.ingest("h1", &batch, &payload, 3_000).await.unwrap();
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(count, 1_003);
    })
    .await;
}

#[tokio::test]
async fn repeated_event_lines_share_a_row_and_keep_their_count() {
    on_all_backends(|env: Env| async move {
        let store = &env.store;
        // 500 copies of one error and 300 of one warning within a minute, then the error
        // once more in the next minute; info lines between them are not events.
        let mut entries = Vec::new();
        for i in 0..500 {
            entries.push(entry(
                i,
                0,
                &format!("ERROR payment timeout after {i} ms"),
                Level::Error,
            ));
            entries.push(entry(i, 0, "INFO sale completed", Level::Info));
        }
        for i in 0..300 {
            entries.push(entry(
                i,
                0,
                &format!("WARN printer slow: job {i}"),
                Level::Warn,
            ));
        }
        entries.push(entry(
            60_000,
            0,
            "ERROR payment timeout after 7 ms",
            Level::Error,
        ));
        let (batch, payload) = make_batch("agent-a", 1, entries);
        store.ingest("h1", &batch, &payload, 1_000).await.unwrap();
        let rows: Vec<(i64, String, i64, Option<i64>, i64)> = sqlx::query_as(
            "SELECT line_no, level, occurrences, last_ts_ms, ts_ms FROM events ORDER BY id",
        )
        .fetch_all(store.pool())
        .await
        .unwrap();
        assert_eq!(
            rows,
            vec![
                (0, "error".to_owned(), 500, Some(499), 0),
                (1000, "warn".to_owned(), 300, Some(299), 0),
                (1300, "error".to_owned(), 1, Some(60_000), 60_000),
            ],
            "{}",
            env.backend
        );
    })
    .await;
}

#[tokio::test]
async fn event_rows_get_an_error_class() {
    on_all_backends(|env: Env| async move {
        let store = &env.store;
        let entries = vec![
            entry(
                1,
                0,
                "ERROR payment terminal TIMEOUT after 30s",
                Level::Error,
            ),
            entry(
                2,
                0,
                "write failed: No space left on device",
                Level::Critical,
            ),
            entry(3, 0, "WARN something odd but unnamed", Level::Warn),
            // Not an event row: never classified, never stored in `events`.
            entry(4, 0, "INFO payment terminal paired", Level::Info),
            // No level field, but the agent scored it unhealthy: an event row, classified.
            Entry {
                score: 0.7,
                ..entry(
                    5,
                    0,
                    "Nov 27 08:00:00 pos-1 kernel: Out of memory: Killed process 4312 (java)",
                    Level::Info,
                )
            },
        ];
        let (batch, payload) = make_batch("agent-a", 1, entries);
        store.ingest("h1", &batch, &payload, 1_000).await.unwrap();
        let rows: Vec<(i64, Option<String>)> =
            sqlx::query_as("SELECT line_no, class FROM events ORDER BY line_no")
                .fetch_all(store.pool())
                .await
                .unwrap();
        assert_eq!(
            rows,
            [
                (0, Some("payment_terminal".to_owned())),
                (1, Some("disk_full".to_owned())),
                (2, None),
                (4, Some("out_of_memory".to_owned())),
            ],
            "{}",
            env.backend
        );
    })
    .await;
}

#[tokio::test]
async fn hosts_and_agents_keep_counters() {
    on_all_backends(|env: Env| async move {
        let store = &env.store;
        assert!(store.hosts().await.unwrap().is_empty());
        ingest(store, "web-1", "agent-a", 1, 4, 5_000).await;
        ingest(store, "web-1", "agent-a", 2, 6, 7_000).await;
        // Out-of-order clocks (two replicas) never move last_seen backwards.
        ingest(store, "web-1", "agent-a", 3, 1, 6_000).await;
        ingest(store, "db-1", "agent-b", 1, 2, 8_000).await;
        let hosts = store.hosts().await.unwrap();
        let summary: Vec<(&str, i64, u64)> = hosts
            .iter()
            .map(|h| (h.host.as_str(), h.last_seen_ms, h.lines_received))
            .collect();
        assert_eq!(summary, [("db-1", 8_000, 2), ("web-1", 7_000, 11)]);

        let labels = vec![("site".to_owned(), "berlin".to_owned())];
        store
            .upsert_agent("agent-a", "web-1", &labels, 1_000)
            .await
            .unwrap();
        store
            .upsert_agent("agent-a", "web-1b", &[], 3_000)
            .await
            .unwrap();
        store
            .upsert_agent("agent-a", "web-1b", &[], 2_000)
            .await
            .unwrap();
        let agent: (String, String, i64, i64) = sqlx::query_as(
            "SELECT host, labels_json, first_seen_ms, last_seen_ms FROM agents WHERE agent_id = $1",
        )
        .bind("agent-a")
        .fetch_one(store.pool())
        .await
        .unwrap();
        assert_eq!(agent, ("web-1b".to_owned(), "{}".to_owned(), 1_000, 3_000));
        store
            .upsert_agent("agent-c", "x", &labels, 1_000)
            .await
            .unwrap();
        let json: String = sqlx::query_scalar("SELECT labels_json FROM agents WHERE agent_id = $1")
            .bind("agent-c")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(json, r#"{"site":"berlin"}"#);
    })
    .await;
}

#[tokio::test]
async fn retention_by_age_deletes_whole_oldest_segments() {
    on_all_backends(|env: Env| async move {
        let store = &env.store;
        let mut ids = Vec::new();
        for seq in 1..=5u64 {
            ids.push(ingest(store, "h1", "agent-a", seq, 7, seq as i64 * 1_000).await);
        }
        let sizes: Vec<u64> = (1..=5)
            .map(|seq| batch_of("agent-a", seq, 7).0.payload.len() as u64)
            .collect();
        let doomed = [
            segment_path(store, ids[0]).await,
            segment_path(store, ids[1]).await,
        ];
        // A cursor pointing into a segment that retention is about to delete.
        let page = store.lines("h1", None, 3).await.unwrap();
        let stale_cursor = page.next_cursor.unwrap();

        // Cutoff 3000: segments created at 1000 and 2000 go; 3000 is not older.
        let report = store
            .apply_retention(10_000, Some(Duration::from_secs(7)), None)
            .await
            .unwrap();
        assert_eq!(report.segments_deleted, 2);
        assert_eq!(report.bytes_freed, sizes[0] + sizes[1]);
        assert!(doomed.iter().all(|p| !p.exists()));
        assert_eq!(segment_files(&env.archive_dir).len(), 3);
        assert_eq!(
            texts(&read_all(store, "h1", 5).await),
            expected_texts("agent-a", 3..=5, 7)
        );
        let resumed = store.lines("h1", Some(&stale_cursor), 100).await.unwrap();
        assert_eq!(texts(&resumed.lines), expected_texts("agent-a", 3..=5, 7));

        // Events outlive their segment, detached; dedupe rows outlive it too.
        let detached: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE segment_id IS NULL")
                .fetch_one(store.pool())
                .await
                .unwrap();
        assert_eq!(detached, 2 * 3); // lines 2, 4, 5 of each deleted batch
        let (batch, payload) = batch_of("agent-a", 1, 7);
        assert_eq!(
            store.ingest("h1", &batch, &payload, 11_000).await.unwrap(),
            IngestOutcome::Duplicate
        );
        assert_eq!(store.last_seq("agent-a").await.unwrap(), Some(5));
        // Counters are totals received, not what is still archived.
        assert_eq!(store.hosts().await.unwrap()[0].lines_received, 35);

        // Running again deletes nothing new.
        let again = store
            .apply_retention(10_000, Some(Duration::from_secs(7)), None)
            .await
            .unwrap();
        assert_eq!((again.segments_deleted, again.bytes_freed), (0, 0));
    })
    .await;
}

#[tokio::test]
async fn retention_by_size_keeps_the_newest_that_fit() {
    on_all_backends(|env: Env| async move {
        let store = &env.store;
        let mut sizes = Vec::new();
        for seq in 1..=5u64 {
            ingest(store, "h1", "agent-a", seq, 10 + seq as u32, 1_000).await;
            sizes.push(batch_of("agent-a", seq, 10 + seq as u32).0.payload.len() as u64);
        }
        let newest_three: u64 = sizes[2..].iter().sum();
        // One byte short of keeping four: the two oldest go.
        let budget = newest_three + sizes[1] - 1;
        let report = store
            .apply_retention(2_000, None, Some(budget))
            .await
            .unwrap();
        assert_eq!(report.segments_deleted, 2);
        assert_eq!(report.bytes_freed, sizes[0] + sizes[1]);
        let lines = read_all(store, "h1", 9).await;
        let mut expected = Vec::new();
        for seq in 3..=5u64 {
            expected.extend(expected_texts("agent-a", [seq], 10 + seq as u32));
        }
        assert_eq!(texts(&lines), expected);
        let remaining: u64 = segment_files(&env.archive_dir)
            .iter()
            .map(|p| p.metadata().unwrap().len())
            .sum();
        assert_eq!(remaining, newest_three);

        // Budget 0 deletes everything; reads then return nothing, without error.
        let report = store.apply_retention(2_000, None, Some(0)).await.unwrap();
        assert_eq!(report.segments_deleted, 3);
        assert!(store.lines("h1", None, 10).await.unwrap().lines.is_empty());
        assert!(segment_files(&env.archive_dir).is_empty());
    })
    .await;
}

#[tokio::test]
async fn orphan_segment_is_swept_and_never_read() {
    on_all_backends(|env: Env| async move {
        let store = &env.store;
        let (batch, payload) = batch_of("agent-a", 9, 4);
        // A crash after the durable file write and before the SQL commit leaves this.
        let orphan_rel = Archive::new_segment_path("agent-a", 9);
        store
            .archive()
            .write(&orphan_rel, batch.payload.clone())
            .await
            .unwrap();
        let orphan = store.archive().resolve(&orphan_rel).unwrap();
        // ... and a crash mid-write leaves a temp file.
        let temp = orphan.with_file_name("00000000000000000009-dead.zst.tmp");
        std::fs::write(&temp, b"half").unwrap();
        // The orphan is invisible to reads.
        assert!(store.lines("h1", None, 10).await.unwrap().lines.is_empty());

        // The agent never got an ack, so it re-sends: stored once, from a new file.
        assert!(matches!(
            store.ingest("h1", &batch, &payload, 1_000).await.unwrap(),
            IngestOutcome::Stored { .. }
        ));
        assert_eq!(segment_files(&env.archive_dir).len(), 2);
        assert_eq!(
            texts(&read_all(store, "h1", 3).await),
            expected_texts("agent-a", [9], 4)
        );

        // Young orphans may belong to an in-flight ingest: left alone.
        let now = now_ms();
        assert_eq!(
            store
                .sweep_orphans(now, Duration::from_secs(600))
                .await
                .unwrap(),
            0
        );
        assert!(orphan.exists() && temp.exists());
        // Past the grace period the orphan and the temp file go; the indexed file stays.
        let later = now + 3_600_000;
        assert_eq!(
            store
                .sweep_orphans(later, Duration::from_secs(600))
                .await
                .unwrap(),
            2
        );
        assert!(!orphan.exists() && !temp.exists());
        assert_eq!(segment_files(&env.archive_dir).len(), 1);
        assert_eq!(
            texts(&read_all(store, "h1", 3).await),
            expected_texts("agent-a", [9], 4)
        );

        // Retention runs the sweep too (with ORPHAN_GRACE).
        let rel = Archive::new_segment_path("agent-a", 10);
        store.archive().write(&rel, vec![1, 2, 3]).await.unwrap();
        let report = store.apply_retention(later, None, None).await.unwrap();
        assert_eq!((report.segments_deleted, report.orphans_deleted), (0, 1));
        assert_eq!(
            texts(&read_all(store, "h1", 3).await),
            expected_texts("agent-a", [9], 4)
        );
        // Files the store did not write are never touched.
        let foreign = env.archive_dir.join("README");
        std::fs::write(&foreign, b"keep").unwrap();
        store.sweep_orphans(later, Duration::ZERO).await.unwrap();
        assert!(foreign.exists());
    })
    .await;
}

#[tokio::test]
async fn bad_cursor_is_an_error() {
    on_all_backends(|env: Env| async move {
        let store = &env.store;
        ingest(store, "h1", "agent-a", 1, 3, 1_000).await;
        for bad in [
            "", "garbage", "v1.", "v1.x.1", "v1.1", "v1.-5.0", "v9.1.1", "v1.1.1.1",
        ] {
            let err = store.lines("h1", Some(bad), 10).await.unwrap_err();
            assert!(matches!(err, StoreError::BadCursor(_)), "{bad:?}: {err:?}");
        }
        let huge = "9".repeat(10_000);
        assert!(matches!(
            store.lines("h1", Some(&huge), 10).await,
            Err(StoreError::BadCursor(_))
        ));
        // A well-formed cursor past the end is simply an empty page.
        let page = store.lines("h1", Some("v1.999999.0"), 10).await.unwrap();
        assert!(page.lines.is_empty() && page.next_cursor.is_none());
    })
    .await;
}

#[tokio::test]
async fn corrupt_segment_file_is_an_error_for_that_read() {
    on_all_backends(|env: Env| async move {
        let store = &env.store;
        let good = ingest(store, "h1", "agent-a", 1, 3, 1_000).await;
        let bad = ingest(store, "h1", "agent-a", 2, 3, 1_000).await;
        ingest(store, "h2", "agent-b", 1, 3, 1_000).await;
        let path = segment_path(store, bad).await;
        let original = std::fs::read(&path).unwrap();

        let corruptions: Vec<Vec<u8>> = vec![
            b"this is not zstd".to_vec(),
            original[..original.len() / 2].to_vec(),
            Vec::new(),
            // A valid payload of the wrong length (index says 3 lines).
            batch_of("agent-a", 2, 4).0.payload,
        ];
        for garbage in corruptions {
            std::fs::write(&path, &garbage).unwrap();
            let err = store.lines("h1", None, 100).await.unwrap_err();
            assert!(
                matches!(err, StoreError::Corrupt { segment, .. } if segment == bad),
                "{err:?}"
            );
            // Lines before the bad segment still read; other hosts are unaffected.
            let page = store.lines("h1", None, 3).await.unwrap();
            assert_eq!(page.lines.len(), 3);
            assert!(page.lines.iter().all(|l| l.segment_id == good));
            assert_eq!(read_all(store, "h2", 10).await.len(), 3);
        }

        // A missing file for an indexed segment is corruption too, not "no lines".
        std::fs::remove_file(&path).unwrap();
        let err = store.lines("h1", None, 100).await.unwrap_err();
        assert!(
            matches!(err, StoreError::Corrupt { segment, .. } if segment == bad),
            "{err:?}"
        );

        std::fs::write(&path, &original).unwrap();
        assert_eq!(read_all(store, "h1", 100).await.len(), 6);
    })
    .await;
}

#[tokio::test]
async fn hostile_text_is_stored() {
    on_all_backends(|env: Env| async move {
        let store = &env.store;
        let mut nul = entry(
            1,
            0,
            "bad\0line \u{1F600} ' \" ; DROP TABLE events; --",
            Level::Error,
        );
        nul.score = f32::NAN;
        let (mut batch, mut payload) = make_batch("agent\0x", 1, vec![nul]);
        payload.sources[0] = "/var/log/\0weird".to_owned();
        let (compressed, raw_len) = encode_payload(&payload).unwrap();
        (batch.payload, batch.raw_len) = (compressed, raw_len);
        assert!(matches!(
            store
                .ingest("host\0", &batch, &payload, 1_000)
                .await
                .unwrap(),
            IngestOutcome::Stored { .. }
        ));
        assert_eq!(
            store
                .ingest("host\0", &batch, &payload, 1_000)
                .await
                .unwrap(),
            IngestOutcome::Duplicate
        );
        // The archive keeps the line exactly; SQL holds the NUL-free form.
        let lines = store.lines("host\0", None, 10).await.unwrap().lines;
        assert_eq!(lines[0].line, payload.entries[0].line);
        assert_eq!(lines[0].source, "/var/log/\0weird");
        let (line, score): (String, f64) = sqlx::query_as("SELECT line, score FROM events")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(line, payload.entries[0].line.replace('\0', "\u{FFFD}"));
        assert_eq!(score, 0.0);
        assert_eq!(store.last_seq("agent\0x").await.unwrap(), Some(1));

        // A batch whose header disagrees with its payload is refused, nothing written.
        let (mut lying, payload) = batch_of("agent-a", 1, 3);
        lying.entry_count = 4;
        let err = store
            .ingest("h1", &lying, &payload, 1_000)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Mismatch(_)), "{err:?}");
        // A seq beyond i64 is refused rather than wrapped.
        let (mut big, payload) = batch_of("agent-a", 1, 3);
        big.seq = u64::MAX;
        let err = store.ingest("h1", &big, &payload, 1_000).await.unwrap_err();
        assert!(matches!(err, StoreError::OutOfRange { .. }), "{err:?}");
        assert_eq!(segment_files(&env.archive_dir).len(), 1);
    })
    .await;
}

fn audit(action: &'static str, target: &str) -> fleetlog_collector::store::audit::AuditEntry {
    fleetlog_collector::store::audit::AuditEntry {
        actor: "ops".into(),
        actor_role: "admin".into(),
        action,
        target: target.into(),
        before: None,
        after: None,
        client_addr: None,
    }
}

/// Agent enrollments (per-agent credentials): `credential_used` only ever turns on, a
/// revocation survives a later admission record, reinstating and forgetting follow their
/// rules, and every replica reads one credential key.
#[tokio::test]
async fn agent_enrollments_and_the_credential_key() {
    on_all_backends(|env: Env| async move {
        let store = &env.store;
        let key = store.shared_secret("agent-credentials", 1).await.unwrap();
        assert_eq!(key.len(), 32);
        assert_eq!(
            store.shared_secret("agent-credentials", 2).await.unwrap(),
            key
        );
        assert_ne!(store.shared_secret("other", 3).await.unwrap(), key);

        let r = store
            .record_enrollment("a1", "pos-1", false, 10)
            .await
            .unwrap();
        assert!(!r.credential_used && r.revoked_ms.is_none());
        let r = store
            .record_enrollment("a1", "pos-1b", true, 20)
            .await
            .unwrap();
        assert!(r.credential_used);
        assert_eq!((r.host.as_str(), r.enrolled_ms), ("pos-1b", 10));
        let r = store
            .record_enrollment("a1", "pos-1b", false, 30)
            .await
            .unwrap();
        assert!(r.credential_used, "credential_used never turns off");

        let r = store
            .revoke_agent("a1", "stolen", audit("agent.revoke", "agent:a1"), 40)
            .await
            .unwrap();
        assert_eq!(r.revoked_ms, Some(40));
        assert_eq!(r.revoked_by.as_deref(), Some("ops"));
        assert_eq!(r.auth().revoked.as_deref(), Some("stolen"));
        // A second revocation keeps the first; an admission record leaves it.
        let r = store
            .revoke_agent("a1", "other", audit("agent.revoke", "agent:a1"), 50)
            .await
            .unwrap();
        assert_eq!(r.revoked_reason.as_deref(), Some("stolen"));
        store
            .record_enrollment("a1", "pos-1b", true, 60)
            .await
            .unwrap();
        let r = store.agent_enrollment("a1").await.unwrap().unwrap();
        assert_eq!(r.revoked_ms, Some(40));
        assert!(matches!(
            store
                .forget_enrollment("a1", audit("agent.forget", "agent:a1"), 70)
                .await,
            Err(StoreError::Conflict(_))
        ));
        let r = store
            .reinstate_agent("a1", audit("agent.reinstate", "agent:a1"), 80)
            .await
            .unwrap();
        assert_eq!((r.revoked_ms, r.revoked_reason), (None, None));
        store
            .forget_enrollment("a1", audit("agent.forget", "agent:a1"), 90)
            .await
            .unwrap();
        assert_eq!(store.agent_enrollment("a1").await.unwrap(), None);

        // An agent known only from its batches (connected before enrollments were
        // recorded) can be revoked; one never seen cannot.
        ingest(store, "pos-2", "a2", 1, 1, 100).await;
        store.upsert_agent("a2", "pos-2", &[], 100).await.unwrap();
        let r = store
            .revoke_agent("a2", "retired", audit("agent.revoke", "agent:a2"), 110)
            .await
            .unwrap();
        assert_eq!((r.host.as_str(), r.credential_used), ("pos-2", false));
        for missing in [
            store
                .revoke_agent("nobody", "x", audit("agent.revoke", "agent:nobody"), 120)
                .await,
            store
                .reinstate_agent("nobody", audit("agent.reinstate", "agent:nobody"), 120)
                .await,
        ] {
            assert!(
                matches!(missing, Err(StoreError::NotFound(_))),
                "{missing:?}"
            );
        }
        let all = store.agent_enrollments().await.unwrap();
        assert_eq!(all.len(), 1);
        // Every change was audited.
        let filter = fleetlog_collector::store::audit::AuditFilter {
            action: Some("agent.".into()),
            ..Default::default()
        };
        let audited: Vec<String> = store
            .audit_page(&filter, 100)
            .await
            .unwrap()
            .into_iter()
            .map(|a| a.action)
            .collect();
        assert_eq!(
            audited,
            [
                "agent.revoke",
                "agent.forget",
                "agent.reinstate",
                "agent.revoke"
            ],
            "newest first"
        );
    })
    .await;
}

/// Both dialects' migrations must produce the same tables and columns.
#[tokio::test]
async fn migrations_have_identical_tables_and_columns() {
    let expected: BTreeSet<(String, String)> = [
        (
            "agents",
            "agent_id host labels_json first_seen_ms last_seen_ms",
        ),
        (
            "segments",
            "id agent_id host seq path sources_json min_ts_ms max_ts_ms line_count bytes \
             raw_len created_ms",
        ),
        ("batches", "agent_id seq segment_id stored_ms content_hash"),
        // 0014_agent_enrollments.sql
        (
            "agent_enrollments",
            "agent_id host credential_used enrolled_ms revoked_ms revoked_by revoked_reason",
        ),
        ("collector_secrets", "name secret_hex created_ms"),
        ("hosts", "host last_seen_ms lines_received"),
        (
            "events",
            "id host source ts_ms level score line segment_id line_no class service template_id \
             fingerprint occurrences last_ts_ms logged_ms",
        ),
        (
            "users",
            "id name role password_hash disabled created_ms updated_ms",
        ),
        (
            "api_tokens",
            "id name role secret_sha256 owner_user_id created_by created_ms last_used_ms \
             revoked_ms",
        ),
        (
            "sessions",
            "id secret_sha256 user_id csrf_token created_ms expires_ms",
        ),
        (
            "audit",
            "id ts_ms actor actor_role action target before_json after_json client_addr",
        ),
        (
            "minute_stats",
            "host service minute_ms lines warn error critical lag_ms_sum last_arrival_ms",
        ),
        (
            "agent_status",
            "agent_id host ts_ms received_ms status_json",
        ),
        (
            "heartbeats",
            "id agent_id host ts_ms received_ms status_json",
        ),
        (
            "health",
            "host service state reason since_ms clear_since_ms updated_ms",
        ),
        ("health_changes", "id host service state reason ts_ms"),
        (
            "incidents",
            "id fingerprint status severity worst class service title first_seen_ms \
             last_seen_ms event_count host_count hosts_json samples_json window_start_ms \
             window_count opened_ms resolved_ms resolved_by regressions related_json updated_ms \
             window_json",
        ),
        (
            "incident_changes",
            "id incident_id change status severity host_count event_count actor ts_ms",
        ),
        ("worker_leases", "name owner lease_until_ms position"),
        // 0006_outbox_alerts.sql
        (
            "outbox",
            "id kind target idempotency_key payload created_ms due_ms attempts state \
             lease_owner lease_until_ms last_error finished_ms",
        ),
        (
            "outbox_attempts",
            "id message_id target attempt started_ms latency_ms outcome http_status error",
        ),
        (
            "channels",
            "id name kind config_json secrets_json route_json source created_ms updated_ms",
        ),
        (
            "alert_rules",
            "id name builtin enabled spec_json created_ms updated_ms",
        ),
        (
            "alerts",
            "id rule_id fingerprint labels_json state severity value threshold summary \
             state_json started_ms ended_ms updated_ms",
        ),
        (
            "alert_changes",
            "id alert_id rule_id state severity value labels_json actor ts_ms",
        ),
        (
            "silences",
            "id matchers_json starts_ms ends_ms comment created_by created_ms",
        ),
        ("alert_groups", "group_key state_json updated_ms"),
        (
            "tickets",
            "id incident_id fingerprint issue_key issue_id state severity confidence \
             regressions_seen told_events told_hosts last_told_ms comments reopens \
             create_started_ms created_ms updated_ms",
        ),
        (
            "automation_decisions",
            "id incident_id fingerprint decision reason_code reason severity confidence \
             ticket_key outcome job_key decided_ms done_ms attempts error",
        ),
        ("automation_settings", "id settings_json updated_ms"),
        ("jira_status", "id last_ok_ms last_error last_error_ms"),
        ("class_fixes", "class_id fix updated_by updated_ms"),
        (
            "models",
            "id content_hash source source_detail created_by created_ms templates size_bytes \
             summary_json job_id active activated_ms model",
        ),
        (
            "training_jobs",
            "id kind state spec_json created_by created_ms started_ms finished_ms updated_ms \
             bytes_total bytes_done lines_read files_json cancel_requested error model_id",
        ),
        (
            "s3_done",
            "bucket done_ms etag lines object_key scan_id",
        ),
        (
            "s3_events",
            "bucket etag object_key received_ms scan_id",
        ),
        (
            "s3_objects",
            "attempts etag events last_modified_ms lines object_key reason scan_id size status updated_ms",
        ),
        (
            "s3_scans",
            "analyst bucket created_ms error finished_ms id list_after listed modified_after_ms modified_before_ms origin prefix source start_after state updated_ms",
        ),
    ]
    .iter()
    .flat_map(|(t, cols)| cols.split(' ').map(move |c| (t.to_string(), c.to_string())))
    .collect();

    on_all_backends(move |env: Env| {
        let expected = expected.clone();
        async move {
            let sql = match env.backend {
                "sqlite" => {
                    "SELECT m.name, p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p \
                     WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' \
                     AND m.name NOT LIKE '_sqlx%'"
                }
                _ => {
                    "SELECT CAST(table_name AS TEXT), CAST(column_name AS TEXT) \
                     FROM information_schema.columns \
                     WHERE table_schema = 'public' AND table_name NOT LIKE '_sqlx%'"
                }
            };
            let found: BTreeSet<(String, String)> = sqlx::query_as(sql)
                .fetch_all(env.store.pool())
                .await
                .unwrap()
                .into_iter()
                .collect();
            assert_eq!(found, expected, "{}", env.backend);
        }
    })
    .await;
}

/// SQLite-only: opening creates the database file and its directory, and reopening
/// keeps the data and re-runs migrations harmlessly.
#[tokio::test]
async fn sqlite_open_creates_and_reopens() {
    let dir = TempDir::new().unwrap();
    let url = format!("sqlite://{}/nested/dir/fleetlog.db", dir.path().display());
    let archive = dir.path().join("data/archive");
    let store = Store::open(&url, archive.clone()).await.unwrap();
    ingest(&store, "h1", "agent-a", 1, 2, 1_000).await;
    store.close().await;
    assert!(dir.path().join("nested/dir/fleetlog.db").exists());
    let store = Store::open(&url, archive).await.unwrap();
    assert_eq!(store.last_seq("agent-a").await.unwrap(), Some(1));
    let journal: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(journal, "wal");
    let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(sync, 2, "synchronous = FULL");
    assert!(matches!(
        Store::open("mysql://x", dir.path().join("a")).await,
        Err(StoreError::UnsupportedUrl(_))
    ));
}
