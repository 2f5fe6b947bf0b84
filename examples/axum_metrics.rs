//! The metrics of a debounced axum app, on a Prometheus endpoint.
//!
//! ```text
//! cargo run --example axum_metrics                                # in-memory backend
//! REDIS_URL=redis://127.0.0.1/ cargo run --example axum_metrics   # a real Redis
//! ```
//!
//! It serves `POST /orders/{id}` (debounced) and `GET /metrics`, double
//! clicks one order itself, and prints what `/metrics` then shows; then it
//! serves on, for curl or a Prometheus scrape.

use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use redis_debounce::{Debouncer, debounce};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

#[derive(Clone)]
struct App {
    debouncer: Debouncer,
    metrics: PrometheusHandle,
}

#[debounce(key = "order:{id}", ttl = 30, using = app.debouncer)]
async fn place_order(State(app): State<App>, Path(id): Path<u64>) -> impl IntoResponse {
    tokio::time::sleep(Duration::from_millis(300)).await; // the work
    (StatusCode::CREATED, format!("order {id} placed\n"))
}

async fn render_metrics(State(app): State<App>) -> String {
    app.metrics.render()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The recorder first: the Debouncer describes its metrics to it.
    let metrics = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Suffix("_seconds".into()),
            &[
                0.000_1, 0.000_5, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0,
            ],
        )?
        .install_recorder()?;
    let upkeep = metrics.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(5)).await;
            upkeep.run_upkeep();
        }
    });
    let debouncer = match std::env::var("REDIS_URL") {
        Ok(url) => Debouncer::open(&url)?,
        Err(_) => Debouncer::memory(),
    };
    let app = Router::new()
        .route("/orders/{id}", post(place_order))
        .route("/metrics", get(render_metrics))
        .with_state(App { debouncer, metrics });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });

    // A double click: two POSTs of one order at once.
    let (first, second) = tokio::join!(
        request(address, "POST", "/orders/1"),
        request(address, "POST", "/orders/1")
    );
    println!("double click: {} and {}", status(&first?), status(&second?));
    let exposition = request(address, "GET", "/metrics").await?;
    println!("GET /metrics (redis_debounce lines):");
    for line in exposition
        .lines()
        .filter(|line| line.contains("redis_debounce_"))
    {
        println!("  {line}");
    }
    println!("listening on http://{address}");
    println!("try: curl -s -XPOST http://{address}/orders/2; curl -s http://{address}/metrics");
    std::future::pending::<()>().await;
    Ok(())
}

/// One HTTP/1.1 request on a connection of its own: the whole response.
async fn request(
    address: std::net::SocketAddr,
    method: &str,
    path: &str,
) -> std::io::Result<String> {
    let mut stream = tokio::net::TcpStream::connect(address).await?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    Ok(response)
}

/// The status line's code.
fn status(response: &str) -> &str {
    response.split_whitespace().nth(1).unwrap_or("?")
}
