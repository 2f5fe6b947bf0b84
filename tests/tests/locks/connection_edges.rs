//! The edges of the connection layer's answers to stalls and refusals, from
//! a second hostile review: a freeze shorter than the timeout fails no call,
//! a short freeze does not end a long wait (it asks again with a fresh
//! token), refused acquires are told of the refusal during the pause rather
//! than reconnecting, and a late acquire after its `Debouncer` is gone still
//! leaves no lock.

use std::time::{Duration, Instant};

use redis_debounce::{Busy, Debouncer, debounce};
use redis_debounce_tests::{Proxy, RedisServer};

const LONG: Duration = Duration::from_secs(3600);

#[debounce(key = "w:{id}", ttl = 3600, wait = "10s", using = debouncer)]
async fn patient(debouncer: &Debouncer, id: usize) -> Result<(), Busy> {
    Ok(())
}

/// A freeze shorter than the response timeout (SIGSTOP 400 ms, timeout
/// 3 s, so a thaw late by 2.6 s on a loaded machine is still inside it): every acquire in flight is answered once Redis thaws; none is
/// told Timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_freeze_under_the_timeout_fails_no_call() {
    let server = RedisServer::start();
    let debouncer = redis_debounce_tests::impatient(&server.url(), Duration::from_secs(3));
    debouncer
        .try_lock("warm", LONG)
        .await
        .unwrap()
        .release()
        .await
        .unwrap();
    server.pause();
    let thaw = {
        let pid = server.pid().unwrap();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(400));
            std::process::Command::new("kill")
                .args(["-CONT", &pid.to_string()])
                .status()
                .unwrap();
        })
    };
    let calls = (0..20).map(|i| {
        let debouncer = debouncer.clone();
        tokio::spawn(async move { debouncer.try_lock(&format!("k{i}"), LONG).await.map(drop) })
    });
    let mut failed = Vec::new();
    for call in calls {
        if let Err(busy) = call.await.unwrap() {
            failed.push(format!("{busy:?}"));
        }
    }
    thaw.join().unwrap();
    assert!(
        failed.is_empty(),
        "{} failed: {:?}",
        failed.len(),
        failed.first()
    );
}

/// A caller that asked to wait 10 s, with a freeze of 1.3 s (timeout 1 s):
/// the timed-out acquire is asked again with a fresh token while the wait
/// runs, and it gets the lock (without that, the freeze ended its whole
/// wait with Timeout, 8.7 s early).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_freeze_does_not_end_a_long_wait() {
    let server = RedisServer::start();
    let debouncer = redis_debounce_tests::impatient(&server.url(), Duration::from_secs(1));
    patient(&debouncer, 0).await.unwrap();
    debouncer.flush().await.unwrap();
    server.pause();
    let pid = server.pid().unwrap();
    let thaw = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1300));
        std::process::Command::new("kill")
            .args(["-CONT", &pid.to_string()])
            .status()
            .unwrap();
    });
    let started = Instant::now();
    let waited = patient(&debouncer, 1).await;
    let took = started.elapsed();
    thaw.join().unwrap();
    assert!(
        waited.is_ok(),
        "wait = 10s, Redis frozen 1.3 s: turned away after {took:?}: {waited:?}"
    );
}

/// Refused acquires (a master demoted in a failover, READONLY) while
/// requests keep coming, as a web server's do: while the refusal's pause
/// runs, callers are told of it without a new connection, and a release's
/// no-op answer on the replica does not end the back-off: fewer than 10
/// connections a second (before: 1,248 for 624 calls, two per call).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_acquires_under_load_do_not_reconnect_in_a_loop() {
    let server = RedisServer::start();
    let debouncer = redis_debounce_tests::impatient(&server.url(), Duration::from_millis(300));
    debouncer
        .try_lock("warm", LONG)
        .await
        .unwrap()
        .release()
        .await
        .unwrap();
    server.demote();
    let before = server.info_stat("total_connections_received");
    let started = Instant::now();
    let mut calls = 0;
    while started.elapsed() < Duration::from_secs(1) {
        let refused = debouncer.try_lock(&format!("k{calls}"), LONG).await;
        assert!(refused.is_err());
        calls += 1;
    }
    let made = server.info_stat("total_connections_received") - before;
    server.promote();
    assert!(
        made < 10,
        "{made} connections in 1 s for {calls} refused acquires"
    );
}

/// The Debouncer dropped right after an acquire timed out on a stalled
/// connection: its dispatcher ends (after the undo on the next
/// connection), dropping the undo kept `behind`; the stalled connection
/// then delivers its acquire late.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_acquire_after_the_debouncer_is_dropped_leaves_no_lock() {
    let server = RedisServer::start();
    let proxy = Proxy::in_front_of(&server);
    let debouncer = redis_debounce_tests::impatient(&proxy.url(), Duration::from_millis(300));
    debouncer
        .try_lock("warm", LONG)
        .await
        .unwrap()
        .release()
        .await
        .unwrap();
    debouncer.flush().await.unwrap();
    assert_eq!(proxy.stall_open_connections(), 1);
    let busy = debouncer
        .try_lock("report", LONG)
        .await
        .expect_err("stalled");
    assert!(
        matches!(busy.error(), Some(redis_debounce::Error::Timeout { .. })),
        "{busy:?}"
    );
    drop(debouncer);
    // The dispatcher thread ends once its undo on connection 1 is answered.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let answer = proxy.let_through(0);
    assert!(
        server.lock_keys().is_empty(),
        "late answer {:?}; left {:?}",
        String::from_utf8_lossy(&answer),
        server.lock_keys()
    );
}
