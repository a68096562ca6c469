//! The segment archive on a local directory: one file per stored batch.
//!
//! A segment file holds an agent's zstd batch payload byte for byte as it arrived.
//! Files live at `<root>/<agent key>/<seq>-<nonce>.zst`, where the agent key is the
//! sanitised agent id plus a hash of it, and the nonce is random.
//! The random nonce means two copies of the same batch (a re-send racing the original,
//! or a second replica) never share a file, so the loser of the SQL race can delete its
//! own file without touching the winner's.
//! A file becomes durable before its index row is committed ([`Archive::write`]); a file
//! without an index row is an orphan that [`Archive::list`] lets the sweep find.
//!
//! Paths handed out and accepted by this module are relative to the root, with `/`
//! separators, and are the form stored in `segments.path`.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Component, Path, PathBuf};
use std::time::UNIX_EPOCH;

use super::StoreError;

/// Suffix of a finished segment file.
const SEGMENT_SUFFIX: &str = ".zst";
/// Suffix of a segment being written; renamed away once durable.
const TEMP_SUFFIX: &str = ".tmp";
/// Longest sanitised agent-id prefix kept in a directory name.
const MAX_AGENT_PREFIX: usize = 40;

/// A local directory of segment files.
#[derive(Debug, Clone)]
pub struct Archive {
    root: PathBuf,
}

/// A file found in the archive by [`Archive::list`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveFile {
    /// Path relative to the root, as stored in `segments.path`.
    pub rel_path: String,
    /// Last modification time, milliseconds since the Unix epoch (0 if unknown).
    pub modified_ms: i64,
    /// True for a half-written temporary file.
    pub temporary: bool,
}

impl Archive {
    /// An archive rooted at `root`; call [`Archive::create_root`] before writing.
    pub fn new(root: PathBuf) -> Self {
        Archive { root }
    }

    /// The archive's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Creates the root directory (and its parents) if missing.
    pub async fn create_root(&self) -> Result<(), StoreError> {
        let root = self.root.clone();
        blocking(move || {
            if root.is_dir() {
                return Ok(());
            }
            fs::create_dir_all(&root).map_err(|e| io_err(&root, e))?;
            if let Some(parent) = root.parent().filter(|p| !p.as_os_str().is_empty()) {
                sync_dir(parent)?;
            }
            Ok(())
        })
        .await
    }

    /// A fresh relative path for a segment of `(agent_id, seq)`.
    pub fn new_segment_path(agent_id: &str, seq: u64) -> String {
        format!(
            "{}/{seq:020}-{:016x}{SEGMENT_SUFFIX}",
            agent_key(agent_id),
            fastrand::u64(..)
        )
    }

    /// The absolute path of a relative segment path, refusing anything that could
    /// leave the root (the path comes from the database, which we do not fully trust).
    pub fn resolve(&self, rel_path: &str) -> Option<PathBuf> {
        let rel = Path::new(rel_path);
        let ok =
            !rel_path.is_empty() && rel.components().all(|c| matches!(c, Component::Normal(_)));
        ok.then(|| self.root.join(rel))
    }

    /// Writes `bytes` to `rel_path` durably: temp file, fsync, rename, fsync directory.
    /// When this returns `Ok`, the file survives a crash or power loss.
    pub async fn write(&self, rel_path: &str, bytes: Vec<u8>) -> Result<(), StoreError> {
        let path = self.resolve(rel_path).ok_or_else(|| StoreError::Io {
            path: PathBuf::from(rel_path),
            source: io::Error::new(
                io::ErrorKind::InvalidInput,
                "segment path leaves the archive",
            ),
        })?;
        let root = self.root.clone();
        blocking(move || write_durably(&root, &path, &bytes)).await
    }

    /// Reads a whole segment file. A path that would leave the root is an `InvalidInput`
    /// I/O error; a missing file is `NotFound`.
    pub async fn read(&self, rel_path: &str) -> Result<Vec<u8>, StoreError> {
        let path = self.resolve(rel_path).ok_or_else(|| StoreError::Io {
            path: PathBuf::from(rel_path),
            source: io::Error::new(
                io::ErrorKind::InvalidInput,
                "segment path leaves the archive",
            ),
        })?;
        blocking(move || fs::read(&path).map_err(|e| io_err(&path, e))).await
    }

