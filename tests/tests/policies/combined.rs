//! The policies together: each keeps its meaning next to the others, and
//! each is observed: wait (callers coalesce), replay (one execution, every
//! caller gets its output), fence (a token), renew (a body three leases
//! long keeps the key), cooldown (the key stays taken after success) and
//! `max_hold` (renewal stops, the lease is lost).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use redis_debounce::{Busy, Debouncer, debounce, lease};
use redis_debounce_tests::{Backend, join_all, on_both_backends};
use tokio::time::Instant;

const TTL: Duration = Duration::from_secs(2);
const LONG: Duration = Duration::from_secs(60);

/// What a body saw: its fencing token, its run number, and whether the key
/// stayed its own (nobody else could take it, the lease never read lost)
/// for three leases' time.
type Seen = (u64, usize, bool);

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
async fn checkout(debouncer: &Debouncer, cart: u32, runs: &AtomicUsize) -> Result<Seen, Busy> {
    let lease = lease().expect("inside the body");
    let fence = lease.fence().expect("fence");
    let mut kept = true;
    for _ in 0..6 {
        tokio::time::sleep(TTL / 2).await;
        kept &= debouncer
            .try_lock(&format!("checkout:{cart}"), LONG)
            .await
            .is_err_and(|busy| busy.is_held());
        kept &= !lease.is_lost();
    }
    Ok((fence, runs.fetch_add(1, Ordering::SeqCst) + 1, kept))
}

/// Every policy, with a `max_hold` the body outlives: it returns once its
/// lease is lost, and how long after the call began.
#[debounce(
    key = "stuck:{id}",
    ttl = "2s",
    wait = "60s",
    cooldown = "1h",
    replay = "1h",
    renew,
    max_hold = "4s",
    fence,
    using = debouncer
)]
async fn stuck(debouncer: &Debouncer, id: u32, called: Instant) -> Result<u64, Busy> {
    let lease = lease().expect("inside the body");
    tokio::time::timeout(LONG, lease.lost())
        .await
        .expect("renewal stops at max_hold");
    Ok(u64::try_from(called.elapsed().as_millis()).unwrap_or(u64::MAX))
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
    let first: Seen = answers[0].clone().unwrap();
    // A fencing token (1 in memory; from the server's clock on Redis), the
    // first run, and a body that kept the key for three leases.
    assert!(first.0 >= 1, "{first:?}");
    assert_eq!((first.1, first.2), (1, true), "{first:?}");
    for answer in answers {
        assert_eq!(answer.unwrap(), first, "every caller got the first output");
    }
    // Later duplicates: the stored output, within the cooldown too.
    assert_eq!(checkout(debouncer, 1, &runs).await.unwrap(), first);
    // The cooldown keeps the key taken, by nobody, after the success.
    let busy = debouncer.try_lock("checkout:1", LONG).await.unwrap_err();
    assert!(busy.is_cooling_down(), "{busy}");
    let left = busy.retry_after().expect("the time left");
    assert!(left > Duration::from_secs(3000), "{left:?}");
}

async fn max_hold_among_every_policy(backend: Backend) {
    let debouncer = &backend.debouncer;
    let called = Instant::now();
    let lasted = stuck(debouncer, 1, called).await.unwrap();
    // Leases are whole milliseconds, cut down: the last one may end up to
    // a millisecond before max_hold (never later, which would be unsafe),
    // and Redlock counts it lost its drift allowance earlier.
    let drift = u64::try_from(backend.drift(TTL).as_millis()).unwrap();
    assert!(
        lasted + drift >= 3_999,
        "renewed for max_hold, not a moment less: {lasted} ms"
    );
    if backend.is_memory() {
        // The paused clock shows renewal stops at max_hold, not later.
        assert!(lasted <= 4_001, "renewed past max_hold: {lasted} ms");
    }
}

#[allow(clippy::unused_async, reason = "a scenario of on_both_backends!")]
async fn a_waiter_outlasts_a_cooldown(backend: Backend) {
    let debouncer = &backend.debouncer;
    let runs = AtomicUsize::new(0);
    // Taken before the first call: its cooldown starts later than this.
    let started = std::time::Instant::now();
    assert_eq!(poll(debouncer, 1, &runs).unwrap(), 1);
    assert_eq!(
        poll(debouncer, 1, &runs).unwrap(),
        2,
        "ran after the window"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "ran inside the window: {:?}",
        started.elapsed()
    );
}

on_both_backends! {
    #[paused] every_policy_at_once => super::everything_at_once;
    #[paused] max_hold_among_every_policy => super::max_hold_among_every_policy;
    a_waiter_outlasts_a_cooldown => super::a_waiter_outlasts_a_cooldown;
}
