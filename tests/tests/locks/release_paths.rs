//! How a lock is given up: a call never waits for its release (nor for its
//! cooldown), a dropped guard never blocks, a cancelled `release()` still
//! releases, and a release or flush that cannot reach Redis says so.
//!
//! Where Redis must not run something yet, writes are held back with
//! `CLIENT PAUSE WRITE` (scripts included) and the `Debouncer`'s response
//! timeout is far longer than the test: a call that waited for its release
//! would not return before the pause is lifted.

use std::time::Duration;

use redis::Commands as _;
use redis_debounce::{Busy, Debouncer, Error, debounce};
use redis_debounce_tests::{RedisServer, poll_once};

const LONG: Duration = Duration::from_secs(60);

fn pause_writes(server: &RedisServer) {
    server.pause_writes(LONG);
}

fn unpause(server: &RedisServer) {
    server.unpause();
}

/// A `Debouncer` that would wait a minute for any answer.
fn patient(server: &RedisServer) -> Debouncer {
    Debouncer::builder()
        .response_timeout(LONG)
        .open(&server.url())
        .expect("url")
}

#[debounce(key = "send:{id}", ttl = 300, using = debouncer)]
async fn send(debouncer: &Debouncer, id: u32, server: &RedisServer) -> Result<u32, Busy> {
    pause_writes(server);
    Ok(id)
}

#[debounce(key = "notify:{id}", ttl = 300, cooldown = "1h", using = debouncer)]
async fn notify(debouncer: &Debouncer, id: u32, server: &RedisServer) -> Result<u32, Busy> {
    pause_writes(server);
    Ok(id)
}

/// The call returns while Redis cannot yet run its release: it did not wait
/// for it. The release runs once writes resume.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_async_call_does_not_wait_for_its_release() {
    let server = RedisServer::start();
    let debouncer = patient(&server);
    let call = tokio::time::timeout(LONG / 2, send(&debouncer, 1, &server)).await;
    let held = server.keys();
    unpause(&server);
    assert_eq!(call.expect("returned under the pause").unwrap(), 1);
    assert_eq!(held, ["debounce:{send:1}"], "the release had not run yet");
    debouncer.flush().await.unwrap();
    assert!(server.keys().is_empty());
}

/// The same for a cooldown: the call returns before the cooldown is set,
/// and the key then cools down for the window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_async_call_does_not_wait_for_its_cooldown() {
    let server = RedisServer::start();
    let debouncer = patient(&server);
    let call = tokio::time::timeout(LONG / 2, notify(&debouncer, 1, &server)).await;
    let mut raw = server.connection();
    let during: Vec<u8> = raw.get("debounce:{notify:1}").unwrap();
    unpause(&server);
    assert_eq!(call.expect("returned under the pause").unwrap(), 1);
    assert_eq!(
        during.len(),
        16,
        "still the holder's token, not yet cooling"
    );
    debouncer.flush().await.unwrap();
    let after: String = raw.get("debounce:{notify:1}").unwrap();
    assert_eq!(after, "cooldown");
    let pttl: i64 = raw.pttl("debounce:{notify:1}").unwrap();
    assert!(pttl > 3_500_000, "the window: {pttl} ms");
}

/// Dropping a guard sends its release and returns: it never waits for
/// Redis, even a frozen one (the response timeout is a minute).
#[tokio::test(flavor = "current_thread")]
async fn dropping_a_guard_never_blocks() {
    let server = RedisServer::start();
    let debouncer = patient(&server);
    let guard = debouncer.try_lock("drop:1", LONG).await.unwrap();
    let sync_guard = debouncer.try_lock_blocking("drop:2", LONG).unwrap();
    server.pause();
    let started = std::time::Instant::now();
    drop(guard);
    drop(sync_guard);
    let took = started.elapsed();
    server.resume();
    assert!(took < LONG / 3, "a drop waited for Redis: {took:?}");
    debouncer.flush().await.unwrap();
    debouncer.flush_blocking().unwrap();
    assert!(server.keys().is_empty(), "{:?}", server.keys());
}

