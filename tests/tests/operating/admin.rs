//! The admin API (`Debouncer::admin`) on every backend: list, inspect,
//! release and purge real locks, held by the same `Debouncer` an app uses.

use std::time::Duration;

use redis_debounce::{Acquired, Debouncer, LockState};
use redis_debounce_tests::{Backend, RedisServer, on_both_backends};

use crate::spawn_waiter;

const LONG: Duration = Duration::from_secs(60);

on_both_backends! {
    lists_every_lock_with_its_state => super::lists_every_lock_with_its_state;
    releases_whoever_holds_a_lock_and_wakes_a_waiter => super::releases_whoever_holds_a_lock_and_wakes_a_waiter;
    purges_a_prefix_but_keeps_the_fencing_counters => super::purges_a_prefix_but_keeps_the_fencing_counters;
    a_limit_lists_the_first_locks_by_key => super::a_limit_lists_the_first_locks_by_key;
    a_stale_cooldown_is_left_alone => super::a_stale_cooldown_is_left_alone;
    a_renewed_or_flagged_holder_is_still_the_one_read => super::a_renewed_or_flagged_holder_is_still_the_one_read;
}

/// Held, cooling down and stored-only locks are listed under their prefix
/// with what each holds, sorted; on a cluster from every master.
async fn lists_every_lock_with_its_state(backend: Backend) {
    let debouncer = &backend.debouncer;
    let admin = debouncer.admin();
    let fenced = debouncer
        .lock("adm:1", LONG)
        .fence()
        .acquire()
        .await
        .unwrap();
    let _held = debouncer.try_lock("adm:2", LONG).await.unwrap();
    let cooling = debouncer.try_lock("adm:3", LONG).await.unwrap();
    assert!(cooling.cool_down(LONG).await.unwrap());
    let Acquired::Locked(storing) = debouncer
        .lock("adm:4", LONG)
        .acquire_or_replay::<String>()
        .await
        .unwrap()
    else {
        panic!("nothing stored yet")
    };
    assert!(storing.complete("receipt", LONG).await.unwrap());
    let _other = debouncer.try_lock("other:1", LONG).await.unwrap();
    // Enough keys that a cluster's three masters each hold some.
    let mut many = Vec::new();
    for n in 0..12 {
        many.push(
            debouncer
                .try_lock(&format!("adm:many:{n:02}"), LONG)
                .await
                .unwrap(),
        );
    }

    let expect_nodes = matches!(
        backend.topology,
        Some(redis_debounce_tests::Topology::Redlock(_))
    );
    let listed = admin.list("adm:", 100).await.unwrap();
    let keys: Vec<&str> = listed.iter().map(|lock| lock.key.as_str()).collect();
    let mut expected = vec!["adm:1", "adm:2", "adm:3", "adm:4"];
    let many_keys: Vec<String> = (0..12).map(|n| format!("adm:many:{n:02}")).collect();
    expected.extend(many_keys.iter().map(String::as_str));
    assert_eq!(keys, expected);
    let states: Vec<LockState> = listed.iter().take(4).map(|lock| lock.state).collect();
    assert_eq!(
        states,
        [
            LockState::Held,
            LockState::Held,
            LockState::CoolingDown,
            LockState::Free
        ]
    );
    // (On Redlock, the largest node's: at least the token handed out.)
    assert!(listed[0].fence >= fenced.lease().fence(), "{:?}", listed[0]);
    if !expect_nodes {
        assert_eq!(listed[0].fence, fenced.lease().fence());
    }
    assert_eq!(listed[1].fence, None);
    for lock in &listed[..3] {
        let left = lock.expires_in.expect("a lease runs");
        assert!(left <= LONG && left > LONG / 2, "{lock:?}");
    }
    let stored = &listed[3];
    assert!(stored.expires_in.is_none());
    assert!(
        stored
            .stored_bytes
            .is_some_and(|bytes| bytes >= "receipt".len() as u64)
    );
    assert!(stored.stored_expires_in.is_some_and(|left| left <= LONG));
    if expect_nodes {
        // A majority at least: the call stops waiting once it has one.
        assert!(
            matches!(listed[0].nodes, Some((2 | 3, 3))),
            "{:?}",
            listed[0]
        );
    } else {
        assert_eq!(listed[0].nodes, None);
    }

    let all = admin.list("", 100).await.unwrap();
    assert_eq!(all.len(), 17, "every prefix");
    assert!(all.iter().any(|lock| lock.key == "other:1"));
    assert_eq!(admin.list("adm:", 2).await.unwrap().len(), 2, "the limit");
    assert!(admin.list("nothing:", 100).await.unwrap().is_empty());

    let one = admin.inspect("adm:1").await.unwrap();
    assert!(one.expires_in <= listed[0].expires_in);
    assert_eq!(
        (&one.key, one.state, one.waiters, one.stored_bytes),
        (&listed[0].key, listed[0].state, listed[0].waiters, None)
    );
    assert!(one.fence >= listed[0].fence);
    let none = admin.inspect("adm:none").await.unwrap();
    assert_eq!((none.state, none.expires_in), (LockState::Free, None));
    drop(many);
}

