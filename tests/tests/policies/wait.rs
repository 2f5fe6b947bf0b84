//! `wait`: a caller waits for the holder instead of giving up at once,
//! woken by the release; it never runs without the lock, gives up at its
//! deadline, and stops waiting when its future is dropped.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use redis_debounce::{Busy, Debouncer, LockGuard, debounce};
use redis_debounce_tests::{Backend, await_blocked_in, join_all, on_both_backends, poll_once};
use tokio::time::Instant;

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
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(300),
        "gave up before its deadline: {waited:?}"
    );
    if backend.is_memory() {
        // The paused clock shows the back-off never sleeps past the
        // deadline: the waiter gives up at it, to the millisecond.
        assert!(
            waited <= Duration::from_millis(301),
            "slept past its deadline: {waited:?}"
        );
    }
}

/// A holder that dies sends no wake-up: its lease runs out, and the waiter
/// takes the key then.
async fn waiter_outlives_a_dead_holder(backend: Backend) {
    let debouncer = &backend.debouncer;
    let taken = Instant::now();
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
    if backend.is_memory() {
        // The paused clock shows the back-off never sleeps past the
        // holder's lease: the waiter takes the key as it runs out.
        let after = taken.elapsed();
        assert!(
            after <= Duration::from_millis(301),
            "slept past the lease: {after:?}"
        );
    }
    assert!(guard.release().await.unwrap());
}

/// Drives a waiter for `key` until it is registered: on Redis, until its
/// connection is blocked in `BLPOP` on the wake-up list (as `CLIENT LIST`
/// shows); in memory, one poll takes it to its wait.
async fn registered_waiter(
    backend: &Backend,
    key: &'static str,
) -> std::pin::Pin<Box<impl Future<Output = Result<LockGuard, Busy>>>> {
    let debouncer = backend.debouncer.clone();
    let mut waiter = Box::pin(async move { debouncer.lock(key, LONG).wait(LONG).acquire().await });
    assert!(poll_once(&mut waiter).await.is_pending(), "the key is held");
    if let Some(url) = backend.url_serving(&format!("debounce:{{{key}}}")) {
        let blocked = tokio::task::spawn_blocking(move || await_blocked_in(&url, "blpop"));
        tokio::select! {
            blocked = blocked => blocked.expect("a waiter blocked in BLPOP"),
            taken = &mut waiter => panic!("the key is held, yet: {taken:?}"),
        }
    }
    waiter
}

/// A waiter whose future is dropped stops waiting, and takes nothing later.
async fn dropped_waiter_takes_nothing(backend: Backend) {
    let debouncer = &backend.debouncer;
    let held = debouncer.try_lock("import:4", LONG).await.unwrap();
    let waiter = registered_waiter(&backend, "import:4").await;
    drop(waiter);
    assert!(held.release().await.unwrap());
    let next = debouncer.try_lock("import:4", LONG).await;
    assert!(next.is_ok(), "the dropped waiter took the key: {next:?}");
}

/// The release wakes the waiter: it is not left to its back-off. On Redis
/// the waiter sleeps in `BLPOP` on the key's wake-up list (a waiter that
/// slept a timer instead never shows there); in memory, on the paused
/// clock, it takes the key at the very instant of the release (a back-off
/// sleep would move the clock on).
async fn a_release_wakes_the_waiter(backend: Backend) {
    let debouncer = &backend.debouncer;
    let held = debouncer.try_lock("import:5", LONG).await.unwrap();
    let waiter = registered_waiter(&backend, "import:5").await;
    let released_at = Instant::now();
    assert!(held.release().await.unwrap());
    let next = tokio::time::timeout(LONG, waiter)
        .await
        .expect("woken before the wait ran out")
        .expect("the key, after the release");
    if backend.is_memory() {
        assert_eq!(
            Instant::now(),
            released_at,
            "woken by a timer, not by the release"
        );
    }
    assert!(next.release().await.unwrap());
}

on_both_backends! {
    #[paused] waiters_take_turns_one_at_a_time => super::waiters_take_turns;
    sync_waiters_take_turns_one_at_a_time => super::sync_waiters_take_turns;
    #[paused] a_waiter_past_its_deadline_is_busy => super::waiter_past_its_deadline_is_busy;
    #[paused] a_waiter_outlives_a_dead_holder => super::waiter_outlives_a_dead_holder;
    #[paused] a_dropped_waiter_takes_nothing => super::dropped_waiter_takes_nothing;
    #[paused] a_release_wakes_the_waiter => super::a_release_wakes_the_waiter;
}

/// How many times Redis ran `command` since the last `CONFIG RESETSTAT`.
fn calls(redis: &mut redis::Connection, command: &str) -> u64 {
    let info: String = redis::cmd("INFO").arg("commandstats").query(redis).unwrap();
    info.lines()
        .find_map(|line| line.strip_prefix(&format!("cmdstat_{command}:calls=")))
        .and_then(|rest| rest.split(',').next())
        .map_or(0, |calls| calls.parse().unwrap())
}

/// A waiter sleeps between its tries (in `BLPOP`, cut short by a release),
/// async or blocking: a few tries over two seconds, not a busy loop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiter_sleeps_between_tries() {
    let backend = Backend::redis();
    let debouncer = backend.debouncer.clone();
    let mut redis = backend.server.as_ref().unwrap().connection();
    let _held = debouncer.try_lock("import:9", LONG).await.unwrap();
    let wait = Duration::from_secs(2);
    let () = redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .query(&mut redis)
        .unwrap();
    let busy = debouncer.lock("import:9", LONG).wait(wait).acquire().await;
    assert!(busy.expect_err("held throughout").is_held());
    let sync_debouncer = debouncer.clone();
    let busy = tokio::task::spawn_blocking(move || {
        sync_debouncer
            .lock("import:9", LONG)
            .wait(wait)
            .acquire_blocking()
    })
    .await
    .unwrap();
    assert!(busy.expect_err("held throughout").is_held());
    let tries = calls(&mut redis, "evalsha");
    let sleeps = calls(&mut redis, "blpop");
    // The back-off doubles from 50 ms to 1 s: about 8 tries per wait.
    assert!((4..=40).contains(&tries), "{tries} tries in two waits");
    assert!(sleeps >= 2, "{sleeps} sleeps in BLPOP");
}
