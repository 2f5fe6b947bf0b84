//! What the `#[debounce]` expansion calls. Not a public API: no semver
//! guarantees.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::acquire::{Granted, Policy};
use crate::backend::Finish;
pub use crate::key::Encoded;
use crate::key::LockKey;
use crate::{Busy, Debouncer, Error, LockGuard};

/// What to do when the backend fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnError {
    /// Turn the call away: the busy path, with the error in the `Busy`.
    Reject,
    /// Run the body without the lock, and log a warning.
    Allow,
}

/// The attribute's arguments, checked at compile time, in milliseconds
/// (0: not set).
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// The lease.
    pub ttl_ms: u64,
    /// `wait`.
    pub wait_ms: u64,
    /// `renew`.
    pub renew: bool,
    /// `max_hold`.
    pub max_hold_ms: u64,
    /// `fence`.
    pub fence: bool,
    /// `replay`.
    pub replay: bool,
    /// `on_error`.
    pub on_error: OnError,
}

impl Options {
    fn policy(&self) -> Policy {
        let duration = |ms: u64| (ms > 0).then(|| Duration::from_millis(ms));
        Policy {
            ttl: Duration::from_millis(self.ttl_ms),
            wait: duration(self.wait_ms),
            renew: self.renew,
            max_hold: duration(self.max_hold_ms),
            fence: self.fence,
            replay: self.replay,
        }
    }
}

/// One debounced call between its key and its lock.
#[derive(Debug)]
pub struct Call {
    state: Result<(Debouncer, LockKey), Busy>,
    policy: Policy,
    on_error: OnError,
    fingerprint: Option<Fingerprint>,
}

#[must_use]
/// Resolves the `Debouncer` and renders the key, before anything awaits (a
/// `fmt::Arguments` held across an await would make the future `!Send`).
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
        policy: options.policy(),
        on_error: options.on_error,
        fingerprint: fingerprint.map(fingerprint_of),
    }
}

/// The SHA-256 of a request's rendered `fingerprint` template: a client
/// cannot craft a second payload with the same fingerprint (and so be
/// replayed the first response instead of getting 422).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint([u8; 32]);

/// Hashes the rendered template as it is written, without allocating.
fn fingerprint_of(rendered: fmt::Arguments<'_>) -> Fingerprint {
    use sha2::Digest as _;
    struct Hasher(sha2::Sha256);
    impl fmt::Write for Hasher {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            self.0.update(s.as_bytes());
            Ok(())
        }
    }
    let mut hasher = Hasher(sha2::Sha256::new());
    // A failing Display leaves a partial hash: it still tells requests apart.
    let _ = fmt::write(&mut hasher, rendered);
    Fingerprint(hasher.0.finalize().into())
}

/// A stored result with the fingerprint of the request that made it:
/// `fp <64 hex digits>\n` before the payload.
fn frame(fingerprint: Option<Fingerprint>, stored: Vec<u8>) -> Vec<u8> {
    match fingerprint {
        None => stored,
        Some(Fingerprint(digest)) => {
            let mut header = String::with_capacity(3 + 64 + 1);
            header.push_str("fp ");
            crate::key::push_hex(&mut header, &digest);
            header.push('\n');
            let mut framed = header.into_bytes();
            framed.extend_from_slice(&stored);
            framed
        }
    }
}

