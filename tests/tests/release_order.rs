//! A caller's own release is ordered before its next acquire, though the
//! caller never waits for it: back-to-back calls on a key never see their
//! own previous lock (a spurious busy). Async tasks share the multiplexed
//! connection (without the fix, a bounded pipeline queue or a budget-limited
//! first poll, the async test fails in about half the runs). A thread's
//! next sync call goes on the connection its release went on, which orders
//! the two by construction; the sync test guards that the release is sent
//! at all (on loopback, releases sent on other connections also happened to
//! arrive first in every trial, so it cannot tell the two apart).

use redis_debounce::{Busy, Debouncer, debounce};
use redis_debounce_tests::Backend;

const TASKS: usize = 64;
const CALLS: usize = 800;

/// Threads calling the sync fn at once.
const THREADS: usize = 8;

#[debounce(key = "order:{task}", ttl = 30, using = debouncer)]
async fn call(debouncer: &Debouncer, task: usize) -> Result<(), Busy> {
    Ok(())
}

#[debounce(key = "order-sync:{thread}", ttl = 30, using = debouncer)]
fn call_sync(debouncer: &Debouncer, thread: usize) -> Result<(), Busy> {
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn back_to_back_calls_never_meet_their_own_lock() {
    let backend = Backend::redis();
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let debouncer = backend.debouncer.clone();
            tokio::spawn(async move {
                for _ in 0..CALLS {
                    call(&debouncer, task).await?;
                }
                Ok::<(), Busy>(())
            })
        })
        .collect();
    for task in tasks {
        task.await
            .unwrap()
            .expect("the previous release was ordered first");
    }
}

#[test]
fn back_to_back_sync_calls_never_meet_their_own_lock() {
    let backend = Backend::redis();
    std::thread::scope(|scope| {
        let threads: Vec<_> = (0..THREADS)
            .map(|thread| {
                let debouncer = &backend.debouncer;
                scope.spawn(move || {
                    for _ in 0..CALLS {
                        call_sync(debouncer, thread)?;
                    }
                    Ok::<(), Busy>(())
                })
            })
            .collect();
        for thread in threads {
            thread
                .join()
                .unwrap()
                .expect("the previous release was ordered first");
        }
    });
}
