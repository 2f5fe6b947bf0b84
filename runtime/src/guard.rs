//! A held lock, released when dropped.

use std::fmt;
use std::num::NonZeroU64;
use std::sync::OnceLock;
use std::time::Duration;

use tokio::time::Instant;

use crate::backend::{Finish, millis};
use crate::key::LockKey;
use crate::lease::Lease;
use crate::renew::Watchdog;
use crate::token::Token;
use crate::{Debouncer, Error};

/// A lock held by this caller; dropping it releases the lock.
///
/// The release on drop never blocks, and is not waited for: it is handed
/// to the `Debouncer`'s connection, which sends it before any later
/// request of the same `Debouncer` (from any thread or runtime), even if
/// the runtime shuts down or the connection has to be made again
/// ([`Debouncer::flush`] waits until it has run). It only ever deletes
/// this holder's own lock, so a guard whose lease ran out cannot free the
/// next holder's. [`release`](Self::release) waits, and tells
/// whether the lock was still ours.
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
    /// (Fencing tokens start at 1.)
    fence: Option<NonZeroU64>,
    /// When the lease runs out by our clock, measured from before the
    /// acquire that took it.
    valid_until: Instant,
    /// Made when first asked for (a call that never asks allocates
    /// nothing for it), or at once with `renew`, whose watchdog shares it.
    lease: OnceLock<Lease>,
    /// Renews the lease while the guard lives (`renew`).
    /// Boxed: only `renew` has one (and spawns a task for it), and a
    /// smaller guard moves cheaper on every call.
    watchdog: Option<Box<Watchdog>>,
    released: bool,
    /// The call's site (metric labels) and span, and when the lock was
    /// granted (its hold time).
    site: &'static crate::observe::Site,
    /// Boxed, and only when enabled: a guard moves on every call, and a
    /// span is five words.
    span: Option<Box<tracing::Span>>,
    granted: Instant,
}

impl fmt::Debug for LockGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockGuard")
            .field("key", &self.key.full)
            .field("token", &self.token)
            .field("renewed", &self.watchdog.is_some())
            .finish_non_exhaustive()
    }
}

impl LockGuard {
    pub(crate) fn new(
        debouncer: Debouncer,
        key: LockKey,
        token: Token,
        fence: Option<u64>,
        valid_until: Instant,
    ) -> Self {
        LockGuard {
            debouncer,
            key,
            token,
            fence: fence.and_then(NonZeroU64::new),
            valid_until,
            lease: OnceLock::new(),
            watchdog: None,
            released: false,
            site: &crate::observe::PROGRAMMATIC,
            span: None,
            granted: valid_until,
        }
    }

    /// When the lock was asked for (its hold time starts).
    pub(crate) fn granted_at(&mut self, at: Instant) {
        self.granted = at;
    }

    /// The call's fn name and span.
    pub(crate) fn observed(&mut self, site: &'static crate::observe::Site, span: tracing::Span) {
        self.site = site;
        self.span = (!span.is_disabled()).then(|| Box::new(span));
    }

    /// The call's span: the body runs in it.
    pub(crate) fn span(&self) -> &tracing::Span {
        static NONE: tracing::Span = tracing::Span::none();
        self.span.as_deref().unwrap_or(&NONE)
    }

    /// Renews the lease while the guard lives (`renew`).
    pub(crate) fn watch(&mut self, watchdog: Option<Watchdog>) {
        self.watchdog = watchdog.map(Box::new);
    }

    /// The `Debouncer` this lock belongs to.
    pub(crate) fn debouncer(&self) -> &Debouncer {
        &self.debouncer
    }

    /// The key, without the Redis prefix.
    #[must_use]
    pub fn key(&self) -> &str {
        self.key.logical()
    }

    /// The lock's [`Lease`]: its fencing token and whether it is still ours.
    #[must_use]
    pub fn lease(&self) -> &Lease {
        self.lease.get_or_init(|| {
            Lease::new(
                self.key.clone(),
                self.fence.map(NonZeroU64::get),
                self.valid_until,
            )
        })
    }

    /// Releases the lock and waits for the answer (cancelling the wait still
    /// releases, in the background): `true` when it was still ours and is
    /// now free, `false` when the lease had run out (the key may belong to
    /// someone else now, and was left alone). When its first try fails
    /// (the connection broke, stalled or was refused) the error comes back
    /// at once, and the release is still sent again on the next connection
    /// while its lease runs.
    ///
    /// # Errors
    ///
    /// The backend's [`Error`]; the release is still sent again while the lease
    /// runs, and the lease expires by itself at the latest.
    pub async fn release(self) -> Result<bool, Error> {
        self.finish(Finish::RELEASE).await
    }

    /// The blocking form of [`release`](Self::release).
    ///
    /// # Errors
    ///
    /// The backend's [`Error`]; the lease then expires by itself.
    pub fn release_blocking(self) -> Result<bool, Error> {
        self.finish_blocking(Finish::RELEASE)
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
        let cooldown_ms = Some(millis(window, "the cooldown")?);
        self.finish(Finish {
            cooldown_ms,
            store: None,
        })
        .await
    }

    /// The blocking form of [`cool_down`](Self::cool_down).
    ///
    /// # Errors
    ///
    /// As [`cool_down`](Self::cool_down).
    pub fn cool_down_blocking(self, window: Duration) -> Result<bool, Error> {
        let cooldown_ms = Some(millis(window, "the cooldown")?);
        self.finish_blocking(Finish {
            cooldown_ms,
            store: None,
        })
    }

