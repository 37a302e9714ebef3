//! Faults the store's own tests inject: a commit that lands but whose answer is lost, as when
//! the connection to PostgreSQL breaks right after `COMMIT` reached the server. Compiled only
//! for tests.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::{StoreError, StoreResult};

#[derive(Debug, Default)]
pub struct Faults {
    lost_confirmations: AtomicUsize,
}

impl Faults {
    /// The next `n` group commits commit, then answer as if the database had gone away.
    pub fn lose_commit_confirmations(&self, n: usize) {
        self.lost_confirmations.store(n, Ordering::SeqCst);
    }

    /// Called right after a group commit committed.
    pub(crate) fn after_commit(&self) -> StoreResult<()> {
        let lost = self
            .lost_confirmations
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        match lost {
            Ok(_) => Err(StoreError::Unavailable("injected: the commit's answer was lost".into())),
            Err(_) => Ok(()),
        }
    }
}
