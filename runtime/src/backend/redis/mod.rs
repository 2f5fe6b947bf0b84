//! The Redis backend: `SET NX PX` with an owner token, compare-and-delete
//! release, every request written by the connection driver the
//! `Debouncer` owns ([`conn`]).

use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use redis::Client;
#[cfg(feature = "redlock")]
use redis::Value;

use super::{Acquire, Ask, Finish};
use crate::Error;
use crate::token::Token;

pub(crate) mod admin;
mod cmd;
mod conn;
mod dispatch;
mod script;
mod target;
mod waiters;

use conn::{Driver, Settings};
pub(crate) use target::Target;

pub(crate) struct RedisBackend {
    settings: Settings,
    /// Started by the first request: no thread, no I/O before.
    driver: OnceLock<Driver>,
    starting: Mutex<()>,
}

impl std::fmt::Debug for RedisBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBackend")
            .field("target", &self.settings.target)
            .field("connect_timeout", &self.settings.connect_timeout)
            .field("response_timeout", &self.settings.response_timeout)
            .finish_non_exhaustive()
    }
}

/// How every connection is made: the timeouts, and the certificates for
/// `rediss://`.
#[derive(Debug, Clone)]
pub(crate) struct Reach {
    pub(crate) connect_timeout: Duration,
    pub(crate) response_timeout: Duration,
    #[cfg(feature = "tls")]
    pub(crate) tls: Tls,
    /// The `Debouncer`'s counters: failed releases are counted where they
    /// fail, on the connection thread.
    pub(crate) observer: std::sync::Arc<crate::observe::Observer>,
}

/// Whether a URL's scheme asks for TLS; an error for one that is not
/// Redis's, or `rediss` without the `tls` feature. `what` names the kind
/// of URL expected, for the message.
pub(crate) fn scheme_tls(scheme: &str, plain: &[&str], what: &str) -> Result<bool, Error> {
    if plain.contains(&scheme) {
        return Ok(false);
    }
    let secure = scheme
        .strip_prefix("rediss")
        .is_some_and(|rest| plain.iter().any(|p| p.strip_prefix("redis") == Some(rest)));
    if !secure {
        // A malformed URL's "scheme" may run into its password: named
        // only when it is made of a scheme's characters.
        let named = !scheme.is_empty()
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        return Err(Error::config(if named {
            format!("not a Redis URL (scheme `{scheme}`): expected {what}")
        } else {
            format!("not a Redis URL: expected {what}")
        }));
    }
    if cfg!(feature = "tls") {
        // rustls needs a process-wide crypto provider; keep one the
        // application installed, else install ring's.
        #[cfg(feature = "tls")]
        let _ = rustls::crypto::ring::default_provider().install_default();
        Ok(true)
    } else {
        Err(Error::config(format!(
            "`{scheme}://` needs the `tls` feature of redis-debounce"
        )))
    }
}

/// The client for one server's URL.
pub(crate) fn client(url: &str, reach: &Reach) -> Result<Client, Error> {
    let scheme = url.split_once("://").map_or("", |(scheme, _)| scheme);
    let secure = scheme_tls(
        scheme,
        &["redis", "redis+unix", "unix"],
        "redis://, rediss:// or redis+unix://",
    )?;
    #[cfg(feature = "tls")]
    let client = if reach.tls.is_set() {
        if !secure {
            return Err(Error::config(
                "TLS certificates were given for a URL that is not `rediss://`",
            ));
        }
        Client::build_with_tls(url, reach.tls.certificates())
    } else {
        Client::open(url)
    };
    #[cfg(not(feature = "tls"))]
    let client = {
        let _ = (secure, reach);
        Client::open(url)
    };
    // The URL itself is never echoed: it may hold a password that a
    // character the parser stumbled on kept from being recognised.
    client.map_err(|e| Error::config(format!("the Redis URL: {e}")))
}

impl RedisBackend {
    /// Validates the URL and prepares the client; does no I/O.
    pub(crate) fn open(url: &str, reach: &Reach) -> Result<Self, Error> {
        Ok(Self::new(Target::Server(client(url, reach)?), reach))
    }

    /// A backend that reaches Redis through `target`; does no I/O.
    pub(crate) fn new(target: Target, reach: &Reach) -> Self {
        RedisBackend {
            settings: Settings {
                target,
                connect_timeout: reach.connect_timeout,
                response_timeout: reach.response_timeout,
                observer: reach.observer.clone(),
            },
            driver: OnceLock::new(),
            starting: Mutex::new(()),
        }
    }

