//! The connection layer under attack (runtime/src/backend/redis/conn.rs and
//! friends), from a hostile review: lost releases, orphaned locks, flush
//! semantics, stalled, refused and replaced connections, thread leaks,
//! timeouts the clock cannot hold. A proxy between the library and Redis
//! (Unix sockets, `redis_debounce_tests::proxy`) can stall a connection or
//! swallow its answers.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use redis_debounce::{Busy, Debouncer, debounce};
use redis_debounce_tests::{Proxy, RedisServer, poll_once};

const LONG: Duration = Duration::from_secs(3600);
const SHORT: Duration = Duration::from_millis(300);
/// Any bound far above the configured timeouts: a hang shows as a failure.
const BOUND: Duration = Duration::from_secs(20);

#[debounce(key = "job:{id}", ttl = 3600, using = debouncer)]
async fn job(debouncer: &Debouncer, id: usize) -> Result<(), Busy> {
    Ok(())
}

/// A `Debouncer` with both timeouts `SHORT`.
fn impatient(url: &str) -> Debouncer {
    redis_debounce_tests::impatient(url, SHORT)
}

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Threads of this process named like the connection driver's.
fn driver_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|task| {
            let comm = std::fs::read_to_string(task.ok()?.path().join("comm")).ok()?;
            (comm.trim() == "redis-debounce").then_some(())
        })
        .count()
}

/// The thread-counting tests run one at a time.
static COUNTING: Mutex<()> = Mutex::new(());

/// An acquire that stalled on its connection (a partition: the bytes are
/// neither delivered nor lost) times out: its caller is told, and it is not
/// sent again with the same token. Its undo goes out behind it on the
/// stalled connection and on the next one, so when the stalled connection
/// delivers it late, the lock it takes is released right after: no key is
/// left taken for its lease (before the fix: an hour, every later call
/// turned away as "held").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_acquire_on_a_stalled_connection_leaves_no_lock() {
    let server = RedisServer::start();
    let proxy = Proxy::in_front_of(&server);
    let debouncer = impatient(&proxy.url());
    // The dispatcher's connection is open (connection 0).
    job(&debouncer, 0).await.unwrap();
    debouncer.flush().await.unwrap();
    let stalled = proxy.stall_open_connections();
    assert_eq!(stalled, 1, "only the dispatcher's connection is open");

    // The acquire stalls and times out: the caller is told so.
    let busy = debouncer
        .try_lock("report", LONG)
        .await
        .expect_err("stalled");
    assert!(
        matches!(busy.error(), Some(redis_debounce::Error::Timeout { .. })),
        "{busy:?}"
    );
    debouncer.flush().await.unwrap();
    assert!(server.lock_keys().is_empty(), "{:?}", server.lock_keys());

    // The stalled connection delivers its bytes late.
    let answer = proxy.let_through(0);
    let left = server.lock_keys();
    let pttl: i64 = redis::cmd("PTTL")
        .arg("debounce:{report}")
        .query(&mut server.connection())
        .unwrap();
    let next = debouncer.try_lock("report", LONG).await;
    assert!(
        left.is_empty() && next.is_ok(),
        "late answer {:?}; left {left:?} with PTTL {pttl} ms; next call: {:?}",
        String::from_utf8_lossy(&answer),
        next.err()
    );
}

/// A `wait` whose try stalled asks again with a fresh token: when the
/// stalled connection delivers the old try late, with the undo written
/// behind it, neither touches the lock the new try took (with the same
/// token, the late try would find the key its own and its undo would
/// delete the live lock).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waits_late_first_try_leaves_its_second_tries_lock_alone() {
    let server = RedisServer::start();
    let proxy = Proxy::in_front_of(&server);
    let debouncer = impatient(&proxy.url());
    job(&debouncer, 0).await.unwrap();
    debouncer.flush().await.unwrap();
    assert_eq!(proxy.stall_open_connections(), 1);
    // The first try stalls and times out; the second, on a new
    // connection, takes the key.
    let guard = debouncer
        .lock("report", LONG)
        .wait(Duration::from_secs(10))
        .acquire()
        .await
        .expect("taken on the next connection");
    // The stalled connection delivers the first try and its undo, late.
    let _ = proxy.let_through(0);
    let other = Debouncer::open(&server.url()).unwrap();
    let busy = other.try_lock("report", LONG).await.unwrap_err();
    assert!(busy.is_held(), "the live lock is gone: {busy:?}");
    assert!(guard.release().await.unwrap());
}