/// A released lock is free for the next caller, its holder's own release
/// finds it gone, a waiter is woken; a lock that changed hands since it
/// was read is left alone.
async fn releases_whoever_holds_a_lock_and_wakes_a_waiter(backend: Backend) {
    let debouncer = &backend.debouncer;
    let admin = debouncer.admin();
    let stuck = debouncer.try_lock("job:stuck", LONG).await.unwrap();
    let waiter = spawn_waiter(debouncer, "job:stuck");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while debouncer.stats().waiting == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the waiter never waited"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let seen = admin.inspect("job:stuck").await.unwrap();
    assert_eq!(seen.state, LockState::Held);
    if !backend.is_memory() {
        assert!(seen.waiters, "the waiter flagged it: {seen:?}");
    }
    let started = tokio::time::Instant::now();
    assert!(admin.release(&seen).await.unwrap());
    let next = waiter.await.unwrap().expect("woken and took it");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "woken by the release, not at the end of its wait: {:?}",
        started.elapsed()
    );
    assert!(
        !stuck.release().await.unwrap(),
        "no longer the stuck holder's"
    );

    // `seen` is stale now: the waiter holds the key.
    assert!(
        !admin.release(&seen).await.unwrap(),
        "a new holder is left alone"
    );
    assert_eq!(
        admin.inspect("job:stuck").await.unwrap().state,
        LockState::Held
    );
    let current = admin.inspect("job:stuck").await.unwrap();
    assert!(admin.release(&current).await.unwrap());
    assert!(debouncer.try_lock("job:stuck", LONG).await.is_ok());
    drop(next);

    // A cooldown can be cut short too; a free key has nothing to release.
    let cooling = debouncer.try_lock("sms:1", LONG).await.unwrap();
    assert!(cooling.cool_down(LONG).await.unwrap());
    let window = admin.inspect("sms:1").await.unwrap();
    assert_eq!(window.state, LockState::CoolingDown);
    assert!(admin.release(&window).await.unwrap());
    assert!(debouncer.try_lock("sms:1", LONG).await.is_ok());
    let free = admin.inspect("sms:free").await.unwrap();
    assert!(!admin.release(&free).await.unwrap());
}

/// A dry run counts and removes nothing; a purge removes the locks and
/// stored results under its prefix only, and the next fencing token is
/// still larger than every one handed out.
async fn purges_a_prefix_but_keeps_the_fencing_counters(backend: Backend) {
    let debouncer = &backend.debouncer;
    let admin = debouncer.admin();
    let fenced = debouncer
        .lock("tmp:1", LONG)
        .fence()
        .acquire()
        .await
        .unwrap();
    let first_fence = fenced.lease().fence().unwrap();
    let _held = debouncer.try_lock("tmp:2", LONG).await.unwrap();
    let Acquired::Locked(storing) = debouncer
        .lock("tmp:3", LONG)
        .acquire_or_replay::<u32>()
        .await
        .unwrap()
    else {
        panic!("nothing stored yet")
    };
    assert!(storing.complete(&7, LONG).await.unwrap());
    let _kept = debouncer.try_lock("keep:1", LONG).await.unwrap();

    let dry = admin.purge("tmp:", true).await.unwrap();
    assert_eq!(dry.locks, 3, "{dry:?}");
    assert!(dry.keys >= 3, "{dry:?}");
    assert_eq!(
        admin.list("tmp:", 100).await.unwrap().len(),
        3,
        "nothing removed"
    );

    let purged = admin.purge("tmp:", false).await.unwrap();
    assert_eq!((purged.locks, purged.keys), (dry.locks, dry.keys));
    assert!(admin.list("tmp:", 100).await.unwrap().is_empty());
    assert_eq!(
        admin.list("keep:", 100).await.unwrap().len(),
        1,
        "another prefix is kept"
    );
    let next = debouncer
        .lock("tmp:1", LONG)
        .fence()
        .acquire()
        .await
        .unwrap();
    assert!(
        next.lease().fence().unwrap() > first_fence,
        "fencing tokens only grow"
    );
    // (On Redlock, the largest node's: at least the token handed out.)
    assert!(admin.inspect("tmp:1").await.unwrap().fence >= next.lease().fence());
    let replayed = debouncer
        .lock("tmp:3", LONG)
        .acquire_or_replay::<u32>()
        .await
        .unwrap();
    assert!(
        matches!(replayed, Acquired::Locked(_)),
        "the stored result is gone"
    );
    drop(fenced);
}

