//! axum handlers, annotated as a user would, through a real server on a
//! loopback port and a real HTTP client: 409/429/503 with `Retry-After` and
//! problem bodies that name no key, keys from extractors, `Idempotency-Key`,
//! replay (2xx only unless `replay_errors`, bodies up to 1 MiB), and no lock
//! left behind by a client that disconnects mid-handler.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{Json, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use redis_debounce::{Busy, Debouncer, IdempotencyKey, debounce};
use redis_debounce_tests::Backend;
use redis_debounce_tests::web::{
    Amount, Order, assert_problem, assert_problem_naming_none, filler, order,
};
use tokio::sync::{Notify, mpsc};

const LONG: Duration = Duration::from_secs(30);
/// The largest handler body `replay` stores (`MAX_STORED_BODY` in
/// runtime/src/web/mod.rs, "bodies up to 1 MiB" in the docs).
const MIB: usize = 1 << 20;
/// A body that, with its status and headers, fits the default 1 MiB of
/// `max_stored_result`.
const FITS: usize = MIB - 1024;

struct App {
    debouncer: Debouncer,
    /// How many times `place` ran.
    placed: std::sync::atomic::AtomicUsize,
    /// Holds `checkout` and `pay` until the test lets them finish.
    gate: Notify,
    /// Told when `pay` holds its lock.
    entered: Notify,
    /// How many times `fail`, `fail_kept` and `export` ran, together.
    runs: AtomicUsize,
}

/// `impl IntoResponse`, no `busy`: a duplicate gets the 409 problem.
#[debounce(key = "checkout:{user}:{order.cart}", ttl = 30, using = state.debouncer)]
async fn checkout(
    State(state): State<Arc<App>>,
    Path(user): Path<u64>,
    Json(order): Json<Order>,
) -> impl IntoResponse {
    state.gate.notified().await;
    (
        StatusCode::CREATED,
        format!("cart {} of user {user}", order.cart),
    )
}

/// `Result<T, Busy>`, with a cooldown: a repeat gets 429.
#[debounce(key = "like:{post}", ttl = 30, cooldown = "1h", using = state.debouncer)]
async fn like(State(state): State<Arc<App>>, Path(post): Path<u64>) -> Result<StatusCode, Busy> {
    Ok(StatusCode::OK)
}

/// `Response`, keyed by the `Idempotency-Key` header and a query field.
#[debounce(key = "pay:{key}:{amount.cents}", ttl = 30, using = state.debouncer)]
async fn pay(
    State(state): State<Arc<App>>,
    key: IdempotencyKey,
    Query(amount): Query<Amount>,
) -> Response {
    state.entered.notify_one();
    state.gate.notified().await;
    (StatusCode::CREATED, format!("paid {}", amount.cents)).into_response()
}

/// Replayed with its status and body; the same key with another cart is 422.
#[debounce(
    key = "place:{key}",
    ttl = 30,
    replay = "1h",
    fingerprint = "{order.cart}",
    using = state.debouncer
)]
async fn place(
    State(state): State<Arc<App>>,
    key: IdempotencyKey,
    Json(order): Json<Order>,
) -> impl IntoResponse {
    let run = state
        .placed
        .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        + 1;
    (
        StatusCode::CREATED,
        Json(serde_json::json!({ "cart": order.cart, "run": run })),
    )
}

/// A replayed handler that fails: a 500 is not stored, so the next request
/// with the key runs it again.
#[debounce(key = "fail:{key}", ttl = 30, replay = "1h", using = state.debouncer)]
async fn fail(State(state): State<Arc<App>>, key: IdempotencyKey) -> impl IntoResponse {
    let run = state.runs.fetch_add(1, Ordering::SeqCst) + 1;
    (StatusCode::INTERNAL_SERVER_ERROR, format!("failure {run}"))
}

/// The same with `replay_errors`: the 500 is stored and replayed.
#[debounce(
    key = "fail-kept:{key}",
    ttl = 30,
    replay = "1h",
    replay_errors,
    using = state.debouncer
)]
async fn fail_kept(State(state): State<Arc<App>>, key: IdempotencyKey) -> Response {
    let run = state.runs.fetch_add(1, Ordering::SeqCst) + 1;
    (StatusCode::INTERNAL_SERVER_ERROR, format!("failure {run}")).into_response()
}

