//! The in-memory backend: one acquire + release pair, single thread.

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use redis_debounce::Debouncer;

fn acquire_release(c: &mut Criterion) {
    let debouncer = Debouncer::memory();
    let ttl = Duration::from_secs(30);
    c.bench_function("memory/try_lock_blocking+drop", |b| {
        b.iter(|| {
            let guard = debouncer.try_lock_blocking("bench:key", ttl);
            drop(std::hint::black_box(guard));
        });
    });
}

criterion_group!(benches, acquire_release);
criterion_main!(benches);
