//! Chaos on the network between the library and Redis: a TCP proxy in
//! front of the server cuts every connection, stalls them, then
//! black-holes them, while eight tasks and a thread make debounced calls,
//! each on a key of its own. Every call ends within the configured
//! timeouts (plus a margin); each one either ran under the lock or was
//! turned away with the error that stopped it, never "held" (the only
//! holder of a caller's key is that caller's own earlier call, which the
//! library orders before it); and once the network is back, the late bytes
//! of the stalled connections delivered, and the `Debouncer` flushed, no
//! lock is left.
//!
//! The test moves from one phase to the next on what the callers report
//! (so many calls ran, so many failed), never after a sleep.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use redis_debounce::{Busy, Debouncer, debounce};
use redis_debounce_tests::{Proxy, RedisServer};

pub(crate) const TIMEOUT: Duration = Duration::from_millis(300);
/// What one call may take: connect + response timeouts (a call that meets
/// a broken connection is sent once more, on a new one, so it may take a
/// little more), with a margin for a loaded 2-core machine. A call the
/// timeouts do not bound hangs for as long as the fault lasts, and the
/// black hole lasts until the test sees calls fail.
pub(crate) const CALL_WITHIN: Duration = TIMEOUT
    .saturating_mul(2)
    .saturating_add(Duration::from_secs(4));
/// How long the test waits for a phase's signal (so many calls ran or
/// failed) before it fails; reached only when the library is broken.
const PHASE_WITHIN: Duration = Duration::from_secs(30);
/// Asynchronous callers; one more, a thread, makes sync calls.
const TASKS: usize = 8;

#[debounce(key = "chaos:{caller}", ttl = 3600, using = debouncer)]
async fn call(debouncer: &Debouncer, caller: usize) -> Result<bool, Busy> {
    Ok(redis_debounce::lease().is_some())
}

#[debounce(key = "chaos:{caller}", ttl = 3600, using = debouncer)]
fn call_sync(debouncer: &Debouncer, caller: usize) -> Result<bool, Busy> {
    Ok(redis_debounce::lease().is_some())
}

/// Callers `0..tasks`, each an async task on its own key, calling until the
/// load stops; after a failed call each pauses `pace` (if any), so failures
/// do not spin while the server is away.
pub(crate) fn spawn_callers(
    debouncer: &Debouncer,
    load: &Arc<Load>,
    tasks: std::ops::Range<usize>,
    pace: Option<Duration>,
) -> Vec<tokio::task::JoinHandle<()>> {
    tasks
        .map(|caller| {
            let (debouncer, load) = (debouncer.clone(), load.clone());
            tokio::spawn(async move {
                while !load.stopped() {
                    let started = Instant::now();
                    let answer = call(&debouncer, caller).await;
                    let failed = answer.is_err();
                    load.record(caller, started.elapsed(), answer);
                    if let (true, Some(pace)) = (failed, pace) {
                        tokio::time::sleep(pace).await;
                    }
                }
                load.caller_stopped();
            })
        })
        .collect()
}

/// The same, each caller a thread making sync calls.
pub(crate) fn spawn_sync_callers(
    debouncer: &Debouncer,
    load: &Arc<Load>,
    threads: std::ops::Range<usize>,
    pace: Option<Duration>,
) -> Vec<std::thread::JoinHandle<()>> {
    threads
        .map(|caller| {
            let (debouncer, load) = (debouncer.clone(), load.clone());
            std::thread::spawn(move || {
                while !load.stopped() {
                    let started = Instant::now();
                    let answer = call_sync(&debouncer, caller);
                    let failed = answer.is_err();
                    load.record(caller, started.elapsed(), answer);
                    if let (true, Some(pace)) = (failed, pace) {
                        std::thread::sleep(pace);
                    }
                }
                load.caller_stopped();
            })
        })
        .collect()
}

