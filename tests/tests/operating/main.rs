//! Operating it: the spans and events of each call, `Debouncer::stats`,
//! the admin API on every backend, and the `redis-debounce` command line
//! run against a spawned Redis with locks held by a running app. (The
//! metrics are read in `tests/metrics.rs`, a binary of their own.)

mod admin;
#[cfg(feature = "cli")]
mod cli;
mod spans;
