//! What a debounced fn's value means to its lock, decided by its type (not
//! by how the return type is spelled, so aliases work): whether the call
//! succeeded (`cooldown`), what `replay` stores and reads back, and the
//! value that stands for a busy call.
//!
//! The kind of a type is found by method resolution (autoref
//! specialisation): `(&Shape::<R>::NEW).__debounce_kind()` resolves to
//! `IsResult` for a `Result<T, E>` (only `T` is stored), to
//! `IsAxumResponse` / `IsActixResponse` for a handler's response, and to
//! `IsValue` for any other type (stored whole). The kind's methods then
//! state what they need of the type, so an output that cannot be stored is
//! reported with its own type, not the `Result` around it.

#![allow(
    clippy::unused_self,
    reason = "a kind's value only selects its methods (autoref specialisation)"
)]

use std::marker::PhantomData;

use crate::stored::{Payload, Record};
use crate::{Busy, Error};

/// A type, for the kind dispatch.
pub struct Shape<R: ?Sized>(PhantomData<fn() -> R>);

impl<R: ?Sized> std::fmt::Debug for Shape<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(std::any::type_name::<R>())
    }
}

impl<R: ?Sized> Shape<R> {
    /// The shape of `R`.
    pub const NEW: Self = Shape(PhantomData);

    /// The shape of a value's type.
    #[must_use]
    pub fn of(_: &R) -> Self {
        Self::NEW
    }
}

/// A `Result`: succeeds with `Ok`, stores its `Ok` value.
pub trait IsResult {
    /// The kind.
    fn __debounce_kind(&self) -> ResultKind {
        ResultKind
    }
}

impl<T, E> IsResult for Shape<Result<T, E>> {}

/// Any other type: always a success, stored whole (found one autoref later).
pub trait IsValue {
    /// The kind.
    fn __debounce_kind(&self) -> ValueKind {
        ValueKind
    }
}

impl<R: ?Sized> IsValue for &Shape<R> {}

/// The kind of a `Result<T, E>`.
#[derive(Debug, Clone, Copy)]
pub struct ResultKind;

/// The kind of any other value.
#[derive(Debug, Clone, Copy)]
pub struct ValueKind;

/// A value `replay` can store and read back.
#[diagnostic::on_unimplemented(
    message = "`replay` cannot store a `{Self}`",
    label = "not storable for replay",
    note = "`replay` needs the `serde` feature of redis-debounce and an output that implements `serde::Serialize` and `serde::de::DeserializeOwned` (for a `Result`, its `Ok` type; with `replay_errors`, the whole `Result`)"
)]
pub trait Replayable: Sized {
    /// The stored form.
    ///
    /// # Errors
    ///
    /// When the value cannot be serialised.
    fn store(&self) -> Result<Payload, Error>;

    /// Back from the stored form, if it was stored under `name`.
    ///
    /// # Errors
    ///
    /// [`Error::Replay`] when the stored value is not a `Self`.
    fn load(stored: &Record<'_>, name: &'static str) -> Result<Self, Error>;
}

// A compile error names `Replayable` with its own message, not the unmet
// serde bound (whose error would list serde impls from any crate).
#[cfg(feature = "serde")]
#[diagnostic::do_not_recommend]
impl<T: serde::Serialize + serde::de::DeserializeOwned> Replayable for T {
    fn store(&self) -> Result<Payload, Error> {
        Payload::json(self)
    }

    fn load(stored: &Record<'_>, name: &'static str) -> Result<Self, Error> {
        stored.json(Some(name))
    }
}

/// The stored form of a value; `None` (and a warning) when it cannot be
/// serialised: the call's result then is not stored.
fn encode<R: Replayable>(value: &R) -> Option<Payload> {
    match value.store() {
        Ok(stored) => Some(stored),
        Err(error) => {
            tracing::warn!(%error, "redis-debounce: the result cannot be stored for replay");
            None
        }
    }
}

/// How one fn's results are stored and read back (`replay`). Made once per
/// call, where the return type's bounds are checked (one error, not one per
/// use); then used without bounds.
pub struct Codec<R> {
    decode: fn(&Record<'_>, &'static str) -> Result<R, Error>,
    encode: fn(&R) -> Option<Payload>,
    /// Store failures too (`replay_errors`; a response of any status).
    whole: bool,
}

impl<R> Clone for Codec<R> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<R> Copy for Codec<R> {}

