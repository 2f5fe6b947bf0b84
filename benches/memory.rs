//! The in-memory backend, single thread: one acquire + release pair through
//! the guard, and one call of a debounced sync and async fn.

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use redis_debounce::{Busy, Debouncer, debounce};

#[debounce(key = "bench:{id}", ttl = 30, using = debouncer)]
fn debounced_sync(debouncer: &Debouncer, id: u32) -> Result<u32, Busy> {
    Ok(id)
}

#[debounce(key = "bench:{id}", ttl = 30, using = debouncer)]
async fn debounced(debouncer: &Debouncer, id: u32) -> Result<u32, Busy> {
    Ok(id)
}

fn acquire_release(c: &mut Criterion) {
    let debouncer = Debouncer::memory();
    let ttl = Duration::from_secs(30);
    c.bench_function("memory/try_lock_blocking+drop", |b| {
        b.iter(|| {
            let guard = debouncer.try_lock_blocking("bench:key", ttl);
            drop(std::hint::black_box(guard));
        });
    });
    c.bench_function("memory/debounced sync fn", |b| {
        b.iter(|| debounced_sync(&debouncer, std::hint::black_box(7)));
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    c.bench_function("memory/debounced async fn", |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let _ = std::hint::black_box(debounced(&debouncer, 7).await);
                }
                start.elapsed()
            })
        });
    });
}

criterion_group!(benches, acquire_release);
criterion_main!(benches);
