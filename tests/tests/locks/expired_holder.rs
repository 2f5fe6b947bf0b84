//! A holder whose lease ran out never deletes the next holder's lock.

use std::time::Duration;

use redis_debounce::{Busy, Debouncer, debounce};
use redis_debounce_tests::{Backend, on_both_backends};
use tokio::sync::oneshot;

/// The lease under test, and a wait that outlasts it on a loaded machine.
const SHORT_LEASE: Duration = Duration::from_millis(300);
const PAST_THE_LEASE: Duration = Duration::from_millis(900);
const LONG_LEASE: Duration = Duration::from_secs(60);

async fn stale_guard_release(backend: Backend) {
    let debouncer = &backend.debouncer;
    let stale = debouncer
        .try_lock("invoice:9", SHORT_LEASE)
        .await
        .expect("free");
    tokio::time::sleep(PAST_THE_LEASE).await;

    let next = debouncer
        .try_lock("invoice:9", LONG_LEASE)
        .await
        .expect("the expired lease freed the key");
    assert!(!stale.release().await.expect("release"), "no longer ours");

    let busy = debouncer
        .try_lock("invoice:9", LONG_LEASE)
        .await
        .unwrap_err();
    assert!(busy.is_held(), "the next holder kept its lock: {busy}");
    assert!(
        next.release().await.expect("release"),
        "the next holder still owned it"
    );
}

/// Outlives its 300 ms lease, then finishes while someone else holds the key.
#[debounce(key = "slow:{id}", ttl = "300ms", using = debouncer)]
async fn slow(debouncer: &Debouncer, id: u32, finish: oneshot::Receiver<()>) -> Result<(), Busy> {
    let _ = finish.await;
    Ok(())
}

async fn stale_body_exit(backend: Backend) {
    let debouncer = &backend.debouncer;
    let (finish, finish_rx) = oneshot::channel();
    let body = tokio::spawn({
        let debouncer = debouncer.clone();
        async move { slow(&debouncer, 1, finish_rx).await }
    });
    // Wait for the lease to run out, then take the key over.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let next = loop {
        tokio::time::sleep(SHORT_LEASE).await;
        match debouncer.try_lock("slow:1", LONG_LEASE).await {
            Ok(next) => break next,
            Err(busy) => {
                assert!(busy.is_held(), "{busy}");
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "the lease never ran out"
                );
            }
        }
    };
    let _ = finish.send(());
    body.await.expect("the body task").expect("the body ran");
    let busy = debouncer.try_lock("slow:1", LONG_LEASE).await.unwrap_err();
    assert!(
        busy.is_held(),
        "the stale body's exit deleted the next holder's lock"
    );
    drop(next);
}

on_both_backends! {
    #[paused]
    expired_guard_does_not_release_the_next_holder => super::stale_guard_release;
    #[paused]
    expired_body_does_not_release_the_next_holder => super::stale_body_exit;
}
