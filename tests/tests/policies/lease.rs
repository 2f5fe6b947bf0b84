//! `lease()`: the body's lease names its key, is not lost while the body
//! runs, and is lost once the call has ended, also when a clone of it
//! outlives the call (the lease is made only when asked for).

use std::time::Duration;

use redis_debounce::{Busy, Debouncer, Lease, debounce, lease};
use redis_debounce_tests::{Backend, on_both_backends};

const LONG: Duration = Duration::from_secs(30);

#[debounce(key = "escape:{id}", ttl = 30, using = debouncer)]
async fn keep_lease(debouncer: &Debouncer, id: u32) -> Result<Lease, Busy> {
    let lease = lease().expect("inside the body");
    assert!(!lease.is_lost(), "held while the body runs");
    assert_eq!(lease.key(), format!("escape:{id}"));
    tokio::task::yield_now().await;
    assert!(!lease.is_lost(), "still held after the body yields");
    Ok(lease)
}

#[debounce(key = "escape:{id}", ttl = 30, using = debouncer)]
fn keep_lease_sync(debouncer: &Debouncer, id: u32) -> Result<Lease, Busy> {
    let lease = lease().expect("inside the body");
    assert!(!lease.is_lost(), "held while the body runs");
    Ok(lease)
}

/// A body that leaves early through `?` gives its lease up too.
#[debounce(key = "escape:{id}", ttl = 30, using = debouncer, busy = Err("busy".into()))]
async fn fail_after_lease(
    debouncer: &Debouncer,
    id: u32,
    out: &mut Option<Lease>,
) -> Result<(), String> {
    *out = lease();
    "not a number".parse::<u32>().map_err(|e| e.to_string())?;
    Ok(())
}

async fn a_kept_lease_is_lost_after_the_call(backend: Backend) {
    let debouncer = &backend.debouncer;
    let kept = keep_lease(debouncer, 1).await.expect("free");
    assert!(kept.is_lost(), "the call ended");
    tokio::time::timeout(LONG, kept.lost())
        .await
        .expect("lost() completes at once");
    let kept = keep_lease_sync(debouncer, 2).expect("free");
    assert!(kept.is_lost(), "the call ended");
    // Its release went on a blocking connection: run it before the async
    // check of the key below.
    debouncer.flush_blocking().unwrap();
    let mut kept = None;
    fail_after_lease(debouncer, 3, &mut kept)
        .await
        .expect_err("the body fails");
    assert!(kept.expect("inside the body").is_lost(), "the call ended");
    assert!(lease().is_none(), "outside any body");
    // The keys are free again: the leases were given up, not kept.
    for key in ["escape:1", "escape:2", "escape:3"] {
        drop(debouncer.try_lock(key, LONG).await.expect("released"));
    }
}

async fn a_guard_lease_is_lost_once_released(backend: Backend) {
    let debouncer = &backend.debouncer;
    let guard = debouncer.try_lock("escape:4", LONG).await.expect("free");
    let lease = guard.lease().clone();
    assert!(!lease.is_lost());
    assert_eq!(lease.key(), "escape:4");
    assert!(guard.release().await.expect("released"));
    assert!(lease.is_lost(), "released");
}

on_both_backends! {
    kept_lease_is_lost_after_the_call => super::a_kept_lease_is_lost_after_the_call;
    guard_lease_is_lost_once_released => super::a_guard_lease_is_lost_once_released;
}
