//! The wake-up driver: a `notify` watcher on the globs' base directories, with polling
//! as the fallback.
//!
//! `changed` returns when a file-system event arrived or `max_wait` passed, whichever is
//! first, so a caller that rescans after every return polls at `max_wait` intervals even
//! where notifications never come (network file systems, overlayfs, exhausted inotify
//! limits). Events only wake the caller; what changed is always decided by a rescan.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::{EventKind, RecursiveMode, Watcher as _};
use tokio::sync::Notify;
use tracing::{debug, warn};

use super::{TailConfig, TailError};

/// Wakes the agent's read loop when the watched directories change.
pub struct Watcher {
    wake: Arc<Notify>,
    /// Kept alive for its background thread; `None` when notifications are unavailable.
    _inner: Option<notify::RecommendedWatcher>,
}

impl Watcher {
    /// Watches the base directory of every include glob; never fails on a missing
    /// directory or an unavailable backend (it logs and relies on polling).
    pub fn new(config: &TailConfig) -> Result<Watcher, TailError> {
        let wake = Arc::new(Notify::new());
        let waker = wake.clone();
        let handler = move |event: notify::Result<notify::Event>| match event {
            // Our own reads must not wake us.
            Ok(event) if matches!(event.kind, EventKind::Access(_)) => {}
            _ => waker.notify_one(),
        };
        let inner = match notify::recommended_watcher(handler) {
            Ok(mut watcher) => {
                for (dir, mode) in watch_roots(&config.include) {
                    if let Err(err) = watcher.watch(&dir, mode) {
                        let dir = dir.display();
                        warn!(%dir, error = %err, "Cannot watch directory; polling it.");
                    } else {
                        debug!(dir = %dir.display(), ?mode, "Watching directory.");
                    }
                }
                Some(watcher)
            }
            Err(err) => {
                warn!(error = %err, "File-system notifications unavailable; polling only.");
                None
            }
        };
        Ok(Watcher {
            wake,
            _inner: inner,
        })
    }

    /// Waits until something may have changed, or at most `max_wait`.
    pub async fn changed(&mut self, max_wait: Duration) {
        let _ = tokio::time::timeout(max_wait, self.wake.notified()).await;
    }
}

/// Base directories of the globs (the part before the first wildcard), deduplicated,
/// with recursion where a wildcard is followed by more path components or is `**`.
fn watch_roots(include: &[String]) -> Vec<(PathBuf, RecursiveMode)> {
    let mut roots: Vec<(PathBuf, RecursiveMode)> = Vec::new();
    for pattern in include {
        let (base, mode) = base_dir(Path::new(pattern));
        if !base.is_dir() {
            debug!(dir = %base.display(), "Glob base directory missing; polling for it.");
            continue;
        }
        match roots.iter_mut().find(|(b, _)| *b == base) {
            Some((_, m)) if mode == RecursiveMode::Recursive => *m = mode,
            Some(_) => {}
            None => roots.push((base, mode)),
        }
    }
    roots
}

fn base_dir(pattern: &Path) -> (PathBuf, RecursiveMode) {
    let components: Vec<Component<'_>> = pattern.components().collect();
    let wild = |c: &Component<'_>| c.as_os_str().to_string_lossy().contains(['*', '?', '[']);
    let first_wild = components.iter().position(wild).unwrap_or(components.len());
    // The literal prefix is a directory only if a component follows it.
    let base_len = first_wild.min(components.len().saturating_sub(1));
    let base: PathBuf = components[..base_len].iter().collect();
    let base = if base.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        base
    };
    let mode = if components.len() - base_len > 1 {
        RecursiveMode::Recursive
    } else {
        RecursiveMode::NonRecursive
    };
    (base, mode)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_dirs() {
        let nr = RecursiveMode::NonRecursive;
        let r = RecursiveMode::Recursive;
        assert_eq!(
            base_dir(Path::new("/var/log/*.log")),
            (PathBuf::from("/var/log"), nr)
        );
        assert_eq!(
            base_dir(Path::new("/var/log/app.log")),
            (PathBuf::from("/var/log"), nr)
        );
        assert_eq!(
            base_dir(Path::new("/var/log/**/*.log")),
            (PathBuf::from("/var/log"), r)
        );
        assert_eq!(
            base_dir(Path::new("/var/log/pods/*/*/*.log")),
            (PathBuf::from("/var/log/pods"), r)
        );
        assert_eq!(base_dir(Path::new("*.log")), (PathBuf::from("."), nr));
    }

    #[tokio::test]
    async fn wakes_on_write_and_times_out_otherwise() {
        let dir = tempfile::tempdir().unwrap();
        let config = TailConfig {
            include: vec![format!("{}/*.log", dir.path().display())],
            ..TailConfig::default()
        };
        let mut watcher = Watcher::new(&config).unwrap();
        let start = std::time::Instant::now();
        watcher.changed(Duration::from_millis(50)).await;
        assert!(start.elapsed() >= Duration::from_millis(50));
        std::fs::write(dir.path().join("a.log"), "x\n").unwrap();
        let start = std::time::Instant::now();
        watcher.changed(Duration::from_secs(5)).await;
        assert!(start.elapsed() < Duration::from_secs(5));
    }
}
