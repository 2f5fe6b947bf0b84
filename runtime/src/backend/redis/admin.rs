//! The admin API on one Redis target (a server, a sentinel's master, a
//! cluster): each operation runs on a connection of its own, made on the
//! `Debouncer`'s connection thread and closed after. `SCAN`, never `KEYS`;
//! on a cluster, on every master.

use redis::{Cmd, RedisResult, Value};

use super::RedisBackend;
use super::target::Link;
use crate::Error;
use crate::backend::admin::{Done, Op, Raw};

/// Keys asked of `SCAN` per call: enough to be quick, few enough that
/// Redis answers each call at once.
const SCAN_COUNT: usize = 1000;

/// How many locks are read or deleted at once (on one connection, in one
/// round trip).
const BATCH: usize = 100;

/// The suffixes of a lock's keys, beside the lock itself.
const SUFFIXES: [&str; 4] = [":fence", ":waiting", ":signal", ":result"];

/// The lock key (`<prefix>{k}`) a Redis key belongs to, and whether it is
/// its fencing counter; `None` for a key that is not one of ours.
pub(crate) fn lock_of<'a>(key: &'a str, prefix: &str) -> Option<(&'a str, bool)> {
    let rest = key.strip_prefix(prefix)?.strip_prefix('{')?;
    let close = prefix.len() + 1 + rest.find('}')?;
    let (lock, suffix) = key.split_at(close + 1);
    match suffix {
        "" => Some((lock, false)),
        ":fence" => Some((lock, true)),
        _ if SUFFIXES.contains(&suffix) => Some((lock, false)),
        _ => None,
    }
}

impl RedisBackend {
    /// Runs `op` on a connection of its own, on the connection thread.
    pub(crate) async fn admin(&self, prefix: &str, op: Op) -> Result<Done, Error> {
        let runtime = self.runtime()?;
        let connecting = self.settings.connect(Some(self.settings.response_timeout));
        let prefix = prefix.to_owned();
        let task = runtime.spawn(async move {
            let mut link = connecting.await?;
            run(&mut link, &prefix, op).await
        });
        // A caller that gives up stops the operation (a purge between two
        // batches), and its connection with it.
        let mut task = Aborting(task);
        match (&mut task.0).await {
            Ok(done) => done.map_err(|e| self.error(e, "")),
            Err(_) => Err(Error::config("the admin task ended without an answer")),
        }
    }
}

/// Aborts its task when dropped.
struct Aborting<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for Aborting<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn run(link: &mut Link, prefix: &str, op: Op) -> RedisResult<Done> {
    match op {
        Op::Locks { starts } => {
            let mut locks = std::collections::HashSet::new();
            scan(link, &pattern(&starts), |keys| {
                for key in keys {
                    if let Some((lock, false)) = lock_of(&key, prefix) {
                        locks.insert(lock.to_owned());
                    }
                }
                true
            })
            .await?;
            Ok(Done::Locks(locks.into_iter().collect()))
        }
        Op::Inspect(locks) => {
            let mut raws = Vec::with_capacity(locks.len());
            for batch in locks.chunks(BATCH) {
                raws.extend(all(batch.iter().map(|lock| inspect(link.clone(), lock))).await?);
            }
            Ok(Done::Inspected(raws))
        }
        Op::TakeDown {
            key,
            value,
            deadline,
        } => {
            let mut cmd = redis::cmd("EVAL");
            cmd.arg(super::script::TAKE_DOWN_LUA.as_str())
                .arg(3)
                .arg(&key)
                .arg(format!("{key}:waiting"))
                .arg(format!("{key}:signal"))
                .arg(value)
                .arg(deadline);
            Ok(Done::TakenDown(ask(link, &cmd).await? == Value::Int(1)))
        }
        Op::Purge { starts, dry_run } => {
            let mut groups: std::collections::HashMap<String, Vec<String>> =
                std::collections::HashMap::new();
            scan(link, &pattern(&starts), |keys| {
                for key in keys {
                    if let Some((lock, false)) = lock_of(&key, prefix) {
                        let lock = lock.to_owned();
                        groups.entry(lock).or_default().push(key);
                    }
                }
                true
            })
            .await?;
            let locks = groups.len() as u64;
            if dry_run {
                let keys = groups.values().map(|keys| keys.len() as u64).sum();
                return Ok(Done::Purged(locks, keys));
            }
            let groups: Vec<Vec<String>> = groups.into_values().collect();
            let mut deleted = 0;
            // One `UNLINK` per lock: its keys share one hash slot.
            for batch in groups.chunks(BATCH) {
                let unlinks = batch.iter().map(|keys| {
                    let mut link = link.clone();
                    let mut cmd = redis::cmd("UNLINK");
                    cmd.arg(keys);
                    async move { ask(&mut link, &cmd).await }
                });
                for answer in all(unlinks).await? {
                    if let Value::Int(n) = answer {
                        deleted += u64::try_from(n).unwrap_or(0);
                    }
                }
            }
            Ok(Done::Purged(locks, deleted))
        }
    }
}

/// The `SCAN` pattern of the keys that start with `starts`: its glob
/// characters escaped, then `*`.
fn pattern(starts: &str) -> String {
    let mut pattern = String::with_capacity(starts.len() + 8);
    for c in starts.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('*');
    pattern
}