/// The payload of a stored result, and whether it was stored for another
/// request than `expected` (a fingerprint that differs, or none where one
/// is expected). Only the exact header `fp <64 lowercase hex digits>\n`
/// counts as a fingerprint.
pub(crate) fn unframe(stored: &[u8], expected: Option<Fingerprint>) -> (&[u8], bool) {
    let found = stored
        .strip_prefix(b"fp ")
        .filter(|rest| rest.len() > 64 && rest[64] == b'\n')
        .and_then(|rest| {
            let mut digest = [0_u8; 32];
            for (byte, pair) in digest.iter_mut().zip(rest[..64].chunks(2)) {
                let nibble = |hex: u8| match hex {
                    b'0'..=b'9' => Some(hex - b'0'),
                    b'a'..=b'f' => Some(hex - b'a' + 10),
                    _ => None,
                };
                *byte = nibble(pair[0])? << 4 | nibble(pair[1])?;
            }
            Some((Fingerprint(digest), &rest[65..]))
        });
    match found {
        Some((fingerprint, payload)) => (payload, expected.is_some_and(|e| e != fingerprint)),
        None => (stored, expected.is_some()),
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

impl Call {
    /// The request's fingerprint, stored with its result.
    #[must_use]
    pub fn fingerprint(&self) -> Option<Fingerprint> {
        self.fingerprint
    }

    /// Takes the lock (waits, replays, ... as the options say).
    ///
    /// # Errors
    ///
    /// The `Busy` that becomes the function's busy value.
    pub async fn acquire<R>(
        self,
        decode: impl FnOnce(&[u8]) -> Result<R, Error>,
    ) -> Result<Start<R>, Busy> {
        let (debouncer, key) = self.state?;
        let granted = debouncer
            .acquire(key, &self.policy, crate::backend::Mode::Async)
            .await;
        decide(granted, decode, self.on_error, self.fingerprint)
    }

    /// The blocking form of [`acquire`](Self::acquire), for sync fns.
    ///
    /// # Errors
    ///
    /// The `Busy` that becomes the function's busy value.
    pub fn acquire_blocking<R>(
        self,
        decode: impl FnOnce(&[u8]) -> Result<R, Error>,
    ) -> Result<Start<R>, Busy> {
        let (debouncer, key) = self.state?;
        let granted = debouncer.acquire_blocking(key, &self.policy);
        decide(granted, decode, self.on_error, self.fingerprint)
    }
}

/// The `decode` of a call without `replay`: never called, as no stored
/// result is asked for.
///
/// # Errors
///
/// Always a configuration error.
pub fn no_replay<R>(_: &[u8]) -> Result<R, Error> {
    Err(Error::config(
        "a stored result came back for a call without replay",
    ))
}

fn decide<R>(
    granted: Result<Granted, Busy>,
    decode: impl FnOnce(&[u8]) -> Result<R, Error>,
    on_error: OnError,
    fingerprint: Option<Fingerprint>,
) -> Result<Start<R>, Busy> {
    let busy = match granted {
        Ok(Granted::Lock(guard)) => return Ok(Start::Run(Some(guard))),
        Ok(Granted::Stored(stored, key)) => match unframe(&stored, fingerprint) {
            (_, true) => return Err(Busy::mismatch(key)),
            (payload, false) => match decode(payload) {
                Ok(value) => return Ok(Start::Replayed(value)),
                // Not subject to `on_error`: the call did run already, so
                // running the body again would be the duplicate.
                Err(error) => return Err(Busy::unavailable(key, error)),
            },
        },
        Err(busy) => busy,
    };
    match (on_error, busy.error()) {
        (OnError::Allow, Some(error)) => {
            tracing::warn!(key = busy.key(), %error, "redis-debounce: backend failed; running without the lock (on_error = \"allow\")");
            Ok(Start::Run(None))
        }
        _ => Err(busy),
    }
}

/// After the body: with a successful outcome and a cooldown, the key stays
/// taken for the window; a `stored` result is kept for `replay_ms`;
/// otherwise the lock is released. [`Finishing::settle`] hands that over,
/// and waits for Redis's answer only when the call confirms.
pub fn finish(
    guard: Option<LockGuard>,
    succeeded: bool,
    cooldown_ms: u64,
    replay_ms: u64,
    fingerprint: Option<Fingerprint>,
    stored: Option<Vec<u8>>,
) -> Finishing {
    let Some(guard) = guard else {
        return Finishing(None);
    };
    let max = guard.debouncer().max_stored_result();
    let store = stored
        .filter(|_| replay_ms > 0)
        .map(|stored| frame(fingerprint, stored))
        .filter(|framed| {
            let fits = framed.len() <= max;
            if !fits {
                tracing::warn!(
                    key = guard.key(),
                    bytes = framed.len(),
                    max,
                    "redis-debounce: the result is larger than max_stored_result and is not stored for replay"
                );
            }
            fits
        });
    let finish = Finish {
        cooldown_ms: (succeeded && cooldown_ms > 0).then_some(cooldown_ms),
        store: store.map(|framed| (framed, replay_ms)),
    };
    Finishing(Some((guard, finish)))
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
            if let Err(error) = guard.finish_confirmed(finish).await {
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
            if let Err(error) = crate::blocking::block_on(guard.finish_confirmed(finish)) {
                tracing::debug!(%error, "redis-debounce: the release was not confirmed");
            }
        } else {
            guard.finish_detached(finish);
        }
    }
}

pub use crate::web::{ConfirmsActix, ConfirmsAxum, ConfirmsNot, Probe};

/// The largest result a call's `Debouncer` stores (a handler's body is read
/// up to it); the default when the call runs unlocked.
#[must_use]
pub fn stored_limit(guard: Option<&LockGuard>) -> usize {
    guard.map_or(crate::builder::DEFAULT_MAX_STORED, |guard| {
        guard.debouncer().max_stored_result()
    })
}

/// Runs the async body with `guard` as the task's current one (for
/// `lease()`), and gives the guard back with the body's value.
pub fn scope<F: Future>(
    guard: Option<LockGuard>,
    body: F,
) -> impl Future<Output = (F::Output, Option<LockGuard>)> {
    crate::body::scope(guard, body)
}

/// Makes `guard` the thread's current one while a sync body runs; a body
/// that leaves early drops it, which releases the lock (and, with
/// `confirm`, waits until Redis ran the release).
#[must_use]
pub fn enter(guard: Option<LockGuard>, confirm: bool) -> crate::body::Entered {
    crate::body::enter(guard, confirm)
}

/// The guard back from [`enter`], once the sync body has its value.
#[must_use]
pub fn leave(entered: crate::body::Entered) -> Option<LockGuard> {
    entered.leave()
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
    fn store(&self) -> Result<Vec<u8>, Error>;

    /// Back from the stored form.
    ///
    /// # Errors
    ///
    /// [`Error::Replay`] when the stored value is not a `Self`.
    fn load(stored: &[u8]) -> Result<Self, Error>;
}

// A compile error names `Replayable` with its own message, not the unmet
// serde bound (whose error would list serde impls from any crate).
#[cfg(feature = "serde")]
#[diagnostic::do_not_recommend]
impl<T: serde::Serialize + serde::de::DeserializeOwned> Replayable for T {
    fn store(&self) -> Result<Vec<u8>, Error> {
        crate::replay::encode(self)
    }

    fn load(stored: &[u8]) -> Result<Self, Error> {
        crate::replay::decode(stored)
    }
}

/// The stored form of a whole value; `None` (and a warning) when it cannot
/// be serialised: the call's result then is not stored.
#[must_use]
pub fn encode<R: Replayable>(value: &R) -> Option<Vec<u8>> {
    match value.store() {
        Ok(stored) => Some(stored),
        Err(error) => {
            tracing::warn!(%error, "redis-debounce: the result cannot be stored for replay");
            None
        }
    }
}

/// The stored form of an `Ok` value; `None` for an `Err`.
#[must_use]
pub fn encode_ok<T: Replayable, E>(value: &Result<T, E>) -> Option<Vec<u8>> {
    value.as_ref().ok().and_then(encode)
}

/// A whole stored value.
///
/// # Errors
///
/// [`Error::Replay`] when the stored value is not an `R`.
pub fn decode<R: Replayable>(stored: &[u8]) -> Result<R, Error> {
    R::load(stored)
}

/// A stored `Ok` value.
///
/// # Errors
///
/// [`Error::Replay`] when the stored value is not a `T`.
pub fn decode_ok<T: Replayable, E>(stored: &[u8]) -> Result<Result<T, E>, Error> {
    T::load(stored).map(Ok)
}

#[cfg(feature = "actix-web")]
pub use crate::web::actix::{replayed_response as actix_replayed, store_response as actix_store};
#[cfg(feature = "axum")]
pub use crate::web::axum::{replayed_response as axum_replayed, store_response as axum_store};

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
    use super::{Fingerprint, frame, unframe};

    /// Only the exact header `fp <64 lowercase hex digits>\n` is a
    /// fingerprint; anything else is a payload stored without one.
    #[test]
    fn only_an_exact_header_is_a_fingerprint() {
        let fingerprint = Fingerprint([0xab; 32]);
        let framed = frame(Some(fingerprint), b"body".to_vec());
        assert_eq!(unframe(&framed, Some(fingerprint)), (&b"body"[..], false));
        assert_eq!(
            unframe(&framed, Some(Fingerprint([0xac; 32]))),
            (&b"body"[..], true)
        );
        let hex = "ab".repeat(32);
        for unframed in [
            // 64 digits and nothing after them.
            format!("fp {hex}"),
            // No newline after the digits.
            format!("fp {hex}Xbody"),
            // Upper case.
            format!("fp {}\nbody", hex.to_uppercase()),
        ] {
            let stored = unframed.as_bytes();
            assert_eq!(unframe(stored, None), (stored, false), "{unframed}");
            assert_eq!(
                unframe(stored, Some(fingerprint)),
                (stored, true),
                "{unframed}"
            );
        }
    }
}
