//! Redlock over five independent masters: a majority decides.

use std::time::Duration;

use redis_debounce::{Debouncer, Error};
use redis_debounce_tests::topology::RedlockNodes;

const TTL: Duration = Duration::from_secs(30);

fn redlock(nodes: &RedlockNodes) -> Debouncer {
    Debouncer::builder()
        .redlock(nodes.urls())
        .expect("five node URLs")
}

/// Sets `key` on `nodes` to another owner's token, as if another caller
/// held it there.
fn held_elsewhere(nodes: &RedlockNodes, which: &[usize], key: &str) {
    for &at in which {
        let _: () = redis::cmd("SET")
            .arg(key)
            .arg("another-owner")
            .arg("PX")
            .arg(60_000)
            .query(&mut nodes.nodes[at].connection())
            .expect("SET");
    }
}

fn holds(nodes: &RedlockNodes, at: usize, key: &str) -> bool {
    redis::cmd("EXISTS")
        .arg(key)
        .query::<bool>(&mut nodes.nodes[at].connection())
        .expect("EXISTS")
}

/// With 2 of 5 nodes down, a majority is still up: locks are granted, and
/// exclusive (a second `Debouncer`, as another process, is turned away
/// until the first releases).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_down_still_grant_exclusive_locks() {
    let mut nodes = RedlockNodes::start(5);
    nodes.nodes[1].stop();
    nodes.nodes[3].stop();
    let (first, second) = (redlock(&nodes), redlock(&nodes));
    let guard = first
        .try_lock("order:1", TTL)
        .await
        .expect("a majority is up");
    let busy = second.try_lock("order:1", TTL).await.unwrap_err();
    assert!(busy.is_held(), "{busy}");
    assert!(guard.release().await.expect("released on a majority"));
    let again = second
        .try_lock("order:1", TTL)
        .await
        .expect("free after the release");
    drop(again);
}

/// With 3 of 5 nodes down, nothing is granted, and the answer says the
/// lock is unavailable (no quorum), never that someone holds it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_down_grant_nothing_and_say_unavailable() {
    let mut nodes = RedlockNodes::start(5);
    for at in [0, 2, 4] {
        nodes.nodes[at].stop();
    }
    let debouncer = redlock(&nodes);
    let busy = debouncer.try_lock("order:2", TTL).await.unwrap_err();
    assert!(!busy.is_held(), "{busy}");
    assert!(
        matches!(
            busy.error(),
            Some(Error::NoQuorum {
                nodes: 5,
                answered: 2,
                needed: 3,
                ..
            })
        ),
        "{busy:?}"
    );
    // What the two live nodes granted was given back.
    debouncer.flush().await.ok();
    for at in [1, 3] {
        assert!(
            !holds(&nodes, at, "debounce:{order:2}"),
            "left on node {at}"
        );
    }
}

/// Another owner on a minority of the nodes: the lock is granted (on the
/// other three). On a majority: refused as held, and what the free
/// minority granted is given back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_minority_held_elsewhere_is_granted_a_majority_refused() {
    let nodes = RedlockNodes::start(5);
    let debouncer = redlock(&nodes);
    held_elsewhere(&nodes, &[0, 1], "debounce:{few}");
    let guard = debouncer
        .try_lock("few", TTL)
        .await
        .expect("granted by 3 of 5");
    for at in 2..5 {
        assert!(
            holds(&nodes, at, "debounce:{few}"),
            "not taken on node {at}"
        );
    }
    drop(guard);

    held_elsewhere(&nodes, &[0, 2, 4], "debounce:{many}");
    let busy = debouncer.try_lock("many", TTL).await.unwrap_err();
    assert!(busy.is_held(), "{busy}");
    assert!(busy.error().is_none(), "{busy:?}");
    debouncer.flush().await.expect("the give-backs answered");
    for at in [1, 3] {
        assert!(!holds(&nodes, at, "debounce:{many}"), "left on node {at}");
    }
}

/// Fencing tokens grow across holders even when the majority moves: a
/// holder's token is the largest of its majority's counters, written back
/// to that majority, so the next majority (which shares a node with it)
/// counts on from there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fencing_tokens_grow_when_the_majority_moves() {
    let mut nodes = RedlockNodes::start(5);
    let debouncer = redlock(&nodes);
    let first = debouncer.lock("doc", TTL).fence().acquire().await.unwrap();
    let start = first.lease().fence().expect("a token");
    first.release().await.unwrap();
    // Node 0's counter runs far ahead of the others' (and of the clock).
    let ahead = start + 1_000_000_000_000;
    let _: () = redis::cmd("SET")
        .arg("debounce:{doc}:fence")
        .arg(ahead)
        .query(&mut nodes.nodes[0].connection())
        .expect("SET");
    // Nodes 3 and 4 away: the majority is 0, 1 and 2.
    nodes.nodes[3].stop();
    nodes.nodes[4].stop();
    let second = debouncer.lock("doc", TTL).fence().acquire().await.unwrap();
    let token = second.lease().fence().expect("a token");
    assert_eq!(token, ahead + 1, "the largest of the majority's counters");
    second.release().await.unwrap();
    // Node 0 away, 3 and 4 back empty: the next majority is three of 1..=4,
    // so one of 1 and 2, which were raised.
    nodes.nodes[0].stop();
    nodes.nodes[3].restart();
    nodes.nodes[4].restart();
    let third = debouncer.lock("doc", TTL).fence().acquire().await.unwrap();
    let next = third.lease().fence().expect("a token");
    assert!(next > token, "{next} after {token}");
}

