//! A checkout endpoint that a double click cannot run twice (actix-web).
//!
//! ```text
//! cargo run --example actix_checkout                                # in-memory backend
//! REDIS_URL=redis://127.0.0.1/ cargo run --example actix_checkout   # a real Redis
//! ```
//!
//! It prints a curl line that sends the same POST twice at once: one gets
//! 201, the other 409 with `Retry-After` and a problem body.

use std::time::Duration;

use actix_web::web::{self, Data};
use actix_web::{App, HttpResponse, HttpServer, Responder};
use redis_debounce::{Debouncer, IdempotencyKey, debounce};

#[debounce(key = "checkout:{user}:{key}", ttl = 30, using = debouncer)]
async fn checkout(
    debouncer: Data<Debouncer>,
    user: web::Path<u64>,
    key: IdempotencyKey,
) -> impl Responder {
    actix_web::rt::time::sleep(Duration::from_secs(2)).await; // the payment provider
    HttpResponse::Created().body(format!("user {user} paid (key {key})\n"))
}

#[actix_web::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let debouncer = Data::new(match std::env::var("REDIS_URL") {
        Ok(url) => Debouncer::open(&url)?,
        Err(_) => Debouncer::memory(),
    });
    let server = HttpServer::new(move || {
        App::new()
            .app_data(debouncer.clone())
            .route("/users/{user}/checkout", web::post().to(checkout))
    })
    .bind(("127.0.0.1", 0))?;
    let url = format!("http://{}/users/7/checkout", server.addrs()[0]);
    println!("listening on {url}");
    println!(
        "double click: curl -si -XPOST -H 'Idempotency-Key: k1' {url} & curl -si -XPOST -H 'Idempotency-Key: k1' {url}; wait"
    );
    server.run().await?;
    Ok(())
}
