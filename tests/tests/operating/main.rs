//! Operating it: the spans and events of each call, `Debouncer::stats`,
//! the admin API on every backend, and the `redis-debounce` command line
//! run against a spawned Redis with locks held by a running app. (The
//! metrics are read in `tests/metrics.rs`, a binary of their own.)

mod admin;
#[cfg(feature = "cli")]
mod cli;
mod spans;

/// A caller waiting up to 50 s for `key`, on a task of its own.
fn spawn_waiter(
    debouncer: &redis_debounce::Debouncer,
    key: &'static str,
) -> tokio::task::JoinHandle<Result<redis_debounce::LockGuard, redis_debounce::Busy>> {
    let debouncer = debouncer.clone();
    tokio::spawn(async move {
        debouncer
            .lock(key, std::time::Duration::from_secs(60))
            .wait(std::time::Duration::from_secs(50))
            .acquire()
            .await
    })
}
