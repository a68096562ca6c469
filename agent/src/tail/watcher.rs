//! The wake-up driver: a `notify` watcher on the globs' base directories, with polling
//! as the fallback.
//!
//! `changed` returns when a file-system event arrived or `max_wait` passed, whichever is
//! first, so a caller that rescans at least every `max_wait` polls even where
//! notifications never come (network file systems, overlayfs, exhausted inotify limits).
//! Events are sorted into [`Changes`]: data written to a path (the caller reads that file
//! without a rescan: the cost follows the changes, not the tree) and anything else
//! (created, removed, renamed, an overflowed queue), which asks for a rescan. What changed
//! is always decided by the tailer; an event only says where to look first.

use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use notify::event::ModifyKind;
use notify::{EventKind, RecursiveMode, Watcher as _};
use tokio::sync::Notify;
use tracing::{debug, warn};

use super::{TailConfig, TailError};

/// Paths remembered between two takes at most; more turn into one rescan.
const MAX_WRITTEN_PATHS: usize = 4096;

/// What the file-system events since the last [`Watcher::take`] said.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// Files whose data changed.
    pub written: HashSet<PathBuf>,
    /// Something other than data changed (a file created, removed or renamed, or the
    /// event queue overflowed): the globs must be expanded again.
    pub rescan: bool,
}

impl Changes {
    fn record(&mut self, event: &notify::Event) {
        let data_only = matches!(
            event.kind,
            EventKind::Modify(ModifyKind::Data(_) | ModifyKind::Any | ModifyKind::Metadata(_))
        );
        if !data_only || event.need_rescan() || event.paths.is_empty() {
            self.rescan = true;
            return;
        }
        for path in &event.paths {
            if self.written.len() >= MAX_WRITTEN_PATHS {
                self.written.clear();
                self.rescan = true;
                return;
            }
            self.written.insert(path.clone());
        }
    }
}

/// Wakes the agent's read loop when the watched directories change.
pub struct Watcher {
    wake: Arc<Notify>,
    changes: Arc<Mutex<Changes>>,
    /// Kept alive for its background thread; `None` when notifications are unavailable.
    _inner: Option<notify::RecommendedWatcher>,
}

impl Watcher {
    /// Watches the base directory of every include glob; never fails on a missing
    /// directory or an unavailable backend (it logs and relies on polling).
    pub fn new(config: &TailConfig) -> Result<Watcher, TailError> {
        let wake = Arc::new(Notify::new());
        let changes = Arc::new(Mutex::new(Changes::default()));
        let (waker, sink) = (wake.clone(), changes.clone());
        let handler = move |event: notify::Result<notify::Event>| {
            match &event {
                // Our own reads must not wake us.
                Ok(event) if matches!(event.kind, EventKind::Access(_)) => return,
                Ok(event) => sink.lock().unwrap_or_else(|e| e.into_inner()).record(event),
                Err(_) => sink.lock().unwrap_or_else(|e| e.into_inner()).rescan = true,
            }
            waker.notify_one();
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
            changes,
            _inner: inner,
        })
    }

    /// Waits until something may have changed, or at most `max_wait`.
    pub async fn changed(&mut self, max_wait: Duration) {
        let _ = tokio::time::timeout(max_wait, self.wake.notified()).await;
    }

    /// The changes seen since the last take.
    pub fn take(&self) -> Changes {
        std::mem::take(&mut *self.changes.lock().unwrap_or_else(|e| e.into_inner()))
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
        let path = dir.path().join("a.log");
        std::fs::write(&path, "x\n").unwrap();
        let start = std::time::Instant::now();
        watcher.changed(Duration::from_secs(5)).await;
        assert!(start.elapsed() < Duration::from_secs(5));
        // A new file asks for a rescan; let the rest of its events arrive, then take.
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(watcher.take().rescan, "a created file asks for a rescan");
        assert_eq!(watcher.take(), Changes::default(), "a take empties");
        // Data appended to a known file names the file, without a rescan.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        std::io::Write::write_all(&mut f, b"y\n").unwrap();
        watcher.changed(Duration::from_secs(5)).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        let changes = watcher.take();
        assert!(
            !changes.rescan,
            "an append alone asks for no rescan: {changes:?}"
        );
        let canonical = path.canonicalize().unwrap();
        assert!(
            changes
                .written
                .iter()
                .any(|p| p == &path || p == &canonical),
            "{changes:?} names {}",
            path.display()
        );
    }

    #[test]
    fn changes_sort_events() {
        use notify::event::{CreateKind, DataChange, RenameMode};
        let ev = |kind, path: &str| notify::Event::new(kind).add_path(PathBuf::from(path));
        let mut c = Changes::default();
        c.record(&ev(
            EventKind::Modify(ModifyKind::Data(DataChange::Any)),
            "/l/a.log",
        ));
        c.record(&ev(EventKind::Modify(ModifyKind::Any), "/l/b.log"));
        assert!(!c.rescan);
        assert_eq!(c.written.len(), 2);
        for kind in [
            EventKind::Create(CreateKind::File),
            EventKind::Modify(ModifyKind::Name(RenameMode::Both)),
            EventKind::Remove(notify::event::RemoveKind::File),
            EventKind::Other,
        ] {
            let mut c = Changes::default();
            c.record(&ev(kind, "/l/a.log"));
            assert!(c.rescan, "{kind:?} asks for a rescan");
        }
        let mut c = Changes::default();
        for i in 0..=MAX_WRITTEN_PATHS {
            let p = format!("/l/{i}.log");
            c.record(&ev(EventKind::Modify(ModifyKind::Any), &p));
        }
        assert!(
            c.rescan && c.written.is_empty(),
            "too many paths: one rescan"
        );
    }
}
