//! The test harness: throwaway `redis-server` processes, each on its own
//! Unix socket in its own temp dir (or, where a test needs TCP, on a free
//! loopback port), started per test and killed on drop.
//!
//! A server is only ever counted as started when the process answering on
//! its address is the child this harness spawned (`INFO server` reports its
//! `process_id`): two tests can never share a server, and a test can never
//! mistake another test's server for its own.
//!
//! `redis-server` is taken from `$REDIS_SERVER`, else from `PATH`. The test
//! command in the README installs it when it is missing.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub mod proxy;
pub mod topology;

pub use proxy::Proxy;

/// How long a server may take to accept connections on a loaded machine.
const READY_WITHIN: Duration = Duration::from_secs(20);

/// Where a server listens.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Listen {
    /// `<dir>/redis.sock`; nothing else can ever bind it.
    Unix(PathBuf),
    /// `127.0.0.1:<port>`.
    Tcp(u16),
}

/// A `redis-server` child process with no persistence.
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    listen: Listen,
    dir: TempDir,
    /// Extra `redis-server` arguments, kept for [`restart`](Self::restart).
    args: Vec<String>,
    /// The master of a [`demote`](Self::demote)d server: a port this test
    /// holds and never serves, so no other test's server can be it.
    no_master: std::sync::OnceLock<TcpListener>,
    /// The port of a server killed with
    /// [`kill_holding_port`](Self::kill_holding_port), held so that no
    /// other test's server can take it (sentinels or cluster nodes would
    /// take that one for it).
    held: Option<TcpListener>,
}

fn binary() -> String {
    std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".into())
}

/// A loopback TCP port that was free a moment ago.
///
/// # Panics
///
/// When the system has none.
#[must_use]
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("no free loopback port")
}

/// A fresh, empty directory of this test's own, removed on drop.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl std::ops::Deref for TempDir {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A fresh, empty directory of this test's own (created, never reused:
/// another process's live directory is never touched), removed on drop.
///
/// # Panics
///
/// When no directory can be made.
#[must_use]
pub fn temp_dir(what: &str) -> TempDir {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.subsec_nanos());
    loop {
        let dir = std::env::temp_dir().join(format!(
            "rdb-{what}-{}-{}-{nanos:x}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        match std::fs::create_dir(&dir) {
            Ok(()) => return TempDir(dir),
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(error) => panic!("cannot make {}: {error}", dir.display()),
        }
    }
}

/// `redis+unix://<path>`.
#[must_use]
pub fn unix_url(path: &Path) -> String {
    format!("redis+unix://{}", path.display())
}

impl RedisServer {
    /// Starts a server on a Unix socket of its own and waits until it
    /// answers as this very child.
    ///
    /// # Panics
    ///
    /// When `redis-server` is missing or does not come up; the message has
    /// the server's log.
    #[must_use]
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// [`start`](Self::start) with extra `redis-server` arguments (e.g.
    /// `["--maxmemory", "1mb"]`).
    ///
    /// # Panics
    ///
    /// As [`start`](Self::start).
    #[must_use]
    pub fn start_with(args: &[&str]) -> Self {
        let dir = temp_dir("redis");
        let mut server = RedisServer {
            child: None,
            listen: Listen::Unix(dir.join("redis.sock")),
            dir,
            args: args.iter().map(|&arg| arg.to_owned()).collect(),
            no_master: std::sync::OnceLock::new(),
            held: None,
        };
        if let Err(log) = server.spawn() {
            panic!("redis-server did not start:\n{log}");
        }
        server
    }

    /// Starts a server on a free loopback TCP port, for what needs TCP
    /// (TLS, a proxy, benchmarks comparable with other libraries).
    ///
    /// # Panics
    ///
    /// As [`start`](Self::start).
    #[must_use]
    pub fn start_tcp() -> Self {
        Self::start_tcp_with(Vec::new)
    }

    /// [`start_tcp`](Self::start_tcp) with extra `redis-server` arguments,
    /// made afresh for each attempt (a port they name may be taken too).
    ///
    /// # Panics
    ///
    /// As [`start`](Self::start).
    #[must_use]
    pub fn start_tcp_with(args: impl Fn() -> Vec<String>) -> Self {
        let dir = temp_dir("redis");
        let mut server = RedisServer {
            child: None,
            listen: Listen::Tcp(0),
            dir,
            args: Vec::new(),
            no_master: std::sync::OnceLock::new(),
            held: None,
        };
        // Another process may take the port between probing and binding;
        // the process_id check tells, and another port is tried.
        for attempt in 1..=5 {
            server.listen = Listen::Tcp(free_port());
            server.args = args();
            match server.spawn() {
                Ok(()) => return server,
                Err(log) if attempt == 5 => panic!("redis-server did not start:\n{log}"),
                Err(_) => {}
            }
        }
        unreachable!()
    }

