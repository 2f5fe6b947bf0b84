//! The handle users configure: which backend, which key prefix, which timeouts.

use std::fmt::{self, Write as _};
use std::sync::Arc;
use std::time::Duration;

use crate::backend::{self, Acquire, Backend, Mode};
use crate::token::Token;
use crate::{Busy, Error, LockGuard};

const DEFAULT_PREFIX: &str = "debounce:";
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_secs(1);

/// A lock service: a Redis server or the in-process backend, with a key
/// prefix and timeouts.
///
/// Cloning is cheap (one reference count) and every clone shares the same
/// connections, so keep one per process and hand it out, or
/// [`install`](crate::install) it as the default of `#[debounce]`.
///
/// Async callers share one multiplexed connection per tokio runtime; sync
/// callers use a small pool of blocking connections. Both reconnect by
/// themselves after Redis restarts.
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
    /// A `Debouncer` for the Redis server at `url` (`redis://`, `rediss://`
    /// with the `tls` feature, or `redis+unix://`), with the default prefix
    /// and timeouts.
    ///
    /// No I/O happens here: the connection opens on first use and reopens by
    /// itself after Redis restarts. The same handle serves async and blocking
    /// callers.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when the URL is not a Redis URL.
    ///
    /// ```
    /// let debouncer = redis_debounce::Debouncer::open("redis://127.0.0.1:6379/0")?;
    /// assert_eq!(debouncer.prefix(), "debounce:");
    /// # Ok::<(), redis_debounce::Error>(())
    /// ```
    pub fn open(url: &str) -> Result<Self, Error> {
        Self::builder().open(url)
    }

    /// An in-process `Debouncer` with the same semantics as Redis (leases
    /// expire, only the owner releases), for the quick start and for tests.
    /// Locks are shared by the clones of this handle only.
    ///
    /// ```
    /// let debouncer = redis_debounce::Debouncer::memory();
    /// # let _ = debouncer;
    /// ```
    #[must_use]
    pub fn memory() -> Self {
        Self::new(
            DEFAULT_PREFIX.into(),
            Backend::Memory(backend::memory::MemoryBackend::default()),
        )
    }

    /// Settings beyond the defaults: key prefix and timeouts.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let debouncer = redis_debounce::Debouncer::builder()
    ///     .prefix("shop:lock:")
    ///     .response_timeout(Duration::from_millis(250))
    ///     .open("redis://127.0.0.1/")?;
    /// assert_eq!(debouncer.prefix(), "shop:lock:");
    /// # Ok::<(), redis_debounce::Error>(())
    /// ```
    pub fn builder() -> Builder {
        Builder::default()
    }

    fn new(prefix: Box<str>, backend: Backend) -> Self {
        Debouncer {
            inner: Arc::new(Inner { prefix, backend }),
        }
    }

    /// The prefix put before every key in Redis.
    #[must_use]
    pub fn prefix(&self) -> &str {
        &self.inner.prefix
    }

    pub(crate) fn backend(&self) -> &Backend {
        &self.inner.backend
    }

    /// Takes `key` for `ttl` unless another caller holds it.
    ///
    /// The lock is released when the returned guard is dropped, or by
    /// [`LockGuard::release`], which tells whether it was still ours.
    ///
    /// # Errors
    ///
    /// A [`Busy`] that says whether another caller holds the key or the
    /// backend failed (also for a zero `ttl`).
    pub async fn try_lock(&self, key: &str, ttl: Duration) -> Result<LockGuard, Busy> {
        let key = self
            .key(format_args!("{key}"))
            .map_err(|e| Busy::unavailable(key.into(), e))?;
        self.lock(key, backend::lease_ms(ttl)).await
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
        let key = self
            .key(format_args!("{key}"))
            .map_err(|e| Busy::unavailable(key.into(), e))?;
        self.lock_blocking(key, backend::lease_ms(ttl))
    }

    /// Renders `<prefix>{<key>}` in one allocation.
    pub(crate) fn key(&self, key: fmt::Arguments<'_>) -> Result<LockKey, Error> {
        let prefix = self.prefix();
        let mut full = String::with_capacity(prefix.len() + 48);
        full.push_str(prefix);
        full.push('{');
        let start = full.len();
        full.write_fmt(key).map_err(|_| {
            Error::config("a key placeholder's Display implementation returned an error")
        })?;
        let end = full.len();
        full.push('}');
        Ok(LockKey { full, start, end })
    }

    pub(crate) async fn lock(
        &self,
        key: LockKey,
        ttl_ms: Result<u64, Error>,
    ) -> Result<LockGuard, Busy> {
        let token = Token::random();
        let answer = match ttl_ms {
            Ok(ttl_ms) => self.backend().acquire(&key.full, token, ttl_ms).await,
            Err(e) => Err(e),
        };
        self.answer(key, token, answer, Mode::Async)
    }

    pub(crate) fn lock_blocking(
        &self,
        key: LockKey,
        ttl_ms: Result<u64, Error>,
    ) -> Result<LockGuard, Busy> {
        let token = Token::random();
        let answer =
            ttl_ms.and_then(|ttl_ms| self.backend().acquire_blocking(&key.full, token, ttl_ms));
        self.answer(key, token, answer, Mode::Blocking)
    }

    fn answer(
        &self,
        key: LockKey,
        token: Token,
        answer: Result<Acquire, Error>,
        mode: Mode,
    ) -> Result<LockGuard, Busy> {
        match answer {
            Ok(Acquire::Taken) => Ok(LockGuard::new(self.clone(), key, token, mode)),
            Ok(Acquire::Held {
                retry_after,
                cooling,
            }) => Err(Busy::held(key.logical().into(), retry_after, cooling)),
            Err(error) => Err(Busy::unavailable(key.logical().into(), error)),
        }
    }
}

