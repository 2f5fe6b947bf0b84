//! A debounced async call against a loopback `redis-server` the bench starts
//! itself, next to hand-written redis-rs doing the same protocol (`SET NX PX`
//! with a token, then an EVALSHA compare-and-delete), on one multiplexed
//! connection, one call at a time.

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use redis::aio::ConnectionManager;
use redis_debounce::{Busy, Debouncer, debounce};
use redis_debounce_tests::RedisServer;

#[debounce(key = "bench:{id}", ttl = 30, using = debouncer)]
async fn debounced(debouncer: &Debouncer, id: u32) -> Result<u32, Busy> {
    Ok(id)
}

const RELEASE: &str =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";

async fn hand_written(manager: &mut ConnectionManager, release: &redis::Script, n: u64) {
    let token = n.to_le_bytes();
    let acquired: Option<String> = redis::cmd("SET")
        .arg("hand:{bench:1}")
        .arg(&token[..])
        .arg("NX")
        .arg("PX")
        .arg(30_000)
        .query_async(manager)
        .await
        .expect("SET");
    assert!(acquired.is_some());
    let released: bool = release
        .key("hand:{bench:1}")
        .arg(&token[..])
        .invoke_async(manager)
        .await
        .expect("release");
    assert!(released);
}

fn redis_calls(c: &mut Criterion) {
    let server = RedisServer::start();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let debouncer = Debouncer::open(&server.url()).expect("url");
    let client = redis::Client::open(server.url()).expect("url");
    let mut manager = runtime
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
    group.bench_function("hand-written SET NX PX + EVALSHA", |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let start = Instant::now();
                for n in 0..iters {
                    hand_written(&mut manager, &release, n).await;
                }
                start.elapsed()
            })
        });
    });
    group.finish();
}

criterion_group!(benches, redis_calls);
criterion_main!(benches);
