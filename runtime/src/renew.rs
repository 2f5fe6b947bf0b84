//! The watchdog of `renew`: extends a lease every ttl/3 while the body
//! runs, on a task or (blocking callers of the in-process backend) a
//! thread, until `max_hold` or a renewal that finds the lock not ours.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use tokio::time::Instant;

use crate::backend::Mode;
use crate::token::Token;
use crate::{Debouncer, Lease};

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
    /// The call's, for metric labels and the events of renewal.
    pub(crate) site: &'static crate::observe::Site,
    pub(crate) span: tracing::Span,
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
                let valid = self.debouncer.backend().validity(Duration::from_millis(ms));
                self.lease.extended(now + valid);
                true
            }
            Ok(false) => {
                // Not when the call itself ended meanwhile (its release won).
                if self.lease.mark_lost() {
                    self.debouncer.observer().lost(self.site);
                    tracing::warn!(
                        "redis-debounce: the lock was lost while its body ran (renewal found it gone or someone else's)"
                    );
                }
                false
            }
            Err(error) => {
                // The lease may still be ours: try again next time; the
                // clock marks it lost if it runs out meanwhile.
                let error = self.debouncer.observer().error(&error);
                tracing::warn!(%error, "redis-debounce: lease renewal failed; trying again");
                true
            }
        }
    }

    /// Starts renewing: for Redis on the runtime of the `Debouncer`'s
    /// connection (it outlives the caller's); for the in-process backend
    /// on the caller's runtime, or on a thread of its own for blocking
    /// callers.
    pub(crate) fn start(self, mode: Mode) -> Option<Watchdog> {
        let runtime = match self.debouncer.backend().runtime() {
            Some(Ok(runtime)) => Some(runtime.clone()),
            Some(Err(error)) => {
                tracing::warn!(%error, "redis-debounce: cannot start renewal; the lease will not be renewed");
                return None;
            }
            None => match mode {
                Mode::Async => tokio::runtime::Handle::try_current().ok(),
                Mode::Blocking => None,
            },
        };
        if let Some(runtime) = runtime {
            let span = self.span.clone();
            let task = runtime.spawn(tracing::Instrument::instrument(self.run(), span));
            return Some(Watchdog::Task(task.abort_handle()));
        }
        let (stop, stopped) = mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("redis-debounce-renew".into())
            .spawn(move || self.span.clone().in_scope(|| self.run_blocking(&stopped)));
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
    use crate::key::LockKey;
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
            site: &crate::observe::PROGRAMMATIC,
            span: tracing::Span::none(),
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
