//! Typed errors of the lock backends.

use std::fmt;

/// Why the backend could not answer a lock request.
///
/// An `Error` never means "someone else holds the lock": that answer is
/// [`Busy`](crate::Busy) with [`BusyReason::Held`](crate::BusyReason::Held).
/// An `Error` reaches callers inside a [`Busy`](crate::Busy) whose reason is
/// [`BusyReason::Unavailable`](crate::BusyReason::Unavailable), or from
/// [`LockGuard::release`](crate::LockGuard::release).
///
/// ```
/// use redis_debounce::{Debouncer, Error};
///
/// let err = Debouncer::open("http://127.0.0.1/").unwrap_err();
/// assert!(matches!(err, Error::Config { .. }));
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Redis could not be reached, or the connection broke.
    #[error("cannot reach Redis: {source}")]
    Connection {
        /// What the client reported.
        source: BackendError,
    },
    /// Redis did not answer within the configured timeout.
    #[error("Redis did not answer within {after:?}")]
    Timeout {
        /// The timeout that ran out.
        after: std::time::Duration,
    },
    /// The lock key exists but holds a value of another Redis type.
    #[error("the Redis key `{key}` holds a value of another type, not a lock")]
    WrongType {
        /// The full Redis key, prefix included.
        key: String,
    },
    /// A lock script failed on the server.
    #[error("a lock script failed: {source}")]
    Script {
        /// What the server reported.
        source: BackendError,
    },
    /// Redis refused the command (read-only replica, missing permission, ...).
    #[error("Redis refused the command: {source}")]
    Backend {
        /// What the server reported.
        source: BackendError,
    },
    /// The configuration is invalid: a bad URL, prefix, or lease.
    #[error("invalid configuration: {message}")]
    Config {
        /// What is wrong.
        message: String,
    },
    /// A stored result (`replay`) cannot be read as the function's output
    /// type, or an output cannot be stored: typically the return type
    /// changed in a deploy while results of the old type were stored.
    #[error("the stored result cannot be used as `{expected}`: {detail}")]
    Replay {
        /// The type the caller asked for.
        expected: &'static str,
        /// What did not match.
        detail: String,
    },
    /// Redlock: too few of its nodes answered to make up a majority, so
    /// whether the lock is free is unknown (never "held").
    #[error("{answered} of {nodes} Redlock nodes answered, {needed} needed: {source}")]
    NoQuorum {
        /// The nodes of the Redlock.
        nodes: usize,
        /// How many of them answered.
        answered: usize,
        /// A majority of them.
        needed: usize,
        /// The first node's error.
        source: Box<Error>,
    },
    /// `#[debounce]` without `using = ...` ran before [`install`](crate::install).
    #[error(
        "no Debouncer is installed: call redis_debounce::install(..) at start-up, or pass `using = ...` to #[debounce]"
    )]
    NotInstalled,
}

impl Error {
    pub(crate) fn config(message: impl Into<String>) -> Self {
        Error::Config {
            message: message.into(),
        }
    }

    /// Sorts a client error into the variant a caller can act on.
    pub(crate) fn from_redis(
        err: redis::RedisError,
        key: &str,
        timeout: std::time::Duration,
    ) -> Self {
        use redis::{ErrorKind, ServerErrorKind};
        if err.code() == Some("WRONGTYPE") {
            return Error::WrongType { key: key.into() };
        }
        if err.is_timeout() {
            return Error::Timeout { after: timeout };
        }
        let source = BackendError(err);
        match source.0.kind() {
            ErrorKind::Server(ServerErrorKind::NoScript | ServerErrorKind::ResponseError)
            | ErrorKind::UnexpectedReturnType
            | ErrorKind::Parse => Error::Script { source },
            ErrorKind::Server(_) | ErrorKind::AuthenticationFailed | ErrorKind::Extension => {
                Error::Backend { source }
            }
            ErrorKind::InvalidClientConfig => Error::Config {
                message: source.to_string(),
            },
            _ => Error::Connection { source },
        }
    }
}

/// An error reported by the Redis client, kept opaque so that upgrading the
/// client is not a breaking change for callers.
#[derive(Clone)]
pub struct BackendError(redis::RedisError);

impl fmt::Debug for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for BackendError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.0)
    }
}
