//! The handle users configure: which backend, which key prefix, which timeouts.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::backend::{self, Acquire, Ask, Backend, Mode};
pub(crate) use crate::key::LockKey;
use crate::lease::Renewal;
use crate::token::Token;
use crate::{Busy, Error, LockGuard};

const DEFAULT_PREFIX: &str = "debounce:";
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_secs(1);
/// The largest result stored for `replay` unless configured: 1 MiB.
pub(crate) const DEFAULT_MAX_STORED: usize = 1 << 20;

/// A lock service: a Redis server or the in-process backend, with a key
/// prefix and timeouts.
///
/// Cloning is cheap (one reference count) and every clone shares the same
/// connections, so keep one per process and hand it out, or
/// [`install`](crate::install) it as the default of `#[debounce]`.
///
/// A Redis `Debouncer` owns its connection: one thread, started on first
/// use, runs one multiplexed connection (and a few more for callers that
/// [`wait`](LockRequest::wait)). Async callers on any tokio runtime, or on
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
            DEFAULT_MAX_STORED,
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

    fn new(prefix: Box<str>, backend: Backend, max_stored: usize) -> Self {
        Debouncer {
            inner: Arc::new(Inner {
                prefix,
                backend,
                max_stored,
            }),
        }
    }

    /// The largest result stored for `replay`, in bytes (see
    /// [`Builder::max_stored_result`]).
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
    /// `main`, a job's last step). [`LockGuard::release`] is done when it
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

    /// Renders `<prefix>{<key>}` in one allocation; see [`LockKey`].
    pub(crate) fn key(&self, key: fmt::Arguments<'_>) -> Result<LockKey, Error> {
        LockKey::render(self.prefix(), key)
    }

    /// [`key`](Self::key) of a key that is a string already.
    pub(crate) fn key_str(&self, key: &str) -> LockKey {
        LockKey::from_str(self.prefix(), key)
    }

    /// Takes `key` under `policy`, waiting if it says so. `mode` tells
    /// how the caller waits (see [`Mode`]).
    pub(crate) async fn acquire(
        &self,
        key: LockKey,
        policy: &Policy,
        mode: Mode,
    ) -> Result<Granted, Busy> {
        let (mut ask, mut waiting) = policy.start(&key, self.backend())?;
        loop {
            // Only a waiter needs the mark (one more trip to the state).
            let mark = if policy.wait.is_some() {
                self.backend().mark()
            } else {
                0
            };
            let asked = waiting.ask(ask);
            let answer = self.backend().acquire(&key.full, asked).await;
            let timeout = match waiting.step(&key, answer) {
                Step::Taken(fence) => {
                    return Ok(self.granted(key, asked, fence, policy, &waiting, mode));
                }
                Step::Done(done) => return done,
                Step::Wait(timeout) => timeout,
                Step::Again(error) => {
                    // While any of the wait is left: a stall that ends
                    // inside it does not end it (a try may then run past
                    // the deadline by up to one response timeout).
                    if waiting.left().is_zero() {
                        return Err(Busy::unavailable(key.logical().into(), error));
                    }
                    ask.token = Token::random();
                    continue;
                }
            };
            if let Err(error) = self.backend().wait(&key.full, mark, timeout, mode).await {
                return Err(Busy::unavailable(key.logical().into(), error));
            }
        }
    }

    /// The blocking form of [`acquire`](Self::acquire).
    pub(crate) fn acquire_blocking(&self, key: LockKey, policy: &Policy) -> Result<Granted, Busy> {
        crate::blocking::block_on(self.acquire(key, policy, Mode::Blocking))
    }

    fn granted(
        &self,
        key: LockKey,
        ask: Ask,
        fence: Option<u64>,
        policy: &Policy,
        waiting: &Waiting,
        mode: Mode,
    ) -> Granted {
        let taken_at = waiting.last_ask();
        let valid_until = taken_at + Duration::from_millis(ask.ttl_ms);
        let mut guard = LockGuard::new(self.clone(), key, ask.token, fence, valid_until);
        if policy.renew {
            let watchdog = Renewal {
                debouncer: self.clone(),
                lease: guard.lease().clone(),
                token: ask.token,
                ttl_ms: ask.ttl_ms,
                stop_at: policy.max_hold.map(|max_hold| taken_at + max_hold),
            }
            .start(mode);
            guard.watch(watchdog);
        }
        Granted::Lock(guard)
    }
}

/// What a lock request asks for beyond the lease (the attribute's policy
/// arguments).
#[derive(Debug, Clone, Default)]
pub(crate) struct Policy {
    pub(crate) ttl: Duration,
    pub(crate) wait: Option<Duration>,
    pub(crate) renew: bool,
    pub(crate) max_hold: Option<Duration>,
    pub(crate) fence: bool,
    pub(crate) replay: bool,
}

