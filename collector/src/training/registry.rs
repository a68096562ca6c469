//! The registry's drivers: importing the configured `model` file, loading the active model
//! for the agents' connections, and following activations made on other replicas.
//!
//! Activation through the API sets this replica's `Connections` at once; other replicas see
//! it by polling `Store::active_model` every `training.poll_interval_ms` (the store is the
//! change feed), so an activation reaches agents on every replica within one interval.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::ingest::model::{ModelSlot, PushModel, content_hash};
use crate::metrics::Metrics;
use crate::store::audit::AuditEntry;
use crate::store::models::{ModelSource, NewModel};
use crate::store::{Store, StoreError};

/// Who the collector itself is in audit rows.
const SYSTEM: &str = "system";

fn system_audit(action: &'static str, target: String) -> AuditEntry {
    AuditEntry {
        actor: SYSTEM.to_owned(),
        actor_role: SYSTEM.to_owned(),
        action,
        target,
        before: None,
        after: None,
        client_addr: None,
    }
}

/// What importing the `model` file did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Imported {
    /// The registry id holding the file's content.
    pub id: i64,
    /// A new version was added (the content was not in the registry).
    pub added: bool,
    /// It became the active model.
    pub activated: bool,
}

/// Imports the model file at `path` as a version (source `file`) unless a model with the
/// same content is in the registry. With `activate`, the file's model becomes active; else
/// it does only when no model is active (a first start), so a restart never undoes an
/// activation made through the API. A corrupt file fails, naming the file.
pub async fn import_file(
    store: &Store,
    path: &Path,
    actor: Option<AuditEntry>,
    activate: bool,
) -> anyhow::Result<Imported> {
    let bytes = tokio::fs::read(path)
        .await
        .with_context(|| format!("reading baseline model {}", path.display()))?;
    let owned = path.to_path_buf();
    let checked = bytes.clone();
    let model = tokio::task::spawn_blocking(move || {
        PushModel::from_bytes(&owned, &checked, owned.display().to_string(), None)
    })
    .await??;
    let hash = content_hash(&bytes);
    let (id, added) = match store.model_by_hash(hash).await? {
        Some(id) => (id, false),
        None => {
            let audit = actor
                .clone()
                .unwrap_or_else(|| system_audit("model.import", path.display().to_string()));
            let created_by = audit.actor.clone();
            let info = store
                .add_model(
                    &NewModel {
                        bytes,
                        content_hash: hash,
                        source: ModelSource::File,
                        source_detail: path.display().to_string(),
                        created_by,
                        templates: model.templates as u64,
                        summary: serde_json::json!({ "imported_from": path.display().to_string() }),
                        job_id: None,
                    },
                    AuditEntry {
                        action: "model.import",
                        ..audit
                    },
                    crate::now_ms(),
                )
                .await?;
            (info.id, true)
        }
    };
    let activated = if activate || store.active_model().await?.is_none() {
        let audit = actor.unwrap_or_else(|| system_audit("model.activate", format!("model:{id}")));
        store
            .activate_model(
                id,
                AuditEntry {
                    action: "model.activate",
                    target: format!("model:{id}"),
                    ..audit
                },
                crate::now_ms(),
            )
            .await?;
        true
    } else {
        false
    };
    Ok(Imported {
        id,
        added,
        activated,
    })
}

/// The registry's active model, checked and encoded for pushing; `None` if none is active.
pub async fn load_active(store: &Store) -> Result<Option<Arc<PushModel>>, StoreError> {
    let Some((id, _)) = store.active_model().await? else {
        return Ok(None);
    };
    load(store, id).await.map(Some)
}

/// Model `id` of the registry, checked and encoded for pushing.
pub async fn load(store: &Store, id: i64) -> Result<Arc<PushModel>, StoreError> {
    let bytes = store.model_bytes(id).await?;
    let origin = format!("model {id}");
    let model = tokio::task::spawn_blocking(move || {
        PushModel::from_bytes(Path::new(&origin), &bytes, origin.clone(), Some(id))
    })
    .await?
    .map_err(|e| StoreError::Corrupt {
        segment: id,
        reason: format!("model {id}: {e}"),
    })?;
    Ok(Arc::new(model))
}

/// Sets `slot` to the registry's active model when it differs from what the slot holds.
/// Returns whether agents were sent a new model.
pub async fn sync(store: &Store, slot: &ModelSlot) -> Result<bool, StoreError> {
    let Some((id, hash)) = store.active_model().await? else {
        return Ok(false);
    };
    if slot.get().is_some_and(|m| m.version == hash) {
        return Ok(false);
    }
    let model = load(store, id).await?;
    info!(
        model = id,
        version = model.version,
        templates = model.templates,
        "Active model changed; pushing it to connected agents."
    );
    Ok(slot.set(Some(model)))
}

/// Follows the registry's active model until `shutdown` turns true.
pub async fn follow(
    store: Store,
    slot: ModelSlot,
    metrics: Arc<Metrics>,
    interval: std::time::Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        match sync(&store, &slot).await {
            Ok(true) => {
                metrics.model_activations.inc();
            }
            Ok(false) => {}
            Err(err) => warn!(error = %err, "Reading the active model failed; will retry."),
        }
    }
}
