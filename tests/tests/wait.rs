//! `wait`: a caller waits for the holder instead of giving up at once,
//! woken by the release; it never runs without the lock, gives up at its
//! deadline, and stops waiting when its future is dropped.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use redis_debounce::{Busy, Debouncer, debounce};
use redis_debounce_tests::{Backend, join_all, on_both_backends};

const LONG: Duration = Duration::from_secs(30);
const CALLERS: usize = 8;

/// Counts the bodies running at once: more than one is a failure.
#[derive(Default)]
struct Exclusive {
    inside: AtomicUsize,
    runs: AtomicUsize,
}

impl Exclusive {
    fn enter(&self) {
        assert_eq!(
            self.inside.fetch_add(1, Ordering::SeqCst),
            0,
            "two bodies ran at once"
        );
    }

    fn leave(&self) {
        self.runs.fetch_add(1, Ordering::SeqCst);
        self.inside.fetch_sub(1, Ordering::SeqCst);
    }
}

#[debounce(key = "import:{id}", ttl = 30, wait = "60s", using = debouncer)]
async fn import(debouncer: &Debouncer, id: u32, exclusive: &Exclusive) -> Result<(), Busy> {
    exclusive.enter();
    // Work that takes a while, so that the others queue up behind it.
    tokio::time::sleep(Duration::from_millis(20)).await;
    exclusive.leave();
    Ok(())
}

#[debounce(key = "export:{id}", ttl = 30, wait = "60s", using = debouncer)]
fn export(debouncer: &Debouncer, id: u32, exclusive: &Exclusive) -> Result<(), Busy> {
    exclusive.enter();
    std::thread::sleep(Duration::from_millis(20));
    exclusive.leave();
    Ok(())
}

#[debounce(key = "import:{id}", ttl = 30, wait = "300ms", using = debouncer)]
async fn impatient(debouncer: &Debouncer, id: u32) -> Result<(), Busy> {
    Ok(())
}

async fn waiters_take_turns(backend: Backend) {
    let debouncer = &backend.debouncer;
    let exclusive = Exclusive::default();
    let calls = (0..CALLERS).map(|_| import(debouncer, 1, &exclusive));
    let answers = join_all(calls).await;
    for answer in answers {
        answer.expect("every waiter gets its turn");
    }
    assert_eq!(exclusive.runs.load(Ordering::SeqCst), CALLERS);
}

#[allow(clippy::unused_async, reason = "a scenario of on_both_backends!")]
async fn sync_waiters_take_turns(backend: Backend) {
    let debouncer = &backend.debouncer;
    let exclusive = Exclusive::default();
    std::thread::scope(|scope| {
        let threads: Vec<_> = (0..4)
            .map(|_| scope.spawn(|| export(debouncer, 1, &exclusive)))
            .collect();
        for thread in threads {
            thread
                .join()
                .expect("no panic")
                .expect("every waiter gets its turn");
        }
    });
    assert_eq!(exclusive.runs.load(Ordering::SeqCst), 4);
}

async fn waiter_past_its_deadline_is_busy(backend: Backend) {
    let debouncer = &backend.debouncer;
    let _held = debouncer.try_lock("import:2", LONG).await.unwrap();
    let started = Instant::now();
    let busy = impatient(debouncer, 2).await.unwrap_err();
    assert!(busy.is_held(), "{busy}");
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "gave up before its deadline: {:?}",
        started.elapsed()
    );
}

/// A holder that dies sends no wake-up: its lease runs out, and the waiter
/// takes the key then.
async fn waiter_outlives_a_dead_holder(backend: Backend) {
    let debouncer = &backend.debouncer;
    let dead = debouncer
        .try_lock("import:3", Duration::from_millis(300))
        .await
        .unwrap();
    std::mem::forget(dead);
    let guard = debouncer
        .lock("import:3", LONG)
        .wait(LONG)
        .acquire()
        .await
        .expect("the key after the dead holder's lease");
    assert!(guard.release().await.unwrap());
}

/// A waiter whose future is dropped stops waiting, and takes nothing later.
async fn dropped_waiter_takes_nothing(backend: Backend) {
    let debouncer = &backend.debouncer;
    let held = debouncer.try_lock("import:4", LONG).await.unwrap();
    let waiter = debouncer.lock("import:4", LONG).wait(LONG).acquire();
    assert!(
        tokio::time::timeout(Duration::from_millis(200), waiter)
            .await
            .is_err(),
        "the key is held: the waiter is still waiting"
    );
    assert!(held.release().await.unwrap());
    let next = debouncer.try_lock("import:4", LONG).await;
    assert!(next.is_ok(), "the dropped waiter took the key: {next:?}");
}

on_both_backends! {
    waiters_take_turns_one_at_a_time => super::waiters_take_turns;
    sync_waiters_take_turns_one_at_a_time => super::sync_waiters_take_turns;
    a_waiter_past_its_deadline_is_busy => super::waiter_past_its_deadline_is_busy;
    a_waiter_outlives_a_dead_holder => super::waiter_outlives_a_dead_holder;
    a_dropped_waiter_takes_nothing => super::dropped_waiter_takes_nothing;
}
