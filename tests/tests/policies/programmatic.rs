//! The programmatic forms of the policies, and the clock behind them:
//! `LockGuard::complete` (an expired holder stores nothing; a zero window
//! or an unserialisable value is a typed error), the blocking forms
//! (`release_blocking`, `cool_down_blocking`, `acquire_or_replay_blocking`
//! with `complete_blocking`), `LockRequest::max_hold`, invalid settings
//! turned away as a `Busy` with `Error::Config`, renewal every ttl/3, a
//! plain lease lost when its time runs out, and the in-memory backend's
//! replay window coming to its end.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use redis_debounce::{Acquired, Busy, Debouncer, Error, LockGuard, LockRequest, debounce};
use redis_debounce_tests::{Backend, on_both_backends};
use serde::{Deserialize, Serialize};
use tokio::time::{Instant, sleep, sleep_until, timeout};

/// Longer than any scenario waits: an answer that takes this long is wrong.
const LONG: Duration = Duration::from_secs(60);
/// A lease meant to run out under its holder: whole seconds, so that a
/// loaded machine never sees it run out before the test means it to.
const SHORT: Duration = Duration::from_secs(1);
/// A renewed lease (renewal every ttl/3), and the `max_hold` above it.
const TTL: Duration = Duration::from_secs(2);
const MAX_HOLD: Duration = Duration::from_secs(6);
/// Just below `TTL`: too short a `max_hold`.
const BELOW_TTL: Duration = Duration::from_millis(1999);
const ONE_MS: Duration = Duration::from_millis(1);
const HOUR: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Receipt {
    order: u64,
}

/// The `:result` keys in Redis (none for the in-memory backend, which is
/// checked through `acquire_or_replay` alone).
fn stored_results(backend: &Backend) -> Vec<String> {
    backend.keys().map_or_else(Vec::new, |keys| {
        keys.into_iter()
            .filter(|key| key.ends_with(":result"))
            .collect()
    })
}

/// The guard of an `acquire_or_replay` that must find nothing stored.
#[track_caller]
fn locked<T: std::fmt::Debug>(acquired: Result<Acquired<T>, Busy>) -> LockGuard {
    match acquired {
        Ok(Acquired::Locked(guard)) => guard,
        other => panic!("expected the lock (nothing stored), got {other:?}"),
    }
}

/// `complete` by a holder whose lease ran out: `Ok(false)`, and nothing is
/// stored, both when the key is free meanwhile and when another caller
/// holds it (whose lock `complete` leaves alone).
async fn complete_by_an_expired_holder(backend: Backend) {
    let debouncer = &backend.debouncer;
    let receipt = Receipt { order: 1 };
    let request = |key| debouncer.lock(key, SHORT).acquire_or_replay::<Receipt>();

    // The lease ran out and nobody took the key since.
    let guard = locked(request("pay:1").await);
    sleep(SHORT * 2).await;
    assert!(
        !guard.complete(&receipt, HOUR).await.unwrap(),
        "the lease had run out"
    );
    assert_eq!(stored_results(&backend), Vec::<String>::new());
    let next = locked(request("pay:1").await);
    assert!(next.release().await.unwrap());

    // The lease ran out and another caller holds the key now.
    let guard = locked(request("pay:2").await);
    let other = debouncer
        .lock("pay:2", LONG)
        .wait(LONG)
        .acquire()
        .await
        .expect("the key, once the first lease ran out");
    assert!(
        !guard.complete(&receipt, HOUR).await.unwrap(),
        "the lock is someone else's"
    );
    assert_eq!(stored_results(&backend), Vec::<String>::new());
    let busy = debouncer.try_lock("pay:2", LONG).await.unwrap_err();
    assert!(busy.is_held(), "the other holder keeps the key: {busy}");
    assert!(other.release().await.unwrap(), "still the other's");
    drop(locked(request("pay:2").await));
}