impl Policy {
    /// The first request, or the configuration error that stops it.
    fn start(&self, key: &LockKey, backend: &Backend) -> Result<(Ask, Waiting), Busy> {
        self.check(backend)
            .map(|ask| (ask, Waiting::new(self.wait)))
            .map_err(|error| Busy::unavailable(key.logical().into(), error))
    }

    fn check(&self, backend: &Backend) -> Result<Ask, Error> {
        let ttl_ms = backend::lease_ms(self.ttl)?;
        if let Some(wait) = self.wait {
            backend::millis(wait, "the wait")?;
        }
        if let Some(max_hold) = self.max_hold {
            if !self.renew {
                return Err(Error::config(
                    "max_hold needs renew: without renewal the lease ends at ttl",
                ));
            }
            if max_hold < self.ttl {
                return Err(Error::config("max_hold must be at least the ttl"));
            }
        }
        let token = match backend {
            Backend::Redis(_) => Token::random(),
            Backend::Memory(_) => Token::local(),
        };
        Ok(Ask {
            token,
            ttl_ms,
            fence: self.fence,
            replay: self.replay,
            wait_ms: 0,
        })
    }
}

/// What an acquire gave.
#[derive(Debug)]
pub(crate) enum Granted {
    Lock(LockGuard),
    /// A stored result (`replay`), and the key it answers.
    Stored(Vec<u8>, String),
}

/// What to do after one acquire's answer.
enum Step {
    Taken(Option<u64>),
    Done(Result<Granted, Busy>),
    Wait(Duration),
    /// The acquire timed out inside the wait: ask again at once, with a
    /// fresh token (the timed-out one's undo may still be on its way),
    /// while the wait has time left.
    Again(Error),
}

/// The first re-check of a waiter that got no wake-up; doubled up to
/// [`MAX_BACKOFF`], with jitter.
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// A caller's wait for a held key: until when, and how long to sleep
/// between two asks when no wake-up comes.
#[derive(Debug)]
struct Waiting {
    /// How long to wait in all, until the first ask sets `deadline`.
    wait: Option<Duration>,
    deadline: Option<Instant>,
    backoff: Duration,
    /// When the last acquire was sent: a lease taken by it started no
    /// earlier.
    last_ask: Option<Instant>,
}

impl Waiting {
    /// No clock read here: the first [`ask`](Self::ask) reads it once.
    fn new(wait: Option<Duration>) -> Self {
        Waiting {
            wait,
            deadline: None,
            backoff: FIRST_BACKOFF,
            last_ask: None,
        }
    }

    /// When the last acquire was sent.
    fn last_ask(&self) -> Instant {
        self.last_ask.unwrap_or_else(Instant::now)
    }

    /// The next acquire: it tells how long this caller still waits.
    fn ask(&mut self, ask: Ask) -> Ask {
        let now = Instant::now();
        self.last_ask = Some(now);
        if self.deadline.is_none() {
            self.deadline = self.wait.map(|wait| now + wait);
        }
        let wait_ms = self.deadline.map_or(0, |deadline| {
            let left = deadline.saturating_duration_since(now).as_millis();
            u64::try_from(left).unwrap_or(u64::MAX).max(1)
        });
        Ask { wait_ms, ..ask }
    }

    /// How long the wait has left (nothing without one).
    fn left(&self) -> Duration {
        self.deadline.map_or(Duration::ZERO, |deadline| {
            deadline.saturating_duration_since(Instant::now())
        })
    }

    fn step(&mut self, key: &LockKey, answer: Result<Acquire, Error>) -> Step {
        let (retry_after, cooling) = match answer {
            Ok(Acquire::Taken { fence }) => return Step::Taken(fence),
            Ok(Acquire::Stored(stored)) => {
                return Step::Done(Ok(Granted::Stored(stored, key.logical().into())));
            }
            Ok(Acquire::Held {
                retry_after,
                cooling,
            }) => (retry_after, cooling),
            // A stall (a freeze of Redis, a slow network) shorter than the
            // wait does not end it.
            Err(error @ Error::Timeout { .. })
                if self
                    .deadline
                    .is_some_and(|deadline| deadline > Instant::now()) =>
            {
                return Step::Again(error);
            }
            Err(error) => return Step::Done(Err(Busy::unavailable(key.logical().into(), error))),
        };
        let now = Instant::now();
        match self.deadline {
            Some(deadline) if deadline > now => {
                // Woken by a release, or else by this back-off: never later
                // than the holder's lease or our deadline.
                let mut sleep = self.backoff.mul_f64(jitter());
                self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
                if let Some(retry_after) = retry_after {
                    sleep = sleep.min(retry_after + Duration::from_millis(1));
                }
                Step::Wait(sleep.min(deadline - now))
            }
            _ => Step::Done(Err(Busy::held(key.logical().into(), retry_after, cooling))),
        }
    }
}

