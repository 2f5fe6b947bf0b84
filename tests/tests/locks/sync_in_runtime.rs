//! A sync debounced fn called from inside a tokio runtime neither panics
//! (no `block_on` inside a runtime) nor leaves its lock behind.

use redis_debounce::{Busy, Debouncer, debounce};
use redis_debounce_tests::RedisServer;

#[debounce(key = "thumbnail:{id}", ttl = 30, using = debouncer)]
fn thumbnail(debouncer: &Debouncer, id: u32) -> Result<u32, Busy> {
    Ok(id * 2)
}

fn keys(server: &RedisServer) -> Vec<String> {
    redis::cmd("KEYS")
        .arg("*")
        .query(&mut server.connection())
        .expect("KEYS")
}

#[tokio::test(flavor = "current_thread")]
async fn on_a_current_thread_runtime() {
    let server = RedisServer::start();
    let debouncer = Debouncer::open(&server.url()).unwrap();
    assert_eq!(thumbnail(&debouncer, 2).unwrap(), 4);
    // The release was sent before the call returned; this thread's flush
    // reads its answer, without blocking on the runtime.
    debouncer.flush_blocking().unwrap();
    assert!(keys(&server).is_empty(), "released");
    // The async API then works on the same handle.
    drop(
        debouncer
            .try_lock("thumbnail:2", std::time::Duration::from_secs(5))
            .await
            .unwrap(),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_multi_thread_runtime() {
    let server = RedisServer::start();
    let debouncer = Debouncer::open(&server.url()).unwrap();
    let guard = debouncer
        .try_lock_blocking("thumbnail:3", std::time::Duration::from_secs(5))
        .unwrap();
    assert!(thumbnail(&debouncer, 3).unwrap_err().is_held());
    drop(guard);
    debouncer.flush_blocking().unwrap();
    assert!(
        keys(&server).is_empty(),
        "a blocking guard releases on the dropping thread"
    );
    assert_eq!(thumbnail(&debouncer, 3).unwrap(), 6);
}