/// `limit` keeps the first locks by key, read on every node (on Redlock,
/// the same nodes as an unlimited list), and each released is free.
async fn a_limit_lists_the_first_locks_by_key(backend: Backend) {
    let debouncer = &backend.debouncer;
    let mut guards = Vec::new();
    for n in (0..40).rev() {
        guards.push(
            debouncer
                .try_lock(&format!("r:{n:02}"), LONG)
                .await
                .unwrap(),
        );
    }
    let all = debouncer.admin().list("r:", 1000).await.unwrap();
    assert_eq!(all.len(), 40);
    let first = debouncer.admin().list("r:", 5).await.unwrap();
    let keys: Vec<&str> = first.iter().map(|lock| lock.key.as_str()).collect();
    assert_eq!(keys, ["r:00", "r:01", "r:02", "r:03", "r:04"]);
    for (limited, whole) in first.iter().zip(&all) {
        assert_eq!((&limited.key, limited.nodes), (&whole.key, whole.nodes));
    }
    for lock in &first {
        assert!(debouncer.admin().release(lock).await.unwrap(), "{lock:?}");
    }
    if let Some(other) = backend.open_with(Debouncer::builder()) {
        for lock in &first {
            assert!(
                other.try_lock(&lock.key, LONG).await.is_ok(),
                "{} is free",
                lock.key
            );
        }
    }
    assert_eq!(debouncer.admin().list("r:", 1000).await.unwrap().len(), 35);
}

