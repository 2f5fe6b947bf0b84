//! How a release knows to wake someone: a waiter that finds the key held
//! flags the holder's lock (its 16-byte token gains a `+`, the lease is
//! kept), and only a flagged lock's release pushes a wake-up. A waiter that
//! takes the lock while others may still wait flags its own, so the
//! hand-off goes on. What lands in Redis is checked directly.

use std::time::{Duration, Instant};

use redis_debounce::Debouncer;
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
    let pttl: i64 = redis::cmd("PTTL").arg(LOCK).query(&mut raw).expect("PTTL");
    assert!(
        pttl > 20_000,
        "the flag keeps the holder's lease: {pttl} ms left"
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
}
