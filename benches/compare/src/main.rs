//! The Rust side of the comparison: the same workload (take a lock on a
//! key, release it) through redis-debounce, hand-written redis-rs and
//! rslock, one caller at a time and 64 tasks at once. Prints one JSON line
//! per run; `run` turns them into a table and a chart.
//!
//! `compare <redis url> <pairs>`

use std::time::{Duration, Instant};

use redis::aio::ConnectionManager;
use redis_debounce::{Busy, Debouncer, debounce};

const TTL: Duration = Duration::from_secs(30);
const TASKS: usize = 64;

#[debounce(key = "cmp:debounce:{id}", ttl = 30, using = debouncer)]
async fn debounced(debouncer: &Debouncer, id: usize) -> Result<usize, Busy> {
    Ok(id)
}

#[debounce(key = "cmp:debounce-sync:{id}", ttl = 30, using = debouncer)]
fn debounced_sync(debouncer: &Debouncer, id: usize) -> Result<usize, Busy> {
    Ok(id)
}

const RELEASE: &str =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";

/// `SET key token NX PX ttl`, then the compare-and-delete script: what a
/// careful hand-written lock does, waiting for both answers.
async fn hand_written(
    manager: &mut ConnectionManager,
    release: &redis::Script,
    key: &str,
    token: u64,
) {
    let token = token.to_le_bytes();
    let taken: Option<String> = redis::cmd("SET")
        .arg(key)
        .arg(&token[..])
        .arg("NX")
        .arg("PX")
        .arg(30_000)
        .query_async(manager)
        .await
        .expect("SET");
    assert!(taken.is_some(), "{key} was free");
    let released: bool = release
        .key(key)
        .arg(&token[..])
        .invoke_async(manager)
        .await
        .expect("release");
    assert!(released);
}

fn report(name: &str, mode: &str, mut latencies: Vec<Duration>, elapsed: Duration) {
    latencies.sort_unstable();
    let at = |p: usize| latencies[(latencies.len() * p / 100).min(latencies.len() - 1)];
    #[allow(clippy::cast_precision_loss)]
    let per_second = latencies.len() as f64 / elapsed.as_secs_f64();
    println!(
        r#"{{"name":"{name}","mode":"{mode}","calls_per_s":{per_second:.0},"p50_us":{:.1},"p99_us":{:.1}}}"#,
        at(50).as_secs_f64() * 1e6,
        at(99).as_secs_f64() * 1e6,
    );
}

/// Runs `pairs` sequential calls of `call` and reports them.
async fn sequential<F: AsyncFnMut(usize)>(name: &str, pairs: usize, mut call: F) {
    for i in 0..pairs / 10 {
        call(i).await; // warm up
    }
    let mut latencies = Vec::with_capacity(pairs);
    let started = Instant::now();
    for i in 0..pairs {
        let at = Instant::now();
        call(i).await;
        latencies.push(at.elapsed());
    }
    report(name, "1 caller", latencies, started.elapsed());
}

/// Runs 64 tasks of `pairs / 64` calls each, every task on its own key.
async fn concurrent<F, Fut>(name: &str, pairs: usize, call: F)
where
    F: Fn(usize, usize) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let per_task = pairs / TASKS;
    let started = Instant::now();
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let call = call.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(per_task);
                for i in 0..per_task {
                    let at = Instant::now();
                    call(task, i).await;
                    latencies.push(at.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(pairs);
    for task in tasks {
        latencies.extend(task.await.expect("task"));
    }
    report(name, "64 tasks", latencies, started.elapsed());
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let url = args.next().expect("usage: compare <redis url> <pairs>");
    let pairs: usize = args.next().map_or(5000, |n| n.parse().expect("a number"));

    let debouncer = Debouncer::open(&url).expect("url");
    let client = redis::Client::open(url.as_str()).expect("url");
    let manager = ConnectionManager::new(client).await.expect("connect");
    let release = redis::Script::new(RELEASE);
    let rslock = rslock::LockManager::new(vec![url.clone()]);

    sequential("redis-debounce (async fn)", pairs, async |i| {
        debounced(&debouncer, 0).await.map(|_| i).expect("free");
    })
    .await;
    let blocking = debouncer.clone();
    let sync_run = tokio::task::spawn_blocking(move || {
        let mut latencies = Vec::with_capacity(pairs);
        let started = Instant::now();
        for _ in 0..pairs {
            let at = Instant::now();
            debounced_sync(&blocking, 0).expect("free");
            latencies.push(at.elapsed());
        }
        (latencies, started.elapsed())
    });
    let (latencies, elapsed) = sync_run.await.expect("sync run");
    report("redis-debounce (sync fn)", "1 caller", latencies, elapsed);
    {
        let mut manager = manager.clone();
        sequential("redis-rs, hand-written", pairs, async |i| {
            hand_written(&mut manager, &release, "cmp:hand:0", i as u64).await;
        })
        .await;
    }
    sequential("rslock", pairs, async |_| {
        let lock = rslock.lock("cmp:rslock:0", TTL).await.expect("free");
        rslock.unlock(&lock).await;
    })
    .await;

    let d = debouncer.clone();
    concurrent("redis-debounce (async fn)", pairs, move |task, _| {
        let d = d.clone();
        async move {
            debounced(&d, task).await.expect("free");
        }
    })
    .await;
    let (m, r) = (manager.clone(), release.clone());
    concurrent("redis-rs, hand-written", pairs, move |task, i| {
        let (mut m, r) = (m.clone(), r.clone());
        async move {
            hand_written(&mut m, &r, &format!("cmp:hand:{task}"), i as u64).await;
        }
    })
    .await;
    let rslock = std::sync::Arc::new(rslock);
    concurrent("rslock", pairs, move |task, _| {
        let rslock = rslock.clone();
        async move {
            let resource = format!("cmp:rslock:{task}");
            let lock = rslock.lock(resource.as_bytes(), TTL).await.expect("free");
            rslock.unlock(&lock).await;
        }
    })
    .await;
}
