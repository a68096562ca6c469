//! Free space on the volumes the store writes to, and the decision to stop before they fill.
//!
//! A batch is acknowledged only once its segment file and its rows are durable, so a full
//! disk can never make the collector acknowledge what it did not keep: the write fails and
//! the agent is told `Unavailable` and keeps the batch. Checking first does better: below
//! `store.min_free_bytes` on the archive's volume (or, for SQLite, the database's) the
//! collector refuses batches before writing anything, `/readyz` says why, and the gauge
//! `fleetlog_collector_disk_free_bytes{volume}` shows it; when space returns, the next batch
//! is taken with nothing to restart. A write that still meets `ENOSPC` (another process
//! filled the disk between check and write) is reported the same way, and its temporary
//! file is removed, so nothing half-written is ever indexed.

use std::path::{Path, PathBuf};

/// Default for `store.min_free_bytes`: 256 MiB.
pub const DEFAULT_MIN_FREE_BYTES: u64 = 256 * 1024 * 1024;

/// A volume the store writes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    /// `archive` or `database`.
    pub role: &'static str,
    /// A directory on it.
    pub path: PathBuf,
}

/// Free space found on one volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Free {
    pub role: &'static str,
    pub path: PathBuf,
    /// Bytes an unprivileged writer can still use.
    pub bytes: u64,
}

/// Why the store takes no batch now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the collector's {role} volume ({}) has {free_bytes} bytes free, under store.min_free_bytes ({min_free_bytes}); batches wait in the agents' buffers until space returns",
    path.display()
)]
pub struct DiskFull {
    pub role: &'static str,
    pub path: PathBuf,
    pub free_bytes: u64,
    pub min_free_bytes: u64,
}

/// The first volume with less than `min_free_bytes` free (pure).
pub fn short_of(found: &[Free], min_free_bytes: u64) -> Option<DiskFull> {
    found
        .iter()
        .find(|f| f.bytes < min_free_bytes)
        .map(|f| DiskFull {
            role: f.role,
            path: f.path.clone(),
            free_bytes: f.bytes,
            min_free_bytes,
        })
}

/// Bytes an unprivileged writer can still use on the volume holding `path`.
pub fn free_bytes(path: &Path) -> std::io::Result<u64> {
    let st = rustix::fs::statvfs(path)?;
    Ok(st.f_bavail.saturating_mul(st.f_frsize))
}

/// Measures every volume; one that cannot be measured (gone, no permission) is left out, as
/// the write itself will say what is wrong with it.
pub fn measure(volumes: &[Volume]) -> Vec<Free> {
    volumes
        .iter()
        .filter_map(|v| {
            free_bytes(&v.path).ok().map(|bytes| Free {
                role: v.role,
                path: v.path.clone(),
                bytes,
            })
        })
        .collect()
}

/// The directory of a SQLite database URL's file (`sqlite:path`, `sqlite://path?mode=…`);
/// `None` for PostgreSQL and in-memory databases.
pub fn sqlite_dir(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let file = rest.split('?').next().unwrap_or(rest);
    if file.is_empty() || file == ":memory:" {
        return None;
    }
    let parent = Path::new(file).parent()?;
    Some(if parent.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        parent.to_path_buf()
    })
}

/// Whether an I/O error means the volume is full.
pub fn is_full(err: &std::io::Error) -> bool {
    matches!(
        err.kind(),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn free(role: &'static str, bytes: u64) -> Free {
        Free {
            role,
            path: PathBuf::from(format!("/data/{role}")),
            bytes,
        }
    }

    #[test]
    fn the_first_volume_under_the_minimum_stops_ingest() {
        let cases: [(&[Free], u64, Option<&str>); 5] = [
            (&[free("archive", 10), free("database", 10)], 5, None),
            (
                &[free("archive", 4), free("database", 10)],
                5,
                Some("archive"),
            ),
            (
                &[free("archive", 10), free("database", 4)],
                5,
                Some("database"),
            ),
            (&[free("archive", 5)], 5, None),
            (&[], 5, None),
        ];
        for (found, min, want) in cases {
            assert_eq!(
                short_of(found, min).map(|f| f.role),
                want,
                "{found:?} {min}"
            );
        }
        let full = short_of(&[free("archive", 1)], 2).unwrap();
        let text = full.to_string();
        assert!(
            text.contains("store.min_free_bytes") && text.contains("/data/archive"),
            "{text}"
        );
    }

    #[test]
    fn sqlite_urls_name_their_directory() {
        for (url, want) in [
            (
                "sqlite:/var/lib/fleetlog/fleetlog.db",
                Some("/var/lib/fleetlog"),
            ),
            (
                "sqlite:///var/lib/fleetlog/x.db?mode=rwc",
                Some("/var/lib/fleetlog"),
            ),
            ("sqlite:fleetlog.db", Some(".")),
            ("sqlite::memory:", None),
            ("postgres://u@h/db", None),
        ] {
            assert_eq!(sqlite_dir(url).as_deref(), want.map(Path::new), "{url}");
        }
    }

    #[test]
    fn this_volume_can_be_measured() {
        let dir = tempfile::tempdir().unwrap();
        assert!(free_bytes(dir.path()).unwrap() > 0);
        let found = measure(&[
            Volume {
                role: "archive",
                path: dir.path().to_path_buf(),
            },
            Volume {
                role: "database",
                path: dir.path().join("missing"),
            },
        ]);
        assert_eq!(found.len(), 1);
    }
}
