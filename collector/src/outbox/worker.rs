//! The delivery loop: claim due messages of the registered kinds, deliver each on its own
//! task under `outbox.delivery_timeout_ms`, record the attempt and the next step
//! ([`super::next_after_failure`]). At most one delivery per target is in flight and at
//! most `outbox.concurrency` in total, so a hanging channel holds one slot and its own
//! messages, never another channel's, and never ingest (which only writes rows).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

use super::{Deliver, DeliverError, Delivered, Next, OutboxConfig, OutboxMessage};
use crate::metrics::{Metrics, OutcomeLabel};
use crate::store::outbox::Attempt;
use crate::store::{Store, StoreError};

/// The [`Deliver`] impl for each message kind.
#[derive(Clone, Default)]
pub struct Registry {
    by_kind: HashMap<String, Arc<dyn Deliver>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("kinds", &self.by_kind.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Registry {
    /// Registers `deliver` for messages of `kind` (replacing an earlier one).
    pub fn register(&mut self, kind: &str, deliver: Arc<dyn Deliver>) {
        self.by_kind.insert(kind.to_owned(), deliver);
    }

    /// The kinds with a deliverer: only those are claimed.
    pub fn kinds(&self) -> Vec<String> {
        let mut k: Vec<String> = self.by_kind.keys().cloned().collect();
        k.sort();
        k
    }
}

/// What one finished delivery task reports.
struct Finished {
    msg: OutboxMessage,
    started_ms: i64,
    latency: Duration,
    result: Result<Delivered, DeliverError>,
}

/// The worker; [`OutboxWorker::run`] until shutdown, or [`OutboxWorker::step`] in tests.
pub struct OutboxWorker {
    pub store: Store,
    /// This replica's lease owner name.
    pub owner: String,
    pub config: OutboxConfig,
    pub registry: Registry,
    pub metrics: Arc<Metrics>,
    in_flight: JoinSet<Finished>,
    busy: HashMap<String, usize>,
}

impl std::fmt::Debug for OutboxWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboxWorker")
            .field("owner", &self.owner)
            .field("in_flight", &self.in_flight.len())
            .finish()
    }
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl OutboxWorker {
    pub fn new(
        store: Store,
        owner: String,
        config: OutboxConfig,
        registry: Registry,
        metrics: Arc<Metrics>,
    ) -> Self {
        OutboxWorker {
            store,
            owner,
            config,
            registry,
            metrics,
            in_flight: JoinSet::new(),
            busy: HashMap::new(),
        }
    }

    /// Deliveries in flight.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Claims what fits into the free slots and starts delivering it; returns how many
    /// deliveries started.
    pub async fn claim(&mut self) -> Result<usize, StoreError> {
        let kinds = self.registry.kinds();
        let free = (self.config.concurrency as usize).saturating_sub(self.in_flight.len());
        if free == 0 || kinds.is_empty() {
            return Ok(0);
        }
        let kinds_ref: Vec<&str> = kinds.iter().map(String::as_str).collect();
        let busy: Vec<String> = self.busy.keys().cloned().collect();
        let now = crate::now_ms();
        let claimed = self
            .store
            .claim_due_except(
                &kinds_ref,
                &busy,
                &self.owner,
                now,
                ms(self.config.lease),
                u32::try_from(free).unwrap_or(u32::MAX),
            )
            .await?;
        let mut started = 0;
        for msg in claimed {
            if self.busy.contains_key(&msg.target) {
                // A second message for a target this batch already started: hand it back
                // so per-target order holds and a hung target holds one slot.
                self.store.release_claim(msg.id, &self.owner).await?;
                continue;
            }
            let Some(deliver) = self.registry.by_kind.get(&msg.kind).cloned() else {
                self.store.release_claim(msg.id, &self.owner).await?;
                continue;
            };
            *self.busy.entry(msg.target.clone()).or_default() += 1;
            let timeout = self.config.delivery_timeout;
            started += 1;
            self.in_flight.spawn(async move {
                let started_ms = crate::now_ms();
                let t0 = Instant::now();
                let result = match tokio::time::timeout(timeout, deliver.deliver(&msg)).await {
                    Ok(r) => r,
                    Err(_) => Err(DeliverError::transient(format!(
                        "timed out after {} ms",
                        timeout.as_millis()
                    ))),
                };
                Finished {
                    msg,
                    started_ms,
                    latency: t0.elapsed(),
                    result,
                }
            });
        }
        Ok(started)
    }

    /// Records one finished delivery.
    async fn finish(&mut self, f: Finished) {
        if let Some(n) = self.busy.get_mut(&f.msg.target) {
            *n -= 1;
            if *n == 0 {
                self.busy.remove(&f.msg.target);
            }
        }
        let now = crate::now_ms();
        let (next, status, error) = match &f.result {
            Ok(d) => (Next::Done, d.status, None),
            Err(e) if e.permanent => (Next::Dead, e.status, Some(e.message.clone())),
            Err(e) => (
                super::next_after_failure(
                    f.msg.attempt,
                    &self.config.retry,
                    e.retry_after,
                    now,
                    fastrand::f64(),
                ),
                e.status,
                Some(e.message.clone()),
            ),
        };
        let outcome = match next {
            Next::Done => "delivered",
            Next::RetryAt(_) => "retry",
            Next::Dead => "dead",
        };
        self.metrics
            .outbox_deliveries
            .get_or_create(&OutcomeLabel { outcome })
            .inc();
        let attempt = Attempt {
            attempt: f.msg.attempt,
            started_ms: f.started_ms,
            latency_ms: ms(f.latency),
            http_status: status,
            error: error.clone(),
        };
        match self
            .store
            .record_attempt(f.msg.id, &self.owner, &attempt, next)
            .await
        {
            Ok(true) => match next {
                Next::Done => {
                    debug!(id = f.msg.id, kind = %f.msg.kind, target = %f.msg.target, attempt = f.msg.attempt, latency_ms = attempt.latency_ms, "Outbox message delivered.")
                }
                Next::RetryAt(at) => {
                    info!(id = f.msg.id, kind = %f.msg.kind, target = %f.msg.target, attempt = f.msg.attempt, retry_in_ms = at - now, error = error.as_deref().unwrap_or(""), "Outbox delivery failed; will retry.")
                }
                Next::Dead => {
                    warn!(id = f.msg.id, kind = %f.msg.kind, target = %f.msg.target, attempt = f.msg.attempt, error = error.as_deref().unwrap_or(""), "Outbox message dead-lettered.")
                }
            },
            Ok(false) => {
                self.metrics
                    .outbox_deliveries
                    .get_or_create(&OutcomeLabel {
                        outcome: "lease_lost",
                    })
                    .inc();
                warn!(
                    id = f.msg.id,
                    "Outbox claim expired during delivery; another worker may deliver it again."
                )
            }
            Err(err) => {
                warn!(id = f.msg.id, error = %err, "Recording an outbox attempt failed; the claim expires and it is retried.")
            }
        }
    }

    /// Waits for every delivery in flight and records it (tests and shutdown).
    pub async fn drain(&mut self) {
        while let Some(joined) = self.in_flight.join_next().await {
            match joined {
                Ok(f) => self.finish(f).await,
                Err(err) => warn!(error = %err, "Outbox delivery task failed."),
            }
        }
    }

    /// One claim and a wait for everything it started (tests).
    pub async fn step(&mut self) -> Result<usize, StoreError> {
        let n = self.claim().await?;
        self.drain().await;
        Ok(n)
    }

    /// Delivers until `shutdown`, then waits for deliveries in flight (each bounded by
    /// the delivery timeout).
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(self.config.poll_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let nudge = self.store.nudges().outbox.clone();
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    if let Err(err) = self.claim().await {
                        warn!(error = %err, "Claiming outbox messages failed; will retry.");
                    }
                }
                // A stage queued messages: claim now rather than at the next tick.
                _ = nudge.notified() => {
                    tokio::time::sleep(crate::store::nudge::SETTLE).await;
                    if let Err(err) = self.claim().await {
                        warn!(error = %err, "Claiming outbox messages failed; will retry.");
                    }
                }
                Some(joined) = self.in_flight.join_next(), if !self.in_flight.is_empty() => {
                    match joined {
                        Ok(f) => self.finish(f).await,
                        Err(err) => warn!(error = %err, "Outbox delivery task failed."),
                    }
                }
                _ = shutdown.changed() => break,
            }
        }
        self.drain().await;
    }
}
