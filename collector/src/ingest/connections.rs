//! The live agent connections of this collector and the model they are pushed.
//!
//! [`Connections`] holds the model in force in a `tokio::sync::watch` channel: every admitted
//! connection subscribes (`ingest::push_models`) and writes each new model on its control
//! stream as soon as it is set, so one [`Connections::set`] (an activation through the API,
//! or the registry follower seeing another replica's activation) reaches every connected
//! agent at once; a connection opened later starts with the model in force. The registry of
//! live connections (agent id, host, model pushed) is for the API and for tests.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use super::model::PushModel;

/// One admitted agent connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveAgent {
    pub agent_id: String,
    pub host: String,
    /// The version of the last model written on its control stream.
    pub pushed_version: Option<u64>,
}

#[derive(Debug)]
struct Inner {
    model: watch::Sender<Option<Arc<PushModel>>>,
    live: Mutex<HashMap<u64, LiveAgent>>,
    next_id: AtomicU64,
}

/// The model in force and the connections it goes to. Cheap to clone (shared).
#[derive(Debug, Clone)]
pub struct Connections(Arc<Inner>);

impl Default for Connections {
    fn default() -> Self {
        Connections::new(None)
    }
}

impl Connections {
    pub fn new(model: Option<Arc<PushModel>>) -> Connections {
        Connections(Arc::new(Inner {
            model: watch::channel(model).0,
            live: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
        }))
    }

    /// The model new connections get.
    pub fn get(&self) -> Option<Arc<PushModel>> {
        self.0.model.borrow().clone()
    }

    /// Replaces the model and pushes it to every live connection; returns false (and wakes
    /// nobody) when the same version is already in force.
    pub fn set(&self, model: Option<Arc<PushModel>>) -> bool {
        self.0.model.send_if_modified(|current| {
            let same = current.as_ref().map(|m| m.version) == model.as_ref().map(|m| m.version);
            if same {
                // Keep the newer description (e.g. the registry id) without a push.
                if model.is_some() {
                    *current = model.clone();
                }
                return false;
            }
            *current = model.clone();
            true
        })
    }

    /// A receiver that sees every model set from now on (and the current one).
    pub fn subscribe(&self) -> watch::Receiver<Option<Arc<PushModel>>> {
        self.0.model.subscribe()
    }

    /// Registers an admitted connection until the returned guard drops.
    pub fn register(&self, agent_id: &str, host: &str) -> LiveGuard {
        let id = self.0.next_id.fetch_add(1, Ordering::Relaxed);
        self.live().insert(
            id,
            LiveAgent {
                agent_id: agent_id.to_owned(),
                host: host.to_owned(),
                pushed_version: None,
            },
        );
        LiveGuard {
            connections: self.clone(),
            id,
        }
    }

    /// The live connections, by agent id.
    pub fn agents(&self) -> Vec<LiveAgent> {
        let mut v: Vec<LiveAgent> = self.live().values().cloned().collect();
        v.sort_by(|a, b| a.agent_id.cmp(&b.agent_id));
        v
    }

    fn live(&self) -> std::sync::MutexGuard<'_, HashMap<u64, LiveAgent>> {
        // A poisoned lock still holds a whole map: writers only insert, update and remove.
        self.0.live.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Keeps a connection in the registry; dropping it removes the connection.
#[derive(Debug)]
pub struct LiveGuard {
    connections: Connections,
    id: u64,
}

impl LiveGuard {
    /// Notes that `version` was written on this connection.
    pub fn pushed(&self, version: u64) {
        if let Some(agent) = self.connections.live().get_mut(&self.id) {
            agent.pushed_version = Some(version);
        }
    }
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.connections.live().remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(version: u64) -> Arc<PushModel> {
        Arc::new(PushModel {
            version,
            origin: format!("test {version}"),
            registry_id: None,
            templates: 1,
            frame: Arc::from(&b"frame"[..]),
        })
    }

    #[tokio::test]
    async fn a_set_wakes_every_subscriber_once_per_version() {
        let c = Connections::default();
        let mut a = c.subscribe();
        let mut b = c.subscribe();
        assert!(c.set(Some(model(1))));
        assert!(!c.set(Some(model(1))), "same version: no push");
        a.changed().await.unwrap();
        b.changed().await.unwrap();
        assert_eq!(a.borrow_and_update().as_ref().map(|m| m.version), Some(1));
        assert!(!a.has_changed().unwrap());
        assert!(c.set(Some(model(2))));
        assert!(a.has_changed().unwrap());
        // A connection opened later starts with the model in force.
        assert_eq!(c.subscribe().borrow().as_ref().map(|m| m.version), Some(2));
    }

    #[test]
    fn the_registry_lists_live_connections_until_their_guard_drops() {
        let c = Connections::default();
        let g1 = c.register("a1", "pos-1");
        let g2 = c.register("a2", "pos-2");
        g1.pushed(7);
        let agents = c.agents();
        assert_eq!(agents.len(), 2);
        assert_eq!(agents[0].pushed_version, Some(7));
        assert_eq!(agents[1].pushed_version, None);
        drop(g2);
        assert_eq!(c.agents().len(), 1);
        drop(g1);
        assert!(c.agents().is_empty());
    }
}
