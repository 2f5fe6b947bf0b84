//! The default `confirm` decision on the commonest handler shapes, from a
//! third hostile review: `&'static` borrows in a response are probed (and
//! confirm), an elided lifetime in a method's return type builds. Each body holds Redis's writes back as
//! it ends, lifted `PAUSED_FOR` later: a call that returns before that did
//! not confirm.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::response::Html;
use redis_debounce::{Busy, Debouncer, debounce};
use redis_debounce_tests::RedisServer;

const PAUSED_FOR: Duration = Duration::from_millis(400);

/// What a handler gets from its state: owned, as axum's extractors are.
struct Fixture {
    server: RedisServer,
    debouncer: Debouncer,
}

fn fixture() -> Arc<Fixture> {
    let (server, debouncer) = setup();
    Arc::new(Fixture { server, debouncer })
}

fn setup() -> (RedisServer, Debouncer) {
    let server = RedisServer::start();
    let debouncer = server.patient();
    (server, debouncer)
}

fn hold_writes(server: &RedisServer) {
    std::mem::forget(server.hold_writes(PAUSED_FOR));
}

async fn assert_confirmed<F: Future>(server: &RedisServer, what: &str, call: F) {
    let started = Instant::now();
    let _ = call.await;
    let took = started.elapsed();
    let left = server.keys();
    server.unpause();
    assert!(
        took >= PAUSED_FOR && left.is_empty(),
        "{what}: returned after {took:?} with {left:?} still in Redis: the response left before its release"
    );
}

// ---- axum responses with a 'static borrow: the commonest handler shapes

#[debounce(key = "a:{id}", ttl = 300, using = app.debouncer)]
async fn static_str(app: Arc<Fixture>, id: u32) -> Result<&'static str, Busy> {
    hold_writes(&app.server);
    Ok("ok")
}

#[debounce(key = "b:{id}", ttl = 300, using = app.debouncer)]
async fn html_static(app: Arc<Fixture>, id: u32) -> Result<Html<&'static str>, Busy> {
    hold_writes(&app.server);
    Ok(Html("<p>ok</p>"))
}

#[debounce(key = "c:{id}", ttl = 300, using = app.debouncer)]
async fn status_tuple(app: Arc<Fixture>, id: u32) -> Result<(StatusCode, &'static str), Busy> {
    hold_writes(&app.server);
    Ok((StatusCode::CREATED, "created"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_static_str_handler_confirms() {
    let app = fixture();
    assert_confirmed(
        &app.server,
        "Result<&'static str, Busy>",
        static_str(app.clone(), 1),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_html_static_str_handler_confirms() {
    let app = fixture();
    assert_confirmed(
        &app.server,
        "Result<Html<&'static str>, Busy>",
        html_static(app.clone(), 1),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_status_and_static_str_handler_confirms() {
    let app = fixture();
    assert_confirmed(
        &app.server,
        "Result<(StatusCode, &'static str), Busy>",
        status_tuple(app.clone(), 1),
    )
    .await;
}

// ---- an elided lifetime the probe cannot see (no `'`, no `&`)

struct Named {
    debouncer: Debouncer,
    name: String,
}

// A method on `&self`: not probed (the probe would pick `Cow<'static,
// str>`'s impl for the elided lifetime, a compile error), so it builds.
impl Named {
    #[debounce(key = "n:{id}", ttl = 300, using = self.debouncer)]
    #[allow(
        elided_lifetimes_in_paths,
        mismatched_lifetime_syntaxes,
        reason = "the shape under test"
    )]
    async fn name(&self, id: u32) -> Result<Cow<str>, Busy> {
        Ok(Cow::Borrowed(self.name.as_str()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_method_returning_an_elided_cow_builds() {
    let (_server, debouncer) = setup();
    let named = Named {
        debouncer,
        name: "n".into(),
    };
    assert_eq!(named.name(1).await.unwrap(), "n");
}
