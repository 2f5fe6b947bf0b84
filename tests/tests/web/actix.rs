//! actix-web handlers, annotated as a user would, through a real server on
//! a loopback port and a real HTTP client: 409/429 with `Retry-After` and
//! problem bodies, keys from extractors, `Idempotency-Key`, and no lock left
//! behind by a client that disconnects mid-handler.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::web::{self, Data, Json, Query};
use actix_web::{App, HttpResponse, HttpServer, Responder};
use redis_debounce::{Busy, Debouncer, IdempotencyKey, debounce};
use redis_debounce_tests::Backend;
use redis_debounce_tests::web::{Amount, Order, assert_problem, order};
use tokio::sync::{Notify, mpsc};

const LONG: Duration = Duration::from_secs(30);
/// A wait that ends before the handlers' 30 s lease: a key freed within it
/// was released, not expired.
const SHORTER_THAN_THE_LEASE: Duration = Duration::from_secs(10);

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

struct Server {
    base: String,
    shop: Data<Shop>,
    client: reqwest::Client,
    /// How `hang` ended, each time: `true` when dropped unfinished.
    ended: mpsc::UnboundedReceiver<bool>,
    _backend: Backend,
}

fn serve(backend: Backend) -> Server {
    let (ended, ended_rx) = mpsc::unbounded_channel();
    let shop = Data::new(Shop {
        debouncer: backend.debouncer.clone(),
        gate: Notify::new(),
        entered: Notify::new(),
        ended,
        placed: std::sync::atomic::AtomicUsize::new(0),
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
        _backend: backend,
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
            let seconds = assert_problem(response, 409).await.expect("Retry-After");
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
        let retry_after = assert_problem(server.client.post(&url).send().await.unwrap(), 429).await;
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
        assert_problem(send("k-1").await.unwrap().unwrap(), 409).await;
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
        let guard = server
            .shop
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

        assert_problem(place("o-1", 6).await.unwrap(), 422).await;
        assert_eq!(
            server.shop.placed.load(std::sync::atomic::Ordering::SeqCst),
            1
        );
    });
}