    /// Stores `value` for `window` as the answer to later calls on this
    /// key (`replay`), then releases the lock, in one atomic step: a caller
    /// either finds the key held or finds the result, never neither.
    /// [`LockRequest::acquire_or_replay`](crate::LockRequest::acquire_or_replay)
    /// reads it back. `true` when the lock was still ours; `false` when the
    /// lease had run out, and nothing was stored.
    ///
    /// # Errors
    ///
    /// The backend's [`Error`], [`Error::Replay`] when `value` cannot be
    /// serialised, or [`Error::Config`] for a zero window.
    ///
    /// ```
    /// use std::time::Duration;
    /// use redis_debounce::{Acquired, Debouncer};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let debouncer = Debouncer::memory();
    /// let request = || debouncer.lock("charge:9", Duration::from_secs(10)).acquire_or_replay::<String>();
    /// let Acquired::Locked(guard) = request().await.unwrap() else { unreachable!() };
    /// guard.complete(&"receipt 1".to_string(), Duration::from_secs(60)).await.unwrap();
    /// let Acquired::Replayed(receipt) = request().await.unwrap() else { unreachable!() };
    /// assert_eq!(receipt, "receipt 1");
    /// # }
    /// ```
    #[cfg(feature = "serde")]
    #[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
    pub async fn complete<T: serde::Serialize + ?Sized>(
        self,
        value: &T,
        window: Duration,
    ) -> Result<bool, Error> {
        let finish = Self::completion(value, window)?;
        self.finish(finish).await
    }

    /// The blocking form of [`complete`](Self::complete).
    ///
    /// # Errors
    ///
    /// As [`complete`](Self::complete).
    #[cfg(feature = "serde")]
    #[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
    pub fn complete_blocking<T: serde::Serialize + ?Sized>(
        self,
        value: &T,
        window: Duration,
    ) -> Result<bool, Error> {
        let finish = Self::completion(value, window)?;
        self.finish_blocking(finish)
    }

    #[cfg(feature = "serde")]
    fn completion<T: serde::Serialize + ?Sized>(
        value: &T,
        window: Duration,
    ) -> Result<Finish, Error> {
        let window_ms = millis(window, "the replay window")?;
        Ok(Finish {
            cooldown_ms: None,
            store: Some((
                crate::stored::Payload::json(value)?.frame(None, "-"),
                window_ms,
            )),
        })
    }

    /// Stops renewal and marks the lease over, before the lock is given
    /// up; counts the hold, and a lease that ran out before it.
    fn end(&mut self) {
        self.watchdog = None;
        let now = Instant::now();
        let ran_out = now >= self.valid_until_tokio();
        // Renewal that found the lock gone counted it already.
        let counted = self.lease.get().is_some_and(|lease| !lease.mark_lost());
        let observer = self.debouncer.observer();
        observer.released(self.site, now.saturating_duration_since(self.granted));
        if ran_out && !counted {
            observer.lost(self.site);
            crate::observe::within(self.span(), || {
                tracing::warn!(
                    "redis-debounce: the body ran past its lease; another caller may have run alongside it (a longer ttl, or renew, would keep it)"
                );
            });
        }
    }

    fn valid_until_tokio(&self) -> Instant {
        self.lease
            .get()
            .map_or(self.valid_until, Lease::valid_until)
    }

    /// When the lease runs out by our clock: renewal moves it.
    fn valid_until(&self) -> std::time::Instant {
        self.valid_until_tokio().into_std()
    }

    async fn finish(mut self, finish: Finish) -> Result<bool, Error> {
        self.end();
        // Handed over before the first await: cancelling the wait for the
        // answer does not stop the release.
        self.released = true;
        let valid_until = self.valid_until();
        self.debouncer
            .backend()
            .finish(&self.key.full, self.token, finish, valid_until)
            .await
    }

    fn finish_blocking(self, finish: Finish) -> Result<bool, Error> {
        crate::blocking::block_on(self.finish(finish))
    }

    /// Gives the lock up with the given finish and waits for Redis's
    /// answer (the expansion's `confirm`).
    pub(crate) async fn finish_confirmed(self, finish: Finish) -> Result<bool, Error> {
        self.finish(finish).await
    }

    /// Releases and waits until Redis ran it, from blocking code; a
    /// failure is logged, not returned (the release stays queued).
    pub(crate) fn release_confirmed_blocking(self) {
        let debouncer = self.debouncer.clone();
        if let Err(error) = self.finish_blocking(Finish::RELEASE) {
            let error = debouncer.observer().error(&error);
            tracing::debug!(%error, "redis-debounce: the release was not confirmed");
        }
    }

    /// Gives the lock up off the caller's path, as a drop does, but with
    /// the given finish (the expansion's cooldown after success).
    pub(crate) fn finish_detached(mut self, finish: Finish) {
        self.give_up(finish);
    }

    /// Stops renewal and hands the finish over without waiting for it.
    fn give_up(&mut self, finish: Finish) {
        self.end();
        self.released = true;
        let valid_until = self.valid_until();
        self.debouncer
            .backend()
            .finish_detached(&self.key.full, self.token, finish, valid_until);
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if !self.released {
            self.give_up(Finish::RELEASE);
        }
    }
}
