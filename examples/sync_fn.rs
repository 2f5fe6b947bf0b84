//! `#[debounce]` on a plain `fn`: threads racing to build the same report.
//!
//! ```text
//! cargo run --example sync_fn
//! REDIS_URL=redis://127.0.0.1/ cargo run --example sync_fn
//! ```

use std::sync::Barrier;
use std::time::Duration;

use redis_debounce::{Busy, Debouncer, debounce};

#[derive(Debug)]
enum ReportError {
    Busy(Busy),
}

impl From<Busy> for ReportError {
    fn from(busy: Busy) -> Self {
        ReportError::Busy(busy)
    }
}

#[debounce(key = "report:{day}", ttl = "90s")]
fn build_report(day: &str) -> Result<String, ReportError> {
    std::thread::sleep(Duration::from_millis(300));
    Ok(format!("report for {day}"))
}

fn main() -> Result<(), redis_debounce::Error> {
    let debouncer = match std::env::var("REDIS_URL") {
        Ok(url) => Debouncer::open(&url)?,
        Err(_) => Debouncer::memory(),
    };
    redis_debounce::install(debouncer);

    let start = Barrier::new(4);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..4)
            .map(|worker| {
                let start = &start;
                scope.spawn(move || {
                    start.wait();
                    (worker, build_report("2026-11-22"))
                })
            })
            .collect();
        for worker in workers {
            match worker.join() {
                Ok((id, Ok(report))) => println!("worker {id}: built {report:?}"),
                Ok((id, Err(ReportError::Busy(busy)))) => println!("worker {id}: skipped, {busy}"),
                Err(_) => println!("a worker panicked"),
            }
        }
    });
    Ok(())
}