impl<R> std::fmt::Debug for Codec<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Codec")
            .field("whole", &self.whole)
            .finish_non_exhaustive()
    }
}

impl<R> Codec<R> {
    pub(crate) fn new(
        decode: fn(&Record<'_>, &'static str) -> Result<R, Error>,
        encode: fn(&R) -> Option<Payload>,
        whole: bool,
    ) -> Self {
        Codec {
            decode,
            encode,
            whole,
        }
    }

    /// Whether failures are stored too.
    #[cfg(any(feature = "axum", feature = "actix-web"))]
    pub(crate) fn whole(self) -> bool {
        self.whole
    }

    /// A stored value, if it was stored under `name`.
    ///
    /// # Errors
    ///
    /// [`Error::Replay`] when the stored value is not an `R`.
    pub fn decode(self, stored: &Record<'_>, name: &'static str) -> Result<R, Error> {
        (self.decode)(stored, name)
    }

    /// The value's stored form (a value's, not a response's: a response is
    /// stored by its kind's `store`, which reads its body).
    #[must_use]
    pub fn encode(self, value: &R) -> Option<Payload> {
        (self.encode)(value)
    }
}

impl ResultKind {
    /// `Ok` is a success.
    #[must_use]
    pub fn succeeded<T, E>(self, value: &Result<T, E>) -> bool {
        value.is_ok()
    }

    /// Stores the `Ok` value only.
    #[must_use]
    pub fn codec<T: Replayable, E>(self) -> Codec<Result<T, E>> {
        Codec::new(
            |stored, name| T::load(stored, name).map(Ok),
            |value| value.as_ref().ok().and_then(encode),
            false,
        )
    }

    /// The value and its stored form, in an async fn (awaited like a
    /// response kind's, which reads the body).
    pub fn store<T, E>(
        self,
        codec: Codec<Result<T, E>>,
        value: Result<T, E>,
        _max: usize,
    ) -> std::future::Ready<(Result<T, E>, Option<Payload>)> {
        let stored = codec.encode(&value);
        std::future::ready((value, stored))
    }

    /// As [`codec`](Self::codec), from a plain fn.
    #[must_use]
    pub fn codec_blocking<T: Replayable, E>(self) -> Codec<Result<T, E>> {
        self.codec()
    }
}

impl ValueKind {
    /// Any value is a success.
    #[must_use]
    pub fn succeeded<R: ?Sized>(self, _: &R) -> bool {
        true
    }

    /// Stores the value.
    #[must_use]
    pub fn codec<R: Replayable>(self) -> Codec<R> {
        whole(false)
    }

    /// The value and its stored form, in an async fn.
    pub fn store<R>(
        self,
        codec: Codec<R>,
        value: R,
        _max: usize,
    ) -> std::future::Ready<(R, Option<Payload>)> {
        let stored = codec.encode(&value);
        std::future::ready((value, stored))
    }

    /// As [`codec`](Self::codec), from a plain fn.
    #[must_use]
    pub fn codec_blocking<R: Replayable>(self) -> Codec<R> {
        whole(false)
    }
}

/// The codec of a whole value.
fn whole<R: Replayable>(errors: bool) -> Codec<R> {
    Codec::new(|stored, name| R::load(stored, name), encode, errors)
}

// `replay_errors`: the whole value, whatever its kind.
impl ResultKind {
    /// Stores the whole value (`replay_errors`).
    #[must_use]
    pub fn codec_whole<R: Replayable>(self) -> Codec<R> {
        whole(true)
    }

    /// As [`codec_whole`](Self::codec_whole), from a plain fn.
    #[must_use]
    pub fn codec_blocking_whole<R: Replayable>(self) -> Codec<R> {
        whole(true)
    }
}

impl ValueKind {
    /// Stores the whole value (`replay_errors`).
    #[must_use]
    pub fn codec_whole<R: Replayable>(self) -> Codec<R> {
        whole(true)
    }

    /// As [`codec_whole`](Self::codec_whole), from a plain fn.
    #[must_use]
    pub fn codec_blocking_whole<R: Replayable>(self) -> Codec<R> {
        whole(true)
    }
}

