//! The edges of `confirm`, from a hostile review: what a confirmed release
//! costs during an outage, cancellation, panics, `?`, sync fns in a
//! runtime, `#[async_trait]`, generic fns, and shapes the probe once broke. Each body holds Redis's writes back
//! (`CLIENT PAUSE WRITE`) as it ends, lifted `PAUSED_FOR` later: a call that
//! returns with the pause already lifted waited for its release (confirmed).

use std::time::{Duration, Instant};

use axum::Json;
use axum::response::{IntoResponse, Response};
use redis_debounce::{Busy, Debouncer, debounce};
use redis_debounce_tests::{RedisServer, Unpausing};

const PAUSED_FOR: Duration = Duration::from_millis(400);
const LONG: Duration = Duration::from_secs(60);

fn setup() -> (RedisServer, Debouncer) {
    let server = RedisServer::start();
    let debouncer = server.patient();
    (server, debouncer)
}

fn hold_writes(server: &RedisServer) -> Unpausing {
    server.hold_writes(PAUSED_FOR)
}

fn eval_calls(server: &RedisServer) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query(&mut server.connection())
        .unwrap();
    info.lines()
        .find_map(|line| line.strip_prefix("cmdstat_eval:calls="))
        .and_then(|rest| rest.split(',').next())
        .map_or(0, |calls| calls.parse().unwrap())
}

// ---- a generic fn whose value is a response at the call site

#[debounce(key = "g:{id}", ttl = 300, confirm, using = debouncer)]
async fn generic<R: From<Busy> + Send>(
    debouncer: &Debouncer,
    server: &RedisServer,
    id: u32,
    make: fn() -> R,
) -> R {
    std::mem::forget(hold_writes(server));
    make()
}

/// A generic fn cannot be probed (the probe would be resolved once, for
/// the generic `R`): debounce.md says so, and `confirm` is how such a
/// handler helper confirms.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generic_fn_with_confirm_confirms() {
    let (server, debouncer) = setup();
    let started = Instant::now();
    let response: Response = generic(&debouncer, &server, 1, || "ok".into_response()).await;
    let took = started.elapsed();
    let left = server.keys();
    server.unpause();
    assert_eq!(response.status(), 200);
    assert!(
        took >= PAUSED_FOR && left.is_empty(),
        "returned after {took:?} with {left:?} still in Redis: the response left before its release"
    );
}

// ---- a confirmed release during an outage

#[debounce(key = "h:{id}", ttl = 300, confirm, using = debouncer)]
async fn frozen_handler(
    debouncer: &Debouncer,
    server: &RedisServer,
    id: u32,
) -> Result<Json<u32>, Busy> {
    server.pause(); // SIGSTOP as the body ends: the release cannot be answered
    Ok(Json(id))
}

#[debounce(key = "i:{id}", ttl = 300, confirm, using = debouncer)]
async fn paused_handler(
    debouncer: &Debouncer,
    server: &RedisServer,
    id: u32,
) -> Result<Json<u32>, Busy> {
    server.pause_writes(LONG); // writes held for a minute (a failover's pause)
    Ok(Json(id))
}

/// The brief: a confirmed release during an outage "does not fail the
/// call" and must not hold the response longer than the response timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confirmed_release_in_an_outage_is_bounded_by_the_response_timeout() {
    let timeout = Duration::from_secs(1);
    let server = RedisServer::start();
    let debouncer = Debouncer::builder()
        .response_timeout(timeout)
        .connect_timeout(timeout)
        .open(&server.url())
        .unwrap();
    let started = Instant::now();
    let _ = frozen_handler(&debouncer, &server, 1).await.unwrap();
    let frozen = started.elapsed();
    server.resume();
    debouncer.flush().await.ok();
    let started = Instant::now();
    let _ = paused_handler(&debouncer, &server, 1).await.unwrap();
    let paused = started.elapsed();
    server.unpause();
    // Without the bound the response waits for the minute-long freeze.
    let slack = Duration::from_secs(2);
    assert!(
        frozen <= timeout + slack && paused <= timeout + slack,
        "response timeout {timeout:?}: the response was held {frozen:?} (SIGSTOP), {paused:?} (CLIENT PAUSE WRITE)"
    );
}

// ---- cancellation during the confirm, panics, `?`, sync fns in a runtime

#[debounce(key = "j:{id}", ttl = 300, confirm, using = debouncer)]
async fn held_handler(
    debouncer: &Debouncer,
    server: &RedisServer,
    id: u32,
) -> Result<Json<u32>, Busy> {
    server.pause_writes(LONG);
    Ok(Json(id))
}

/// Dropped while it waits for its release: the release still goes out,
/// once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_during_confirm_releases_once() {
    let (server, debouncer) = setup();
    let evals = eval_calls(&server);
    let cancelled = tokio::time::timeout(
        Duration::from_millis(200),
        held_handler(&debouncer, &server, 1),
    )
    .await;
    assert!(cancelled.is_err(), "it waited for the release");
    assert_eq!(server.keys(), ["debounce:{j:1}"], "still held back");
    server.unpause();
    debouncer.flush().await.unwrap();
    assert!(server.keys().is_empty(), "{:?}", server.keys());
    assert_eq!(eval_calls(&server) - evals, 1, "one release");
}

