//! The in-process backend: the same semantics as Redis (leases expire, only
//! the owner's token releases or extends; cooldowns, stored results,
//! fencing tokens and wake-ups) for the quick start and for users' unit
//! tests.

use std::collections::HashMap;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::{Acquire, Ask, Finish};
use crate::backend::admin::{Done, Op, Raw};
use crate::token::Token;

/// How many inserts between two sweeps of expired entries.
const SWEEP_EVERY: u32 = 1024;

#[derive(Debug, Default)]
pub(crate) struct MemoryBackend {
    state: Mutex<State>,
    /// Wakes async waiters on every release.
    released: Notify,
    /// Wakes blocking waiters on every release.
    released_blocking: Condvar,
}

/// The maps' hasher: foldhash, a fraction of `SipHash`'s cost per key (a
/// pair hashes its key twice), randomly seeded per process.
type Map<V> = HashMap<Box<str>, V, foldhash::fast::RandomState>;

#[derive(Debug, Default)]
struct State {
    locks: Map<Entry>,
    /// Stored results (`replay`), by lock key.
    results: Map<(Vec<u8>, Instant)>,
    /// Fencing counters, by lock key; like Redis's, they never expire.
    fences: Map<u64>,
    inserts_since_sweep: u32,
    /// How many releases so far: a waiter's mark.
    releases: u64,
    /// How many callers wait: releases notify only when someone does.
    waiters: usize,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    /// `None` during a cooldown: nobody owns it.
    owner: Option<Token>,
    expires: Instant,
    /// When it was taken: a time already past, for a release that reads
    /// no clock.
    taken: Instant,
}

impl State {
    fn sweep(&mut self, now: Instant) {
        self.inserts_since_sweep += 1;
        if self.inserts_since_sweep >= SWEEP_EVERY {
            self.inserts_since_sweep = 0;
            self.locks.retain(|_, entry| entry.expires > now);
            self.results.retain(|_, (_, expires)| *expires > now);
        }
    }
}

impl MemoryBackend {
    fn state(&self) -> MutexGuard<'_, State> {
        // A panic cannot leave the maps half-written: every critical section
        // is a few map operations that do not panic, so a poisoned lock is
        // still consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn acquire(&self, key: &str, ask: Ask) -> Acquire {
        let mut state = self.state();
        // Every clock reading is taken under the lock, so readings follow
        // the order of the critical sections: an acquire never reads a time
        // earlier than the release before it wrote (which would make a
        // freed key look like a cooldown).
        let now = Instant::now();
        let expires = now + Duration::from_millis(ask.ttl_ms);
        if ask.replay
            && let Some((stored, until)) = state.results.get(key)
            && *until > now
        {
            return Acquire::Stored(stored.clone());
        }
        let entry = Entry {
            owner: Some(ask.token),
            expires,
            taken: now,
        };
        if let Some(held) = state.locks.get_mut(key) {
            if held.expires > now {
                return Acquire::Held {
                    retry_after: Some(held.expires - now),
                    cooling: held.owner.is_none(),
                };
            }
            *held = entry;
        } else {
            state.sweep(now);
            state.locks.insert(key.into(), entry);
        }
        let fence = ask.fence.then(|| {
            let counter = state.fences.entry(key.into()).or_insert(0);
            *counter += 1;
            *counter
        });
        Acquire::Taken { fence, asked: None }
    }

    pub(crate) fn extend(&self, key: &str, token: Token, ttl_ms: u64) -> bool {
        let mut state = self.state();
        let now = Instant::now();
        match state.locks.get_mut(key) {
            Some(entry) if entry.owner == Some(token) && entry.expires > now => {
                entry.expires = now + Duration::from_millis(ttl_ms);
                true
            }
            _ => false,
        }
    }

    pub(crate) fn finish(&self, key: &str, token: Token, finish: Finish) -> bool {
        let mut state = self.state();
        let now = Instant::now();
        let Some(entry) = state.locks.get_mut(key) else {
            return false;
        };
        if entry.owner != Some(token) {
            return false;
        }
        if entry.expires <= now {
            // Ours, but expired: no longer ours.
            return false;
        }
        // A freed entry stays, expired, so that the next acquire of the key
        // reuses it instead of copying the key again; sweeps drop it later.
        *entry = Entry {
            owner: None,
            expires: finish
                .cooldown_ms
                .map_or(now, |ms| now + Duration::from_millis(ms)),
            taken: entry.taken,
        };
        if let Some((payload, ms)) = finish.store {
            state
                .results
                .insert(key.into(), (payload, now + Duration::from_millis(ms)));
        }
        self.wake(state);
        true
    }

    /// A plain release whose answer nobody waits for: freeing the entry
    /// while it is still `token`'s is right whether or not its lease ran
    /// out (nobody else took it), so no clock is read.
    pub(crate) fn release_detached(&self, key: &str, token: Token) {
        let mut state = self.state();
        let Some(entry) = state.locks.get_mut(key) else {
            return;
        };
        if entry.owner != Some(token) {
            return;
        }
        entry.owner = None;
        entry.expires = entry.taken;
        self.wake(state);
    }

    /// Counts a release and wakes the waiters, if any wait.
    fn wake(&self, mut state: MutexGuard<'_, State>) {
        state.releases += 1;
        let waiters = state.waiters;
        drop(state);
        if waiters > 0 {
            self.released.notify_waiters();
            self.released_blocking.notify_all();
        }
    }

    pub(crate) fn mark(&self) -> u64 {
        self.state().releases
    }

    /// Returns after a release since `mark`, or after `timeout`.
    pub(crate) async fn wait(&self, mark: u64, timeout: Duration) {
        let mut released = std::pin::pin!(self.released.notified());
        // Registered before the check: a release in between still wakes us.
        released.as_mut().enable();
        {
            let mut state = self.state();
            if state.releases != mark {
                return;
            }
            state.waiters += 1;
        }
        // Counted out on every exit, a dropped future included.
        let _waiting = Waiter(self);
        let _ = tokio::time::timeout(timeout, released).await;
    }

    pub(crate) fn wait_blocking(&self, mark: u64, timeout: Duration) {
        let mut state = self.state();
        state.waiters += 1;
        let (mut state, _) = self
            .released_blocking
            .wait_timeout_while(state, timeout, |state| state.releases == mark)
            .unwrap_or_else(PoisonError::into_inner);
        state.waiters -= 1;
    }
}

