//! The lease behind a held lock: its key, its fencing token, whether it is
//! still ours, and the watchdog that renews it (`renew`).

use std::cell::RefCell;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::backend::{Backend, Mode};
use crate::debouncer::LockKey;
use crate::token::Token;
use crate::{Debouncer, LockGuard};

/// The lease of the lock a debounced body runs under.
///
/// Inside a `#[debounce]` body, [`lease()`] returns it; elsewhere
/// [`LockGuard::lease`](crate::LockGuard::lease) does. It tells the key,
/// the fencing token (with `fence`), and whether the lock is still ours:
/// with `renew`, a renewal that finds the lock gone or someone else's
/// marks the lease lost at once; without it, the lease is lost when its
/// time runs out. It is also lost once the call ends.
///
/// ```
/// use redis_debounce::{debounce, lease, Busy, Debouncer};
///
/// #[debounce(key = "report:{day}", ttl = "2s", renew, fence, busy = Err(()))]
/// async fn report(day: u32, ledger: &mut Vec<u64>) -> Result<(), ()> {
///     let lease = lease().expect("inside a debounced body");
///     assert_eq!(lease.key(), format!("report:{day}"));
///     assert!(!lease.is_lost());
///     // Writes carry the token; storage rejects tokens older than the last seen.
///     ledger.push(lease.fence().expect("asked for with `fence`"));
///     Ok(())
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// redis_debounce::install(Debouncer::memory());
/// let mut ledger = Vec::new();
/// report(1, &mut ledger).await.unwrap();
/// report(1, &mut ledger).await.unwrap();
/// assert!(ledger[0] < ledger[1], "fencing tokens strictly increase");
/// assert!(lease().is_none(), "outside a debounced body");
/// # }
/// ```
#[derive(Clone)]
pub struct Lease {
    state: Arc<LeaseState>,
}

pub(crate) struct LeaseState {
    pub(crate) key: LockKey,
    fence: Option<u64>,
    lost: AtomicBool,
    /// Whether anyone awaits [`Lease::lost`]: only then does a change notify.
    watched: AtomicBool,
    /// When the lease runs out by our clock, measured from before the
    /// request that set it (so never later than the server's).
    valid_until: Mutex<Instant>,
    changed: Notify,
}

impl fmt::Debug for Lease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lease")
            .field("key", &self.key())
            .field("fence", &self.fence())
            .field("lost", &self.is_lost())
            .finish()
    }
}

impl Lease {
    pub(crate) fn new(key: LockKey, fence: Option<u64>, valid_until: Instant) -> Self {
        Lease {
            state: Arc::new(LeaseState {
                key,
                fence,
                lost: AtomicBool::new(false),
                watched: AtomicBool::new(false),
                valid_until: Mutex::new(valid_until),
                changed: Notify::new(),
            }),
        }
    }

    pub(crate) fn full_key(&self) -> &str {
        &self.state.key.full
    }

    /// The key, without the Redis prefix.
    #[must_use]
    pub fn key(&self) -> &str {
        self.state.key.logical()
    }

    /// The fencing token handed out with this lock (`fence`): every holder
    /// of the key gets a larger one than all before it, including holders
    /// whose lease ran out. On Redis a token is never below the server's
    /// clock in microseconds, so it keeps increasing across a restart that
    /// lost the counter, or a failover to a replica that lagged (as long as
    /// the servers' clocks do not go back). Pass it with every write the lock protects and
    /// have the storage reject tokens older than the newest it has seen
    /// (Kleppmann's fencing). `None` when not asked for.
    #[must_use]
    pub fn fence(&self) -> Option<u64> {
        self.state.fence
    }

    /// Whether the lock may no longer be ours: a renewal found it gone or
    /// someone else's (a failover, a manual delete), the lease ran out, or
    /// the call ended.
    #[must_use]
    pub fn is_lost(&self) -> bool {
        self.state.lost.load(Ordering::SeqCst) || Instant::now() >= self.valid_until()
    }

    /// Completes when the lease is lost (see [`is_lost`](Self::is_lost)):
    /// `select!` on it to stop work that must not run without the lock.
    pub async fn lost(&self) {
        self.state.watched.store(true, Ordering::SeqCst);
        loop {
            let mut changed = std::pin::pin!(self.state.changed.notified());
            // Registered before the check, so a change in between wakes us.
            changed.as_mut().enable();
            if self.is_lost() {
                return;
            }
            let _ = tokio::time::timeout_at(self.valid_until(), changed).await;
        }
    }

