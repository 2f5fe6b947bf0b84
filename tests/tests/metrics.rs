//! The `metrics` feature: every metric the README names, read through a
//! recording recorder (metrics-util's), on a real Redis. One test: the
//! recorder is process-wide and a snapshot drains it.
#![cfg(feature = "metrics")]

use std::collections::HashMap;
use std::time::Duration;

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use redis_debounce::{Busy, Debouncer, debounce};
use redis_debounce_tests::{RedisServer, temp_dir, unix_url};
use tokio::sync::oneshot;

/// What the recorder has seen so far, summed over snapshots (each drains
/// it: counters and gauges come as changes, histograms as new values).
#[derive(Default)]
struct Seen {
    counters: HashMap<String, u64>,
    gauges: HashMap<String, f64>,
    histograms: HashMap<String, Vec<f64>>,
    units: HashMap<String, String>,
}

impl Seen {
    fn take(&mut self, snapshotter: &Snapshotter) {
        for (key, unit, _, value) in snapshotter.snapshot().into_vec() {
            let key = key.key();
            let mut labels: Vec<String> = key
                .labels()
                .map(|label| format!("{}={}", label.key(), label.value()))
                .collect();
            labels.sort();
            let name = format!("{}{{{}}}", key.name(), labels.join(","));
            if let Some(unit) = unit {
                self.units
                    .insert(key.name().to_owned(), unit.as_str().to_owned());
            }
            match value {
                DebugValue::Counter(n) => *self.counters.entry(name).or_default() += n,
                DebugValue::Gauge(v) => *self.gauges.entry(name).or_default() += v.into_inner(),
                DebugValue::Histogram(values) => self
                    .histograms
                    .entry(name)
                    .or_default()
                    .extend(values.into_iter().map(ordered_float_value)),
            }
        }
    }

    fn calls(&self, function: &str, outcome: &str) -> u64 {
        let name = format!("redis_debounce_calls_total{{function={function},outcome={outcome}}}");
        self.counters.get(&name).copied().unwrap_or(0)
    }

    fn counter(&self, name: &str, function: &str) -> u64 {
        let name = format!("{name}{{function={function}}}");
        self.counters.get(&name).copied().unwrap_or(0)
    }

    /// A gauge's value, which counts callers or locks: whole.
    fn gauge(&self, name: &str, function: &str) -> i64 {
        let name = format!("{name}{{function={function}}}");
        let value = self.gauges.get(&name).copied().unwrap_or(0.0);
        assert!(value.fract() == 0.0 && value.abs() < 1e9, "{name}: {value}");
        #[allow(clippy::cast_possible_truncation, reason = "whole, and small")]
        let whole = value as i64;
        whole
    }

    fn histogram(&self, name: &str, labels: &str) -> &[f64] {
        let name = format!("{name}{{{labels}}}");
        self.histograms.get(&name).map_or(&[], Vec::as_slice)
    }
}

#[debounce(key = "m:{id}", ttl = 30, using = debouncer)]
async fn m_checkout(
    debouncer: &Debouncer,
    id: u32,
    done: oneshot::Receiver<()>,
) -> Result<u32, Busy> {
    let _ = done.await;
    Ok(id)
}

#[debounce(key = "m:wait:{id}", ttl = 30, wait = "20s", using = debouncer)]
async fn m_wait(debouncer: &Debouncer, id: u32, done: oneshot::Receiver<()>) -> Result<u32, Busy> {
    let _ = done.await;
    Ok(id)
}

#[debounce(key = "m:cool:{id}", ttl = 30, cooldown = "60s", using = debouncer)]
async fn m_cool(debouncer: &Debouncer, id: u32) -> Result<u32, Busy> {
    Ok(id)
}

#[debounce(key = "m:replay:{id}", ttl = 30, replay = "60s", using = debouncer)]
async fn m_replay(debouncer: &Debouncer, id: u32) -> Result<u32, Busy> {
    Ok(id)
}

/// Runs until its lease is lost: a body that outlives its ttl.
#[debounce(key = "m:overrun", ttl = "300ms", using = debouncer)]
async fn m_overrun(debouncer: &Debouncer) -> Result<(), Busy> {
    redis_debounce::lease().expect("locked").lost().await;
    Ok(())
}

#[debounce(key = "m:down", ttl = 30, using = debouncer)]
async fn m_down(debouncer: &Debouncer) -> Result<(), Busy> {
    Ok(())
}

#[debounce(key = "m:down", ttl = 30, using = debouncer, on_error = "allow")]
async fn m_down_allowed(debouncer: &Debouncer) -> Result<(), Busy> {
    Ok(())
}

fn ordered_float_value<T: Into<f64>>(value: T) -> f64 {
    value.into()
}

