//! A held lock, released when dropped.

use std::fmt;

use crate::backend::Mode;
use crate::debouncer::LockKey;
use crate::token::Token;
use crate::{Debouncer, Error};

/// A lock held by this caller; dropping it releases the lock.
///
/// The release on drop never blocks an async runtime: from async code it is
/// queued on the connection and finishes in the background (while the
/// connection is up, ordered before any later request of the same
/// `Debouncer`); from blocking code it runs on the dropping thread. A
/// release still in flight when the process exits is lost, and the lease
/// then expires by itself. It only ever deletes this holder's own lock, so a
/// guard whose lease ran out cannot free the next holder's.
///
/// ```
/// use std::time::Duration;
/// use redis_debounce::Debouncer;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let debouncer = Debouncer::memory();
/// let guard = debouncer.try_lock("job:7", Duration::from_millis(50)).await.unwrap();
/// assert_eq!(guard.key(), "job:7");
/// tokio::time::sleep(Duration::from_millis(80)).await; // the lease runs out
/// let next = debouncer.try_lock("job:7", Duration::from_secs(5)).await.unwrap();
/// assert!(!guard.release().await.unwrap(), "no longer ours, so not deleted");
/// assert!(debouncer.try_lock("job:7", Duration::from_secs(5)).await.is_err(), "next still holds it");
/// # drop(next);
/// # }
/// ```
#[must_use = "dropping the guard releases the lock at once"]
pub struct LockGuard {
    debouncer: Debouncer,
    key: LockKey,
    token: Token,
    mode: Mode,
    released: bool,
}

impl fmt::Debug for LockGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockGuard")
            .field("key", &self.key.full)
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

impl LockGuard {
    pub(crate) fn new(debouncer: Debouncer, key: LockKey, token: Token, mode: Mode) -> Self {
        LockGuard {
            debouncer,
            key,
            token,
            mode,
            released: false,
        }
    }

    /// The key, without the Redis prefix.
    #[must_use]
    pub fn key(&self) -> &str {
        self.key.logical()
    }

    /// Releases the lock and waits for the answer (cancelling the wait still
    /// releases, in the background): `true` when it was still
    /// ours and is now free, `false` when the lease had run out (the key may
    /// belong to someone else now, and was left alone).
    ///
    /// # Errors
    ///
    /// The backend's [`Error`]; the lease then expires by itself.
    pub async fn release(mut self) -> Result<bool, Error> {
        let answer = self
            .debouncer
            .backend()
            .release(&self.key.full, self.token)
            .await;
        // Only now: a release future dropped mid-flight leaves the guard
        // unreleased, so its drop still frees the lock (redis-py #3847).
        self.released = true;
        answer
    }

    /// The blocking form of [`release`](Self::release).
    ///
    /// # Errors
    ///
    /// The backend's [`Error`]; the lease then expires by itself.
    pub fn release_blocking(mut self) -> Result<bool, Error> {
        let answer = self
            .debouncer
            .backend()
            .release_blocking(&self.key.full, self.token);
        self.released = true;
        answer
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if !self.released {
            let key = std::mem::take(&mut self.key.full);
            self.debouncer
                .backend()
                .release_detached(key, self.token, self.mode);
        }
    }
}