    /// Starts the server again on the same address, after
    /// [`stop`](Self::stop).
    ///
    /// # Panics
    ///
    /// When it does not come up (for TCP: also when another process took
    /// the port meanwhile, which the `process_id` check detects).
    pub fn restart(&mut self) {
        self.stop();
        self.held = None;
        if let Err(log) = self.spawn() {
            panic!("redis-server did not restart on {:?}:\n{log}", self.listen);
        }
    }

    fn spawn(&mut self) -> Result<(), String> {
        let log = self.dir.join("redis.log");
        // What redis-server says before its log is open (a bad argument).
        let stderr = std::fs::File::create(self.dir.join("stderr.log"))
            .map_or_else(|_| Stdio::null(), Stdio::from);
        let mut command = Command::new(binary());
        match &self.listen {
            Listen::Unix(path) => {
                let _ = std::fs::remove_file(path);
                command
                    .args(["--port", "0", "--unixsocket"])
                    .arg(path)
                    .args(["--unixsocketperm", "700"]);
            }
            Listen::Tcp(port) => {
                command.args(["--port", &port.to_string(), "--bind", "127.0.0.1"]);
            }
        }
        let child = command
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&*self.dir)
            .arg("--logfile")
            .arg(&log)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run `{}` ({e}); install redis-server or set REDIS_SERVER",
                    binary()
                )
            });
        let pid = child.id();
        self.child = Some(child);
        let started = Instant::now();
        let client = redis::Client::open(self.url()).expect("a valid URL");
        loop {
            if let Ok(mut connection) =
                client.get_connection_with_timeout(Duration::from_millis(250))
                && let Ok(info) = redis::cmd("INFO")
                    .arg("server")
                    .query::<String>(&mut connection)
            {
                // Whoever answers must be our child, not a server that
                // another test left on a reused port.
                if info_field(&info, "process_id") == Some(pid.to_string().as_str()) {
                    return Ok(());
                }
                self.stop();
                return Err(format!(
                    "{:?} is answered by another process, not by pid {pid}",
                    self.listen
                ));
            }
            let exited = self
                .child
                .as_mut()
                .and_then(|child| child.try_wait().ok().flatten())
                .is_some();
            if exited || started.elapsed() > READY_WITHIN {
                self.stop();
                let read = |name: &str| {
                    std::fs::read_to_string(self.dir.join(name))
                        .unwrap_or_else(|e| format!("(no {name}: {e})"))
                };
                return Err(format!("{}\n{}", read("stderr.log"), read("redis.log")));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the server and waits for it to exit. A Unix socket's path
    /// stays this server's (nothing else can take it) for
    /// [`restart`](Self::restart).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills the server, as [`stop`](Self::stop), and holds its TCP port
    /// until [`restart`](Self::restart) or drop: the sentinels or cluster
    /// nodes that knew it would otherwise reach whatever server another
    /// test starts on that port.
    ///
    /// # Panics
    ///
    /// For a server on a Unix socket, or when the port cannot be held.
    pub fn kill_holding_port(&mut self) {
        let port = self.port();
        self.stop();
        self.held = Some(TcpListener::bind(("127.0.0.1", port)).expect("hold the port"));
    }

    /// The server's process id, while it runs.
    #[must_use]
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Freezes the server (`SIGSTOP`): connections stay open, nothing is
    /// answered, as with a hung or overloaded Redis.
    ///
    /// # Panics
    ///
    /// When the server is not running or `kill` fails.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Thaws a [`pause`](Self::pause)d server (`SIGCONT`).
    ///
    /// # Panics
    ///
    /// When the server is not running or `kill` fails.
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let pid = self.pid().expect("the server is running");
        let status = Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {signal} {pid} failed");
    }

    /// Holds every client's writes and scripts back (`CLIENT PAUSE ...
    /// WRITE`) for `at_most`, or until [`unpause`](Self::unpause); reads
    /// still run. A command held back also holds back the ones its client
    /// sent after it.
    ///
    /// # Panics
    ///
    /// When the server does not answer.
    pub fn pause_writes(&self, at_most: Duration) {
        let _: () = redis::cmd("CLIENT")
            .arg("PAUSE")
            .arg(at_most.as_millis().to_string())
            .arg("WRITE")
            .query(&mut self.connection())
            .expect("CLIENT PAUSE");
    }

    /// Lifts [`pause_writes`](Self::pause_writes).
    ///
    /// # Panics
    ///
    /// When the server does not answer.
    pub fn unpause(&self) {
        let _: () = redis::cmd("CLIENT")
            .arg("UNPAUSE")
            .query(&mut self.connection())
            .expect("CLIENT UNPAUSE");
    }

    /// Lifts [`pause_writes`](Self::pause_writes) once `after` has passed,
    /// on a thread of its own, first noting that it did: whatever returns
    /// can tell whether the pause was lifted yet.
    ///
    /// # Panics
    ///
    /// When the server does not answer.
    #[must_use]
    pub fn unpause_after(&self, after: Duration) -> Unpausing {
        let lifted = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut connection = self.connection();
        let thread = std::thread::spawn({
            let lifted = lifted.clone();
            move || {
                std::thread::sleep(after);
                lifted.store(true, Ordering::SeqCst);
                // What `unpause` sends, on a connection of the thread's own.
                let _: () = redis::cmd("CLIENT")
                    .arg("UNPAUSE")
                    .query(&mut connection)
                    .expect("CLIENT UNPAUSE");
            }
        });
        Unpausing { lifted, thread }
    }

    /// The TCP port the server listens on.
    ///
    /// # Panics
    ///
    /// For a server on a Unix socket.
    #[must_use]
    pub fn port(&self) -> u16 {
        match self.listen {
            Listen::Tcp(port) => port,
            Listen::Unix(_) => panic!("this server listens on a Unix socket; use start_tcp"),
        }
    }

    /// The server's URL: `redis+unix://<dir>/redis.sock`, or
    /// `redis://127.0.0.1:<port>/` for [`start_tcp`](Self::start_tcp).
    #[must_use]
    pub fn url(&self) -> String {
        match &self.listen {
            Listen::Unix(path) => unix_url(path),
            Listen::Tcp(port) => format!("redis://127.0.0.1:{port}/"),
        }
    }

    /// A plain client connection, for looking at keys from outside.
    ///
    /// # Panics
    ///
    /// When the server does not answer.
    #[must_use]
    pub fn connection(&self) -> redis::Connection {
        redis::Client::open(self.url())
            .and_then(|client| client.get_connection_with_timeout(Duration::from_secs(5)))
            .expect("connect to the test server")
    }

    /// Every key in the server (a test server holds a handful).
    ///
    /// # Panics
    ///
    /// When the server does not answer.
    #[must_use]
    pub fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = redis::cmd("KEYS")
            .arg("*")
            .query(&mut self.connection())
            .expect("KEYS");
        keys.sort();
        keys
    }

    /// Holds every client's writes and scripts back from now until
    /// `for_how_long` has passed ([`pause_writes`](Self::pause_writes), then
    /// [`unpause_after`](Self::unpause_after)): a call that returns before
    /// the pause is lifted did not wait for its release.
    ///
    /// # Panics
    ///
    /// When the server does not answer.
    #[must_use]
    pub fn hold_writes(&self, for_how_long: Duration) -> Unpausing {
        self.pause_writes(Duration::from_secs(60));
        self.unpause_after(for_how_long)
    }

    /// A `Debouncer` on this server whose timeouts (60 s) outlast any pause
    /// a test sets and any slow connect on a loaded machine: a held request
    /// is answered, not timed out.
    ///
    /// # Panics
    ///
    /// For an invalid URL (never, for a started server).
    #[must_use]
    pub fn patient(&self) -> redis_debounce::Debouncer {
        redis_debounce::Debouncer::builder()
            .connect_timeout(Duration::from_secs(60))
            .response_timeout(Duration::from_secs(60))
            .open(&self.url())
            .expect("a valid URL")
    }

    /// The lock keys in the server (`debounce:{…}`): fencing counters,
    /// waiters' markers and wake-up lists stay, or expire by themselves.
    ///
    /// # Panics
    ///
    /// When the server does not answer.
    #[must_use]
    pub fn lock_keys(&self) -> Vec<String> {
        self.keys()
            .into_iter()
            .filter(|key| key.starts_with("debounce:") && key.ends_with('}'))
            .collect()
    }

    /// Makes the server a replica of a master that never answers (a port
    /// this test holds and never serves), as a failover does to a demoted
    /// master: it keeps its data, answers reads
    /// and refuses writes with `READONLY`.
    ///
    /// # Panics
    ///
    /// When the server does not answer, or still takes writes.
    pub fn demote(&self) {
        let no_master = self
            .no_master
            .get_or_init(|| TcpListener::bind("127.0.0.1:0").expect("no free loopback port"));
        let port = no_master.local_addr().expect("a bound port").port();
        let _: () = redis::cmd("REPLICAOF")
            .arg("127.0.0.1")
            .arg(port)
            .query(&mut self.connection())
            .expect("REPLICAOF");
        let set: redis::RedisResult<()> = redis::cmd("SET")
            .arg("probe")
            .arg("1")
            .query(&mut self.connection());
        assert!(
            set.as_ref().is_err_and(|e| e.code() == Some("READONLY")),
            "{set:?}"
        );
    }

    /// Makes a [`demote`](Self::demote)d server a master again.
    ///
    /// # Panics
    ///
    /// When the server does not answer.
    pub fn promote(&self) {
        let _: () = redis::cmd("REPLICAOF")
            .arg("NO")
            .arg("ONE")
            .query(&mut self.connection())
            .expect("REPLICAOF NO ONE");
    }

    /// A number of `INFO stats` (`total_connections_received`, ...).
    ///
    /// # Panics
    ///
    /// When the server does not answer or has no such field.
    #[must_use]
    pub fn info_stat(&self, field: &str) -> u64 {
        let info: String = redis::cmd("INFO")
            .arg("stats")
            .query(&mut self.connection())
            .expect("INFO");
        info.lines()
            .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|value| value.trim().parse().ok())
            .expect("a number")
    }

    /// Waits until a client of this server is blocked in `command`; see
    /// [`await_blocked_in`].
    ///
    /// # Panics
    ///
    /// As [`await_blocked_in`].
    pub fn await_blocked_in(&self, command: &str) {
        await_blocked_in(&self.url(), command);
    }
}

