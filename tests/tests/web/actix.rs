//! actix-web handlers, annotated as a user would, through a real server on
//! a loopback port and a real HTTP client: 409/429 with `Retry-After` and
//! problem bodies that name no key (also from `?` on a `Busy`), keys from
//! extractors, `Idempotency-Key`, replay (2xx only unless `replay_errors`,
//! bodies up to 1 MiB), and no lock left behind by a client that
//! disconnects mid-handler.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::web::{self, Data, Json, Query};
use actix_web::{App, HttpResponse, HttpServer, Responder};
use redis_debounce::{Busy, Debouncer, IdempotencyKey, debounce};
use redis_debounce_tests::Backend;
use redis_debounce_tests::web::{
    Amount, Order, assert_problem, assert_problem_naming_none, filler, order,
};
use tokio::sync::{Notify, mpsc};

const LONG: Duration = Duration::from_secs(30);
/// A wait that ends before the handlers' 30 s lease: a key freed within it
/// was released, not expired.
const SHORTER_THAN_THE_LEASE: Duration = Duration::from_secs(10);
/// The largest handler body `replay` stores (`MAX_STORED_BODY` in
/// runtime/src/web/mod.rs, "bodies up to 1 MiB" in the docs).
const MIB: usize = 1 << 20;
/// A body that, with its status and headers, fits the default 1 MiB of
/// `max_stored_result`.
const FITS: usize = MIB - 1024;

struct Shop {
    debouncer: Debouncer,
    /// How many times `place` ran.
    placed: std::sync::atomic::AtomicUsize,
    /// Holds `checkout` and `pay` until the test lets them finish.
    gate: Notify,
    /// Told when `pay` holds its lock.
    entered: Notify,
    /// Told how `hang` ended: `true` when actix dropped it unfinished.
    ended: mpsc::UnboundedSender<bool>,
    /// How many times `fail`, `fail_kept` and `export` ran, together.
    runs: AtomicUsize,
}

/// Tells the shop how `hang` ended, when dropped.
struct Ending<'a> {
    ended: &'a mpsc::UnboundedSender<bool>,
    finished: bool,
}

impl Drop for Ending<'_> {
    fn drop(&mut self) {
        let _ = self.ended.send(!self.finished);
    }
}

/// Holds its lock until the gate opens, and tells how it ended.
#[debounce(key = "hang:{id}", ttl = 30, using = shop.debouncer)]
async fn hang(shop: Data<Shop>, id: web::Path<u64>) -> HttpResponse {
    let mut ending = Ending {
        ended: &shop.ended,
        finished: false,
    };
    shop.entered.notify_one();
    shop.gate.notified().await;
    ending.finished = true;
    HttpResponse::Ok().finish()
}

/// `impl Responder`, no `busy`: a duplicate gets the 409 problem.
#[debounce(key = "checkout:{user}:{order.cart}", ttl = 30, using = shop.debouncer)]
async fn checkout(
    shop: Data<Shop>,
    user: web::Path<u64>,
    Json(order): Json<Order>,
) -> impl Responder {
    shop.gate.notified().await;
    HttpResponse::Created().body(format!("cart {} of user {user}", order.cart))
}

/// `Result<T, Busy>`, with a cooldown: a repeat gets 429.
#[debounce(key = "like:{post}", ttl = 30, cooldown = "1h", using = shop.debouncer)]
async fn like(shop: Data<Shop>, post: web::Path<u64>) -> Result<HttpResponse, Busy> {
    Ok(HttpResponse::Ok().finish())
}

/// `HttpResponse`, keyed by the `Idempotency-Key` header and a query field.
#[debounce(key = "pay:{key}:{amount.cents}", ttl = 30, using = shop.debouncer)]
async fn pay(shop: Data<Shop>, key: IdempotencyKey, Query(amount): Query<Amount>) -> HttpResponse {
    shop.entered.notify_one();
    shop.gate.notified().await;
    HttpResponse::Created().body(format!("paid {}", amount.cents))
}

