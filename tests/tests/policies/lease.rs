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

/// `lost()` completes as the guard ends, not when the lease would have
/// run out (the end notifies it), and `Debug` tells key, fence and state.
async fn lost_completes_when_the_guard_ends(backend: Backend) {
    let debouncer = &backend.debouncer;
    let started = tokio::time::Instant::now();
    let guard = debouncer
        .lock("escape:5", LONG)
        .fence()
        .acquire()
        .await
        .expect("free");
    let lease = guard.lease().clone();
    let shown = format!("{lease:?}");
    assert!(
        shown.contains("escape:5")
            && shown.contains("fence: Some(")
            && shown.contains("lost: false"),
        "{shown}"
    );
    let watcher = tokio::spawn({
        let lease = lease.clone();
        async move { lease.lost().await }
    });
    tokio::task::yield_now().await;
    drop(guard);
    watcher.await.expect("the watcher");
    assert!(started.elapsed() < LONG / 2, "woken only by the clock");
    assert!(format!("{lease:?}").contains("lost: true"));
}

on_both_backends! {
    kept_lease_is_lost_after_the_call => super::a_kept_lease_is_lost_after_the_call;
    guard_lease_is_lost_once_released => super::a_guard_lease_is_lost_once_released;
    #[paused]
    lost_completes_when_the_guard_ends => super::lost_completes_when_the_guard_ends;
}

/// A renewal that finds the lock gone (deleted by hand, a failover) marks
/// the lease lost and wakes `lost()` then, long before the lease would
/// have run out by the clock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_completes_when_renewal_finds_the_lock_gone() {
    let backend = Backend::redis();
    let ttl = Duration::from_secs(6);
    let guard = backend
        .debouncer
        .lock("escape:6", ttl)
        .renew()
        .acquire()
        .await
        .expect("free");
    let started = tokio::time::Instant::now();
    let () = redis::cmd("DEL")
        .arg("debounce:{escape:6}")
        .query(&mut backend.server.as_ref().unwrap().connection())
        .unwrap();
    // The first renewal, at ttl/3, finds it gone.
    guard.lease().lost().await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "woken by the clock, not by the renewal: {:?}",
        started.elapsed()
    );
    assert!(guard.lease().is_lost());
}
