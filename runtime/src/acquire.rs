//! The one acquire loop: a request's policy, the ask, the wait for a
//! release (woken, or a jittered back-off), and the guard it grants.

use std::time::Duration;

use tokio::time::Instant;
use tracing::Span;

use crate::backend::{self, Acquire, Ask, Backend, Mode};
use crate::key::LockKey;
use crate::observe::{Outcome, Site, Started};
use crate::renew::Renewal;
use crate::token::Token;
use crate::{Busy, Debouncer, Error, LockGuard};

impl Debouncer {
    /// Takes `key` under `policy`, waiting if it says so. `mode` tells
    /// how the caller waits (see [`Mode`]).
    pub(crate) async fn acquire(
        &self,
        key: LockKey,
        policy: &Policy,
        mode: Mode,
    ) -> Result<Granted, Busy> {
        let observer = self.observer();
        let span = observer.span(policy.site, key.logical());
        let started = Started::now();
        // The loop is written out here, not a future of its own (which
        // every call would move once more); the span is entered for the
        // events of the outcome, and the body runs in it.
        let granted = 'take: {
            let (mut ask, mut waiting) = match policy.start(&key, self.backend()) {
                Ok(start) => start,
                Err(busy) => break 'take Err(busy),
            };
            loop {
                // Only a waiter needs the mark (one more trip to the state).
                let mark = if policy.wait.is_some() {
                    self.backend().mark()
                } else {
                    0
                };
                let asked = waiting.ask(ask);
                // In the call's span when a subscriber wants it (the
                // backend's own events then name the key).
                let answer = if span.is_disabled() {
                    self.backend().acquire(&key.full, asked).await
                } else {
                    let acquiring = self.backend().acquire(&key.full, asked);
                    tracing::Instrument::instrument(acquiring, span.clone()).await
                };
                let timeout = match waiting.step(&key, answer) {
                    Step::Taken(fence, taken_at) => {
                        let taken_at = taken_at.unwrap_or_else(|| waiting.last_ask());
                        let taken = (fence, taken_at);
                        break 'take Ok(self.granted(key, asked, taken, policy, mode, &span));
                    }
                    Step::Done(done) => break 'take done,
                    Step::Wait(timeout) => timeout,
                    Step::Again(error) => {
                        // While any of the wait is left: a stall that ends
                        // inside it does not end it (a try may then run past
                        // the deadline by up to one response timeout).
                        if waiting.left().is_zero() {
                            break 'take Err(Busy::unavailable(key.logical().into(), error));
                        }
                        ask.token = Token::random();
                        continue;
                    }
                };
                let counted = observer.waiting(policy.site);
                let woken = if span.is_disabled() {
                    self.backend().wait(&key.full, mark, timeout, mode).await
                } else {
                    let waiting = self.backend().wait(&key.full, mark, timeout, mode);
                    tracing::Instrument::instrument(waiting, span.clone()).await
                };
                drop(counted);
                if let Err(error) = woken {
                    break 'take Err(Busy::unavailable(key.logical().into(), error));
                }
            }
        };
        let outcome = match &granted {
            Ok(Granted::Lock(_)) => Outcome::Acquired,
            Ok(Granted::Stored(..)) => Outcome::Replayed,
            Err(busy) if busy.is_cooling_down() => Outcome::CoolingDown,
            Err(busy) if busy.error().is_none() => Outcome::Busy,
            Err(_) if policy.unlocked => Outcome::RanUnlocked,
            Err(_) => Outcome::Unavailable,
        };
        observer.decided(&span, policy.site, outcome, started);
        if outcome != Outcome::Acquired {
            crate::observe::within(&span, || log(&granted, outcome, observer));
        }
        granted
    }

    /// The blocking form of [`acquire`](Self::acquire).
    pub(crate) fn acquire_blocking(&self, key: LockKey, policy: &Policy) -> Result<Granted, Busy> {
        crate::blocking::block_on(self.acquire(key, policy, Mode::Blocking))
    }

    fn granted(
        &self,
        key: LockKey,
        ask: Ask,
        (fence, taken_at): (Option<u64>, Instant),
        policy: &Policy,
        mode: Mode,
        span: &Span,
    ) -> Granted {
        let valid_until = taken_at + self.backend().validity(Duration::from_millis(ask.ttl_ms));
        let mut guard = LockGuard::new(self.clone(), key, ask.token, fence, valid_until);
        guard.granted_at(taken_at);
        guard.observed(policy.site, span.clone());
        if policy.renew {
            let watchdog = Renewal {
                debouncer: self.clone(),
                lease: guard.lease().clone(),
                token: ask.token,
                ttl_ms: ask.ttl_ms,
                stop_at: policy.max_hold.map(|max_hold| taken_at + max_hold),
                site: policy.site,
                span: span.clone(),
            }
            .start(mode);
            guard.watch(watchdog);
        }
        Granted::Lock(guard)
    }
}

