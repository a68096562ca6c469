//! The outbox on SQLite and PostgreSQL: enqueue in the deciding transaction with an
//! idempotency key, claims under a lease (never the same message twice while the lease
//! holds, again after it expired), retry / dead-letter, the delivery history, and the
//! worker: retries with backoff, Retry-After, permanent failures, and a hanging target
//! that holds neither other targets nor more than one slot.

// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fleetlog_collector::metrics::Metrics;
use fleetlog_collector::outbox::worker::{OutboxWorker, Registry};
use fleetlog_collector::outbox::{
    BoxFuture, Deliver, DeliverError, Delivered, OutboxConfig, OutboxMessage, RetryPolicy,
};
use fleetlog_collector::store::Store;
use fleetlog_collector::store::outbox::{Attempt, NewMessage, Next, enqueue};

use common::{Env, on_all_backends};

fn msg(kind: &str, target: &str, key: &str) -> NewMessage {
    NewMessage {
        kind: kind.into(),
        target: target.into(),
        idempotency_key: key.into(),
        payload: format!(r#"{{"key":"{key}"}}"#),
        due_ms: None,
    }
}

async fn put(store: &Store, m: &NewMessage, now: i64) -> Option<i64> {
    let mut tx = store.pool().begin().await.unwrap();
    let id = enqueue(&mut tx, m, now).await.unwrap();
    tx.commit().await.unwrap();
    id
}

fn attempt(n: u32, started: i64) -> Attempt {
    Attempt {
        attempt: n,
        started_ms: started,
        latency_ms: 5,
        http_status: Some(500),
        error: Some("boom".into()),
    }
}

#[tokio::test]
async fn enqueue_is_idempotent_and_transactional() {
    on_all_backends(|env: Env| async move {
        let s = &env.store;
        let first = put(s, &msg("webhook", "1", "k1"), 1_000).await;
        assert!(first.is_some());
        assert_eq!(put(s, &msg("webhook", "1", "k1"), 2_000).await, None);
        // Rolled back with its transaction: never delivered.
        let mut tx = s.pool().begin().await.unwrap();
        assert!(
            enqueue(&mut tx, &msg("webhook", "1", "k2"), 1_000)
                .await
                .unwrap()
                .is_some()
        );
        tx.rollback().await.unwrap();
        let claimed = s
            .claim_due(&["webhook"], "a", 3_000, 10_000, 10)
            .await
            .unwrap();
        assert_eq!(claimed.len(), 1, "{}", env.backend);
        assert_eq!(claimed[0].idempotency_key, "k1");
        assert_eq!(claimed[0].attempt, 1);
        assert_eq!(s.outbox_counts().await.unwrap().pending, 1);
    })
    .await;
}

#[tokio::test]
async fn claims_respect_due_time_kind_lease_and_busy_targets() {
    on_all_backends(|env: Env| async move {
        let s = &env.store;
        let mut later = msg("email", "2", "later");
        later.due_ms = Some(50_000);
        put(s, &later, 1_000).await.unwrap();
        put(s, &msg("email", "2", "now"), 1_000).await.unwrap();
        put(s, &msg("jira", "jira", "j"), 1_000).await.unwrap();
        put(s, &msg("email", "3", "other"), 1_000).await.unwrap();

        // Only the kinds asked for, only what is due, not busy targets.
        let c = s
            .claim_due_except(&["email"], &["3".to_owned()], "a", 2_000, 10_000, 10)
            .await
            .unwrap();
        let keys: Vec<&str> = c.iter().map(|m| m.idempotency_key.as_str()).collect();
        assert_eq!(keys, ["now"], "{}", env.backend);
        // Held by "a": another owner gets nothing of it until the lease expires.
        let b = s
            .claim_due(&["email"], "b", 5_000, 10_000, 10)
            .await
            .unwrap();
        let keys: Vec<&str> = b.iter().map(|m| m.idempotency_key.as_str()).collect();
        assert_eq!(keys, ["other"]);
        assert!(
            s.record_attempt(b[0].id, "b", &attempt(1, 5_000), Next::Done)
                .await
                .unwrap()
        );
        // "a" crashed: after its lease (until 12_000) "now" is claimable again, attempt 2.
        let again = s
            .claim_due(&["email"], "c", 12_001, 10_000, 10)
            .await
            .unwrap();
        let got: Vec<(&str, u32)> = again
            .iter()
            .map(|m| (m.idempotency_key.as_str(), m.attempt))
            .collect();
        assert_eq!(got, [("now", 2)]);
        // The crashed owner can no longer record: its claim is gone.
        let id = again[0].id;
        assert!(
            !s.record_attempt(id, "a", &attempt(1, 2_000), Next::Done)
                .await
                .unwrap()
        );
        assert!(
            s.record_attempt(id, "c", &attempt(2, 12_001), Next::Done)
                .await
                .unwrap()
        );
        // Done is never claimed again; the due-later message comes at its time.
        let c = s
            .claim_due(&["email"], "a", 60_000, 10_000, 10)
            .await
            .unwrap();
        let keys: Vec<&str> = c.iter().map(|m| m.idempotency_key.as_str()).collect();
        assert_eq!(keys, ["later"]);
    })
    .await;
}

#[tokio::test]
async fn retry_then_dead_letter_with_history() {
    on_all_backends(|env: Env| async move {
        let s = &env.store;
        let id = put(s, &msg("webhook", "7", "r"), 0).await.unwrap();
        let m = &s.claim_due(&["webhook"], "w", 100, 1_000, 1).await.unwrap()[0];
        assert!(
            s.record_attempt(m.id, "w", &attempt(1, 100), Next::RetryAt(5_000))
                .await
                .unwrap()
        );
        assert!(
            s.claim_due(&["webhook"], "w", 4_999, 1_000, 1)
                .await
                .unwrap()
                .is_empty()
        );
        let m = &s
            .claim_due(&["webhook"], "w", 5_000, 1_000, 1)
            .await
            .unwrap()[0];
        assert_eq!(m.attempt, 2);
        assert!(
            s.record_attempt(m.id, "w", &attempt(2, 5_000), Next::Dead)
                .await
                .unwrap()
        );
        assert!(
            s.claim_due(&["webhook"], "w", 1 << 40, 1_000, 1)
                .await
                .unwrap()
                .is_empty()
        );
        let rec = s.outbox_message(id).await.unwrap().unwrap();
        assert_eq!(rec.state, "dead");
        assert_eq!(rec.attempts, 2);
        assert_eq!(rec.last_error.as_deref(), Some("boom"));
        let h = s.deliveries("7", None, 10).await.unwrap();
        let outcomes: Vec<(&str, i64)> =
            h.iter().map(|d| (d.outcome.as_str(), d.attempt)).collect();
        assert_eq!(outcomes, [("dead", 2), ("retry", 1)], "{}", env.backend);
        assert_eq!(h[0].http_status, Some(500));
        assert_eq!(h[0].idempotency_key, "r");
        assert_eq!(s.deliveries("7", Some(h[0].id), 10).await.unwrap().len(), 1);
        assert!(s.deliveries("8", None, 10).await.unwrap().is_empty());
    })
    .await;
}

#[tokio::test]
async fn two_replicas_never_claim_the_same_message() {
    on_all_backends(|env: Env| async move {
        let other = env.replica().await;
        for i in 0..40 {
            put(
                &env.store,
                &msg("webhook", &format!("t{i}"), &format!("k{i}")),
                0,
            )
            .await
            .unwrap();
        }
        let (a, b) = tokio::join!(
            async {
                let mut got = Vec::new();
                for _ in 0..8 {
                    got.extend(
                        env.store
                            .claim_due(&["webhook"], "a", 10, 60_000, 5)
                            .await
                            .unwrap(),
                    );
                }
                got
            },
            async {
                let mut got = Vec::new();
                for _ in 0..8 {
                    got.extend(
                        other
                            .claim_due(&["webhook"], "b", 10, 60_000, 5)
                            .await
                            .unwrap(),
                    );
                }
                got
            }
        );
        let mut ids: Vec<i64> = a.iter().chain(&b).map(|m| m.id).collect();
        let total = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(
            ids.len(),
            total,
            "a message was claimed twice on {}",
            env.backend
        );
        assert_eq!(total, 40, "{}", env.backend);
        println!(
            "{}: replica a claimed {}, b claimed {}",
            env.backend,
            a.len(),
            b.len()
        );
    })
    .await;
}

/// How a test target behaves.
#[derive(Clone, Copy)]
enum Behaviour {
    Ok,
    /// Fail this many times with 503 and `Retry-After`, then succeed.
    FailThenOk(u32),
    /// 400: retrying cannot help.
    Permanent,
    /// Never answers.
    Hang,
}

/// A deliverer for the worker's contract: behaviour per target, calls recorded.
struct Scripted {
    behaviour: HashMap<String, Behaviour>,
    calls: Mutex<Vec<(String, u32)>>,
    failures: AtomicU32,
}

impl Deliver for Scripted {
    fn deliver<'a>(
        &'a self,
        msg: &'a OutboxMessage,
    ) -> BoxFuture<'a, Result<Delivered, DeliverError>> {
        Box::pin(async move {
            self.calls
                .lock()
                .unwrap()
                .push((msg.target.clone(), msg.attempt));
            match self
                .behaviour
                .get(&msg.target)
                .copied()
                .unwrap_or(Behaviour::Ok)
            {
                Behaviour::Ok => Ok(Delivered { status: Some(200) }),
                Behaviour::FailThenOk(n) if msg.attempt <= n => {
                    self.failures.fetch_add(1, Ordering::SeqCst);
                    Err(DeliverError {
                        permanent: false,
                        retry_after: Some(Duration::from_millis(50)),
                        status: Some(503),
                        message: "unavailable".into(),
                    })
                }
                Behaviour::FailThenOk(_) => Ok(Delivered { status: Some(200) }),
                Behaviour::Permanent => Err(DeliverError {
                    status: Some(400),
                    ..DeliverError::permanent("bad request")
                }),
                Behaviour::Hang => {
                    tokio::time::sleep(Duration::from_secs(3_600)).await;
                    Ok(Delivered::default())
                }
            }
        })
    }
}