/// A response's body is read by awaiting: a plain fn cannot store one.
#[cfg(any(feature = "axum", feature = "actix-web"))]
#[diagnostic::on_unimplemented(
    message = "`replay` of a response needs an `async fn`",
    label = "a response, whose body is read by awaiting",
    note = "make the handler an `async fn`"
)]
pub trait ResponseNeedsAsync {}

/// A future (see [`IsNotFuture`]).
pub trait IsFuture {
    /// The kind of what a fn returns.
    fn __debounce_returns(&self) -> ReturnsFuture {
        ReturnsFuture
    }
}

impl<F: IntoFuture> IsFuture for Shape<F> {}

/// A `Result` whose `Ok` is a future (`Result<BoxFuture, Busy>`): the work
/// would run after the release too.
pub trait IsFutureResult {
    /// The kind of what a fn returns.
    fn __debounce_returns(&self) -> ReturnsFuture {
        ReturnsFuture
    }
}

impl<F: IntoFuture, E> IsFutureResult for Shape<Result<F, E>> {}

/// An `Option` of a future.
pub trait IsFutureOption {
    /// The kind of what a fn returns.
    fn __debounce_returns(&self) -> ReturnsFuture {
        ReturnsFuture
    }
}

impl<F: IntoFuture> IsFutureOption for Shape<Option<F>> {}

/// Any other value (one autoref later).
pub trait IsNotFuture {
    /// The kind of what a fn returns.
    fn __debounce_returns(&self) -> ReturnsValue {
        ReturnsValue
    }
}

impl<R: ?Sized> IsNotFuture for &Shape<R> {}

/// A plain fn that returns a future.
#[derive(Debug, Clone, Copy)]
pub struct ReturnsFuture;

/// A plain fn that returns a value.
#[derive(Debug, Clone, Copy)]
pub struct ReturnsValue;

/// Never implemented: the error of a plain fn that returns a future.
#[diagnostic::on_unimplemented(
    message = "#[debounce] on a fn whose value is a future (`{Self}`) would release the lock before that future runs",
    label = "a future",
    note = "write `async fn`, or end the body in `Box::pin(async move {{ .. }})` (the lock is then taken inside it)"
)]
pub trait ReturnsNoFuture {}

impl ReturnsFuture {
    /// Refused: see [`ReturnsNoFuture`].
    pub fn __debounce_check<F: ReturnsNoFuture + ?Sized>(self) {}

    /// Refused, for a value whose type cannot be named (`impl Trait`).
    pub fn __debounce_check_value<F: ReturnsNoFuture>(self, _: &F) {}

    /// A `busy` value inside a returned future that is itself a future (the
    /// fn's own return type, `Box::pin(async move { Err(b) })`): awaited.
    pub fn resolve<F: IntoFuture>(self, future: F) -> F::IntoFuture {
        future.into_future()
    }
}

impl ReturnsValue {
    /// Fine.
    pub fn __debounce_check<R: ?Sized>(self) {}

    /// Fine.
    pub fn __debounce_check_value<R>(self, _: &R) {}

    /// A `busy` value that is what the future resolves to: ready.
    pub fn resolve<T>(self, value: T) -> std::future::Ready<T> {
        std::future::ready(value)
    }
}

/// Runs a sync body once: as an `FnOnce`, it may return what it borrows
/// from its captures (`Ok(&mut self.items[i])`).
pub fn run_once<R>(body: impl FnOnce() -> R) -> R {
    body()
}

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

// Neither impl is named in a compile error, nor its unmet `From<Busy>`
// bound (whose error would list every `From` impl of the return type, from
// any crate): the error is the trait's own message, on the return type.
#[diagnostic::do_not_recommend]
impl<T, E: From<Busy>> FromBusy for Result<T, E> {
    fn from_busy(busy: Busy) -> Self {
        Err(E::from(busy))
    }
}

#[diagnostic::do_not_recommend]
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

/// What a handler returning `impl IntoResponse` / `impl Responder` returns
/// under `#[debounce]` without `busy = ...`: the busy response or its own.
#[derive(Debug)]
pub enum Either<T> {
    /// Turned away.
    Busy(Busy),
    /// The body's value.
    Done(T),
}

#[cfg(test)]
mod tests {
    use super::Shape;

    /// A shape shows the type it stands for.
    #[test]
    fn a_shape_shows_its_type() {
        assert_eq!(format!("{:?}", Shape::<u32>::NEW), "u32");
        assert_eq!(format!("{:?}", Shape::<str>::NEW), "str");
    }
}
