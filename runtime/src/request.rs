//! The programmatic lock: [`Debouncer::try_lock`] and [`Debouncer::lock`],
//! a [`LockRequest`] with the attribute's policies as options, and what
//! [`LockRequest::acquire_or_replay`] gives.

use std::time::Duration;

use crate::acquire::{Granted, Policy};
use crate::backend::Mode;
use crate::key::LockKey;
use crate::{Busy, Debouncer, Error, LockGuard};

impl Debouncer {
    /// Takes `key` for `ttl` unless another caller holds it: the same as
    /// `self.lock(key, ttl).acquire()`.
    ///
    /// The lock is released when the returned guard is dropped, or by
    /// [`LockGuard::release`], which tells whether it was still ours.
    ///
    /// # Errors
    ///
    /// A [`Busy`] that says whether another caller holds the key or the
    /// backend failed (also for a zero `ttl`).
    pub async fn try_lock(&self, key: &str, ttl: Duration) -> Result<LockGuard, Busy> {
        self.lock(key, ttl).acquire().await
    }

    /// The blocking form of [`try_lock`](Self::try_lock), for code outside
    /// async contexts. It never blocks on a tokio runtime, so it does not
    /// panic inside one (it does block that thread while Redis answers).
    ///
    /// # Errors
    ///
    /// As [`try_lock`](Self::try_lock).
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let debouncer = redis_debounce::Debouncer::memory();
    /// let guard = debouncer.try_lock_blocking("nightly", Duration::from_secs(5)).unwrap();
    /// assert!(debouncer.try_lock_blocking("nightly", Duration::from_secs(5)).is_err());
    /// drop(guard);
    /// assert!(debouncer.try_lock_blocking("nightly", Duration::from_secs(5)).is_ok());
    /// ```
    pub fn try_lock_blocking(&self, key: &str, ttl: Duration) -> Result<LockGuard, Busy> {
        self.lock(key, ttl).acquire_blocking()
    }

    /// A lock request for `key` with a lease of `ttl`, with the policies of
    /// `#[debounce]` as options: [`wait`](LockRequest::wait),
    /// [`renew`](LockRequest::renew), [`fence`](LockRequest::fence) and
    /// [`acquire_or_replay`](LockRequest::acquire_or_replay).
    ///
    /// ```
    /// use std::time::Duration;
    /// use redis_debounce::Debouncer;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let debouncer = Debouncer::memory();
    /// let first = debouncer.try_lock("export", Duration::from_secs(30)).await.unwrap();
    /// let waiter = debouncer.lock("export", Duration::from_secs(30)).wait(Duration::from_secs(5));
    /// let (second, ()) = tokio::join!(waiter.acquire(), async move { drop(first) });
    /// assert!(second.is_ok(), "woken by the release");
    /// # }
    /// ```
    pub fn lock<'a>(&'a self, key: &'a str, ttl: Duration) -> LockRequest<'a> {
        LockRequest {
            debouncer: self,
            key,
            policy: Policy {
                ttl,
                ..Policy::default()
            },
        }
    }
}

/// A lock request: see [`Debouncer::lock`].
#[derive(Debug, Clone)]
#[must_use = "a lock request does nothing until `acquire` is called"]
pub struct LockRequest<'a> {
    debouncer: &'a Debouncer,
    key: &'a str,
    policy: Policy,
}

