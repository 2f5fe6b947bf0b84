//! Where the connections go: one server, the master the sentinels name, or
//! a Redis Cluster. Everything above this module (the dispatcher, the
//! waiters) sees one ordered [`Link`] whatever the topology.

#[cfg(any(feature = "sentinel", feature = "cluster"))]
use std::sync::Arc;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, Cmd, RedisResult, Value};

/// How to reach the server that holds the locks.
#[derive(Clone)]
#[allow(
    clippy::large_enum_variant,
    reason = "one per Debouncer, cloned once per connection"
)]
pub(crate) enum Target {
    /// One server.
    Server(Client),
    /// The master of a service that sentinels watch: asked for on every
    /// new connection, so a failover is followed by the next one.
    #[cfg(feature = "sentinel")]
    Sentinel(Arc<Sentinel>),
    /// A Redis Cluster: each request goes to the master of its key's slot
    /// (redis-rs follows `MOVED` and `ASK`, and refreshes its slot map).
    #[cfg(feature = "cluster")]
    Cluster(Arc<Cluster>),
}

/// A Redis Cluster's clients, a pair per seed node given: one whose
/// requests time out (a request's MOVED and ASK retries included), one for
/// waiters, whose `BLPOP` blocks. A connection is made from every seed at
/// once and the first made is kept: redis-rs tries its seeds one after
/// another, so a seed that hangs (a dead host that sends no reset) would
/// stall every connection.
#[cfg(feature = "cluster")]
pub(crate) struct Cluster {
    requests: Vec<redis::cluster::ClusterClient>,
    waits: Vec<redis::cluster::ClusterClient>,
}

#[cfg(feature = "cluster")]
impl Cluster {
    async fn connect(
        clients: &[redis::cluster::ClusterClient],
    ) -> RedisResult<redis::cluster_async::ClusterConnection> {
        first_made(
            clients
                .iter()
                .map(redis::cluster::ClusterClient::get_async_connection),
            "no cluster node",
        )
        .await
    }
}

/// The first of `attempts` (all made at once) to succeed, the others
/// dropped; when none does, the first error (`none` when there was none
/// to make).
#[cfg(any(feature = "sentinel", feature = "cluster"))]
async fn first_made<T>(
    attempts: impl IntoIterator<Item = impl Future<Output = RedisResult<T>>>,
    none: &str,
) -> RedisResult<T> {
    let mut made = None;
    let mut failure = None;
    super::super::each(attempts, |_, answer| match answer {
        Ok(value) => {
            made = Some(value);
            std::ops::ControlFlow::Break(())
        }
        Err(error) => {
            failure.get_or_insert(error);
            std::ops::ControlFlow::Continue(())
        }
    })
    .await;
    match (made, failure) {
        (Some(value), _) => Ok(value),
        (None, Some(error)) => Err(error),
        (None, None) => Err(std::io::Error::other(none.to_owned()).into()),
    }
}

// A `Debouncer` is unwind-safe whatever features are on (features must
// not take an auto trait away). The sentinel and cluster clients are not
// (a mutex, redis-rs's boxed hooks), but a panic can leave them in no
// state that breaks a lock: a panic in a caller never reaches them (they
// run on the connection thread), and one there ends that thread.
impl std::panic::UnwindSafe for Target {}
impl std::panic::RefUnwindSafe for Target {}

/// A service name and the sentinels to ask for its master.
#[cfg(feature = "sentinel")]
pub(crate) struct Sentinel {
    pub(crate) service: String,
    /// Where each sentinel listens, for `Debug`: no password.
    pub(crate) addrs: Vec<String>,
    /// A client per sentinel, all asked at once (redis-rs's sentinel
    /// client asks its sentinels one after another, so one that hangs
    /// would stall every lookup); each asks with `&mut self`.
    pub(crate) clients: Vec<tokio::sync::Mutex<redis::sentinel::SentinelClient>>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            // The address only: the connection info holds the password.
            Target::Server(client) => f
                .debug_tuple("Server")
                .field(&client.get_connection_info().addr())
                .finish(),
            #[cfg(feature = "sentinel")]
            Target::Sentinel(sentinel) => f
                .debug_struct("Sentinel")
                .field("service", &sentinel.service)
                .field("sentinels", &sentinel.addrs)
                .finish(),
            #[cfg(feature = "cluster")]
            Target::Cluster(_) => f.write_str("Cluster"),
        }
    }
}

#[cfg(feature = "sentinel")]
impl Sentinel {
    /// The master's client, from the first sentinel whose answer checks
    /// out (its role is master); all are asked at once.
    async fn master(&self) -> RedisResult<Client> {
        first_made(
            self.clients
                .iter()
                .map(|client| async move { client.lock().await.async_get_client().await }),
            "no sentinel",
        )
        .await
    }