fn config() -> OutboxConfig {
    OutboxConfig {
        retry: RetryPolicy {
            max_attempts: 3,
            base_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(200),
        },
        lease: Duration::from_secs(5),
        delivery_timeout: Duration::from_millis(300),
        concurrency: 4,
        poll_interval: Duration::from_millis(20),
    }
}

#[tokio::test]
async fn worker_retries_honours_retry_after_dead_letters_and_isolates_a_hang() {
    on_all_backends(|env: Env| async move {
        let s = env.store.clone();
        let scripted = Arc::new(Scripted {
            behaviour: HashMap::from([
                ("flaky".to_owned(), Behaviour::FailThenOk(2)),
                ("bad".to_owned(), Behaviour::Permanent),
                ("hung".to_owned(), Behaviour::Hang),
            ]),
            calls: Mutex::new(Vec::new()),
            failures: AtomicU32::new(0),
        });
        let mut reg = Registry::default();
        reg.register("webhook", scripted.clone());
        let now = fleetlog_collector::now_ms();
        for (t, k) in [
            ("hung", "h1"),
            ("hung", "h2"),
            ("hung", "h3"),
            ("ok", "o1"),
            ("ok", "o2"),
            ("flaky", "f1"),
            ("bad", "b1"),
        ] {
            put(&s, &msg("webhook", t, k), now).await.unwrap();
        }
        let metrics = Arc::new(Metrics::default());
        let (tx, rx) = tokio::sync::watch::channel(false);
        let worker = OutboxWorker::new(s.clone(), "w1".into(), config(), reg, metrics.clone());
        let task = tokio::spawn(worker.run(rx));
        // The hung target times out per attempt (300 ms) and dead-letters after 3;
        // everything else is done long before that.
        let t0 = std::time::Instant::now();
        let mut ok_done_at = None;
        loop {
            let c = s.outbox_counts().await.unwrap();
            let o = s.deliveries("ok", None, 10).await.unwrap();
            if ok_done_at.is_none() && o.iter().filter(|d| d.outcome == "delivered").count() == 2 {
                ok_done_at = Some(t0.elapsed());
            }
            if c.pending == 0 {
                break;
            }
            assert!(t0.elapsed() < Duration::from_secs(30), "stuck: {c:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tx.send(true).unwrap();
        task.await.unwrap();
        let c = s.outbox_counts().await.unwrap();
        // flaky: 2 failures then delivered; ok: 2; bad: dead at once; hung: 3 dead.
        assert_eq!((c.done, c.dead), (3, 4), "{}", env.backend);
        let calls = scripted.calls.lock().unwrap().clone();
        let per = |t: &str| {
            calls
                .iter()
                .filter(|(x, _)| x == t)
                .map(|(_, a)| *a)
                .collect::<Vec<_>>()
        };
        assert_eq!(per("flaky"), [1, 2, 3]);
        assert_eq!(per("bad"), [1]);
        // One hung delivery at a time: each hung message's 3 attempts, in order.
        assert_eq!(per("hung").len(), 9);
        let ok_at = ok_done_at.unwrap();
        assert!(
            ok_at < Duration::from_millis(1_000),
            "ok waited for the hang: {ok_at:?}"
        );
        let flaky = s.deliveries("flaky", None, 10).await.unwrap();
        let gaps: Vec<i64> = flaky
            .windows(2)
            .map(|w| w[0].started_ms - w[1].started_ms)
            .collect();
        assert!(
            gaps.iter().all(|g| *g >= 50),
            "Retry-After of 50 ms not honoured: {gaps:?}"
        );
        let hung = s.deliveries("hung", None, 20).await.unwrap();
        assert!(
            hung.iter()
                .all(|d| d.error.as_deref() == Some("timed out after 300 ms"))
        );
        let text = metrics.render();
        assert!(
            text.contains(r#"fleetlog_collector_outbox_deliveries_total{outcome="dead"} 4"#),
            "{text}"
        );
        println!(
            "{}: ok delivered after {:?} while 'hung' hung; flaky failures {}",
            env.backend,
            ok_at,
            scripted.failures.load(Ordering::SeqCst)
        );
    })
    .await;
}
