//! A burst of duplicate "add to cart" clicks against one debounced handler.
//!
//! ```text
//! cargo run --example quickstart                                   # in-memory backend
//! REDIS_URL=redis://127.0.0.1/ cargo run --example quickstart      # a real Redis
//! ```

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use redis_debounce::{Busy, Debouncer, debounce};

static RAN: AtomicUsize = AtomicUsize::new(0);

#[derive(Debug)]
enum CartError {
    Busy(Busy),
}

impl From<Busy> for CartError {
    fn from(busy: Busy) -> Self {
        CartError::Busy(busy)
    }
}

/// What a web handler would be: one run per user and item at a time.
#[debounce(key = "cart:add:{user_id}:{item_id}", ttl = 30)]
async fn add_to_cart(user_id: u64, item_id: u64) -> Result<&'static str, CartError> {
    RAN.fetch_add(1, Ordering::Relaxed);
    // The work the duplicate clicks must not repeat.
    tokio::time::sleep(Duration::from_millis(200)).await;
    Ok("added")
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let debouncer = if let Ok(url) = std::env::var("REDIS_URL") {
        println!("backend: Redis at {url}");
        Debouncer::open(&url)?
    } else {
        println!("backend: in-memory (set REDIS_URL=redis://127.0.0.1/ to use Redis)");
        Debouncer::memory()
    };
    redis_debounce::install(debouncer.clone());

    let clicks = 20;
    let burst: Vec<_> = (0..clicks)
        .map(|_| tokio::spawn(add_to_cart(42, 7)))
        .collect();
    let (mut added, mut busy, mut failed) = (0, 0, 0);
    for click in burst {
        match click.await? {
            Ok(_) => added += 1,
            Err(CartError::Busy(b)) if b.is_held() => busy += 1,
            Err(CartError::Busy(b)) => {
                failed += 1;
                eprintln!("backend error: {b}");
            }
        }
    }
    println!(
        "{clicks} concurrent clicks: {added} ran, {busy} busy, {failed} failed; the body ran {} time(s)",
        RAN.load(Ordering::Relaxed)
    );
    match add_to_cart(42, 7).await {
        Ok(answer) => println!("a click after the first finished: {answer}"),
        Err(CartError::Busy(b)) => println!("a click after the first finished: {b}"),
    }
    // Releases are not awaited by the calls: let them reach Redis before
    // the process exits, or the keys stay taken until their leases end.
    debouncer.flush().await?;
    Ok(())
}