/// A `Debouncer` at `url` whose connect and response timeouts are both
/// `timeout`: the connection tests' impatient client.
///
/// # Panics
///
/// For an invalid URL.
#[must_use]
pub fn impatient(url: &str, timeout: Duration) -> redis_debounce::Debouncer {
    redis_debounce::Debouncer::builder()
        .connect_timeout(timeout)
        .response_timeout(timeout)
        .open(url)
        .expect("a valid URL")
}

/// A pause that [`RedisServer::unpause_after`] lifts.
#[derive(Debug)]
pub struct Unpausing {
    lifted: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl Unpausing {
    /// Whether the pause was lifted yet.
    #[must_use]
    pub fn lifted(&self) -> bool {
        self.lifted.load(Ordering::SeqCst)
    }

    /// Waits until it is lifted.
    ///
    /// # Panics
    ///
    /// When lifting it failed.
    pub fn join(self) {
        self.thread.join().expect("CLIENT UNPAUSE");
    }
}

/// Waits until a client of the server at `url` is blocked in `command` (as
/// `CLIENT LIST` shows it, e.g. `blpop`): the signal that a waiter has
/// registered. Blocking: from async code, run it with `spawn_blocking`.
///
/// # Panics
///
/// When none is within `READY_WITHIN`, or the server does not answer.
pub fn await_blocked_in(url: &str, command: &str) {
    let mut connection = redis::Client::open(url)
        .and_then(|client| client.get_connection_with_timeout(Duration::from_secs(5)))
        .expect("connect to the test server");
    let started = Instant::now();
    loop {
        let clients: String = redis::cmd("CLIENT")
            .arg("LIST")
            .query(&mut connection)
            .expect("CLIENT LIST");
        let blocked = clients.lines().any(|client| {
            client
                .split(' ')
                .any(|field| field == format!("cmd={command}"))
                && client
                    .split(' ')
                    .any(|field| field.starts_with("flags=") && field.contains('b'))
        });
        if blocked {
            return;
        }
        assert!(
            started.elapsed() < READY_WITHIN,
            "no client blocked in {command}:\n{clients}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The value of `field` in an `INFO` answer.
fn info_field<'a>(info: &'a str, field: &str) -> Option<&'a str> {
    info.lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .map(str::trim)
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        // Then its directory goes, with the `TempDir`.
        self.stop();
    }
}

/// A `Debouncer` on a fresh Redis server (kept alive alongside it), on a
/// fresh topology (Cluster, Sentinel, Redlock), or on the in-memory
/// backend: the behaviour suites share their scenarios.
#[derive(Debug)]
pub struct Backend {
    /// The handle under test.
    pub debouncer: redis_debounce::Debouncer,
    /// The server, for the single-server Redis backend.
    pub server: Option<RedisServer>,
    /// The processes of a topology.
    pub topology: Option<Topology>,
}

/// The processes behind a topology's `Debouncer`.
#[derive(Debug)]
#[non_exhaustive]
pub enum Topology {
    /// A Redis Cluster.
    Cluster(topology::Cluster),
    /// A master, a replica and sentinels.
    Sentinel(topology::Sentinels),
    /// Independent masters.
    Redlock(topology::RedlockNodes),
}

impl Backend {
    /// A fresh Redis server and a `Debouncer` on it.
    ///
    /// # Panics
    ///
    /// When the server does not start.
    #[must_use]
    pub fn redis() -> Self {
        let server = RedisServer::start();
        let debouncer = redis_debounce::Debouncer::open(&server.url()).expect("a valid URL");
        Backend {
            debouncer,
            server: Some(server),
            topology: None,
        }
    }

