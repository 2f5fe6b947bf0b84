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
    // The async release and the sync acquire travel on different
    // connections (until the reliability issue orders them): flush first,
    // and flush the sync release before the next async acquire.
    debouncer.flush().await.unwrap();
    tokens.push(write_sync(debouncer, 1).unwrap());
    debouncer.flush_blocking().unwrap();
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
    // Another key counts on its own.
    assert_eq!(write(debouncer, 2).await.unwrap(), 1);
}

on_both_backends! {
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
