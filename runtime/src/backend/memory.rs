//! The in-process backend: the same semantics as Redis (leases expire, only
//! the owner's token releases) for the quick start and for users' unit tests.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use super::{Acquire, Finish};
use crate::token::Token;

/// How many inserts between two sweeps of expired entries.
const SWEEP_EVERY: u32 = 1024;

#[derive(Debug, Default)]
pub(crate) struct MemoryBackend {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    locks: HashMap<Box<str>, Entry>,
    inserts_since_sweep: u32,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    /// `None` during a cooldown: nobody owns it.
    owner: Option<Token>,
    expires: Instant,
}

impl MemoryBackend {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic cannot leave the map half-written: every critical section is
        // a single map operation, so a poisoned lock is still consistent.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn acquire(&self, key: &str, token: Token, ttl_ms: u64) -> Acquire {
        let now = Instant::now();
        let expires = now + Duration::from_millis(ttl_ms);
        let mut state = self.state();
        if let Some(entry) = state.locks.get_mut(key) {
            if entry.expires > now {
                return Acquire::Held {
                    retry_after: Some(entry.expires - now),
                    cooling: entry.owner.is_none(),
                };
            }
            *entry = Entry {
                owner: Some(token),
                expires,
            };
            return Acquire::Taken;
        }
        state.inserts_since_sweep += 1;
        if state.inserts_since_sweep >= SWEEP_EVERY {
            state.inserts_since_sweep = 0;
            state.locks.retain(|_, entry| entry.expires > now);
        }
        state.locks.insert(
            key.into(),
            Entry {
                owner: Some(token),
                expires,
            },
        );
        Acquire::Taken
    }

    pub(crate) fn finish(&self, key: &str, token: Token, finish: Finish) -> bool {
        let now = Instant::now();
        let mut state = self.state();
        let Some(entry) = state.locks.get_mut(key) else {
            return false;
        };
        if entry.owner != Some(token) {
            return false;
        }
        if entry.expires <= now {
            // Ours, but expired: no longer ours; drop the stale entry.
            state.locks.remove(key);
            return false;
        }
        match finish {
            Finish::Release => {
                state.locks.remove(key);
            }
            Finish::Cooldown(ms) => {
                *entry = Entry {
                    owner: None,
                    expires: now + Duration::from_millis(ms),
                };
            }
        }
        true
    }
}