    /// Listens on a sentinel for `+switch-master` of this service and calls
    /// `switched` on each (and once each time it starts listening, for a
    /// switch it may have missed meanwhile); after a failure, listens again
    /// a second later, on the next sentinel. Runs until aborted.
    pub(super) async fn follow(self: Arc<Self>, timeout: Duration, switched: impl Fn()) {
        for at in (0..self.clients.len()).cycle() {
            if let Err(error) = self.listen(at, timeout, &switched).await {
                tracing::debug!(%error, "redis-debounce: not listening to the sentinels for a moment");
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    async fn listen(&self, at: usize, timeout: Duration, switched: &impl Fn()) -> RedisResult<()> {
        let subscribing = async {
            let client = self.clients[at]
                .lock()
                .await
                .async_get_sentinel_client()
                .await?;
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe("+switch-master").await?;
            RedisResult::Ok(pubsub)
        };
        let mut pubsub = tokio::time::timeout(timeout, subscribing)
            .await
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
        switched();
        let mut messages = std::pin::pin!(pubsub.on_message());
        // `<service> <old ip> <old port> <new ip> <new port>`
        while let Some(message) =
            std::future::poll_fn(|cx| futures_core::Stream::poll_next(messages.as_mut(), cx)).await
        {
            let payload: String = message.get_payload()?;
            if payload.split(' ').next() == Some(self.service.as_str()) {
                switched();
            }
        }
        Ok(())
    }
}

/// One connection, to one server or to a cluster, that carries requests in
/// the order they are first polled (per node, on a cluster).
#[derive(Clone)]
pub(super) enum Link {
    Server(MultiplexedConnection),
    #[cfg(feature = "cluster")]
    Cluster(redis::cluster_async::ClusterConnection),
}

impl Target {
    /// Makes a connection: `connect_timeout` bounds the whole of it
    /// (sentinels' answers included), `response_timeout` each answer on
    /// it (`None` for a waiter's, which blocks in `BLPOP`).
    pub(super) async fn connect(
        self,
        config: AsyncConnectionConfig,
        connect_timeout: Duration,
        response_timeout: Option<Duration>,
    ) -> RedisResult<Link> {
        #[cfg(not(feature = "cluster"))]
        let _ = response_timeout;
        let connecting = async {
            match self {
                Target::Server(client) => client
                    .get_multiplexed_async_connection_with_config(&config)
                    .await
                    .map(Link::Server),
                #[cfg(feature = "sentinel")]
                Target::Sentinel(sentinel) => {
                    let master = sentinel.master().await?;
                    master
                        .get_multiplexed_async_connection_with_config(&config)
                        .await
                        .map(Link::Server)
                }
                #[cfg(feature = "cluster")]
                Target::Cluster(cluster) => match response_timeout {
                    Some(_) => Cluster::connect(&cluster.requests).await,
                    None => Cluster::connect(&cluster.waits).await,
                }
                .map(Link::Cluster),
            }
        };
        match tokio::time::timeout(connect_timeout, connecting).await {
            Ok(made) => made,
            Err(_) => Err(std::io::Error::from(std::io::ErrorKind::TimedOut).into()),
        }
    }
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Link::Server(_) => "Link::Server",
            #[cfg(feature = "cluster")]
            Link::Cluster(_) => "Link::Cluster",
        })
    }
}

impl Link {
    /// Sends one request; its first poll queues it.
    pub(super) async fn send(&mut self, cmd: &Cmd) -> RedisResult<Value> {
        match self {
            Link::Server(conn) => conn.send_packed_command(cmd).await,
            #[cfg(feature = "cluster")]
            Link::Cluster(conn) => redis::aio::ConnectionLike::req_packed_command(conn, cmd).await,
        }
    }

    /// Loads the scripts sent by hash: on a cluster, on every master
    /// (redis-rs routes `SCRIPT LOAD` to all of them).
    pub(super) async fn load_scripts(&mut self) -> RedisResult<()> {
        match self {
            Link::Server(conn) => super::script::load().exec_async(conn).await,
            #[cfg(feature = "cluster")]
            Link::Cluster(conn) => {
                for lua in super::script::hashed() {
                    redis::cmd("SCRIPT")
                        .arg("LOAD")
                        .arg(lua)
                        .exec_async(conn)
                        .await?;
                }
                Ok(())
            }
        }
    }
}

