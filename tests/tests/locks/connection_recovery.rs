//! Recovery at the edges, from a fourth hostile review: a freeze shorter
//! than a wait does not end it, and a confirmed release after a failover
//! ended is not told the stale READONLY (it runs, then returns).

use std::time::{Duration, Instant};

use redis_debounce::{Busy, Debouncer, LockGuard, debounce};
use redis_debounce_tests::RedisServer;

const LONG: Duration = Duration::from_secs(3600);

fn with_timeout(url: &str, timeout: Duration) -> Debouncer {
    Debouncer::builder()
        .connect_timeout(timeout)
        .response_timeout(timeout)
        .open(url)
        .unwrap()
}

fn demote(server: &RedisServer) {
    let port = redis_debounce_tests::free_port();
    let _: () = redis::cmd("REPLICAOF")
        .arg("127.0.0.1")
        .arg(port)
        .query(&mut server.connection())
        .unwrap();
}

fn promote(server: &RedisServer) {
    let _: () = redis::cmd("REPLICAOF")
        .arg("NO")
        .arg("ONE")
        .query(&mut server.connection())
        .unwrap();
}

async fn hammer(debouncer: &Debouncer, for_how_long: Duration) -> usize {
    let started = Instant::now();
    let mut refused = 0;
    while started.elapsed() < for_how_long {
        if debouncer.try_lock("hammer", LONG).await.is_err() {
            refused += 1;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    refused
}

async fn guards(debouncer: &Debouncer, n: usize) -> Vec<LockGuard> {
    let mut guards = Vec::new();
    for i in 0..n {
        guards.push(debouncer.try_lock(&format!("held{i}"), LONG).await.unwrap());
    }
    guards
}

#[debounce(key = "r4:{id}", ttl = 3600, wait = "1500ms", using = debouncer)]
async fn waits_1500ms(debouncer: &Debouncer, id: usize) -> Result<(), Busy> {
    Ok(())
}

/// debouncer.rs: "A stall (a freeze of Redis, a slow network) shorter than
/// the wait does not end it." wait = 1500ms, response timeout 1 s, Redis
/// frozen for 1200 ms only: the first try times out at 1 s, 500 ms are
/// left (less than a response timeout), so `Step::Again` gives up with
/// `unavailable` at 1.0 s, 200 ms before Redis answers again (deadline 1.5 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_freeze_shorter_than_the_wait_does_not_end_it() {
    let server = RedisServer::start();
    let debouncer = with_timeout(&server.url(), Duration::from_secs(1));
    waits_1500ms(&debouncer, 0).await.unwrap();
    debouncer.flush().await.unwrap();
    server.pause();
    let pid = server.pid().unwrap();
    let thaw = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1200));
        let _ = std::process::Command::new("kill")
            .args(["-CONT", &pid.to_string()])
            .status();
    });
    let started = Instant::now();
    let waited = waits_1500ms(&debouncer, 1).await;
    let took = started.elapsed();
    eprintln!("REVIEW4 freeze: {took:?} {waited:?}");
    thaw.join().unwrap();
    server.resume();
    assert!(
        waited.is_ok(),
        "Redis frozen 1200 ms inside a 1500 ms wait: failed after {took:?}: {waited:?}"
    );
}

/// debounce.md (`confirm`): "When the call returns, Redis has run its
/// release". After a failover has ended (promoted, callers served again
/// 200 ms later), a confirmed release made during the rest of the
/// refusal's 1 s pause is told the stale READONLY at once (`last_error`)
/// and returns with its key still in Redis, though an acquire made at the
/// same moment connects and is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confirmed_release_after_a_promotion_is_not_told_a_stale_readonly() {
    let server = RedisServer::start();
    let debouncer = with_timeout(&server.url(), Duration::from_millis(300));
    let mut held = guards(&debouncer, 1).await;
    demote(&server);
    hammer(&debouncer, Duration::from_millis(2500)).await;
    promote(&server);
    // Past CALLERS_PAUSE: a caller would be served now.
    tokio::time::sleep(Duration::from_millis(250)).await;
    let guard = held.pop().unwrap();
    let started = Instant::now();
    let answer = guard.release().await;
    let took = started.elapsed();
    let left: Vec<String> = server
        .keys()
        .into_iter()
        .filter(|key| key.contains("held0"))
        .collect();
    let probed = debouncer.try_lock("probe", LONG).await.map(drop);
    assert!(
        answer.is_ok() && left.is_empty(),
        "Redis a master again for 250 ms (an acquire now: {probed:?}): the confirmed \
         release returned after {took:?} with {answer:?}, {left:?} still in Redis"
    );
}
