//! Keys that cannot collide: each placeholder's value is percent-encoded
//! (but for ASCII letters, digits, `-`, `_`, `.` and `~`), so distinct
//! arguments never render the same key, no value can move the Redis
//! Cluster hash tag, and an overlong key is shortened by its SHA-256.

use proptest::prelude::*;
use redis_debounce::{Busy, Debouncer, debounce, lease};
use redis_debounce_tests::RedisServer;

/// The logical key a call renders, read back from its lease.
#[debounce(key = "pay:{tenant}:{key}", ttl = 30, using = debouncer)]
fn pay(debouncer: &Debouncer, tenant: &str, key: &str) -> Result<String, Busy> {
    Ok(lease().expect("inside the body").key().to_owned())
}

#[debounce(key = "doc:{id}", ttl = 30, using = debouncer)]
async fn doc(debouncer: &Debouncer, id: &str, server: &RedisServer) -> Result<Vec<String>, Busy> {
    Ok(server.keys())
}

#[test]
fn the_known_collisions_render_apart() {
    let debouncer = Debouncer::memory();
    let render = |tenant: &str, key: &str| pay(&debouncer, tenant, key).unwrap();
    // Tenant `a` with key `b:c`, and tenant `a:b` with key `c`: one lock
    // (and one stored response) before keys were encoded.
    assert_eq!(render("a", "b:c"), "pay:a:b%3Ac");
    assert_eq!(render("a:b", "c"), "pay:a%3Ab:c");
    // `%` itself, so that an encoded-looking value stays apart.
    assert_eq!(render("a", "%3A"), "pay:a:%253A");
    assert_ne!(render("a", "%3A"), render("a", ":"));
    // Braces, unicode, spaces, empty values.
    assert_eq!(render("{x}", "}"), "pay:%7Bx%7D:%7D");
    assert_eq!(render("é", "日"), "pay:%C3%A9:%E6%97%A5");
    assert_eq!(render("a b", ""), "pay:a%20b:");
    assert_ne!(render("", ":"), render(":", ""));
    // Plain ids stay readable.
    assert_eq!(
        render("acme-01", "order_7.v2~x"),
        "pay:acme-01:order_7.v2~x"
    );
}

#[test]
fn a_held_key_is_not_anothers() {
    let debouncer = Debouncer::memory();
    let held = debouncer
        .try_lock_blocking("pay:a:b%3Ac", std::time::Duration::from_secs(30))
        .unwrap();
    assert!(pay(&debouncer, "a", "b:c").unwrap_err().is_held());
    assert_eq!(
        pay(&debouncer, "a:b", "c").unwrap(),
        "pay:a%3Ab:c",
        "another tenant's call is not turned away"
    );
    drop(held);
}

#[test]
fn an_overlong_key_is_shortened_by_its_hash() {
    let debouncer = Debouncer::memory();
    let long = "k".repeat(10_000);
    let one = pay(&debouncer, "a", &long).unwrap();
    let other = pay(&debouncer, "a", &format!("{long}x")).unwrap();
    for key in [&one, &other] {
        assert_eq!(key.len(), 514, "{key}");
        let (_, hash) = key.rsplit_once("%#").expect("the hash");
        assert!(hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()));
    }
    assert_ne!(one, other, "the tails differ, so do the hashes");
    assert!(one.starts_with("pay:a:kkk"));
    // The shortened key, passed back by hand, is the same lock.
    let held = debouncer
        .try_lock_blocking(&one, std::time::Duration::from_secs(30))
        .unwrap();
    assert!(pay(&debouncer, "a", &long).unwrap_err().is_held());
    drop(held);
}

/// In Redis: the lock's key is `<prefix>{<rendered>}` with one pair of
/// braces, whatever braces the values hold: the hash tag is the whole
/// rendered key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_never_move_the_hash_tag() {
    let server = RedisServer::start();
    let debouncer = Debouncer::open(&server.url()).unwrap();
    let keys = doc(&debouncer, "}{a}:{", &server).await.unwrap();
    assert_eq!(keys, ["debounce:{doc:%7D%7Ba%7D%3A%7B}"]);
}

proptest! {
    /// Two different argument lists never render the same key.
    #[test]
    fn distinct_arguments_render_distinct_keys(
        // A small alphabet with the separator, `%` and braces, so that a
        // naive rendering would collide often; and any printable text.
        one in ("[a:b%{}]{0,4}", "[a:b%{}]{0,4}"),
        two in ("[a:b%{}]{0,4}", "[a:b%{}]{0,4}"),
        any in ("\\PC{0,8}", "\\PC{0,8}"),
    ) {
        let debouncer = Debouncer::memory();
        let render = |(tenant, key): &(String, String)| pay(&debouncer, tenant, key).unwrap();
        for (left, right) in [(&one, &two), (&one, &any), (&any, &two)] {
            if left != right {
                prop_assert_ne!(render(left), render(right));
            }
        }
        // No value puts a brace in the rendered key.
        let rendered = render(&any);
        prop_assert!(!rendered.contains(['{', '}']), "a brace in {}", rendered);
    }
}