/// Replayed with its status and body; the same key with another cart is 422.
#[debounce(
    key = "place:{key}",
    ttl = 30,
    replay = "1h",
    fingerprint = "{order.cart}",
    using = shop.debouncer
)]
async fn place(shop: Data<Shop>, key: IdempotencyKey, Json(order): Json<Order>) -> HttpResponse {
    let run = shop
        .placed
        .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        + 1;
    HttpResponse::Created().json(serde_json::json!({ "cart": order.cart, "run": run }))
}

/// Not debounced: takes its lock by hand, and `?` turns a `Busy` into an
/// `actix_web::Error`.
async fn settle(shop: Data<Shop>, id: web::Path<u64>) -> Result<HttpResponse, actix_web::Error> {
    let guard = shop
        .debouncer
        .try_lock(&format!("settle:{id}"), LONG)
        .await?;
    guard.release().await.expect("released");
    Ok(HttpResponse::Ok().body(format!("settled {id}")))
}

/// A replayed handler that fails: a 500 is not stored, so the next request
/// with the key runs it again.
#[debounce(key = "fail:{key}", ttl = 30, replay = "1h", using = shop.debouncer)]
async fn fail(shop: Data<Shop>, key: IdempotencyKey) -> HttpResponse {
    let run = shop.runs.fetch_add(1, Ordering::SeqCst) + 1;
    HttpResponse::InternalServerError().body(format!("failure {run}"))
}

/// The same with `replay_errors`: the 500 is stored and replayed.
#[debounce(
    key = "fail-kept:{key}",
    ttl = 30,
    replay = "1h",
    replay_errors,
    using = shop.debouncer
)]
async fn fail_kept(shop: Data<Shop>, key: IdempotencyKey) -> HttpResponse {
    let run = shop.runs.fetch_add(1, Ordering::SeqCst) + 1;
    HttpResponse::InternalServerError().body(format!("failure {run}"))
}

/// A replayed handler answering `bytes` bytes: its run number, then dots.
#[debounce(key = "export:{key}", ttl = 30, replay = "1h", using = shop.debouncer)]
async fn export(shop: Data<Shop>, key: IdempotencyKey, bytes: web::Path<usize>) -> HttpResponse {
    let run = shop.runs.fetch_add(1, Ordering::SeqCst) + 1;
    HttpResponse::Ok().body(filler(run, *bytes))
}

struct Server {
    base: String,
    shop: Data<Shop>,
    client: reqwest::Client,
    /// How `hang` ended, each time: `true` when dropped unfinished.
    ended: mpsc::UnboundedReceiver<bool>,
    backend: Backend,
}

fn serve(backend: Backend) -> Server {
    let (ended, ended_rx) = mpsc::unbounded_channel();
    let shop = Data::new(Shop {
        debouncer: backend.debouncer.clone(),
        gate: Notify::new(),
        entered: Notify::new(),
        ended,
        placed: std::sync::atomic::AtomicUsize::new(0),
        runs: AtomicUsize::new(0),
    });
    let data = shop.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/users/{user}/checkout", web::post().to(checkout))
            .route("/posts/{post}/like", web::post().to(like))
            .route("/pay", web::post().to(pay))
            .route("/orders", web::post().to(place))
            .route("/hang/{id}", web::post().to(hang))
            .route("/settle/{id}", web::post().to(settle))
            .route("/fail", web::post().to(fail))
            .route("/fail-kept", web::post().to(fail_kept))
            .route("/export/{bytes}", web::post().to(export))
    })
    .workers(1)
    .disable_signals()
    .bind(("127.0.0.1", 0))
    .unwrap();
    let base = format!("http://{}", server.addrs()[0]);
    actix_web::rt::spawn(server.run());
    Server {
        base,
        shop,
        client: reqwest::Client::new(),
        ended: ended_rx,
        backend,
    }
}

/// Runs a test on actix's runtime, as `#[actix_web::main]` would.
fn actix(test: impl AsyncFnOnce()) {
    actix_web::rt::System::new().block_on(test());
}

