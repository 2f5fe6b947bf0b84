//! A held lock, released when dropped.

use std::fmt;

use std::time::Duration;

use crate::backend::{Finish, Mode, lease_ms};
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
    /// releases, in the background): `true` when it was still ours and is
    /// now free, `false` when the lease had run out (the key may belong to
    /// someone else now, and was left alone).
    ///
    /// # Errors
    ///
    /// The backend's [`Error`]; the lease then expires by itself.
    pub async fn release(self) -> Result<bool, Error> {
        self.finish(Finish::Release).await
    }

    /// The blocking form of [`release`](Self::release).
    ///
    /// # Errors
    ///
    /// The backend's [`Error`]; the lease then expires by itself.
    pub fn release_blocking(self) -> Result<bool, Error> {
        self.finish_blocking(Finish::Release)
    }

    /// Keeps the key taken for `window` after a successful run ("at most
    /// one run per key per window"): callers in the window get a
    /// [`Busy`](crate::Busy) that [`is_cooling_down`](crate::Busy::is_cooling_down)
    /// with the time left. `true` when the lock was still ours; `false`
    /// when the lease had run out, and the key was left alone.
    ///
    /// # Errors
    ///
    /// The backend's [`Error`], or [`Error::Config`] for a zero window; the
    /// lease then expires by itself.
    ///
    /// ```
    /// use std::time::Duration;
    /// use redis_debounce::Debouncer;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let debouncer = Debouncer::memory();
    /// let guard = debouncer.try_lock("sms:555", Duration::from_secs(10)).await.unwrap();
    /// // ... the SMS went out ...
    /// assert!(guard.cool_down(Duration::from_secs(60)).await.unwrap());
    /// let busy = debouncer.try_lock("sms:555", Duration::from_secs(10)).await.unwrap_err();
    /// assert!(busy.is_cooling_down());
    /// # }
    /// ```
    pub async fn cool_down(self, window: Duration) -> Result<bool, Error> {
        let ms = lease_ms(window)?;
        self.finish(Finish::Cooldown(ms)).await
    }

    /// The blocking form of [`cool_down`](Self::cool_down).
    ///
    /// # Errors
    ///
    /// As [`cool_down`](Self::cool_down).
    pub fn cool_down_blocking(self, window: Duration) -> Result<bool, Error> {
        let ms = lease_ms(window)?;
        self.finish_blocking(Finish::Cooldown(ms))
    }

    async fn finish(mut self, finish: Finish) -> Result<bool, Error> {
        let answer = self
            .debouncer
            .backend()
            .finish(&self.key.full, self.token, finish)
            .await;
        // Only now: a future dropped mid-flight leaves the guard
        // unreleased, so its drop still frees the lock (redis-py #3847).
        self.released = true;
        answer
    }

    fn finish_blocking(mut self, finish: Finish) -> Result<bool, Error> {
        let answer = self
            .debouncer
            .backend()
            .finish_blocking(&self.key.full, self.token, finish);
        self.released = true;
        answer
    }

    /// Gives the lock up off the caller's path, as a drop does, but with
    /// the given finish (the expansion's cooldown after success).
    pub(crate) fn finish_detached(mut self, finish: Finish) {
        self.released = true;
        let key = std::mem::take(&mut self.key.full);
        self.debouncer
            .backend()
            .finish_detached(key, self.token, self.mode, finish);
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if !self.released {
            let key = std::mem::take(&mut self.key.full);
            self.debouncer
                .backend()
                .finish_detached(key, self.token, self.mode, Finish::Release);
        }
    }
}