    /// The in-memory backend.
    #[must_use]
    pub fn memory() -> Self {
        Backend {
            debouncer: redis_debounce::Debouncer::memory(),
            server: None,
            topology: None,
        }
    }

    /// A fresh topology and a `Debouncer` on it.
    ///
    /// # Panics
    ///
    /// When it does not start.
    #[must_use]
    pub fn on(topology: Topology) -> Self {
        let debouncer = Self::open(&topology, redis_debounce::Debouncer::builder());
        Backend {
            debouncer,
            server: None,
            topology: Some(topology),
        }
    }

    /// A fresh Redis Cluster (3 masters, 3 replicas).
    #[must_use]
    pub fn cluster() -> Self {
        Self::on(Topology::Cluster(topology::Cluster::start()))
    }

    /// A fresh Sentinel set (a master, a replica, 3 sentinels).
    #[must_use]
    pub fn sentinel() -> Self {
        Self::on(Topology::Sentinel(topology::Sentinels::start()))
    }

    /// Redlock over 3 fresh masters.
    #[must_use]
    pub fn redlock() -> Self {
        Self::on(Topology::Redlock(topology::RedlockNodes::start(3)))
    }

    fn open(topology: &Topology, builder: redis_debounce::Builder) -> redis_debounce::Debouncer {
        match topology {
            Topology::Cluster(cluster) => builder.open(&cluster.url()),
            Topology::Sentinel(sentinels) => builder.open(&sentinels.url()),
            Topology::Redlock(nodes) => redlock(builder, nodes),
        }
        .expect("a valid topology")
    }

