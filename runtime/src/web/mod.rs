//! HTTP semantics shared by the framework integrations: the status, headers
//! and RFC 9457 problem body of a [`Busy`], and the `Idempotency-Key` header.
#![cfg_attr(
    not(any(feature = "axum", feature = "actix-web")),
    allow(dead_code, reason = "used by the framework integrations")
)]

use std::fmt;
use std::time::Duration;

use crate::{Busy, BusyReason};

/// The kind of a framework's response type (see `crate::outcome`): a 2xx
/// status is a success, and `replay` stores the response (its status,
/// content type and body, read by awaiting) with the framework's own
/// `store_response` and `replayed_response`.
#[cfg(any(feature = "axum", feature = "actix-web"))]
macro_rules! response_kind {
    ($is:ident, $kind:ident, $response:ty, $payload:ty, $doc:literal) => {
        #[doc = concat!("A ", $doc, ": stored as a response.")]
        pub trait $is {
            /// The kind.
            fn __debounce_kind(&self) -> $kind {
                $kind
            }
        }

        impl $is for crate::outcome::Shape<$response> {}

        #[doc = concat!("The kind of a ", $doc, ".")]
        #[derive(Debug, Clone, Copy)]
        pub struct $kind;

        #[allow(
            clippy::unused_self,
            reason = "a kind's value only selects its methods (autoref specialisation)"
        )]
        impl $kind {
            /// A 2xx status is a success.
            #[must_use]
            pub fn succeeded(self, response: &$response) -> bool {
                response.status().is_success()
            }

            /// Stores a 2xx response.
            #[must_use]
            pub fn codec(self) -> crate::outcome::Codec<$response> {
                crate::outcome::Codec::new(|stored, _| replayed_response(stored), |_| None, false)
            }

            /// Stores a response of any status (`replay_errors`).
            #[must_use]
            pub fn codec_whole(self) -> crate::outcome::Codec<$response> {
                crate::outcome::Codec::new(|stored, _| replayed_response(stored), |_| None, true)
            }

            /// The response, made whole again, and its stored form (read
            /// up to `max` bytes).
            pub async fn store(
                self,
                codec: crate::outcome::Codec<$response>,
                response: $response,
                max: usize,
            ) -> ($response, Option<$payload>) {
                store_response(response, codec.whole(), max).await
            }

            /// A plain fn cannot store a response: its body is read by
            /// awaiting.
            #[must_use]
            pub fn codec_blocking<R: crate::outcome::ResponseNeedsAsync>(
                self,
            ) -> crate::outcome::Codec<R> {
                crate::outcome::Codec::new(
                    |_, _| Err(crate::Error::config("a response is stored by an async fn")),
                    |_| None,
                    false,
                )
            }

            /// As [`codec_blocking`](Self::codec_blocking).
            #[must_use]
            pub fn codec_blocking_whole<R: crate::outcome::ResponseNeedsAsync>(
                self,
            ) -> crate::outcome::Codec<R> {
                self.codec_blocking()
            }
        }
    };
}

#[cfg(feature = "actix-web")]
pub(crate) mod actix;
#[cfg(feature = "axum")]
pub(crate) mod axum;

/// An RFC 9457 problem: what a turned-away request gets back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Problem {
    pub(crate) status: u16,
    pub(crate) title: &'static str,
    pub(crate) detail: &'static str,
    /// `Retry-After`, in whole seconds, rounded up.
    pub(crate) retry_after: Option<u64>,
}

/// `Content-Type` of a problem body.
pub(crate) const PROBLEM_JSON: &str = "application/problem+json";