/// What the callers saw so far.
#[derive(Debug, Default, Clone)]
pub(crate) struct Counts {
    /// Bodies run under the lock.
    pub(crate) ran: usize,
    /// Calls turned away with an error.
    pub(crate) failed: usize,
    /// The longest call.
    pub(crate) longest: Duration,
    /// Callers that stopped.
    pub(crate) stopped: usize,
    /// Since [`Load::mark`]: per caller, how long after the mark its first
    /// body run ended.
    pub(crate) recovered: HashMap<usize, Duration>,
    mark: Option<Instant>,
    /// Calls that broke a promise (the first few, described), and how many.
    wrong: Vec<String>,
    wrongs: usize,
}

/// What every caller reports after each call, and the signal the test
/// waits on.
#[derive(Debug, Default)]
pub(crate) struct Load {
    counts: Mutex<Counts>,
    changed: Condvar,
    stop: AtomicBool,
}

impl Load {
    fn counts(&self) -> MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records one call of `caller` that took `took`: `Ok(true)` is a body
    /// run under the lock (it had a lease).
    pub(crate) fn record(&self, caller: usize, took: Duration, answer: Result<bool, Busy>) {
        let mut counts = self.counts();
        counts.longest = counts.longest.max(took);
        let mut wrong = Vec::new();
        if took > CALL_WITHIN {
            wrong.push(format!("caller {caller}: a call took {took:?}"));
        }
        match answer {
            Ok(true) => {
                counts.ran += 1;
                if let Some(mark) = counts.mark {
                    counts.recovered.entry(caller).or_insert_with(|| mark.elapsed());
                }
            }
            Ok(false) => wrong.push(format!("caller {caller}: a body ran without a lease")),
            Err(busy) if busy.error().is_some() => counts.failed += 1,
            Err(busy) => wrong.push(format!(
                "caller {caller}: turned away without an error (its key has no other holder): {busy:?}"
            )),
        }
        counts.wrongs += wrong.len();
        let room = 10usize.saturating_sub(counts.wrong.len());
        counts.wrong.extend(wrong.into_iter().take(room));
        drop(counts);
        self.changed.notify_all();
    }

    /// The counts now.
    pub(crate) fn now(&self) -> Counts {
        self.counts().clone()
    }

    /// Blocks until `until` holds of the counts; fails the test after
    /// [`PHASE_WITHIN`].
    pub(crate) fn wait_until(&self, what: &str, until: impl Fn(&Counts) -> bool) -> Counts {
        let (counts, waited) = self
            .changed
            .wait_timeout_while(self.counts(), PHASE_WITHIN, |counts| !until(counts))
            .unwrap_or_else(PoisonError::into_inner);
        assert!(
            !waited.timed_out(),
            "{what}: not within {PHASE_WITHIN:?}; so far {counts:?}"
        );
        counts.clone()
    }

    /// From now on, each caller's first body run is timed from now.
    pub(crate) fn mark(&self) {
        let mut counts = self.counts();
        counts.mark = Some(Instant::now());
        counts.recovered.clear();
    }

    /// Whether the callers should stop.
    pub(crate) fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Told by a caller as it stops.
    pub(crate) fn caller_stopped(&self) {
        self.counts().stopped += 1;
        self.changed.notify_all();
    }

    /// Tells the callers to stop, and waits until all `callers` did (a
    /// bounded wait: a call that hangs fails the test, it does not hang
    /// it).
    pub(crate) fn stop(&self, callers: usize) {
        self.stop.store(true, Ordering::SeqCst);
        self.wait_until("every caller stopped", |c| c.stopped == callers);
    }

    /// Asserts that no call broke a promise.
    pub(crate) fn assert_no_call_went_wrong(&self) {
        let counts = self.counts();
        assert!(
            counts.wrongs == 0,
            "{} calls went wrong (longest call {:?}, {} ran, {} failed): {:#?}",
            counts.wrongs,
            counts.longest,
            counts.ran,
            counts.failed,
            counts.wrong
        );
    }
}

