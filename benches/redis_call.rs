//! Debounced async and sync calls against a loopback `redis-server` the
//! bench starts itself, next to hand-written redis-rs doing the same
//! protocol (`SET NX PX` with a token, then an EVALSHA compare-and-delete)
//! on one multiplexed connection: one call at a time, and 64 tasks at once
//! (throughput in pairs per second).
//!
//! ```text
//! cargo bench -p redis-debounce-benches --bench redis_call
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use redis::aio::ConnectionManager;
use redis_debounce::{Busy, Debouncer, debounce};
use redis_debounce_tests::RedisServer;

#[debounce(key = "bench:{id}", ttl = 30, using = debouncer)]
async fn debounced(debouncer: &Debouncer, id: u32) -> Result<u32, Busy> {
    Ok(id)
}

#[debounce(key = "bench-sync:{id}", ttl = 30, using = debouncer)]
fn debounced_sync(debouncer: &Debouncer, id: u32) -> Result<u32, Busy> {
    Ok(id)
}

/// Tasks at once in the throughput group.
const TASKS: u32 = 64;

const RELEASE: &str =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";

async fn hand_written(manager: &mut ConnectionManager, release: &redis::Script, key: &str, n: u64) {
    let token = n.to_le_bytes();
    let acquired: Option<String> = redis::cmd("SET")
        .arg(key)
        .arg(&token[..])
        .arg("NX")
        .arg("PX")
        .arg(30_000)
        .query_async(manager)
        .await
        .expect("SET");
    assert!(acquired.is_some());
    let released: bool = release
        .key(key)
        .arg(&token[..])
        .invoke_async(manager)
        .await
        .expect("release");
    assert!(released);
}

fn redis_calls(c: &mut Criterion) {
    let server = RedisServer::start_tcp();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let debouncer = Debouncer::open(&server.url()).expect("url");
    let client = redis::Client::open(server.url()).expect("url");
    let manager = runtime
        .block_on(ConnectionManager::new(client))
        .expect("connect");
    let release = redis::Script::new(RELEASE);

    let mut group = c.benchmark_group("redis/sequential");
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("debounced async fn", |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    debounced(&debouncer, 1).await.expect("free");
                }
                start.elapsed()
            })
        });
    });
    group.bench_function("debounced sync fn", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                debounced_sync(&debouncer, 1).expect("free");
            }
            start.elapsed()
        });
    });
    group.bench_function("hand-written SET NX PX + EVALSHA", |b| {
        b.iter_custom(|iters| {
            let mut manager = manager.clone();
            runtime.block_on(async {
                let start = Instant::now();
                for n in 0..iters {
                    hand_written(&mut manager, &release, "hand:{bench:1}", n).await;
                }
                start.elapsed()
            })
        });
    });
    group.finish();

    // One iteration: each of the 64 tasks takes and releases its own key
    // once; criterion reports pairs per second.
    let mut group = c.benchmark_group("redis/64 tasks");
    group.measurement_time(Duration::from_secs(8));
    group.throughput(Throughput::Elements(u64::from(TASKS)));
    group.bench_function("debounced async fn", |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let start = Instant::now();
                let tasks: Vec<_> = (0..TASKS)
                    .map(|task| {
                        let debouncer = debouncer.clone();
                        tokio::spawn(async move {
                            for _ in 0..iters {
                                debounced(&debouncer, task).await.expect("free");
                            }
                        })
                    })
                    .collect();
                for task in tasks {
                    task.await.expect("task");
                }
                // Every release has run: part of the work measured.
                debouncer.flush().await.expect("flush");
                start.elapsed()
            })
        });
    });
    let release = Arc::new(release);
    group.bench_function("hand-written SET NX PX + EVALSHA", |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let start = Instant::now();
                let tasks: Vec<_> = (0..TASKS)
                    .map(|task| {
                        let (mut manager, release) = (manager.clone(), Arc::clone(&release));
                        let key = format!("hand:{{bench:{task}}}");
                        tokio::spawn(async move {
                            for n in 0..iters {
                                hand_written(&mut manager, &release, &key, n).await;
                            }
                        })
                    })
                    .collect();
                for task in tasks {
                    task.await.expect("task");
                }
                start.elapsed()
            })
        });
    });
    group.finish();
}

criterion_group!(benches, redis_calls);
criterion_main!(benches);