/// Renewal holds with a majority: with 2 of 5 nodes down, a renewed lease
/// outlives its ttl, and nobody else takes the key meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renewal_holds_with_a_majority() {
    let mut nodes = RedlockNodes::start(5);
    nodes.nodes[0].stop();
    nodes.nodes[4].stop();
    let (holder, other) = (redlock(&nodes), redlock(&nodes));
    let ttl = Duration::from_secs(2);
    let guard = holder.lock("long", ttl).renew().acquire().await.unwrap();
    tokio::time::sleep(ttl * 2).await;
    assert!(!guard.lease().is_lost(), "renewed on the live majority");
    assert!(other.try_lock("long", ttl).await.unwrap_err().is_held());
    assert!(guard.release().await.unwrap());
}

/// The lease counts as ours for less than its ttl (the drift allowance,
/// pinned exactly by `redlock::tests::validity_is_the_ttl_less_the_drift`):
/// a 30 s lease is held 29 s after it was asked for and lost at 29.9 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_is_lost_before_its_ttl_by_the_drift() {
    let nodes = RedlockNodes::start(3);
    let debouncer = redlock(&nodes);
    let asked = tokio::time::Instant::now();
    let guard = debouncer.try_lock("brief", TTL).await.unwrap();
    tokio::time::sleep_until(asked + Duration::from_secs(29)).await;
    assert!(
        !guard.lease().is_lost(),
        "held until the ttl less the drift"
    );
    tokio::time::sleep_until(asked + Duration::from_millis(29_900)).await;
    assert!(guard.lease().is_lost(), "held past the ttl less the drift");
}

/// Release and renewal need a majority: with the lock someone else's on
/// two of three nodes, a release reads `false`, and a renewal finds the
/// lease lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_minority_still_ours_is_not_a_majority() {
    let nodes = RedlockNodes::start(3);
    let debouncer = redlock(&nodes);
    let guard = debouncer.try_lock("taken", TTL).await.unwrap();
    held_elsewhere(&nodes, &[1, 2], "debounce:{taken}");
    assert!(
        !guard.release().await.unwrap(),
        "released on one node of three"
    );
    let ttl = Duration::from_secs(1);
    let renewed = debouncer
        .lock("renewed", ttl)
        .renew()
        .acquire()
        .await
        .unwrap();
    held_elsewhere(&nodes, &[0, 2], "debounce:{renewed}");
    tokio::time::timeout(Duration::from_secs(10), renewed.lease().lost())
        .await
        .expect("renewal on one node of three loses the lease");
}

/// A Redlock `Debouncer` whose answers may take 10 s, its connections
/// already open.
async fn patient(nodes: &RedlockNodes) -> Debouncer {
    let debouncer = Debouncer::builder()
        .response_timeout(Duration::from_secs(10))
        .redlock(nodes.urls())
        .unwrap();
    drop(debouncer.try_lock("warm", TTL).await.unwrap());
    debouncer
}

/// An acquire that took longer than its validity (every node held its
/// writes back for 4 s of a 3 s lease) is not handed out: it is given
/// back and taken again, and the lease then is fresh.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acquire_slower_than_its_validity_is_taken_again() {
    let nodes = RedlockNodes::start(3);
    let debouncer = patient(&nodes).await;
    for node in &nodes.nodes {
        node.pause_writes(Duration::from_secs(4));
    }
    let guard = debouncer
        .try_lock("slow", Duration::from_secs(3))
        .await
        .expect("taken on the second try");
    assert!(!guard.lease().is_lost(), "a fresh lease");
}

/// A call stops waiting once a majority answered: a node that hangs
/// (SIGSTOP) with a response timeout of 10 s costs the call nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_node_costs_nothing() {
    let nodes = RedlockNodes::start(3);
    let debouncer = patient(&nodes).await;
    nodes.nodes[2].pause();
    let started = std::time::Instant::now();
    let guard = debouncer.try_lock("quick", TTL).await.unwrap();
    assert!(guard.release().await.unwrap());
    let took = started.elapsed();
    nodes.nodes[2].resume();
    assert!(
        took < Duration::from_secs(5),
        "waited for the hung node: {took:?}"
    );
}