/// A release that meets `READONLY` (a master demoted to replica, as in a
/// failover) replaces the connection and is sent again after a growing
/// pause, not at once (before the fix: 1,800–2,200 connections a second,
/// for the whole lease).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_release_reconnects_after_a_pause() {
    let server = RedisServer::start();
    let debouncer = impatient(&server.url());
    let guard = debouncer.try_lock("export", LONG).await.unwrap();
    server.demote();
    let before = server.info_stat("total_connections_received");
    drop(guard);
    // One second of the driver alone: a measurement window, not a sync.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let made = server.info_stat("total_connections_received") - before;
    let stats = server.info_stat("total_commands_processed");
    // Master again, so the release goes through and the loop ends.
    server.promote();
    assert!(
        made < 10,
        "{made} connections in 1 s for one release ({stats} commands processed so far)"
    );
}

/// The same `READONLY` release: `flush` reports it instead of waiting for
/// the whole lease (an hour here; before the fix, no connection attempt
/// failed, so nothing answered it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flush_reports_a_release_the_server_refuses() {
    let server = RedisServer::start();
    let debouncer = impatient(&server.url());
    let guard = debouncer.try_lock("export", LONG).await.unwrap();
    server.demote();
    drop(guard);
    let started = Instant::now();
    let flushed = tokio::time::timeout(Duration::from_secs(5), debouncer.flush()).await;
    let waited = started.elapsed();
    server.promote();
    tokio::time::timeout(BOUND, debouncer.flush())
        .await
        .unwrap()
        .unwrap();
    assert!(server.lock_keys().is_empty(), "once a master again");
    let flushed = flushed.unwrap_or_else(|_| panic!("flush still waiting after {waited:?}"));
    assert!(
        matches!(&flushed, Err(redis_debounce::Error::Backend { source, .. })
            if source.to_string().contains("read only")),
        "{flushed:?}"
    );
}

/// 100 years, as the longest timeout the builder takes.
const CENTURY: Duration = Duration::from_secs(36_525 * 24 * 3600);

/// A timeout of `Duration::MAX` ("never time out") is a configuration
/// error, as is anything over 100 years; 100 years works, and dropping a
/// guard does not panic (before the fix: `Instant + Duration` overflowed
/// inside `Drop`, an abort when it ran during a panic).
#[test]
fn timeouts_are_bounded_and_the_longest_one_works() {
    let server = RedisServer::start();
    for builder in [
        Debouncer::builder().response_timeout(Duration::MAX),
        Debouncer::builder().connect_timeout(Duration::MAX),
        Debouncer::builder().response_timeout(CENTURY + Duration::from_secs(1)),
    ] {
        let opened = builder.open(&server.url());
        assert!(
            matches!(opened, Err(redis_debounce::Error::Config { .. })),
            "{opened:?}"
        );
    }
    let debouncer = Debouncer::builder()
        .response_timeout(CENTURY)
        .connect_timeout(CENTURY)
        .open(&server.url())
        .expect("at most 100 years");
    let guard = debouncer
        .try_lock_blocking("mail", LONG)
        .expect("the acquire works");
    let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(guard)));
    assert!(dropped.is_ok(), "dropping the guard panicked");
}