impl MemoryBackend {
    /// The admin API on the in-process maps. Their waiters are not per
    /// key, so no lock shows waiters.
    pub(crate) fn admin(&self, _prefix: &str, op: Op) -> Done {
        let mut state = self.state();
        let now = Instant::now();
        match op {
            Op::Locks { starts } => {
                let mut keys: Vec<String> = state
                    .locks
                    .iter()
                    .filter(|(_, entry)| entry.expires > now)
                    .map(|(key, _)| &**key)
                    .chain(
                        state
                            .results
                            .iter()
                            .filter(|(_, (_, until))| *until > now)
                            .map(|(key, _)| &**key),
                    )
                    .filter(|key| key.starts_with(&starts))
                    .map(Into::into)
                    .collect();
                keys.sort_unstable();
                keys.dedup();
                Done::Locks(keys)
            }
            Op::Inspect(keys) => {
                Done::Inspected(keys.iter().map(|key| state.raw(key, now)).collect())
            }
            Op::TakeDown {
                key,
                value,
                deadline,
            } => {
                let freed = match state.locks.get_mut(key.as_str()) {
                    Some(entry)
                        if entry.expires > now
                            && value == Entry::value(entry.owner)
                            // A cooldown by its deadline too (every
                            // cooldown has the same value); a holder by
                            // its token alone (renewal moves its deadline).
                            && (entry.owner.is_some() || deadline == deadline_of(entry.expires)) =>
                    {
                        entry.owner = None;
                        entry.expires = entry.taken;
                        true
                    }
                    _ => false,
                };
                if freed {
                    self.wake(state);
                }
                Done::TakenDown(freed)
            }
            Op::Purge { starts, dry_run } => {
                let under = |key: &str| key.starts_with(&starts);
                let mut locks: Vec<Box<str>> = state
                    .locks
                    .iter()
                    .filter(|(key, entry)| entry.expires > now && under(key))
                    .map(|(key, _)| key.clone())
                    .collect();
                let results: Vec<Box<str>> = state
                    .results
                    .iter()
                    .filter(|(key, (_, until))| *until > now && under(key))
                    .map(|(key, _)| key.clone())
                    .collect();
                let keys = (locks.len() + results.len()) as u64;
                if !dry_run {
                    for key in &locks {
                        state.locks.remove(key);
                    }
                    for key in &results {
                        state.results.remove(key);
                    }
                }
                locks.extend(results);
                locks.sort_unstable();
                locks.dedup();
                Done::Purged(locks.len() as u64, keys)
            }
        }
    }
}

