//! The handle users configure and share: [`Debouncer`], one backend behind
//! an `Arc`, with its key prefix. How one is made is in `builder.rs`, how it
//! takes a lock in `acquire.rs` and `request.rs`.

use std::fmt;
use std::sync::Arc;

use crate::Error;
use crate::backend::Backend;
use crate::key::LockKey;
use crate::observe::Observer;

/// A lock service: a Redis server or the in-process backend, with a key
/// prefix and timeouts.
///
/// Cloning is cheap (one reference count) and every clone shares the same
/// connections, so keep one per process and hand it out, or
/// [`install`](crate::install) it as the default of `#[debounce]`.
///
/// A Redis `Debouncer` owns its connection: one thread, started on first
/// use, runs one multiplexed connection (and a few more for callers that
/// [`wait`](crate::LockRequest::wait)). Async callers on any tokio runtime, or on
/// several (actix-web runs one per worker), and blocking callers share it,
/// and every request goes out in the order it was made. It reconnects by
/// itself after Redis restarts, sending again what the old connection
/// lost; the thread ends once the `Debouncer` and its guards are dropped
/// and their releases are answered.
///
/// The Redis key of a logical key `k` is `<prefix>{k}`: the braces are a
/// Redis Cluster hash tag, so every key that belongs to `k` lands in one
/// hash slot.
///
/// ```
/// use std::time::Duration;
/// use redis_debounce::Debouncer;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), redis_debounce::Busy> {
/// let debouncer = Debouncer::memory();
/// let guard = debouncer.try_lock("import:42", Duration::from_secs(60)).await?;
/// assert!(debouncer.try_lock("import:42", Duration::from_secs(60)).await.is_err());
/// assert!(guard.release().await.unwrap(), "the lock was still ours");
/// assert!(debouncer.try_lock("import:42", Duration::from_secs(60)).await.is_ok());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Debouncer {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    prefix: Box<str>,
    backend: Backend,
    /// The largest result stored for `replay`, in bytes.
    max_stored: usize,
    /// Counters and trace settings, shared with the backend.
    observer: Arc<Observer>,
}

impl fmt::Debug for Debouncer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Debouncer")
            .field("prefix", &self.inner.prefix)
            .field("backend", &self.inner.backend)
            .finish()
    }
}

impl AsRef<Debouncer> for Debouncer {
    fn as_ref(&self) -> &Debouncer {
        self
    }
}

impl Debouncer {
    pub(crate) fn new(
        prefix: Box<str>,
        backend: Backend,
        max_stored: usize,
        observer: Arc<Observer>,
    ) -> Self {
        Debouncer {
            inner: Arc::new(Inner {
                prefix,
                backend,
                max_stored,
                observer,
            }),
        }
    }

    pub(crate) fn observer(&self) -> &Observer {
        &self.inner.observer
    }

    /// The largest result stored for `replay`, in bytes (see
    /// [`Builder::max_stored_result`](crate::Builder::max_stored_result)).
    #[must_use]
    pub fn max_stored_result(&self) -> usize {
        self.inner.max_stored
    }

    /// The prefix put before every key in Redis.
    #[must_use]
    pub fn prefix(&self) -> &str {
        &self.inner.prefix
    }

    pub(crate) fn backend(&self) -> &Backend {
        &self.inner.backend
    }

    /// Waits until every lock this `Debouncer` gave up so far, from any
    /// thread or runtime, is free in Redis.
    ///
    /// A debounced call does not wait for its release: it is handed to the
    /// `Debouncer`'s connection as the body returns, and Redis runs it
    /// before any later request of the same `Debouncer`. The connection
    /// sends it even if the caller's runtime shuts down or the `Debouncer`
    /// is dropped, and again after a reconnect; only the end of the process
    /// can stop it. A process that exits right after a call may exit
    /// before the release has left it, and the key then stays taken until
    /// its lease runs out: await `flush` before such an exit (the end of
    /// `main`, a job's last step). [`LockGuard::release`](crate::LockGuard::release) is done when it
    /// returns.
    ///
    /// # Errors
    ///
    /// The backend's [`Error`], or the error of a release that could not
    /// be made since the last flush (its lease then runs out by itself).
    ///
    /// ```
    /// use std::time::Duration;
    /// use redis_debounce::Debouncer;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), redis_debounce::Error> {
    /// let debouncer = Debouncer::memory();
    /// drop(debouncer.try_lock("nightly-export", Duration::from_secs(300)).await);
    /// debouncer.flush().await?; // the lock is free before the process exits
    /// # Ok(()) }
    /// ```
    pub async fn flush(&self) -> Result<(), Error> {
        self.backend().flush().await
    }

    /// The blocking form of [`flush`](Self::flush).
    ///
    /// # Errors
    ///
    /// As [`flush`](Self::flush).
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let debouncer = redis_debounce::Debouncer::memory();
    /// drop(debouncer.try_lock_blocking("nightly-export", Duration::from_secs(300)));
    /// debouncer.flush_blocking()?;
    /// # Ok::<(), redis_debounce::Error>(())
    /// ```
    pub fn flush_blocking(&self) -> Result<(), Error> {
        crate::blocking::block_on(self.flush())
    }

    /// Renders `<prefix>{<key>}` in one allocation; see [`LockKey`].
    pub(crate) fn key(&self, key: fmt::Arguments<'_>) -> Result<LockKey, Error> {
        LockKey::render(self.prefix(), key)
    }

    /// [`key`](Self::key) of a key that is a string already.
    pub(crate) fn key_str(&self, key: &str) -> LockKey {
        LockKey::from_str(self.prefix(), key)
    }
}

impl Debouncer {
    /// The counters of every call made through this `Debouncer` (and its
    /// clones) so far. See [`Stats`](crate::Stats); with the `metrics` feature the same
    /// figures also go to the installed `metrics` recorder.
    #[must_use]
    pub fn stats(&self) -> crate::Stats {
        self.observer().stats()
    }
}

// Every feature keeps a `Debouncer` shareable and unwind-safe: users
// `catch_unwind` around debounced calls and hold one in statics.
const _: () = {
    const fn shareable<T: Send + Sync + std::panic::UnwindSafe + std::panic::RefUnwindSafe>() {}
    shareable::<Debouncer>();
};