/// The event of an outcome other than acquired.
fn log(granted: &Result<Granted, Busy>, outcome: Outcome, observer: &crate::observe::Observer) {
    match granted {
        Err(busy) => match busy.error().map(|error| observer.error(error)) {
            Some(error) if outcome == Outcome::Unavailable => {
                tracing::warn!(%error, "redis-debounce: the backend failed; the call is turned away");
            }
            Some(error) => {
                tracing::warn!(%error, "redis-debounce: the backend failed; running without the lock (on_error = \"allow\")");
            }
            None => tracing::debug!(
                retry_after = ?busy.retry_after(),
                "redis-debounce: the key is taken; the call is turned away"
            ),
        },
        Ok(Granted::Stored(..)) => {
            tracing::debug!("redis-debounce: a stored result answers the call");
        }
        Ok(Granted::Lock(_)) => {}
    }
}

/// What a lock request asks for beyond the lease (the attribute's policy
/// arguments).
#[derive(Debug, Clone)]
#[allow(clippy::struct_excessive_bools, reason = "the attribute's flags")]
pub(crate) struct Policy {
    pub(crate) ttl: Duration,
    pub(crate) wait: Option<Duration>,
    pub(crate) renew: bool,
    pub(crate) max_hold: Option<Duration>,
    pub(crate) fence: bool,
    pub(crate) replay: bool,
    /// Where the call comes from: its fn's name and key template, for
    /// spans and metric labels.
    pub(crate) site: &'static Site,
    /// A backend failure runs the body unlocked (`on_error = "allow"`).
    pub(crate) unlocked: bool,
}

impl Policy {
    /// The first request, or the configuration error that stops it.
    fn start(&self, key: &LockKey, backend: &Backend) -> Result<(Ask, Waiting), Busy> {
        self.check(backend)
            .map(|ask| (ask, Waiting::new(self.wait)))
            .map_err(|error| Busy::unavailable(key.logical().into(), error))
    }

    fn check(&self, backend: &Backend) -> Result<Ask, Error> {
        let ttl_ms = backend::lease_ms(self.ttl)?;
        if let Some(wait) = self.wait {
            backend::millis(wait, "the wait")?;
        }
        if let Some(error) = max_hold_error(self.ttl, self.renew, self.max_hold) {
            return Err(Error::config(error));
        }
        let token = match backend {
            Backend::Memory(_) => Token::local(),
            Backend::Redis(_) => Token::random(),
            #[cfg(feature = "redlock")]
            Backend::Redlock(_) => Token::random(),
        };
        Ok(Ask {
            token,
            ttl_ms,
            fence: self.fence,
            replay: self.replay,
            wait_ms: 0,
        })
    }
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            ttl: Duration::ZERO,
            wait: None,
            renew: false,
            max_hold: None,
            fence: false,
            replay: false,
            site: &crate::observe::PROGRAMMATIC,
            unlocked: false,
        }
    }
}

/// The rule of `renew` and `max_hold`, written once: the programmatic API
/// checks it at run time, `#[debounce]` at compile time (a constant the
/// expansion evaluates). `None` when the combination holds.
#[must_use]
pub const fn max_hold_error(
    ttl: Duration,
    renew: bool,
    max_hold: Option<Duration>,
) -> Option<&'static str> {
    match max_hold {
        Some(_) if !renew => {
            Some("`max_hold` bounds renewal and needs `renew`: without it the lease ends at `ttl`")
        }
        Some(max_hold) if max_hold.as_nanos() < ttl.as_nanos() => {
            Some("`max_hold` is shorter than `ttl`: the first lease already outlasts it")
        }
        _ => None,
    }
}

/// What an acquire gave.
#[derive(Debug)]
pub(crate) enum Granted {
    Lock(LockGuard),
    /// A stored result (`replay`), and the key it answers.
    Stored(Vec<u8>, String),
}

/// What to do after one acquire's answer.
enum Step {
    Taken(Option<u64>, Option<Instant>),
    Done(Result<Granted, Busy>),
    Wait(Duration),
    /// The acquire timed out inside the wait: ask again at once, with a
    /// fresh token (the timed-out one's undo may still be on its way),
    /// while the wait has time left.
    Again(Error),
}

/// The first re-check of a waiter that got no wake-up; doubled up to
/// [`MAX_BACKOFF`], with jitter.
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// A caller's wait for a held key: until when, and how long to sleep
/// between two asks when no wake-up comes.
#[derive(Debug)]
struct Waiting {
    /// How long to wait in all, until the first ask sets `deadline`.
    wait: Option<Duration>,
    deadline: Option<Instant>,
    backoff: Duration,
    /// When the last acquire was sent: a lease taken by it started no
    /// earlier.
    last_ask: Option<Instant>,
}

