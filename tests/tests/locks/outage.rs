//! Redis stopped mid-run: calls fail per `on_error` within the timeout, and
//! the same `Debouncer` works again once Redis is back on the same port.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use redis_debounce::{Busy, Debouncer, Error, debounce};
use redis_debounce_tests::{RedisServer, Warnings, temp_dir, unix_url};

const TIMEOUT: Duration = Duration::from_millis(300);
/// The configured budget (connect + response, 600 ms) with a margin wide
/// enough for a loaded 2-core machine: a call without a bound would hang
/// forever, so any finite bound tells the two apart.
const FAILS_WITHIN: Duration = Duration::from_secs(20);
const RECOVERS_WITHIN: Duration = Duration::from_secs(30);

static ALLOWED_RUNS: AtomicUsize = AtomicUsize::new(0);

#[debounce(key = "pay:{id}", ttl = 30, using = debouncer)]
async fn pay(debouncer: &Debouncer, id: u32) -> Result<u32, Busy> {
    Ok(id)
}

/// Set by a body that ran without the lock and found no lease.
static NO_LEASE: AtomicBool = AtomicBool::new(false);

#[debounce(key = "pay:{id}", ttl = 30, using = debouncer, on_error = "allow")]
async fn pay_anyway(debouncer: &Debouncer, id: u32) -> Result<u32, Busy> {
    ALLOWED_RUNS.fetch_add(1, Ordering::SeqCst);
    NO_LEASE.store(redis_debounce::lease().is_none(), Ordering::SeqCst);
    Ok(id)
}

/// Set by the sync body that ran without the lock and found no lease.
static NO_LEASE_SYNC: AtomicBool = AtomicBool::new(false);

#[debounce(key = "pay:{id}", ttl = 30, using = debouncer, on_error = "allow")]
fn pay_anyway_sync(debouncer: &Debouncer, id: u32) -> Result<u32, Busy> {
    NO_LEASE_SYNC.store(redis_debounce::lease().is_none(), Ordering::SeqCst);
    Ok(id)
}

#[debounce(key = "pay:{id}", ttl = 30, using = debouncer)]
fn pay_sync(debouncer: &Debouncer, id: u32) -> Result<u32, Busy> {
    Ok(id)
}

fn assert_unavailable(answer: Result<u32, Busy>) {
    let busy = answer.expect_err("Redis is down");
    assert!(!busy.is_held(), "a failure reported as held: {busy}");
    assert!(!busy.is_cooling_down() && !busy.is_mismatch(), "{busy:?}");
    // The error is the `Busy`'s source, for error reporters that walk it.
    let source = std::error::Error::source(&busy).expect("the backend error");
    assert_eq!(source.to_string(), busy.error().unwrap().to_string());
    assert!(
        matches!(
            busy.error(),
            Some(Error::Connection { .. } | Error::Timeout { .. })
        ),
        "{busy:?}"
    );
}

/// A `Debouncer` on `url` with short timeouts.
fn impatient(url: &str) -> Debouncer {
    Debouncer::builder()
        .connect_timeout(TIMEOUT)
        .response_timeout(TIMEOUT)
        .open(url)
        .unwrap()
}

