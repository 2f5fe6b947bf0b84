//! The lease behind a held lock: its key, its fencing token, and whether
//! it is still ours.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::key::LockKey;

/// The lease of the lock a debounced body runs under.
///
/// Inside a `#[debounce]` body, [`lease()`](crate::lease()) returns it; elsewhere
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

    pub(crate) fn extended(&self, until: Instant) {
        *self
            .state
            .valid_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = until;
        self.notify();
    }

    /// Marks the lease lost: `true` when it was not already.
    pub(crate) fn mark_lost(&self) -> bool {
        let newly = !self.state.lost.swap(true, Ordering::SeqCst);
        if newly {
            self.notify();
        }
        newly
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