#[test]
fn fifty_identical_posts_run_once() {
    actix(async || {
        let server = serve(Backend::redis());
        let (done, mut answers) = mpsc::unbounded_channel();
        for _ in 0..50 {
            let request = server
                .client
                .post(format!("{}/users/7/checkout", server.base))
                .header("content-type", "application/json")
                .body(order(11));
            let done = done.clone();
            actix_web::rt::spawn(async move { done.send(request.send().await.unwrap()).unwrap() });
        }
        for _ in 0..49 {
            let response = answers.recv().await.unwrap();
            let seconds = assert_problem_naming_none(response, 409, &["checkout:7:11"])
                .await
                .expect("Retry-After");
            assert!((1..=30).contains(&seconds), "{seconds}");
        }
        server.shop.gate.notify_one();
        let first = answers.recv().await.unwrap();
        assert_eq!(first.status().as_u16(), StatusCode::CREATED.as_u16());
        assert_eq!(first.text().await.unwrap(), "cart 11 of user 7");
    });
}

#[test]
fn a_repeat_in_the_cooldown_gets_429() {
    actix(async || {
        let server = serve(Backend::redis());
        let url = format!("{}/posts/3/like", server.base);
        assert_eq!(server.client.post(&url).send().await.unwrap().status(), 200);
        let repeat = server.client.post(&url).send().await.unwrap();
        let retry_after = assert_problem_naming_none(repeat, 429, &["like:3"]).await;
        let seconds = retry_after.expect("Retry-After");
        assert!((3500..=3600).contains(&seconds), "{seconds}");
    });
}

#[test]
fn idempotency_key_is_checked_and_keys_the_lock() {
    actix(async || {
        let server = serve(Backend::redis());
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
            actix_web::rt::spawn(
                server
                    .client
                    .post(&url)
                    .header("Idempotency-Key", key)
                    .send(),
            )
        };
        let first = send("k-1");
        server.shop.entered.notified().await;
        let other = send("k-2");
        server.shop.entered.notified().await;
        let duplicate = send("k-1").await.unwrap().unwrap();
        assert_problem_naming_none(duplicate, 409, &["pay:k-1:500", "k-1"]).await;
        server.shop.gate.notify_one();
        server.shop.gate.notify_one();
        assert_eq!(first.await.unwrap().unwrap().status(), 201);
        assert_eq!(other.await.unwrap().unwrap().status(), 201);
    });
}

/// A client that disconnects while its handler holds the lock: actix-web
/// runs the handler to its end (it does not drop it, as the README says),
/// and the lock is released when it ends. Which of the two happened is
/// told by the handler itself, not guessed from timing.
#[test]
fn a_client_that_disconnects_leaves_no_lock() {
    actix(async || {
        let mut server = serve(Backend::redis());
        let request = server.client.post(format!("{}/hang/8", server.base)).send();
        let client = actix_web::rt::spawn(request);
        server.shop.entered.notified().await;
        // The client goes away while the handler holds the lock.
        client.abort();
        assert!(client.await.is_err(), "the request was cut off");
        // A server that drops handlers does so as it reads the end of the
        // connection, at once; give it a while to show (a handler that is
        // run to its end cannot end before the gate opens, however long).
        let early = tokio::time::timeout(Duration::from_millis(500), server.ended.recv()).await;
        assert!(
            early.is_err(),
            "the handler ended on the disconnect: {early:?}"
        );
        server.shop.gate.notify_one();
        let dropped = tokio::time::timeout(LONG, server.ended.recv())
            .await
            .expect("the handler ended")
            .expect("the shop lives");
        assert!(!dropped, "actix-web dropped the handler unfinished");
        // Checked through the shop's own `Debouncer`, from this runtime,
        // while actix's worker runtime used it for the handler: the
        // connection belongs to the `Debouncer`, not to a runtime.
        let guard = server
            .backend
            .debouncer
            .lock("hang:8", LONG)
            .wait(SHORTER_THAN_THE_LEASE)
            .acquire()
            .await;
        assert!(guard.is_ok(), "released when the handler ended: {guard:?}");
    });
}

