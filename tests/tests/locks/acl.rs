//! A Redis user limited to the key prefix and to the commands the crate
//! uses (the ACL line the README documents) runs every policy; a user
//! without a needed permission gets a typed error that names it, never
//! "held".

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use redis_debounce::{Busy, Debouncer, Error, debounce, lease};
use redis_debounce_tests::RedisServer;

/// The README's minimal ACL rule for redis-debounce (prefix `debounce:`).
const RULE: &str = "on >app-secret ~debounce:* resetchannels -@all \
    +ping +set +eval +evalsha +script|load +blpop \
    +get +del +incr +time +pttl +pexpire +append +exists +rpush";

#[debounce(
    key = "order:{id}",
    ttl = "2s",
    wait = "30s",
    cooldown = "1h",
    replay = "1h",
    renew,
    fence,
    using = debouncer
)]
async fn order(debouncer: &Debouncer, id: u32, runs: &AtomicUsize) -> Result<u64, Busy> {
    runs.fetch_add(1, Ordering::SeqCst);
    Ok(lease().and_then(|lease| lease.fence()).expect("fence"))
}

#[debounce(key = "plain:{id}", ttl = 30, using = debouncer)]
fn plain(debouncer: &Debouncer, id: u32) -> Result<(), Busy> {
    Ok(())
}

fn as_user(server: &RedisServer, user: &str, rule: &str) -> Debouncer {
    let mut admin = server.connection();
    let mut command = redis::cmd("ACL");
    command.arg("SETUSER").arg(user);
    for part in rule.split_whitespace() {
        command.arg(part);
    }
    command.exec(&mut admin).expect("ACL SETUSER");
    let url = format!("{}?user={user}&pass=app-secret", server.url());
    Debouncer::open(&url).expect("url")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_acl_runs_every_policy() {
    let server = RedisServer::start();
    let debouncer = as_user(&server, "app", RULE);
    let runs = AtomicUsize::new(0);
    let first = order(&debouncer, 1, &runs).await.expect("every policy");
    let (a, b) = tokio::join!(order(&debouncer, 1, &runs), order(&debouncer, 1, &runs));
    assert_eq!((a.unwrap(), b.unwrap()), (first, first), "replayed");
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    // A waiter on a held key (BLPOP), released by the holder.
    let held = debouncer
        .try_lock("busy", Duration::from_secs(30))
        .await
        .unwrap();
    let waiter = debouncer
        .lock("busy", Duration::from_secs(30))
        .wait(Duration::from_secs(30))
        .acquire();
    let (next, released) = tokio::join!(waiter, held.release());
    assert!(released.unwrap());
    drop(next.expect("woken"));
    let sync_debouncer = debouncer.clone();
    tokio::task::spawn_blocking(move || plain(&sync_debouncer, 1))
        .await
        .unwrap()
        .expect("sync calls too");
    debouncer.flush().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_permission_is_a_typed_error_that_names_it() {
    let server = RedisServer::start();
    // Everything but the scripts.
    let rule = RULE.replace("+eval +evalsha ", "");
    let debouncer = as_user(&server, "no-scripts", &rule);
    let runs = AtomicUsize::new(0);
    let busy = order(&debouncer, 2, &runs).await.expect_err("no EVAL");
    assert!(!busy.is_held(), "{busy}");
    match busy.error() {
        Some(error @ Error::Backend { .. }) => {
            assert!(
                error.to_string().to_lowercase().contains("noperm"),
                "{error}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(runs.load(Ordering::SeqCst), 0);
    // Outside its key prefix, even the plain SET is refused.
    let other = Debouncer::builder()
        .prefix("other:")
        .open(&format!("{}?user=no-scripts&pass=app-secret", server.url()))
        .unwrap();
    let busy = other
        .try_lock("k", Duration::from_secs(30))
        .await
        .unwrap_err();
    assert!(!busy.is_held(), "{busy}");
    assert!(
        busy.error()
            .is_some_and(|error| error.to_string().to_lowercase().contains("noperm")),
        "{busy:?}"
    );
}

/// `Debug` of a `Debouncer` tells where it connects, never the password.
#[test]
fn debug_shows_the_address_not_the_password() {
    let server = RedisServer::start();
    let debouncer = as_user(&server, "shown", RULE);
    let shown = format!("{debouncer:?}");
    assert!(shown.contains("RedisBackend"), "{shown}");
    assert!(shown.contains("redis.sock"), "the address: {shown}");
    assert!(shown.contains("response_timeout"), "{shown}");
    assert!(!shown.contains("app-secret"), "{shown}");
}
