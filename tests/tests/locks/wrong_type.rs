//! A lock key that holds another Redis type gives a typed error, never
//! "busy" and never an overwrite.

use redis_debounce::{Busy, Debouncer, Error, debounce};
use redis_debounce_tests::RedisServer;

#[debounce(key = "cart:{id}", ttl = 30, using = debouncer)]
async fn add(debouncer: &Debouncer, id: u32) -> Result<(), Busy> {
    Ok(())
}

#[debounce(key = "cart:{id}", ttl = 30, using = debouncer)]
fn add_sync(debouncer: &Debouncer, id: u32) -> Result<(), Busy> {
    Ok(())
}

fn assert_wrong_type(answer: Result<(), Busy>) {
    let busy = answer.expect_err("the key is a list");
    assert!(!busy.is_held());
    match busy.error() {
        Some(Error::WrongType { key }) => assert_eq!(key, "debounce:{cart:1}"),
        other => panic!("expected WrongType, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_in_the_lock_key() {
    let server = RedisServer::start();
    let mut raw = server.connection();
    redis::cmd("RPUSH")
        .arg("debounce:{cart:1}")
        .arg("x")
        .exec(&mut raw)
        .unwrap();

    let debouncer = Debouncer::open(&server.url()).unwrap();
    assert_wrong_type(add(&debouncer, 1).await);
    let sync_debouncer = debouncer.clone();
    assert_wrong_type(
        tokio::task::spawn_blocking(move || add_sync(&sync_debouncer, 1))
            .await
            .unwrap(),
    );

    let len: usize = redis::cmd("LLEN")
        .arg("debounce:{cart:1}")
        .query(&mut raw)
        .unwrap();
    assert_eq!(len, 1, "the list was left alone");
}

#[debounce(key = "order:{id}", ttl = 30, fence, using = debouncer)]
async fn fenced(debouncer: &Debouncer, id: u32) -> Result<(), Busy> {
    Ok(())
}

/// A lock script that fails on the server (here the fencing counter holds
/// text, so its `INCR` fails) is `Error::Script`, never "held".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_script_is_a_script_error() {
    let server = RedisServer::start();
    let mut raw = server.connection();
    redis::cmd("SET")
        .arg("debounce:{order:1}:fence")
        .arg("not a number")
        .exec(&mut raw)
        .unwrap();
    let debouncer = Debouncer::open(&server.url()).unwrap();
    let busy = fenced(&debouncer, 1).await.expect_err("INCR fails");
    assert!(!busy.is_held(), "{busy}");
    assert!(
        matches!(busy.error(), Some(Error::Script { .. })),
        "{busy:?}"
    );
}

/// A server that refuses the command (a read-only replica) is
/// `Error::Backend`, never "held".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_command_is_a_backend_error() {
    // A replica of a master that is not there: it answers, read-only.
    let server = RedisServer::start_with(&["--replicaof", "127.0.0.1", "1"]);
    let debouncer = Debouncer::open(&server.url()).unwrap();
    let busy = add(&debouncer, 1).await.expect_err("READONLY");
    assert!(!busy.is_held(), "{busy}");
    assert!(
        matches!(busy.error(), Some(Error::Backend { .. })),
        "{busy:?}"
    );
    let sync_debouncer = debouncer.clone();
    let busy = tokio::task::spawn_blocking(move || add_sync(&sync_debouncer, 1))
        .await
        .unwrap()
        .expect_err("READONLY");
    assert!(
        matches!(busy.error(), Some(Error::Backend { .. })),
        "{busy:?}"
    );
}

/// An error reply about the request (a wrong-type key) is the request's
/// answer, not a broken connection: it is not sent again, and the
/// connection is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_type_answer_keeps_the_connection() {
    let server = RedisServer::start();
    redis::cmd("RPUSH")
        .arg("debounce:{cart:1}")
        .arg("x")
        .exec(&mut server.connection())
        .unwrap();
    let debouncer = Debouncer::open(&server.url()).unwrap();
    // The connection is open (connection 1 of this server's count).
    add(&debouncer, 2).await.expect("free");
    debouncer.flush().await.unwrap();
    let before = server.info_stat("total_connections_received");
    for _ in 0..3 {
        assert_wrong_type(add(&debouncer, 1).await);
    }
    add(&debouncer, 3).await.expect("free");
    debouncer.flush().await.unwrap();
    // (`info_stat` opens a connection of its own, counted once.)
    let made = server.info_stat("total_connections_received") - before - 1;
    assert_eq!(made, 0, "connections made for three wrong-type answers");
}

/// A release that fails for good (the lock key turned into a list under
/// it, so the release script meets `WRONGTYPE`): it is not sent again, and
/// the next `flush` reports it, once, with the lock's full key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flush_reports_a_release_that_failed_for_good() {
    let server = RedisServer::start();
    let debouncer = Debouncer::open(&server.url()).unwrap();
    let guard = debouncer
        .try_lock("turned", std::time::Duration::from_secs(60))
        .await
        .unwrap();
    let mut raw = server.connection();
    redis::cmd("DEL")
        .arg("debounce:{turned}")
        .exec(&mut raw)
        .unwrap();
    redis::cmd("RPUSH")
        .arg("debounce:{turned}")
        .arg("x")
        .exec(&mut raw)
        .unwrap();
    drop(guard);
    let flushed = debouncer.flush().await;
    assert!(
        matches!(&flushed, Err(Error::WrongType { key }) if key == "debounce:{turned}"),
        "the failed release is reported, with its full key: {flushed:?}"
    );
    let commands = || server.info_stat("total_commands_processed");
    // What a flush and a count cost with nothing else sent.
    let before = commands();
    debouncer.flush().await.expect("reported once");
    let idle = commands() - before;
    // The release is not sent again: the next flush costs no more.
    let before = commands();
    debouncer.flush().await.unwrap();
    assert_eq!(
        commands() - before,
        idle,
        "the failed release was sent again"
    );
}
