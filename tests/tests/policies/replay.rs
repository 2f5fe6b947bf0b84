//! `replay`: the first call's output is stored and answers the duplicates,
//! across `Debouncer`s (processes) on one Redis; with `wait`, concurrent
//! duplicates wait and get it (one execution); errors are stored only with
//! `replay_errors`; a stored value of another type is a typed error.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use redis::Commands as _;
use redis_debounce::{Busy, Debouncer, Error, debounce};
use redis_debounce_tests::{Backend, join_all, on_both_backends};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Receipt {
    order: u64,
    /// Which run produced it: replays carry the first run's number.
    run: usize,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
enum ChargeError {
    Declined,
    Busy(String),
}

impl From<Busy> for ChargeError {
    fn from(busy: Busy) -> Self {
        ChargeError::Busy(busy.to_string())
    }
}

#[derive(Debug)]
enum AppError {
    Declined,
    Busy(Busy),
}

impl From<Busy> for AppError {
    fn from(busy: Busy) -> Self {
        AppError::Busy(busy)
    }
}

#[debounce(key = "charge:{order}", ttl = 30, replay = "1h", using = debouncer)]
async fn charge(
    debouncer: &Debouncer,
    order: u64,
    runs: &AtomicUsize,
) -> Result<Receipt, AppError> {
    let run = runs.fetch_add(1, Ordering::SeqCst) + 1;
    Ok(Receipt { order, run })
}

#[debounce(key = "charge:{order}", ttl = 30, replay = "1h", wait = "60s", using = debouncer)]
async fn charge_once(
    debouncer: &Debouncer,
    order: u64,
    runs: &AtomicUsize,
) -> Result<Receipt, AppError> {
    let run = runs.fetch_add(1, Ordering::SeqCst) + 1;
    // The payment provider takes a while: the duplicates arrive meanwhile.
    tokio::time::sleep(Duration::from_millis(100)).await;
    Ok(Receipt { order, run })
}

/// The same key with another output type, as after a deploy.
#[debounce(key = "charge:{order}", ttl = 30, replay = "1h", using = debouncer)]
async fn charge_v2(debouncer: &Debouncer, order: u64) -> Result<String, AppError> {
    Ok(format!("receipt {order}"))
}

#[debounce(key = "refund:{order}", ttl = 30, replay = "1h", using = debouncer)]
fn refund(
    debouncer: &Debouncer,
    order: u64,
    decline: bool,
    runs: &AtomicUsize,
) -> Result<Receipt, AppError> {
    let run = runs.fetch_add(1, Ordering::SeqCst) + 1;
    if decline {
        return Err(AppError::Declined);
    }
    Ok(Receipt { order, run })
}

#[debounce(key = "void:{order}", ttl = 30, replay = "1h", replay_errors, using = debouncer)]
async fn void(
    debouncer: &Debouncer,
    order: u64,
    runs: &AtomicUsize,
) -> Result<Receipt, ChargeError> {
    runs.fetch_add(1, Ordering::SeqCst);
    Err(ChargeError::Declined)
}

/// Not a `Result`: the value itself is stored.
#[debounce(key = "quote:{order}", ttl = 30, replay = "1h", using = debouncer, busy = 0)]
async fn quote(debouncer: &Debouncer, order: u64, runs: &AtomicUsize) -> u64 {
    order * 100 + u64::try_from(runs.fetch_add(1, Ordering::SeqCst)).unwrap()
}

#[debounce(key = "slow:{order}", ttl = 30, replay = "1h", using = debouncer)]
async fn slow(
    debouncer: &Debouncer,
    order: u64,
    started: oneshot::Sender<()>,
    finish: oneshot::Receiver<()>,
) -> Result<u64, AppError> {
    started.send(()).unwrap();
    finish.await.unwrap();
    Ok(order)
}

async fn duplicates_get_the_first_output(backend: Backend) {
    let debouncer = &backend.debouncer;
    let runs = AtomicUsize::new(0);
    let first = charge(debouncer, 1, &runs).await.unwrap();
    let second = charge(debouncer, 1, &runs).await.unwrap();
    assert_eq!(first, Receipt { order: 1, run: 1 });
    assert_eq!(second, first, "the stored output");
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

async fn waiting_duplicates_coalesce(backend: Backend) {
    let debouncer = &backend.debouncer;
    let runs = AtomicUsize::new(0);
    let answers = join_all((0..6).map(|_| charge_once(debouncer, 2, &runs))).await;
    assert_eq!(runs.load(Ordering::SeqCst), 1, "one execution");
    for answer in answers {
        assert_eq!(answer.unwrap(), Receipt { order: 2, run: 1 });
    }
}

async fn a_duplicate_in_flight_is_busy(backend: Backend) {
    let debouncer = &backend.debouncer;
    let (started, on_start) = oneshot::channel();
    let (release, finish) = oneshot::channel();
    let first = tokio::spawn({
        let debouncer = debouncer.clone();
        async move { slow(&debouncer, 3, started, finish).await }
    });
    on_start.await.unwrap();
    let (unused, never) = oneshot::channel();
    drop(unused);
    match slow(debouncer, 3, oneshot::channel().0, never).await {
        Err(AppError::Busy(busy)) => assert!(busy.is_held(), "{busy}"),
        other => panic!("expected busy while the first runs, got {other:?}"),
    }
    release.send(()).unwrap();
    assert_eq!(first.await.unwrap().unwrap(), 3);
    let (unused, never) = oneshot::channel();
    drop(unused);
    // Completed: the duplicate gets the output without running.
    assert_eq!(
        slow(debouncer, 3, oneshot::channel().0, never)
            .await
            .unwrap(),
        3
    );
}

#[allow(clippy::unused_async, reason = "a scenario of on_both_backends!")]
async fn errors_are_not_stored(backend: Backend) {
    let debouncer = &backend.debouncer;
    let runs = AtomicUsize::new(0);
    assert!(matches!(
        refund(debouncer, 4, true, &runs),
        Err(AppError::Declined)
    ));
    let retried = refund(debouncer, 4, false, &runs).unwrap();
    assert_eq!(retried, Receipt { order: 4, run: 2 }, "the retry ran");
    assert_eq!(refund(debouncer, 4, false, &runs).unwrap(), retried);
    assert_eq!(runs.load(Ordering::SeqCst), 2);
}

async fn replay_errors_stores_errors(backend: Backend) {
    let debouncer = &backend.debouncer;
    let runs = AtomicUsize::new(0);
    assert_eq!(void(debouncer, 5, &runs).await, Err(ChargeError::Declined));
    assert_eq!(void(debouncer, 5, &runs).await, Err(ChargeError::Declined));
    assert_eq!(runs.load(Ordering::SeqCst), 1, "the error was replayed");
}

async fn plain_values_are_stored(backend: Backend) {
    let debouncer = &backend.debouncer;
    let runs = AtomicUsize::new(0);
    assert_eq!(quote(debouncer, 6, &runs).await, 600);
    assert_eq!(quote(debouncer, 6, &runs).await, 600);
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

async fn another_type_is_a_typed_error(backend: Backend) {
    let debouncer = &backend.debouncer;
    let runs = AtomicUsize::new(0);
    charge(debouncer, 7, &runs).await.unwrap();
    match charge_v2(debouncer, 7).await {
        Err(AppError::Busy(busy)) => match busy.error() {
            Some(Error::Replay { expected, detail }) => {
                // The type identity is the module and the return type as
                // written (stable across compilers, unlike
                // `std::any::type_name`).
                assert_eq!(*expected, "policies::replay -> Result<String, AppError>");
                assert!(
                    detail.contains("`policies::replay -> Result<Receipt, AppError>`"),
                    "{detail}"
                );
            }
            other => panic!("expected a replay error, got {other:?}"),
        },
        other => panic!("expected a typed error, got {other:?}"),
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1, "the body did not run again");
}

#[debounce(key = "transfer:{id}", ttl = 30, replay = "1h", fingerprint = "{to}:{cents}", using = debouncer)]
async fn transfer(
    debouncer: &Debouncer,
    id: u64,
    to: &str,
    cents: u64,
    runs: &AtomicUsize,
) -> Result<u64, AppError> {
    runs.fetch_add(1, Ordering::SeqCst);
    Ok(cents)
}

async fn a_reused_key_with_other_parameters_is_a_mismatch(backend: Backend) {
    let debouncer = &backend.debouncer;
    let runs = AtomicUsize::new(0);
    assert_eq!(
        transfer(debouncer, 9, "alice", 100, &runs).await.unwrap(),
        100
    );
    assert_eq!(
        transfer(debouncer, 9, "alice", 100, &runs).await.unwrap(),
        100
    );
    assert_eq!(runs.load(Ordering::SeqCst), 1, "the duplicate was replayed");
    match transfer(debouncer, 9, "bob", 100, &runs).await {
        Err(AppError::Busy(busy)) => {
            assert!(busy.is_mismatch(), "{busy}");
            assert!(busy.error().is_none() && !busy.is_held());
        }
        other => panic!("expected a mismatch, got {other:?}"),
    }
    assert_eq!(
        runs.load(Ordering::SeqCst),
        1,
        "a mismatch does not run the body"
    );
}

on_both_backends! {
    a_reused_key_with_other_parameters_is_a_mismatch => super::a_reused_key_with_other_parameters_is_a_mismatch;
    duplicates_get_the_first_output => super::duplicates_get_the_first_output;
    waiting_duplicates_coalesce_into_one_execution => super::waiting_duplicates_coalesce;
    a_duplicate_in_flight_is_busy_then_replayed => super::a_duplicate_in_flight_is_busy;
    errors_are_not_stored => super::errors_are_not_stored;
    replay_errors_stores_errors => super::replay_errors_stores_errors;
    plain_values_are_stored => super::plain_values_are_stored;
    another_output_type_is_a_typed_error => super::another_type_is_a_typed_error;
}

/// Two `Debouncer`s, as two processes would have, on one Redis: the body
/// runs once and both get the same output, stored beside the lock key in
/// its hash slot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_one_execution() {
    let backend = Backend::redis();
    let server = backend.server.as_ref().unwrap();
    let other = Debouncer::open(&server.url()).unwrap();
    let runs = AtomicUsize::new(0);
    let first = charge(&backend.debouncer, 8, &runs).await.unwrap();
    // With `wait`: the first call's release travels on the other process's
    // connection and may arrive after this call's acquire.
    let second = charge_once(&other, 8, &runs).await.unwrap();
    assert_eq!(first, second);
    assert_eq!(runs.load(Ordering::SeqCst), 1);

    let mut redis = server.connection();
    let ttl: i64 = redis.pttl("debounce:{charge:8}:result").unwrap();
    // The replay window (1 h), not the lease (30 s): a loaded machine
    // may take minutes between the store and this read, never 50 of them.
    assert!(
        (600_000..=3_600_000).contains(&ttl),
        "kept for the replay window: {ttl} ms"
    );
    let exists: bool = redis.exists("debounce:{charge:8}").unwrap();
    assert!(!exists, "the lock itself was released");
}

/// The fingerprint stored with a result is the SHA-256 of the rendered
/// `fingerprint` template (a client cannot craft a second payload with
/// the same fingerprint, as it could with a 64-bit hash).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fingerprint_is_a_sha256() {
    use sha2::Digest as _;
    let backend = Backend::redis();
    let server = backend.server.as_ref().unwrap();
    let runs = AtomicUsize::new(0);
    transfer(&backend.debouncer, 9, "alice", 100, &runs)
        .await
        .unwrap();
    backend.debouncer.flush().await.unwrap();
    let stored: Vec<u8> = server
        .connection()
        .get("debounce:{transfer:9}:result")
        .unwrap();
    let digest = sha2::Sha256::digest(b"alice:100");
    let mut header = String::from("rd2 ");
    for byte in digest {
        std::fmt::Write::write_fmt(&mut header, format_args!("{byte:02x}")).unwrap();
    }
    header.push_str(" json ");
    assert!(
        stored.starts_with(header.as_bytes()),
        "{:?}",
        String::from_utf8_lossy(&stored)
    );
}

#[debounce(key = "report:{id}", ttl = 30, replay = "1h", using = debouncer)]
async fn report(
    debouncer: &Debouncer,
    id: u32,
    size: usize,
    runs: &AtomicUsize,
) -> Result<String, AppError> {
    let run = runs.fetch_add(1, Ordering::SeqCst) + 1;
    Ok(format!("{run}{}", ".".repeat(size)))
}

/// A result larger than `max_stored_result` is returned but not stored:
/// the next duplicate runs the body again; a smaller one is replayed.
async fn a_result_over_the_cap_is_not_stored(backend: Backend) {
    let builder = || Debouncer::builder().max_stored_result(1_000);
    let debouncer = backend
        .open_with(builder())
        .unwrap_or_else(|| builder().memory().unwrap());
    let runs = AtomicUsize::new(0);
    let big = report(&debouncer, 1, 2_000, &runs).await.unwrap();
    assert_eq!(big.len(), 2_001, "served whole");
    debouncer.flush().await.unwrap();
    let again = report(&debouncer, 1, 2_000, &runs).await.unwrap();
    assert!(again.starts_with('2'), "not stored, so run again");
    let small = report(&debouncer, 2, 100, &runs).await.unwrap();
    debouncer.flush().await.unwrap();
    assert_eq!(
        report(&debouncer, 2, 100, &runs).await.unwrap(),
        small,
        "replayed"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 3);
}

on_both_backends! {
    #[paused] a_result_over_the_cap_is_not_stored => super::a_result_over_the_cap_is_not_stored;
}

/// The cap counts what is stored, its header included: a result of
/// exactly `max_stored_result` bytes is stored, one byte more is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_result_exactly_at_the_cap_is_stored() {
    let backend = Backend::redis();
    let server = backend.server.as_ref().unwrap();
    let runs = AtomicUsize::new(0);
    report(&backend.debouncer, 1, 100, &runs).await.unwrap();
    backend.debouncer.flush().await.unwrap();
    let stored: usize = server
        .connection()
        .strlen("debounce:{report:1}:result")
        .expect("STRLEN");
    let capped = |bytes| {
        Debouncer::builder()
            .max_stored_result(bytes)
            .open(&server.url())
            .unwrap()
    };
    // Results of one size (runs stay one digit): `stored` bytes framed.
    let exact = capped(stored);
    let first = report(&exact, 2, 100, &runs).await.unwrap();
    exact.flush().await.unwrap();
    assert_eq!(
        report(&exact, 2, 100, &runs).await.unwrap(),
        first,
        "replayed"
    );
    let short = capped(stored - 1);
    let first = report(&short, 3, 100, &runs).await.unwrap();
    short.flush().await.unwrap();
    assert_ne!(
        report(&short, 3, 100, &runs).await.unwrap(),
        first,
        "run again"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 4);
}

#[debounce(key = "report:{id}", ttl = 30, replay = "1h", using = debouncer)]
fn report_sync(debouncer: &Debouncer, id: u32, size: usize) -> Result<String, AppError> {
    Ok(".".repeat(size))
}

/// A result not stored for its size is logged, once, naming its key; one
/// that fits is not.
#[test]
fn a_result_over_the_cap_is_logged() {
    let debouncer = Debouncer::builder()
        .max_stored_result(1_000)
        .memory()
        .unwrap();
    let warnings = std::sync::Arc::new(redis_debounce_tests::Warnings::default());
    tracing::subscriber::with_default(warnings.clone(), || {
        report_sync(&debouncer, 1, 100).unwrap();
        assert_eq!(warnings.count(), 0, "it fits");
        report_sync(&debouncer, 2, 2_000).unwrap();
        assert_eq!(warnings.count(), 1, "too large to store");
    });
}
