//! What lands in Redis: `<prefix>{<key>}` holding a 16-byte owner token with
//! the lease as its expiry, and a busy answer that carries the time left.

use std::time::Duration;

use redis_debounce::{Busy, Debouncer, debounce};
use redis_debounce_tests::RedisServer;

#[debounce(key = "order:{id}", ttl = "5m", using = debouncer)]
async fn order(
    debouncer: &Debouncer,
    id: u32,
    inside: tokio::sync::oneshot::Sender<()>,
    leave: tokio::sync::oneshot::Receiver<()>,
) -> Result<(), Busy> {
    let _ = inside.send(());
    let _ = leave.await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_key_token_and_lease() {
    let server = RedisServer::start();
    let debouncer = Debouncer::builder()
        .prefix("shop:")
        .open(&server.url())
        .unwrap();
    let (inside_tx, inside) = tokio::sync::oneshot::channel();
    let (leave, leave_rx) = tokio::sync::oneshot::channel();
    let task = tokio::spawn({
        let debouncer = debouncer.clone();
        async move { order(&debouncer, 7, inside_tx, leave_rx).await }
    });
    inside.await.unwrap();

    let mut raw = server.connection();
    let keys: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut raw).unwrap();
    assert_eq!(keys, ["shop:{order:7}"]);
    let token: Vec<u8> = redis::cmd("GET")
        .arg("shop:{order:7}")
        .query(&mut raw)
        .unwrap();
    assert_eq!(token.len(), 16);
    let pttl: i64 = redis::cmd("PTTL")
        .arg("shop:{order:7}")
        .query(&mut raw)
        .unwrap();
    assert!((290_000..=300_000).contains(&pttl), "{pttl}");

    let (other_inside, _) = tokio::sync::oneshot::channel();
    let (_, other_leave) = tokio::sync::oneshot::channel();
    let busy = order(&debouncer, 7, other_inside, other_leave)
        .await
        .unwrap_err();
    assert!(busy.is_held());
    assert_eq!(busy.key(), "order:7");
    let retry = busy.retry_after().expect("Redis reports the time left");
    assert!(
        retry > Duration::from_secs(290) && retry <= Duration::from_secs(300),
        "{retry:?}"
    );

    leave.send(()).unwrap();
    task.await.unwrap().unwrap();
    // The queued release runs before this request on the same connection.
    drop(
        debouncer
            .try_lock("order:7", Duration::from_secs(1))
            .await
            .unwrap(),
    );
}

#[test]
fn urls_and_prefixes_are_validated_without_io() {
    for url in [
        "redis://127.0.0.1/",
        "redis://:secret@localhost:6380/2",
        "redis+unix:///tmp/redis.sock",
    ] {
        Debouncer::open(url).unwrap_or_else(|e| panic!("{url}: {e}"));
    }
    for url in ["http://127.0.0.1/", "127.0.0.1:6379", "", "redis://[::1"] {
        let err = Debouncer::open(url).unwrap_err();
        assert!(
            matches!(err, redis_debounce::Error::Config { .. }),
            "{url}: {err:?}"
        );
    }
    // Accepted with the `tls` feature, else refused with a pointer to it.
    let tls = Debouncer::open("rediss://127.0.0.1/");
    if cfg!(feature = "tls") {
        tls.expect("rediss:// with the tls feature");
    } else {
        let err = tls.expect_err("rediss:// without the tls feature");
        assert!(err.to_string().contains("`tls` feature"), "{err}");
    }
    for prefix in ["a{", "}b"] {
        let err = Debouncer::builder().prefix(prefix).memory().unwrap_err();
        assert!(err.to_string().contains("may not contain"), "{err}");
    }
    for builder in [
        Debouncer::builder().response_timeout(Duration::ZERO),
        Debouncer::builder().connect_timeout(Duration::ZERO),
    ] {
        let err = builder.open("redis://127.0.0.1/").unwrap_err();
        assert!(matches!(err, redis_debounce::Error::Config { .. }), "{err}");
    }
}

#[tokio::test]
async fn zero_lease_is_a_typed_error() {
    let busy = Debouncer::memory()
        .try_lock("k", Duration::ZERO)
        .await
        .unwrap_err();
    assert!(
        matches!(busy.error(), Some(redis_debounce::Error::Config { .. })),
        "{busy:?}"
    );
}

#[debounce(key = "report:{day}", ttl = 300, using = debouncer)]
async fn report(
    debouncer: &Debouncer,
    day: u32,
    pttl: &mut i64,
    server: &RedisServer,
) -> Result<(), Busy> {
    *pttl = redis::cmd("PTTL")
        .arg(format!("debounce:{{report:{day}}}"))
        .query(&mut server.connection())
        .unwrap();
    Ok(())
}

/// An integer `ttl` is whole seconds: `ttl = 300` is a five-minute lease.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_integer_ttl_is_seconds() {
    let server = RedisServer::start();
    let debouncer = Debouncer::open(&server.url()).unwrap();
    let mut pttl = 0;
    report(&debouncer, 1, &mut pttl, &server).await.unwrap();
    assert!((290_000..=300_000).contains(&pttl), "{pttl}");
}

/// Clones of one `Debouncer` share one multiplexed connection for async
/// calls on a runtime, however many calls run at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_calls_share_one_connection() {
    let server = RedisServer::start();
    let debouncer = Debouncer::open(&server.url()).unwrap();
    let calls: Vec<_> = (0..64)
        .map(|n| {
            let debouncer = debouncer.clone();
            tokio::spawn(async move {
                for _ in 0..10 {
                    drop(
                        debouncer
                            .try_lock(&format!("share:{n}"), Duration::from_secs(30))
                            .await,
                    );
                }
            })
        })
        .collect();
    for call in calls {
        call.await.unwrap();
    }
    let mut observer = server.connection();
    let clients: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query(&mut observer)
        .unwrap();
    assert_eq!(
        clients.lines().count(),
        2,
        "one connection of the Debouncer and the observer:\n{clients}"
    );
}
