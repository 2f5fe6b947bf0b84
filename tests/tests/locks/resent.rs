//! An acquire sent a second time with the same token (redis-rs's cluster
//! client resends a request on a new connection when the first one's
//! answer was lost) finds the key its own: taken, never "held" by itself.

use redis_debounce_tests::RedisServer;

/// The acquire script as the library sends it: the wake-up prelude, then
/// the script.
fn acquire_script() -> redis::Script {
    redis::Script::new(concat!(
        include_str!("../../../runtime/src/scripts/wake.lua"),
        include_str!("../../../runtime/src/scripts/acquire.lua")
    ))
}

fn acquire(conn: &mut redis::Connection, token: &str, flags: u8, wait_ms: u64) -> (i64, i64) {
    let key = "debounce:{resent}";
    acquire_script()
        .key(key)
        .key(format!("{key}:fence"))
        .key(format!("{key}:waiting"))
        .key(format!("{key}:signal"))
        .key(format!("{key}:result"))
        .arg(token)
        .arg(30_000)
        .arg(flags)
        .arg(wait_ms)
        .invoke(conn)
        .expect("the acquire script")
}

#[test]
fn an_acquire_sent_again_finds_the_key_its_own() {
    let server = RedisServer::start();
    let mut conn = server.connection();
    let token = "0123456789abcdef";
    assert_eq!(acquire(&mut conn, token, 0, 0).0, 0, "taken");
    // Sent again: still taken, its lease set afresh.
    let _: () = redis::cmd("PEXPIRE")
        .arg("debounce:{resent}")
        .arg(1_000)
        .query(&mut conn)
        .unwrap();
    assert_eq!(acquire(&mut conn, token, 0, 0).0, 0, "taken again");
    let pttl: u64 = redis::cmd("PTTL")
        .arg("debounce:{resent}")
        .query(&mut conn)
        .unwrap();
    assert!(pttl > 1_000, "the lease set afresh: {pttl} ms");
    // Also once a waiter flagged it, and with a fencing token, which grows.
    let (_, first) = acquire(&mut conn, token, 1, 0);
    let (state, _) = acquire(&mut conn, "fedcba9876543210", 0, 5_000);
    assert_eq!(state, 1, "another caller finds it held, and flags it");
    let value: String = redis::cmd("GET")
        .arg("debounce:{resent}")
        .query(&mut conn)
        .unwrap();
    assert_eq!(value, format!("{token}+"));
    let (state, second) = acquire(&mut conn, token, 1, 0);
    assert_eq!(state, 0, "its own, flagged");
    assert!(second > first, "{second} after {first}");
    // Anyone else still finds it held.
    assert_eq!(acquire(&mut conn, "fedcba9876543210", 0, 0).0, 1);
}
