//! Where locks live: one file per backend, one enum to dispatch between them.

use std::time::{Duration, Instant};

use crate::Error;
use crate::token::Token;

pub(crate) mod admin;
pub(crate) mod memory;
pub(crate) mod redis;
#[cfg(feature = "redlock")]
pub(crate) mod redlock;

/// One acquire request: who asks, for how long, and what else it wants.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ask {
    pub(crate) token: Token,
    pub(crate) ttl_ms: u64,
    /// Hand out the next fencing token with the lock.
    pub(crate) fence: bool,
    /// Answer with a stored result when there is one.
    pub(crate) replay: bool,
    /// How long this caller is prepared to wait (0: not at all), so that a
    /// release knows to wake it.
    pub(crate) wait_ms: u64,
}

/// The answer to an acquire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Acquire {
    /// The lock is ours, with its fencing token when one was asked for;
    /// `asked`: when the request that took it was sent, if later than the
    /// caller's ask (Redlock's second try after a split vote).
    Taken {
        fence: Option<u64>,
        asked: Option<Instant>,
    },
    /// Another holder has it (or, `cooling`, a finished call's cooldown),
    /// for this long when the backend knows.
    Held {
        retry_after: Option<Duration>,
        cooling: bool,
    },
    /// A finished call's stored result (`replay`).
    Stored(Vec<u8>),
}

/// How a holder gives its lock up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Finish {
    /// Keep the key taken, owned by nobody, for this many milliseconds;
    /// `None` frees it at once.
    pub(crate) cooldown_ms: Option<u64>,
    /// Store this result for this many milliseconds (`replay`).
    pub(crate) store: Option<(Vec<u8>, u64)>,
}

impl Finish {
    pub(crate) const RELEASE: Finish = Finish {
        cooldown_ms: None,
        store: None,
    };
}

/// Whether a caller is async code or blocking code: the in-process
/// backend sleeps and renews differently for each (Redis's connection
/// serves both alike).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// From async code, on a tokio runtime.
    Async,
    /// From blocking code, on the caller's thread.
    Blocking,
}

#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "one per Debouncer, behind its Arc"
)]
pub(crate) enum Backend {
    Redis(redis::RedisBackend),
    Memory(memory::MemoryBackend),
    #[cfg(feature = "redlock")]
    Redlock(redlock::RedlockBackend),
}

impl Backend {
    pub(crate) async fn acquire(&self, key: &str, ask: Ask) -> Result<Acquire, Error> {
        match self {
            Backend::Redis(redis) => redis.acquire(key, ask).await,
            Backend::Memory(memory) => Ok(memory.acquire(key, ask)),
            #[cfg(feature = "redlock")]
            Backend::Redlock(redlock) => redlock.acquire(key, ask).await,
        }
    }

    /// How long a lease of `ttl` counts as the holder's, from before it
    /// was asked for: all of it, except on Redlock (less the clock drift
    /// between its nodes).
    pub(crate) fn validity(&self, ttl: Duration) -> Duration {
        match self {
            #[cfg(feature = "redlock")]
            Backend::Redlock(_) => redlock::RedlockBackend::validity(ttl),
            _ => ttl,
        }
    }

    /// The runtime of the connections, where work that must outlive a
    /// caller's runtime (renewal) runs; `None` for the in-process backend,
    /// which has none.
    pub(crate) fn runtime(&self) -> Option<Result<&tokio::runtime::Handle, Error>> {
        match self {
            Backend::Redis(redis) => Some(redis.runtime()),
            Backend::Memory(_) => None,
            #[cfg(feature = "redlock")]
            Backend::Redlock(redlock) => Some(redlock.runtime()),
        }
    }

    /// A mark taken before an acquire: [`wait`](Self::wait) returns at once
    /// if a release happened since (the in-process backend; Redis keeps
    /// its wake-ups in a list, which needs no mark).
    pub(crate) fn mark(&self) -> u64 {
        match self {
            Backend::Memory(memory) => memory.mark(),
            Backend::Redis(_) => 0,
            #[cfg(feature = "redlock")]
            Backend::Redlock(_) => 0,
        }
    }

    /// Waits up to `timeout` for a release of `key` (or any key, on the
    /// in-process backend) since `mark`. Waking without one is harmless:
    /// the caller asks again. Blocking callers of the in-process backend
    /// sleep on its condition variable (no timer without a runtime).
    pub(crate) async fn wait(
        &self,
        key: &str,
        mark: u64,
        timeout: Duration,
        mode: Mode,
    ) -> Result<(), Error> {
        match (self, mode) {
            (Backend::Redis(redis), _) => redis.wait(key, timeout).await,
            #[cfg(feature = "redlock")]
            (Backend::Redlock(redlock), _) => redlock.wait(key, timeout).await,
            (Backend::Memory(memory), Mode::Async) => {
                memory.wait(mark, timeout).await;
                Ok(())
            }
            (Backend::Memory(memory), Mode::Blocking) => {
                memory.wait_blocking(mark, timeout);
                Ok(())
            }
        }
    }

    /// Extends `token`'s lease to `ttl_ms` from now: `true` when it was
    /// still `token`'s.
    pub(crate) async fn extend(&self, key: &str, token: Token, ttl_ms: u64) -> Result<bool, Error> {
        match self {
            Backend::Redis(redis) => redis.extend(key, token, ttl_ms).await,
            Backend::Memory(memory) => Ok(memory.extend(key, token, ttl_ms)),
            #[cfg(feature = "redlock")]
            Backend::Redlock(redlock) => redlock.extend(key, token, ttl_ms).await,
        }
    }