/// `complete`'s own errors, found before anything is sent: a zero window
/// is `Error::Config`, a value `serde_json` refuses is `Error::Replay`.
/// Neither stores anything; the guard, consumed, releases the lock.
async fn complete_errors(backend: Backend) {
    let debouncer = &backend.debouncer;
    let request = || debouncer.lock("pay:3", LONG).acquire_or_replay::<Receipt>();

    let guard = locked(request().await);
    match guard.complete(&Receipt { order: 3 }, Duration::ZERO).await {
        Err(Error::Config { message }) => assert!(message.contains("zero"), "{message}"),
        other => panic!("expected Error::Config for a zero window, got {other:?}"),
    }
    assert_eq!(stored_results(&backend), Vec::<String>::new());

    // JSON object keys are strings: a map keyed by pairs cannot be stored.
    let unstorable = BTreeMap::from([((1_u32, 2_u32), 3_u32)]);
    let guard = locked(request().await);
    match guard.complete(&unstorable, HOUR).await {
        Err(Error::Replay { expected, .. }) => assert!(expected.contains("BTreeMap"), "{expected}"),
        other => panic!("expected Error::Replay for an unserialisable value, got {other:?}"),
    }
    assert_eq!(stored_results(&backend), Vec::<String>::new());

    // Nothing was stored, and the lock was given up: the next call runs.
    let guard = locked(request().await);
    assert!(guard.complete(&Receipt { order: 3 }, HOUR).await.unwrap());
    match request().await {
        Ok(Acquired::Replayed(receipt)) => assert_eq!(receipt, Receipt { order: 3 }),
        other => panic!("expected the stored receipt, got {other:?}"),
    }
}

/// The blocking forms behave as the async ones: `release_blocking` tells
/// whether the lock was still ours, `cool_down_blocking` keeps the key for
/// the window (and leaves a lock that is no longer ours alone),
/// `acquire_or_replay_blocking` + `complete_blocking` store the result and
/// answer with it.
async fn blocking_forms(backend: Backend) {
    let debouncer = backend.debouncer.clone();
    tokio::task::spawn_blocking(move || blocking_forms_on(&debouncer))
        .await
        .unwrap();
    if !backend.is_memory() {
        assert_eq!(stored_results(&backend), ["debounce:{pay:4}:result"]);
    }
}

fn blocking_forms_on(debouncer: &Debouncer) {
    // release_blocking: true while ours, and the key is free after.
    let guard = debouncer.try_lock_blocking("b:1", LONG).unwrap();
    assert!(guard.release_blocking().unwrap(), "still ours");
    drop(debouncer.try_lock_blocking("b:1", LONG).expect("released"));

    // release_blocking by an expired holder: false, the next holder's lock
    // is left alone.
    let guard = debouncer.try_lock_blocking("b:2", SHORT).unwrap();
    let next = debouncer
        .lock("b:2", LONG)
        .wait(LONG)
        .acquire_blocking()
        .expect("the key, once the first lease ran out");
    assert!(!guard.release_blocking().unwrap(), "no longer ours");
    let busy = debouncer.try_lock_blocking("b:2", LONG).unwrap_err();
    assert!(busy.is_held(), "the next holder keeps the key: {busy}");
    assert!(next.release_blocking().unwrap());

    // cool_down_blocking: the key stays taken, by nobody, for the window.
    let guard = debouncer.try_lock_blocking("b:3", LONG).unwrap();
    assert!(guard.cool_down_blocking(LONG).unwrap(), "still ours");
    let busy = debouncer.try_lock_blocking("b:3", LONG).unwrap_err();
    assert!(busy.is_cooling_down(), "{busy}");
    let left = busy.retry_after().expect("the time left");
    assert!(left > Duration::ZERO && left <= LONG, "{left:?}");

    // cool_down_blocking by an expired holder: false, no cooldown over
    // the next holder's lock.
    let guard = debouncer.try_lock_blocking("b:5", SHORT).unwrap();
    let next = debouncer
        .lock("b:5", LONG)
        .wait(LONG)
        .acquire_blocking()
        .expect("the key, once the first lease ran out");
    assert!(!guard.cool_down_blocking(LONG).unwrap(), "no longer ours");
    assert!(
        next.release_blocking().unwrap(),
        "the next holder's lock stayed"
    );
    drop(
        debouncer
            .try_lock_blocking("b:5", LONG)
            .expect("no cooldown"),
    );

    // acquire_or_replay_blocking + complete_blocking: Locked, then Replayed.
    let request = || {
        debouncer
            .lock("pay:4", LONG)
            .acquire_or_replay_blocking::<Receipt>()
    };
    let guard = locked(request());
    match guard.complete_blocking(&Receipt { order: 4 }, Duration::ZERO) {
        Err(Error::Config { .. }) => {}
        other => panic!("expected Error::Config for a zero window, got {other:?}"),
    }
    let guard = locked(request());
    assert!(
        guard
            .complete_blocking(&Receipt { order: 4 }, HOUR)
            .unwrap()
    );
    match request() {
        Ok(Acquired::Replayed(receipt)) => assert_eq!(receipt, Receipt { order: 4 }),
        other => panic!("expected the stored receipt, got {other:?}"),
    }
}