    /// The server's address and database, to tell Redlock's nodes apart
    /// (no password).
    #[cfg(feature = "redlock")]
    pub(crate) fn server(&self) -> String {
        format!("{:?}", self.settings.target)
    }

    fn error(&self, err: redis::RedisError, key: &str) -> Error {
        Error::from_redis(err, key, self.settings.response_timeout)
    }

    /// The driver, started on first use.
    fn driver(&self) -> Result<&Driver, Error> {
        if let Some(driver) = self.driver.get() {
            return Ok(driver);
        }
        let _starting = self.starting.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(driver) = self.driver.get() {
            return Ok(driver);
        }
        let driver = Driver::start(&self.settings)
            .map_err(|e| Error::from_redis(e.into(), "", self.settings.connect_timeout))?;
        Ok(self.driver.get_or_init(|| driver))
    }

    /// The runtime the connection lives on: work that must outlive the
    /// caller's runtime (renewal) runs there.
    pub(crate) fn runtime(&self) -> Result<&tokio::runtime::Handle, Error> {
        Ok(self.driver()?.runtime())
    }

    /// Until when a release of a lease valid until `valid_until` is worth
    /// sending: the server's lease ends no earlier than ours (it started
    /// after we read our clock), and a little later does no harm
    /// (compare-and-delete).
    fn release_until(&self, valid_until: Instant) -> Instant {
        valid_until + self.settings.connect_timeout + self.settings.response_timeout
    }

    pub(crate) async fn acquire(&self, key: &str, ask: Ask) -> Result<Acquire, Error> {
        let driver = self.driver()?;
        let ttl = Duration::from_millis(ask.ttl_ms);
        let mut refused = false;
        if let Some(set) = cmd::plain_set(key, ask) {
            let taken = driver
                .acquire(set, ask.token, ttl)
                .await
                .map_err(|e| self.error(e, key))?;
            if cmd::decode_set(&taken) {
                return Ok(Acquire::Taken {
                    fence: None,
                    asked: None,
                });
            }
            refused = true;
        }
        let value = driver.acquire(cmd::acquire(key, ask), ask.token, ttl).await;
        match value {
            Ok(value) => cmd::decode_acquire(value, key),
            // `SET NX` found the key taken a moment ago; only the script that
            // says by whom and for how long went unanswered (on a cluster, a
            // slot half migrated answers `TRYAGAIN` to it until it moved):
            // held, as far as is known, never an outage that `on_error`
            // could run the body through. (An answer such as `WRONGTYPE`
            // is reported.)
            Err(error) if refused && cmd::unanswered(&error) => {
                // In the call's span, which shows the key.
                tracing::debug!(%error, "redis-debounce: the key is taken; how long for is unknown");
                Ok(Acquire::Held {
                    retry_after: None,
                    cooling: false,
                })
            }
            Err(error) => Err(self.error(error, key)),
        }
    }

    pub(crate) async fn extend(&self, key: &str, token: Token, ttl_ms: u64) -> Result<bool, Error> {
        let value = self
            .driver()?
            .request(cmd::extend(key, token, ttl_ms))
            .await
            .map_err(|e| self.error(e, key))?;
        cmd::decode_bool(&value, key)
    }

    /// Raises the key's fencing counter to at least `fence` (Redlock).
    #[cfg(feature = "redlock")]
    pub(crate) async fn raise_fence(&self, key: &str, fence: u64) -> Result<(), Error> {
        self.driver()?
            .request(cmd::raise_fence(key, fence))
            .await
            .and_then(Value::extract_error)
            .map(drop)
            .map_err(|e| self.error(e, key))
    }

    /// Gives the lock up and waits for the answer. Cancelled, the release
    /// still goes out.
    pub(crate) async fn finish(
        &self,
        key: &str,
        token: Token,
        finish: &Finish,
        valid_until: Instant,
    ) -> Result<bool, Error> {
        let driver = self.driver()?;
        let until = self.release_until(valid_until);
        let answer = driver.release(cmd::finish(key, token, finish), until, true);
        let Some(answer) = answer else {
            return Ok(false);
        };
        let value = answer.get().await.map_err(|e| self.error(e, key))?;
        cmd::decode_bool(&value, key)
    }

