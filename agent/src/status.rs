//! The heartbeat the shipper sends every `heartbeat_secs`: the buffer's figures (v1
//! `Heartbeat`) and, to a collector speaking protocol v2, the host's metrics (`sysinfo`:
//! CPU, memory, load, uptime, space on the data and log volumes) and the agent's own state
//! (buffered bytes and batches, oldest unacked age, per-file lag, drops by reason,
//! version, config hash) as a `Status` frame; to a collector speaking protocol v3, a
//! `StatusV3` that also names the model the agent applies (its content hash), so the
//! collector can count the agents running each model.

use std::path::{Path, PathBuf};

use fleetlog_protocol::messages::{
    AgentState, FileLag, Frame, Heartbeat, HostMetrics, Status, StatusV3, VolumeUse,
};
use fleetlog_protocol::version::{V2, V3};

use crate::buffer::Buffer;
use crate::metrics::Metrics;
use crate::ship::driver::Signals;

/// Files reported in `AgentState::file_lag` at most (the largest lags).
pub const MAX_FILE_LAGS: usize = 32;

/// Samples the host between heartbeats (CPU use needs two samples).
pub struct HostProbe {
    system: sysinfo::System,
    disks: sysinfo::Disks,
    data_dir: PathBuf,
    log_dirs: Vec<PathBuf>,
}

impl std::fmt::Debug for HostProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostProbe")
            .field("data_dir", &self.data_dir)
            .field("log_dirs", &self.log_dirs)
            .finish_non_exhaustive()
    }
}

impl HostProbe {
    /// `log_dirs` are the fixed directories of the tail globs (`/var/log/pos` for
    /// `/var/log/pos/*.log`).
    pub fn new(data_dir: &Path, log_dirs: Vec<PathBuf>) -> HostProbe {
        let mut system = sysinfo::System::new();
        system.refresh_cpu_usage();
        HostProbe {
            system,
            disks: sysinfo::Disks::new_with_refreshed_list(),
            data_dir: data_dir.to_owned(),
            log_dirs,
        }
    }

    /// The host's figures now.
    pub fn sample(&mut self) -> HostMetrics {
        self.system.refresh_cpu_usage();
        self.system.refresh_memory();
        self.disks.refresh(true);
        let load = sysinfo::System::load_average();
        let mut volumes = Vec::new();
        let roles = std::iter::once(("data", self.data_dir.as_path()))
            .chain(self.log_dirs.iter().map(|d| ("logs", d.as_path())));
        for (role, dir) in roles {
            let Some(disk) = volume_of(&self.disks, dir) else {
                continue;
            };
            let mount = disk.mount_point().to_string_lossy().into_owned();
            if volumes
                .iter()
                .any(|v: &VolumeUse| v.role == role && v.mount == mount)
            {
                continue;
            }
            volumes.push(VolumeUse {
                role: role.to_owned(),
                mount,
                total_bytes: disk.total_space(),
                available_bytes: disk.available_space(),
            });
        }
        HostMetrics {
            cpu_percent: self.system.global_cpu_usage(),
            memory_total_bytes: self.system.total_memory(),
            memory_used_bytes: self.system.used_memory(),
            load: [load.one, load.five, load.fifteen],
            uptime_secs: sysinfo::System::uptime(),
            volumes,
        }
    }
}

/// The disk whose mount point is the longest prefix of `dir` (made absolute).
fn volume_of<'a>(disks: &'a sysinfo::Disks, dir: &Path) -> Option<&'a sysinfo::Disk> {
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned());
    disks
        .list()
        .iter()
        .filter(|d| dir.starts_with(d.mount_point()))
        .max_by_key(|d| d.mount_point().as_os_str().len())
}

/// The directory part of a glob before its first wildcard (`/var/log/pos/*.log` →
/// `/var/log/pos`).
pub fn glob_dir(glob: &str) -> PathBuf {
    let cut = glob.find(['*', '?', '[', '{']).unwrap_or(glob.len());
    let fixed = &glob[..cut];
    let dir = match fixed.rfind('/') {
        Some(0) => "/",
        Some(i) => &fixed[..i],
        None => ".",
    };
    PathBuf::from(dir)
}

/// FNV-1a of the effective configuration's description: hosts that run the same config
/// report the same hash.
pub fn config_hash(description: &str) -> u64 {
    description.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// What the shipper needs to build a heartbeat.
#[derive(Debug)]
pub struct StatusSource {
    pub probe: HostProbe,
    pub config_hash: u64,
}

/// The heartbeat frame for a connection at protocol `version`.
pub fn heartbeat_frame(
    buffer: &Buffer,
    metrics: &Metrics,
    signals: &Signals,
    source: &mut StatusSource,
    version: u16,
) -> Frame {
    let now = crate::now_ms();
    let stats = buffer.stats();
    let heartbeat = Heartbeat {
        ts_ms: now,
        buffer_bytes: stats.used_bytes,
        buffer_capacity: stats.capacity_bytes,
        pending_batches: stats.pending_batches,
        dropped_lines: stats.dropped_lines + metrics.dropped_total("too_large"),
        watched_files: metrics.watched_files.get().max(0) as u32,
    };
    if version < V2 {
        return Frame::Heartbeat(heartbeat);
    }
    let file_lag = signals
        .file_lag
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .take(MAX_FILE_LAGS)
        .map(|(path, lag)| FileLag {
            path: path.clone(),
            lag_bytes: *lag,
        })
        .collect();
    let agent = AgentState {
        buffered_bytes: stats.used_bytes,
        buffered_batches: stats.pending_batches,
        oldest_unacked_ms: stats
            .oldest_appended_ms
            .map(|t| u64::try_from(now - t).unwrap_or(0)),
        file_lag,
        drops: vec![
            ("policy".to_owned(), stats.dropped_lines),
            ("too_large".to_owned(), metrics.dropped_total("too_large")),
        ],
        version: env!("CARGO_PKG_VERSION").to_owned(),
        config_hash: source.config_hash,
    };
    let status = Status {
        heartbeat,
        host: source.probe.sample(),
        agent,
    };
    if version < V3 {
        return Frame::Status(status);
    }
    Frame::StatusV3(StatusV3 {
        status,
        model_version: signals.model.borrow().as_ref().map(|m| m.version),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_dirs_are_the_fixed_prefix() {
        for (glob, dir) in [
            ("/var/log/pos/*.log", "/var/log/pos"),
            ("/var/log/*/app.log", "/var/log"),
            ("/srv/app.log", "/srv"),
            ("/*.log", "/"),
            ("logs/*.log", "logs"),
            ("*.log", "."),
        ] {
            assert_eq!(glob_dir(glob), PathBuf::from(dir), "{glob}");
        }
    }

    #[test]
    fn the_probe_reports_this_host_and_its_data_volume() {
        let dir = tempfile::tempdir().unwrap();
        let mut probe = HostProbe::new(dir.path(), vec![dir.path().to_owned()]);
        let m = probe.sample();
        assert!(m.memory_total_bytes > 0 && m.memory_used_bytes <= m.memory_total_bytes);
        assert!(m.uptime_secs > 0);
        assert!((0.0..=100.0).contains(&m.cpu_percent), "{}", m.cpu_percent);
        let data = m.volumes.iter().find(|v| v.role == "data");
        let data = data.expect("the data dir's volume is found");
        assert!(data.total_bytes > 0 && data.available_bytes <= data.total_bytes);
        assert!(m.volumes.iter().any(|v| v.role == "logs"));
        assert_ne!(config_hash("a"), config_hash("b"));
    }
}