/// With the longest timeouts, a waiter's budget (`timeout + connect +
/// response`) is still a time: it waits and is told "held" (before the fix,
/// `Duration::MAX` panicked the waiter task on the driver thread).
#[test]
fn the_longest_timeouts_still_let_a_waiter_give_up() {
    let server = RedisServer::start();
    let debouncer = Debouncer::builder()
        .connect_timeout(CENTURY)
        .response_timeout(CENTURY)
        .open(&server.url())
        .expect("at most 100 years");
    let holder = debouncer.try_lock_blocking("mail", LONG).unwrap();
    let waited = debouncer
        .lock("mail", LONG)
        .wait(Duration::from_millis(200))
        .acquire_blocking();
    drop(holder);
    let busy = waited.expect_err("held throughout");
    assert!(
        busy.is_held(),
        "a wait that fails instead of timing out: {busy}"
    );
}

/// An acquire whose answer is lost (it ran, the answer never came) is
/// undone on the next connection: cancelled or timed out, no lock is left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_answers_are_undone_on_the_next_connection() {
    let server = RedisServer::start();
    let proxy = Proxy::in_front_of(&server);
    let debouncer = impatient(&proxy.url());
    job(&debouncer, 0).await.unwrap();
    debouncer.flush().await.unwrap();
    proxy.swallow_answers_of_open_connections();
    // Cancelled after its request went out: its answer never comes.
    let mut cancelled = Box::pin(debouncer.try_lock("cancelled", LONG));
    assert!(poll_once(&mut cancelled).await.is_pending());
    // And one that waits: it times out, and is told so.
    let waited = debouncer.try_lock("waited", LONG).await;
    drop(cancelled);
    let busy = waited.expect_err("its answer never came");
    assert!(busy.error().is_some(), "not held: {busy:?}");
    debouncer.flush().await.unwrap();
    assert!(server.lock_keys().is_empty(), "{:?}", server.lock_keys());
}

/// Sets its flag when dropped.
struct Stop<'a>(&'a std::sync::atomic::AtomicBool);

impl Drop for Stop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Cancellation at every await point — `timeout(0)`, `select!`,
/// a drop after the first poll, on the plain and the script path, a
/// runtime dropped mid-acquire, a waiter dropped in its BLPOP — while
/// another thread takes and releases the same keys: no lock is left.
#[test]
fn cancelled_acquires_at_every_await_point_leave_no_lock() {
    let server = RedisServer::start();
    let debouncer = Debouncer::open(&server.url()).unwrap();
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        let (d, stop) = (&debouncer, &stop);
        // A rival that holds the keys now and then, so the plain SET fails
        // and the script acquire (second await) runs.
        scope.spawn(move || {
            let mut i = 0;
            while !stop.load(Ordering::SeqCst) {
                let key = format!("k{}", i % 8);
                if let Ok(guard) = d.try_lock_blocking(&key, LONG) {
                    std::thread::yield_now();
                    drop(guard);
                }
                i += 1;
            }
        });
        // Stops the rival even if a round panics (else the scope hangs).
        let stopper = Stop(stop);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        for round in 0..400 {
            let key = format!("k{}", round % 8);
            match round % 5 {
                0 => runtime.block_on(async {
                    let _ = tokio::time::timeout(Duration::ZERO, d.try_lock(&key, LONG)).await;
                }),
                1 => runtime.block_on(async {
                    tokio::select! {
                        biased;
                        _ = d.lock(&key, LONG).fence().acquire() => {}
                        () = std::future::ready(()) => {}
                    }
                }),
                2 => runtime.block_on(async {
                    // Cut at a varying point: before the request went out,
                    // while it is in flight, once its answer is in, unread.
                    let mut call = Box::pin(d.try_lock(&key, LONG));
                    for _ in 0..(round / 5) % 7 {
                        if poll_once(&mut call).await.is_ready() {
                            break;
                        }
                        tokio::task::yield_now().await;
                    }
                    drop(call);
                }),
                3 => runtime.block_on(async {
                    let mut call =
                        Box::pin(d.lock(&key, LONG).wait(Duration::from_secs(5)).acquire());
                    for _ in 0..3 {
                        if poll_once(&mut call).await.is_ready() {
                            break;
                        }
                        tokio::task::yield_now().await;
                    }
                    drop(call);
                }),
                _ => {
                    // A runtime dropped while its task is mid-acquire.
                    let rt = current_thread();
                    let owned = d.clone();
                    let task_key = key.clone();
                    rt.spawn(async move {
                        let _guard = owned.try_lock(&task_key, LONG).await;
                        std::future::pending::<()>().await;
                    });
                    rt.block_on(tokio::task::yield_now());
                    drop(rt);
                }
            }
        }
        drop(stopper);
    });
    debouncer.flush_blocking().unwrap();
    assert!(server.lock_keys().is_empty(), "{:?}", server.lock_keys());
}

