//! A checkout endpoint that a double click cannot run twice (axum).
//!
//! ```text
//! cargo run --example axum_checkout                                # in-memory backend
//! REDIS_URL=redis://127.0.0.1/ cargo run --example axum_checkout   # a real Redis
//! ```
//!
//! It prints a curl line that sends the same POST twice at once: one gets
//! 201, the other 409 with `Retry-After` and a problem body.

use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::post;
use redis_debounce::{Debouncer, IdempotencyKey, debounce};

#[debounce(key = "checkout:{user}:{key}", ttl = 30, using = debouncer)]
async fn checkout(
    State(debouncer): State<Debouncer>,
    Path(user): Path<u64>,
    key: IdempotencyKey,
) -> impl IntoResponse {
    tokio::time::sleep(Duration::from_secs(2)).await; // the payment provider
    (
        StatusCode::CREATED,
        format!("user {user} paid (key {key})\n"),
    )
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let debouncer = match std::env::var("REDIS_URL") {
        Ok(url) => Debouncer::open(&url)?,
        Err(_) => Debouncer::memory(),
    };
    let app = Router::new()
        .route("/users/{user}/checkout", post(checkout))
        .with_state(debouncer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/users/7/checkout", listener.local_addr()?);
    println!("listening on {url}");
    println!(
        "double click: curl -si -XPOST -H 'Idempotency-Key: k1' {url} & curl -si -XPOST -H 'Idempotency-Key: k1' {url}; wait"
    );
    axum::serve(listener, app).await?;
    Ok(())
}
