//! Benchmarks: `cargo bench -p redis-debounce-benches`.
