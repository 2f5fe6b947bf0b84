//! `fence`: every holder of a key gets a larger fencing token than all
//! before it, including a holder whose lease ran out.

use std::time::Duration;

use redis::Commands as _;
use redis_debounce::{Busy, Debouncer, debounce, lease};
use redis_debounce_tests::{Backend, on_both_backends};

const LONG: Duration = Duration::from_secs(30);

#[debounce(key = "ledger:{id}", ttl = 30, fence, using = debouncer)]
async fn write(debouncer: &Debouncer, id: u32) -> Result<u64, Busy> {
    Ok(lease().and_then(|lease| lease.fence()).expect("asked for"))
}

#[debounce(key = "ledger:{id}", ttl = 30, fence, using = debouncer)]
fn write_sync(debouncer: &Debouncer, id: u32) -> Result<u64, Busy> {
    Ok(lease().and_then(|lease| lease.fence()).expect("asked for"))
}

async fn tokens_strictly_increase(backend: Backend) {
    let debouncer = &backend.debouncer;
    let mut tokens = vec![write(debouncer, 1).await.unwrap()];
    // Sync and async calls share the connection: each meets the other's
    // release done, with no flush between.
    tokens.push(write_sync(debouncer, 1).unwrap());
    // A holder whose lease runs out, then the next holder.
    let expired = debouncer
        .lock("ledger:1", Duration::from_millis(200))
        .fence()
        .acquire()
        .await
        .unwrap();
    tokens.push(expired.lease().fence().unwrap());
    let next = debouncer
        .lock("ledger:1", LONG)
        .fence()
        .wait(LONG)
        .acquire()
        .await
        .unwrap();
    tokens.push(next.lease().fence().unwrap());
    assert!(
        !expired.release().await.unwrap(),
        "the expired holder no longer owns it"
    );
    drop(next);
    tokens.push(write(debouncer, 1).await.unwrap());
    assert!(
        tokens.windows(2).all(|pair| pair[0] < pair[1]),
        "not strictly increasing: {tokens:?}"
    );
    // Without `fence`, no token.
    let plain = debouncer.try_lock("ledger:1", LONG).await.unwrap();
    assert_eq!(plain.lease().fence(), None);
    // Another key counts on its own (from 1 in memory; from the server's
    // clock on Redis, far above key 1's count of five).
    let other = write(debouncer, 2).await.unwrap();
    if backend.is_memory() {
        assert_eq!(other, 1);
    }
    drop(plain);
}

on_both_backends! {
    #[paused]
    tokens_strictly_increase_across_holders => super::tokens_strictly_increase;
}

/// The counter lives beside the lock key, in its hash slot, and outlives it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_counter_sits_beside_the_lock() {
    let backend = Backend::redis();
    let first = write(&backend.debouncer, 3).await.unwrap();
    let mut redis = backend.server.as_ref().unwrap().connection();
    let stored: u64 = redis.get("debounce:{ledger:3}:fence").unwrap();
    assert_eq!(stored, first);
    let ttl: i64 = redis.pttl("debounce:{ledger:3}:fence").unwrap();
    assert_eq!(ttl, -1, "a fencing counter never expires");
}

/// A Redis restarted without persistence forgets the counter: the next
/// token is still larger than every one handed out before (the counter
/// never falls below the server's clock in microseconds).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_keep_increasing_across_a_restart_without_persistence() {
    let mut backend = Backend::redis();
    let before = write(&backend.debouncer, 4).await.unwrap();
    let server = backend.server.as_mut().unwrap();
    server.restart();
    let mut redis = server.connection();
    let kept: Option<u64> = redis.get("debounce:{ledger:4}:fence").unwrap();
    assert_eq!(kept, None, "the restart lost the counter");
    let after = write(&backend.debouncer, 4).await.unwrap();
    assert!(after > before, "{after} after {before}");
}

/// A counter ahead of the clock (tokens handed out fast, or a clock set
/// back) goes on counting from where it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_counter_ahead_of_the_clock_counts_on() {
    let backend = Backend::redis();
    let mut redis = backend.server.as_ref().unwrap().connection();
    let ahead: u64 = 8_000_000_000_000_000;
    let () = redis.set("debounce:{ledger:5}:fence", ahead).unwrap();
    assert_eq!(write(&backend.debouncer, 5).await.unwrap(), ahead + 1);
    assert_eq!(write(&backend.debouncer, 5).await.unwrap(), ahead + 2);
}
