//! The answer given instead of running a debounced body.

use std::fmt;
use std::time::Duration;

use crate::Error;

/// A call that did not run because its key could not be locked.
///
/// It says which key, why ([`reason`](Self::reason)), and when a retry may
/// succeed ([`retry_after`](Self::retry_after)). "Another caller holds the
/// key" and "the backend is unavailable" are different reasons, never one
/// value: see [`BusyReason`].
///
/// `#[debounce]` turns a `Busy` into the function's return value: `Err(e)`
/// with `E: From<Busy>` for a `Result`, `R::from(busy)` for any other
/// `R: From<Busy>`, or the `busy = ...` expression.
///
/// ```
/// use std::time::Duration;
/// use redis_debounce::{BusyReason, Debouncer};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let debouncer = Debouncer::memory();
/// let _held = debouncer.try_lock("report", Duration::from_secs(30)).await.unwrap();
/// let busy = debouncer.try_lock("report", Duration::from_secs(30)).await.unwrap_err();
/// assert_eq!(busy.key(), "report");
/// assert!(matches!(busy.reason(), BusyReason::Held));
/// assert!(busy.retry_after().unwrap() <= Duration::from_secs(30));
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Busy {
    key: String,
    reason: BusyReason,
    retry_after: Option<Duration>,
}

/// Why a call was turned away.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum BusyReason {
    /// Another caller holds the key.
    Held,
    /// A call on this key finished successfully within its `cooldown`
    /// window; [`Busy::retry_after`] is the time left.
    Cooldown,
    /// The backend could not answer; the key may well be free.
    Unavailable(Error),
    /// The key was used before with other parameters (`fingerprint`): a
    /// client reused an idempotency key for a different request.
    Mismatch,
}

impl Busy {
    pub(crate) fn held(key: String, retry_after: Option<Duration>, cooling: bool) -> Self {
        Busy {
            key,
            reason: if cooling {
                BusyReason::Cooldown
            } else {
                BusyReason::Held
            },
            retry_after,
        }
    }

    pub(crate) fn mismatch(key: String) -> Self {
        Busy {
            key,
            reason: BusyReason::Mismatch,
            retry_after: None,
        }
    }

    pub(crate) fn unavailable(key: String, error: Error) -> Self {
        Busy {
            key,
            reason: BusyReason::Unavailable(error),
            retry_after: None,
        }
    }

    /// The rendered key, without the Redis prefix.
    #[must_use]
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Why the call was turned away.
    #[must_use]
    pub fn reason(&self) -> &BusyReason {
        &self.reason
    }

    /// How long the current holder keeps the key, when known: a retry before
    /// then will be turned away again unless the holder finishes early.
    #[must_use]
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// `true` when another caller holds the key.
    #[must_use]
    pub fn is_held(&self) -> bool {
        matches!(self.reason, BusyReason::Held)
    }

    /// `true` when the key was used before with other parameters
    /// (`fingerprint`).
    #[must_use]
    pub fn is_mismatch(&self) -> bool {
        matches!(self.reason, BusyReason::Mismatch)
    }

    /// `true` during the cooldown after a successful call on this key.
    #[must_use]
    pub fn is_cooling_down(&self) -> bool {
        matches!(self.reason, BusyReason::Cooldown)
    }

    /// The backend failure, when the call was turned away because of one.
    #[must_use]
    pub fn error(&self) -> Option<&Error> {
        match &self.reason {
            BusyReason::Unavailable(error) => Some(error),
            BusyReason::Held | BusyReason::Cooldown | BusyReason::Mismatch => None,
        }
    }
}

impl fmt::Display for Busy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.reason, self.retry_after) {
            (BusyReason::Held, Some(after)) => write!(
                f,
                "`{}` is held by another caller; retry after {after:?}",
                self.key
            ),
            (BusyReason::Held, None) => write!(f, "`{}` is held by another caller", self.key),
            (BusyReason::Cooldown, Some(after)) => write!(
                f,
                "`{}` ran recently and is cooling down; retry after {after:?}",
                self.key
            ),
            (BusyReason::Cooldown, None) => {
                write!(f, "`{}` ran recently and is cooling down", self.key)
            }
            (BusyReason::Mismatch, _) => write!(
                f,
                "`{}` was used before for a request with other parameters",
                self.key
            ),
            (BusyReason::Unavailable(error), _) => {
                write!(f, "`{}` could not be locked: {error}", self.key)
            }
        }
    }
}

impl std::error::Error for Busy {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.error().map(|e| e as _)
    }
}
