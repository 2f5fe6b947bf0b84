//! axum: a [`Busy`] is a response, [`IdempotencyKey`] an extractor, and a
//! handler returning `impl IntoResponse` needs no `busy` argument.

use axum_core::body::Body;
use axum_core::extract::FromRequestParts;
use axum_core::response::{IntoResponse, Response};
use http::request::Parts;
use http::{HeaderValue, StatusCode, header};

use super::{IDEMPOTENCY_KEY, IdempotencyKey, KeyError, PROBLEM_JSON, Problem};
use crate::__private::Either;
use crate::Busy;

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
/// when the backend is unavailable; `Retry-After` in whole seconds; an RFC
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