#[test]
fn replay_returns_the_first_response_and_422_for_another_payload() {
    actix(async || {
        let server = serve(Backend::redis());
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
        assert_eq!(first.status(), 201);
        assert!(first.headers().get("idempotency-replayed").is_none());
        let content_type = first.headers()["content-type"].clone();
        let body = first.text().await.unwrap();
        assert_eq!(body, r#"{"cart":5,"run":1}"#);

        let again = place("o-1", 5).await.unwrap();
        assert_eq!(again.status(), 201);
        assert_eq!(again.headers()["idempotency-replayed"], "true");
        assert_eq!(again.headers()["content-type"], content_type);
        assert_eq!(again.text().await.unwrap(), body, "the stored body");

        let other = place("o-1", 6).await.unwrap();
        assert_problem_naming_none(other, 422, &["place:o-1", "o-1"]).await;
        assert_eq!(
            server.shop.placed.load(std::sync::atomic::Ordering::SeqCst),
            1
        );
    });
}

/// `?` on a `Busy` in a handler returning `Result<_, actix_web::Error>`
/// renders the 409 problem with `Retry-After`.
#[test]
fn question_mark_turns_busy_into_the_409_problem() {
    actix(async || {
        let server = serve(Backend::redis());
        let url = format!("{}/settle/9", server.base);
        let held = server.shop.debouncer.try_lock("settle:9", LONG).await;
        let held = held.expect("the key is free");
        let response = server.client.post(&url).send().await.unwrap();
        let retry_after = assert_problem_naming_none(response, 409, &["settle:9"]).await;
        let seconds = retry_after.expect("Retry-After");
        assert!((1..=30).contains(&seconds), "{seconds}");
        assert!(held.release().await.expect("released"), "still ours");
        // Free again: the handler runs.
        let response = server.client.post(&url).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.text().await.unwrap(), "settled 9");
    });
}

/// Only 2xx responses are stored: a 500 runs the handler again, unreplayed;
/// with `replay_errors` the 500 is stored and replayed.
#[test]
fn replay_stores_errors_only_with_replay_errors() {
    actix(async || {
        let server = serve(Backend::redis());
        let send = |path: &str, key: &str| {
            server
                .client
                .post(format!("{}{path}", server.base))
                .header("Idempotency-Key", key)
                .send()
        };
        for run in 1..=2 {
            let response = send("/fail", "f-1").await.unwrap();
            assert_eq!(response.status(), 500);
            assert!(response.headers().get("idempotency-replayed").is_none());
            assert_eq!(response.text().await.unwrap(), format!("failure {run}"));
        }
        assert_eq!(server.shop.runs.load(Ordering::SeqCst), 2, "ran again");

        let first = send("/fail-kept", "f-1").await.unwrap();
        assert_eq!(first.status(), 500);
        assert!(first.headers().get("idempotency-replayed").is_none());
        assert_eq!(first.text().await.unwrap(), "failure 3");
        let again = send("/fail-kept", "f-1").await.unwrap();
        assert_eq!(again.status(), 500);
        assert_eq!(again.headers()["idempotency-replayed"], "true");
        assert_eq!(again.text().await.unwrap(), "failure 3", "the stored body");
        assert_eq!(server.shop.runs.load(Ordering::SeqCst), 3, "replayed");
    });
}

/// A body that fits 1 MiB with its header is stored and replayed; a body of
/// 1 MiB and one byte is served whole but not stored, so the next request runs the handler again.
#[test]
fn replay_stores_bodies_up_to_1_mib() {
    actix(async || {
        let server = serve(Backend::redis());
        let send = |bytes: usize, key: &str| {
            server
                .client
                .post(format!("{}/export/{bytes}", server.base))
                .header("Idempotency-Key", key)
                .send()
        };
        for run in 1..=2 {
            let response = send(MIB + 1, "e-over").await.unwrap();
            assert_eq!(response.status(), 200);
            assert!(response.headers().get("idempotency-replayed").is_none());
            let body = response.bytes().await.unwrap();
            assert!(body == filler(run, MIB + 1), "served whole, run {run}");
        }
        assert_eq!(server.shop.runs.load(Ordering::SeqCst), 2, "not stored");

        let first = send(FITS, "e-at").await.unwrap();
        assert_eq!(first.status(), 200);
        assert!(first.headers().get("idempotency-replayed").is_none());
        assert!(first.bytes().await.unwrap() == filler(3, FITS));
        let again = send(FITS, "e-at").await.unwrap();
        assert_eq!(again.status(), 200);
        assert_eq!(again.headers()["idempotency-replayed"], "true");
        assert!(
            again.bytes().await.unwrap() == filler(3, FITS),
            "the stored body"
        );
        assert_eq!(server.shop.runs.load(Ordering::SeqCst), 3, "replayed");
    });
}
