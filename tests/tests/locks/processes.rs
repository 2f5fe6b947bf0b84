//! Mutual exclusion across processes: this test binary re-run as children
//! (`processes::child`, which does nothing unless `DEBOUNCE_CHILD` gives it
//! a role), each with a `Debouncer` of its own on one real Redis.
//!
//! - Four children take turns on a few contended keys; each body detects
//!   an overlap in Redis itself (`INCR inside:<key>` must read 1), and the
//!   runs are counted there too: 10,000 in the default run, 100,000 with
//!   `-- --ignored`.
//! - A child killed (`SIGKILL`) mid-body frees its key within its lease.
//! - A child frozen (`SIGSTOP`) past its lease and resumed finds its lease
//!   lost, and its fenced write is refused: the next holder's token is
//!   larger.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use redis::Commands as _;
use redis_debounce::{Busy, Debouncer, debounce};
use redis_debounce_tests::RedisServer;

/// The contended keys.
const KEYS: u32 = 3;
const CHILDREN: usize = 4;
/// How long a child may take for its part, on a loaded machine.
const BOUND: Duration = Duration::from_secs(180);

/// The storage a fenced writer writes to: refuses a token no larger than
/// the last one it took.
const FENCED_WRITE: &str = r"
local last = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) <= last then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], ARGV[2])
return 1";

fn fenced_write(conn: &mut redis::Connection, fence: u64, value: &str) -> i64 {
    redis::Script::new(FENCED_WRITE)
        .key("store:fence")
        .key("store:value")
        .arg(fence)
        .arg(value)
        .invoke(conn)
        .expect("fenced write")
}

/// Runs `processes::child` of this binary in `role`.
fn spawn(role: &str, server: &RedisServer, runs: u64) -> Killed {
    spawn_with(role, server, runs, &[])
}