/// `release()` cancelled before its request could go out: the key is freed
/// all the same (the guard's drop sends the release). Redis is frozen and
/// the `Debouncer` has no async connection yet, so the first poll of
/// `release()` cannot have sent anything: only the drop can free the key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_release_still_releases() {
    let server = RedisServer::start();
    let debouncer = patient(&server);
    let guard = debouncer.try_lock_blocking("cancel:1", LONG).unwrap();
    server.pause();
    let mut release = Box::pin(guard.release());
    let first = poll_once(&mut release).await;
    assert!(first.is_pending(), "answered by a frozen server: {first:?}");
    drop(release);
    server.resume();
    debouncer.flush_blocking().unwrap();
    debouncer.flush().await.unwrap();
    drop(
        debouncer
            .try_lock("cancel:1", LONG)
            .await
            .expect("released though cancelled"),
    );
}

/// In memory a release is done at its first poll: cancelling it after
/// that changes nothing.
#[tokio::test(start_paused = true)]
async fn a_release_in_memory_is_done_at_once() {
    let debouncer = Debouncer::memory();
    let guard = debouncer.try_lock("cancel:2", LONG).await.unwrap();
    let mut release = Box::pin(guard.release());
    assert!(matches!(
        poll_once(&mut release).await,
        std::task::Poll::Ready(Ok(true))
    ));
    drop(release);
    drop(
        debouncer
            .try_lock("cancel:2", LONG)
            .await
            .expect("released"),
    );
}

/// A task whose cooperative budget is spent drops a guard and at once asks
/// for the key again: its release is queued first all the same (handed to
/// the `Debouncer`'s connection thread through a channel that never waits,
/// so no budget applies), so the task never meets its own lock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_is_queued_even_with_the_budget_spent() {
    let server = RedisServer::start();
    let debouncer = Debouncer::open(&server.url()).unwrap();
    for round in 0..50 {
        let guard = debouncer.try_lock("budget", LONG).await.unwrap();
        while tokio::task::coop::has_budget_remaining() {
            tokio::task::coop::consume_budget().await;
        }
        drop(guard);
        let again = debouncer.try_lock("budget", LONG).await;
        assert!(again.is_ok(), "round {round}: met its own lock: {again:?}");
    }
}

/// Impatient, so that failures come quickly.
fn impatient(server: &RedisServer) -> Debouncer {
    Debouncer::builder()
        .connect_timeout(Duration::from_millis(300))
        .response_timeout(Duration::from_millis(300))
        .open(&server.url())
        .unwrap()
}

fn assert_unreachable(error: &Error) {
    assert!(
        matches!(error, Error::Connection { .. } | Error::Timeout { .. }),
        "{error:?}"
    );
}

/// A release that cannot reach Redis is an error, never `Ok(false)` ("it
/// was not ours"); so is a flush whose releases may not have run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn releases_and_flushes_that_cannot_reach_redis_fail() {
    let mut server = RedisServer::start();
    let debouncer = impatient(&server);
    let guard = debouncer.try_lock("lost:1", LONG).await.unwrap();
    let dropped = debouncer.try_lock("lost:2", LONG).await.unwrap();
    let sync_guard = debouncer.try_lock_blocking("lost:3", LONG).unwrap();
    let sync_dropped = debouncer.try_lock_blocking("lost:4", LONG).unwrap();
    server.stop();
    assert_unreachable(&guard.release().await.expect_err("Redis is gone"));
    drop(dropped);
    assert_unreachable(&debouncer.flush().await.expect_err("Redis is gone"));
    let debouncer_sync = debouncer.clone();
    tokio::task::spawn_blocking(move || {
        assert_unreachable(&sync_guard.release_blocking().expect_err("Redis is gone"));
        drop(sync_dropped);
        assert_unreachable(
            &debouncer_sync
                .flush_blocking()
                .expect_err("the release did not run"),
        );
    })
    .await
    .unwrap();
}

/// A release that could not be sent before its lease ran out (Redis down
/// meanwhile) is reported by the next flush as lost, also once Redis is
/// back: never `Ok`, as if it had run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_lost_in_an_outage_is_reported_after_redis_is_back() {
    let mut server = RedisServer::start();
    let debouncer = impatient(&server);
    let guard = debouncer
        .try_lock("lost:5", Duration::from_millis(300))
        .await
        .unwrap();
    server.stop();
    drop(guard);
    // Past the lease (and the release's connect and response timeouts).
    tokio::time::sleep(Duration::from_secs(2)).await;
    server.restart();
    assert_unreachable(&debouncer.flush().await.expect_err("the release was lost"));
}
