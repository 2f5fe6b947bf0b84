//! The Rust side of the comparison: the same workload (take a lock on a
//! key, release it) through redis-debounce, hand-written redis-rs and
//! rslock, one caller at a time and 64 tasks at once. Prints one JSON line
//! per library and mode; `run` turns them into a table and a chart.
//!
//! The libraries take turns: every round runs each of them once (the order
//! rotating from round to round), so that a slower or faster stretch of the
//! machine falls on all of them alike.
//!
//! `compare <redis url> <pairs>`

use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::aio::ConnectionManager;
use redis_debounce::{Busy, Debouncer, debounce};

const TTL: Duration = Duration::from_secs(30);
const TASKS: usize = 64;
/// Rounds measured, after one that warms up connections and caches.
const ROUNDS: usize = 10;

#[debounce(key = "cmp:debounce:{id}", ttl = 30, using = debouncer)]
async fn debounced(debouncer: &Debouncer, id: usize) -> Result<usize, Busy> {
    Ok(id)
}

#[debounce(key = "cmp:debounce-sync:{id}", ttl = 30, using = debouncer)]
fn debounced_sync(debouncer: &Debouncer, id: usize) -> Result<usize, Busy> {
    Ok(id)
}

const RELEASE: &str =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";

/// `SET key token NX PX ttl`, then the compare-and-delete script: what a
/// careful hand-written lock does, waiting for both answers.
async fn hand_written(
    manager: &mut ConnectionManager,
    release: &redis::Script,
    key: &str,
    token: u64,
) {
    let token = token.to_le_bytes();
    let taken: Option<String> = redis::cmd("SET")
        .arg(key)
        .arg(&token[..])
        .arg("NX")
        .arg("PX")
        .arg(30_000)
        .query_async(manager)
        .await
        .expect("SET");
    assert!(taken.is_some(), "{key} was free");
    let released: bool = release
        .key(key)
        .arg(&token[..])
        .invoke_async(manager)
        .await
        .expect("release");
    assert!(released);
}

/// The libraries compared; the discriminant indexes their tallies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lib {
    DebounceAsync = 0,
    DebounceSync = 1,
    HandWritten = 2,
    Rslock = 3,
}

impl Lib {
    fn name(self) -> &'static str {
        match self {
            Lib::DebounceAsync => "redis-debounce (async fn)",
            Lib::DebounceSync => "redis-debounce (sync fn)",
            Lib::HandWritten => "redis-rs, hand-written",
            Lib::Rslock => "rslock",
        }
    }
}

/// What every library needs, shared by the tasks.
struct Bench {
    debouncer: Debouncer,
    manager: ConnectionManager,
    release: redis::Script,
    rslock: rslock::LockManager,
    /// One key per task, made before the clock starts.
    hand_keys: Vec<String>,
    rslock_keys: Vec<String>,
}

impl Bench {
    /// One lock + release pair of `lib` by task `task`.
    async fn pair(&self, lib: Lib, task: usize, n: u64) {
        match lib {
            Lib::DebounceAsync => {
                debounced(&self.debouncer, task).await.expect("free");
            }
            Lib::DebounceSync => {
                tokio::task::block_in_place(|| debounced_sync(&self.debouncer, task))
                    .expect("free");
            }
            Lib::HandWritten => {
                let mut manager = self.manager.clone();
                hand_written(&mut manager, &self.release, &self.hand_keys[task], n).await;
            }
            Lib::Rslock => {
                let resource = self.rslock_keys[task].as_bytes();
                let lock = self.rslock.lock(resource, TTL).await.expect("free");
                self.rslock.unlock(&lock).await;
            }
        }
    }

    /// Waits until the releases sent so far have run (redis-debounce does
    /// not wait for them on the caller's path): part of the round's time.
    async fn settle(&self, lib: Lib) {
        if matches!(lib, Lib::DebounceAsync | Lib::DebounceSync) {
            self.debouncer.flush().await.expect("flush");
        }
    }
}

/// The latencies and time of one library in one mode, over all rounds.
#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    elapsed: Duration,
    /// Calls per second of each round: rounds pair the libraries up, so
    /// ratios are best taken round by round.
    rounds: Vec<f64>,
}