/// Tells the callers to stop when dropped, also when the test fails
/// half-way (a sync caller would otherwise run on). Sync callers run on
/// threads of their own, not joined before they told the load they
/// stopped: a call that hangs fails the test instead of hanging it.
pub(crate) struct Stop(pub(crate) Arc<Load>);

impl Drop for Stop {
    fn drop(&mut self) {
        self.0.stop.store(true, Ordering::SeqCst);
    }
}

/// Waits for the load's signal from the test's task (a worker of a
/// multi-thread runtime; the callers run on the other).
fn wait_until(load: &Load, what: &str, until: impl Fn(&Counts) -> bool) -> Counts {
    tokio::task::block_in_place(|| load.wait_until(what, until))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_through_cut_stalled_and_blackholed_connections() {
    let server = RedisServer::start_tcp();
    let proxy = Proxy::tcp(&server.url());
    let debouncer = redis_debounce_tests::impatient(&proxy.url(), TIMEOUT);
    let load = Arc::new(Load::default());
    let stop = Stop(load.clone());

    let tasks = spawn_callers(&debouncer, &load, 0..TASKS, None);
    let sync_callers = spawn_sync_callers(&debouncer, &load, TASKS..TASKS + 1, None);

    // Everything passes: every caller runs.
    load.mark();
    let before = wait_until(&load, "every caller ran", |c| {
        c.recovered.len() == TASKS + 1 && c.ran >= 50
    });
    assert_eq!(before.failed, 0, "nothing failed yet: {before:?}");

    // Three cuts, each while calls are in flight; calls run again after
    // each (a new connection, through the same handle).
    for round in 0..3 {
        let before = load.now();
        let cut = proxy.cut();
        assert!(cut >= 1, "round {round}: no connection to cut");
        wait_until(&load, "calls ran after a cut", |c| c.ran >= before.ran + 50);
    }

    // The connection stalls: what is in flight on it times out, is undone
    // behind itself, and calls run again on a new connection.
    let before = load.now();
    assert!(proxy.stall_open_connections() >= 1);
    wait_until(&load, "a call failed on the stalled connection", |c| {
        c.failed > before.failed
    });
    let before = load.now();
    wait_until(&load, "calls ran after the stall", |c| {
        c.ran >= before.ran + 50
    });

    // The black hole: every call fails within its timeouts, none hangs.
    let before = load.now();
    proxy.blackhole();
    let blackholed = wait_until(&load, "calls failed in the black hole", |c| {
        c.failed >= before.failed + 3 * (TASKS + 1)
    });
    proxy.restore();
    load.mark();
    let restored = wait_until(&load, "every caller ran after the black hole", |c| {
        c.recovered.len() == TASKS + 1
    });
    let recovery = restored
        .recovered
        .values()
        .max()
        .copied()
        .unwrap_or_default();

    tokio::task::block_in_place(|| load.stop(TASKS + 1));
    drop(stop);
    for task in tasks {
        task.await.unwrap();
    }
    for thread in sync_callers {
        thread.join().unwrap();
    }
    load.assert_no_call_went_wrong();

    // What the stalled connections held back arrives late: the acquires
    // among it are each followed by their undo.
    let held = proxy.held_connections();
    let mut late = String::new();
    for id in &held {
        let answers = tokio::task::block_in_place(|| proxy.let_through(*id));
        late.push_str(&String::from_utf8_lossy(&answers));
    }
    tokio::time::timeout(PHASE_WITHIN, debouncer.flush())
        .await
        .expect("flush returns")
        .expect("flush is Ok once the network is back");
    let counts = load.now();
    let left = server.lock_keys();
    assert!(
        left.is_empty(),
        "left {left:?} (late bytes of connections {held:?}, answered {late:?}; {counts:?})"
    );
    eprintln!(
        "proxy chaos: {} ran, {} failed ({} in the black hole), longest call {:?} \
         (bound {CALL_WITHIN:?}), every caller ran {recovery:?} after the restore, \
         {} stalled connections let through late, answered {late:?}",
        counts.ran,
        counts.failed,
        blackholed.failed - before.failed,
        counts.longest,
        held.len(),
    );
}
