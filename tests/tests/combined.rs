//! The policies together: each keeps its meaning next to the others.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use redis_debounce::{Busy, Debouncer, debounce, lease};
use redis_debounce_tests::{Backend, join_all, on_both_backends};

#[debounce(
    key = "checkout:{cart}",
    ttl = "2s",
    wait = "60s",
    cooldown = "1h",
    replay = "1h",
    renew,
    max_hold = "1m",
    fence,
    using = debouncer
)]
async fn checkout(
    debouncer: &Debouncer,
    cart: u32,
    runs: &AtomicUsize,
) -> Result<(u64, usize), Busy> {
    let fence = lease().and_then(|lease| lease.fence()).expect("fence");
    tokio::time::sleep(Duration::from_millis(50)).await;
    Ok((fence, runs.fetch_add(1, Ordering::SeqCst) + 1))
}

/// A window shorter than the wait: a waiter in the cooldown runs after it.
#[debounce(key = "poll:{id}", ttl = 30, wait = "60s", cooldown = "500ms", using = debouncer)]
fn poll(debouncer: &Debouncer, id: u32, runs: &AtomicUsize) -> Result<usize, Busy> {
    Ok(runs.fetch_add(1, Ordering::SeqCst) + 1)
}

async fn everything_at_once(backend: Backend) {
    let debouncer = &backend.debouncer;
    let runs = AtomicUsize::new(0);
    let answers = join_all((0..4).map(|_| checkout(debouncer, 1, &runs))).await;
    assert_eq!(runs.load(Ordering::SeqCst), 1, "one execution");
    for answer in answers {
        assert_eq!(answer.unwrap(), (1, 1), "every caller got the first output");
    }
    // Later duplicates: the stored output, within the cooldown too.
    assert_eq!(checkout(debouncer, 1, &runs).await.unwrap(), (1, 1));
}

#[allow(clippy::unused_async, reason = "a scenario of on_both_backends!")]
async fn a_waiter_outlasts_a_cooldown(backend: Backend) {
    let debouncer = &backend.debouncer;
    let runs = AtomicUsize::new(0);
    assert_eq!(poll(debouncer, 1, &runs).unwrap(), 1);
    let started = Instant::now();
    assert_eq!(
        poll(debouncer, 1, &runs).unwrap(),
        2,
        "ran after the window"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "{:?}",
        started.elapsed()
    );
}

on_both_backends! {
    every_policy_at_once => super::everything_at_once;
    a_waiter_outlasts_a_cooldown => super::a_waiter_outlasts_a_cooldown;
}
