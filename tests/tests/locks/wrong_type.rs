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
