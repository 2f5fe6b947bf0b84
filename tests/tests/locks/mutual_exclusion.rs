//! Duplicate calls: exactly one runs; concurrency per key never exceeds one;
//! different keys never block each other.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use redis_debounce::{Busy, Debouncer, debounce};
use redis_debounce_tests::{Backend, on_both_backends};
use tokio::sync::{Barrier, watch};

/// A generous bound for a signal that should arrive in microseconds.
const SIGNAL_WITHIN: Duration = Duration::from_secs(20);

struct Burst {
    ran: AtomicUsize,
    busy: watch::Sender<usize>,
}

/// Holds the lock until every other caller of the burst has been turned
/// away, so that all of them overlap with it by construction.
#[debounce(key = "checkout:{user_id}", ttl = 30, using = debouncer)]
async fn checkout(
    debouncer: &Debouncer,
    user_id: u64,
    burst: Arc<Burst>,
    callers: usize,
) -> Result<(), Busy> {
    burst.ran.fetch_add(1, Ordering::SeqCst);
    let mut busy = burst.busy.subscribe();
    tokio::time::timeout(SIGNAL_WITHIN, busy.wait_for(|n| *n == callers - 1))
        .await
        .expect("the other callers were not turned away")
        .expect("the burst outlives its callers");
    Ok(())
}

async fn one_of_n_runs(backend: Backend) {
    const CALLERS: usize = 24;
    let burst = Arc::new(Burst {
        ran: AtomicUsize::new(0),
        busy: watch::channel(0).0,
    });
    let calls: Vec<_> = (0..CALLERS)
        .map(|_| {
            let (debouncer, burst) = (backend.debouncer.clone(), burst.clone());
            tokio::spawn(async move {
                let answer = checkout(&debouncer, 7, burst.clone(), CALLERS).await;
                if let Err(busy) = &answer {
                    assert!(busy.is_held(), "turned away for another reason: {busy}");
                    assert!(!busy.is_cooling_down() && !busy.is_mismatch(), "{busy:?}");
                    assert!(busy.error().is_none(), "{busy:?}");
                    assert!(std::error::Error::source(busy).is_none(), "{busy:?}");
                    assert_eq!(busy.key(), "checkout:7");
                    burst.busy.send_modify(|n| *n += 1);
                }
                answer.is_ok()
            })
        })
        .collect();
    let mut ran = 0;
    for call in calls {
        ran += usize::from(call.await.expect("a caller panicked"));
    }
    assert_eq!(ran, 1, "exactly one call runs");
    assert_eq!(burst.ran.load(Ordering::SeqCst), 1, "the body ran once");
    assert_eq!(*burst.busy.borrow(), CALLERS - 1);
}

struct Occupancy {
    inside: AtomicUsize,
    most: AtomicUsize,
    runs: AtomicUsize,
}

#[debounce(key = "hot", ttl = 30, using = debouncer)]
async fn occupy(debouncer: &Debouncer, occupancy: &Occupancy) -> Result<(), Busy> {
    let now = occupancy.inside.fetch_add(1, Ordering::SeqCst) + 1;
    occupancy.most.fetch_max(now, Ordering::SeqCst);
    occupancy.runs.fetch_add(1, Ordering::SeqCst);
    for _ in 0..3 {
        tokio::task::yield_now().await;
    }
    occupancy.inside.fetch_sub(1, Ordering::SeqCst);
    Ok(())
}

async fn at_most_one_inside(backend: Backend) {
    const TASKS: usize = 64;
    const ROUNDS: usize = 40;
    let occupancy = Arc::new(Occupancy {
        inside: AtomicUsize::new(0),
        most: AtomicUsize::new(0),
        runs: AtomicUsize::new(0),
    });
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let (debouncer, occupancy) = (backend.debouncer.clone(), occupancy.clone());
            tokio::spawn(async move {
                let mut ran = 0;
                for _ in 0..ROUNDS {
                    match occupy(&debouncer, &occupancy).await {
                        Ok(()) => ran += 1,
                        Err(busy) => assert!(busy.is_held(), "{busy}"),
                    }
                }
                ran
            })
        })
        .collect();
    let mut granted = 0;
    for task in tasks {
        granted += task.await.expect("a task panicked");
    }
    assert_eq!(
        occupancy.most.load(Ordering::SeqCst),
        1,
        "two bodies overlapped"
    );
    // Every granted call ran its body once, and the key was not stuck:
    // with 64 tasks taking turns for 40 rounds, more than one got it.
    assert_eq!(occupancy.runs.load(Ordering::SeqCst), granted);
    assert!(granted > 1, "only {granted} of the calls ran");
}

#[debounce(key = "import:{name}", ttl = 30, using = debouncer)]
async fn import(debouncer: &Debouncer, name: &str, both_inside: &Barrier) -> Result<(), Busy> {
    // Each key's body waits for the other's: if one key blocked the other,
    // neither would get here twice.
    tokio::time::timeout(SIGNAL_WITHIN, both_inside.wait())
        .await
        .expect("the other key's body never started");
    Ok(())
}

async fn keys_are_independent(backend: Backend) {
    let both_inside = Barrier::new(2);
    let (a, b) = tokio::join!(
        import(&backend.debouncer, "a", &both_inside),
        import(&backend.debouncer, "b", &both_inside),
    );
    assert!(a.is_ok() && b.is_ok(), "{a:?} {b:?}");
}

on_both_backends! {
    one_of_n_concurrent_duplicates_runs => super::one_of_n_runs;
    concurrency_per_key_never_exceeds_one => super::at_most_one_inside;
    different_keys_do_not_block_each_other => super::keys_are_independent;
}