impl Waiting {
    /// No clock read here: the first [`ask`](Self::ask) reads it once.
    fn new(wait: Option<Duration>) -> Self {
        Waiting {
            wait,
            deadline: None,
            backoff: FIRST_BACKOFF,
            last_ask: None,
        }
    }

    /// When the last acquire was sent.
    fn last_ask(&self) -> Instant {
        self.last_ask.unwrap_or_else(Instant::now)
    }

    /// The next acquire: it tells how long this caller still waits.
    fn ask(&mut self, ask: Ask) -> Ask {
        let now = Instant::now();
        self.last_ask = Some(now);
        if self.deadline.is_none() {
            self.deadline = self.wait.map(|wait| now + wait);
        }
        let wait_ms = self.deadline.map_or(0, |deadline| {
            let left = deadline.saturating_duration_since(now).as_millis();
            u64::try_from(left).unwrap_or(u64::MAX).max(1)
        });
        Ask { wait_ms, ..ask }
    }

    /// How long the wait has left (nothing without one).
    fn left(&self) -> Duration {
        self.deadline.map_or(Duration::ZERO, |deadline| {
            deadline.saturating_duration_since(Instant::now())
        })
    }

    fn step(&mut self, key: &LockKey, answer: Result<Acquire, Error>) -> Step {
        let (retry_after, cooling) = match answer {
            Ok(Acquire::Taken { fence, asked }) => {
                return Step::Taken(fence, asked.map(Instant::from_std));
            }
            Ok(Acquire::Stored(stored)) => {
                return Step::Done(Ok(Granted::Stored(stored, key.logical().into())));
            }
            Ok(Acquire::Held {
                retry_after,
                cooling,
            }) => (retry_after, cooling),
            // A stall (a freeze of Redis, a slow network) shorter than the
            // wait does not end it (the caller asks again while any of the
            // wait is left).
            Err(error @ Error::Timeout { .. }) => return Step::Again(error),
            Err(error) => return Step::Done(Err(Busy::unavailable(key.logical().into(), error))),
        };
        let now = Instant::now();
        match self.deadline {
            Some(deadline) if deadline > now => {
                // Woken by a release, or else by this back-off: never later
                // than the holder's lease or our deadline.
                let mut sleep = self.backoff.mul_f64(jitter());
                self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
                if let Some(retry_after) = retry_after {
                    sleep = sleep.min(retry_after + Duration::from_millis(1));
                }
                Step::Wait(sleep.min(deadline - now))
            }
            _ => Step::Done(Err(Busy::held(key.logical().into(), retry_after, cooling))),
        }
    }
}

/// A factor in [0.5, 1): waiters that missed the same wake-up spread out.
fn jitter() -> f64 {
    #[allow(clippy::cast_precision_loss, reason = "53 random bits")]
    let unit = (crate::token::next_u64() >> 11) as f64 / (1_u64 << 53) as f64;
    0.5 + unit / 2.0
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::max_hold_error;

    /// `max_hold` needs `renew`, and may equal `ttl` (one lease, no
    /// renewal past it); only a shorter one is refused.
    #[test]
    fn max_hold_needs_renew_and_may_equal_the_ttl() {
        let s = Duration::from_secs;
        assert_eq!(max_hold_error(s(30), true, None), None);
        assert_eq!(max_hold_error(s(30), false, None), None);
        assert!(
            max_hold_error(s(30), false, Some(s(60))).is_some_and(|e| e.contains("needs `renew`"))
        );
        assert_eq!(max_hold_error(s(30), true, Some(s(30))), None);
        assert_eq!(max_hold_error(s(30), true, Some(s(31))), None);
        assert!(
            max_hold_error(s(30), true, Some(Duration::from_nanos(29_999_999_999)))
                .is_some_and(|e| e.contains("shorter"))
        );
    }

    /// Waiters that missed one wake-up sleep between half and all of
    /// their back-off, spread over the whole range.
    #[test]
    fn jitter_spreads_over_half_to_all_of_the_backoff() {
        let samples: Vec<f64> = (0..10_000).map(|_| super::jitter()).collect();
        assert!(
            samples.iter().all(|j| (0.5..1.0).contains(j)),
            "{:?}",
            samples.iter().find(|j| !(0.5..1.0).contains(*j))
        );
        assert!(samples.iter().any(|j| *j < 0.55), "the low end");
        assert!(samples.iter().any(|j| *j > 0.95), "the high end");
    }
}