/// Parses one node's URL (`redis://` or `rediss://`) for a topology;
/// `what` names the node's role in errors, which never echo the URL.
#[cfg(any(feature = "sentinel", feature = "cluster"))]
fn node(url: &str, what: &str) -> Result<(redis::ConnectionInfo, bool), crate::Error> {
    use redis::IntoConnectionInfo as _;
    let scheme = url.split_once("://").map_or("", |(scheme, _)| scheme);
    let tls = super::scheme_tls(scheme, &["redis"], "redis:// or rediss://")?;
    let info = url
        .into_connection_info()
        .map_err(|e| crate::Error::config(format!("{what} URL: {e}")))?;
    Ok((info, tls))
}

impl Target {
    /// The master of `service`, as `sentinels` (their URLs) name it. The
    /// first URL's username, password and database are the master's;
    /// `sentinel_auth` authenticates to the sentinels.
    #[cfg(feature = "sentinel")]
    pub(crate) fn sentinel(
        service: &str,
        sentinels: &[String],
        sentinel_auth: Option<&(Option<String>, String)>,
        reach: &super::Reach,
    ) -> Result<Target, crate::Error> {
        use redis::sentinel::{SentinelClientBuilder, SentinelServerType};
        let config = |e: redis::RedisError| crate::Error::config(format!("the sentinels: {e}"));
        if service.is_empty() {
            return Err(crate::Error::config("the sentinel service name is empty"));
        }
        let nodes = sentinels
            .iter()
            .map(|url| node(url, "a sentinel"))
            .collect::<Result<Vec<_>, _>>()?;
        let Some((first, tls)) = nodes.first() else {
            return Err(crate::Error::config("no sentinel given"));
        };
        let client = |addr: &redis::ConnectionAddr| {
            let mut builder =
                SentinelClientBuilder::new([addr.clone()], service, SentinelServerType::Master)
                    .map_err(config)?
                    .set_client_to_redis_db(first.redis_settings().db());
            if let Some(username) = first.redis_settings().username() {
                builder = builder.set_client_to_redis_username(username);
            }
            if let Some(password) = first.redis_settings().password() {
                builder = builder.set_client_to_redis_password(password);
            }
            if let Some((username, password)) = sentinel_auth {
                if let Some(username) = username {
                    builder = builder.set_client_to_sentinel_username(username);
                }
                builder = builder.set_client_to_sentinel_password(password);
            }
            if *tls {
                #[cfg(feature = "tls")]
                {
                    builder = builder
                        .set_client_to_redis_tls_mode(redis::TlsMode::Secure)
                        .set_client_to_sentinel_tls_mode(redis::TlsMode::Secure);
                    if reach.tls.is_set() {
                        builder = builder
                            .set_client_to_redis_certificates(reach.tls.certificates())
                            .set_client_to_sentinel_certificates(reach.tls.certificates());
                    }
                }
            }
            builder.build().map(tokio::sync::Mutex::new).map_err(config)
        };
        #[cfg(not(feature = "tls"))]
        let _ = reach;
        let clients = nodes
            .iter()
            .map(|(info, _)| client(info.addr()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Target::Sentinel(Arc::new(Sentinel {
            service: service.into(),
            addrs: nodes
                .iter()
                .map(|(info, _)| info.addr().to_string())
                .collect(),
            clients,
        })))
    }

    /// A Redis Cluster that `nodes` (some of its nodes' URLs) belong to.
    #[cfg(feature = "cluster")]
    pub(crate) fn cluster(nodes: &[String], reach: &super::Reach) -> Result<Target, crate::Error> {
        let config = |e: redis::RedisError| crate::Error::config(format!("the cluster: {e}"));
        let infos = nodes
            .iter()
            .map(|url| node(url, "a cluster node's"))
            .collect::<Result<Vec<_>, _>>()?;
        if infos.is_empty() {
            return Err(crate::Error::config("no cluster node given"));
        }
        let tls = infos.iter().any(|(_, tls)| *tls);
        let builder = |seed: &redis::ConnectionInfo| {
            let builder = redis::cluster::ClusterClient::builder([seed.clone()])
                .connection_timeout(reach.connect_timeout);
            #[cfg(feature = "tls")]
            if tls && reach.tls.is_set() {
                return builder.certs(reach.tls.certificates());
            }
            #[cfg(not(feature = "tls"))]
            let _ = tls;
            builder
        };
        let clients = |response_timeout: Option<Duration>| {
            infos
                .iter()
                .map(|(seed, _)| {
                    let builder = builder(seed);
                    match response_timeout {
                        Some(timeout) => builder.response_timeout(timeout),
                        None => builder,
                    }
                    .build()
                    .map_err(config)
                })
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(Target::Cluster(Arc::new(Cluster {
            requests: clients(Some(reach.response_timeout))?,
            waits: clients(None)?,
        })))
    }
}
