//! axum: a [`Busy`] is a response, [`IdempotencyKey`] an extractor, and a
//! handler returning `impl IntoResponse` needs no `busy` argument.

use axum_core::body::Body;
use axum_core::extract::FromRequestParts;
use axum_core::response::{IntoResponse, Response};
use http::request::Parts;
use http::{HeaderValue, StatusCode, header};

use super::{IDEMPOTENCY_KEY, IdempotencyKey, KeyError, PROBLEM_JSON, Problem};
use crate::Busy;
use crate::outcome::{Codec, Either};
use crate::stored::{Payload, Record};

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let mut response = Response::new(Body::from(self.body()));
        *response.status_mut() =
            StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// 409 Conflict while the first request runs, 429 during a cooldown, 503
/// when the backend is unavailable; `Retry-After` in whole seconds (not on
/// a 503: nobody knows when the backend is back); an RFC
/// 9457 `application/problem+json` body without internal details.
impl IntoResponse for Busy {
    fn into_response(self) -> Response {
        Problem::of(&self).into_response()
    }
}

/// 400 with a problem body.
impl IntoResponse for KeyError {
    fn into_response(self) -> Response {
        Problem::bad_key(self).into_response()
    }
}

impl<S: Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = KeyError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let value = parts
            .headers
            .get(IDEMPOTENCY_KEY)
            .ok_or(KeyError::Missing)?;
        IdempotencyKey::parse(value.as_bytes())
    }
}

impl<T: IntoResponse> IntoResponse for Either<T> {
    fn into_response(self) -> Response {
        match self {
            Either::Busy(busy) => busy.into_response(),
            Either::Done(done) => done.into_response(),
        }
    }
}

/// For handlers that return `Response`: the busy response.
impl From<Busy> for Response {
    fn from(busy: Busy) -> Self {
        busy.into_response()
    }
}

/// `replay` on a handler: the response, made whole again, and its stored
/// form (2xx only, unless `errors`; none when the body is streamed or
/// its stored form, with the status and content type, is over `max`).
async fn store_response(
    response: Response,
    errors: bool,
    max: usize,
) -> (Response, Option<Payload>) {
    use http_body_util::{BodyExt as _, Limited};

    let status = response.status();
    if !(errors || status.is_success()) {
        return (response, None);
    }
    // Only a body known to fit is read: the client gets any other intact.
    let fits = http_body::Body::size_hint(response.body())
        .upper()
        .is_some_and(|upper| upper <= max as u64);
    if !fits {
        tracing::warn!(
            "redis-debounce: a streamed or large response body is not stored for replay"
        );
        return (response, None);
    }
    let (parts, body) = response.into_parts();
    let collected = Limited::new(body, max).collect().await;
    match collected {
        Ok(collected) => {
            let bytes = collected.to_bytes();
            let content_type = parts
                .headers
                .get(header::CONTENT_TYPE)
                .map_or(&[][..], HeaderValue::as_bytes);
            let stored = Payload::http(status.as_u16(), content_type, &bytes);
            (Response::from_parts(parts, Body::from(bytes)), Some(stored))
        }
        Err(error) => {
            tracing::warn!(%error, "redis-debounce: the response body cannot be stored for replay");
            (
                Response::from_parts(parts, Body::empty()).into_response(),
                None,
            )
        }
    }
}

/// A stored response, with `Idempotency-Replayed: true`.
///
/// # Errors
///
/// [`Error::Replay`](crate::Error::Replay) when the stored value is not a response.
fn replayed_response(stored: &Record<'_>) -> Result<Response, crate::Error> {
    let (status, content_type, body) = stored.http()?;
    let mut response = Response::new(Body::from(body.to_vec()));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    let headers = response.headers_mut();
    if let Ok(content_type) = HeaderValue::from_bytes(content_type)
        && !content_type.is_empty()
    {
        headers.insert(header::CONTENT_TYPE, content_type);
    }
    headers.insert(
        super::IDEMPOTENCY_REPLAYED,
        HeaderValue::from_static("true"),
    );
    Ok(response)
}

/// The response an `impl IntoResponse` makes, to be stored (`replay`).
pub fn into_response(value: impl IntoResponse) -> Response {
    value.into_response()
}

/// The codec of an `impl IntoResponse`, stored as the response it makes.
#[must_use]
pub fn codec(whole: bool) -> Codec<Response> {
    if whole {
        AxumKind.codec_whole()
    } else {
        AxumKind.codec()
    }
}

response_kind!(
    IsAxumResponse,
    AxumKind,
    Response,
    Payload,
    "axum `Response`"
);
