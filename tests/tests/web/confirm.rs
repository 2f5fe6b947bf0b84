//! A handler's release (or stored result) is confirmed by Redis before its
//! response leaves: a client's next request, to this instance or any
//! other, never meets the lock of the request it already has the answer to.
//! Decided by the handler's value being a response (axum `IntoResponse`,
//! actix-web `Responder`), whatever the return type is spelled.
//!
//! Each handler holds Redis's writes back (`CLIENT PAUSE WRITE`, which also
//! holds every script) as its body ends, and has the pause lifted a moment
//! later: a response that left before Redis ran the release arrives while
//! the pause still stands, with the lock still in Redis, on every run.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Json, Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::post;
use redis_debounce::{Busy, Debouncer, debounce};
use redis_debounce_tests::{RedisServer, Unpausing};

/// How long a wrong handler has to show itself before the pause is
/// lifted. A right one cannot answer before then, however slow the machine.
const PAUSED_FOR: Duration = Duration::from_millis(500);
const LONG: Duration = Duration::from_secs(60);

struct App {
    server: RedisServer,
    debouncer: Debouncer,
    unpausing: Mutex<Option<Unpausing>>,
}

impl App {
    fn new() -> Arc<App> {
        let server = RedisServer::start();
        // Far longer than the pause: the release is answered, not timed out.
        let debouncer = server.patient();
        Arc::new(App {
            server,
            debouncer,
            unpausing: Mutex::new(None),
        })
    }

    /// Holds writes back from now until `PAUSED_FOR` has passed.
    fn hold_writes(&self) {
        *self.unpausing.lock().unwrap() = Some(self.server.hold_writes(PAUSED_FOR));
    }

    /// The response is in: the pause was lifted before it left, and Redis
    /// holds exactly `keys` (no lock).
    fn assert_confirmed(&self, keys: &[&str]) {
        let unpausing = self.unpausing.lock().unwrap().take().expect("paused");
        assert!(
            unpausing.lifted(),
            "the response left before Redis could run the release"
        );
        assert_eq!(self.server.keys(), keys, "what Redis holds");
        unpausing.join();
    }
}

#[debounce(key = "pay:{id}", ttl = 300, using = app.debouncer)]
async fn pay(State(app): State<Arc<App>>, Path(id): Path<u64>) -> impl IntoResponse {
    app.hold_writes();
    (StatusCode::CREATED, format!("paid {id}"))
}

/// Not spelled as a response: a `Result` whose both sides are responses.
#[debounce(key = "quote:{id}", ttl = 300, using = app.debouncer)]
async fn quote(State(app): State<Arc<App>>, Path(id): Path<u64>) -> Result<Json<u64>, Busy> {
    app.hold_writes();
    Ok(Json(id * 100))
}

/// The stored result is confirmed with the release.
#[debounce(key = "order:{id}", ttl = 300, replay = "1h", using = app.debouncer)]
async fn order(State(app): State<Arc<App>>, Path(id): Path<u64>) -> impl IntoResponse {
    app.hold_writes();
    (StatusCode::CREATED, format!("order {id}"))
}

async fn serve(app: Arc<App>) -> String {
    let router = Router::new()
        .route("/pay/{id}", post(pay))
        .route("/quote/{id}", post(quote))
        .route("/order/{id}", post(order))
        .with_state(app);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    base
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_axum_response_leaves_after_its_release() {
    let app = App::new();
    let base = serve(app.clone()).await;
    let client = reqwest::Client::new();
    let paid = client.post(format!("{base}/pay/7")).send().await.unwrap();
    assert_eq!(paid.status(), StatusCode::CREATED);
    app.assert_confirmed(&[]);
    let quoted = client.post(format!("{base}/quote/7")).send().await.unwrap();
    assert_eq!(quoted.text().await.unwrap(), "700");
    app.assert_confirmed(&[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_axum_replayed_response_leaves_after_its_stored_result() {
    let app = App::new();
    let base = serve(app.clone()).await;
    let client = reqwest::Client::new();
    let first = client.post(format!("{base}/order/3")).send().await.unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    app.assert_confirmed(&["debounce:{order:3}:result"]);
    // Another instance replays it at once.
    let other = Debouncer::open(&app.server.url()).expect("url");
    let replayed = other
        .lock("order:3", LONG)
        .acquire_or_replay::<String>()
        .await;
    assert!(
        matches!(replayed, Err(_) | Ok(redis_debounce::Acquired::Replayed(_))),
        "the stored result is there: {replayed:?}"
    );
    assert!(
        !matches!(replayed, Ok(redis_debounce::Acquired::Locked(_))),
        "not taken as new"
    );
}

mod actix {
    use actix_web::web::{self, Data};
    use actix_web::{HttpResponse, HttpServer, Responder};
    use redis_debounce::debounce;

    use super::App;

    #[debounce(key = "refund:{id}", ttl = 300, using = app.debouncer)]
    async fn refund(app: Data<App>, id: web::Path<u64>) -> HttpResponse {
        app.hold_writes();
        HttpResponse::Created().body(format!("refund {id}"))
    }

    #[debounce(key = "cancel:{id}", ttl = 300, using = app.debouncer)]
    async fn cancel(app: Data<App>, id: web::Path<u64>) -> impl Responder {
        app.hold_writes();
        format!("cancel {id}")
    }

    #[test]
    fn an_actix_response_leaves_after_its_release() {
        actix_web::rt::System::new().block_on(async {
            let app = Data::from(App::new());
            let data = app.clone();
            let server = HttpServer::new(move || {
                actix_web::App::new()
                    .app_data(data.clone())
                    .route("/refund/{id}", web::post().to(refund))
                    .route("/cancel/{id}", web::post().to(cancel))
            })
            .workers(1)
            .disable_signals()
            .bind(("127.0.0.1", 0))
            .unwrap();
            let base = format!("http://{}", server.addrs()[0]);
            actix_web::rt::spawn(server.run());
            let client = reqwest::Client::new();
            let refunded = client
                .post(format!("{base}/refund/5"))
                .send()
                .await
                .unwrap();
            assert_eq!(refunded.text().await.unwrap(), "refund 5");
            app.assert_confirmed(&[]);
            let cancelled = client
                .post(format!("{base}/cancel/5"))
                .send()
                .await
                .unwrap();
            assert_eq!(cancelled.text().await.unwrap(), "cancel 5");
            app.assert_confirmed(&[]);
        });
    }
}