/// `LockRequest::max_hold`: the guard renews past its ttl, renewal stops
/// `max_hold` after the acquire, the lease is then lost and another caller
/// takes the key.
async fn max_hold_stops_a_guards_renewal(backend: Backend) {
    let debouncer = &backend.debouncer;
    let asked = Instant::now();
    let guard = debouncer
        .lock("hold", TTL)
        .renew()
        .max_hold(MAX_HOLD)
        .acquire()
        .await
        .unwrap();
    sleep(TTL * 2).await;
    assert!(!guard.lease().is_lost(), "renewed past the ttl");
    let busy = debouncer.try_lock("hold", LONG).await.unwrap_err();
    assert!(busy.is_held(), "still ours past the ttl: {busy}");

    timeout(LONG, guard.lease().lost())
        .await
        .expect("renewal stops at max_hold");
    let lasted = asked.elapsed();
    // Leases are whole milliseconds, cut down: the last may end up to a
    // millisecond before max_hold (and Redlock counts it lost its drift
    // allowance earlier).
    assert!(
        lasted + Duration::from_millis(1) + backend.drift(TTL) >= MAX_HOLD,
        "lost before max_hold: {lasted:?}"
    );
    if backend.is_memory() {
        assert_eq!(
            lasted, MAX_HOLD,
            "the paused clock: lost at max_hold exactly"
        );
    }
    let next = debouncer
        .lock("hold", LONG)
        .wait(LONG)
        .acquire()
        .await
        .expect("another caller takes the key after max_hold");
    assert!(!guard.release().await.unwrap(), "no longer ours");
    assert!(next.release().await.unwrap());
}

/// Invalid programmatic settings: `max_hold` without `renew`, `max_hold`
/// below the ttl, a zero `wait`. Each acquire, async and blocking, is a
/// `Busy` carrying `Error::Config`, never held, and takes nothing: the key
/// is free after.
async fn invalid_settings(backend: Backend) {
    let debouncer = &backend.debouncer;
    for (what, request) in invalid_requests(debouncer) {
        assert_config(what, request.acquire().await);
    }
    for (what, request) in invalid_requests(debouncer) {
        assert_config(what, request.acquire_or_replay::<Receipt>().await);
    }
    let blocking = backend.debouncer.clone();
    tokio::task::spawn_blocking(move || {
        for (what, request) in invalid_requests(&blocking) {
            assert_config(what, request.acquire_blocking());
        }
    })
    .await
    .unwrap();
    if let Some(keys) = backend.keys() {
        assert_eq!(keys, Vec::<String>::new(), "nothing was taken");
    }
    // The valid forms of the same requests take the key.
    let guard = debouncer
        .lock("bad", TTL)
        .renew()
        .max_hold(TTL)
        .wait(ONE_MS)
        .acquire()
        .await
        .expect("the key was free all along");
    assert!(guard.release().await.unwrap());
}

/// The invalid forms of a request for `bad`, each with what is wrong.
fn invalid_requests(debouncer: &Debouncer) -> [(&'static str, LockRequest<'_>); 3] {
    [
        (
            "max_hold without renew",
            debouncer.lock("bad", TTL).max_hold(MAX_HOLD),
        ),
        (
            "max_hold below the ttl",
            debouncer.lock("bad", TTL).renew().max_hold(BELOW_TTL),
        ),
        ("zero wait", debouncer.lock("bad", TTL).wait(Duration::ZERO)),
    ]
}

#[track_caller]
fn assert_config<T: std::fmt::Debug>(what: &str, answer: Result<T, Busy>) {
    let busy = answer.expect_err(what);
    assert!(!busy.is_held() && !busy.is_cooling_down(), "{what}: {busy}");
    assert_eq!(busy.key(), "bad", "{what}");
    assert!(
        matches!(busy.error(), Some(Error::Config { .. })),
        "{what}: expected Error::Config, got {busy}"
    );
}

