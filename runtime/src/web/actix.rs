//! actix-web: a [`Busy`] is a response error, [`IdempotencyKey`] an
//! extractor, and a handler returning `impl Responder` needs no `busy`
//! argument.

use std::future::{Ready, ready};

use actix_web::body::BoxBody;
use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{FromRequest, HttpRequest, HttpResponse, Responder, ResponseError};

use super::{IDEMPOTENCY_KEY, IdempotencyKey, KeyError, PROBLEM_JSON, Problem};
use crate::Busy;
use crate::outcome::Either;
use crate::stored::{Payload as Stored, Record};

impl Problem {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn to_response(self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON)));
        if let Some(seconds) = self.retry_after {
            response.insert_header((header::RETRY_AFTER, HeaderValue::from(seconds)));
        }
        response.body(self.body())
    }
}

/// 409 Conflict while the first request runs, 429 during a cooldown, 503
/// when the backend is unavailable; `Retry-After` in whole seconds (not on
/// a 503: nobody knows when the backend is back); an RFC
/// 9457 `application/problem+json` body without internal details. So
/// `Result<T, Busy>` is a `Responder`, and `?` turns a `Busy` into an
/// `actix_web::Error`.
impl ResponseError for Busy {
    fn status_code(&self) -> StatusCode {
        Problem::of(self).status_code()
    }

    fn error_response(&self) -> HttpResponse<BoxBody> {
        Problem::of(self).to_response()
    }
}

/// For handlers that return `HttpResponse`: the busy response.
impl From<Busy> for HttpResponse {
    fn from(busy: Busy) -> Self {
        busy.error_response()
    }
}

/// 400 with a problem body.
impl ResponseError for KeyError {
    fn status_code(&self) -> StatusCode {
        StatusCode::BAD_REQUEST
    }

    fn error_response(&self) -> HttpResponse<BoxBody> {
        Problem::bad_key(*self).to_response()
    }
}

impl FromRequest for IdempotencyKey {
    type Error = KeyError;
    type Future = Ready<Result<Self, KeyError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(match request.headers().get(IDEMPOTENCY_KEY) {
            Some(value) => IdempotencyKey::parse(value.as_bytes()),
            None => Err(KeyError::Missing),
        })
    }
}

impl<T: Responder> Responder for Either<T> {
    type Body = BoxBody;

    fn respond_to(self, request: &HttpRequest) -> HttpResponse<BoxBody> {
        match self {
            Either::Busy(busy) => busy.error_response(),
            Either::Done(done) => done.respond_to(request).map_into_boxed_body(),
        }
    }
}

/// `using = debouncer` with `debouncer: web::Data<Debouncer>`. Not listed
/// in the error for a `using` of the wrong type, which names our own types.
#[diagnostic::do_not_recommend]
impl<T: crate::call::AsDebouncer + ?Sized> crate::call::AsDebouncer for actix_web::web::Data<T> {
    fn as_debouncer(&self) -> &crate::Debouncer {
        (**self).as_debouncer()
    }
}

/// `replay` on a handler: the response, made whole again, and its stored
/// form (2xx only, unless `errors`; none when the body is streamed or
/// its stored form, with the status and content type, is over `max`).
async fn store_response(
    response: HttpResponse,
    errors: bool,
    max: usize,
) -> (HttpResponse, Option<Stored>) {
    let status = response.status();
    if !(errors || status.is_success()) {
        return (response, None);
    }
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|value| value.as_bytes().to_vec())
        .unwrap_or_default();
    // Only a body known to fit is read: the client gets any other intact.
    let fits = match actix_web::body::MessageBody::size(response.body()) {
        actix_web::body::BodySize::None => true,
        actix_web::body::BodySize::Sized(size) => size <= max as u64,
        actix_web::body::BodySize::Stream => false,
    };
    if !fits {
        tracing::warn!(
            "redis-debounce: a streamed or large response body is not stored for replay"
        );
        return (response, None);
    }
    let (head, body) = response.into_parts();
    if let Ok(Ok(bytes)) = actix_web::body::to_bytes_limited(body, max).await {
        let stored = Stored::http(status.as_u16(), &content_type, &bytes);
        (head.set_body(BoxBody::new(bytes)), Some(stored))
    } else {
        tracing::warn!("redis-debounce: the response body cannot be stored for replay");
        (head.set_body(BoxBody::new(())), None)
    }
}

/// A stored response, with `Idempotency-Replayed: true`.
///
/// # Errors
///
/// [`Error::Replay`](crate::Error::Replay) when the stored value is not a response.
fn replayed_response(stored: &Record<'_>) -> Result<HttpResponse, crate::Error> {
    let (status, content_type, body) = stored.http()?;
    let mut response = HttpResponse::build(StatusCode::from_u16(status).unwrap_or(StatusCode::OK));
    if let Ok(content_type) = HeaderValue::from_bytes(content_type)
        && !content_type.is_empty()
    {
        response.insert_header((header::CONTENT_TYPE, content_type));
    }
    response.insert_header((super::IDEMPOTENCY_REPLAYED, "true"));
    Ok(response.body(body.to_vec()))
}

response_kind!(
    IsActixResponse,
    ActixKind,
    HttpResponse,
    Stored,
    "actix-web `HttpResponse`"
);

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use actix_web::ResponseError;
    use actix_web::http::StatusCode;

    use crate::{Busy, Error, KeyError};

    /// What middleware reads off an `actix_web::Error` agrees with the
    /// response itself.
    #[test]
    fn status_codes_agree_with_the_responses() {
        for (busy, status) in [
            (
                Busy::held("k".into(), Some(Duration::from_secs(1)), false),
                StatusCode::CONFLICT,
            ),
            (
                Busy::held("k".into(), Some(Duration::from_secs(1)), true),
                StatusCode::TOO_MANY_REQUESTS,
            ),
            (
                Busy::unavailable("k".into(), Error::config("down")),
                StatusCode::SERVICE_UNAVAILABLE,
            ),
            (Busy::mismatch("k".into()), StatusCode::UNPROCESSABLE_ENTITY),
        ] {
            assert_eq!(busy.status_code(), status, "{busy:?}");
            assert_eq!(busy.error_response().status(), status, "{busy:?}");
        }
        assert_eq!(KeyError::Missing.status_code(), StatusCode::BAD_REQUEST);
        assert_eq!(
            KeyError::Missing.error_response().status(),
            StatusCode::BAD_REQUEST
        );
    }
}
