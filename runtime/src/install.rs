//! The process-wide default `Debouncer` of `#[debounce]` without `using`.

use std::sync::{PoisonError, RwLock};

use crate::Debouncer;

static INSTALLED: RwLock<Option<Debouncer>> = RwLock::new(None);

/// Makes `debouncer` the default of every `#[debounce]` without `using = ...`,
/// replacing any earlier one.
///
/// Until something is installed, such calls are turned away with a
/// [`Busy`](crate::Busy) whose error is [`Error::NotInstalled`](crate::Error::NotInstalled),
/// whatever their `on_error`.
///
/// ```
/// use redis_debounce::{install, Debouncer};
///
/// install(Debouncer::open("redis://127.0.0.1/")?);
/// # Ok::<(), redis_debounce::Error>(())
/// ```
pub fn install(debouncer: Debouncer) {
    *INSTALLED.write().unwrap_or_else(PoisonError::into_inner) = Some(debouncer);
}

/// The installed default, if any.
#[must_use]
pub fn installed() -> Option<Debouncer> {
    INSTALLED
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
}