/// A release whose majority is unknown (ours on one node, another's on
/// one, the third down) is an error, not "it was not ours".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_with_no_majority_known_is_an_error() {
    let mut nodes = RedlockNodes::start(3);
    let debouncer = redlock(&nodes);
    let guard = debouncer.try_lock("unknown", TTL).await.unwrap();
    debouncer.flush().await.unwrap();
    let ours: Vec<usize> = (0..3)
        .filter(|&at| holds(&nodes, at, "debounce:{unknown}"))
        .collect();
    assert!(ours.len() >= 2, "{ours:?}");
    held_elsewhere(&nodes, &ours[1..2], "debounce:{unknown}");
    let third = (0..3).find(|at| !ours[..2].contains(at)).unwrap();
    nodes.nodes[third].stop();
    let released = guard.release().await;
    assert!(
        matches!(released, Err(Error::NoQuorum { .. })),
        "{released:?}"
    );
}

/// Held elsewhere for 10, 20 and 30 s on three nodes: the key is free to
/// take once two of them end, so `retry_after` is about 20 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_is_when_a_majority_frees_the_key() {
    let nodes = RedlockNodes::start(3);
    let debouncer = redlock(&nodes);
    for (at, ms) in [(0, 10_000), (1, 20_000), (2, 30_000)] {
        let _: () = redis::cmd("SET")
            .arg("debounce:{later}")
            .arg("another-owner")
            .arg("PX")
            .arg(ms)
            .query(&mut nodes.nodes[at].connection())
            .unwrap();
    }
    let busy = debouncer.try_lock("later", TTL).await.unwrap_err();
    let after = busy.retry_after().expect("how long");
    assert!(
        after > Duration::from_secs(15) && after <= Duration::from_secs(20),
        "{after:?}"
    );
}

/// A Redlock needs at least three masters, and every node's URL is checked.
#[test]
fn fewer_than_three_nodes_are_refused() {
    let error = Debouncer::builder()
        .redlock(["redis://127.0.0.1:1", "redis://127.0.0.1:2"])
        .unwrap_err();
    assert!(matches!(error, Error::Config { .. }), "{error}");
    let error = Debouncer::builder()
        .redlock(["redis://a", "http://b", "redis://c"])
        .unwrap_err();
    assert!(matches!(error, Error::Config { .. }), "{error}");
}

/// Six callers race for one key, 200 times: each time exactly one holds
/// it (a split vote is tried again, never answered "held" by everyone).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_split_vote_still_elects_one_holder() {
    let nodes = RedlockNodes::start(3);
    let callers: Vec<Debouncer> = (0..6).map(|_| redlock(&nodes)).collect();
    for round in 0..200 {
        let key = format!("race:{round}");
        let answers =
            redis_debounce_tests::join_all(callers.iter().map(|caller| caller.try_lock(&key, TTL)))
                .await;
        let holders = answers.iter().filter(|answer| answer.is_ok()).count();
        assert_eq!(holders, 1, "round {round}: {answers:?}");
        for answer in answers {
            if let Err(busy) = answer {
                assert!(busy.is_held(), "{busy:?}");
            }
        }
    }
}

/// The number of `SET` commands a node ran since it started.
fn sets(nodes: &RedlockNodes, at: usize) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query(&mut nodes.nodes[at].connection())
        .unwrap();
    info.lines()
        .find_map(|line| line.strip_prefix("cmdstat_set:calls="))
        .and_then(|rest| rest.split(',').next())
        .map_or(0, |calls| calls.parse().unwrap())
}

/// A key held for another on every node (so nothing was granted) is
/// answered "held" at once: one try per node (a plain `SET NX` and the
/// script's), no retries, which are for a caller that got some nodes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_everywhere_is_answered_at_once() {
    let nodes = RedlockNodes::start(5);
    let debouncer = redlock(&nodes);
    held_elsewhere(&nodes, &[0, 1, 2, 3, 4], "debounce:{taken}");
    let before: Vec<u64> = (0..5).map(|at| sets(&nodes, at)).collect();
    assert!(
        debouncer
            .try_lock("taken", TTL)
            .await
            .unwrap_err()
            .is_held()
    );
    debouncer.flush().await.unwrap();
    for (at, before) in before.iter().enumerate() {
        let asked = sets(&nodes, at) - before;
        assert!(asked <= 2, "node {at} was asked {asked} times");
    }
}

/// Held elsewhere on one node of three, the other two down: no majority
/// can be known either way, so the answer is unavailable, not "held".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_holder_and_two_nodes_down_is_unavailable() {
    let mut nodes = RedlockNodes::start(3);
    let debouncer = redlock(&nodes);
    held_elsewhere(&nodes, &[0], "debounce:{half}");
    nodes.nodes[1].stop();
    nodes.nodes[2].stop();
    let busy = debouncer.try_lock("half", TTL).await.unwrap_err();
    assert!(!busy.is_held(), "{busy:?}");
    assert!(
        matches!(busy.error(), Some(Error::NoQuorum { .. })),
        "{busy:?}"
    );
}
