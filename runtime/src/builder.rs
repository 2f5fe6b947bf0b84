//! How a [`Debouncer`] is made: [`Debouncer::open`], [`Debouncer::memory`]
//! and the [`Builder`] for settings beyond the defaults.

use std::time::Duration;

use crate::backend::{self, Backend};
use crate::{Debouncer, Error};

const DEFAULT_PREFIX: &str = "debounce:";
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_secs(1);
/// The largest result stored for `replay` unless configured: 1 MiB.
pub(crate) const DEFAULT_MAX_STORED: usize = 1 << 20;

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
