//! A training job's life, as pure transitions: queued → running → succeeded | failed |
//! cancelled, and what a cancel request does in each state. No I/O, no clock: the runner
//! (`training::runner`) and the store apply these decisions.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Accepted, waiting for the runner.
    Queued,
    /// Reading its input and training.
    Running,
    /// Done: a new (inactive) model version exists.
    Succeeded,
    /// Stopped with an error (bad input, nothing to train on, store failure, abandoned).
    Failed,
    /// Stopped on request; no model was made.
    Cancelled,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
        }
    }

    /// The state stored as `s`; an unknown word reads as `Failed` (never a live state).
    pub fn parse(s: &str) -> JobState {
        match s {
            "queued" => JobState::Queued,
            "running" => JobState::Running,
            "succeeded" => JobState::Succeeded,
            "cancelled" => JobState::Cancelled,
            _ => JobState::Failed,
        }
    }

    /// Whether the job has ended (no transition leaves it).
    pub fn is_final(self) -> bool {
        matches!(
            self,
            JobState::Succeeded | JobState::Failed | JobState::Cancelled
        )
    }
}

/// Something that happens to a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobEvent {
    /// The runner picked it up.
    Start,
    /// Training ended with a model.
    Finish,
    /// Training ended with an error.
    Fail,
    /// A user asked to cancel it.
    Cancel,
    /// The runner saw a cancel request and stopped.
    Stopped,
}

/// What an event does to a job in a given state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// The job moves to this state.
    To(JobState),
    /// A running job is asked to stop: the flag is set, the runner stops at its next check.
    RequestCancel,
    /// Not allowed in this state (e.g. cancelling a finished job); nothing changes.
    Refused,
}

/// The one transition table of a job.
pub fn next(state: JobState, event: JobEvent, cancel_requested: bool) -> Transition {
    use JobEvent as E;
    use JobState as S;
    match (state, event) {
        (S::Queued, E::Start) if cancel_requested => Transition::To(S::Cancelled),
        (S::Queued, E::Start) => Transition::To(S::Running),
        (S::Queued, E::Cancel) => Transition::To(S::Cancelled),
        (S::Queued, E::Fail) => Transition::To(S::Failed),
        (S::Running, E::Cancel) if cancel_requested => Transition::Refused,
        (S::Running, E::Cancel) => Transition::RequestCancel,
        // A cancel request the runner had not seen yet wins: the model is not written.
        (S::Running, E::Finish) if cancel_requested => Transition::To(S::Cancelled),
        (S::Running, E::Finish) => Transition::To(S::Succeeded),
        (S::Running, E::Fail) => Transition::To(S::Failed),
        (S::Running, E::Stopped) => Transition::To(S::Cancelled),
        _ => Transition::Refused,
    }
}

/// Progress of a job with a known input size, 0-100; `None` when the size is unknown (a
/// time window is read until it ends).
pub fn percent(bytes_done: u64, bytes_total: u64, state: JobState) -> Option<u8> {
    if state == JobState::Succeeded {
        return Some(100);
    }
    if bytes_total == 0 {
        return None;
    }
    Some(((bytes_done.min(bytes_total) * 100) / bytes_total) as u8)
}

/// A queued or running job whose row was not refreshed since `stale_before_ms` belongs to a
/// replica that stopped: it is failed, so that nobody waits for it.
pub fn is_abandoned(state: JobState, updated_ms: i64, stale_before_ms: i64) -> bool {
    !state.is_final() && updated_ms < stale_before_ms
}

#[cfg(test)]
mod tests {
    use super::*;
    use JobEvent as E;
    use JobState as S;

    fn check(state: S, event: E, cancel_requested: bool, expect: Transition) {
        assert_eq!(
            next(state, event, cancel_requested),
            expect,
            "{state:?} + {event:?} (cancel requested: {cancel_requested})"
        );
    }

    #[test]
    fn transitions() {
        use Transition::{Refused, RequestCancel, To};
        let table = [
            (S::Queued, E::Start, false, To(S::Running)),
            (S::Queued, E::Start, true, To(S::Cancelled)),
            (S::Queued, E::Cancel, false, To(S::Cancelled)),
            (S::Queued, E::Fail, false, To(S::Failed)),
            (S::Queued, E::Finish, false, Refused),
            (S::Running, E::Cancel, false, RequestCancel),
            (S::Running, E::Cancel, true, Refused),
            (S::Running, E::Finish, false, To(S::Succeeded)),
            (S::Running, E::Finish, true, To(S::Cancelled)),
            (S::Running, E::Fail, false, To(S::Failed)),
            (S::Running, E::Fail, true, To(S::Failed)),
            (S::Running, E::Stopped, true, To(S::Cancelled)),
            (S::Running, E::Start, false, Refused),
            (S::Succeeded, E::Cancel, false, Refused),
            (S::Failed, E::Cancel, false, Refused),
            (S::Cancelled, E::Cancel, false, Refused),
            (S::Cancelled, E::Start, true, Refused),
            (S::Succeeded, E::Fail, false, Refused),
        ];
        for (state, event, flag, expect) in table {
            check(state, event, flag, expect);
        }
    }

    #[test]
    fn states_round_trip_and_final_ones_are_final() {
        for s in [S::Queued, S::Running, S::Succeeded, S::Failed, S::Cancelled] {
            assert_eq!(JobState::parse(s.as_str()), s);
            let leaves = [E::Start, E::Finish, E::Fail, E::Cancel, E::Stopped]
                .iter()
                .any(|&e| matches!(next(s, e, false), Transition::To(_)));
            assert_eq!(s.is_final(), !leaves, "{s:?}");
        }
        assert_eq!(JobState::parse("bogus"), S::Failed);
    }

    #[test]
    fn progress_and_abandonment() {
        assert_eq!(percent(50, 200, S::Running), Some(25));
        assert_eq!(percent(500, 200, S::Running), Some(100));
        assert_eq!(percent(10, 0, S::Running), None);
        assert_eq!(percent(0, 0, S::Succeeded), Some(100));
        assert!(is_abandoned(S::Running, 100, 200));
        assert!(is_abandoned(S::Queued, 100, 200));
        assert!(!is_abandoned(S::Running, 300, 200));
        assert!(!is_abandoned(S::Failed, 100, 200));
    }
}