    /// Whether this is the in-memory backend (on tokio's paused clock in
    /// the scenarios marked `paused`).
    #[must_use]
    pub fn is_memory(&self) -> bool {
        self.server.is_none() && self.topology.is_none()
    }

    /// How much earlier than its ttl a lease of at most `ttl` counts as
    /// lost: Redlock's allowance for clock drift (1 % and 2 ms), nothing
    /// elsewhere.
    #[must_use]
    pub fn drift(&self, ttl: Duration) -> Duration {
        match self.topology {
            Some(Topology::Redlock(_)) => ttl / 100 + Duration::from_millis(2),
            _ => Duration::ZERO,
        }
    }

    /// Another `Debouncer` on the same server or topology, made by
    /// `builder`; `None` for the in-memory backend.
    ///
    /// # Panics
    ///
    /// For a builder whose settings are refused.
    #[must_use]
    pub fn open_with(&self, builder: redis_debounce::Builder) -> Option<redis_debounce::Debouncer> {
        if let Some(server) = &self.server {
            return Some(builder.open(&server.url()).expect("valid settings"));
        }
        self.topology
            .as_ref()
            .map(|topology| Self::open(topology, builder))
    }

    /// Every key in Redis (on a cluster, on its masters; on Redlock, on
    /// any of its nodes); `None` for the in-memory backend.
    #[must_use]
    pub fn keys(&self) -> Option<Vec<String>> {
        if let Some(server) = &self.server {
            return Some(server.keys());
        }
        self.topology.as_ref().map(|topology| match topology {
            Topology::Cluster(cluster) => cluster.keys(),
            Topology::Sentinel(sentinels) => sentinels.servers[sentinels.master()].keys(),
            Topology::Redlock(nodes) => {
                // Every node's, once each.
                let mut keys: Vec<String> = nodes
                    .nodes
                    .iter()
                    .filter(|node| node.pid().is_some())
                    .flat_map(RedisServer::keys)
                    .collect();
                keys.sort();
                keys.dedup();
                keys
            }
        })
    }