impl LockRequest<'_> {
    /// Waits up to `wait` for the holder to finish instead of giving up at
    /// once: the release wakes the waiter (a back-off covers a missed
    /// wake-up), and the caller never gets the lock without holding it.
    /// Dropping the future stops the wait.
    pub fn wait(mut self, wait: Duration) -> Self {
        self.policy.wait = Some(wait);
        self
    }

    /// Renews the lease every ttl/3 while the guard lives, with a
    /// compare-and-extend script that never extends a lock that is no
    /// longer ours; see [`Lease::is_lost`](crate::Lease::is_lost).
    pub fn renew(mut self) -> Self {
        self.policy.renew = true;
        self
    }

    /// With [`renew`](Self::renew): stops renewing after `max_hold` (at
    /// least the ttl), so a stuck holder cannot keep the key forever.
    pub fn max_hold(mut self, max_hold: Duration) -> Self {
        self.policy.max_hold = Some(max_hold);
        self
    }

    /// Hands out a fencing token with the lock: [`Lease::fence`](crate::Lease::fence).
    pub fn fence(mut self) -> Self {
        self.policy.fence = true;
        self
    }

    fn lock_key(&self) -> LockKey {
        self.debouncer.key_str(self.key)
    }

    /// Takes the lock.
    ///
    /// # Errors
    ///
    /// A [`Busy`]: held by another caller (after the wait, if any), in a
    /// cooldown, or the backend failed (also for an invalid setting).
    pub async fn acquire(self) -> Result<LockGuard, Busy> {
        let key = self.lock_key();
        match self
            .debouncer
            .acquire(key, &self.policy, Mode::Async)
            .await?
        {
            Granted::Lock(guard) => Ok(guard),
            Granted::Stored(..) => unreachable_stored(self.key),
        }
    }

    /// The blocking form of [`acquire`](Self::acquire).
    ///
    /// # Errors
    ///
    /// As [`acquire`](Self::acquire).
    pub fn acquire_blocking(self) -> Result<LockGuard, Busy> {
        let key = self.lock_key();
        match self.debouncer.acquire_blocking(key, &self.policy)? {
            Granted::Lock(guard) => Ok(guard),
            Granted::Stored(..) => unreachable_stored(self.key),
        }
    }

    /// Takes the lock, or answers with the result a previous holder stored
    /// with [`LockGuard::complete`] (`replay`). With [`wait`](Self::wait), a
    /// caller that finds the key held waits and then gets the first call's
    /// result: many callers, one execution.
    ///
    /// # Errors
    ///
    /// As [`acquire`](Self::acquire), and [`Error::Replay`] (in the `Busy`)
    /// when the stored result is not a `T`.
    #[cfg(feature = "serde")]
    #[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
    pub async fn acquire_or_replay<T: serde::de::DeserializeOwned>(
        mut self,
    ) -> Result<Acquired<T>, Busy> {
        self.policy.replay = true;
        let key = self.lock_key();
        let granted = self
            .debouncer
            .acquire(key, &self.policy, Mode::Async)
            .await?;
        Acquired::from_granted(granted)
    }

    /// The blocking form of [`acquire_or_replay`](Self::acquire_or_replay).
    ///
    /// # Errors
    ///
    /// As [`acquire_or_replay`](Self::acquire_or_replay).
    #[cfg(feature = "serde")]
    #[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
    pub fn acquire_or_replay_blocking<T: serde::de::DeserializeOwned>(
        mut self,
    ) -> Result<Acquired<T>, Busy> {
        self.policy.replay = true;
        let key = self.lock_key();
        let granted = self.debouncer.acquire_blocking(key, &self.policy)?;
        Acquired::from_granted(granted)
    }
}

/// Without `replay` no stored result is asked for, so none comes back; if
/// a backend broke that promise, the call is turned away, not run.
fn unreachable_stored(key: &str) -> Result<LockGuard, Busy> {
    Err(Busy::unavailable(
        key.into(),
        Error::config("a stored result came back for a request without replay"),
    ))
}

/// What [`LockRequest::acquire_or_replay`] gives: the lock, or the stored
/// result of a call that already finished.
#[cfg(feature = "serde")]
#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
#[derive(Debug)]
#[non_exhaustive]
#[must_use = "dropping a `Locked` releases the lock at once"]
pub enum Acquired<T> {
    /// The lock is ours: run, then [`LockGuard::complete`].
    Locked(LockGuard),
    /// A previous call's stored result.
    Replayed(T),
}

#[cfg(feature = "serde")]
impl<T: serde::de::DeserializeOwned> Acquired<T> {
    fn from_granted(granted: Granted) -> Result<Self, Busy> {
        match granted {
            Granted::Lock(guard) => Ok(Acquired::Locked(guard)),
            // A result stored with a fingerprint reads as its payload.
            Granted::Stored(stored, key) => crate::stored::Record::read(&stored)
                .and_then(|stored| stored.json(None))
                .map(Acquired::Replayed)
                .map_err(|error| Busy::unavailable(key, error)),
        }
    }
}
