//! One debounced call, as the `#[debounce]` expansion runs it: its options,
//! its key, the acquire and what it decides (run, replay, busy, or run
//! unlocked under `on_error = "allow"`), and the finish once the body has
//! a value.

use std::fmt;
use std::time::Duration;

use crate::acquire::{Granted, Policy};
use crate::backend::Finish;
use crate::key::LockKey;
use crate::stored::{Fingerprint, Payload, Record};
use crate::{Busy, Debouncer, Error, LockGuard};

/// What to do when the backend fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnError {
    /// Turn the call away: the busy path, with the error in the `Busy`.
    Reject,
    /// Run the body without the lock, and log a warning.
    Allow,
}

/// The attribute's arguments, checked at compile time.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// The lease (`ttl`).
    pub ttl: Duration,
    /// `wait`.
    pub wait: Option<Duration>,
    /// `renew`.
    pub renew: bool,
    /// `max_hold`.
    pub max_hold: Option<Duration>,
    /// `fence`.
    pub fence: bool,
    /// `cooldown`.
    pub cooldown: Option<Duration>,
    /// `replay`: how long a result is kept.
    pub replay: Option<Duration>,
    /// The stored result's type identity (`replay`): the return type as
    /// the source spells it.
    pub stored_as: &'static str,
    /// `on_error`.
    pub on_error: OnError,
    /// The fn's name and key template (a static of the expansion): for
    /// its span and its metrics.
    pub site: &'static crate::observe::Site,
}

/// One debounced call between its key and its lock.
#[derive(Debug)]
pub struct Call {
    state: Result<(Debouncer, LockKey), Busy>,
    policy: Policy,
    on_error: OnError,
    end: End,
}

/// How a call ends once its body has a value (`cooldown`, `replay`).
#[derive(Debug, Clone, Copy)]
pub struct End {
    cooldown: Option<Duration>,
    replay: Option<Duration>,
    stored_as: &'static str,
    fingerprint: Option<Fingerprint>,
}

/// Resolves the `Debouncer` and renders the key, before anything awaits (a
/// `fmt::Arguments` held across an await would make the future `!Send`).
#[must_use]
pub fn call(
    using: Option<&Debouncer>,
    key: fmt::Arguments<'_>,
    options: Options,
    fingerprint: Option<fmt::Arguments<'_>>,
) -> Call {
    let debouncer = match using {
        Some(debouncer) => Some(debouncer.clone()),
        None => crate::installed(),
    };
    let state = match debouncer {
        Some(debouncer) => match debouncer.key(key) {
            Ok(key) => Ok((debouncer, key)),
            Err(error) => Err(Busy::unavailable(render(key), error)),
        },
        None => Err(Busy::unavailable(render(key), Error::NotInstalled)),
    };
    Call {
        state,
        policy: Policy {
            ttl: options.ttl,
            wait: options.wait,
            renew: options.renew,
            max_hold: options.max_hold,
            fence: options.fence,
            replay: options.replay.is_some(),
            site: options.site,
            unlocked: options.on_error == OnError::Allow,
        },
        on_error: options.on_error,
        end: End {
            cooldown: options.cooldown,
            replay: options.replay,
            stored_as: options.stored_as,
            fingerprint: fingerprint.map(Fingerprint::of),
        },
    }
}

fn render(key: fmt::Arguments<'_>) -> String {
    let mut out = String::new();
    // On a failing Display the key is left partial: it only names the call.
    let _ = fmt::write(&mut out, key);
    out
}

/// How a debounced call starts.
#[derive(Debug)]
pub enum Start<R> {
    /// Run the body: locked, or unlocked with `None` (`on_error = "allow"`
    /// after a backend failure).
    Run(Option<LockGuard>),
    /// Return this stored result of an earlier call (`replay`).
    Replayed(R),
}

/// How a stored result becomes the function's value: given the stored
/// result and the type identity it must have been stored under.
pub trait Decode<R>: FnOnce(&Record<'_>, &'static str) -> Result<R, Error> {}

impl<R, F: FnOnce(&Record<'_>, &'static str) -> Result<R, Error>> Decode<R> for F {}

impl Call {
    /// How the call ends, kept for after the body (it is Copy).
    #[must_use]
    pub fn end(&self) -> End {
        self.end
    }

    /// Takes the lock (waits, replays, ... as the options say).
    ///
    /// # Errors
    ///
    /// The `Busy` that becomes the function's busy value.
    pub async fn acquire<R>(self, decode: impl Decode<R>) -> Result<Start<R>, Busy> {
        let (debouncer, key) = self.state?;
        let granted = debouncer
            .acquire(key, &self.policy, crate::backend::Mode::Async)
            .await;
        decide(granted, decode, self.on_error, &self.end)
    }

    /// The blocking form of [`acquire`](Self::acquire), for sync fns.
    ///
    /// # Errors
    ///
    /// The `Busy` that becomes the function's busy value.
    pub fn acquire_blocking<R>(self, decode: impl Decode<R>) -> Result<Start<R>, Busy> {
        let (debouncer, key) = self.state?;
        let granted = debouncer.acquire_blocking(key, &self.policy);
        decide(granted, decode, self.on_error, &self.end)
    }
}

/// The `decode` of a call without `replay`: never called, as no stored
/// result is asked for.
///
/// # Errors
///
/// Always a configuration error.
pub fn no_replay<R>(_: &Record<'_>, _: &'static str) -> Result<R, Error> {
    Err(Error::config(
        "a stored result came back for a call without replay",
    ))
}