/// A cooldown read before it ended is not the next call's cooldown: the
/// stale one's release leaves the new one alone.
async fn a_stale_cooldown_is_left_alone(backend: Backend) {
    let debouncer = &backend.debouncer;
    let admin = debouncer.admin();
    let guard = debouncer.try_lock("cd:1", LONG).await.unwrap();
    assert!(guard.cool_down(Duration::from_millis(300)).await.unwrap());
    let stale = admin.inspect("cd:1").await.unwrap();
    assert_eq!(stale.state, LockState::CoolingDown);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let guard = loop {
        if let Ok(guard) = debouncer.try_lock("cd:1", LONG).await {
            break guard;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the cooldown never ended"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(guard.cool_down(LONG).await.unwrap());
    assert!(!admin.release(&stale).await.unwrap(), "a newer cooldown");
    assert_eq!(
        admin.inspect("cd:1").await.unwrap().state,
        LockState::CoolingDown
    );
    let current = admin.inspect("cd:1").await.unwrap();
    assert!(admin.release(&current).await.unwrap());
    assert!(debouncer.try_lock("cd:1", LONG).await.is_ok());
}

/// The holder read is still the one released after it renewed its lease
/// (its deadline moved) and after a waiter flagged its lock (its value
/// gained a `+`).
async fn a_renewed_or_flagged_holder_is_still_the_one_read(backend: Backend) {
    let debouncer = &backend.debouncer;
    let admin = debouncer.admin();
    let ttl = Duration::from_millis(600);
    let renewed = debouncer.lock("rn:1", ttl).renew().acquire().await.unwrap();
    let read = admin.inspect("rn:1").await.unwrap();
    // Past its first lease: renewed at least twice (every ttl/3).
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert!(!renewed.lease().is_lost());
    assert!(
        admin.release(&read).await.unwrap(),
        "renewed, still the holder read"
    );
    assert!(debouncer.try_lock("rn:1", LONG).await.is_ok());

    let stuck = debouncer.try_lock("rn:2", LONG).await.unwrap();
    let read = admin.inspect("rn:2").await.unwrap();
    assert!(!read.waiters);
    let waiter = spawn_waiter(debouncer, "rn:2");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !backend.is_memory() && !admin.inspect("rn:2").await.unwrap().waiters {
        assert!(tokio::time::Instant::now() < deadline, "never flagged");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(
        admin.release(&read).await.unwrap(),
        "flagged, still the holder read"
    );
    let next = tokio::time::timeout(Duration::from_secs(15), waiter)
        .await
        .expect("woken")
        .unwrap()
        .unwrap();
    assert!(!stuck.release().await.unwrap());
    drop(next);
}

/// Keys left with nothing but a wake-up signal (a waiter that gave up)
/// are no locks, and do not use up `limit`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leftover_signals_do_not_use_up_the_limit() {
    let server = RedisServer::start();
    let mut conn = server.connection();
    let mut pipe = redis::pipe();
    for n in 0..300 {
        pipe.cmd("RPUSH")
            .arg(format!("debounce:{{p:{n:03}}}:signal"))
            .arg(1)
            .ignore();
    }
    pipe.exec(&mut conn).unwrap();
    let debouncer = Debouncer::open(&server.url()).unwrap();
    let _a = debouncer.try_lock("p:real-a", LONG).await.unwrap();
    let _b = debouncer.try_lock("p:real-b", LONG).await.unwrap();
    let listed = debouncer.admin().list("p:", 10).await.unwrap();
    let keys: Vec<&str> = listed.iter().map(|lock| lock.key.as_str()).collect();
    assert_eq!(keys, ["p:real-a", "p:real-b"]);
}

/// Glob characters in either prefix match only themselves; braces in a
/// key round-trip through inspect and release.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn glob_characters_and_braces_match_only_themselves() {
    let server = RedisServer::start();
    let debouncer = Debouncer::builder()
        .prefix("app[1]*?\\:")
        .open(&server.url())
        .unwrap();
    let other = Debouncer::builder()
        .prefix("app1xx\\:")
        .open(&server.url())
        .unwrap();
    let _one = debouncer.try_lock("a*b?[c]\\d", LONG).await.unwrap();
    let _two = debouncer.try_lock("a*zz", LONG).await.unwrap();
    let _three = debouncer.try_lock("ab", LONG).await.unwrap();
    let _foreign = other.try_lock("a*b?[c]\\d", LONG).await.unwrap();
    let admin = debouncer.admin();
    let listed: Vec<String> = admin
        .list("a*", 100)
        .await
        .unwrap()
        .into_iter()
        .map(|lock| lock.key)
        .collect();
    assert_eq!(listed, ["a*b?[c]\\d", "a*zz"]);
    assert_eq!(admin.list("", 100).await.unwrap().len(), 3);
    let braces = debouncer.try_lock("x{y}z", LONG).await.unwrap();
    let lock = admin.inspect("x{y}z").await.unwrap();
    assert_eq!(lock.state, LockState::Held);
    assert!(admin.release(&lock).await.unwrap());
    assert!(!braces.release().await.unwrap());
}

/// A purge whose caller gives up stops: most keys are still there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_purge_stops() {
    let server = RedisServer::start();
    let mut conn = server.connection();
    let mut pipe = redis::pipe();
    for n in 0..50_000 {
        pipe.cmd("SET")
            .arg(format!("debounce:{{c:{n}}}"))
            .arg("token")
            .ignore();
    }
    pipe.exec(&mut conn).unwrap();
    let debouncer = Debouncer::open(&server.url()).unwrap();
    let purge = tokio::time::timeout(
        Duration::from_millis(20),
        debouncer.admin().purge("c:", false),
    )
    .await;
    assert!(purge.is_err(), "given up");
    // Were it still running, it would be done well within this.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let left: u64 = redis::cmd("DBSIZE").query(&mut conn).unwrap();
    assert!(left > 40_000, "{left} keys left");
}

/// Without a key prefix, another app's hash-tagged keys would look like
/// locks: every admin operation refuses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_needs_a_key_prefix() {
    let server = RedisServer::start();
    let mut conn = server.connection();
    redis::cmd("SET")
        .arg("{user:1}")
        .arg("session")
        .exec(&mut conn)
        .unwrap();
    let debouncer = Debouncer::builder().prefix("").open(&server.url()).unwrap();
    let admin = debouncer.admin();
    let config =
        |error: redis_debounce::Error| matches!(error, redis_debounce::Error::Config { .. });
    assert!(config(admin.purge("", false).await.unwrap_err()));
    assert!(config(admin.list("", 10).await.unwrap_err()));
    assert!(config(admin.inspect("user:1").await.unwrap_err()));
    let prefixed = Debouncer::open(&server.url()).unwrap();
    let free = prefixed.admin().inspect("user:1").await.unwrap();
    assert!(config(admin.release(&free).await.unwrap_err()));
    assert_eq!(server.keys(), ["{user:1}"]);
}