impl Problem {
    /// 409 while the first request runs (the Idempotency-Key draft), 429
    /// during a cooldown, 503 when the backend is unavailable. The body
    /// names no key and no internal error.
    pub(crate) fn of(busy: &Busy) -> Self {
        let retry_after = busy.retry_after().map(whole_seconds);
        match busy.reason() {
            BusyReason::Held => Problem {
                status: 409,
                title: "Request in progress",
                detail: "An identical request is still being processed. Retry after it completes.",
                retry_after,
            },
            BusyReason::Cooldown => Problem {
                status: 429,
                title: "Too Many Requests",
                detail: "An identical request succeeded recently. Retry after the cooldown.",
                retry_after,
            },
            BusyReason::Mismatch => Problem {
                status: 422,
                title: "Unprocessable Content",
                detail: "This Idempotency-Key was used for a request with a different payload.",
                retry_after: None,
            },
            _ => Problem {
                status: 503,
                title: "Service Unavailable",
                detail: "The request could not be checked for duplicates. Retry later.",
                retry_after: None,
            },
        }
    }

    /// 400 for a missing or malformed `Idempotency-Key`.
    pub(crate) fn bad_key(why: KeyError) -> Self {
        Problem {
            status: 400,
            title: "Bad Idempotency-Key",
            detail: why.detail(),
            retry_after: None,
        }
    }

    /// The JSON body. Every field is one of the constants above, so none
    /// needs escaping.
    pub(crate) fn body(&self) -> String {
        format!(
            r#"{{"type":"about:blank","title":"{}","status":{},"detail":"{}"}}"#,
            self.title, self.status, self.detail
        )
    }
}

/// Seconds for `Retry-After`: whole, rounded up, at least 1.
fn whole_seconds(after: Duration) -> u64 {
    let seconds = after.as_secs() + u64::from(after.subsec_nanos() > 0);
    seconds.max(1)
}

/// Whether a debounced fn's value is a web response: then its release (or
/// stored result) is confirmed by Redis before the response leaves.
/// Decided by the value's type, by autoref: `(&&&Probe(&value))
/// .__debounce_confirms()` finds [`ConfirmsAxum`] on an axum
/// `IntoResponse`, else [`ConfirmsActix`] on an actix-web `Responder`,
/// else [`ConfirmsNot`]. The expansion calls it; not a public API.
#[derive(Debug)]
pub struct Probe<'a, T>(pub &'a T);

/// An axum response confirms (feature `axum`).
pub trait ConfirmsAxum {
    /// `true`.
    fn __debounce_confirms(&self) -> bool {
        true
    }
}

/// An actix-web response confirms (feature `actix-web`).
pub trait ConfirmsActix {
    /// `true`.
    fn __debounce_confirms(&self) -> bool {
        true
    }
}

/// Any other value keeps the fast path: the release is not waited for.
pub trait ConfirmsNot {
    /// `false`.
    fn __debounce_confirms(&self) -> bool {
        false
    }
}

#[cfg(feature = "axum")]
impl<T: axum_core::response::IntoResponse> ConfirmsAxum for &&Probe<'_, T> {}

#[cfg(feature = "actix-web")]
impl<T: actix_web::Responder> ConfirmsActix for &Probe<'_, T> {}

impl<T> ConfirmsNot for Probe<'_, T> {}

/// The header on a response replayed from a stored one.
pub(crate) const IDEMPOTENCY_REPLAYED: &str = "idempotency-replayed";

