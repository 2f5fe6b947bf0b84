//! How a [`Debouncer`] is made: [`Debouncer::open`], [`Debouncer::memory`]
//! and the [`Builder`] for settings beyond the defaults.

use std::sync::Arc;
use std::time::Duration;

use crate::backend::redis::{Reach, RedisBackend};
use crate::backend::{self, Backend};
use crate::observe::Observer;
use crate::{Debouncer, Error};

mod urls;

const DEFAULT_PREFIX: &str = "debounce:";
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_secs(1);
/// The largest result stored for `replay` unless configured: 1 MiB.
pub(crate) const DEFAULT_MAX_STORED: usize = 1 << 20;
const DEFAULT_SPAN_LEVEL: tracing::Level = tracing::Level::DEBUG;

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
            Arc::new(Observer::new(false, DEFAULT_SPAN_LEVEL)),
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
}

/// Settings for a [`Debouncer`]; start from [`Debouncer::builder`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `open` or `memory` is called"]
pub struct Builder {
    prefix: String,
    connect_timeout: Duration,
    response_timeout: Duration,
    max_stored: usize,
    redact_keys: bool,
    span_level: tracing::Level,
    /// Certificates for `rediss://` beyond the public roots.
    #[cfg(feature = "tls")]
    tls: crate::backend::redis::Tls,
    /// Credentials for the sentinels (not the master's).
    #[cfg(feature = "sentinel")]
    sentinel_auth: Option<SentinelAuth>,
}

/// A username and password for the sentinels; `Debug` shows no password.
#[cfg(feature = "sentinel")]
#[derive(Clone)]
struct SentinelAuth(Option<String>, String);

