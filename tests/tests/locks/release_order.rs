//! A caller's own release is ordered before its next acquire, though the
//! caller never waits for it: back-to-back calls on a key never see their
//! own previous lock (a spurious busy). Async tasks share the multiplexed
//! connection (before the connection layer was rebuilt, its bounded pipeline
//! queue or a budget-limited first poll made the async test fail in about
//! half the runs). A thread's
//! next sync call goes on the connection its release went on, which orders
//! the two by construction: Redis runs one connection's requests in order.
//! `the_next_sync_call_goes_on_the_releases_connection` checks that
//! construction itself, in Redis's own client list.

use redis_debounce::{Busy, Debouncer, debounce};
use redis_debounce_tests::{Backend, RedisServer};

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

/// The last command of each client but `observer`, by client id.
fn last_commands(observer: &mut redis::Connection) -> Vec<(u64, String)> {
    let me: u64 = redis::cmd("CLIENT").arg("ID").query(observer).unwrap();
    let clients: String = redis::cmd("CLIENT").arg("LIST").query(observer).unwrap();
    let field = |client: &str, name: &str| {
        client
            .split(' ')
            .find_map(|field| field.strip_prefix(name)?.strip_prefix('='))
            .map(str::to_owned)
    };
    clients
        .lines()
        .filter_map(|client| {
            let id = field(client, "id")?.parse::<u64>().ok()?;
            Some((id, field(client, "cmd")?))
        })
        .filter(|(id, _)| *id != me)
        .collect()
}

#[debounce(key = "seen:{n}", ttl = 30, using = debouncer)]
fn seen_from_inside(
    debouncer: &Debouncer,
    n: u32,
    observer: &mut redis::Connection,
) -> Result<Vec<(u64, String)>, Busy> {
    Ok(last_commands(observer))
}

/// The release a sync call sent without waiting, and the thread's next
/// acquire, travel on one connection: inside both bodies, Redis knows one
/// client of the `Debouncer`, the same one (a release or an acquire on
/// another connection would show a second client). Connections stay open
/// while the `Debouncer` lives, so nothing here races.
#[test]
fn the_next_sync_call_goes_on_the_releases_connection() {
    let server = RedisServer::start();
    let debouncer = Debouncer::open(&server.url()).unwrap();
    let mut observer = server.connection();
    let first = seen_from_inside(&debouncer, 1, &mut observer).unwrap();
    let [(client, command)] = first.as_slice() else {
        panic!("one client expected: {first:?}");
    };
    assert_eq!(command, "set", "the acquire: {first:?}");
    for n in 2..10 {
        let inside = seen_from_inside(&debouncer, n, &mut observer).unwrap();
        assert_eq!(
            inside,
            [(*client, "set".to_owned())],
            "call {n}: its release and acquire went on the first call's connection"
        );
    }
}