/// The header a client sends to make a request idempotent.
pub(crate) const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// The `Idempotency-Key` request header (draft-ietf-httpapi-idempotency-key-header):
/// 1 to 255 visible ASCII characters. As an extractor it turns a request
/// without a valid one away with 400 and a problem body; it displays as the
/// key, so it can be a key template's placeholder.
///
/// ```
/// # #[cfg(feature = "axum")] mod app {
/// use http::StatusCode;
/// use redis_debounce::{debounce, Busy, IdempotencyKey};
///
/// // A retried POST with the same key gets 409 while the first runs.
/// #[debounce(key = "pay:{key}", ttl = 30)]
/// async fn pay(key: IdempotencyKey) -> Result<StatusCode, Busy> {
///     Ok(StatusCode::CREATED)
/// }
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Checks a header value.
    ///
    /// # Errors
    ///
    /// When it is empty, longer than 255 characters, or not visible ASCII.
    pub fn parse(value: &[u8]) -> Result<Self, KeyError> {
        if value.is_empty() {
            return Err(KeyError::Empty);
        }
        if value.len() > 255 {
            return Err(KeyError::TooLong);
        }
        if !value.iter().all(u8::is_ascii_graphic) {
            return Err(KeyError::NotVisibleAscii);
        }
        // Visible ASCII is UTF-8.
        Ok(IdempotencyKey(String::from_utf8_lossy(value).into_owned()))
    }

    /// The key.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why an `Idempotency-Key` header was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The request has no `Idempotency-Key` header.
    #[error("the Idempotency-Key header is missing")]
    Missing,
    /// The header is empty.
    #[error("the Idempotency-Key header is empty")]
    Empty,
    /// The header is longer than 255 characters.
    #[error("the Idempotency-Key header is longer than 255 characters")]
    TooLong,
    /// The header has characters other than visible ASCII.
    #[error("the Idempotency-Key header may only hold visible ASCII characters")]
    NotVisibleAscii,
}

impl KeyError {
    fn detail(self) -> &'static str {
        match self {
            KeyError::Missing => "This request needs an Idempotency-Key header.",
            KeyError::Empty => "The Idempotency-Key header is empty.",
            KeyError::TooLong => "The Idempotency-Key header is longer than 255 characters.",
            KeyError::NotVisibleAscii => {
                "The Idempotency-Key header may only hold visible ASCII characters."
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{IdempotencyKey, KeyError, Problem, whole_seconds};
    use crate::{Busy, Error};

    #[test]
    fn statuses_and_retry_after() {
        let held = Busy::held("k".into(), Some(Duration::from_millis(1200)), false);
        let problem = Problem::of(&held);
        assert_eq!((problem.status, problem.retry_after), (409, Some(2)));
        let cooling = Busy::held("k".into(), Some(Duration::from_secs(60)), true);
        assert_eq!(Problem::of(&cooling).status, 429);
        assert_eq!(Problem::of(&cooling).retry_after, Some(60));
        let down = Busy::unavailable("k".into(), Error::config("secret detail"));
        let problem = Problem::of(&down);
        assert_eq!((problem.status, problem.retry_after), (503, None));
        assert!(!problem.body().contains("secret"), "no internal error text");
        assert!(
            problem
                .body()
                .starts_with(r#"{"type":"about:blank","title":"#)
        );
        assert_eq!(whole_seconds(Duration::from_millis(1)), 1);
        assert_eq!(whole_seconds(Duration::from_secs(3)), 3);
    }

    #[test]
    fn idempotency_keys() {
        assert_eq!(
            IdempotencyKey::parse(b"abc-123").unwrap().as_str(),
            "abc-123"
        );
        assert_eq!(IdempotencyKey::parse(b""), Err(KeyError::Empty));
        assert_eq!(IdempotencyKey::parse(&[b'a'; 256]), Err(KeyError::TooLong));
        assert!(IdempotencyKey::parse(&[b'a'; 255]).is_ok());
        assert_eq!(
            IdempotencyKey::parse(b"a b"),
            Err(KeyError::NotVisibleAscii)
        );
        assert_eq!(
            IdempotencyKey::parse("é".as_bytes()),
            Err(KeyError::NotVisibleAscii)
        );
    }

    /// A 400 says what is wrong with the header, in its problem body.
    #[test]
    fn a_bad_key_problem_says_why() {
        for (why, detail) in [
            (KeyError::Missing, "needs an Idempotency-Key header"),
            (KeyError::Empty, "is empty"),
            (KeyError::TooLong, "longer than 255 characters"),
            (KeyError::NotVisibleAscii, "visible ASCII"),
        ] {
            let problem = Problem::bad_key(why);
            assert_eq!((problem.status, problem.retry_after), (400, None));
            assert!(
                problem.body().contains(detail),
                "{why:?}: {}",
                problem.body()
            );
        }
    }
}