#[debounce(key = "k:{id}", ttl = 300, confirm, using = debouncer)]
async fn panicking(debouncer: &Debouncer, id: u32) -> Result<Json<u32>, Busy> {
    assert!(id == 0, "body panics");
    Ok(Json(id))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_in_a_confirming_body_releases() {
    let (server, debouncer) = setup();
    let shared = debouncer.clone();
    let joined = tokio::spawn(async move { panicking(&shared, 1).await }).await;
    assert!(joined.is_err());
    debouncer.flush().await.unwrap();
    assert!(server.keys().is_empty(), "{:?}", server.keys());
}

#[derive(Debug)]
enum AppError {
    Busy(Busy),
    Parse,
}
impl From<Busy> for AppError {
    fn from(busy: Busy) -> Self {
        AppError::Busy(busy)
    }
}
impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        match self {
            AppError::Busy(busy) => busy.into_response(),
            AppError::Parse => axum::http::StatusCode::BAD_REQUEST.into_response(),
        }
    }
}

#[debounce(key = "l:{raw}", ttl = 300, using = debouncer)]
async fn parse_handler(
    debouncer: &Debouncer,
    server: &RedisServer,
    raw: &str,
) -> Result<impl IntoResponse, AppError> {
    let _unpausing = hold_writes(server);
    let n: u32 = raw.parse().map_err(|_| AppError::Parse)?;
    Ok(Json(n))
}

/// `Result<impl IntoResponse, E>` with `?`: the error path confirms too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn question_mark_in_an_impl_response_handler_confirms() {
    let (server, debouncer) = setup();
    let started = Instant::now();
    let failed = parse_handler(&debouncer, &server, "x").await;
    let took = started.elapsed();
    let left = server.keys();
    server.unpause();
    assert!(matches!(failed, Err(AppError::Parse)));
    assert!(
        took >= PAUSED_FOR && left.is_empty(),
        "{took:?}, left {left:?}"
    );
}

#[debounce(key = "m:{id}", ttl = 300, confirm, using = debouncer)]
fn sync_confirmed(debouncer: &Debouncer, server: &RedisServer, id: u32) -> Result<Unpausing, Busy> {
    Ok(hold_writes(server))
}

/// A sync fn with `confirm` on a current-thread runtime's only thread.
#[tokio::test(flavor = "current_thread")]
async fn sync_confirm_inside_a_current_thread_runtime() {
    let (server, debouncer) = setup();
    let unpausing = sync_confirmed(&debouncer, &server, 1).unwrap();
    assert!(unpausing.lifted());
    assert!(server.keys().is_empty(), "{:?}", server.keys());
    unpausing.join();
}

/// `#[async_trait]` method whose value is a response.
#[async_trait::async_trait]
trait Pay {
    async fn pay(&self, server: &RedisServer, id: u32) -> Result<Json<u32>, Busy>;
}

struct Service {
    debouncer: Debouncer,
}

#[async_trait::async_trait]
impl Pay for Service {
    // A method on `&self` is not probed (its return type could hide an
    // elided lifetime): it says `confirm`.
    #[debounce(key = "n:{id}", ttl = 300, confirm, using = self.debouncer)]
    async fn pay(&self, server: &RedisServer, id: u32) -> Result<Json<u32>, Busy> {
        std::mem::forget(hold_writes(server));
        Ok(Json(id))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_async_trait_handler_confirms() {
    let (server, debouncer) = setup();
    let service = Service { debouncer };
    let started = Instant::now();
    let _ = service.pay(&server, 1).await.unwrap();
    let took = started.elapsed();
    let left = server.keys();
    server.unpause();
    assert!(took >= PAUSED_FOR && left.is_empty(), "{took:?} {left:?}");
}

// ---- shapes that once failed to build with a web feature on: the probe
// ---- picked `&'static str: IntoResponse` for a `&'a str`, took an
// ---- uninferred error type on ambiguity, or `confirm` wrapped a sync
// ---- body that returns a borrow of `self`. They must compile.

/// A plain fn returning a borrow of its argument (once E0521 "borrowed data
/// escapes outside of function ... `'a` must outlive `'static`").
#[debounce(key = "o:{s}", ttl = 30, using = debouncer)]
async fn borrowed<'a>(debouncer: &Debouncer, s: &'a str) -> Result<&'a str, Busy> {
    Ok(s)
}

#[debounce(key = "o:{s}", ttl = 30, using = debouncer)]
async fn cow<'a>(debouncer: &Debouncer, s: &'a str) -> Result<std::borrow::Cow<'a, str>, Busy> {
    Ok(std::borrow::Cow::Borrowed(s))
}

/// `impl Trait` + `?` whose Ok value is a response and whose error is not
/// (once E0277 "`std::io::Error: IntoResponse` is not satisfied").
#[debounce(key = "o:{s}", ttl = 30, using = debouncer, busy = Err(std::io::Error::other("busy")))]
async fn text(debouncer: &Debouncer, s: &str) -> Result<impl std::fmt::Display, std::io::Error> {
    let n: u64 = s.parse().map_err(std::io::Error::other)?;
    Ok(n.to_string())
}

/// A sync `&mut self` method returning a borrow of `self`, with `confirm`
/// (once "captured variable cannot escape `FnMut` closure body").
struct Counter {
    debouncer: Debouncer,
    n: u64,
}
impl Counter {
    #[debounce(key = "n", ttl = 30, confirm, using = self.debouncer)]
    fn first(&mut self) -> Result<&mut u64, Busy> {
        Ok(&mut self.n)
    }
}

#[tokio::test]
async fn shapes_that_once_failed_to_build_run() {
    let debouncer = Debouncer::memory();
    let owned = String::from("42");
    assert_eq!(borrowed(&debouncer, &owned).await.unwrap(), "42");
    assert_eq!(cow(&debouncer, &owned).await.unwrap(), "42");
    assert_eq!(text(&debouncer, &owned).await.unwrap().to_string(), "42");
    let mut counter = Counter {
        debouncer: debouncer.clone(),
        n: 7,
    };
    *counter.first().unwrap() += 1;
    assert_eq!(counter.n, 8);
}