impl Tally {
    fn report(&mut self, lib: Lib, mode: &str) {
        let latencies = &mut self.latencies;
        latencies.sort_unstable();
        let at = |p: usize| latencies[(latencies.len() * p / 100).min(latencies.len() - 1)];
        #[allow(clippy::cast_precision_loss)]
        let per_second = latencies.len() as f64 / self.elapsed.as_secs_f64();
        let rounds: Vec<String> = self.rounds.iter().map(|r| format!("{r:.0}")).collect();
        println!(
            r#"{{"name":"{}","mode":"{mode}","calls_per_s":{per_second:.0},"p50_us":{:.1},"p99_us":{:.1},"rounds":[{}]}}"#,
            lib.name(),
            at(50).as_secs_f64() * 1e6,
            at(99).as_secs_f64() * 1e6,
            rounds.join(","),
        );
    }

    /// Adds one round of `calls` calls that took `elapsed`.
    fn round(&mut self, calls: usize, elapsed: Duration) {
        self.elapsed += elapsed;
        #[allow(clippy::cast_precision_loss)]
        self.rounds.push(calls as f64 / elapsed.as_secs_f64());
    }
}

/// One library's turn, one caller: `pairs` calls in a row.
async fn sequential(bench: &Bench, lib: Lib, pairs: usize, tally: &mut Tally) {
    let started = Instant::now();
    for n in 0..pairs {
        let at = Instant::now();
        bench.pair(lib, 0, n as u64).await;
        tally.latencies.push(at.elapsed());
    }
    bench.settle(lib).await;
    tally.round(pairs, started.elapsed());
}

/// One library's turn, 64 tasks at once, each on its own key.
async fn concurrent(bench: &Arc<Bench>, lib: Lib, pairs: usize, tally: &mut Tally) {
    let per_task = pairs / TASKS;
    let started = Instant::now();
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let bench = Arc::clone(bench);
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(per_task);
                for n in 0..per_task {
                    let at = Instant::now();
                    bench.pair(lib, task, n as u64).await;
                    latencies.push(at.elapsed());
                }
                latencies
            })
        })
        .collect();
    for task in tasks {
        tally.latencies.extend(task.await.expect("task"));
    }
    bench.settle(lib).await;
    tally.round(per_task * TASKS, started.elapsed());
}

/// How the calls of a turn are made.
#[derive(Clone, Copy)]
enum Mode {
    OneCaller,
    Tasks,
}

/// Every library takes its turn in each round, the order rotating; the
/// first round warms up and is not counted. Reports one line per library.
async fn rounds(bench: &Arc<Bench>, libs: &[Lib], per_round: usize, mode: Mode) {
    let mut tallies = [(); 4].map(|()| Tally::default());
    let mut order = libs.to_vec();
    for round in 0..=ROUNDS {
        for &lib in &order {
            let mut warm_up = Tally::default();
            let tally = if round == 0 {
                &mut warm_up
            } else {
                &mut tallies[lib as usize]
            };
            match mode {
                Mode::OneCaller => sequential(bench, lib, per_round, tally).await,
                Mode::Tasks => concurrent(bench, lib, per_round, tally).await,
            }
        }
        order.rotate_left(1);
    }
    let label = match mode {
        Mode::OneCaller => "1 caller",
        Mode::Tasks => "64 tasks",
    };
    for &lib in libs {
        tallies[lib as usize].report(lib, label);
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let url = args.next().expect("usage: compare <redis url> <pairs>");
    let pairs: usize = args.next().map_or(20_000, |n| n.parse().expect("a number"));
    let per_round = pairs / ROUNDS;

    let client = redis::Client::open(url.as_str()).expect("url");
    let bench = Arc::new(Bench {
        debouncer: Debouncer::open(&url).expect("url"),
        manager: ConnectionManager::new(client).await.expect("connect"),
        release: redis::Script::new(RELEASE),
        rslock: rslock::LockManager::new(vec![url.clone()]),
        hand_keys: (0..TASKS).map(|task| format!("cmp:hand:{task}")).collect(),
        rslock_keys: (0..TASKS)
            .map(|task| format!("cmp:rslock:{task}"))
            .collect(),
    });

    let one_caller = [
        Lib::DebounceAsync,
        Lib::DebounceSync,
        Lib::HandWritten,
        Lib::Rslock,
    ];
    rounds(&bench, &one_caller, per_round, Mode::OneCaller).await;
    let many = [Lib::DebounceAsync, Lib::HandWritten, Lib::Rslock];
    rounds(&bench, &many, per_round, Mode::Tasks).await;
}
