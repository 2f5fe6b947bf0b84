//! A caller's own release is ordered before its next acquire, even when
//! many tasks share the multiplexed connection: back-to-back calls on a key
//! never see their own previous lock (a spurious busy). Without the fix
//! (a bounded pipeline queue, or a budget-limited first poll) this fails
//! in about half the runs.

use redis_debounce::{Busy, Debouncer, debounce};
use redis_debounce_tests::Backend;

const TASKS: usize = 64;
const CALLS: usize = 800;

#[debounce(key = "order:{task}", ttl = 30, using = debouncer)]
async fn call(debouncer: &Debouncer, task: usize) -> Result<(), Busy> {
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
