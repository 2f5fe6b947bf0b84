//! The fast path's window: how often another instance, asking right after
//! a debounced call returned, still finds that call's lock (its release is
//! handed over, not waited for), and the same with `confirm`, which waits
//! for Redis to run the release before the call returns. Two `Debouncer`s
//! stand for two app instances on one loopback `redis-server` that the
//! bench starts itself. Prints the counts and the call's median latency.
//!
//! ```text
//! cargo bench -p redis-debounce-benches --bench window
//! ```

use std::time::{Duration, Instant};

use redis_debounce::{Busy, Debouncer, debounce};
use redis_debounce_tests::RedisServer;

const ROUNDS: u32 = 20_000;
const LONG: Duration = Duration::from_secs(30);

#[debounce(key = "window:{round}", ttl = 30, using = debouncer)]
async fn fast(debouncer: &Debouncer, round: u32) -> Result<u32, Busy> {
    Ok(round)
}

#[debounce(key = "window-confirmed:{round}", ttl = 30, confirm, using = debouncer)]
async fn confirmed(debouncer: &Debouncer, round: u32) -> Result<u32, Busy> {
    Ok(round)
}

/// Rounds in which the other instance met the lock, and the median call.
async fn measure<F: Future<Output = Result<u32, Busy>>>(
    rounds: u32,
    other: &Debouncer,
    prefix: &str,
    call: impl Fn(u32) -> F,
) -> (u32, Duration) {
    let mut met = 0;
    let mut latencies = Vec::with_capacity(rounds as usize);
    for round in 0..rounds {
        let start = Instant::now();
        call(round).await.expect("free");
        latencies.push(start.elapsed());
        match other.try_lock(&format!("{prefix}:{round}"), LONG).await {
            Ok(guard) => drop(guard.release().await),
            Err(busy) if busy.is_held() => met += 1,
            Err(busy) => panic!("{busy:?}"),
        }
    }
    latencies.sort();
    (met, latencies[latencies.len() / 2])
}

fn main() {
    if std::env::args().any(|arg| arg == "--list") {
        return;
    }
    // `cargo bench` passes `--bench`; `cargo test` runs it briefly.
    let full = std::env::args().any(|arg| arg == "--bench");
    let server = RedisServer::start_tcp();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mine = Debouncer::open(&server.url()).expect("url");
    let other = Debouncer::open(&server.url()).expect("url");
    let rounds = if full { ROUNDS } else { 200 };
    runtime.block_on(async {
        let mine = &mine;
        let (met, median) = measure(rounds, &other, "window", |round| fast(mine, round)).await;
        println!(
            "fast path: the other instance met the lock in {met} of {rounds} rounds; call median {median:?}"
        );
        let (met, median) =
            measure(rounds, &other, "window-confirmed", |round| confirmed(mine, round)).await;
        println!(
            "confirm:   the other instance met the lock in {met} of {rounds} rounds; call median {median:?}"
        );
    });
}
