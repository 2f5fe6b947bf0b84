//! What the `#[debounce]` expansion calls: re-exports only, no logic. Not a
//! public API: no semver guarantees.

pub use crate::acquire::max_hold_error;
pub use crate::backend::{DurationError, duration_error};
pub use crate::body::{enter, leave, scope};
pub use crate::call::{
    AsDebouncer, Call, End, Finishing, OnError, Options, Start, call, no_replay, release,
    stored_limit, using,
};
pub use crate::key::Encoded;
pub use crate::observe::Site;
pub use crate::outcome::{Either, Shape, busy, busy_with, run_once};
pub use crate::stored::Record;
pub use crate::web::Probe;
#[cfg(feature = "axum")]
pub use crate::web::axum::{codec as axum_codec, into_response as axum_response};

/// The traits of the expansion's method calls (autoref specialisation),
/// brought into scope with one glob import that is never unused.
pub mod kinds {
    pub use crate::outcome::{
        IsFuture as _, IsFutureOption as _, IsFutureResult as _, IsNotFuture as _, IsResult as _,
        IsValue as _,
    };
    #[cfg(feature = "actix-web")]
    pub use crate::web::actix::IsActixResponse as _;
    #[cfg(feature = "axum")]
    pub use crate::web::axum::IsAxumResponse as _;
    pub use crate::web::{ConfirmsActix as _, ConfirmsAxum as _, ConfirmsNot as _};
}