on_both_backends! {
    #[paused] complete_by_an_expired_holder_stores_nothing => super::complete_by_an_expired_holder;
    #[paused] complete_rejects_a_zero_window_and_an_unserialisable_value => super::complete_errors;
    blocking_forms_behave_as_the_async_ones => super::blocking_forms;
    #[paused] max_hold_stops_a_guards_renewal => super::max_hold_stops_a_guards_renewal;
    invalid_settings_are_a_config_error_never_held => super::invalid_settings;
}

/// Renewal runs every ttl/3: on the paused clock, a 3 s lease renewed at
/// 1 s and 2 s has 2001 ms left just before each renewal and 2999 ms just
/// after it (a renewal every ttl/2, or ttl/4, shows other figures).
#[tokio::test(start_paused = true)]
async fn renewal_happens_every_third_of_the_ttl() {
    let debouncer = Debouncer::memory();
    let ttl = Duration::from_secs(3);
    let start = Instant::now();
    let guard = debouncer
        .lock("every", ttl)
        .renew()
        .acquire()
        .await
        .unwrap();
    for (at, left) in [(999, 2001), (1001, 2999), (1999, 2001), (2001, 2999)] {
        sleep_until(start + Duration::from_millis(at)).await;
        let busy = debouncer.try_lock("every", LONG).await.unwrap_err();
        assert!(busy.is_held(), "{busy}");
        assert_eq!(
            busy.retry_after(),
            Some(Duration::from_millis(left)),
            "the lease left at {at} ms"
        );
    }
    assert!(guard.release().await.unwrap());
}

/// Without `renew`, a lease is lost when its time runs out: on the paused
/// clock, not at 299 ms of a 300 ms lease, but at 300 ms, when `lost()`
/// completes too, and another caller takes the key.
#[tokio::test(start_paused = true)]
async fn a_plain_lease_is_lost_when_its_time_runs_out() {
    let debouncer = Debouncer::memory();
    let lease_time = Duration::from_millis(300);
    let start = Instant::now();
    let guard = debouncer.try_lock("plain", lease_time).await.unwrap();
    let lease = guard.lease().clone();
    let lost_at = tokio::spawn(async move {
        lease.lost().await;
        Instant::now()
    });
    sleep_until(start + lease_time - ONE_MS).await;
    assert!(!guard.lease().is_lost(), "1 ms of the lease left");
    sleep_until(start + lease_time).await;
    assert!(guard.lease().is_lost(), "the lease ran out");
    let lost_at = timeout(LONG, lost_at)
        .await
        .expect("lost() completes when the lease runs out")
        .unwrap();
    assert_eq!(lost_at, start + lease_time);
    let next = debouncer
        .try_lock("plain", LONG)
        .await
        .expect("the key is free once the lease ran out");
    assert!(!guard.release().await.unwrap(), "no longer ours");
    assert!(next.release().await.unwrap());
}

#[debounce(key = "quote:{order}", ttl = 30, replay = "1h", using = debouncer, busy = 0)]
async fn quote(debouncer: &Debouncer, order: u64, runs: &AtomicUsize) -> usize {
    runs.fetch_add(1, Ordering::SeqCst) + 1
}

/// The in-memory backend keeps a result for the replay window and no
/// longer: on the paused clock, a `replay = "1h"` call is replayed 1 ms
/// before the hour is over, and runs again at the hour.
#[tokio::test(start_paused = true)]
async fn the_memory_replay_window_ends() {
    let debouncer = Debouncer::memory();
    let runs = AtomicUsize::new(0);
    let start = Instant::now();
    assert_eq!(quote(&debouncer, 1, &runs).await, 1);
    sleep_until(start + HOUR - ONE_MS).await;
    assert_eq!(
        quote(&debouncer, 1, &runs).await,
        1,
        "replayed in the window"
    );
    sleep_until(start + HOUR).await;
    assert_eq!(quote(&debouncer, 1, &runs).await, 2, "the window is over");
    assert_eq!(quote(&debouncer, 1, &runs).await, 2, "the new run's output");
    assert_eq!(runs.load(Ordering::SeqCst), 2);
}