/// Calls until one succeeds: the connections reconnect in the background,
/// so calls succeed again within a bounded time, through the same handle.
async fn await_recovery(debouncer: &Debouncer, id: u32) {
    let deadline = Instant::now() + RECOVERS_WITHIN;
    loop {
        match pay(debouncer, id).await {
            Ok(paid) => {
                assert_eq!(paid, id);
                return;
            }
            Err(busy) => {
                assert!(!busy.is_held(), "{busy}");
                assert!(Instant::now() < deadline, "no recovery: {busy}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_then_recovery() {
    let mut server = RedisServer::start();
    let debouncer = impatient(&server.url());
    assert_eq!(pay(&debouncer, 1).await.unwrap(), 1);
    // The sync call below meets the async call's release done: both go
    // through the Debouncer's one connection, in order.
    let sync_debouncer = debouncer.clone();
    assert_eq!(
        tokio::task::spawn_blocking(move || pay_sync(&sync_debouncer, 1))
            .await
            .unwrap()
            .unwrap(),
        1
    );

    server.stop();

    let started = Instant::now();
    assert_unavailable(pay(&debouncer, 2).await);
    assert!(
        started.elapsed() < FAILS_WITHIN,
        "took {:?}",
        started.elapsed()
    );

    let started = Instant::now();
    let warnings = Arc::new(Warnings::default());
    let ran = {
        let _logged = tracing::subscriber::set_default(warnings.clone());
        pay_anyway(&debouncer, 3).await
    };
    assert_eq!(ran.unwrap(), 3, "on_error = allow runs the body");
    assert_eq!(ALLOWED_RUNS.load(Ordering::SeqCst), 1);
    assert!(
        NO_LEASE.load(Ordering::SeqCst),
        "a body run without the lock has no lease"
    );
    assert_eq!(warnings.count(), 1, "one warning says it ran unlocked");
    assert!(
        started.elapsed() < FAILS_WITHIN,
        "took {:?}",
        started.elapsed()
    );

    let sync_debouncer = debouncer.clone();
    let started = Instant::now();
    assert_unavailable(
        tokio::task::spawn_blocking(move || pay_sync(&sync_debouncer, 4))
            .await
            .unwrap(),
    );
    assert!(
        started.elapsed() < FAILS_WITHIN,
        "took {:?}",
        started.elapsed()
    );

    // The same for a sync fn: it runs unlocked, without a lease, and says so.
    let sync_debouncer = debouncer.clone();
    let started = Instant::now();
    let (ran, warned) = tokio::task::spawn_blocking(move || {
        let warnings = Arc::new(Warnings::default());
        let _logged = tracing::subscriber::set_default(warnings.clone());
        (pay_anyway_sync(&sync_debouncer, 7), warnings.count())
    })
    .await
    .unwrap();
    assert_eq!(ran.unwrap(), 7, "on_error = allow runs the sync body");
    assert!(NO_LEASE_SYNC.load(Ordering::SeqCst), "no lease unlocked");
    assert_eq!(warned, 1, "one warning says the sync fn ran unlocked");
    assert!(
        started.elapsed() < FAILS_WITHIN,
        "took {:?}",
        started.elapsed()
    );

    server.restart();

    await_recovery(&debouncer, 5).await;
    let sync_debouncer = debouncer.clone();
    assert_eq!(
        tokio::task::spawn_blocking(move || pay_sync(&sync_debouncer, 6))
            .await
            .unwrap()
            .unwrap(),
        6
    );
}

#[tokio::test]
async fn unreachable_server_from_the_start() {
    // A socket path in a fresh directory of this test's: nothing listens
    // there, and nothing else can start listening there.
    let dir = temp_dir("nowhere");
    let debouncer = impatient(&unix_url(&dir.join("redis.sock")));
    let started = Instant::now();
    let answer = pay(&debouncer, 1).await;
    // The chain reaches the operating system's error, for reporters that
    // walk it: Busy -> Error -> the client's error -> the I/O error.
    if let Err(busy) = &answer {
        let backend =
            std::error::Error::source(busy.error().expect("an error")).expect("the client's error");
        let io = std::error::Error::source(backend).expect("the I/O error under it");
        assert!(io.to_string().contains("No such file"), "{io:?}");
    }
    assert_unavailable(answer);
    assert!(
        started.elapsed() < FAILS_WITHIN,
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hung_server_times_out() {
    let server = RedisServer::start();
    let debouncer = impatient(&server.url());
    assert_eq!(pay(&debouncer, 1).await.unwrap(), 1);

    server.pause();
    let started = Instant::now();
    let busy = pay(&debouncer, 2).await.expect_err("Redis is frozen");
    let elapsed = started.elapsed();
    assert!(
        matches!(busy.error(), Some(Error::Timeout { .. })),
        "{busy:?}"
    );
    assert!(
        elapsed >= TIMEOUT,
        "gave up before the timeout: {elapsed:?}"
    );
    assert!(elapsed < FAILS_WITHIN, "took {elapsed:?}");

    let sync_debouncer = debouncer.clone();
    let started = Instant::now();
    let answer = tokio::task::spawn_blocking(move || pay_sync(&sync_debouncer, 3))
        .await
        .unwrap();
    let busy = answer.expect_err("frozen");
    assert!(
        matches!(busy.error(), Some(Error::Timeout { .. })),
        "{busy:?}"
    );
    assert!(
        started.elapsed() < FAILS_WITHIN,
        "took {:?}",
        started.elapsed()
    );

    server.resume();
    await_recovery(&debouncer, 4).await;
}

/// `rediss://` against a server that does not speak TLS: the handshake
/// fails as a typed error (rustls has its crypto provider), never a panic.
#[cfg(feature = "tls")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_handshake_failure_is_a_typed_error() {
    let server = RedisServer::start_tcp();
    let debouncer = impatient(&format!("rediss://127.0.0.1:{}/", server.port()));
    let started = Instant::now();
    assert_unavailable(pay(&debouncer, 1).await);
    assert!(
        started.elapsed() < FAILS_WITHIN,
        "took {:?}",
        started.elapsed()
    );
    let sync_debouncer = debouncer.clone();
    let answer = tokio::task::spawn_blocking(move || pay_sync(&sync_debouncer, 2))
        .await
        .unwrap();
    assert_unavailable(answer);
}

/// Without a builder, requests time out after the default 1 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_response_timeout_is_one_second() {
    let server = RedisServer::start();
    let debouncer = Debouncer::open(&server.url()).unwrap();
    assert_eq!(pay(&debouncer, 1).await.unwrap(), 1);
    server.pause();
    let started = Instant::now();
    let busy = pay(&debouncer, 2).await.expect_err("frozen");
    let took = started.elapsed();
    server.resume();
    match busy.error() {
        Some(Error::Timeout { after }) => assert_eq!(*after, Duration::from_secs(1)),
        other => panic!("{other:?}"),
    }
    assert!(took >= Duration::from_secs(1), "gave up early: {took:?}");
}

/// The connect timeout bounds opening a connection: a server that accepts
/// and never answers fails the first call after the connect timeout, long
/// before the (here much longer) response timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connect_timeout_bounds_connecting() {
    let (_dir, socket, mute) = mute_server();
    let debouncer = Debouncer::builder()
        .connect_timeout(TIMEOUT)
        .response_timeout(Duration::from_secs(120))
        .open(&unix_url(&socket))
        .unwrap();
    let started = Instant::now();
    assert_unavailable(pay(&debouncer, 1).await);
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(60),
        "not bounded by connecting: {took:?}"
    );
    drop(mute);
}

/// A Unix socket that accepts connections, keeps them, and never answers;
/// its directory goes when the returned guard is dropped.
fn mute_server() -> (
    redis_debounce_tests::TempDir,
    std::path::PathBuf,
    std::thread::JoinHandle<()>,
) {
    let dir = temp_dir("mute");
    let socket = dir.join("redis.sock");
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let mute = std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().take(4) {
            held.push(stream);
        }
    });
    (dir, socket, mute)
}

/// Without a builder, connecting gives up after the default 1 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_connect_timeout_is_one_second() {
    let (_dir, socket, mute) = mute_server();
    let debouncer = Debouncer::open(&unix_url(&socket)).unwrap();
    // The bound itself, exactly (the time below only bounds it from below).
    let settings = format!("{debouncer:?}");
    assert!(settings.contains("connect_timeout: 1s"), "{settings}");
    let started = Instant::now();
    assert_unavailable(pay(&debouncer, 1).await);
    let took = started.elapsed();
    assert!(took >= Duration::from_secs(1), "gave up early: {took:?}");
    assert!(took < FAILS_WITHIN, "not bounded: {took:?}");
    drop(mute);
}
