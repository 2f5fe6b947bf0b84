//! `Debouncer::flush`: once it returns, every release sent from async code
//! has been run by Redis, so a process may exit without leaving its locks
//! to their leases.
//!
//! Each test holds Redis's writes back (`CLIENT PAUSE WRITE`, which also
//! holds every script) while the releases are in flight, so a `flush` that
//! returned before Redis ran them is caught on every run: it would return
//! while the pause still stands, with the last lock still in Redis.

use std::time::Duration;

use redis_debounce::{Busy, Debouncer, debounce};
use redis_debounce_tests::RedisServer;

/// How long the test lets a wrong `flush` show itself before lifting the
/// pause. A right one cannot return before then, however slow the machine.
const PAUSED_FOR: Duration = Duration::from_millis(500);
const LONG: Duration = Duration::from_secs(60);

#[debounce(key = "export:{id}", ttl = 300, using = debouncer)]
async fn export(debouncer: &Debouncer, id: u32, pause: Option<&RedisServer>) -> Result<u32, Busy> {
    if let Some(server) = pause {
        pause_writes(server);
    }
    Ok(id)
}

fn pause_writes(server: &RedisServer) {
    server.pause_writes(LONG);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flush_returns_once_redis_ran_the_releases() {
    let server = RedisServer::start();
    // A response timeout far longer than the pause: flush waits for the
    // answer rather than giving up.
    let debouncer = Debouncer::builder()
        .response_timeout(LONG)
        .open(&server.url())
        .expect("url");
    for id in 0..500 {
        export(&debouncer, id, None).await.expect("free");
    }
    // The last body pauses Redis's writes: its release (and only it) is
    // still to run when flush is called.
    export(&debouncer, 500, Some(&server)).await.expect("free");
    assert_eq!(
        server.keys(),
        ["debounce:{export:500}"],
        "the pause holds it"
    );
    let unpausing = server.unpause_after(PAUSED_FOR);
    debouncer.flush().await.expect("flushed");
    assert!(
        unpausing.lifted(),
        "flush returned while Redis could not yet run the release"
    );
    // Another connection sees what Redis has run: no lock is left.
    assert!(server.keys().is_empty(), "still held: {:?}", server.keys());
    unpausing.join();
}

#[tokio::test]
async fn flush_with_nothing_sent_returns_at_once() {
    let server = RedisServer::start();
    let debouncer = Debouncer::open(&server.url()).expect("url");
    // Nothing was sent, so a frozen server does not hold flush up.
    server.pause();
    let flushed = tokio::time::timeout(LONG, debouncer.flush()).await;
    server.resume();
    flushed
        .expect("no connection to wait for")
        .expect("nothing to flush");
    Debouncer::memory()
        .flush()
        .await
        .expect("in-process: nothing to flush");
}

#[debounce(key = "export-sync:{id}", ttl = 300, using = debouncer)]
fn export_sync(debouncer: &Debouncer, id: u32, pause: Option<&RedisServer>) -> Result<u32, Busy> {
    if let Some(server) = pause {
        pause_writes(server);
    }
    Ok(id)
}

#[test]
fn flush_blocking_returns_once_redis_ran_the_releases() {
    let server = RedisServer::start();
    // A response timeout longer than the pause: flush_blocking waits for
    // the answer rather than giving up.
    let debouncer = Debouncer::builder()
        .response_timeout(LONG)
        .open(&server.url())
        .expect("url");
    for id in 0..500 {
        export_sync(&debouncer, id, None).expect("free");
    }
    export_sync(&debouncer, 500, Some(&server)).expect("free");
    assert_eq!(
        server.keys(),
        ["debounce:{export-sync:500}"],
        "the pause holds it"
    );
    let unpausing = server.unpause_after(PAUSED_FOR);
    debouncer.flush_blocking().expect("flushed");
    assert!(
        unpausing.lifted(),
        "flush_blocking returned while Redis could not yet run the release"
    );
    assert!(server.keys().is_empty(), "still held: {:?}", server.keys());
    unpausing.join();
    // Nothing owed now: flushing again sends nothing, so a frozen server
    // does not hold it up.
    server.pause();
    let again = debouncer.flush_blocking();
    server.resume();
    again.expect("nothing to wait for");
}