/// 3000 calls in flight at once (the dispatcher writes at most 1024)
/// and a `SCRIPT FLUSH` among them: every call gets the lock, every release
/// runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_thousand_in_flight_across_a_script_flush() {
    let server = RedisServer::start();
    // Patient: on a loaded machine 3000 calls may take longer than the
    // default second to be answered, and the point here is that every one
    // is, not how fast.
    let debouncer = server.patient();
    let mut tasks = Vec::new();
    for id in 0..3000 {
        if id == 1500 {
            let _: () = redis::cmd("SCRIPT")
                .arg("FLUSH")
                .query(&mut server.connection())
                .unwrap();
        }
        let debouncer = debouncer.clone();
        tasks.push(tokio::spawn(async move {
            if id % 2 == 0 {
                job(&debouncer, id).await.is_ok()
            } else {
                let key = format!("f{id}");
                debouncer.lock(&key, LONG).fence().acquire().await.is_ok()
            }
        }));
    }
    let mut refused = 0;
    for task in tasks {
        if !task.await.unwrap() {
            refused += 1;
        }
    }
    debouncer.flush().await.unwrap();
    assert_eq!(refused, 0);
    assert!(
        server.lock_keys().is_empty(),
        "{} left",
        server.lock_keys().len()
    );
}

/// flush does not return while a release is held back by the
/// server (`CLIENT PAUSE WRITE`), and it is Ok with the key free after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flush_waits_for_a_release_held_by_the_server() {
    let server = RedisServer::start();
    let debouncer = Debouncer::builder()
        .response_timeout(Duration::from_secs(30))
        .open(&server.url())
        .unwrap();
    let guard = debouncer.try_lock("nightly", LONG).await.unwrap();
    server.pause_writes(Duration::from_secs(60));
    drop(guard);
    let mut flush = Box::pin(debouncer.flush());
    let early = tokio::time::timeout(Duration::from_millis(500), &mut flush).await;
    assert!(
        early.is_err(),
        "flush returned while the release was held: {early:?}"
    );
    server.unpause();
    tokio::time::timeout(BOUND, flush).await.unwrap().unwrap();
    assert!(server.lock_keys().is_empty(), "{:?}", server.lock_keys());
}

/// a release handed over while Redis is frozen (SIGSTOP): flush
/// fails within the timeouts (it does not hang), and once Redis thaws the
/// release goes out and a later flush is Ok with the key free.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_during_a_freeze_goes_out_after_it() {
    let server = RedisServer::start();
    let debouncer = impatient(&server.url());
    let guard = debouncer.try_lock("frozen", LONG).await.unwrap();
    server.pause();
    drop(guard);
    let started = Instant::now();
    let flushed = tokio::time::timeout(BOUND, debouncer.flush()).await;
    let took = started.elapsed();
    server.resume();
    assert!(
        flushed.as_ref().is_ok_and(Result::is_err),
        "{flushed:?} after {took:?}"
    );
    let deadline = Instant::now() + BOUND;
    while debouncer.flush().await.is_err() {
        assert!(Instant::now() < deadline, "never flushed");
    }
    assert!(server.lock_keys().is_empty(), "{:?}", server.lock_keys());
}

