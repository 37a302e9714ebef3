//! Why processing one chat's input (a platform update or a timer tick) failed, and whether a
//! retry — the platform's redelivery, the timer's next pass — can succeed.

use uuid::Uuid;

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The chat writer is gone (the process is shutting down); whether a write it had queued
    /// landed is unknown, and a retry is idempotent.
    #[error("the chat writer has stopped")]
    WriterStopped,
    /// Other nodes kept changing the dialog while this input was planned.
    #[error("the dialog kept changing under this input; giving up for now")]
    Contention,
    /// The bot's active scenario, as stored, cannot be read or compiled (it passed validation
    /// at upload, so the engine changed or the row was altered).
    #[error("stored scenario {id} cannot be used: {why}")]
    BadScenario { id: Uuid, why: String },
    /// What was stored contradicts itself (a duplicate input without its first answer, say).
    #[error("{0}")]
    Inconsistent(&'static str),
    /// A chat of a platform this process does not serve (its adapter is not registered).
    #[error("no adapter is registered for the chat's platform")]
    UnknownPlatform,
}

impl ProcessError {
    /// Whether trying the same input again later can succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            ProcessError::Store(e) => matches!(e, StoreError::Unavailable(_) | StoreError::StorageFull(_)),
            ProcessError::WriterStopped | ProcessError::Contention => true,
            ProcessError::BadScenario { .. } | ProcessError::Inconsistent(_) | ProcessError::UnknownPlatform => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_passing_conditions_are_worth_a_retry() {
        assert!(ProcessError::Contention.is_retryable());
        assert!(ProcessError::WriterStopped.is_retryable());
        assert!(ProcessError::from(StoreError::Unavailable("gone".into())).is_retryable());
        assert!(!ProcessError::from(StoreError::Corrupt("x".into())).is_retryable());
        let bad = ProcessError::BadScenario {
            id: Uuid::nil(),
            why: "not JSON".into(),
        };
        assert!(!bad.is_retryable());
        assert!(!ProcessError::Inconsistent("no answer").is_retryable());
    }
}
