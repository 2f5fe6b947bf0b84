//! Exactly one active worker (seed 004): every instance runs the same code;
//! one holds `worker:<name>` and renews its lease while it works; the others
//! wait. When the active one exits, a waiter takes over at once; when it
//! dies (`kill -9`), its lease runs out and a waiter takes over within one
//! lease (3 s here). Writes carry the fencing token, so a stale worker's
//! late writes can be told apart.
//!
//! ```text
//! cargo run --example single_worker                                # two instances, in-memory
//! REDIS_URL=redis://127.0.0.1/ cargo run --example single_worker   # run it in two terminals
//! ```

use std::time::Duration;

use redis_debounce::{Busy, Debouncer, debounce, lease};

/// One term as the active worker: `ticks` units of work, or until the
/// lease is lost (then someone else may be active: stop at once).
#[debounce(
    key = "worker:{name}",
    ttl = "3s",
    renew,
    fence,
    wait = "1h",
    using = debouncer
)]
async fn serve(debouncer: &Debouncer, name: &str, instance: u32, ticks: u32) -> Result<(), Busy> {
    let lease = lease().expect("inside a debounced body");
    let token = lease.fence().expect("asked for with `fence`");
    println!("instance {instance}: active (fencing token {token})");
    for tick in 1..=ticks {
        tokio::select! {
            () = lease.lost() => {
                println!("instance {instance}: lease lost, stepping down");
                return Ok(());
            }
            () = tokio::time::sleep(Duration::from_millis(500)) => {
                println!("instance {instance}: tick {tick}, write stamped with token {token}");
            }
        }
    }
    println!("instance {instance}: clean exit, the lock is released at once");
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let ticks = 4;
    if let Ok(url) = std::env::var("REDIS_URL") {
        println!(
            "backend: Redis at {url}; start a second copy to see it wait, kill this one to see it take over"
        );
        let debouncer = Debouncer::open(&url)?;
        serve(&debouncer, "mailer", std::process::id(), ticks).await?;
        // The last release reaches Redis before the process exits.
        debouncer.flush().await?;
        return Ok(());
    }
    println!("backend: in-memory, two instances in this process");
    let debouncer = Debouncer::memory();
    let (first, second) = tokio::join!(
        serve(&debouncer, "mailer", 1, ticks),
        serve(&debouncer, "mailer", 2, ticks),
    );
    first?;
    second?;
    Ok(())
}
