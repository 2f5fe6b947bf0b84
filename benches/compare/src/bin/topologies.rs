//! The topologies side by side: one lock + release pair through
//! redis-debounce on one server, on a Redis Cluster of 3 masters, and on
//! Redlock over 3 and 5 masters, against rslock's Redlock over the same 3
//! and 5, one caller at a time and 64 tasks at once. The libraries take
//! turns round by round, as in the main comparison. Prints a Markdown
//! table (`benches/compare/topologies` puts it in docs/BENCHMARKS.md).
//!
//! `topologies <server url> <cluster url> <5 node urls, comma-separated> <pairs>`

use std::sync::Arc;
use std::time::{Duration, Instant};

use redis_debounce::{Busy, Debouncer, debounce};

const TTL: Duration = Duration::from_secs(30);
const TASKS: usize = 64;
const ROUNDS: usize = 5;

#[debounce(key = "cmp:topology:{id}", ttl = 30, using = debouncer)]
async fn debounced(debouncer: &Debouncer, id: usize) -> Result<usize, Busy> {
    Ok(id)
}

enum Lib {
    Debounce(&'static str, Debouncer),
    Rslock(&'static str, rslock::LockManager),
}

impl Lib {
    fn name(&self) -> &'static str {
        match self {
            Lib::Debounce(name, _) | Lib::Rslock(name, _) => name,
        }
    }

    async fn pair(&self, task: usize) {
        match self {
            Lib::Debounce(_, debouncer) => {
                debounced(debouncer, task).await.expect("free");
            }
            Lib::Rslock(_, manager) => {
                let key = format!("cmp:rslock:{task}");
                let lock = manager.lock(key.as_bytes(), TTL).await.expect("free");
                manager.unlock(&lock).await;
            }
        }
    }

    async fn settle(&self) {
        if let Lib::Debounce(_, debouncer) = self {
            debouncer.flush().await.expect("flush");
        }
    }
}

#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    calls: usize,
    elapsed: Duration,
}

async fn turn(lib: &Arc<Lib>, pairs: usize, tasks: usize, tally: &mut Tally) {
    let per_task = pairs / tasks;
    let started = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|task| {
            let lib = Arc::clone(lib);
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(per_task);
                for _ in 0..per_task {
                    let at = Instant::now();
                    lib.pair(task).await;
                    latencies.push(at.elapsed());
                }
                latencies
            })
        })
        .collect();
    for handle in handles {
        tally.latencies.extend(handle.await.expect("task"));
    }
    lib.settle().await;
    tally.calls += per_task * tasks;
    tally.elapsed += started.elapsed();
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let usage = "usage: topologies <server url> <cluster url> <5 node urls> <pairs>";
    let server = args.next().expect(usage);
    let cluster = args.next().expect(usage);
    let nodes: Vec<String> = args.next().expect(usage).split(',').map(String::from).collect();
    let pairs: usize = args.next().map_or(5_000, |n| n.parse().expect("a number"));
    assert_eq!(nodes.len(), 5, "{usage}");
    let redlock = |n: usize| Debouncer::builder().redlock(&nodes[..n]).expect("urls");
    let libs: Vec<Arc<Lib>> = vec![
        Lib::Debounce("redis-debounce, one server", Debouncer::open(&server).expect("url")),
        Lib::Debounce("redis-debounce, cluster (3 masters)", Debouncer::open(&cluster).expect("url")),
        Lib::Debounce("redis-debounce, Redlock on 3", redlock(3)),
        Lib::Debounce("redis-debounce, Redlock on 5", redlock(5)),
        Lib::Rslock("rslock, Redlock on 3", rslock::LockManager::new(nodes[..3].to_vec())),
        Lib::Rslock("rslock, Redlock on 5", rslock::LockManager::new(nodes.clone())),
    ]
    .into_iter()
    .map(Arc::new)
    .collect();
    println!("| library | callers | calls/s | p50 (µs) | p99 (µs) |");
    println!("|---|---|---:|---:|---:|");
    for (tasks, label) in [(1, "1 caller"), (TASKS, "64 tasks")] {
        let mut tallies: Vec<Tally> = libs.iter().map(|_| Tally::default()).collect();
        let mut order: Vec<usize> = (0..libs.len()).collect();
        for round in 0..=ROUNDS {
            for &at in &order {
                let mut warm_up = Tally::default();
                let tally = if round == 0 { &mut warm_up } else { &mut tallies[at] };
                turn(&libs[at], pairs / ROUNDS, tasks, tally).await;
            }
            order.rotate_left(1);
        }
        for (lib, tally) in libs.iter().zip(&mut tallies) {
            tally.latencies.sort_unstable();
            let at = |p: usize| {
                tally.latencies[(tally.latencies.len() * p / 100).min(tally.latencies.len() - 1)]
            };
            #[allow(clippy::cast_precision_loss)]
            let per_second = tally.calls as f64 / tally.elapsed.as_secs_f64();
            println!(
                "| {} | {label} | {per_second:.0} | {:.1} | {:.1} |",
                lib.name(),
                at(50).as_secs_f64() * 1e6,
                at(99).as_secs_f64() * 1e6,
            );
        }
    }
}
