//! What the `#[debounce]` expansion calls. Not a public API: no semver
//! guarantees.

use std::fmt;
use std::sync::Arc;

use crate::backend::Finish;
use crate::debouncer::LockKey;
use crate::{Busy, Debouncer, Error, LockGuard};

/// What to do when the backend fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnError {
    /// Turn the call away: the busy path, with the error in the `Busy`.
    Reject,
    /// Run the body without the lock, and log a warning.
    Allow,
}

/// One debounced call between its key and its lock.
#[derive(Debug)]
pub struct Call {
    state: Result<(Debouncer, LockKey), Busy>,
    ttl_ms: u64,
    on_error: OnError,
}

#[must_use]
/// Resolves the `Debouncer` and renders the key, before anything awaits (a
/// `fmt::Arguments` held across an await would make the future `!Send`).
pub fn call(
    using: Option<&Debouncer>,
    key: fmt::Arguments<'_>,
    ttl_ms: u64,
    on_error: OnError,
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
        ttl_ms,
        on_error,
    }
}

fn render(key: fmt::Arguments<'_>) -> String {
    let mut out = String::new();
    // On a failing Display the key is left partial: it only names the call.
    let _ = fmt::write(&mut out, key);
    out
}

impl Call {
    /// `Ok(Some(guard))` to run locked, `Ok(None)` to run unlocked
    /// (`on_error = "allow"` after a backend failure), `Err(busy)` to return
    /// the busy value.
    ///
    /// # Errors
    ///
    /// The `Busy` that becomes the function's busy value.
    pub async fn acquire(self) -> Result<Option<LockGuard>, Busy> {
        let (debouncer, key) = self.state?;
        let answer = debouncer.lock(key, Ok(self.ttl_ms)).await;
        decide(answer, self.on_error)
    }

    /// The blocking form of [`acquire`](Self::acquire), for sync fns.
    ///
    /// # Errors
    ///
    /// The `Busy` that becomes the function's busy value.
    pub fn acquire_blocking(self) -> Result<Option<LockGuard>, Busy> {
        let (debouncer, key) = self.state?;
        let answer = debouncer.lock_blocking(key, Ok(self.ttl_ms));
        decide(answer, self.on_error)
    }
}

fn decide(answer: Result<LockGuard, Busy>, on_error: OnError) -> Result<Option<LockGuard>, Busy> {
    match answer {
        Ok(guard) => Ok(Some(guard)),
        Err(busy) => match (on_error, busy.error()) {
            (OnError::Allow, Some(error)) => {
                tracing::warn!(key = busy.key(), %error, "redis-debounce: backend failed; running without the lock (on_error = \"allow\")");
                Ok(None)
            }
            _ => Err(busy),
        },
    }
}

/// After the body: with a cooldown and a successful outcome the key stays
/// taken for the window; otherwise it is released. Neither waits for Redis.
pub fn finish(guard: Option<LockGuard>, succeeded: bool, cooldown_ms: u64) {
    if let Some(guard) = guard {
        if succeeded {
            guard.finish_detached(Finish::Cooldown(cooldown_ms));
        } else {
            drop(guard);
        }
    }
}

/// Whether the body succeeded, for `cooldown`: `Ok` for a `Result`
/// (this impl wins method resolution on `&Result<T, E>`) ...
pub trait ResultOutcome {
    /// `true` for `Ok`.
    fn __debounce_succeeded(&self) -> bool;
}

impl<T, E> ResultOutcome for Result<T, E> {
    fn __debounce_succeeded(&self) -> bool {
        self.is_ok()
    }
}

/// ... and any value of another type (found one autoref later).
pub trait AnyOutcome {
    /// Always `true`.
    fn __debounce_succeeded(&self) -> bool {
        true
    }
}

impl<T: ?Sized> AnyOutcome for &T {}

/// A value of the function's return type that stands for a busy call.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot express a busy call",
    label = "the return type has no busy form",
    note = "add `busy = <expr>` to #[debounce], return `Result<T, E>` with `E: From<redis_debounce::Busy>`, or implement `From<redis_debounce::Busy>` for the return type"
)]
pub trait FromBusy {
    /// The value to return instead of running the body.
    fn from_busy(busy: Busy) -> Self;
}

impl<T, E: From<Busy>> FromBusy for Result<T, E> {
    fn from_busy(busy: Busy) -> Self {
        Err(E::from(busy))
    }
}

impl<R: From<Busy>> FromBusy for R {
    fn from_busy(busy: Busy) -> Self {
        R::from(busy)
    }
}

/// The default busy value.
#[must_use]
pub fn busy<R: FromBusy>(busy: Busy) -> R {
    R::from_busy(busy)
}

/// `busy = |busy| ...`: the closure gets the `Busy` (and its parameter
/// type is inferred from this signature).
pub fn busy_with<R>(busy: Busy, value: impl FnOnce(Busy) -> R) -> R {
    value(busy)
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

impl<T: AsDebouncer + ?Sized> AsDebouncer for Arc<T> {
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
