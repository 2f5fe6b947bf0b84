//! `wait` mode: the time from a holder's release to a waiter holding the
//! lock, on a loopback `redis-server` the bench starts itself and on the
//! in-memory backend. Prints p50/p90/p99 over many hand-offs (criterion's
//! statistics are of batches, and a hand-off is one event).
//!
//! ```text
//! cargo bench -p redis-debounce-benches --bench wake
//! ```

use std::time::{Duration, Instant};

use redis_debounce::Debouncer;
use redis_debounce_tests::RedisServer;

const ROUNDS: usize = 400;
const LONG: Duration = Duration::from_secs(30);

/// One hand-off: a holder, a waiter parked behind it, the release.
async fn hand_off(debouncer: &Debouncer) -> Duration {
    let holder = debouncer.try_lock("wake", LONG).await.expect("free");
    let waiter = tokio::spawn({
        let debouncer = debouncer.clone();
        async move {
            let guard = debouncer
                .lock("wake", LONG)
                .wait(LONG)
                .acquire()
                .await
                .expect("woken");
            let woken = Instant::now();
            guard.release().await.expect("release");
            woken
        }
    });
    // Time for the waiter to find the key held and park (a bench, not a test).
    tokio::time::sleep(Duration::from_millis(3)).await;
    let released = Instant::now();
    drop(holder);
    waiter.await.expect("waiter") - released
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

fn main() {
    if std::env::args().any(|arg| arg == "--list") {
        return;
    }
    let server = RedisServer::start_tcp();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let backends = [
        (
            "redis (loopback)",
            Debouncer::open(&server.url()).expect("url"),
        ),
        ("memory", Debouncer::memory()),
    ];
    println!("release-to-wake latency, {ROUNDS} hand-offs each");
    for (name, debouncer) in backends {
        let mut times = runtime.block_on(async {
            // Warm up: connections and scripts.
            hand_off(&debouncer).await;
            let mut times = Vec::with_capacity(ROUNDS);
            for _ in 0..ROUNDS {
                times.push(hand_off(&debouncer).await);
            }
            times
        });
        times.sort_unstable();
        println!(
            "{name:>18}: p50 {:?}  p90 {:?}  p99 {:?}  max {:?}",
            percentile(&times, 50),
            percentile(&times, 90),
            percentile(&times, 99),
            times[times.len() - 1],
        );
    }
}
