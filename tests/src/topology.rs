//! Topologies beyond one server, made of `redis-server` processes this
//! harness starts (no docker) and kills on drop: a Redis Cluster (3
//! masters, 3 replicas), a Sentinel set (a master, a replica, 3 sentinels,
//! quorum 2), and independent masters for Redlock. Each listens on ports
//! of its own; every process is checked to be this harness's child (its
//! `process_id`), as for one server.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{READY_WITHIN, RedisServer, TempDir, free_port, info_field, temp_dir};

/// `redis-cli`, from `$REDIS_CLI`, else from `PATH` (installed with
/// `redis-server`).
fn cli() -> String {
    std::env::var("REDIS_CLI").unwrap_or_else(|_| "redis-cli".into())
}

/// Asks `url` for `cmd` until `done` is satisfied with the answer.
///
/// # Panics
///
/// When it is not within `READY_WITHIN`; the message has the last answer.
fn await_answer(url: &str, cmd: &redis::Cmd, done: impl Fn(&redis::Value) -> bool) {
    let started = Instant::now();
    loop {
        let answer = redis::Client::open(url)
            .and_then(|client| client.get_connection_with_timeout(Duration::from_secs(1)))
            .and_then(|mut connection| cmd.query::<redis::Value>(&mut connection));
        match answer {
            Ok(value) if done(&value) => return,
            answer => assert!(
                started.elapsed() < READY_WITHIN,
                "{url} did not get there: {answer:?}"
            ),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn text(value: &redis::Value) -> String {
    redis::from_redis_value_ref::<String>(value).unwrap_or_default()
}

/// The number of entries in an array answer.
fn entries(value: &redis::Value) -> usize {
    match value {
        redis::Value::Array(items) => items.len(),
        _ => 0,
    }
}

/// A Redis Cluster of 3 masters and 3 replicas on loopback TCP ports.
#[derive(Debug)]
pub struct Cluster {
    /// Every node; which are masters changes with failovers.
    pub nodes: Vec<RedisServer>,
}

impl Cluster {
    /// Starts six nodes, joins them with `redis-cli --cluster create
    /// --cluster-replicas 1`, and waits until every node says the cluster
    /// is up and every replica is in sync.
    ///
    /// # Panics
    ///
    /// When a node does not start or the cluster does not form.
    #[must_use]
    pub fn start() -> Self {
        let nodes: Vec<RedisServer> = (0..6)
            .map(|_| {
                RedisServer::start_tcp_with(|| {
                    [
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        "nodes.conf",
                        "--cluster-node-timeout",
                        "2000",
                        "--cluster-port",
                        &free_port().to_string(),
                    ]
                    .map(String::from)
                    .to_vec()
                })
            })
            .collect();
        let created = Command::new(cli())
            .args(["--cluster", "create"])
            .args(
                nodes
                    .iter()
                    .map(|node| format!("127.0.0.1:{}", node.port())),
            )
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run `{}` ({e}); install redis-tools", cli()));
        assert!(
            created.status.success(),
            "redis-cli --cluster create failed:\n{}{}",
            String::from_utf8_lossy(&created.stdout),
            String::from_utf8_lossy(&created.stderr)
        );
        let cluster = Cluster { nodes };
        for node in &cluster.nodes {
            await_answer(&node.url(), redis::cmd("CLUSTER").arg("INFO"), |info| {
                let info = text(info);
                info_field(&info, "cluster_state") == Some("ok")
                    && info_field(&info, "cluster_slots_ok") == Some("16384")
                    && info_field(&info, "cluster_known_nodes") == Some("6")
            });
            await_answer(&node.url(), redis::cmd("INFO").arg("replication"), |info| {
                let info = text(info);
                info_field(&info, "role") == Some("master")
                    || info_field(&info, "master_link_status") == Some("up")
            });
        }
        cluster
    }

    /// The `redis+cluster://` URL naming every node.
    #[must_use]
    pub fn url(&self) -> String {
        let hosts: Vec<String> = self
            .nodes
            .iter()
            .map(|node| format!("127.0.0.1:{}", node.port()))
            .collect();
        format!("redis+cluster://{}", hosts.join(","))
    }

    /// Each node's own URL.
    #[must_use]
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }

    /// The nodes that are masters now (and running).
    #[must_use]
    pub fn masters(&self) -> Vec<&RedisServer> {
        self.nodes
            .iter()
            .filter(|node| node.pid().is_some())
            .filter(|node| {
                let info: String = redis::cmd("INFO")
                    .arg("replication")
                    .query(&mut node.connection())
                    .unwrap_or_default();
                info_field(&info, "role") == Some("master")
            })
            .collect()
    }

    /// The index in [`nodes`](Self::nodes) of the master that serves
    /// `key`'s slot now.
    ///
    /// # Panics
    ///
    /// When no running node serves it.
    #[must_use]
    pub fn master_of(&self, key: &str) -> usize {
        // Any other node, a replica too, answers `MOVED`.
        self.nodes
            .iter()
            .position(|node| {
                node.pid().is_some()
                    && redis::cmd("EXISTS")
                        .arg(key)
                        .query::<u64>(&mut node.connection())
                        .is_ok()
            })
            .expect("a master serves the slot")
    }

    /// Every key on the masters.
    #[must_use]
    pub fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.masters().iter().flat_map(|node| node.keys()).collect();
        keys.sort();
        keys
    }
}

/// A sentinel process.
#[derive(Debug)]
struct SentinelProcess {
    child: Option<Child>,
    port: u16,
    dir: TempDir,
}

impl SentinelProcess {
    fn start(master_port: u16) -> Self {
        let mut sentinel = SentinelProcess {
            child: None,
            port: 0,
            dir: temp_dir("sentinel"),
        };
        // Another process may take the port between probing and binding;
        // the process_id check tells, and another port is tried.
        for attempt in 1..=5 {
            sentinel.port = free_port();
            let conf = sentinel.dir.join("sentinel.conf");
            std::fs::write(
                &conf,
                format!(
                    "port {port}\nbind 127.0.0.1\ndir {dir}\nlogfile {dir}/sentinel.log\n\
                     sentinel monitor {service} 127.0.0.1 {master_port} 2\n\
                     sentinel down-after-milliseconds {service} 1000\n\
                     sentinel failover-timeout {service} 5000\n\
                     sentinel parallel-syncs {service} 1\n",
                    port = sentinel.port,
                    dir = sentinel.dir.display(),
                    service = Sentinels::SERVICE,
                ),
            )
            .expect("write sentinel.conf");
            sentinel.child = Some(
                Command::new(super::binary())
                    .arg(&conf)
                    .arg("--sentinel")
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("run redis-server --sentinel"),
            );
            if sentinel.answers_as_itself() {
                return sentinel;
            }
            sentinel.stop();
            assert!(
                attempt < 5,
                "a sentinel did not start:\n{}",
                std::fs::read_to_string(sentinel.dir.join("sentinel.log")).unwrap_or_default()
            );
        }
        unreachable!()
    }

    /// Waits until the sentinel answers, and tells whether the process
    /// that answers is this child.
    fn answers_as_itself(&mut self) -> bool {
        let pid = self.child.as_ref().map(Child::id).unwrap_or_default();
        let url = self.url();
        let started = Instant::now();
        loop {
            let info = redis::Client::open(url.as_str())
                .and_then(|client| client.get_connection_with_timeout(Duration::from_millis(250)))
                .and_then(|mut c| redis::cmd("INFO").arg("server").query::<String>(&mut c));
            if let Ok(info) = info {
                return info_field(&info, "process_id") == Some(pid.to_string().as_str());
            }
            let exited = self
                .child
                .as_mut()
                .and_then(|child| child.try_wait().ok().flatten())
                .is_some();
            if exited || started.elapsed() > READY_WITHIN {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for SentinelProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A master, its replica, and 3 sentinels watching them (quorum 2, a
/// master counted down after 1 s).
#[derive(Debug)]
pub struct Sentinels {
    /// The servers: the master first, until a failover.
    pub servers: Vec<RedisServer>,
    sentinels: Vec<SentinelProcess>,
}

impl Sentinels {
    /// The service name the sentinels watch.
    pub const SERVICE: &'static str = "mymaster";

    /// Starts the master, the replica and the sentinels, and waits until
    /// every sentinel knows the replica and the other two sentinels (so a
    /// failover can happen).
    ///
    /// # Panics
    ///
    /// When a process does not start or the set does not form.
    #[must_use]
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// [`start`](Self::start) with extra arguments for the master's
    /// `redis-server` (e.g. `--rename-command SLAVEOF ""`, so that no
    /// sentinel can demote it: a master that goes on taking writes after
    /// a failover).
    ///
    /// # Panics
    ///
    /// As [`start`](Self::start).
    #[must_use]
    pub fn start_with(master_args: &[&str]) -> Self {
        let master =
            RedisServer::start_tcp_with(|| master_args.iter().map(|&arg| arg.into()).collect());
        let port = master.port();
        let replica = RedisServer::start_tcp_with(|| {
            ["--replicaof", "127.0.0.1", &port.to_string()]
                .map(String::from)
                .to_vec()
        });
        await_answer(
            &replica.url(),
            redis::cmd("INFO").arg("replication"),
            |info| info_field(&text(info), "master_link_status") == Some("up"),
        );
        let sentinels: Vec<SentinelProcess> =
            (0..3).map(|_| SentinelProcess::start(port)).collect();
        for sentinel in &sentinels {
            await_answer(
                &sentinel.url(),
                redis::cmd("SENTINEL").arg("REPLICAS").arg(Self::SERVICE),
                |replicas| entries(replicas) == 1,
            );
            await_answer(
                &sentinel.url(),
                redis::cmd("SENTINEL").arg("SENTINELS").arg(Self::SERVICE),
                |others| entries(others) == 2,
            );
        }
        Sentinels {
            servers: vec![master, replica],
            sentinels,
        }
    }

    /// The `redis+sentinel://` URL naming every sentinel and the service.
    #[must_use]
    pub fn url(&self) -> String {
        let hosts: Vec<String> = self
            .sentinels
            .iter()
            .map(|sentinel| format!("127.0.0.1:{}", sentinel.port))
            .collect();
        format!("redis+sentinel://{}/{}", hosts.join(","), Self::SERVICE)
    }

    /// Each sentinel's URL.
    #[must_use]
    pub fn sentinel_urls(&self) -> Vec<String> {
        self.sentinels.iter().map(SentinelProcess::url).collect()
    }

    /// The index in [`servers`](Self::servers) of the master, as the first
    /// sentinel names it now.
    ///
    /// # Panics
    ///
    /// When the sentinel does not answer or names another port.
    #[must_use]
    pub fn master(&self) -> usize {
        let (_, port): (String, u16) = redis::cmd("SENTINEL")
            .arg("GET-MASTER-ADDR-BY-NAME")
            .arg(Self::SERVICE)
            .query(
                &mut redis::Client::open(self.sentinels[0].url())
                    .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(5)))
                    .expect("connect to a sentinel"),
            )
            .expect("SENTINEL GET-MASTER-ADDR-BY-NAME");
        self.servers
            .iter()
            .position(|server| server.port() == port)
            .expect("the master is one of ours")
    }

    /// Makes the sentinels fail over now (`SENTINEL FAILOVER`), as for
    /// maintenance: the replica is promoted, the old master demoted.
    ///
    /// # Panics
    ///
    /// When the sentinel refuses.
    pub fn fail_over(&self) {
        let _: () = redis::cmd("SENTINEL")
            .arg("FAILOVER")
            .arg(Self::SERVICE)
            .query(
                &mut redis::Client::open(self.sentinels[0].url())
                    .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(5)))
                    .expect("connect to a sentinel"),
            )
            .expect("SENTINEL FAILOVER");
    }

    /// Waits until the sentinels name a master other than `old` and it
    /// has taken the role.
    ///
    /// # Panics
    ///
    /// When no failover happens within `within`.
    pub fn await_failover_from(&self, old: usize, within: Duration) {
        let started = Instant::now();
        while self.master() == old {
            assert!(started.elapsed() < within, "no failover within {within:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Independent masters for Redlock, each on a Unix socket of its own.
#[derive(Debug)]
pub struct RedlockNodes {
    /// The masters.
    pub nodes: Vec<RedisServer>,
}

impl RedlockNodes {
    /// Starts `n` servers.
    ///
    /// # Panics
    ///
    /// When one does not start.
    #[must_use]
    pub fn start(n: usize) -> Self {
        RedlockNodes {
            nodes: (0..n).map(|_| RedisServer::start()).collect(),
        }
    }

    /// Each node's URL.
    #[must_use]
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }
}
