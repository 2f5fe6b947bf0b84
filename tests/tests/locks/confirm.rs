//! Plain fns keep the fast path: the release is handed over, not waited
//! for, so for a moment after the call returns another process can still
//! find the lock (the README's window). `confirm` closes it: the call
//! returns once Redis ran the release.
//!
//! Each body holds Redis's writes back (`CLIENT PAUSE WRITE`) as it ends:
//! a confirmed call returns only after the pause was lifted, with no lock
//! left; a fast-path call returns while the pause stands, its lock still
//! in Redis.

use std::time::Duration;

use redis_debounce::{Busy, Debouncer, debounce};
use redis_debounce_tests::{RedisServer, Unpausing};

const PAUSED_FOR: Duration = Duration::from_millis(500);
const LONG: Duration = Duration::from_secs(60);

fn setup() -> (RedisServer, Debouncer) {
    let server = RedisServer::start();
    let debouncer = server.patient();
    (server, debouncer)
}

/// Holds writes back until `PAUSED_FOR` has passed.
fn hold_writes(server: &RedisServer) -> Unpausing {
    server.hold_writes(PAUSED_FOR)
}

fn assert_confirmed(server: &RedisServer, unpausing: Unpausing) {
    assert!(
        unpausing.lifted(),
        "returned before Redis could run the release"
    );
    assert!(server.keys().is_empty(), "left: {:?}", server.keys());
    unpausing.join();
}

#[debounce(key = "job:{id}", ttl = 300, confirm, using = debouncer)]
async fn job(debouncer: &Debouncer, server: &RedisServer, id: u32) -> Result<Unpausing, Busy> {
    Ok(hold_writes(server))
}

#[debounce(key = "job-sync:{id}", ttl = 300, confirm, using = debouncer)]
fn job_sync(debouncer: &Debouncer, server: &RedisServer, id: u32) -> Result<Unpausing, Busy> {
    Ok(hold_writes(server))
}

/// With a cooldown, the finish that starts it is what is confirmed.
#[debounce(key = "mail:{id}", ttl = 300, cooldown = "1h", confirm, using = debouncer)]
async fn mail(debouncer: &Debouncer, server: &RedisServer, id: u32) -> Result<Unpausing, Busy> {
    Ok(hold_writes(server))
}

#[debounce(key = "fast:{id}", ttl = 300, using = debouncer)]
async fn fast(debouncer: &Debouncer, server: &RedisServer, id: u32) -> Result<u32, Busy> {
    server.pause_writes(LONG);
    Ok(id)
}

/// `Result<(), Busy>` is a response to axum (`()` and `Busy` both are), so
/// with the `axum` feature it would confirm: `confirm = false` keeps the
/// fast path.
#[debounce(key = "fast-unit:{id}", ttl = 300, confirm = false, using = debouncer)]
async fn fast_unit(debouncer: &Debouncer, server: &RedisServer, id: u32) -> Result<(), Busy> {
    server.pause_writes(LONG);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirm_returns_once_redis_ran_the_release() {
    let (server, debouncer) = setup();
    let unpausing = job(&debouncer, &server, 1).await.expect("free");
    assert_confirmed(&server, unpausing);
}

#[test]
fn confirm_on_a_sync_fn_returns_once_redis_ran_the_release() {
    let (server, debouncer) = setup();
    let unpausing = job_sync(&debouncer, &server, 1).expect("free");
    assert_confirmed(&server, unpausing);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirm_returns_once_redis_started_the_cooldown() {
    let (server, debouncer) = setup();
    let unpausing = mail(&debouncer, &server, 1).await.expect("free");
    assert!(unpausing.lifted(), "returned before Redis ran the finish");
    let busy = debouncer
        .try_lock("mail:1", LONG)
        .await
        .expect_err("cooling down");
    assert!(busy.is_cooling_down(), "{busy:?}");
    unpausing.join();
}

/// The fast path's window, as the README states it: the call is back, its
/// release not yet run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_confirm_a_call_returns_before_its_release_ran() {
    let (server, debouncer) = setup();
    fast(&debouncer, &server, 1).await.expect("free");
    assert_eq!(server.keys(), ["debounce:{fast:1}"], "the pause holds it");
    server.unpause();
    fast_unit(&debouncer, &server, 1).await.expect("free");
    assert_eq!(
        server.keys(),
        ["debounce:{fast-unit:1}"],
        "confirm = false: the pause holds it"
    );
    server.unpause();
    debouncer.flush().await.expect("flushed");
    assert!(server.keys().is_empty(), "left: {:?}", server.keys());
}
