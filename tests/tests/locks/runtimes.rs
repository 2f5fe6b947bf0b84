//! The connection belongs to the `Debouncer`, not to a runtime: calls from
//! several runtimes, from sync and async code, across a runtime's shutdown,
//! a dropped `Debouncer` and a Redis restart lose no release, and a call
//! never meets its own process's earlier, returned call's lock. A cancelled
//! acquire leaves no lock.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use redis_debounce::{Busy, Debouncer, debounce};
use redis_debounce_tests::{RedisServer, poll_once};

const LONG: Duration = Duration::from_secs(3600);

#[debounce(key = "job:{id}", ttl = 3600, using = debouncer)]
async fn job(debouncer: &Debouncer, id: usize) -> Result<(), Busy> {
    Ok(())
}

#[debounce(key = "job:{id}", ttl = 3600, using = debouncer)]
fn job_sync(debouncer: &Debouncer, id: usize) -> Result<(), Busy> {
    Ok(())
}

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Four threads, each with its own runtime (as actix-web's workers), one
/// `Debouncer`: each call's release runs before the same thread's next
/// call, whichever runtime touched the connection first.
#[test]
fn calls_from_several_runtimes_meet_no_lock_of_their_own() {
    let server = RedisServer::start();
    let debouncer = Debouncer::open(&server.url()).unwrap();
    let turned_away = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for worker in 0..4 {
            let (debouncer, turned_away) = (&debouncer, &turned_away);
            scope.spawn(move || {
                current_thread().block_on(async {
                    for round in 0..150 {
                        let id = worker * 1000 + round;
                        for _ in 0..2 {
                            if job(debouncer, id).await.is_err() {
                                turned_away.fetch_add(1, Ordering::SeqCst);
                            }
                        }
                    }
                });
            });
        }
    });
    assert_eq!(turned_away.load(Ordering::SeqCst), 0);
    current_thread().block_on(debouncer.flush()).unwrap();
    assert!(server.keys().is_empty(), "left: {:?}", server.keys());
}

/// Sync and async calls on one key, alternating, from one thread: each
/// finds the other's release done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_and_async_calls_are_ordered_on_one_connection() {
    let server = RedisServer::start();
    let debouncer = Debouncer::open(&server.url()).unwrap();
    for _ in 0..300 {
        job_sync(&debouncer, 1).expect("the async call's release ran first");
        job(&debouncer, 1)
            .await
            .expect("the sync call's release ran first");
    }
    debouncer.flush().await.unwrap();
    assert!(server.keys().is_empty(), "left: {:?}", server.keys());
}

/// A runtime shut down while its task holds a guard: the guard drops with
/// the task, and its release still goes out (the connection lives on the
/// `Debouncer`'s own thread).
#[test]
fn a_runtime_shut_down_mid_body_still_releases() {
    let server = RedisServer::start();
    let debouncer = Debouncer::open(&server.url()).unwrap();
    let runtime = current_thread();
    let (entered, body_entered) = tokio::sync::oneshot::channel();
    let holder = debouncer.clone();
    runtime.spawn(async move {
        let _guard = holder.try_lock("report", LONG).await.expect("free");
        let _ = entered.send(());
        std::future::pending::<()>().await;
    });
    runtime.block_on(body_entered).expect("the body ran");
    assert_eq!(server.keys(), ["debounce:{report}"]);
    drop(runtime);
    debouncer.flush_blocking().expect("flushed");
    assert!(server.keys().is_empty(), "left: {:?}", server.keys());
}

/// Every handle dropped right after its call: the releases still reach
/// Redis (the connection's thread ends only after they are answered).
#[test]
fn dropping_the_debouncer_right_after_a_call_loses_no_release() {
    let server = RedisServer::start();
    let runtime = current_thread();
    for id in 0..50 {
        let debouncer = Debouncer::open(&server.url()).unwrap();
        runtime.block_on(job(&debouncer, id)).expect("free");
        drop(debouncer);
    }
    // No handle is left to flush through: Redis is watched instead, with a
    // deadline far inside the hour-long leases.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !server.keys().is_empty() {
        assert!(Instant::now() < deadline, "left: {:?}", server.keys());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// An acquire dropped after its request went out (a client disconnect, a
/// `timeout`, a `select!`): whatever it took is released.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_acquires_leave_no_lock() {
    let server = RedisServer::start();
    let debouncer = Debouncer::open(&server.url()).unwrap();
    let mut cancelled = 0;
    for id in 0..1000 {
        let mut call = Box::pin(job(&debouncer, id));
        if poll_once(&mut call).await.is_pending() {
            cancelled += 1;
        }
        // Half of them once the answer may be in, not yet read.
        if id % 2 == 0 {
            tokio::task::yield_now().await;
        }
        drop(call);
    }
    assert!(cancelled > 900, "only {cancelled} were cut mid-acquire");
    debouncer.flush().await.unwrap();
    assert!(server.keys().is_empty(), "left: {:?}", server.keys());
}