/// A factor in [0.5, 1): waiters that missed the same wake-up spread out.
fn jitter() -> f64 {
    #[allow(clippy::cast_precision_loss, reason = "53 random bits")]
    let unit = (crate::token::next_u64() >> 11) as f64 / (1_u64 << 53) as f64;
    0.5 + unit / 2.0
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
            Granted::Stored(stored, key) => {
                crate::replay::decode(crate::__private::unframe(&stored, None).0)
                    .map(Acquired::Replayed)
                    .map_err(|error| Busy::unavailable(key, error))
            }
        }
    }
}

/// Settings for a [`Debouncer`]; start from [`Debouncer::builder`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `open` or `memory` is called"]
pub struct Builder {
    prefix: String,
    connect_timeout: Duration,
    response_timeout: Duration,
    max_stored: usize,
    /// Certificates for `rediss://` beyond the public roots.
    #[cfg(feature = "tls")]
    tls: crate::backend::redis::Tls,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            prefix: DEFAULT_PREFIX.into(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            response_timeout: DEFAULT_RESPONSE_TIMEOUT,
            max_stored: DEFAULT_MAX_STORED,
            #[cfg(feature = "tls")]
            tls: crate::backend::redis::Tls::default(),
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

    /// How long to wait for a connection to Redis (default 1 s; more than
    /// zero, at most 100 years, or [`open`](Self::open) fails).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long to wait for Redis to answer one request (default 1 s; more
    /// than zero, at most 100 years, or [`open`](Self::open) fails). An
    /// acquire that times out is reported to its caller (a [`Busy`] whose
    /// error is [`Error::Timeout`]) and undone, not sent again; inside a
    /// `wait` it is asked again, with a fresh token, until the wait ends.
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// The largest result stored for `replay` (default 1 MiB): the
    /// serialised value, or a handler's response with its status and
    /// headers. A larger one is returned to its caller but not stored (a
    /// warning is logged), so the next duplicate runs the body again: a
    /// client cannot fill Redis through one key.
    ///
    /// ```
    /// let debouncer = redis_debounce::Debouncer::builder()
    ///     .max_stored_result(64 * 1024)
    ///     .memory()?;
    /// assert_eq!(debouncer.max_stored_result(), 64 * 1024);
    /// # Ok::<(), redis_debounce::Error>(())
    /// ```
    pub fn max_stored_result(mut self, bytes: usize) -> Self {
        self.max_stored = bytes;
        self
    }

    /// Trusts the certificate authority `ca_pem` (PEM) for `rediss://`
    /// instead of the public roots: a server whose certificate it did not
    /// sign is refused.
    ///
    /// ```
    /// # let ca_pem = Vec::new();
    /// let builder = redis_debounce::Debouncer::builder().tls_ca(ca_pem);
    /// # let _ = builder;
    /// ```
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub fn tls_ca(mut self, ca_pem: impl Into<Vec<u8>>) -> Self {
        self.tls.ca = Some(ca_pem.into().into());
        self
    }

    /// Presents this client certificate and key (PEM) to a `rediss://`
    /// server that asks for one (mutual TLS, `tls-auth-clients yes`). The
    /// key never shows in `Debug`.
    ///
    /// ```
    /// # let (cert_pem, key_pem) = (Vec::new(), Vec::new());
    /// let builder = redis_debounce::Debouncer::builder().tls_client_identity(cert_pem, key_pem);
    /// # let _ = builder;
    /// ```
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub fn tls_client_identity(
        mut self,
        cert_pem: impl Into<Vec<u8>>,
        key_pem: impl Into<Vec<u8>>,
    ) -> Self {
        self.tls.identity = Some((cert_pem.into().into(), key_pem.into().into()));
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
    /// braces, or a timeout of zero or over 100 years.
    pub fn open(self, url: &str) -> Result<Debouncer, Error> {
        let prefix = self.checked_prefix()?;
        // Longer than zero, and at most 100 years (a deadline a lease and
        // both timeouts past now is still a time the clock can hold).
        backend::millis(self.connect_timeout, "the connect timeout")?;
        backend::millis(self.response_timeout, "the response timeout")?;
        let redis = backend::redis::RedisBackend::open(
            url,
            self.connect_timeout,
            self.response_timeout,
            #[cfg(feature = "tls")]
            &self.tls,
        )?;
        Ok(Debouncer::new(
            prefix,
            Backend::Redis(redis),
            self.max_stored,
        ))
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
            self.max_stored,
        ))
    }
}

#[cfg(test)]
mod tests {
    /// Waiters that missed one wake-up sleep between half and all of
    /// their back-off, spread over the whole range.
    #[test]
    fn jitter_spreads_over_half_to_all_of_the_backoff() {
        let samples: Vec<f64> = (0..10_000).map(|_| super::jitter()).collect();
        assert!(
            samples.iter().all(|j| (0.5..1.0).contains(j)),
            "{:?}",
            samples.iter().find(|j| !(0.5..1.0).contains(*j))
        );
        assert!(samples.iter().any(|j| *j < 0.55), "the low end");
        assert!(samples.iter().any(|j| *j > 0.95), "the high end");
    }
}