/// An instant as a lock's deadline (see `Raw`): microseconds since the
/// first one asked for, in this process (any unit tells two apart).
fn deadline_of(at: Instant) -> i64 {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let start = *START.get_or_init(Instant::now);
    let before = start.checked_duration_since(at).unwrap_or_default();
    let after = at.saturating_duration_since(start);
    let ms = |d: Duration| i64::try_from(d.as_micros()).unwrap_or(i64::MAX);
    ms(after) - ms(before)
}

impl Entry {
    /// The lock's value as Redis would hold it: the owner's token, or
    /// `cooldown`.
    fn value(owner: Option<Token>) -> Vec<u8> {
        owner.map_or_else(|| b"cooldown".to_vec(), |token| token.as_bytes().to_vec())
    }
}

impl State {
    /// What the admin API reads of one key, as `inspect.lua` would.
    fn raw(&self, key: &str, now: Instant) -> Raw {
        let ms = |until: Instant| i64::try_from((until - now).as_millis()).unwrap_or(i64::MAX);
        let lock = self.locks.get(key).filter(|entry| entry.expires > now);
        let result = self.results.get(key).filter(|(_, until)| *until > now);
        Raw {
            value: lock.map_or_else(Vec::new, |entry| Entry::value(entry.owner)),
            pttl: lock.map_or(-2, |entry| ms(entry.expires)),
            waiting_pttl: -2,
            fence: self.fences.get(key).copied(),
            result_bytes: result.map_or(-1, |(payload, _)| {
                i64::try_from(payload.len()).unwrap_or(i64::MAX)
            }),
            result_pttl: result.map_or(-2, |(_, until)| ms(*until)),
            deadline: lock.map_or(-2, |entry| deadline_of(entry.expires)),
        }
    }
}