    pub(crate) fn valid_until(&self) -> Instant {
        *self
            .state
            .valid_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn extended(&self, until: Instant) {
        *self
            .state
            .valid_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = until;
        self.notify();
    }

    pub(crate) fn mark_lost(&self) {
        self.state.lost.store(true, Ordering::SeqCst);
        self.notify();
    }

    /// Wakes the [`lost`](Self::lost) futures, if any: `lost` marks itself
    /// watched before it checks, so either it sees the change or this sees
    /// it watching.
    fn notify(&self) {
        if self.state.watched.load(Ordering::SeqCst) {
            self.state.changed.notify_waiters();
        }
    }
}

tokio::task_local! {
    /// The guard of the async debounced body this task runs (`None`: it
    /// runs unlocked). The guard itself lives here while the body runs, so
    /// its lease is made only if the body asks for it.
    static TASK_BODY: Option<LockGuard>;
}

thread_local! {
    /// The guard of the sync debounced body running on this thread. A sync
    /// body cannot be suspended, so this wins over the task's: it is the
    /// innermost body.
    static THREAD_BODY: RefCell<SyncBody> = const { RefCell::new(SyncBody::Outside) };
}

/// Where this thread is, for [`lease()`].
#[derive(Debug)]
enum SyncBody {
    /// Not in a sync debounced body.
    Outside,
    /// In one, with its guard (`None`: it runs unlocked).
    Inside(Option<LockGuard>),
}

/// The lease of the debounced body this is called from: `None` outside
/// one, and in a body that runs unlocked (`on_error = "allow"` after a
/// backend failure). See [`Lease`].
#[must_use]
pub fn lease() -> Option<Lease> {
    let of = |guard: &Option<LockGuard>| guard.as_ref().map(|guard| guard.lease().clone());
    let sync_body = THREAD_BODY
        .try_with(|body| match &*body.borrow() {
            SyncBody::Inside(guard) => Some(of(guard)),
            SyncBody::Outside => None,
        })
        .ok()
        .flatten();
    match sync_body {
        Some(lease) => lease,
        None => TASK_BODY.try_with(of).ok().flatten(),
    }
}

/// Runs `body` with `guard` as the task's current one, and gives the guard
/// back with the body's value. A future dropped mid-body drops the guard
/// with it, which releases the lock.
pub(crate) async fn scope<F: Future>(
    guard: Option<LockGuard>,
    body: F,
) -> (F::Output, Option<LockGuard>) {
    let mut scoped = std::pin::pin!(TASK_BODY.scope(guard, body));
    let output = scoped.as_mut().await;
    (output, scoped.take_value().flatten())
}

/// Makes `guard` the thread's current one until [`Entered::leave`], or
/// until the returned value drops (and the guard with it: a `return`, `?`
/// or panic in the body releases the lock).
pub(crate) fn enter(guard: Option<LockGuard>, confirm: bool) -> Entered {
    Entered {
        previous: Some(THREAD_BODY.with(|current| current.replace(SyncBody::Inside(guard)))),
        confirm,
    }
}

/// A sync body's guard, held by the thread while the body runs.
#[derive(Debug)]
pub struct Entered {
    /// What the thread had before; `None` once restored.
    previous: Option<SyncBody>,
    /// Dropped with the guard, it waits until Redis ran the release
    /// (`confirm` on a sync fn whose body is not wrapped).
    confirm: bool,
}

impl Entered {
    /// Restores the thread's previous body and gives this one's guard back.
    pub(crate) fn leave(mut self) -> Option<LockGuard> {
        self.restore()
    }

    fn restore(&mut self) -> Option<LockGuard> {
        let previous = self.previous.take()?;
        match THREAD_BODY.try_with(|current| current.replace(previous)) {
            Ok(SyncBody::Inside(guard)) => guard,
            Ok(SyncBody::Outside) | Err(_) => None,
        }
    }
}

impl Drop for Entered {
    fn drop(&mut self) {
        let guard = self.restore();
        if let (true, Some(guard)) = (self.confirm, guard) {
            guard.release_confirmed_blocking();
        }
    }
}

/// Renews a lease every ttl/3 until stopped (dropped), until `max_hold`,
/// or until a renewal finds the lock no longer ours.
#[derive(Debug)]
pub(crate) enum Watchdog {
    Task(tokio::task::AbortHandle),
    /// Dropping the sender wakes the thread, which then ends.
    Thread(#[allow(dead_code, reason = "held for its drop")] mpsc::Sender<()>),
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        if let Watchdog::Task(task) = self {
            task.abort();
        }
    }
}

/// What a watchdog renews, and until when.
pub(crate) struct Renewal {
    pub(crate) debouncer: Debouncer,
    pub(crate) lease: Lease,
    pub(crate) token: Token,
    pub(crate) ttl_ms: u64,
    /// Renewal stops here (`max_hold`); the lease then runs out by itself.
    pub(crate) stop_at: Option<Instant>,
}

impl Renewal {
    fn every(&self) -> Duration {
        Duration::from_millis((self.ttl_ms / 3).max(1))
    }