/// A replayed handler answering `bytes` bytes: its run number, then dots.
#[debounce(key = "export:{key}", ttl = 30, replay = "1h", using = state.debouncer)]
async fn export(
    State(state): State<Arc<App>>,
    key: IdempotencyKey,
    Path(bytes): Path<usize>,
) -> Response {
    let run = state.runs.fetch_add(1, Ordering::SeqCst) + 1;
    (StatusCode::OK, filler(run, bytes)).into_response()
}

struct Server {
    base: String,
    app: Arc<App>,
    client: reqwest::Client,
    _backend: Backend,
}

async fn serve(backend: Backend) -> Server {
    let app = Arc::new(App {
        debouncer: backend.debouncer.clone(),
        gate: Notify::new(),
        entered: Notify::new(),
        placed: std::sync::atomic::AtomicUsize::new(0),
        runs: AtomicUsize::new(0),
    });
    let router = Router::new()
        .route("/users/{user}/checkout", post(checkout))
        .route("/posts/{post}/like", post(like))
        .route("/pay", post(pay))
        .route("/orders", post(place))
        .route("/fail", post(fail))
        .route("/fail-kept", post(fail_kept))
        .route("/export/{bytes}", post(export))
        .with_state(app.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    Server {
        base,
        app,
        client: reqwest::Client::new(),
        _backend: backend,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_identical_posts_run_once() {
    let server = serve(Backend::redis()).await;
    let (done, mut answers) = mpsc::unbounded_channel();
    for _ in 0..50 {
        let request = server
            .client
            .post(format!("{}/users/7/checkout", server.base))
            .header("content-type", "application/json")
            .body(order(11));
        let done = done.clone();
        tokio::spawn(async move { done.send(request.send().await.unwrap()).unwrap() });
    }
    // 49 duplicates are turned away while the first is held at the gate.
    for _ in 0..49 {
        let response = answers.recv().await.unwrap();
        let retry_after = assert_problem_naming_none(response, 409, &["checkout:7:11"]).await;
        let seconds = retry_after.expect("Retry-After");
        assert!((1..=30).contains(&seconds), "{seconds}");
    }
    server.app.gate.notify_one();
    let first = answers.recv().await.unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    assert_eq!(first.text().await.unwrap(), "cart 11 of user 7");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeat_in_the_cooldown_gets_429() {
    let server = serve(Backend::redis()).await;
    let url = format!("{}/posts/3/like", server.base);
    let first = server.client.post(&url).send().await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    let repeat = server.client.post(&url).send().await.unwrap();
    let retry_after = assert_problem_naming_none(repeat, 429, &["like:3"]).await;
    let seconds = retry_after.expect("Retry-After");
    assert!((3500..=3600).contains(&seconds), "{seconds}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_key_is_checked_and_keys_the_lock() {
    let server = serve(Backend::redis()).await;
    let url = format!("{}/pay?cents=500", server.base);
    assert_problem(server.client.post(&url).send().await.unwrap(), 400).await;
    for bad in [String::new(), "x".repeat(256), "two words".into()] {
        let response = server
            .client
            .post(&url)
            .header("Idempotency-Key", bad)
            .send()
            .await
            .unwrap();
        assert_problem(response, 400).await;
    }
    let send = |key: &str| {
        tokio::spawn(
            server
                .client
                .post(&url)
                .header("Idempotency-Key", key)
                .send(),
        )
    };
    let first = send("k-1");
    server.app.entered.notified().await;
    // Another key is another lock: it runs beside the first.
    let other = send("k-2");
    server.app.entered.notified().await;
    // The same key while the first runs: 409, naming neither the key nor
    // the header's value.
    let duplicate = send("k-1").await.unwrap().unwrap();
    assert_problem_naming_none(duplicate, 409, &["pay:k-1:500", "k-1"]).await;
    server.app.gate.notify_one();
    server.app.gate.notify_one();
    assert_eq!(first.await.unwrap().unwrap().status(), StatusCode::CREATED);
    assert_eq!(other.await.unwrap().unwrap().status(), StatusCode::CREATED);
}

/// A client that disconnects while its handler holds the lock: hyper drops
/// the handler, which releases the lock at once. The handler never gets
/// past its gate (never opened here), so only that drop can free the key
/// before its 30 s lease.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_disconnects_leaves_no_lock() {
    let server = serve(Backend::redis()).await;
    let request = server
        .client
        .post(format!("{}/pay?cents=500", server.base))
        .header("Idempotency-Key", "k-9")
        .send();
    let client = tokio::spawn(request);
    server.app.entered.notified().await;
    // The client goes away while the handler holds the lock.
    client.abort();
    assert!(client.await.is_err(), "the request was cut off");
    let guard = server
        .app
        .debouncer
        .lock("pay:k-9:500", LONG)
        .wait(Duration::from_secs(10))
        .acquire()
        .await;
    assert!(
        guard.is_ok(),
        "released when hyper dropped the handler: {guard:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unavailable_backend_is_503_without_details() {
    let mut backend = Backend::redis();
    backend.server.as_mut().unwrap().stop();
    let server = serve(backend).await;
    let response = server
        .client
        .post(format!("{}/posts/4/like", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().get("retry-after").is_none());
    let body = response.text().await.unwrap();
    assert!(
        !body.to_lowercase().contains("redis") && !body.contains("127.0.0.1"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_returns_the_first_response_and_422_for_another_payload() {
    let server = serve(Backend::redis()).await;
    let place = |key: &str, cart: u64| {
        server
            .client
            .post(format!("{}/orders", server.base))
            .header("Idempotency-Key", key)
            .header("content-type", "application/json")
            .body(order(cart))
            .send()
    };
    let first = place("o-1", 5).await.unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    assert!(first.headers().get("idempotency-replayed").is_none());
    let content_type = first.headers()["content-type"].clone();
    let body = first.text().await.unwrap();
    assert_eq!(body, r#"{"cart":5,"run":1}"#);

    let again = place("o-1", 5).await.unwrap();
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(again.headers()["idempotency-replayed"], "true");
    assert_eq!(again.headers()["content-type"], content_type);
    assert_eq!(again.text().await.unwrap(), body, "the stored body");

    assert_problem_naming_none(place("o-1", 6).await.unwrap(), 422, &["place:o-1", "o-1"]).await;
    assert_eq!(
        server.app.placed.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "one execution"
    );
}

/// Only 2xx responses are stored: a 500 runs the handler again, unreplayed;
/// with `replay_errors` the 500 is stored and replayed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_stores_errors_only_with_replay_errors() {
    let server = serve(Backend::redis()).await;
    let send = |path: &str, key: &str| {
        server
            .client
            .post(format!("{}{path}", server.base))
            .header("Idempotency-Key", key)
            .send()
    };
    for run in 1..=2 {
        let response = send("/fail", "f-1").await.unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(response.headers().get("idempotency-replayed").is_none());
        assert_eq!(response.text().await.unwrap(), format!("failure {run}"));
    }
    assert_eq!(server.app.runs.load(Ordering::SeqCst), 2, "ran again");

    let first = send("/fail-kept", "f-1").await.unwrap();
    assert_eq!(first.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(first.headers().get("idempotency-replayed").is_none());
    assert_eq!(first.text().await.unwrap(), "failure 3");
    let again = send("/fail-kept", "f-1").await.unwrap();
    assert_eq!(again.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(again.headers()["idempotency-replayed"], "true");
    assert_eq!(again.text().await.unwrap(), "failure 3", "the stored body");
    assert_eq!(server.app.runs.load(Ordering::SeqCst), 3, "replayed");
}

/// A body that fits 1 MiB with its header is stored and replayed; a body of
/// 1 MiB and one byte is served whole but not stored, so the next request runs the handler again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_stores_bodies_up_to_1_mib() {
    let server = serve(Backend::redis()).await;
    let send = |bytes: usize, key: &str| {
        server
            .client
            .post(format!("{}/export/{bytes}", server.base))
            .header("Idempotency-Key", key)
            .send()
    };
    for run in 1..=2 {
        let response = send(MIB + 1, "e-over").await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers().get("idempotency-replayed").is_none());
        let body = response.bytes().await.unwrap();
        assert!(body == filler(run, MIB + 1), "served whole, run {run}");
    }
    assert_eq!(server.app.runs.load(Ordering::SeqCst), 2, "not stored");

    let first = send(FITS, "e-at").await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    assert!(first.headers().get("idempotency-replayed").is_none());
    assert!(first.bytes().await.unwrap() == filler(3, FITS));
    let again = send(FITS, "e-at").await.unwrap();
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(again.headers()["idempotency-replayed"], "true");
    assert!(
        again.bytes().await.unwrap() == filler(3, FITS),
        "the stored body"
    );
    assert_eq!(server.app.runs.load(Ordering::SeqCst), 3, "replayed");
}