/// Polls `condition` until it holds: the counters are the signal.
async fn until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !condition() {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Every metric, with its labels and unit, and `Debouncer::stats` beside it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(
    clippy::too_many_lines,
    reason = "one recorder, one test: its phases in order"
)]
async fn every_metric_is_recorded_with_its_labels() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder
        .install()
        .expect("the only recorder of this binary");
    let mut seen = Seen::default();

    let server = RedisServer::start();
    // Made after the recorder: the metrics are described to it.
    let debouncer = Debouncer::open(&server.url()).unwrap();

    // Acquired, then busy while held; the hold is timed once released.
    let (release, done) = oneshot::channel();
    let holder = tokio::spawn({
        let debouncer = debouncer.clone();
        async move { m_checkout(&debouncer, 1, done).await }
    });
    until("held", || debouncer.stats().held == 1).await;
    seen.take(&snapshotter);
    assert_eq!(seen.gauge("redis_debounce_held", "m_checkout"), 1);
    let (_, never) = oneshot::channel();
    assert!(
        m_checkout(&debouncer, 1, never)
            .await
            .unwrap_err()
            .is_held()
    );
    release.send(()).unwrap();
    assert_eq!(holder.await.unwrap().unwrap(), 1);
    debouncer.flush().await.unwrap();
    seen.take(&snapshotter);
    assert_eq!(seen.calls("m_checkout", "acquired"), 1);
    assert_eq!(seen.calls("m_checkout", "busy"), 1);
    assert_eq!(seen.gauge("redis_debounce_held", "m_checkout"), 0);
    let acquired = seen.histogram(
        "redis_debounce_acquire_seconds",
        "function=m_checkout,outcome=acquired",
    );
    assert_eq!(acquired.len(), 1);
    assert!(acquired[0] > 0.0 && acquired[0] < 20.0, "{acquired:?}");
    let held = seen.histogram("redis_debounce_hold_seconds", "function=m_checkout");
    assert_eq!(held.len(), 1, "one hold");

    // A waiter is counted while it waits, and no longer once it has the lock.
    let (release, done) = oneshot::channel();
    let holder = tokio::spawn({
        let debouncer = debouncer.clone();
        async move { m_wait(&debouncer, 2, done).await }
    });
    until("held", || debouncer.stats().held == 1).await;
    let (release_waiter, waiter_done) = oneshot::channel();
    let waiter = tokio::spawn({
        let debouncer = debouncer.clone();
        async move { m_wait(&debouncer, 2, waiter_done).await }
    });
    until("waiting", || debouncer.stats().waiting == 1).await;
    seen.take(&snapshotter);
    assert_eq!(seen.gauge("redis_debounce_waiting", "m_wait"), 1);
    release.send(()).unwrap();
    holder.await.unwrap().unwrap();
    until("the waiter holds it", || {
        let stats = debouncer.stats();
        stats.waiting == 0 && stats.held == 1
    })
    .await;
    release_waiter.send(()).unwrap();
    waiter.await.unwrap().unwrap();
    seen.take(&snapshotter);
    assert_eq!(seen.gauge("redis_debounce_waiting", "m_wait"), 0);
    assert_eq!(seen.calls("m_wait", "acquired"), 2);

    // Cooling down and replayed.
    m_cool(&debouncer, 3).await.unwrap();
    assert!(m_cool(&debouncer, 3).await.unwrap_err().is_cooling_down());
    assert_eq!(m_replay(&debouncer, 4).await.unwrap(), 4);
    assert_eq!(m_replay(&debouncer, 4).await.unwrap(), 4);
    seen.take(&snapshotter);
    assert_eq!(seen.calls("m_cool", "acquired"), 1);
    assert_eq!(seen.calls("m_cool", "cooling_down"), 1);
    assert_eq!(seen.calls("m_replay", "acquired"), 1);
    assert_eq!(seen.calls("m_replay", "replayed"), 1);

    // A body that outlives its lease.
    m_overrun(&debouncer).await.unwrap();
    seen.take(&snapshotter);
    assert_eq!(
        seen.counter("redis_debounce_lost_leases_total", "m_overrun"),
        1
    );

    // Redis unreachable: turned away, or run unlocked.
    let dir = temp_dir("metrics-down");
    let down = redis_debounce_tests::impatient(
        &unix_url(&dir.join("none.sock")),
        Duration::from_millis(500),
    );
    assert!(m_down(&down).await.unwrap_err().error().is_some());
    m_down_allowed(&down).await.unwrap();
    seen.take(&snapshotter);
    assert_eq!(seen.calls("m_down", "unavailable"), 1);
    assert_eq!(seen.calls("m_down_allowed", "ran_unlocked"), 1);
    assert_eq!(seen.calls("m_down", "acquired"), 0);

    // A release that cannot be made: Redis is gone until its lease ends.
    let mut lost = RedisServer::start();
    let failing = Debouncer::open(&lost.url()).unwrap();
    let guard = failing
        .try_lock("m:release", Duration::from_secs(1))
        .await
        .unwrap();
    lost.stop();
    drop(guard);
    until("the release given up", || {
        failing.stats().release_failures == 1
    })
    .await;
    seen.take(&snapshotter);
    assert_eq!(
        seen.counters
            .get("redis_debounce_release_failures_total{}")
            .copied(),
        Some(1)
    );

    // Units as described; `stats()` agrees with the metrics.
    assert_eq!(
        seen.units
            .get("redis_debounce_acquire_seconds")
            .map(String::as_str),
        Some("seconds")
    );
    assert_eq!(
        seen.units
            .get("redis_debounce_hold_seconds")
            .map(String::as_str),
        Some("seconds")
    );
    let stats = debouncer.stats();
    assert_eq!(
        (
            stats.acquired,
            stats.busy,
            stats.cooling_down,
            stats.replayed,
            stats.lost_leases
        ),
        (6, 1, 1, 1, 1)
    );
    assert_eq!((stats.held, stats.waiting), (0, 0));
    assert!(stats.hold_time > Duration::ZERO);
    let down = down.stats();
    assert_eq!((down.unavailable, down.ran_unlocked), (1, 1));
}