    /// Gives the lock up without waiting: the release is written before
    /// any request made after this returns, from any thread or runtime.
    pub(crate) fn finish_detached(
        &self,
        key: &str,
        token: Token,
        finish: &Finish,
        valid_until: Instant,
    ) {
        match self.driver() {
            Ok(driver) => {
                let until = self.release_until(valid_until);
                let _ = driver.release(cmd::finish(key, token, finish), until, false);
            }
            Err(error) => {
                let observer = &self.settings.observer;
                observer.release_failed();
                let key = observer.shown(key, "");
                tracing::warn!(key, %error, "redis-debounce: release failed; the lease will expire by itself");
            }
        }
    }

    /// Sleeps on the key's wake-up list for up to `timeout`.
    pub(crate) async fn wait(&self, key: &str, timeout: Duration) -> Result<(), Error> {
        self.driver()?
            .wait(cmd::wait(key, timeout), timeout)
            .await
            .map_err(|e| self.error(e, key))
    }

    /// A `PING` behind every release handed over so far: Redis answers in
    /// order, so its answer comes after theirs. A release that could not
    /// be made since the last flush is the error.
    pub(crate) async fn flush(&self) -> Result<(), Error> {
        let Some(driver) = self.driver.get() else {
            return Ok(());
        };
        driver.flush().await.map_err(|e| self.error(e, ""))?;
        match driver.take_failure() {
            Some((key, error)) => Err(self.error(error, &key)),
            None => Ok(()),
        }
    }
}

/// Certificates for `rediss://` beyond the public roots: a CA to trust, a
/// client identity for mutual TLS.
#[cfg(feature = "tls")]
#[derive(Debug, Clone, Default)]
pub(crate) struct Tls {
    pub(crate) ca: Option<Pem>,
    pub(crate) identity: Option<(Pem, Pem)>,
}

#[cfg(feature = "tls")]
impl Tls {
    pub(super) fn is_set(&self) -> bool {
        self.ca.is_some() || self.identity.is_some()
    }

    pub(super) fn certificates(&self) -> redis::TlsCertificates {
        redis::TlsCertificates {
            client_tls: self
                .identity
                .as_ref()
                .map(|(cert, key)| redis::ClientTlsConfig {
                    client_cert: cert.0.clone(),
                    client_key: key.0.clone(),
                }),
            root_cert: self.ca.as_ref().map(|ca| ca.0.clone()),
        }
    }
}

/// PEM bytes, shown in `Debug` by their size only (a key is a secret).
#[cfg(feature = "tls")]
#[derive(Clone)]
pub(crate) struct Pem(Vec<u8>);

#[cfg(feature = "tls")]
impl From<Vec<u8>> for Pem {
    fn from(bytes: Vec<u8>) -> Self {
        Pem(bytes)
    }
}

#[cfg(feature = "tls")]
impl std::fmt::Debug for Pem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<PEM, {} bytes>", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    fn reach() -> super::Reach {
        super::Reach {
            connect_timeout: std::time::Duration::from_secs(1),
            response_timeout: std::time::Duration::from_secs(1),
            #[cfg(feature = "tls")]
            tls: super::Tls::default(),
            observer: std::sync::Arc::new(crate::observe::Observer::new(
                false,
                tracing::Level::DEBUG,
            )),
        }
    }

    /// Without the `tls` feature, `rediss://` is refused with a pointer to
    /// it (`scripts/test` runs these unit tests without features too).
    #[test]
    fn rediss_needs_the_tls_feature() {
        let opened = super::RedisBackend::open("rediss://127.0.0.1/", &reach());
        if cfg!(feature = "tls") {
            assert!(opened.is_ok(), "{opened:?}");
        } else {
            let error = opened.expect_err("no tls feature");
            assert!(error.to_string().contains("`tls` feature"), "{error}");
        }
    }

    /// No configuration error echoes the URL, so none carries its password
    /// (the URLs that fail to parse are those whose password the parser
    /// could not even find).
    #[test]
    fn no_password_in_a_configuration_error() {
        for url in [
            "http://user:hunter2@h/",
            "redis://user:hunter2@[::1",
            "redis://:hunter#2@h/",
            "redis://:hunter?2@h/",
            "redis://user:pa/hunter2@h/0",
            "redis:/user:hunter2@h/",
            "redis:user:hunter2@h/",
            "redis+unix:///s.sock?p%61ss=hunter2&db=x",
            "redis://user:hunter2@127.0.0.1:1/notadb",
        ] {
            let error = super::RedisBackend::open(url, &reach()).expect_err(url);
            assert!(!error.to_string().contains("hunter"), "{url}: {error}");
            assert!(!format!("{error:?}").contains("hunter"), "{url}: {error:?}");
        }
    }
}
