//! The per-call context of a debounced body: the guard it runs under,
//! for [`lease()`], on the task (async bodies) or the thread (sync bodies).

use std::cell::RefCell;

use crate::{Lease, LockGuard};

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
/// with it, which releases the lock. `T` pins the body's output (so `?`
/// in an async block converts errors as the fn's return type says).
pub async fn scope<T, F: Future<Output = T>>(
    guard: Option<LockGuard>,
    body: F,
) -> (T, Option<LockGuard>) {
    // The body runs in the call's span: its events are the call's.
    let span = guard
        .as_ref()
        .map(|guard| guard.span().clone())
        .filter(|span| !span.is_disabled());
    if let Some(span) = span {
        let body = tracing::Instrument::instrument(body, span);
        let mut scoped = std::pin::pin!(TASK_BODY.scope(guard, body));
        let output = scoped.as_mut().await;
        return (output, scoped.take_value().flatten());
    }
    let mut scoped = std::pin::pin!(TASK_BODY.scope(guard, body));
    let output = scoped.as_mut().await;
    (output, scoped.take_value().flatten())
}

/// Makes `guard` the thread's current one until [`leave`], or
/// until the returned value drops (and the guard with it: a `return`, `?`
/// or panic in the body releases the lock).
#[must_use]
pub fn enter(guard: Option<LockGuard>, confirm: bool) -> Entered {
    // The body runs in the call's span: its events are the call's.
    let span = guard
        .as_ref()
        .map(LockGuard::span)
        .filter(|span| !span.is_disabled())
        .map(|span| span.clone().entered());
    Entered {
        span,
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
    /// The call's span, entered until the body is over (a field, so it is
    /// left after the drop's release).
    #[allow(dead_code, reason = "held for its drop")]
    span: Option<tracing::span::EnteredSpan>,
}

impl Entered {
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

/// The guard back from [`enter`], once the sync body has its value: the
/// thread's previous body is restored.
#[must_use]
pub fn leave(mut entered: Entered) -> Option<LockGuard> {
    entered.restore()
}