/// One async waiter, counted while it lives.
struct Waiter<'a>(&'a MemoryBackend);

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        self.0.state().waiters -= 1;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{Acquire, Ask, Finish, MemoryBackend, SWEEP_EVERY};
    use crate::token::Token;

    /// A release after the mark, before the wait: the wait returns at
    /// once (the waiter asks again), not after its timeout.
    #[tokio::test(start_paused = true)]
    async fn a_release_since_the_mark_ends_the_wait_at_once() {
        let memory = MemoryBackend::default();
        let token = Token::local();
        assert!(matches!(
            memory.acquire("k", ask(token, 1_000)),
            Acquire::Taken { .. }
        ));
        let mark = memory.mark();
        assert!(memory.finish("k", token, Finish::RELEASE));
        let started = tokio::time::Instant::now();
        memory.wait(mark, Duration::from_secs(1)).await;
        assert_eq!(started.elapsed(), Duration::ZERO);
    }

    fn ask(token: Token, ttl_ms: u64) -> Ask {
        Ask {
            token,
            ttl_ms,
            fence: false,
            replay: false,
            wait_ms: 0,
        }
    }

    /// Renewal extends only its own lock: once another owner holds the key,
    /// the old owner's extend fails and leaves the new lease as it was.
    #[tokio::test(start_paused = true)]
    async fn extend_leaves_another_owners_lock_alone() {
        let backend = MemoryBackend::default();
        let (old, new) = (Token::random(), Token::random());
        assert!(matches!(
            backend.acquire("k", ask(old, 1_000)),
            Acquire::Taken { .. }
        ));
        assert!(backend.extend("k", old, 1_000), "its own lock");
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(matches!(
            backend.acquire("k", ask(new, 5_000)),
            Acquire::Taken { .. }
        ));
        assert!(!backend.extend("k", old, 60_000), "extended another's lock");
        let Acquire::Held { retry_after, .. } = backend.acquire("k", ask(old, 1_000)) else {
            panic!("the new owner holds it");
        };
        assert_eq!(
            retry_after,
            Some(Duration::from_secs(5)),
            "its lease as it was"
        );
    }

    /// A key freed without a cooldown is never reported as cooling down,
    /// however the clock readings of threads racing for it interleave (an
    /// acquire that read the clock before a release wrote its time once saw
    /// the freed entry as a cooldown).
    #[test]
    fn a_freed_key_never_looks_like_a_cooldown() {
        const ROUNDS: usize = 20_000;
        let backend = MemoryBackend::default();
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for _ in 0..ROUNDS {
                        let token = Token::random();
                        match backend.acquire("k", ask(token, 60_000)) {
                            Acquire::Taken { .. } => {
                                assert!(backend.finish("k", token, Finish::RELEASE));
                            }
                            Acquire::Held { cooling, .. } => {
                                assert!(!cooling, "a freed key looked like a cooldown");
                            }
                            Acquire::Stored(_) => panic!("nothing was stored"),
                        }
                    }
                });
            }
        });
    }

    /// Renewal never revives a lease that ran out, even the owner's own
    /// (Redis's key would be gone): the owner has lost the lock.
    #[tokio::test(start_paused = true)]
    async fn extend_does_not_revive_an_expired_lease() {
        let backend = MemoryBackend::default();
        let owner = Token::random();
        assert!(matches!(
            backend.acquire("k", ask(owner, 1_000)),
            Acquire::Taken { .. }
        ));
        tokio::time::advance(Duration::from_millis(999)).await;
        assert!(backend.extend("k", owner, 1_000), "still ours at 999 ms");
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(
            !backend.extend("k", owner, 60_000),
            "revived an expired lease"
        );
        assert!(
            matches!(
                backend.acquire("k", ask(Token::random(), 1_000)),
                Acquire::Taken { .. }
            ),
            "the key is free"
        );
    }

    /// A waiter is counted while it waits and counted out when it is done,
    /// woken, timed out or dropped mid-wait (releases notify only while
    /// someone waits).
    #[tokio::test(start_paused = true)]
    async fn waiters_are_counted_out_on_every_exit() {
        let backend = MemoryBackend::default();
        let holder = Token::random();
        assert!(matches!(
            backend.acquire("k", ask(holder, 60_000)),
            Acquire::Taken { .. }
        ));
        // Timed out.
        backend
            .wait(backend.mark(), Duration::from_millis(10))
            .await;
        assert_eq!(backend.state().waiters, 0, "after a timeout");
        // Dropped mid-wait.
        let mut waiting = Box::pin(backend.wait(backend.mark(), Duration::from_secs(60)));
        assert!(futures_poll(&mut waiting).is_pending());
        assert_eq!(backend.state().waiters, 1, "while it waits");
        drop(waiting);
        assert_eq!(backend.state().waiters, 0, "after a drop");
        // Woken.
        let mark = backend.mark();
        let mut waiting = Box::pin(backend.wait(mark, Duration::from_secs(60)));
        assert!(futures_poll(&mut waiting).is_pending());
        assert!(backend.finish("k", holder, Finish::RELEASE));
        waiting.await;
        assert_eq!(backend.state().waiters, 0, "after a wake-up");
    }

    /// One poll with a no-op waker.
    fn futures_poll<F: std::future::Future + Unpin>(future: &mut F) -> std::task::Poll<F::Output> {
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        std::pin::Pin::new(future).poll(&mut cx)
    }

    /// Expired entries are swept once every `SWEEP_EVERY` inserts, not on
    /// every insert (a sweep walks the whole map).
    #[tokio::test(start_paused = true)]
    async fn expired_entries_are_swept_in_batches() {
        let backend = MemoryBackend::default();
        let count = || backend.state().locks.len();
        assert!(matches!(
            backend.acquire("old", ask(Token::random(), 1)),
            Acquire::Taken { .. }
        ));
        tokio::time::advance(Duration::from_millis(2)).await;
        let sweep_every = usize::try_from(SWEEP_EVERY).unwrap();
        for i in 1..sweep_every - 1 {
            let _ = backend.acquire(&format!("k{i}"), ask(Token::random(), 60_000));
        }
        assert_eq!(count(), sweep_every - 1, "swept before its turn");
        let _ = backend.acquire("last", ask(Token::random(), 60_000));
        assert_eq!(count(), sweep_every - 1, "the expired entry was swept");
        assert!(!backend.state().locks.contains_key("old"));
    }

    /// A blocking waiter is woken by a release on another thread, long
    /// before its own timeout.
    #[test]
    fn a_release_wakes_a_blocking_waiter() {
        let backend = MemoryBackend::default();
        let holder = Token::random();
        assert!(matches!(
            backend.acquire("k", ask(holder, 60_000)),
            Acquire::Taken { .. }
        ));
        let mark = backend.mark();
        std::thread::scope(|scope| {
            let waiter = scope.spawn(|| {
                let started = std::time::Instant::now();
                backend.wait_blocking(mark, Duration::from_secs(120));
                started.elapsed()
            });
            // Released once the waiter is counted (it waits from then on).
            while backend.state().waiters == 0 {
                std::thread::yield_now();
            }
            assert!(backend.finish("k", holder, Finish::RELEASE));
            let took = waiter.join().expect("the waiter");
            assert!(took < Duration::from_secs(60), "not woken: {took:?}");
        });
        assert_eq!(backend.state().waiters, 0, "counted out once woken");
        // And counted out after a timeout.
        backend.wait_blocking(backend.mark(), Duration::from_millis(1));
        assert_eq!(backend.state().waiters, 0, "counted out after a timeout");
    }
}
