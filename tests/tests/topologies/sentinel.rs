//! A master watched by sentinels: failovers are followed.

use std::time::{Duration, Instant};

use redis_debounce::Debouncer;
use redis_debounce_tests::topology::Sentinels;

const TTL: Duration = Duration::from_secs(30);

/// Whether `server` holds the lock key of `key`.
fn holds(server: &redis_debounce_tests::RedisServer, key: &str) -> bool {
    redis::cmd("EXISTS")
        .arg(format!("debounce:{{{key}}}"))
        .query::<bool>(&mut server.connection())
        .expect("EXISTS")
}

/// The master is killed (SIGKILL): once the sentinels promote the
/// replica (down-after 1 s, then the election), calls go to it within
/// 4 s (6 ms on a quiet machine), and its locks exclude as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_master_is_followed_to_the_one_promoted() {
    let mut set = tokio::task::spawn_blocking(Sentinels::start).await.unwrap();
    let debouncer = Debouncer::open(&set.url()).unwrap();
    drop(
        debouncer
            .try_lock("warm", TTL)
            .await
            .expect("the master answers"),
    );
    let old = set.master();
    let killed = Instant::now();
    set.servers[old].kill_holding_port();
    // Calls meanwhile are unavailable (a typed error), never "held".
    let meanwhile = debouncer.try_lock("during", TTL).await.unwrap_err();
    assert!(meanwhile.error().is_some(), "{meanwhile:?}");
    let set = tokio::task::spawn_blocking(move || {
        set.await_failover_from(old, Duration::from_secs(60));
        set
    })
    .await
    .unwrap();
    let failed_over = killed.elapsed();
    let guard = loop {
        match debouncer.try_lock("after", TTL).await {
            Ok(guard) => break guard,
            Err(busy) => {
                assert!(!busy.is_held(), "{busy}");
                assert!(
                    killed.elapsed() < failed_over + Duration::from_secs(10),
                    "{busy:?}"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    let recovered = killed.elapsed();
    println!("sentinel: failover seen after {failed_over:?}, calls recovered after {recovered:?}");
    // 6 ms after the failover on a quiet machine; the bound leaves room
    // for a loaded one (the reconnect's pause is up to 1 s).
    assert!(
        recovered <= failed_over + Duration::from_secs(4),
        "recovered {recovered:?} after the kill, the failover at {failed_over:?}"
    );
    assert!(holds(&set.servers[set.master()], "after"));
    let other = Debouncer::open(&set.url()).unwrap();
    assert!(other.try_lock("after", TTL).await.unwrap_err().is_held());
    assert!(guard.release().await.unwrap());
}

/// A failover whose old master keeps taking writes (the sentinels cannot
/// demote it: its `REPLICAOF` is renamed away, as in a split brain): the
/// connection to it is still sound, yet the `+switch-master` the sentinels
/// publish moves every later call to the new master.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_switch_is_followed_even_while_the_old_master_takes_writes() {
    let set = tokio::task::spawn_blocking(|| {
        Sentinels::start_with(&[
            "--rename-command",
            "SLAVEOF",
            "",
            "--rename-command",
            "REPLICAOF",
            "",
        ])
    })
    .await
    .unwrap();
    let debouncer = Debouncer::open(&set.url()).unwrap();
    let old = set.master();
    drop(debouncer.try_lock("before", TTL).await.unwrap());
    let set = tokio::task::spawn_blocking(move || {
        set.fail_over();
        set.await_failover_from(old, Duration::from_secs(60));
        set
    })
    .await
    .unwrap();
    let new = set.master();
    // The old master still takes writes.
    let _: () = redis::cmd("SET")
        .arg("probe")
        .arg(1)
        .query(&mut set.servers[old].connection())
        .expect("the old master still takes writes");
    let started = Instant::now();
    for attempt in 0.. {
        let key = format!("after:{attempt}");
        let guard = debouncer.try_lock(&key, TTL).await.unwrap();
        if holds(&set.servers[new], &key) {
            assert!(!holds(&set.servers[old], &key));
            assert!(guard.release().await.unwrap());
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "still writing to the old master"
        );
        drop(guard);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A sentinel that accepts connections and never answers, listed first,
/// stalls no lookup: every sentinel is asked at once, and the first good
/// answer wins.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_sentinel_stalls_no_lookup() {
    let set = tokio::task::spawn_blocking(Sentinels::start).await.unwrap();
    let hung = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut sentinels = vec![format!("redis://{}/", hung.local_addr().unwrap())];
    sentinels.extend(set.sentinel_urls());
    let debouncer = Debouncer::builder()
        .connect_timeout(Duration::from_secs(1))
        .sentinel(Sentinels::SERVICE, &sentinels)
        .unwrap();
    for n in 0..6 {
        let guard = debouncer
            .try_lock(&format!("through:{n}"), TTL)
            .await
            .expect("the master, through the sentinels that answer");
        assert!(guard.release().await.unwrap());
    }
}