    /// Deletes a segment file; `Ok(false)` if it was already gone.
    pub async fn remove(&self, rel_path: &str) -> Result<bool, StoreError> {
        let Some(path) = self.resolve(rel_path) else {
            return Ok(false);
        };
        blocking(move || match fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io_err(&path, e)),
        })
        .await
    }

    /// Whether a segment file exists (a path that would leave the root does not).
    pub async fn exists(&self, rel_path: &str) -> Result<bool, StoreError> {
        let Some(path) = self.resolve(rel_path) else {
            return Ok(false);
        };
        blocking(move || match fs::metadata(&path) {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io_err(&path, e)),
        })
        .await
    }

    /// Lists every segment and temporary file under the root (two levels deep).
    /// Unknown files are left out, so the sweep never deletes what it did not write.
    pub async fn list(&self) -> Result<Vec<ArchiveFile>, StoreError> {
        let root = self.root.clone();
        blocking(move || list_files(&root)).await
    }
}

/// Directory name for an agent: a readable prefix plus a hash, so distinct ids that
/// sanitise alike still get distinct directories.
fn agent_key(agent_id: &str) -> String {
    let prefix: String = agent_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(MAX_AGENT_PREFIX)
        .collect();
    let prefix = if prefix.is_empty() {
        "agent".to_owned()
    } else {
        prefix
    };
    format!("{prefix}-{:016x}", fnv1a64(agent_id.as_bytes()))
}

/// FNV-1a, 64 bit: stable across Rust releases, unlike `DefaultHasher`.
fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn write_durably(root: &Path, path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let dir = path.parent().unwrap_or(root);
    match fs::create_dir(dir) {
        // A new directory entry is durable only once its parent is synced.
        Ok(()) => sync_dir(root)?,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io_err(dir, e)),
    }
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(TEMP_SUFFIX);
    let tmp = path.with_file_name(tmp_name);
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| io_err(&tmp, e))?;
        file.write_all(bytes).map_err(|e| io_err(&tmp, e))?;
        file.sync_all().map_err(|e| io_err(&tmp, e))?;
        drop(file);
        fs::rename(&tmp, path).map_err(|e| io_err(path, e))?;
        sync_dir(dir)
    })();
    if result.is_err() {
        // Best effort: a leftover temp file is swept later anyway.
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_err(dir, e))
}

fn list_files(root: &Path) -> Result<Vec<ArchiveFile>, StoreError> {
    let mut out = Vec::new();
    let top = match fs::read_dir(root) {
        Ok(top) => top,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(io_err(root, e)),
    };
    for dir in top {
        let dir = dir.map_err(|e| io_err(root, e))?;
        if !dir
            .file_type()
            .map_err(|e| io_err(&dir.path(), e))?
            .is_dir()
        {
            continue;
        }
        let Some(dir_name) = dir.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        let entries = match fs::read_dir(dir.path()) {
            Ok(entries) => entries,
            // Removed concurrently; nothing to list.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_err(&dir.path(), e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| io_err(&dir.path(), e))?;
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            let temporary = name.ends_with(TEMP_SUFFIX);
            if !temporary && !name.ends_with(SEGMENT_SUFFIX) {
                continue;
            }
            let modified_ms = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
            out.push(ArchiveFile {
                rel_path: format!("{dir_name}/{name}"),
                modified_ms,
                temporary,
            });
        }
    }
    out.sort_by(|a, b| a.rel_path.cmp(&b.rel_path));
    Ok(out)
}

fn io_err(path: &Path, source: io::Error) -> StoreError {
    StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f).await?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_keys_are_safe_and_distinct() {
        let a = agent_key("../../etc/passwd");
        assert!(!a.contains('/') && !a.contains(".."), "{a}");
        assert_ne!(agent_key("a/b"), agent_key("a_b"));
        assert!(agent_key("").starts_with("agent-"));
        assert!(agent_key(&"x".repeat(500)).len() < 64);
    }

    #[test]
    fn resolve_refuses_escapes() {
        let archive = Archive::new(PathBuf::from("/data/archive"));
        assert!(archive.resolve("../x").is_none());
        assert!(archive.resolve("/etc/passwd").is_none());
        assert!(archive.resolve("a/./b").is_some()); // `.` components are normalised away
        assert!(archive.resolve("").is_none());
        assert_eq!(
            archive.resolve("a/b.zst"),
            Some(PathBuf::from("/data/archive/a/b.zst"))
        );
    }

    #[test]
    fn segment_paths_are_fresh_each_time() {
        let a = Archive::new_segment_path("agent-1", 7);
        let b = Archive::new_segment_path("agent-1", 7);
        assert_ne!(a, b);
        assert!(a.ends_with(SEGMENT_SUFFIX));
        assert!(a.contains("/00000000000000000007-"), "{a}");
    }
}
