//! Redis forgets its scripts (`SCRIPT FLUSH`, or a restart that keeps the
//! data): releases and cooldowns, which nobody waits for, still free or cool
//! the key, and the scripts sent by hash are loaded again.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use redis_debounce::{Busy, Debouncer, debounce};
use redis_debounce_tests::RedisServer;

const LONG: Duration = Duration::from_secs(30);

#[debounce(key = "job:{id}", ttl = 30, using = debouncer)]
async fn job(debouncer: &Debouncer, id: u32, runs: &AtomicUsize) -> Result<(), Busy> {
    runs.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

#[debounce(key = "sms:{id}", ttl = 30, cooldown = "1h", using = debouncer)]
async fn sms(debouncer: &Debouncer, id: u32) -> Result<(), Busy> {
    Ok(())
}

fn flush_scripts(server: &RedisServer) {
    redis::cmd("SCRIPT")
        .arg("FLUSH")
        .exec(&mut server.connection())
        .expect("SCRIPT FLUSH");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn releases_and_cooldowns_need_no_cached_script() {
    let server = RedisServer::start();
    let debouncer = Debouncer::open(&server.url()).expect("url");
    let runs = AtomicUsize::new(0);
    for _ in 0..20 {
        job(&debouncer, 1, &runs)
            .await
            .expect("released by the call before");
        flush_scripts(&server);
    }
    assert_eq!(runs.load(Ordering::SeqCst), 20);

    sms(&debouncer, 1).await.expect("free");
    flush_scripts(&server);
    let busy = sms(&debouncer, 1).await.expect_err("in its cooldown");
    assert!(busy.is_cooling_down(), "{busy:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripts_sent_by_hash_are_loaded_again() {
    let server = RedisServer::start();
    let debouncer = Debouncer::open(&server.url()).expect("url");
    let holder = debouncer.try_lock("report", LONG).await.expect("free");
    flush_scripts(&server);
    // A taken key is answered by the acquire script, sent by hash.
    let busy = debouncer.try_lock("report", LONG).await.expect_err("held");
    assert!(busy.is_held(), "{busy:?}");
    flush_scripts(&server);
    // A waiter, and the fencing token, go through the same script.
    let waiter = debouncer.lock("report", LONG).wait(LONG).fence();
    let (next, released) = tokio::join!(waiter.acquire(), holder.release());
    assert!(released.expect("released"), "still the holder's");
    // A first token: the server's clock in microseconds (see `fence`).
    assert!(next.expect("woken").lease().fence() > Some(1_000_000_000_000_000));
}
