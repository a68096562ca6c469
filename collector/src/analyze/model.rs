//! Baseline model files: the serde JSON of `fleetlog_lines::baseline::Baseline`.
//!
//! Writes are atomic (temporary file in the same directory, fsync, rename), so a crash leaves
//! either the old model or the new one, never half of one.

use std::io::Write;
use std::path::{Path, PathBuf};

use fleetlog_lines::baseline::{BASELINE_VERSION, Baseline};

/// Why a model file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// Reading or writing failed.
    #[error("cannot read or write baseline model {}", path.display())]
    Io {
        /// The model file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Not the JSON of a baseline model.
    #[error("baseline model {} is corrupt or not a fleetlog baseline model", path.display())]
    Corrupt {
        /// The model file.
        path: PathBuf,
        /// Where parsing failed.
        #[source]
        source: serde_json::Error,
    },
    /// Written by an incompatible version.
    #[error(
        "baseline model {}: format version {found}, this build reads version {BASELINE_VERSION}; retrain it",
        path.display()
    )]
    Version {
        /// The model file.
        path: PathBuf,
        /// The version it declares.
        found: u32,
    },
}

/// Loads and checks a model.
pub fn load(path: &Path) -> Result<Baseline, ModelError> {
    let bytes = std::fs::read(path).map_err(|source| ModelError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse(path, &bytes)
}

/// Parses and checks model bytes read from `path` (named in errors).
pub fn parse(path: &Path, bytes: &[u8]) -> Result<Baseline, ModelError> {
    let model: Baseline = serde_json::from_slice(bytes).map_err(|source| ModelError::Corrupt {
        path: path.to_path_buf(),
        source,
    })?;
    if model.version != BASELINE_VERSION {
        return Err(ModelError::Version {
            path: path.to_path_buf(),
            found: model.version,
        });
    }
    Ok(model)
}

/// Writes `model` to `path` atomically; returns the bytes written.
pub fn save(path: &Path, model: &Baseline) -> Result<u64, ModelError> {
    let io_err = |source| ModelError::Io {
        path: path.to_path_buf(),
        source,
    };
    let bytes = serde_json::to_vec(model).map_err(|e| io_err(std::io::Error::other(e)))?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| io_err(std::io::Error::other("not a file name")))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp{}", std::process::id()));
    let tmp = dir.join(tmp_name);
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        // Make the rename itself durable; not every platform can open a directory.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    };
    if let Err(e) = write() {
        let _ = std::fs::remove_file(&tmp);
        return Err(io_err(e));
    }
    Ok(bytes.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.json");
        let model = Baseline::train([("user 1 logged in", None), ("user 2 logged in", None)]);
        let n = save(&path, &model).unwrap();
        assert_eq!(n, std::fs::metadata(&path).unwrap().len());
        assert_eq!(load(&path).unwrap().templates(), 1);
        // No temporary file left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);

        std::fs::write(&path, b"{not json").unwrap();
        let err = load(&path).unwrap_err();
        assert!(matches!(err, ModelError::Corrupt { .. }));
        assert!(err.to_string().contains("m.json"), "{err}");

        let mut v: serde_json::Value = serde_json::to_value(&model).unwrap();
        v["version"] = 99.into();
        std::fs::write(&path, v.to_string()).unwrap();
        assert!(matches!(
            load(&path),
            Err(ModelError::Version { found: 99, .. })
        ));
    }
}