    /// The URL of the server that holds `key` (a Redis key): the server,
    /// the master (on a cluster, of `key`'s slot), or Redlock's first node;
    /// `None` for the in-memory backend.
    #[must_use]
    pub fn url_serving(&self, key: &str) -> Option<String> {
        if let Some(server) = &self.server {
            return Some(server.url());
        }
        self.topology.as_ref().map(|topology| match topology {
            Topology::Cluster(cluster) => cluster.nodes[cluster.master_of(key)].url(),
            Topology::Sentinel(sentinels) => sentinels.servers[sentinels.master()].url(),
            Topology::Redlock(nodes) => nodes.nodes[0].url(),
        })
    }
}

#[cfg(feature = "redlock")]
fn redlock(
    builder: redis_debounce::Builder,
    nodes: &topology::RedlockNodes,
) -> Result<redis_debounce::Debouncer, redis_debounce::Error> {
    builder.redlock(nodes.urls())
}

#[cfg(not(feature = "redlock"))]
fn redlock(
    _: redis_debounce::Builder,
    _: &topology::RedlockNodes,
) -> Result<redis_debounce::Debouncer, redis_debounce::Error> {
    panic!("Redlock needs the redlock feature of redis-debounce-tests")
}

/// Runs one async scenario `async fn(Backend)` against Redis and against the
/// in-memory backend, as two tests named `<name>::redis` and `<name>::memory`,
/// and with the features of the topologies, on each of them too
/// (`<name>::cluster`, `<name>::sentinel`, `<name>::redlock`).
///
/// A scenario marked `paused` runs its memory variant on tokio's paused
/// clock (the backend follows it): its leases and sleeps then take no real
/// time, and no real-time window can be missed. Such a scenario measures
/// time with `tokio::time::Instant` and runs no blocking threads.
#[macro_export]
macro_rules! on_both_backends {
    ($($(#[$paused:ident])? $name:ident => $scenario:path;)+) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn redis() {
                $scenario($crate::Backend::redis()).await;
            }

            #[cfg(feature = "cluster")]
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn cluster() {
                let backend = tokio::task::spawn_blocking($crate::Backend::cluster).await.unwrap();
                $scenario(backend).await;
            }

            #[cfg(feature = "sentinel")]
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sentinel() {
                let backend = tokio::task::spawn_blocking($crate::Backend::sentinel).await.unwrap();
                $scenario(backend).await;
            }

            #[cfg(feature = "redlock")]
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn redlock() {
                $scenario($crate::Backend::redlock()).await;
            }

            $crate::__memory_test!($($paused)? $scenario);
        }
    )+};
}

#[doc(hidden)]
#[macro_export]
macro_rules! __memory_test {
    (paused $scenario:path) => {
        #[tokio::test(start_paused = true)]
        async fn memory() {
            $scenario($crate::Backend::memory()).await;
        }
    };
    ($scenario:path) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn memory() {
            $scenario($crate::Backend::memory()).await;
        }
    };
}

/// Counts the WARN events that name a key, themselves or by the span they
/// are in (a debounced call's `debounce` span names it): a subscriber of a
/// few lines, no logging crate needed. Install it with
/// `tracing::subscriber::set_default` or `with_default`.
#[derive(Debug, Default)]
pub struct Warnings {
    count: std::sync::atomic::AtomicUsize,
    /// Spans made so far, and which of them name a key.
    spans: std::sync::Mutex<Vec<bool>>,
    /// The spans entered, innermost last.
    entered: std::sync::Mutex<Vec<u64>>,
}

