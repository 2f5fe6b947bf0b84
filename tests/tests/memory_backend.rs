//! The in-memory backend on its own: leases expire on the tokio clock (so
//! tests with a paused clock are deterministic), owners release only their
//! own locks, and clones share locks while separate backends do not.

use std::time::Duration;

use redis_debounce::{Busy, Debouncer, debounce};

#[debounce(key = "sms:{phone}", ttl = "10s", using = debouncer)]
async fn send_sms(debouncer: &Debouncer, phone: &str) -> Result<(), Busy> {
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn leases_expire_on_the_tokio_clock() {
    let debouncer = Debouncer::memory();
    let held = debouncer
        .try_lock("sms:555", Duration::from_secs(10))
        .await
        .unwrap();

    tokio::time::advance(Duration::from_millis(9_999)).await;
    let busy = send_sms(&debouncer, "555").await.unwrap_err();
    assert!(busy.is_held());
    assert_eq!(busy.retry_after(), Some(Duration::from_millis(1)));

    tokio::time::advance(Duration::from_millis(1)).await;
    send_sms(&debouncer, "555")
        .await
        .expect("the lease ran out");
    assert!(
        !held.release().await.unwrap(),
        "the expired holder no longer owns it"
    );
}

#[tokio::test]
async fn only_the_owner_releases() {
    let debouncer = Debouncer::memory();
    let first = debouncer
        .try_lock("k", Duration::from_secs(30))
        .await
        .unwrap();
    assert!(first.release().await.unwrap());
    let second = debouncer
        .try_lock("k", Duration::from_secs(30))
        .await
        .unwrap();
    assert!(
        debouncer
            .try_lock("k", Duration::from_secs(30))
            .await
            .unwrap_err()
            .is_held()
    );
    drop(second);
    drop(
        debouncer
            .try_lock("k", Duration::from_secs(30))
            .await
            .unwrap(),
    );
}

#[test]
fn clones_share_locks_and_backends_do_not() {
    let one = Debouncer::memory();
    let clone = one.clone();
    let other = Debouncer::memory();
    let _held = one.try_lock_blocking("k", Duration::from_secs(30)).unwrap();
    assert!(
        clone
            .try_lock_blocking("k", Duration::from_secs(30))
            .unwrap_err()
            .is_held()
    );
    assert!(
        other
            .try_lock_blocking("k", Duration::from_secs(30))
            .is_ok()
    );
}

#[tokio::test(start_paused = true)]
async fn many_expired_keys_do_not_block_new_ones() {
    let debouncer = Debouncer::memory();
    for n in 0..5_000 {
        drop(
            debouncer
                .try_lock(&format!("burst:{n}"), Duration::from_millis(10))
                .await
                .map(std::mem::forget),
        );
    }
    tokio::time::advance(Duration::from_millis(10)).await;
    for n in 0..5_000 {
        let guard = debouncer
            .try_lock(&format!("burst:{n}"), Duration::from_secs(1))
            .await;
        assert!(guard.is_ok(), "burst:{n} still held after its lease");
    }
}
