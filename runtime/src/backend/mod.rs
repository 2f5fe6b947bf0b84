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
    /// Another holder has it, for this long when the backend knows.
    Held(Option<Duration>),
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

    pub(crate) async fn release(&self, key: &str, token: Token) -> Result<bool, Error> {
        match self {
            Backend::Redis(redis) => redis.release(key, token).await,
            Backend::Memory(memory) => Ok(memory.release(key, token)),
        }
    }

    pub(crate) fn release_blocking(&self, key: &str, token: Token) -> Result<bool, Error> {
        match self {
            Backend::Redis(redis) => redis.release_blocking(key, token),
            Backend::Memory(memory) => Ok(memory.release(key, token)),
        }
    }

    /// Releases without making the caller wait for the answer.
    ///
    /// From async code the release command is queued on the connection
    /// before this returns, so a later request from the same `Debouncer`
    /// is ordered after it.
    pub(crate) fn release_detached(&self, key: String, token: Token, mode: Mode) {
        match self {
            Backend::Redis(redis) => redis.release_detached(key, token, mode),
            Backend::Memory(memory) => {
                memory.release(&key, token);
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