/// a release handed over just as the connection is killed from the
/// server side is sent again on the next connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_handed_over_as_the_connection_dies_is_sent_again() {
    let server = RedisServer::start();
    let debouncer = Debouncer::open(&server.url()).unwrap();
    for round in 0..50 {
        let key = format!("kill{round}");
        let guard = debouncer.try_lock(&key, LONG).await.unwrap();
        let _: redis::Value = redis::cmd("CLIENT")
            .arg("KILL")
            .arg("TYPE")
            .arg("normal")
            .arg("SKIPME")
            .arg("yes")
            .query(&mut server.connection())
            .unwrap();
        drop(guard);
    }
    debouncer.flush().await.unwrap();
    assert!(server.lock_keys().is_empty(), "{:?}", server.lock_keys());
}

/// 200 `Debouncer`s created, used and dropped: their threads end.
#[test]
fn two_hundred_debouncers_leave_no_thread() {
    let _serial = COUNTING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let server = RedisServer::start();
    let before = driver_threads();
    let mut peak = 0;
    // A key each: another `Debouncer` may meet a dropped guard's release
    // still on its way (the README's cross-instance window).
    for round in 0..200 {
        let debouncer = Debouncer::open(&server.url()).unwrap();
        drop(
            debouncer
                .try_lock_blocking(&format!("t{round}"), LONG)
                .unwrap(),
        );
        drop(debouncer);
        peak = peak.max(driver_threads());
    }
    // The releases of the last few may still be on their way: every
    // thread ends, and every key is freed, within the bound.
    let deadline = Instant::now() + BOUND;
    while driver_threads() > before + 4 || !server.lock_keys().is_empty() {
        assert!(
            Instant::now() < deadline,
            "{} driver threads (peak {peak}, {before} before), keys {:?}",
            driver_threads(),
            server.lock_keys()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The last handle dropped on the driver thread itself (the
/// renewal task's, aborted after the guard went): the release still runs
/// and the thread ends.
#[test]
fn the_last_handle_dropped_by_the_renewal_task() {
    let _serial = COUNTING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let server = RedisServer::start();
    let before = driver_threads();
    for round in 0..20 {
        let debouncer = Debouncer::open(&server.url()).unwrap();
        let guard = debouncer
            .lock(&format!("renewed{round}"), Duration::from_millis(300))
            .renew()
            .acquire_blocking()
            .unwrap();
        drop(debouncer);
        drop(guard);
    }
    let deadline = Instant::now() + BOUND;
    while !server.lock_keys().is_empty() || driver_threads() > before + 4 {
        assert!(
            Instant::now() < deadline,
            "left {:?}, {} driver threads ({before} before)",
            server.lock_keys(),
            driver_threads()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// several runtimes and sync threads on one `Debouncer`, with a
/// `SCRIPT FLUSH` and a killed connection mid-way: no call meets its own
/// earlier lock, none fails, nothing is left.
#[test]
fn runtimes_and_sync_threads_across_broken_connections() {
    #[debounce(key = "mix:{id}", ttl = 3600, using = debouncer)]
    fn mix_sync(debouncer: &Debouncer, id: usize) -> Result<(), Busy> {
        Ok(())
    }
    let server = RedisServer::start();
    // Patient: a reconnect on a loaded machine may take longer than the
    // default second; the point is that no call fails for the breaks.
    let debouncer = server.patient();
    let failed = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for worker in 0..4 {
            let (d, failed) = (&debouncer, &failed);
            scope.spawn(move || {
                for round in 0..200 {
                    let id = worker * 1000 + round;
                    let ok = if worker % 2 == 0 {
                        current_thread().block_on(async {
                            job(d, id).await.is_ok() && job(d, id).await.is_ok()
                        })
                    } else {
                        mix_sync(d, id).is_ok() && mix_sync(d, id).is_ok()
                    };
                    if !ok {
                        failed.fetch_add(1, Ordering::SeqCst);
                    }
                }
            });
        }
        let server = &server;
        scope.spawn(move || {
            for _ in 0..3 {
                std::thread::sleep(Duration::from_millis(30));
                let _: () = redis::cmd("SCRIPT")
                    .arg("FLUSH")
                    .query(&mut server.connection())
                    .unwrap();
                let _: redis::Value = redis::cmd("CLIENT")
                    .arg("KILL")
                    .arg("TYPE")
                    .arg("normal")
                    .arg("SKIPME")
                    .arg("yes")
                    .query(&mut server.connection())
                    .unwrap();
            }
        });
    });
    debouncer.flush_blocking().unwrap();
    assert_eq!(failed.load(Ordering::SeqCst), 0);
    assert!(server.lock_keys().is_empty(), "{:?}", server.lock_keys());
}

/// A release answered `BUSY` (another client's script ran past
/// `busy-reply-threshold`; it ends with `SCRIPT KILL`) is sent again once
/// Redis serves again (before the fix it was given up at once: the key
/// stayed taken for the whole lease).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_that_meets_busy_is_sent_again() {
    let server = RedisServer::start_with(&["--lua-time-limit", "50"]);
    let debouncer = impatient(&server.url());
    let guard = debouncer.try_lock("busy", LONG).await.unwrap();
    let mut spinner = server.connection();
    let spin = std::thread::spawn(move || {
        redis::cmd("EVAL")
            .arg("while true do end")
            .arg(0)
            .query::<redis::Value>(&mut spinner)
    });
    // Signal: the server answers BUSY.
    let mut probe = server.connection();
    let deadline = Instant::now() + BOUND;
    loop {
        let ping = redis::cmd("PING").query::<String>(&mut probe);
        if ping.as_ref().is_err_and(|e| e.code() == Some("BUSY")) {
            break;
        }
        assert!(Instant::now() < deadline, "never busy: {ping:?}");
    }
    drop(guard);
    let flushed = debouncer.flush().await;
    // The script is killed: Redis serves again.
    loop {
        let killed = redis::cmd("SCRIPT").arg("KILL").query::<()>(&mut probe);
        if killed.is_ok() || Instant::now() > deadline {
            break;
        }
    }
    let _ = spin.join();
    let after = debouncer.flush().await;
    let left = server.lock_keys();
    let next = debouncer.try_lock("busy", LONG).await;
    assert!(
        left.is_empty() && next.is_ok(),
        "first flush {flushed:?}, second {after:?}; left {left:?}; next call {:?}",
        next.err()
    );
}

/// A release that ran but whose answer was lost: `release()` reports the
/// timeout at once (a confirming call is held no longer than the response
/// timeout), the key is freed, and the release is sent again on the next
/// connection, where compare-and-delete makes the repeat harmless.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_whose_answer_was_lost_still_frees_the_key() {
    let server = RedisServer::start();
    let proxy = Proxy::in_front_of(&server);
    let debouncer = impatient(&proxy.url());
    let guard = debouncer.try_lock("receipt", LONG).await.unwrap();
    proxy.swallow_answers_of_open_connections();
    let released = guard.release().await;
    assert!(server.lock_keys().is_empty(), "{:?}", server.lock_keys());
    assert!(
        matches!(released, Err(redis_debounce::Error::Timeout { .. })),
        "{released:?}"
    );
}

/// 40 waiters on one key, beyond the 16 waiter connections: every
/// one gets the lock within its wait (the rest fall back to back-off).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forty_waiters_beyond_the_pool_all_get_the_lock() {
    let server = RedisServer::start();
    let debouncer = Debouncer::open(&server.url()).unwrap();
    let holder = debouncer.try_lock("queue", LONG).await.unwrap();
    let mut waiters = Vec::new();
    for _ in 0..40 {
        let debouncer = debouncer.clone();
        waiters.push(tokio::spawn(async move {
            let guard = debouncer
                .lock("queue", LONG)
                .wait(Duration::from_secs(60))
                .acquire()
                .await;
            guard.map(drop).is_ok()
        }));
    }
    server.await_blocked_in("blpop");
    let started = Instant::now();
    drop(holder);
    let mut got = 0;
    for waiter in waiters {
        if waiter.await.unwrap() {
            got += 1;
        }
    }
    let took = started.elapsed();
    assert_eq!(got, 40, "in {took:?}");
    debouncer.flush().await.unwrap();
    assert!(server.lock_keys().is_empty(), "{:?}", server.lock_keys());
}

/// an acquire refused with READONLY fails once, after one retry; its
/// undo (a release) finds no key of its token, so it writes nothing, is
/// not refused, and starts no reconnect loop (only a release of a key that
/// is still held does: see above).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_acquire_on_a_replica_starts_no_loop() {
    let server = RedisServer::start();
    let debouncer = impatient(&server.url());
    job(&debouncer, 0).await.unwrap();
    server.demote();
    let refused = job(&debouncer, 1).await;
    let before = server.info_stat("total_connections_received");
    // One second of the driver alone: a measurement window, not a sync.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let made = server.info_stat("total_connections_received") - before;
    server.promote();
    assert!(refused.is_err(), "a replica took the lock");
    assert!(
        made < 10,
        "{made} connections in 1 s after one refused call"
    );
}

/// `release()` of a guard held past its lease (plus the timeouts) is not
/// sent, and reads `Ok(false)`, the lease had run out (before the fix: "the
/// connection thread stopped", with Redis up and the connection fine).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn releasing_an_expired_guard_reads_false() {
    let server = RedisServer::start();
    let debouncer = impatient(&server.url());
    let guard = debouncer
        .try_lock("late", Duration::from_millis(100))
        .await
        .unwrap();
    // The scenario itself: a holder that overruns its lease (100 ms) by
    // more than connect + response timeouts (600 ms).
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert!(server.lock_keys().is_empty(), "expired");
    let released = guard.release().await;
    job(&debouncer, 1)
        .await
        .expect("Redis and the connection are fine");
    assert!(
        matches!(released, Ok(false)),
        "release of an expired lease: {released:?}"
    );
}

