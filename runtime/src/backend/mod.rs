//! Where locks live: one file per backend, one enum to dispatch between them.

use std::time::Duration;

use crate::Error;
use crate::token::Token;

pub(crate) mod memory;
pub(crate) mod redis;

/// The answer to an acquire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Acquire {
    /// The lock is ours.
    Taken,
    /// Another holder has it (or, `cooling`, a finished call's cooldown),
    /// for this long when the backend knows.
    Held {
        retry_after: Option<Duration>,
        cooling: bool,
    },
}

/// How a holder gives its lock up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Finish {
    /// Delete it: the key is free at once.
    Release,
    /// Keep the key taken, owned by nobody, for this many milliseconds.
    Cooldown(u64),
}

/// How a guard was taken, which decides how it releases when dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// From async code: release on the tokio runtime.
    Async,
    /// From blocking code: release on the caller's thread.
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
}

impl Backend {
    pub(crate) async fn acquire(
        &self,
        key: &str,
        token: Token,
        ttl_ms: u64,
    ) -> Result<Acquire, Error> {
        match self {
            Backend::Redis(redis) => redis.acquire(key, token, ttl_ms).await,
            Backend::Memory(memory) => Ok(memory.acquire(key, token, ttl_ms)),
        }
    }

    pub(crate) fn acquire_blocking(
        &self,
        key: &str,
        token: Token,
        ttl_ms: u64,
    ) -> Result<Acquire, Error> {
        match self {
            Backend::Redis(redis) => redis.acquire_blocking(key, token, ttl_ms),
            Backend::Memory(memory) => Ok(memory.acquire(key, token, ttl_ms)),
        }
    }

    /// Gives the lock up if it is still `token`'s: `true` when it was.
    pub(crate) async fn finish(
        &self,
        key: &str,
        token: Token,
        finish: Finish,
    ) -> Result<bool, Error> {
        match self {
            Backend::Redis(redis) => redis.finish(key, token, finish).await,
            Backend::Memory(memory) => Ok(memory.finish(key, token, finish)),
        }
    }

    pub(crate) fn finish_blocking(
        &self,
        key: &str,
        token: Token,
        finish: Finish,
    ) -> Result<bool, Error> {
        match self {
            Backend::Redis(redis) => redis.finish_blocking(key, token, finish),
            Backend::Memory(memory) => Ok(memory.finish(key, token, finish)),
        }
    }

    /// Gives the lock up without making the caller wait for the answer.
    ///
    /// From async code the command is queued on the connection before this
    /// returns, so a later request from the same `Debouncer` is ordered
    /// after it.
    pub(crate) fn finish_detached(&self, key: String, token: Token, mode: Mode, finish: Finish) {
        match self {
            Backend::Redis(redis) => redis.finish_detached(key, token, mode, finish),
            Backend::Memory(memory) => {
                memory.finish(&key, token, finish);
            }
        }
    }
}

/// A lease in whole milliseconds, at least one; zero is a configuration error.
pub(crate) fn lease_ms(ttl: Duration) -> Result<u64, Error> {
    if ttl.is_zero() {
        return Err(Error::config("the lease (ttl) must be longer than zero"));
    }
    let ms = ttl.as_millis().max(1);
    u64::try_from(ms).map_err(|_| Error::config("the lease (ttl) is too long"))
}