impl Warnings {
    /// How many were logged so far.
    #[must_use]
    pub fn count(&self) -> usize {
        self.count.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl tracing::Subscriber for Warnings {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        let mut spans = self.spans.lock().unwrap();
        spans.push(span.metadata().fields().field("key").is_some());
        tracing::span::Id::from_u64(spans.len() as u64)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let in_keyed_span = self.entered.lock().unwrap().iter().any(|id| {
            let at = usize::try_from(*id).unwrap() - 1;
            self.spans.lock().unwrap()[at]
        });
        let names_a_key = event.metadata().fields().field("key").is_some() || in_keyed_span;
        if *event.metadata().level() == tracing::Level::WARN && names_a_key {
            self.count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }
    fn enter(&self, span: &tracing::span::Id) {
        self.entered.lock().unwrap().push(span.into_u64());
    }
    fn exit(&self, span: &tracing::span::Id) {
        let mut entered = self.entered.lock().unwrap();
        if let Some(at) = entered.iter().rposition(|id| *id == span.into_u64()) {
            entered.remove(at);
        }
    }
}

/// Polls `future` once, with the current task's waker: how a test drives a
/// waiter up to its first wait (on the in-memory backend, which answers
/// without I/O, one poll takes it there) without a timer.
pub async fn poll_once<F: Future + Unpin>(future: &mut F) -> std::task::Poll<F::Output> {
    std::future::poll_fn(|cx| std::task::Poll::Ready(std::pin::Pin::new(&mut *future).poll(cx)))
        .await
}

/// Runs the futures together on this task and collects their outputs in
/// order (`std` has no `join_all`, and borrowed arguments rule out spawning).
///
/// # Panics
///
/// Never: every output is set before the futures are done.
pub async fn join_all<F: Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut set = Vec::new();
    for future in futures {
        set.push(Box::pin(future));
    }
    let mut outputs: Vec<Option<F::Output>> = set.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in set.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(value) => *output = Some(value),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs
        .into_iter()
        .map(|output| output.expect("ready"))
        .collect()
}

/// What the axum and actix-web suites share: request bodies and the check
/// of a problem response.
pub mod web {
    use serde::Deserialize;

    /// The JSON body of a checkout.
    #[derive(Debug, Deserialize)]
    pub struct Order {
        /// The cart checked out.
        pub cart: u64,
    }

    /// A query string `?cents=...`.
    #[derive(Debug, Deserialize)]
    pub struct Amount {
        /// The amount.
        pub cents: u64,
    }

    /// `{"cart": <cart>}`.
    #[must_use]
    pub fn order(cart: u64) -> String {
        format!(r#"{{"cart":{cart}}}"#)
    }

    /// Asserts an RFC 9457 problem response with `status`, and returns its
    /// `Retry-After` in seconds, if any.
    ///
    /// # Panics
    ///
    /// When the response is not such a problem.
    pub async fn assert_problem(response: reqwest::Response, status: u16) -> Option<u64> {
        assert_problem_naming_none(response, status, &[]).await
    }

    /// [`assert_problem`], and the body names none of `secrets` (the
    /// rendered key, the `Idempotency-Key` value).
    ///
    /// # Panics
    ///
    /// When the response is not such a problem, or names a secret.
    pub async fn assert_problem_naming_none(
        response: reqwest::Response,
        status: u16,
        secrets: &[&str],
    ) -> Option<u64> {
        assert_eq!(response.status().as_u16(), status);
        let headers = response.headers().clone();
        assert_eq!(headers["content-type"], "application/problem+json");
        let retry_after = headers.get("retry-after").map(|value| {
            value
                .to_str()
                .unwrap()
                .parse::<u64>()
                .expect("whole seconds")
        });
        let body = response.text().await.unwrap();
        assert!(body.contains(&format!(r#""status":{status}"#)), "{body}");
        assert!(
            body.contains(r#""title":"#) && body.contains(r#""detail":"#),
            "{body}"
        );
        for secret in secrets {
            assert!(!body.contains(secret), "the body names {secret:?}: {body}");
        }
        retry_after
    }

    /// `bytes` bytes: `run` in decimal, then dots (a body that tells which
    /// run made it).
    #[must_use]
    pub fn filler(run: usize, bytes: usize) -> Vec<u8> {
        let mut body = run.to_string().into_bytes();
        body.resize(bytes, b'.');
        body
    }
}
