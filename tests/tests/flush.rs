//! `Debouncer::flush`: once it returns, every release sent from async code
//! has been run by Redis, so a process may exit without leaving its locks
//! to their leases.

use std::time::Duration;

use redis_debounce::{Busy, Debouncer, debounce};
use redis_debounce_tests::RedisServer;

#[debounce(key = "export:{id}", ttl = 300, using = debouncer)]
async fn export(debouncer: &Debouncer, id: u32) -> Result<u32, Busy> {
    Ok(id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_lock_is_left_after_flush() {
    let server = RedisServer::start();
    let debouncer = Debouncer::open(&server.url()).expect("url");
    let mut redis = server.connection();
    for id in 0..500 {
        export(&debouncer, id).await.expect("free");
    }
    debouncer.flush().await.expect("flushed");
    // Another connection sees what Redis has run: no lock is left.
    let left: Vec<String> = redis::cmd("KEYS")
        .arg("debounce:*")
        .query(&mut redis)
        .expect("KEYS");
    assert!(left.is_empty(), "still held: {left:?}");
}

#[tokio::test]
async fn flush_with_nothing_sent_returns_at_once() {
    let server = RedisServer::start();
    let debouncer = Debouncer::open(&server.url()).expect("url");
    tokio::time::timeout(Duration::from_secs(30), debouncer.flush())
        .await
        .expect("no connection to wait for")
        .expect("nothing to flush");
    Debouncer::memory()
        .flush()
        .await
        .expect("in-process: nothing to flush");
}

#[debounce(key = "export-sync:{id}", ttl = 300, using = debouncer)]
fn export_sync(debouncer: &Debouncer, id: u32) -> Result<u32, Busy> {
    Ok(id)
}

#[test]
fn no_lock_is_left_after_flush_blocking() {
    let server = RedisServer::start();
    let debouncer = Debouncer::open(&server.url()).expect("url");
    let mut redis = server.connection();
    for id in 0..500 {
        export_sync(&debouncer, id).expect("free");
    }
    debouncer.flush_blocking().expect("flushed");
    let left: Vec<String> = redis::cmd("KEYS")
        .arg("debounce:*")
        .query(&mut redis)
        .expect("KEYS");
    assert!(left.is_empty(), "still held: {left:?}");
    // Nothing owed now: flushing again sends nothing, so a frozen server
    // does not hold it up.
    server.pause();
    debouncer.flush_blocking().expect("nothing to wait for");
    server.resume();
}