#[cfg(feature = "sentinel")]
impl std::fmt::Debug for SentinelAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SentinelAuth")
            .field("username", &self.0)
            .finish_non_exhaustive()
    }
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            prefix: DEFAULT_PREFIX.into(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            response_timeout: DEFAULT_RESPONSE_TIMEOUT,
            max_stored: DEFAULT_MAX_STORED,
            redact_keys: false,
            span_level: DEFAULT_SPAN_LEVEL,
            #[cfg(feature = "tls")]
            tls: crate::backend::redis::Tls::default(),
            #[cfg(feature = "sentinel")]
            sentinel_auth: None,
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
    /// acquire that times out is reported to its caller (a [`Busy`](crate::Busy) whose
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

    /// Authenticates to the sentinels with this username (`None`: the
    /// default user) and password. The master's credentials are those of
    /// the sentinel URLs.
    #[cfg(feature = "sentinel")]
    #[cfg_attr(docsrs, doc(cfg(feature = "sentinel")))]
    pub fn sentinel_auth(mut self, username: Option<&str>, password: &str) -> Self {
        self.sentinel_auth = Some(SentinelAuth(username.map(Into::into), password.into()));
        self
    }

    /// Keeps keys out of spans and log events (they may carry user data: an
    /// email, an account number). A `#[debounce]` call then shows its key's
    /// template (`"checkout:{user.id}"`), which holds no argument's value;
    /// a programmatic one shows `<redacted>`. Off by default.
    ///
    /// ```
    /// let debouncer = redis_debounce::Debouncer::builder().redact_keys(true).memory()?;
    /// # Ok::<(), redis_debounce::Error>(())
    /// ```
    pub fn redact_keys(mut self, redact: bool) -> Self {
        self.redact_keys = redact;
        self
    }

    /// The level of the `debounce` span each call runs in (`DEBUG` by
    /// default, as tower-http's request spans): raise it to see every
    /// call under an `INFO` filter.
    ///
    /// ```
    /// let debouncer = redis_debounce::Debouncer::builder()
    ///     .span_level(tracing::Level::INFO)
    ///     .memory()?;
    /// # Ok::<(), redis_debounce::Error>(())
    /// ```
    pub fn span_level(mut self, level: tracing::Level) -> Self {
        self.span_level = level;
        self
    }

    fn observer(&self) -> Arc<Observer> {
        Arc::new(Observer::new(self.redact_keys, self.span_level))
    }

    fn reach(&self) -> Result<Reach, Error> {
        // Longer than zero, and at most 100 years (a deadline a lease and
        // both timeouts past now is still a time the clock can hold).
        backend::millis(self.connect_timeout, "the connect timeout")?;
        backend::millis(self.response_timeout, "the response timeout")?;
        Ok(Reach {
            connect_timeout: self.connect_timeout,
            response_timeout: self.response_timeout,
            #[cfg(feature = "tls")]
            tls: self.tls.clone(),
            observer: self.observer(),
        })
    }

    fn made(self, backend: Backend, reach: &Reach) -> Result<Debouncer, Error> {
        let prefix = self.checked_prefix()?;
        let observer = reach.observer.clone();
        Ok(Debouncer::new(prefix, backend, self.max_stored, observer))
    }

    /// Opens the URL in `REDIS_URL`, with the key prefix in
    /// `REDIS_DEBOUNCE_PREFIX` when that is set (else this builder's): the
    /// variables the `redis-debounce` command line reads, so that an app
    /// opened this way and the command line see the same locks.
    ///
    /// ```
    /// # // SAFETY: a doctest's own process, one thread.
    /// # unsafe {
    /// #     std::env::set_var("REDIS_URL", "redis://127.0.0.1/");
    /// #     std::env::set_var("REDIS_DEBOUNCE_PREFIX", "shop:");
    /// # }
    /// let debouncer = redis_debounce::Debouncer::builder().open_env()?;
    /// assert_eq!(debouncer.prefix(), "shop:");
    /// # Ok::<(), redis_debounce::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when `REDIS_URL` is not set, or as
    /// [`open`](Self::open).
    pub fn open_env(mut self) -> Result<Debouncer, Error> {
        if let Ok(prefix) = std::env::var("REDIS_DEBOUNCE_PREFIX") {
            self.prefix = prefix;
        }
        let url = std::env::var("REDIS_URL")
            .map_err(|_| Error::config("REDIS_URL is not set (or not valid unicode)"))?;
        self.open(&url)
    }

    /// A `Debouncer` for the Redis server, or the topology, at `url`; see
    /// [`Debouncer::open`]. Besides one server's URL it takes:
    ///
    /// - `redis+sentinel://[user:pass@]host:port,host:port/service[/db]`:
    ///   the master of `service` as those sentinels name it (the
    ///   credentials and database are the master's; see
    ///   `sentinel_auth` for the sentinels'), with
    ///   the `sentinel` feature;
    /// - `redis+cluster://[user:pass@]host:port,host:port`: the Redis
    ///   Cluster those nodes belong to, with the `cluster` feature;
    /// - `redis+redlock://[user:pass@]host:port,host:port,host:port[/db]`:
    ///   Redlock over those independent masters, with the `redlock`
    ///   feature.
    ///
    /// `rediss+…` is each one over TLS (the `tls` feature). So a
    /// deployment picks its topology by setting one variable:
    ///
    /// ```
    /// # // SAFETY: a doctest's own process, one thread.
    /// # unsafe { std::env::set_var("REDIS_URL", "redis://127.0.0.1/") };
    /// let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1/".into());
    /// let debouncer = redis_debounce::Debouncer::builder().open(&url)?;
    /// # let _ = debouncer;
    /// # Ok::<(), redis_debounce::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for a URL that is not a Redis URL, a topology
    /// whose feature is off, a prefix with braces, or a timeout of zero or
    /// over 100 years.
    pub fn open(self, url: &str) -> Result<Debouncer, Error> {
        match urls::topology(url)? {
            urls::Topology::Server(url) => {
                let reach = self.reach()?;
                let redis = RedisBackend::open(&url, &reach)?;
                self.made(Backend::Redis(redis), &reach)
            }
            #[cfg(feature = "sentinel")]
            urls::Topology::Sentinel { service, nodes } => self.sentinel(&service, nodes),
            #[cfg(feature = "cluster")]
            urls::Topology::Cluster(nodes) => self.cluster(nodes),
            #[cfg(feature = "redlock")]
            urls::Topology::Redlock(nodes) => self.redlock(nodes),
            #[allow(unreachable_patterns, reason = "when every topology feature is on")]
            topology => Err(Error::config(format!(
                "{} needs the `{}` feature of redis-debounce",
                match topology {
                    urls::Topology::Sentinel { .. } => "`redis+sentinel://`",
                    urls::Topology::Cluster(_) => "`redis+cluster://`",
                    _ => "`redis+redlock://`",
                },
                match topology {
                    urls::Topology::Sentinel { .. } => "sentinel",
                    urls::Topology::Cluster(_) => "cluster",
                    _ => "redlock",
                },
            ))),
        }
    }

    /// A `Debouncer` for the master of `service`, found through the
    /// sentinels at `sentinels` (their URLs; the first one's username,
    /// password and database are the master's). Each new connection asks
    /// them for the master, so after a failover the next one goes to the
    /// new master; a connection still open to a master that was demoted
    /// meets `READONLY`, and one to a master that died breaks, and either
    /// is replaced. No I/O happens here.
    ///
    /// ```
    /// let debouncer = redis_debounce::Debouncer::builder()
    ///     .sentinel("mymaster", ["redis://10.0.0.1:26379", "redis://10.0.0.2:26379"])?;
    /// # let _ = debouncer;
    /// # Ok::<(), redis_debounce::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for no sentinel, an empty service name, a URL
    /// that is not a Redis URL, or the settings [`open`](Self::open)
    /// refuses.
    #[cfg(feature = "sentinel")]
    #[cfg_attr(docsrs, doc(cfg(feature = "sentinel")))]
    pub fn sentinel<S: AsRef<str>>(
        self,
        service: &str,
        sentinels: impl IntoIterator<Item = S>,
    ) -> Result<Debouncer, Error> {
        let sentinels: Vec<String> = sentinels.into_iter().map(|s| s.as_ref().into()).collect();
        let reach = self.reach()?;
        let auth = self
            .sentinel_auth
            .as_ref()
            .map(|SentinelAuth(user, password)| (user.clone(), password.clone()));
        let target = backend::redis::Target::sentinel(service, &sentinels, auth.as_ref(), &reach)?;
        self.made(Backend::Redis(RedisBackend::new(target, &reach)), &reach)
    }

    /// A `Debouncer` for the Redis Cluster that `nodes` (URLs of some of
    /// its nodes) belong to. Each lock's keys share one hash slot (see the
    /// key layout in [`debounce`](crate::debounce)), so every request goes
    /// to the master of that slot; `MOVED` and `ASK` are followed. No I/O
    /// happens here.
    ///
    /// ```
    /// let debouncer = redis_debounce::Debouncer::builder()
    ///     .cluster(["redis://10.0.0.1:7000", "redis://10.0.0.2:7000"])?;
    /// # let _ = debouncer;
    /// # Ok::<(), redis_debounce::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for no node, a URL that is not a Redis URL, or
    /// the settings [`open`](Self::open) refuses.
    #[cfg(feature = "cluster")]
    #[cfg_attr(docsrs, doc(cfg(feature = "cluster")))]
    pub fn cluster<S: AsRef<str>>(
        self,
        nodes: impl IntoIterator<Item = S>,
    ) -> Result<Debouncer, Error> {
        let nodes: Vec<String> = nodes.into_iter().map(|s| s.as_ref().into()).collect();
        let reach = self.reach()?;
        let target = backend::redis::Target::cluster(&nodes, &reach)?;
        self.made(Backend::Redis(RedisBackend::new(target, &reach)), &reach)
    }

    /// A `Debouncer` that takes each lock on a majority of the independent
    /// Redis masters at `nodes` (Redlock; at least 3, an odd number is
    /// best): it stays available and exclusive while a majority is up.
    /// Each node has its own connection. No I/O happens here.
    ///
    /// ```
    /// let debouncer = redis_debounce::Debouncer::builder().redlock([
    ///     "redis://10.0.0.1:6379",
    ///     "redis://10.0.0.2:6379",
    ///     "redis://10.0.0.3:6379",
    /// ])?;
    /// # let _ = debouncer;
    /// # Ok::<(), redis_debounce::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for fewer than 3 nodes, a URL that is not a Redis
    /// URL, or the settings [`open`](Self::open) refuses.
    #[cfg(feature = "redlock")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redlock")))]
    pub fn redlock<S: AsRef<str>>(
        self,
        nodes: impl IntoIterator<Item = S>,
    ) -> Result<Debouncer, Error> {
        let reach = self.reach()?;
        let nodes = nodes
            .into_iter()
            .map(|url| RedisBackend::open(url.as_ref(), &reach))
            .collect::<Result<Vec<_>, _>>()?;
        let redlock = backend::redlock::RedlockBackend::new(nodes)?;
        self.made(Backend::Redlock(redlock), &reach)
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
            self.observer(),
        ))
    }
}
