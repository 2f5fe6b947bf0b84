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

/// A holder whose lease ran out is not the owner any more: neither its
/// explicit release nor its drop frees the key that another caller took
/// since.
#[tokio::test(start_paused = true)]
async fn only_the_owner_releases() {
    let debouncer = Debouncer::memory();
    let lease = Duration::from_secs(10);
    let expired = debouncer.try_lock("k", lease).await.unwrap();
    let expired_too = debouncer.try_lock("j", lease).await.unwrap();
    tokio::time::advance(lease).await;
    let owner = debouncer
        .try_lock("k", lease)
        .await
        .expect("the lease ran out");
    let owner_too = debouncer
        .try_lock("j", lease)
        .await
        .expect("the lease ran out");

    assert!(
        !expired.release().await.unwrap(),
        "an expired holder released another's lock"
    );
    drop(expired_too);
    for key in ["k", "j"] {
        let busy = debouncer.try_lock(key, lease).await.unwrap_err();
        assert!(busy.is_held(), "`{key}` was freed by a non-owner: {busy}");
    }

    // The owners still release their own.
    assert!(owner.release().await.unwrap());
    drop(owner_too);
    for key in ["k", "j"] {
        drop(
            debouncer
                .try_lock(key, lease)
                .await
                .expect("released by its owner"),
        );
    }
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

/// A guard names its key (without the prefix), and so does its `Debug`:
/// what a log line needs.
#[test]
fn a_guard_shows_its_key_in_debug() {
    let debouncer = Debouncer::memory();
    let guard = debouncer
        .try_lock_blocking("invoice:9", Duration::from_secs(30))
        .unwrap();
    assert_eq!(guard.key(), "invoice:9", "the key without the prefix");
    let shown = format!("{guard:?}");
    assert!(shown.starts_with("LockGuard"), "{shown}");
    assert!(shown.contains("debounce:{invoice:9}"), "{shown}");
}

/// The sweep of expired entries (every 1024 new keys) keeps what is still
/// alive: a held lock and a stored result survive thousands of new keys.
#[tokio::test(start_paused = true)]
async fn the_sweep_keeps_live_locks_and_results() {
    let debouncer = Debouncer::memory();
    let lease = Duration::from_secs(60);
    let held = debouncer.try_lock("held", lease).await.unwrap();
    let redis_debounce::Acquired::Locked(stored) = debouncer
        .lock("stored", lease)
        .acquire_or_replay::<u32>()
        .await
        .unwrap()
    else {
        panic!("nothing stored yet");
    };
    assert!(
        stored
            .complete(&7_u32, Duration::from_secs(3600))
            .await
            .unwrap()
    );
    for n in 0..5_000 {
        drop(
            debouncer
                .try_lock(&format!("new:{n}"), lease)
                .await
                .unwrap(),
        );
    }
    assert!(
        debouncer
            .try_lock("held", lease)
            .await
            .unwrap_err()
            .is_held()
    );
    assert!(matches!(
        debouncer
            .lock("stored", lease)
            .acquire_or_replay::<u32>()
            .await
            .unwrap(),
        redis_debounce::Acquired::Replayed(7)
    ));
    drop(held);
}