/// Polls `call` once; if it is still waiting for its acquire's answer,
/// waits until that answer has arrived (a `flush` behind it returns), then
/// drops it unread. Returns whether it was cut so.
async fn cut_after_its_answer<F: Future + Unpin>(
    server: &RedisServer,
    debouncer: &Debouncer,
    mut call: F,
) -> bool {
    // On a loaded machine the first poll may already read the answer
    // (the connection's thread answers while this one is descheduled):
    // the call then finishes, or waits on its release, and the lock is
    // gone after the flush. Only a lock still in Redis after the flush
    // proves an answer that arrived and was not read.
    if poll_once(&mut call).await.is_ready() {
        return false;
    }
    debouncer.flush().await.unwrap();
    let unread = server.lock_keys().len() == 1;
    drop(call);
    unread
}

/// An acquire dropped after its answer arrived but before it was read
/// (the answer waits in its channel): the lock it took is released, for
/// a plain `SET` and for a scripted acquire (here with a fencing token).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acquire_whose_answer_arrived_unread_is_undone() {
    const CALLS: usize = 40;
    let server = RedisServer::start();
    let debouncer = Debouncer::open(&server.url()).unwrap();
    let mut cut = 0;
    for id in 0..CALLS {
        let key = format!("f{id}");
        let was_cut = if id % 2 == 0 {
            cut_after_its_answer(&server, &debouncer, Box::pin(job(&debouncer, id))).await
        } else {
            let request = debouncer.lock(&key, LONG).fence();
            cut_after_its_answer(&server, &debouncer, Box::pin(request.acquire())).await
        };
        cut += usize::from(was_cut);
        debouncer.flush().await.unwrap();
        assert!(
            server.lock_keys().is_empty(),
            "call {id} left: {:?}",
            server.lock_keys()
        );
    }
    assert!(cut >= CALLS / 2, "only {cut} of {CALLS} calls were cut");
}

/// An acquire dropped after its answer said "held": nothing is sent after
/// it (no lock of its own to undo; an undo would be a wasted round trip).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_acquire_that_found_the_key_held_sends_nothing() {
    let server = RedisServer::start();
    let debouncer = Debouncer::open(&server.url()).unwrap();
    let _holder = debouncer.try_lock("job:0", LONG).await.unwrap();
    let commands = || server.info_stat("total_commands_processed");
    // What a flush and a count cost with nothing else sent.
    let before = commands();
    debouncer.flush().await.unwrap();
    let idle = commands() - before;
    let mut cut = 0;
    for _ in 0..10 {
        let mut call = Box::pin(job(&debouncer, 0));
        if poll_once(&mut call).await.is_ready() {
            continue;
        }
        debouncer.flush().await.unwrap();
        let before = commands();
        drop(call);
        debouncer.flush().await.unwrap();
        assert_eq!(
            commands() - before,
            idle,
            "something was sent for a lock never taken"
        );
        cut += 1;
    }
    assert!(cut >= 5, "only {cut} of 10 calls were cut");
}

/// Calls dropped while their body runs: every lock is released.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_cancelled_mid_body_leave_no_lock() {
    #[debounce(key = "body:{id}", ttl = 3600, using = debouncer)]
    async fn body(debouncer: &Debouncer, id: usize, entered: &AtomicUsize) -> Result<(), Busy> {
        entered.fetch_add(1, Ordering::SeqCst);
        std::future::pending::<()>().await;
        Ok(())
    }
    let server = RedisServer::start();
    let debouncer = Debouncer::open(&server.url()).unwrap();
    let entered = AtomicUsize::new(0);
    for id in 0..1000 {
        let mut call = Box::pin(body(&debouncer, id, &entered));
        while entered.load(Ordering::SeqCst) == id {
            assert!(poll_once(&mut call).await.is_pending());
            tokio::task::yield_now().await;
        }
        drop(call);
    }
    debouncer.flush().await.unwrap();
    assert!(server.keys().is_empty(), "left: {:?}", server.keys());
}

/// After a Redis restart, the first calls go out on a new connection: none
/// fails, none runs unlocked.
#[test]
fn after_a_restart_no_call_fails() {
    #[debounce(key = "thumb:{id}", ttl = 3600, using = debouncer, on_error = "allow")]
    fn thumb(debouncer: &Debouncer, id: usize, locked: &AtomicUsize) -> Result<(), Busy> {
        if redis_debounce::lease().is_some() {
            locked.fetch_add(1, Ordering::SeqCst);
        }
        Ok(())
    }
    let mut server = RedisServer::start();
    let debouncer = Debouncer::open(&server.url()).unwrap();
    let locked = AtomicUsize::new(0);
    for id in 0..20 {
        thumb(&debouncer, id, &locked).expect("free");
    }
    server.restart();
    let runtime = current_thread();
    for id in 0..20 {
        thumb(&debouncer, id, &locked).expect("free");
        runtime.block_on(job(&debouncer, id)).expect("free");
    }
    assert_eq!(locked.load(Ordering::SeqCst), 40, "some ran unlocked");
}