fn decide<R>(
    granted: Result<Granted, Busy>,
    decode: impl Decode<R>,
    on_error: OnError,
    end: &End,
) -> Result<Start<R>, Busy> {
    let busy = match granted {
        Ok(Granted::Lock(guard)) => return Ok(Start::Run(Some(guard))),
        Ok(Granted::Stored(stored, key)) => {
            // Not subject to `on_error`: the call did run already, so
            // running the body again would be the duplicate.
            let record = Record::read(&stored).map_err(|e| Busy::unavailable(key.clone(), e))?;
            if record.is_for_another_request(end.fingerprint) {
                return Err(Busy::mismatch(key));
            }
            return decode(&record, end.stored_as)
                .map(Start::Replayed)
                .map_err(|error| Busy::unavailable(key, error));
        }
        Err(busy) => busy,
    };
    match (on_error, busy.error()) {
        // Logged and counted as `ran_unlocked` by the acquire.
        (OnError::Allow, Some(_)) => Ok(Start::Run(None)),
        _ => Err(busy),
    }
}

impl End {
    /// After the body: with a successful outcome and a cooldown, the key
    /// stays taken for the window; a `stored` result is kept for the
    /// replay window; otherwise the lock is released.
    /// [`Finishing::settle`] hands that over.
    pub fn finish(
        self,
        guard: Option<LockGuard>,
        succeeded: bool,
        stored: Option<Payload>,
    ) -> Finishing {
        let Some(guard) = guard else {
            return Finishing(None);
        };
        let max = guard.debouncer().max_stored_result();
        let store = self.replay.zip(stored).and_then(|(window, payload)| {
            let framed = payload.frame(self.fingerprint, self.stored_as);
            if framed.len() > max {
                // In the call's span, which shows the key (or not).
                crate::observe::within(guard.span(), || {
                    tracing::warn!(
                        bytes = framed.len(),
                        max,
                        "redis-debounce: the result is larger than max_stored_result and is not stored for replay"
                    );
                });
                return None;
            }
            Some((framed, millis(window)))
        });
        let finish = Finish {
            cooldown_ms: self.cooldown.filter(|_| succeeded).map(millis),
            store,
        };
        Finishing(Some((guard, finish)))
    }
}

/// A window checked at compile time (at most 100 years) in milliseconds.
fn millis(window: Duration) -> u64 {
    u64::try_from(window.as_millis()).unwrap_or(u64::MAX)
}

/// A plain release, for a call without `cooldown` or `replay`.
pub fn release(guard: Option<LockGuard>) -> Finishing {
    Finishing(guard.map(|guard| (guard, Finish::RELEASE)))
}

/// How a call gives its lock up, once its body has a value.
#[derive(Debug)]
#[must_use = "settle it, or the lock is released by the guard's drop without the finish"]
pub struct Finishing(Option<(LockGuard, Finish)>);

impl Finishing {
    /// Hands the finish over; with `confirm`, waits until Redis ran it (a
    /// web handler's response then never leaves before its release or
    /// stored result, so the client's next request, to any instance, never
    /// meets the lock). A failure to confirm is not the call's: the body
    /// ran, the release stays queued and is sent again after a reconnect.
    pub async fn settle(self, confirm: bool) {
        let Finishing(Some((guard, finish))) = self else {
            return;
        };
        if confirm {
            let debouncer = guard.debouncer().clone();
            if let Err(error) = guard.finish_confirmed(finish).await {
                let error = debouncer.observer().error(&error);
                tracing::debug!(%error, "redis-debounce: the release was not confirmed");
            }
        } else {
            guard.finish_detached(finish);
        }
    }

    /// The blocking form of [`settle`](Self::settle), for sync fns.
    pub fn settle_blocking(self, confirm: bool) {
        let Finishing(Some((guard, finish))) = self else {
            return;
        };
        if confirm {
            let debouncer = guard.debouncer().clone();
            if let Err(error) = crate::blocking::block_on(guard.finish_confirmed(finish)) {
                let error = debouncer.observer().error(&error);
                tracing::debug!(%error, "redis-debounce: the release was not confirmed");
            }
        } else {
            guard.finish_detached(finish);
        }
    }
}

/// The largest result a call's `Debouncer` stores (a handler's body is read
/// up to it); the default when the call runs unlocked.
#[must_use]
pub fn stored_limit(guard: Option<&LockGuard>) -> usize {
    guard.map_or(crate::builder::DEFAULT_MAX_STORED, |guard| {
        guard.debouncer().max_stored_result()
    })
}

/// What `using = ...` may name.
#[diagnostic::on_unimplemented(
    message = "`using = ...` must be a `Debouncer`, not `{Self}`",
    label = "expected a `redis_debounce::Debouncer` (or a reference, `Arc` or `Box` of one)"
)]
pub trait AsDebouncer {
    /// The `Debouncer` to lock with.
    fn as_debouncer(&self) -> &Debouncer;
}

impl AsDebouncer for Debouncer {
    fn as_debouncer(&self) -> &Debouncer {
        self
    }
}

impl<T: AsDebouncer + ?Sized> AsDebouncer for &T {
    fn as_debouncer(&self) -> &Debouncer {
        (**self).as_debouncer()
    }
}

impl<T: AsDebouncer + ?Sized> AsDebouncer for std::sync::Arc<T> {
    fn as_debouncer(&self) -> &Debouncer {
        (**self).as_debouncer()
    }
}

impl<T: AsDebouncer + ?Sized> AsDebouncer for Box<T> {
    fn as_debouncer(&self) -> &Debouncer {
        (**self).as_debouncer()
    }
}

/// `using = ...` as the expansion passes it to [`call`].
pub fn using<D: AsDebouncer + ?Sized>(debouncer: &D) -> Option<&Debouncer> {
    Some(debouncer.as_debouncer())
}
