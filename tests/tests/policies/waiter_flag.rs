//! How a release knows to wake someone: a waiter that finds the key held
//! flags the holder's lock (its 16-byte token gains a `+`, the lease is
//! kept), and only a flagged lock's release pushes a wake-up. A waiter that
//! takes the lock while others may still wait flags its own, so the
//! hand-off goes on. What lands in Redis is checked directly.

use std::time::{Duration, Instant};

use redis_debounce::{Acquired, Debouncer};
use redis_debounce_tests::RedisServer;

const LONG: Duration = Duration::from_secs(30);
/// How long Redis may take to show a waiter's mark on a loaded machine.
const SHOWS_WITHIN: Duration = Duration::from_secs(20);

const LOCK: &str = "debounce:{mailer}";
const SIGNAL: &str = "debounce:{mailer}:signal";

fn lock_value(raw: &mut redis::Connection) -> Option<Vec<u8>> {
    redis::cmd("GET").arg(LOCK).query(raw).expect("GET")
}

fn signals(raw: &mut redis::Connection) -> usize {
    redis::cmd("LLEN").arg(SIGNAL).query(raw).expect("LLEN")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiter_flags_the_lock_and_its_release_wakes_it() {
    let server = RedisServer::start();
    let debouncer = Debouncer::open(&server.url()).expect("url");
    let mut raw = server.connection();

    // Without waiters a release pushes no wake-up.
    let lone = debouncer.try_lock("mailer", LONG).await.expect("free");
    assert_eq!(
        lock_value(&mut raw).map(|v| v.len()),
        Some(16),
        "a bare token"
    );
    assert!(lone.release().await.expect("released"));
    assert_eq!(signals(&mut raw), 0, "nobody waits, nobody is woken");

    let holder = debouncer.try_lock("mailer", LONG).await.expect("free");
    let waiter = tokio::spawn({
        let debouncer = debouncer.clone();
        async move { debouncer.lock("mailer", LONG).wait(LONG).acquire().await }
    });
    // The waiter found the key held: Redis shows its flag on the lock.
    let started = Instant::now();
    let flagged = loop {
        let value = lock_value(&mut raw).expect("held");
        if value.len() == 17 || started.elapsed() > SHOWS_WITHIN {
            break value;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    assert_eq!(flagged.last(), Some(&b'+'), "{flagged:?}");
    let left = pttl(&mut raw, LOCK);
    assert!(
        left > 20_000,
        "the flag keeps the holder's lease: {left} ms left"
    );

    assert!(
        holder.release().await.expect("released"),
        "flagged, still the holder's"
    );
    let next = waiter.await.expect("task").expect("woken");
    // The waiter took over while its own mark lives on: it flagged its lock,
    // so that its release wakes whoever may still wait.
    let value = lock_value(&mut raw).expect("the waiter holds it");
    assert_eq!((value.len(), value.last()), (17, Some(&b'+')));
    assert!(next.release().await.expect("released"));
    assert_eq!(signals(&mut raw), 1, "the flagged release pushed a wake-up");
    assert_eq!(lock_value(&mut raw), None, "free");
    // The wake-up list lives no longer than the waiters' marker.
    let waiting = pttl(&mut raw, WAITING);
    let signal = pttl(&mut raw, SIGNAL);
    assert!(
        0 < signal && signal <= waiting,
        "{signal} ms vs {waiting} ms"
    );
}

const WAITING: &str = "debounce:{mailer}:waiting";

/// Sets the waiters' marker for a minute, as a waiter would: someone
/// waits, and nobody takes the wake-ups.
fn mark_waiting(raw: &mut redis::Connection) {
    redis::cmd("SET")
        .arg(WAITING)
        .arg("1")
        .arg("PX")
        .arg(60_000)
        .exec(raw)
        .expect("SET");
}

fn pttl(raw: &mut redis::Connection, key: &str) -> i64 {
    redis::cmd("PTTL").arg(key).query(raw).expect("PTTL")
}

/// The waiters' marker lasts as long as the longest waiter waits, and is
/// gone, with the wake-up list, once nobody waits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_waiters_marker_lasts_as_long_as_the_wait() {
    const WAIT: Duration = Duration::from_secs(3);
    let server = RedisServer::start();
    let debouncer = Debouncer::open(&server.url()).expect("url");
    let mut raw = server.connection();
    let _holder = debouncer.try_lock("mailer", LONG).await.expect("free");
    let waiter = tokio::spawn({
        let debouncer = debouncer.clone();
        async move { debouncer.lock("mailer", LONG).wait(WAIT).acquire().await }
    });
    let url = server.url();
    tokio::task::spawn_blocking(move || redis_debounce_tests::await_blocked_in(&url, "blpop"))
        .await
        .expect("the waiter sleeps in BLPOP");
    let marked = pttl(&mut raw, WAITING);
    assert!(
        0 < marked && marked <= 3_000,
        "the marker lasts the wait: {marked} ms"
    );
    let busy = waiter
        .await
        .expect("task")
        .expect_err("the holder keeps it");
    assert!(busy.is_held(), "{busy}");
    // Nobody waits now: the marker runs out within the wait it lasted for.
    let started = Instant::now();
    while pttl(&mut raw, WAITING) != -2 || pttl(&mut raw, SIGNAL) != -2 {
        assert!(
            started.elapsed() < SHOWS_WITHIN,
            "the marker outlived the wait"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A waiter sleeps on the key's own wake-up list: an item pushed there from
/// outside, while the holder still holds, is taken by the waiter (a waiter
/// that slept on anything else, or on a timer, would leave it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiter_listens_on_the_keys_wake_up_list() {
    let server = RedisServer::start();
    let debouncer = Debouncer::open(&server.url()).expect("url");
    let mut raw = server.connection();
    let holder = debouncer.try_lock("mailer", LONG).await.expect("free");
    let waiter = tokio::spawn({
        let debouncer = debouncer.clone();
        async move { debouncer.lock("mailer", LONG).wait(LONG).acquire().await }
    });
    let url = server.url();
    tokio::task::spawn_blocking(move || redis_debounce_tests::await_blocked_in(&url, "blpop"))
        .await
        .expect("the waiter sleeps in BLPOP");
    redis::cmd("RPUSH")
        .arg(SIGNAL)
        .arg("from outside")
        .exec(&mut raw)
        .expect("RPUSH");
    let started = Instant::now();
    while signals(&mut raw) != 0 {
        assert!(
            started.elapsed() < SHOWS_WITHIN,
            "the waiter does not listen on {SIGNAL}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Woken, it found the key still held and went back to waiting.
    assert!(!waiter.is_finished(), "the holder still holds");
    assert!(holder.release().await.expect("released"));
    let next = waiter
        .await
        .expect("task")
        .expect("the key after the release");
    assert!(next.release().await.expect("released"));
}

/// A finish that stores a result or starts a cooldown wakes a waiter too:
/// with the waiters' marker set, each pushes one wake-up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finish_with_a_result_or_a_cooldown_wakes_a_waiter() {
    let server = RedisServer::start();
    let debouncer = Debouncer::open(&server.url()).expect("url");
    let mut raw = server.connection();
    for finish in ["cooldown", "result"] {
        let _: () = redis::cmd("DEL").arg(SIGNAL).query(&mut raw).expect("DEL");
        let holder = debouncer.try_lock("mailer", LONG).await.expect("free");
        // Someone waits (the marker a waiter sets), nobody takes the wake-up.
        mark_waiting(&mut raw);
        let finished = match finish {
            "cooldown" => holder.cool_down(Duration::from_millis(1)).await,
            _ => holder.complete(&1_u32, Duration::from_secs(60)).await,
        };
        assert!(finished.expect("finished"), "{finish}: it was ours");
        assert_eq!(
            signals(&mut raw),
            1,
            "{finish}: the finish pushed a wake-up"
        );
        let _: () = redis::cmd("DEL")
            .arg(LOCK)
            .arg("debounce:{mailer}:result")
            .query(&mut raw)
            .expect("DEL");
    }
}

/// A waiter that is answered by a stored result, not by the lock, passes
/// the wake-up on to the next waiter (it consumed one to get there), and a
/// caller that does not wait passes on nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiter_given_the_stored_result_wakes_the_next() {
    let server = RedisServer::start();
    let debouncer = Debouncer::open(&server.url()).expect("url");
    let mut raw = server.connection();
    let holder = debouncer.try_lock("mailer", LONG).await.expect("free");
    assert!(
        holder
            .complete(&7_u32, Duration::from_secs(60))
            .await
            .expect("stored")
    );
    // Others wait (their marker), and no wake-up is pending.
    mark_waiting(&mut raw);
    let _: () = redis::cmd("DEL").arg(SIGNAL).query(&mut raw).expect("DEL");

    let impatient = debouncer
        .lock("mailer", LONG)
        .acquire_or_replay::<u32>()
        .await;
    assert!(
        matches!(impatient, Ok(Acquired::Replayed(7))),
        "{impatient:?}"
    );
    assert_eq!(
        signals(&mut raw),
        0,
        "a caller that does not wait wakes nobody"
    );

    let waiter = debouncer
        .lock("mailer", LONG)
        .wait(LONG)
        .acquire_or_replay::<u32>()
        .await;
    assert!(matches!(waiter, Ok(Acquired::Replayed(7))), "{waiter:?}");
    assert_eq!(signals(&mut raw), 1, "the waiter passed the wake-up on");
}