/// Reads one lock (`inspect.lua`).
async fn inspect(mut link: Link, lock: &str) -> RedisResult<Raw> {
    let mut cmd = redis::cmd("EVAL");
    cmd.arg(super::script::INSPECT_LUA.as_str())
        .arg(4)
        .arg(lock)
        .arg(format!("{lock}:fence"))
        .arg(format!("{lock}:waiting"))
        .arg(format!("{lock}:result"));
    let value = ask(&mut link, &cmd).await?;
    Raw::parse(&value).ok_or_else(|| {
        redis::RedisError::from((
            redis::ErrorKind::UnexpectedReturnType,
            "an unexpected answer to the inspect script",
        ))
    })
}

/// Every future's output, in order; the first error if any failed.
async fn all<T>(
    futures: impl IntoIterator<Item = impl Future<Output = RedisResult<T>>>,
) -> RedisResult<Vec<T>> {
    let futures: Vec<_> = futures.into_iter().collect();
    let mut out: Vec<Option<RedisResult<T>>> = (0..futures.len()).map(|_| None).collect();
    crate::backend::each(futures, |at, answer| {
        out[at] = Some(answer);
        std::ops::ControlFlow::Continue(())
    })
    .await;
    out.into_iter()
        .map(|answer| answer.unwrap_or_else(|| Err(super::conn::stopped())))
        .collect()
}

/// `SCAN`s every master for `pattern`, handing each batch of keys to
/// `found` until it says stop or the scan is over.
async fn scan(
    link: &mut Link,
    pattern: &str,
    mut found: impl FnMut(Vec<String>) -> bool,
) -> RedisResult<()> {
    for node in nodes(link).await? {
        let mut cursor = 0_u64;
        loop {
            let mut cmd = redis::cmd("SCAN");
            cmd.arg(cursor)
                .arg("MATCH")
                .arg(pattern)
                .arg("COUNT")
                .arg(SCAN_COUNT);
            let answer = send_to(link, node.as_ref(), cmd).await?;
            let (next, keys): (u64, Vec<String>) = redis::from_redis_value(answer)?;
            if !found(keys) {
                return Ok(());
            }
            if next == 0 {
                break;
            }
            cursor = next;
        }
    }
    Ok(())
}

/// The nodes to scan: the one server (`None`), or every master of a
/// cluster.
#[cfg_attr(
    not(feature = "cluster"),
    allow(clippy::unused_async, reason = "a cluster's are asked for")
)]
async fn nodes(link: &mut Link) -> RedisResult<Vec<Option<(String, u16)>>> {
    match link {
        Link::Server(_) => Ok(vec![None]),
        #[cfg(feature = "cluster")]
        Link::Cluster(conn) => {
            use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
            let slots = conn
                .route_command(
                    redis::cmd("CLUSTER").arg("SLOTS").clone(),
                    RoutingInfo::SingleNode(SingleNodeRoutingInfo::RandomPrimary),
                )
                .await
                .and_then(Value::extract_error)?;
            // [[start, end, [host, port, id, ..], replicas ..] ..]
            let ranges: Vec<Vec<Value>> = redis::from_redis_value(slots)?;
            let mut masters = Vec::new();
            for range in ranges {
                let Some(master) = range.into_iter().nth(2) else {
                    continue;
                };
                let (host, port): (String, u16) = match master {
                    Value::Array(parts) => {
                        let mut parts = parts.into_iter();
                        let host = parts.next().map(redis::from_redis_value).transpose()?;
                        let port = parts.next().map(redis::from_redis_value).transpose()?;
                        match (host, port) {
                            (Some(host), Some(port)) => (host, port),
                            _ => continue,
                        }
                    }
                    _ => continue,
                };
                if !masters.contains(&Some((host.clone(), port))) {
                    masters.push(Some((host, port)));
                }
            }
            Ok(masters)
        }
    }
}

/// Sends `cmd` to `node` (a cluster master), or on the link.
async fn send_to(link: &mut Link, node: Option<&(String, u16)>, cmd: Cmd) -> RedisResult<Value> {
    match (link, node) {
        #[cfg(feature = "cluster")]
        (Link::Cluster(conn), Some((host, port))) => {
            use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
            let routing = SingleNodeRoutingInfo::ByAddress {
                host: host.clone(),
                port: *port,
            };
            conn.route_command(cmd, RoutingInfo::SingleNode(routing))
                .await
                .and_then(Value::extract_error)
        }
        (link, _) => ask(link, &cmd).await,
    }
}

/// Sends `cmd` on the link: its answer, or the error Redis answered (a
/// missing permission, a key of another type).
async fn ask(link: &mut Link, cmd: &Cmd) -> RedisResult<Value> {
    link.send(cmd).await.and_then(Value::extract_error)
}

#[cfg(test)]
mod tests {
    use super::{lock_of, pattern};

    /// A prefix's glob characters match only themselves.
    #[test]
    fn patterns_escape_glob_characters() {
        assert_eq!(pattern("d:{a*b?[c]\\"), "d:{a\\*b\\?\\[c\\]\\\\*");
        assert_eq!(pattern(""), "*");
    }

    /// Every key of a lock maps to the lock; others are not ours.
    #[test]
    fn keys_map_to_their_lock() {
        let p = "debounce:";
        assert_eq!(
            lock_of("debounce:{a:b}", p),
            Some(("debounce:{a:b}", false))
        );
        for suffix in [":waiting", ":signal", ":result"] {
            let key = format!("debounce:{{a:b}}{suffix}");
            assert_eq!(lock_of(&key, p), Some(("debounce:{a:b}", false)));
        }
        assert_eq!(
            lock_of("debounce:{a}:fence", p),
            Some(("debounce:{a}", true))
        );
        for foreign in [
            "debounce:{a}:other",
            "debounce:a",
            "other:{a}",
            "debounce:{a",
        ] {
            assert_eq!(lock_of(foreign, p), None, "{foreign}");
        }
    }
}