    /// The lease to set now, never past `stop_at`; `None` when renewal is over.
    fn next_lease(&self, now: Instant) -> Option<u64> {
        let Some(stop_at) = self.stop_at else {
            return Some(self.ttl_ms);
        };
        let left = u64::try_from(stop_at.saturating_duration_since(now).as_millis()).ok()?;
        (left > 0).then_some(left.min(self.ttl_ms))
    }

    /// Records one renewal's answer: `false` when renewal must stop.
    fn renewed(&self, now: Instant, ms: u64, answer: Result<bool, crate::Error>) -> bool {
        match answer {
            Ok(true) => {
                self.lease.extended(now + Duration::from_millis(ms));
                true
            }
            Ok(false) => {
                // Not when the call itself ended meanwhile (its release won).
                if !self.lease.state.lost.swap(true, Ordering::SeqCst) {
                    tracing::warn!(
                        key = self.lease.key(),
                        "redis-debounce: the lock was lost while its body ran (renewal found it gone or someone else's)"
                    );
                    self.lease.notify();
                }
                false
            }
            Err(error) => {
                // The lease may still be ours: try again next time; the
                // clock marks it lost if it runs out meanwhile.
                tracing::warn!(key = self.lease.key(), %error, "redis-debounce: lease renewal failed");
                true
            }
        }
    }

    /// Starts renewing: for Redis on the runtime of the `Debouncer`'s
    /// connection (it outlives the caller's); for the in-process backend
    /// on the caller's runtime, or on a thread of its own for blocking
    /// callers.
    pub(crate) fn start(self, mode: Mode) -> Option<Watchdog> {
        let runtime = match self.debouncer.backend() {
            Backend::Redis(redis) => match redis.runtime() {
                Ok(runtime) => Some(runtime.clone()),
                Err(error) => {
                    tracing::warn!(%error, "redis-debounce: cannot start renewal; the lease will not be renewed");
                    return None;
                }
            },
            Backend::Memory(_) => match mode {
                Mode::Async => tokio::runtime::Handle::try_current().ok(),
                Mode::Blocking => None,
            },
        };
        if let Some(runtime) = runtime {
            return Some(Watchdog::Task(runtime.spawn(self.run()).abort_handle()));
        }
        let (stop, stopped) = mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("redis-debounce-renew".into())
            .spawn(move || self.run_blocking(&stopped));
        match spawned {
            Ok(_) => Some(Watchdog::Thread(stop)),
            Err(error) => {
                tracing::warn!(%error, "redis-debounce: cannot start the renewal thread; the lease will not be renewed");
                None
            }
        }
    }

    async fn run(self) {
        loop {
            tokio::time::sleep(self.every()).await;
            let now = Instant::now();
            let Some(ms) = self.next_lease(now) else {
                return;
            };
            let key = self.lease.full_key();
            let answer = self.debouncer.backend().extend(key, self.token, ms).await;
            if !self.renewed(now, ms, answer) {
                return;
            }
        }
    }

    fn run_blocking(self, stopped: &mpsc::Receiver<()>) {
        while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(self.every()) {
            let now = Instant::now();
            let Some(ms) = self.next_lease(now) else {
                return;
            };
            let key = self.lease.full_key();
            let answer =
                crate::blocking::block_on(self.debouncer.backend().extend(key, self.token, ms));
            if !self.renewed(now, ms, answer) {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::time::Instant;

    use super::{Lease, Renewal};
    use crate::Debouncer;
    use crate::debouncer::LockKey;
    use crate::token::Token;

    /// Each renewal sets a full lease, except the last before `max_hold`,
    /// which sets only what is left; at `max_hold` renewal is over (a zero
    /// lease would delete the key in Redis).
    #[test]
    fn renewal_never_sets_a_lease_past_max_hold() {
        let now = Instant::now();
        let renewal = |stop_at| Renewal {
            debouncer: Debouncer::memory(),
            lease: Lease::new(LockKey::from_str("p:", "k"), None, now),
            token: Token::random(),
            ttl_ms: 3000,
            stop_at,
        };
        assert_eq!(renewal(None).next_lease(now), Some(3000));
        let capped = renewal(Some(now + Duration::from_millis(1500)));
        assert_eq!(capped.next_lease(now), Some(1500));
        assert_eq!(
            capped.next_lease(now + Duration::from_millis(1499)),
            Some(1)
        );
        assert_eq!(capped.next_lease(now + Duration::from_millis(1500)), None);
        assert_eq!(capped.next_lease(now + Duration::from_secs(9)), None);
        assert_eq!(capped.every(), Duration::from_secs(1));
    }
}
