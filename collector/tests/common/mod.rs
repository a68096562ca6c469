//! Shared by the store and API tests: run a body on SQLite and on a fresh PostgreSQL
//! database (see `store.rs` for the environment variables).

// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, dead_code, unreachable_pub)]

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use fleetlog_collector::store::Store;
use fleetlog_protocol::codec::encode_payload;
use fleetlog_protocol::{Batch, BatchPayload, Entry, Level};
use sqlx::Connection;
use sqlx::postgres::PgConnection;
use tempfile::TempDir;

const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// One store under test, with what a test needs to open a second replica on it.
pub struct Env {
    pub store: Store,
    pub url: String,
    pub archive_dir: PathBuf,
    pub backend: &'static str,
}

impl Env {
    /// A second store on the same database and archive, like a second collector replica.
    pub async fn replica(&self) -> Store {
        Store::open(&self.url, self.archive_dir.clone())
            .await
            .unwrap()
    }
}

/// Runs `body` on SQLite, then on PostgreSQL if reachable.
pub async fn on_all_backends<F, Fut>(body: F)
where
    F: Fn(Env) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let dir = TempDir::new().unwrap();
    let url = format!("sqlite://{}/db/store.sqlite", dir.path().display());
    let archive_dir = dir.path().join("archive");
    let store = Store::open(&url, archive_dir.clone()).await.unwrap();
    let env = Env {
        store,
        url,
        archive_dir,
        backend: "sqlite",
    };
    // The temp dir lives here, not in `Env`: a body that uses only some of `Env`'s fields
    // captures only those, and would drop the directory while still using the store.
    let result = tokio::spawn(body(env)).await;
    drop(dir);
    if let Err(panic) = result {
        eprintln!("FAILED on sqlite");
        std::panic::resume_unwind(panic.into_panic());
    }

    let Some(db) = TestDb::create().await else {
        return;
    };
    let dir = TempDir::new().unwrap();
    let archive_dir = dir.path().join("archive");
    let store = Store::open(&db.url, archive_dir.clone()).await.unwrap();
    let env = Env {
        store,
        url: db.url.clone(),
        archive_dir,
        backend: "postgres",
    };
    let result = tokio::spawn(body(env)).await;
    drop(dir);
    db.drop_db().await;
    if let Err(panic) = result {
        eprintln!("FAILED on postgres");
        std::panic::resume_unwind(panic.into_panic());
    }
}

/// A throwaway PostgreSQL database.
struct TestDb {
    admin_url: String,
    name: String,
    url: String,
}

impl TestDb {
    /// Creates a fresh database, or returns `None` after printing why PostgreSQL is skipped.
    async fn create() -> Option<TestDb> {
        let base = std::env::var("FLEETLOG_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned());
        let admin_url = with_database(&base, "postgres");
        let connect =
            tokio::time::timeout(Duration::from_secs(5), PgConnection::connect(&admin_url));
        let mut admin = match connect.await {
            Ok(Ok(conn)) => conn,
            Ok(Err(err)) => return skip_postgres(&err.to_string()),
            Err(_) => return skip_postgres("connect timed out"),
        };
        let name = format!("fleetlog_test_{:016x}", fastrand::u64(..));
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .unwrap();
        admin.close().await.unwrap();
        let url = with_database(&base, &name);
        // Captured by the harness; shown with --nocapture or when the test fails.
        eprintln!("postgres: running in fresh database {name}");
        Some(TestDb {
            admin_url,
            name,
            url,
        })
    }

    async fn drop_db(self) {
        let mut admin = PgConnection::connect(&self.admin_url).await.unwrap();
        sqlx::query(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .execute(&mut admin)
        .await
        .unwrap();
        admin.close().await.unwrap();
    }
}

fn skip_postgres(reason: &str) -> Option<TestDb> {
    if std::env::var("FLEETLOG_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
        panic!("PostgreSQL required (FLEETLOG_REQUIRE_POSTGRES=1) but unreachable: {reason}");
    }
    eprintln!("SKIP postgres: {reason}");
    None
}

/// `url` with its database name replaced, keeping any query string.
fn with_database(url: &str, db: &str) -> String {
    let (head, query) = match url.split_once('?') {
        Some((head, query)) => (head, format!("?{query}")),
        None => (url, String::new()),
    };
    let scheme_end = head.find("://").map_or(0, |i| i + 3);
    let base = match head[scheme_end..].find('/') {
        Some(slash) => &head[..scheme_end + slash],
        None => head,
    };
    format!("{base}/{db}{query}")
}

/// One entry with score 0.25.
pub fn entry(ts_ms: i64, source: u32, line: &str, level: Level) -> Entry {
    Entry {
        ts_ms,
        source,
        line: line.to_owned(),
        level,
        score: 0.25,
        ..Entry::default()
    }
}

/// A batch of `entries` from sources `/var/log/app.log` (0) and `/var/log/sys.log` (1).
pub fn make_batch(agent: &str, seq: u64, entries: Vec<Entry>) -> (Batch, BatchPayload) {
    let payload = BatchPayload {
        sources: vec!["/var/log/app.log".to_owned(), "/var/log/sys.log".to_owned()],
        entries,
        ..BatchPayload::default()
    };
    let (compressed, raw_len) = encode_payload(&payload).unwrap();
    let batch = Batch {
        agent_id: agent.to_owned(),
        seq,
        priority: false,
        entry_count: payload.entries.len() as u32,
        raw_len,
        payload: compressed,
    };
    (batch, payload)
}