/// `SET` calls Redis has run so far (`INFO commandstats`).
fn set_calls(server: &RedisServer) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query(&mut server.connection())
        .unwrap();
    info.lines()
        .find_map(|line| line.strip_prefix("cmdstat_set:calls="))
        .and_then(|rest| rest.split(',').next()?.parse().ok())
        .unwrap_or(0)
}

/// Acquires whose callers gave up before the dispatcher wrote them are not
/// sent at all: 1,024 are in flight (held by `CLIENT PAUSE WRITE`), 2,000
/// more wait their turn and are cancelled; Redis runs the 1,024 only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acquires_cancelled_before_they_are_written_are_not_sent() {
    let server = RedisServer::start();
    let debouncer = Debouncer::builder()
        .response_timeout(Duration::from_secs(60))
        .open(&server.url())
        .unwrap();
    job(&debouncer, 0).await.unwrap();
    debouncer.flush().await.unwrap();
    let before = set_calls(&server);
    server.pause_writes(Duration::from_secs(60));
    let keys: Vec<String> = (0..3024).map(|i| format!("c{i}")).collect();
    let mut calls: Vec<_> = keys
        .iter()
        .map(|key| Box::pin(debouncer.try_lock(key, LONG)))
        .collect();
    for call in &mut calls {
        assert!(poll_once(call).await.is_pending(), "held by the pause");
    }
    drop(calls);
    server.unpause();
    debouncer.flush().await.unwrap();
    let sent = set_calls(&server) - before;
    assert!(
        sent <= 1100,
        "{sent} of 3,024 acquires sent, though 2,000 were cancelled before their turn"
    );
    assert!(server.lock_keys().is_empty(), "{:?}", server.lock_keys());
}