/// [`spawn`], the locks taken by Redlock over `redlock` (node URLs) when
/// there are any; `server` is then only where the bodies count.
fn spawn_with(role: &str, server: &RedisServer, runs: u64, redlock: &[String]) -> Killed {
    let child = Command::new(std::env::current_exe().expect("the test binary"))
        .args([
            "processes::child",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("DEBOUNCE_CHILD", role)
        .env("DEBOUNCE_CHILD_URL", server.url())
        .env("DEBOUNCE_CHILD_RUNS", runs.to_string())
        .env("DEBOUNCE_CHILD_REDLOCK", redlock.join(" "))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn a child");
    Killed(child)
}

/// A child, killed if the test ends before it does.
struct Killed(Child);

impl Killed {
    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.0.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success(), "kill {signal}");
    }

    /// Waits for the child to exit by itself; it must succeed.
    fn succeeds(&mut self) {
        let deadline = Instant::now() + BOUND;
        loop {
            if let Some(status) = self.0.try_wait().expect("wait") {
                assert!(status.success(), "a child failed: {status}");
                return;
            }
            assert!(Instant::now() < deadline, "a child hung");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Pops the next item of `list`, waiting for it.
fn pop(conn: &mut redis::Connection, list: &str) -> String {
    let (_, item): (String, String) = conn.blpop(list, BOUND.as_secs_f64()).expect("BLPOP");
    item
}

fn lock_keys(server: &RedisServer) -> Vec<String> {
    server
        .keys()
        .into_iter()
        .filter(|key| key.starts_with("debounce:") && key.ends_with('}'))
        .collect()
}

/// The children's critical section: one body per key at a time, which it
/// checks in Redis; the total of runs so far.
#[debounce(key = "shared:{key}", ttl = 30, wait = "30s", using = debouncer)]
fn exclusive(debouncer: &Debouncer, conn: &mut redis::Connection, key: u32) -> Result<u64, Busy> {
    let inside: i64 = conn.incr(format!("inside:{key}"), 1).expect("INCR");
    if inside != 1 {
        let _: i64 = conn.incr("overlaps", 1).expect("INCR");
    }
    std::thread::yield_now();
    let _: i64 = conn.decr(format!("inside:{key}"), 1).expect("DECR");
    Ok(conn.incr("runs", 1).expect("INCR"))
}

/// Holds its key until the process dies.
#[debounce(key = "killed", ttl = 3, using = debouncer)]
fn hold_until_killed(debouncer: &Debouncer, conn: &mut redis::Connection) -> Result<(), Busy> {
    let _: i64 = conn.rpush("entered", std::process::id()).expect("RPUSH");
    loop {
        std::thread::park();
    }
}

/// Tells its fencing token, waits to be let go (it is frozen meanwhile),
/// then reports whether it sees its lease lost and whether its fenced
/// write was taken.
#[debounce(key = "frozen", ttl = 1, fence, using = debouncer)]
fn frozen(debouncer: &Debouncer, conn: &mut redis::Connection) -> Result<(), Busy> {
    let lease = redis_debounce::lease().expect("inside the body");
    let fence = lease.fence().expect("fence");
    let _: i64 = conn.rpush("entered", fence).expect("RPUSH");
    let _ = pop(conn, "go");
    let lost = lease.is_lost();
    let taken = fenced_write(conn, fence, "from the frozen child");
    let _: i64 = conn
        .rpush("result", format!("{lost} {taken}"))
        .expect("RPUSH");
    Ok(())
}

/// A child's part, when `DEBOUNCE_CHILD` names one; else nothing.
#[test]
fn child() {
    let Ok(role) = std::env::var("DEBOUNCE_CHILD") else {
        return;
    };
    let url = std::env::var("DEBOUNCE_CHILD_URL").expect("URL");
    let runs: u64 = std::env::var("DEBOUNCE_CHILD_RUNS")
        .expect("runs")
        .parse()
        .expect("a number");
    let redlock = std::env::var("DEBOUNCE_CHILD_REDLOCK").unwrap_or_default();
    let debouncer = if redlock.is_empty() {
        Debouncer::open(&url).expect("url")
    } else {
        redlock_debouncer(redlock.split(' '))
    };
    let mut conn = redis::Client::open(url)
        .and_then(|client| client.get_connection())
        .expect("connect");
    match role.as_str() {
        "run" => {
            // A different sequence of keys in each child.
            let mut state = u64::from(std::process::id()) | 1;
            loop {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let key = u32::try_from(state % u64::from(KEYS)).expect("small");
                match exclusive(&debouncer, &mut conn, key) {
                    Ok(total) if total >= runs => break,
                    Ok(_) => {}
                    Err(busy) => assert!(busy.error().is_none(), "{busy:?}"),
                }
            }
        }
        "kill" => hold_until_killed(&debouncer, &mut conn).expect("free"),
        "stop" => frozen(&debouncer, &mut conn).expect("free"),
        other => panic!("no role {other}"),
    }
    debouncer.flush_blocking().expect("flushed");
}

#[cfg(feature = "redlock")]
fn redlock_debouncer<'a>(nodes: impl Iterator<Item = &'a str>) -> Debouncer {
    Debouncer::builder().redlock(nodes).expect("node URLs")
}

#[cfg(not(feature = "redlock"))]
fn redlock_debouncer<'a>(_: impl Iterator<Item = &'a str>) -> Debouncer {
    panic!("Redlock needs the redlock feature");
}

fn four_processes_take_turns(runs: u64) {
    four_processes_take_turns_on(runs, &RedisServer::start(), &[]);
}

/// Four children take turns on the contended keys (their locks on
/// `redlock` when it names nodes), counting in `server`.
fn four_processes_take_turns_on(runs: u64, server: &RedisServer, redlock: &[String]) {
    let mut children: Vec<_> = (0..CHILDREN)
        .map(|_| spawn_with("run", server, runs, redlock))
        .collect();
    for child in &mut children {
        child.succeeds();
    }
    let mut conn = server.connection();
    let overlaps: Option<u64> = conn.get("overlaps").expect("GET");
    let done: u64 = conn.get("runs").expect("GET");
    assert_eq!(overlaps, None, "bodies overlapped on a key");
    assert!(done >= runs, "{done} runs");
    assert!(lock_keys(server).is_empty(), "{:?}", lock_keys(server));
}

/// Redlock over five masters, two of them down: four processes still take
/// turns, and no two bodies ever overlap on a key.
#[cfg(feature = "redlock")]
#[test]
fn four_processes_never_overlap_on_redlock_with_two_nodes_down() {
    let mut nodes = redis_debounce_tests::topology::RedlockNodes::start(5);
    nodes.nodes[0].stop();
    nodes.nodes[3].stop();
    four_processes_take_turns_on(2_000, &RedisServer::start(), &nodes.urls());
    for node in [1, 2, 4] {
        assert!(
            lock_keys(&nodes.nodes[node]).is_empty(),
            "left on node {node}"
        );
    }
}

#[test]
fn four_processes_never_overlap() {
    four_processes_take_turns(10_000);
}

#[test]
#[ignore = "long: 100,000 runs (cargo test --test locks -- --ignored)"]
fn four_processes_never_overlap_in_a_hundred_thousand_runs() {
    four_processes_take_turns(100_000);
}

#[test]
fn a_killed_holder_frees_its_key_within_its_lease() {
    let server = RedisServer::start();
    let debouncer = Debouncer::open(&server.url()).expect("url");
    let mut conn = server.connection();
    let child = spawn("kill", &server, 0);
    let _ = pop(&mut conn, "entered");
    child.signal("-KILL");
    let killed = Instant::now();
    // Only the lease frees it: the child never released.
    assert!(
        debouncer
            .try_lock_blocking("killed", Duration::from_secs(30))
            .is_err(),
        "held by the dead child"
    );
    let guard = debouncer
        .lock("killed", Duration::from_secs(30))
        .wait(Duration::from_secs(30))
        .acquire_blocking()
        .expect("free once the lease ran out");
    // The lease is 3 s; a loaded machine gets 10 s more.
    let after = killed.elapsed();
    assert!(after < Duration::from_secs(13), "freed after {after:?}");
    assert!(guard.release_blocking().expect("released"));
}

#[test]
fn a_frozen_holder_finds_its_lease_lost_and_its_fenced_write_refused() {
    let server = RedisServer::start();
    let debouncer = Debouncer::open(&server.url()).expect("url");
    let mut conn = server.connection();
    let child = spawn("stop", &server, 0);
    let theirs: u64 = pop(&mut conn, "entered").parse().expect("a token");
    child.signal("-STOP");
    // The child's lease (1 s) runs out while it is frozen; this waits for it.
    let guard = debouncer
        .lock("frozen", Duration::from_secs(30))
        .fence()
        .wait(Duration::from_secs(30))
        .acquire_blocking()
        .expect("free once the child's lease ran out");
    let ours = guard.lease().fence().expect("fence");
    assert!(ours > theirs, "{ours} after {theirs}");
    assert_eq!(fenced_write(&mut conn, ours, "from the new holder"), 1);
    child.signal("-CONT");
    let _: i64 = conn.rpush("go", 1).expect("RPUSH");
    assert_eq!(
        pop(&mut conn, "result"),
        "true 0",
        "the child sees its lease lost, and its write is refused"
    );
    let stored: String = conn.get("store:value").expect("GET");
    assert_eq!(stored, "from the new holder");
    let mut child = child;
    child.succeeds();
    // The child's release, by its token, left our lock alone.
    assert!(guard.release_blocking().expect("released"), "still ours");
}
