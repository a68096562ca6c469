//! In-process wake-ups between the stages that poll the store. A stage that wrote what
//! another stage reads nudges it, so the chain ingest → incidents → Jira decisions →
//! outbox delivery takes milliseconds instead of one poll interval per stage. Polling
//! stays as it was (another replica's writes, a nudge this process never saw): a nudge
//! only cuts a wait short, it never carries data, so a lost or extra one changes nothing
//! but timing.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

/// How long a nudged stage waits before stepping, so a burst of nudges (a batch per
/// agent) makes one step rather than one each.
pub const SETTLE: Duration = Duration::from_millis(20);

/// One `Notify` per stage that can be nudged. `notify_one` keeps a permit when the stage
/// is busy, so a nudge sent while it steps is not lost.
#[derive(Debug, Default, Clone)]
pub struct Nudges {
    /// Batches were stored: the incident worker has events to read.
    pub incidents: Arc<Notify>,
    /// Incidents changed: the Jira decision worker has work.
    pub jira: Arc<Notify>,
    /// Messages were queued: the outbox worker has deliveries to claim.
    pub outbox: Arc<Notify>,
}

/// Waits `interval`, or until `nudge` fires plus [`SETTLE`], whichever ends first.
pub async fn wait(interval: Duration, nudge: &Notify) {
    tokio::select! {
        _ = tokio::time::sleep(interval) => {}
        _ = nudge.notified() => tokio::time::sleep(SETTLE.min(interval)).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::timeout;

    const LONG: Duration = Duration::from_secs(3600);

    #[tokio::test]
    async fn a_nudge_cuts_the_wait_short_and_is_kept_while_busy() {
        let n = Nudges::default();
        // Sent before anyone waits: kept as a permit, so the wait ends (after SETTLE).
        n.incidents.notify_one();
        assert!(
            timeout(Duration::from_secs(30), wait(LONG, &n.incidents))
                .await
                .is_ok()
        );
        // The permit is used up: now the wait runs its interval.
        assert!(
            timeout(Duration::from_millis(200), wait(LONG, &n.incidents))
                .await
                .is_err()
        );
        // Another stage's nudge does not wake this one.
        n.jira.notify_one();
        assert!(
            timeout(Duration::from_millis(200), wait(LONG, &n.incidents))
                .await
                .is_err()
        );
        // No nudge: the interval ends the wait.
        assert!(
            timeout(
                Duration::from_secs(30),
                wait(Duration::from_millis(10), &n.outbox)
            )
            .await
            .is_ok()
        );
    }
}