/// A rendered key: the full Redis key and where the logical key sits in it.
#[derive(Debug)]
pub(crate) struct LockKey {
    pub(crate) full: String,
    start: usize,
    end: usize,
}

impl LockKey {
    pub(crate) fn logical(&self) -> &str {
        &self.full[self.start..self.end]
    }
}

/// Settings for a [`Debouncer`]; start from [`Debouncer::builder`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `open` or `memory` is called"]
pub struct Builder {
    prefix: String,
    connect_timeout: Duration,
    response_timeout: Duration,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            prefix: DEFAULT_PREFIX.into(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            response_timeout: DEFAULT_RESPONSE_TIMEOUT,
        }
    }
}

impl Builder {
    /// The prefix put before every key (default `debounce:`). It may not
    /// contain `{` or `}`, which would move the Redis Cluster hash tag.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long to wait for a connection to Redis (default 1 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long to wait for Redis to answer one request (default 1 s).
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }

    fn checked_prefix(&self) -> Result<Box<str>, Error> {
        if self.prefix.contains(['{', '}']) {
            return Err(Error::config(format!(
                "the key prefix `{}` may not contain `{{` or `}}`",
                self.prefix
            )));
        }
        Ok(self.prefix.as_str().into())
    }

    /// A `Debouncer` for the Redis server at `url`; see [`Debouncer::open`].
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for a URL that is not a Redis URL, a prefix with
    /// braces, or a zero timeout.
    pub fn open(self, url: &str) -> Result<Debouncer, Error> {
        let prefix = self.checked_prefix()?;
        if self.connect_timeout.is_zero() || self.response_timeout.is_zero() {
            return Err(Error::config("timeouts must be longer than zero"));
        }
        let redis =
            backend::redis::RedisBackend::open(url, self.connect_timeout, self.response_timeout)?;
        Ok(Debouncer::new(prefix, Backend::Redis(redis)))
    }

    /// An in-process `Debouncer`; see [`Debouncer::memory`].
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for a prefix with braces.
    pub fn memory(self) -> Result<Debouncer, Error> {
        let prefix = self.checked_prefix()?;
        Ok(Debouncer::new(
            prefix,
            Backend::Memory(backend::memory::MemoryBackend::default()),
        ))
    }
}