    /// Gives the lock up if it is still `token`'s: `true` when it was.
    /// A lease valid until `valid_until` needs no release after it.
    pub(crate) async fn finish(
        &self,
        key: &str,
        token: Token,
        finish: Finish,
        valid_until: Instant,
    ) -> Result<bool, Error> {
        match self {
            Backend::Redis(redis) => redis.finish(key, token, &finish, valid_until).await,
            Backend::Memory(memory) => Ok(memory.finish(key, token, finish)),
            #[cfg(feature = "redlock")]
            Backend::Redlock(redlock) => redlock.finish(key, token, &finish, valid_until).await,
        }
    }

    /// Gives the lock up without making the caller wait for the answer.
    /// It is ordered before any later request of the same `Debouncer`,
    /// from any thread or runtime.
    pub(crate) fn finish_detached(
        &self,
        key: &str,
        token: Token,
        finish: Finish,
        valid_until: Instant,
    ) {
        match self {
            Backend::Redis(redis) => redis.finish_detached(key, token, &finish, valid_until),
            Backend::Memory(memory) if finish == Finish::RELEASE => {
                memory.release_detached(key, token);
            }
            Backend::Memory(memory) => {
                memory.finish(key, token, finish);
            }
            #[cfg(feature = "redlock")]
            Backend::Redlock(redlock) => redlock.finish_detached(key, token, &finish, valid_until),
        }
    }

    /// Waits until every release handed to the backend so far has been run.
    pub(crate) async fn flush(&self) -> Result<(), Error> {
        match self {
            Backend::Redis(redis) => redis.flush().await,
            Backend::Memory(_) => Ok(()),
            #[cfg(feature = "redlock")]
            Backend::Redlock(redlock) => redlock.flush().await,
        }
    }
}

/// Polls every future at once, handing each output to `ready` as it
/// comes, until all are done or `ready` breaks.
pub(crate) async fn each<F: Future>(
    futures: impl IntoIterator<Item = F>,
    mut ready: impl FnMut(usize, F::Output) -> std::ops::ControlFlow<()>,
) {
    let mut futures: Vec<Option<std::pin::Pin<Box<F>>>> =
        futures.into_iter().map(|f| Some(Box::pin(f))).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (at, slot) in futures.iter_mut().enumerate() {
            let Some(future) = slot else { continue };
            match future.as_mut().poll(cx) {
                std::task::Poll::Ready(output) => {
                    *slot = None;
                    if ready(at, output).is_break() {
                        return std::task::Poll::Ready(());
                    }
                }
                std::task::Poll::Pending => pending = true,
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
}

/// The longest duration taken, in milliseconds: 100 years (the attribute
/// refuses the same at compile time). Redis and its Lua scripts, which
/// read numbers as doubles, take every such value exactly.
pub(crate) const MAX_MILLIS: u64 = 36_525 * 24 * 3_600_000;

/// Why a duration cannot be a lease, a wait or a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DurationError {
    /// It is zero.
    Zero,
    /// It is over 100 years.
    TooLong,
}

/// The rule of every duration, written once: the programmatic API checks
/// it at run time, `#[debounce]` at compile time (a constant the expansion
/// evaluates, with the argument's name in its message).
#[must_use]
pub const fn duration_error(duration: Duration) -> Option<DurationError> {
    if duration.is_zero() {
        Some(DurationError::Zero)
    } else if duration.as_millis() > MAX_MILLIS as u128 {
        Some(DurationError::TooLong)
    } else {
        None
    }
}

/// A duration in whole milliseconds, at least one and at most
/// [`MAX_MILLIS`]; anything else is a configuration error (`what` names
/// it).
pub(crate) fn millis(duration: Duration, what: &str) -> Result<u64, Error> {
    match duration_error(duration) {
        Some(DurationError::Zero) => {
            return Err(Error::config(format!("{what} must be longer than zero")));
        }
        Some(DurationError::TooLong) => {
            return Err(Error::config(format!(
                "{what} is too long: at most 100 years"
            )));
        }
        None => {}
    }
    // At most MAX_MILLIS, so it fits; under a millisecond is one.
    Ok(u64::try_from(duration.as_millis().max(1)).unwrap_or(MAX_MILLIS))
}

/// A lease in whole milliseconds, at least one; zero is a configuration error.
pub(crate) fn lease_ms(ttl: Duration) -> Result<u64, Error> {
    millis(ttl, "the lease (ttl)")
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{MAX_MILLIS, millis};
    use crate::Error;

    /// Durations Redis cannot take are configuration errors, never sent.
    #[test]
    fn durations_are_bounded() {
        assert_eq!(millis(Duration::from_micros(1), "w").unwrap(), 1);
        let century = Duration::from_millis(MAX_MILLIS);
        assert_eq!(millis(century, "w").unwrap(), MAX_MILLIS);
        for bad in [
            Duration::ZERO,
            century + Duration::from_millis(1),
            Duration::MAX,
        ] {
            assert!(
                matches!(millis(bad, "the wait"), Err(Error::Config { .. })),
                "{bad:?}"
            );
        }
        assert_eq!(MAX_MILLIS, 100 * 365_250 * 86_400_000 / 1000);
    }
}
