//! The Redis backend: `SET NX PX` with an owner token, compare-and-delete
//! release, one multiplexed connection for async callers and a small pool
//! of blocking connections for sync callers.

use std::cell::RefCell;
use std::future::Future;
use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{
    AsyncConnectionConfig, Client, Cmd, FromRedisValue, Pipeline, RedisWrite, Script, Value,
};

use super::{Acquire, Ask, Finish, Mode};
use crate::Error;
use crate::token::Token;

/// Put before the scripts that wake waiters: the `wake` function.
macro_rules! with_wake {
    ($script:literal) => {
        concat!(include_str!("../scripts/wake.lua"), include_str!($script))
    };
}

/// A script as sent: without its comment lines and indentation. Redis
/// hashes the text of every `EVAL`, and the comments are for readers.
fn compact(lua: &str) -> String {
    let mut out = String::with_capacity(lua.len());
    for line in lua.lines().map(str::trim) {
        if !line.is_empty() && !line.starts_with("--") {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

static ACQUIRE_LUA: LazyLock<String> =
    LazyLock::new(|| compact(with_wake!("../scripts/acquire.lua")));
static FINISH_LUA: LazyLock<String> =
    LazyLock::new(|| compact(with_wake!("../scripts/finish.lua")));
static EXTEND_LUA: LazyLock<String> =
    LazyLock::new(|| compact(include_str!("../scripts/extend.lua")));
static RELEASE_LUA: LazyLock<String> =
    LazyLock::new(|| compact(with_wake!("../scripts/release.lua")));
/// Sent by hash (`EVALSHA`): their answers are awaited, so a NOSCRIPT is
/// heard, and answered by loading them.
static ACQUIRE: LazyLock<Script> = LazyLock::new(|| Script::new(&ACQUIRE_LUA));
static EXTEND: LazyLock<Script> = LazyLock::new(|| Script::new(&EXTEND_LUA));

/// The keys that belong to one lock key, beside it in its hash slot.
const SUFFIXES: [&str; 4] = [":fence", ":waiting", ":signal", ":result"];

/// Bytes of a command's arguments beyond its keys: the longest script hash,
/// token and numbers fit.
const ARGS_BYTES: usize = 96;

/// Writes `<key><suffix>` as one argument, straight into the command's
/// buffer (no string, no formatting machinery).
fn key_arg(cmd: &mut Cmd, key: &str, suffix: &str) {
    let mut arg = cmd.writer_for_next_arg();
    // Writing into the command's own `Vec` cannot fail.
    let _ = arg.write_all(key.as_bytes());
    let _ = arg.write_all(suffix.as_bytes());
}

/// `<EVALSHA hash | EVAL text> 5 <key> <key>:fence <key>:waiting <key>:signal <key>:result`:
/// the acquire and finish scripts declare the same keys. Sized up front:
/// the buffers never grow while the command is written.
fn eval_keys(eval: &str, script: &str, key: &str, args: usize, payload: usize) -> Cmd {
    let keys = 1 + SUFFIXES.len();
    let mut cmd = Cmd::with_capacity(
        3 + keys + args,
        script.len() + keys * key.len() + 32 + ARGS_BYTES + payload,
    );
    cmd.arg(eval).arg(script).arg(keys).arg(key);
    for suffix in SUFFIXES {
        key_arg(&mut cmd, key, suffix);
    }
    cmd
}

fn acquire_cmd(key: &str, ask: Ask) -> Cmd {
    let flags = u8::from(ask.fence) | u8::from(ask.replay) << 1;
    let mut cmd = eval_keys("EVALSHA", ACQUIRE.get_hash(), key, 4, 0);
    cmd.arg(ask.token.as_bytes())
        .arg(ask.ttl_ms)
        .arg(flags)
        .arg(ask.wait_ms);
    cmd
}

/// The script call that gives a lock up: the plain release, or with a
/// cooldown and/or a stored result. Both are sent as text (`EVAL`), never
/// by hash: a finish is sent without the caller waiting, and one that met
/// a NOSCRIPT would need a second trip that the caller's next request
/// could overtake (or, unheard, would leave the lock to its lease).
fn finish_cmd(key: &str, token: Token, finish: &Finish) -> Cmd {
    if *finish == Finish::RELEASE {
        return release_cmd(key, token);
    }
    let payload = finish
        .store
        .as_ref()
        .map_or(0, |(payload, _)| payload.len());
    let mut cmd = eval_keys("EVAL", &FINISH_LUA, key, 4, payload);
    cmd.arg(token.as_bytes())
        .arg(finish.cooldown_ms.unwrap_or(0));
    match &finish.store {
        Some((payload, ms)) => cmd.arg(*ms).arg(payload.as_slice()),
        None => cmd.arg(0).arg(""),
    };
    cmd
}

/// `EVAL <release.lua> 3 <key> <key>:waiting <key>:signal <token>`.
fn release_cmd(key: &str, token: Token) -> Cmd {
    let lua = RELEASE_LUA.as_str();
    let mut cmd = Cmd::with_capacity(7, lua.len() + 3 * key.len() + ARGS_BYTES);
    cmd.arg("EVAL").arg(lua).arg(3).arg(key);
    key_arg(&mut cmd, key, ":waiting");
    key_arg(&mut cmd, key, ":signal");
    cmd.arg(token.as_bytes());
    cmd
}

/// The lock key of a [`finish_cmd`], for a log line: read back from the
/// command, so that the release path copies no key when all goes well.
fn finish_key(cmd: &Cmd) -> String {
    // EVAL(SHA) <script> <numkeys> <key> ...
    match cmd.args_iter().nth(3) {
        Some(redis::Arg::Simple(key)) => String::from_utf8_lossy(key).into_owned(),
        _ => String::new(),
    }
}

fn extend_cmd(key: &str, token: Token, ttl_ms: u64) -> Cmd {
    let mut cmd = redis::cmd("EVALSHA");
    cmd.arg(EXTEND.get_hash())
        .arg(1)
        .arg(key)
        .arg(token.as_bytes())
        .arg(ttl_ms);
    cmd
}

/// `BLPOP <key>:signal <seconds>`: a waiter's sleep, cut short by a release.
fn wait_cmd(key: &str, timeout: Duration) -> Cmd {
    let mut cmd = redis::cmd("BLPOP");
    key_arg(&mut cmd, key, ":signal");
    // Redis reads a decimal timeout in seconds; 0 would mean forever.
    cmd.arg(format!("{:.3}", timeout.as_secs_f64().max(0.001)));
    cmd
}

/// Loads every script sent by hash at once after a NOSCRIPT (a new or
/// restarted server, `SCRIPT FLUSH`), so that one NOSCRIPT costs one extra
/// round trip, not one per script.
fn load_scripts() -> Pipeline {
    let mut pipe = redis::pipe();
    for lua in [&ACQUIRE_LUA, &EXTEND_LUA] {
        pipe.cmd("SCRIPT").arg("LOAD").arg(lua.as_str()).ignore();
    }
    pipe
}

fn is_noscript(err: &redis::RedisError) -> bool {
    err.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript)
}

/// `cmd.query_async(manager)`, through the manager's own method rather
/// than the `ConnectionLike` trait, whose every request boxes its future.
async fn query_async<T: FromRedisValue>(
    manager: &mut ConnectionManager,
    cmd: &Cmd,
) -> redis::RedisResult<T> {
    let value = manager.send_packed_command(cmd).await?;
    Ok(redis::from_redis_value(value.extract_error()?)?)
}

async fn eval_async<T: FromRedisValue>(
    manager: &mut ConnectionManager,
    cmd: &Cmd,
) -> redis::RedisResult<T> {
    match query_async(manager, cmd).await {
        Err(err) if is_noscript(&err) => {
            load_scripts().exec_async(manager).await?;
            query_async(manager, cmd).await
        }
        answer => answer,
    }
}

fn eval_blocking<T: FromRedisValue>(
    connection: &mut redis::Connection,
    cmd: &Cmd,
) -> redis::RedisResult<T> {
    match cmd.query(connection) {
        Err(err) if is_noscript(&err) => {
            load_scripts().exec(connection)?;
            cmd.query(connection)
        }
        answer => answer,
    }
}

/// Tells backends apart among the connections a thread keeps (`OWED`).
static NEXT_BACKEND: AtomicU64 = AtomicU64::new(0);

/// Blocking connections a thread owes one answer per connection:
/// the answer to the release it sent last without waiting for it.
const OWED_PER_THREAD: usize = 8;

thread_local! {
    /// By backend: this thread's next request to that backend goes on the
    /// same connection, so Redis runs the thread's release first, and reads
    /// the release's answer before its own.
    static OWED: RefCell<Vec<(u64, redis::Connection)>> = const { RefCell::new(Vec::new()) };
    /// By backend: the last release of this thread's that failed since its
    /// last flush, for `flush_blocking` to report.
    static FAILED: RefCell<Vec<(u64, Error)>> = const { RefCell::new(Vec::new()) };
}

/// Whether a failed request leaves its connection usable: a server's
/// answer does; a broken or timed-out connection does not.
fn reusable(error: &redis::RedisError) -> bool {
    !(error.is_io_error() || error.is_timeout() || error.is_connection_dropped())
}

/// Commands that may wait on the multiplexed connection at once.
const PIPELINE_BUFFER: usize = 1 << 20;

/// Idle blocking connections kept for reuse.
const POOL_SIZE: usize = 16;

pub(crate) struct RedisBackend {
    /// This backend among the connections a thread keeps (`OWED`).
    id: u64,
    client: Client,
    connect_timeout: Duration,
    response_timeout: Duration,
    /// The multiplexed connection and the tokio runtime it lives on: its
    /// driver task dies with that runtime, so another runtime gets its own.
    manager: Mutex<Option<(tokio::runtime::Id, ConnectionManager)>>,
    pool: Mutex<Vec<redis::Connection>>,
    /// Idle connections for async waiters: a `BLPOP` holds its connection,
    /// so it cannot share the multiplexed one.
    waiters: Mutex<Vec<(tokio::runtime::Id, MultiplexedConnection)>>,
}

impl std::fmt::Debug for RedisBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBackend")
            .field("addr", &self.client.get_connection_info().addr())
            .field("connect_timeout", &self.connect_timeout)
            .field("response_timeout", &self.response_timeout)
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section is one assignment or one push/pop: a panic
    // elsewhere cannot leave the value half-written.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl RedisBackend {
    /// Validates the URL and prepares the client; does no I/O.
    pub(crate) fn open(
        url: &str,
        connect_timeout: Duration,
        response_timeout: Duration,
        #[cfg(feature = "tls")] tls: &Tls,
    ) -> Result<Self, Error> {
        let scheme = url.split_once("://").map_or("", |(scheme, _)| scheme);
        match scheme {
            "redis" | "redis+unix" | "unix" => {}
            #[cfg(feature = "tls")]
            "rediss" => {
                // rustls needs a process-wide crypto provider; keep one the
                // application installed, else install ring's.
                let _ = rustls::crypto::ring::default_provider().install_default();
            }
            #[cfg(not(feature = "tls"))]
            "rediss" => {
                return Err(Error::config(
                    "`rediss://` needs the `tls` feature of redis-debounce",
                ));
            }
            _ => {
                return Err(Error::config(format!(
                    "not a Redis URL (scheme `{scheme}`): expected redis://, rediss:// or redis+unix://"
                )));
            }
        }
        #[cfg(feature = "tls")]
        let client = if tls.is_set() {
            if scheme != "rediss" {
                return Err(Error::config(
                    "TLS certificates were given for a URL that is not `rediss://`",
                ));
            }
            Client::build_with_tls(url, tls.certificates())
        } else {
            Client::open(url)
        };
        #[cfg(not(feature = "tls"))]
        let client = Client::open(url);
        // The URL itself is never echoed: it may hold a password that a
        // character the parser stumbled on kept from being recognised.
        let client = client.map_err(|e| Error::config(format!("the Redis URL: {e}")))?;
        Ok(RedisBackend {
            id: NEXT_BACKEND.fetch_add(1, Ordering::Relaxed),
            client,
            connect_timeout,
            response_timeout,
            manager: Mutex::new(None),
            pool: Mutex::new(Vec::new()),
            waiters: Mutex::new(Vec::new()),
        })
    }

    /// The whole budget of one async request: connecting, then answering.
    fn deadline(&self) -> Duration {
        self.connect_timeout + self.response_timeout
    }

    fn error(&self, err: redis::RedisError, key: &str) -> Error {
        Error::from_redis(err, key, self.response_timeout)
    }

    /// The multiplexed connection for the current tokio runtime, created
    /// lazily (no I/O here) and reconnecting by itself after failures.
    fn manager(&self) -> Result<ConnectionManager, Error> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| Error::config("async lock calls need a tokio runtime"))?
            .id();
        let mut slot = lock(&self.manager);
        if let Some((id, manager)) = slot.as_ref()
            && *id == runtime
        {
            return Ok(manager.clone());
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.connect_timeout))
            .set_response_timeout(Some(self.response_timeout))
            .set_number_of_retries(1)
            .set_max_delay(self.connect_timeout)
            // A detached release must be in the connection's queue when
            // `finish_detached` returns, so that the caller's next acquire
            // is ordered after it. With the default bound (50), a send
            // under load first waits for room, and a later acquire can take
            // the room first. The bound is a permit count, not memory.
            .set_pipeline_buffer_size(PIPELINE_BUFFER);
        let manager = ConnectionManager::new_lazy_with_config(self.client.clone(), config)
            .map_err(|e| Error::from_redis(e, "", self.connect_timeout))?;
        *slot = Some((runtime, manager.clone()));
        Ok(manager)
    }

    /// Runs one request on the multiplexed connection. The connection
    /// bounds it: each connection attempt by the connect timeout, the
    /// answer by the response timeout (a timer per request; a second one
    /// around it here would cost every call as much again).
    async fn run<T, F>(
        &self,
        key: &str,
        request: impl FnOnce(ConnectionManager) -> F,
    ) -> Result<T, Error>
    where
        F: Future<Output = redis::RedisResult<T>>,
    {
        let manager = self.manager()?;
        request(manager).await.map_err(|e| self.error(e, key))
    }

    /// A `PING` behind every release sent from this runtime: Redis answers
    /// one connection in order, so its answer comes after theirs. No
    /// connection yet, nothing sent: nothing to wait for.
    pub(crate) async fn flush(&self) -> Result<(), Error> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| Error::config("async lock calls need a tokio runtime"))?
            .id();
        let started = lock(&self.manager)
            .as_ref()
            .is_some_and(|(id, _)| *id == runtime);
        if !started {
            return Ok(());
        }
        let ping = redis::cmd("PING");
        self.run("", |mut manager| async move {
            query_async::<Value>(&mut manager, &ping).await
        })
        .await
        .map(drop)
    }

    /// `SET key token NX PX ttl` alone, for a request that wants nothing but
    /// the lock (no fencing token, stored result or wait): a native command
    /// costs the server a fifth of the script. When the key is taken, the
    /// script then says by whom and for how long (the busy path pays a second
    /// round trip; a free key pays none).
    fn plain_set(key: &str, ask: Ask) -> Option<Cmd> {
        if ask.fence || ask.replay || ask.wait_ms > 0 {
            return None;
        }
        let mut cmd = Cmd::with_capacity(6, key.len() + ARGS_BYTES);
        cmd.arg("SET")
            .arg(key)
            .arg(ask.token.as_bytes())
            .arg("NX")
            .arg("PX")
            .arg(ask.ttl_ms);
        Some(cmd)
    }

    pub(crate) async fn acquire(&self, key: &str, ask: Ask) -> Result<Acquire, Error> {
        if let Some(set) = Self::plain_set(key, ask) {
            let taken = self
                .run(key, |mut manager| async move {
                    query_async::<Option<Value>>(&mut manager, &set).await
                })
                .await?;
            if taken.is_some() {
                return Ok(Acquire::Taken { fence: None });
            }
        }
        let cmd = acquire_cmd(key, ask);
        let value = self
            .run(key, |mut manager| async move {
                eval_async::<Value>(&mut manager, &cmd).await
            })
            .await?;
        decode_acquire(value, key)
    }

    pub(crate) async fn finish(
        &self,
        key: &str,
        token: Token,
        finish: &Finish,
    ) -> Result<bool, Error> {
        // Sent as text: no NOSCRIPT to answer (nor in the blocking and
        // detached forms below).
        let cmd = finish_cmd(key, token, finish);
        self.run(key, |mut manager| async move {
            query_async::<bool>(&mut manager, &cmd).await
        })
        .await
    }

    pub(crate) async fn extend(&self, key: &str, token: Token, ttl_ms: u64) -> Result<bool, Error> {
        let cmd = extend_cmd(key, token, ttl_ms);
        self.run(key, |mut manager| async move {
            eval_async::<bool>(&mut manager, &cmd).await
        })
        .await
    }

    /// Sleeps on the key's wake-up list for up to `timeout`, on a
    /// connection of its own.
    pub(crate) async fn wait(&self, key: &str, timeout: Duration) -> Result<(), Error> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| Error::config("async lock calls need a tokio runtime"))?
            .id();
        let pooled = {
            let mut waiters = lock(&self.waiters);
            let found = waiters.iter().position(|(id, _)| *id == runtime);
            found.map(|at| waiters.swap_remove(at).1)
        };
        let budget = timeout + self.deadline();
        let request = async {
            let mut connection = if let Some(connection) = pooled {
                connection
            } else {
                let config = AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(self.connect_timeout))
                    .set_response_timeout(None);
                self.client
                    .get_multiplexed_async_connection_with_config(&config)
                    .await?
            };
            wait_cmd(key, timeout)
                .query_async::<Value>(&mut connection)
                .await?;
            Ok(connection)
        };
        match tokio::time::timeout(budget, request).await {
            Ok(Ok(connection)) => {
                let mut waiters = lock(&self.waiters);
                if waiters.len() < POOL_SIZE {
                    waiters.push((runtime, connection));
                }
                Ok(())
            }
            Ok(Err(error)) => Err(self.error(error, key)),
            // The connection may still be blocked: it is dropped, not reused.
            Err(_) => Err(Error::Timeout { after: budget }),
        }
    }

    /// Runs one request on a blocking connection: the one this thread owes
    /// an answer on, else a pooled one, else a new one.
    fn run_blocking<T>(
        &self,
        key: &str,
        request: impl FnOnce(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Result<T, Error> {
        let mut connection = self.checkout(key)?;
        let answer = request(&mut connection);
        // A broken or timed-out connection is dropped, so that the next
        // call reconnects.
        if answer.as_ref().err().is_none_or(reusable) {
            self.give_back(connection);
        }
        answer.map_err(|e| self.error(e, key))
    }

    /// Keeps an idle connection for reuse, up to the pool's size.
    fn give_back(&self, connection: redis::Connection) {
        let mut pool = lock(&self.pool);
        if pool.len() < POOL_SIZE {
            pool.push(connection);
        }
    }

    /// A connection with no answer owed: this thread's own after reading the
    /// answer of the release it sent on it, else a pooled or a new one.
    fn checkout(&self, key: &str) -> Result<redis::Connection, Error> {
        if let Some(connection) = self.take_owed()
            && let Some(connection) = self.settle(connection, key)?
        {
            return Ok(connection);
        }
        let pooled = lock(&self.pool).pop();
        match pooled {
            Some(connection) => Ok(connection),
            None => self.connect_blocking().map_err(|e| self.error(e, key)),
        }
    }

    /// The connection this thread owes an answer on, if any.
    fn take_owed(&self) -> Option<redis::Connection> {
        OWED.try_with(|owed| {
            let mut owed = owed.borrow_mut();
            let at = owed.iter().position(|(id, _)| *id == self.id)?;
            Some(owed.swap_remove(at).1)
        })
        .ok()
        .flatten()
    }

    /// Reads the owed answer: the connection back when it is still usable,
    /// `None` when it broke, the error when Redis does not answer (it would
    /// not answer the next request either).
    fn settle(
        &self,
        mut connection: redis::Connection,
        key: &str,
    ) -> Result<Option<redis::Connection>, Error> {
        let answer = connection.recv_response().and_then(Value::extract_error);
        let Err(error) = answer else {
            return Ok(Some(connection));
        };
        // Which key it was is not kept (a copy per call, for a log line).
        tracing::warn!(%error, "redis-debounce: a release sent from this thread failed; its lease will expire by itself");
        self.failed(self.error(error.clone(), key));
        if reusable(&error) {
            Ok(Some(connection))
        } else if error.is_timeout() {
            Err(self.error(error, key))
        } else {
            Ok(None)
        }
    }

    /// Notes a release of this thread's that failed, for its next flush.
    fn failed(&self, error: Error) {
        let _ = FAILED.try_with(|failed| {
            let mut failed = failed.borrow_mut();
            failed.retain(|(id, _)| *id != self.id);
            if failed.len() >= OWED_PER_THREAD {
                failed.remove(0);
            }
            failed.push((self.id, error));
        });
    }

    /// Reads the answer this thread owes, if any: its releases have then
    /// run. Nothing owed, nothing sent. A release of this thread's that
    /// failed since its last flush (to be sent, or in Redis) is the error.
    pub(crate) fn flush_blocking(&self) -> Result<(), Error> {
        if let Some(connection) = self.take_owed()
            && let Some(connection) = self.settle(connection, "")?
        {
            self.give_back(connection);
        }
        let failed = FAILED
            .try_with(|failed| {
                let mut failed = failed.borrow_mut();
                let at = failed.iter().position(|(id, _)| *id == self.id)?;
                Some(failed.swap_remove(at).1)
            })
            .ok()
            .flatten();
        failed.map_or(Ok(()), Err)
    }

    /// Sends a plain release from blocking code without waiting for its
    /// answer: the connection stays with this thread, owing the answer,
    /// and carries the thread's next request to this backend after it.
    fn release_blocking_detached(&self, key: &str, token: Token) -> Result<(), Error> {
        let mut connection = self.checkout(key)?;
        let packed = release_cmd(key, token).get_packed_command();
        connection
            .send_packed_command(&packed)
            .map_err(|e| self.error(e, key))?;
        // Should the thread be gone already, the connection closes: the
        // release was sent, and Redis runs it all the same.
        let _ = OWED.try_with(move |owed| {
            let mut owed = owed.borrow_mut();
            if owed.len() >= OWED_PER_THREAD {
                owed.remove(0);
            }
            owed.push((self.id, connection));
        });
        Ok(())
    }

    fn connect_blocking(&self) -> redis::RedisResult<redis::Connection> {
        let connection = self
            .client
            .get_connection_with_timeout(self.connect_timeout)?;
        connection.set_read_timeout(Some(self.response_timeout))?;
        connection.set_write_timeout(Some(self.response_timeout))?;
        Ok(connection)
    }

    pub(crate) fn acquire_blocking(&self, key: &str, ask: Ask) -> Result<Acquire, Error> {
        if let Some(set) = Self::plain_set(key, ask) {
            let taken =
                self.run_blocking(key, |connection| set.query::<Option<Value>>(connection))?;
            if taken.is_some() {
                return Ok(Acquire::Taken { fence: None });
            }
        }
        let cmd = acquire_cmd(key, ask);
        let value =
            self.run_blocking(key, |connection| eval_blocking::<Value>(connection, &cmd))?;
        decode_acquire(value, key)
    }

    pub(crate) fn finish_blocking(
        &self,
        key: &str,
        token: Token,
        finish: &Finish,
    ) -> Result<bool, Error> {
        let cmd = finish_cmd(key, token, finish);
        self.run_blocking(key, |connection| cmd.query::<bool>(connection))
    }

    pub(crate) fn extend_blocking(
        &self,
        key: &str,
        token: Token,
        ttl_ms: u64,
    ) -> Result<bool, Error> {
        let cmd = extend_cmd(key, token, ttl_ms);
        self.run_blocking(key, |connection| eval_blocking::<bool>(connection, &cmd))
    }

    /// The blocking form of [`wait`](Self::wait), on a pooled connection
    /// whose read timeout covers the wait.
    pub(crate) fn wait_blocking(&self, key: &str, timeout: Duration) -> Result<(), Error> {
        let cmd = wait_cmd(key, timeout);
        self.run_blocking(key, |connection| {
            connection.set_read_timeout(Some(timeout + self.response_timeout))?;
            let answer = cmd.query::<Value>(connection);
            connection.set_read_timeout(Some(self.response_timeout))?;
            answer.map(drop)
        })
    }

    pub(crate) fn finish_detached(&self, key: &str, token: Token, mode: Mode, finish: &Finish) {
        let runtime = match mode {
            Mode::Async => tokio::runtime::Handle::try_current().ok(),
            Mode::Blocking => None,
        };
        let Some(runtime) = runtime else {
            let sent = if *finish == Finish::RELEASE {
                self.release_blocking_detached(key, token)
            } else {
                self.finish_blocking(key, token, finish).map(drop)
            };
            if let Err(error) = sent {
                warn_release_failed(key, &error);
                self.failed(error);
            }
            return;
        };
        let Ok(mut manager) = self.manager() else {
            return;
        };
        let deadline = self.deadline();
        let mut cmd = finish_cmd(key, token, finish);
        let mut cx = Context::from_waker(Waker::noop());
        if *finish == Finish::RELEASE {
            // Nobody needs a plain release's answer: Redis's reply is read
            // and dropped by the connection, so the release costs no task,
            // no timer and no channel back. Unconstrained: with its coop
            // budget spent, a task's first poll of a channel send returns
            // Pending without queueing the command, and the caller's next
            // acquire would overtake its own release.
            cmd.set_no_response(true);
            let sent = {
                let send = std::pin::pin!(tokio::task::unconstrained(
                    manager.send_packed_command(&cmd)
                ));
                send.poll(&mut cx)
            };
            match sent {
                Poll::Ready(Ok(_)) => {}
                Poll::Ready(Err(error)) => warn_release_failed(&finish_key(&cmd), &error),
                // Nothing was queued (the connection is being made):
                // send it once it is there.
                Poll::Pending => drop(runtime.spawn(async move {
                    let sent = tokio::time::timeout(deadline, manager.send_packed_command(&cmd));
                    if let Ok(Err(error)) = sent.await {
                        warn_release_failed(&finish_key(&cmd), &error);
                    }
                })),
            }
            return;
        }
        // A cooldown or a stored result: its answer is awaited off the
        // caller's path, and a failure is logged (a result that was not
        // stored means a later duplicate runs).
        let mut release = Box::pin(tokio::task::unconstrained(async move {
            match tokio::time::timeout(deadline, query_async::<bool>(&mut manager, &cmd)).await {
                Ok(Ok(_)) => {}
                Ok(Err(error)) => warn_release_failed(&finish_key(&cmd), &error),
                Err(_) => {
                    let key = finish_key(&cmd);
                    tracing::warn!(
                        key,
                        "redis-debounce: release timed out; the lease will expire by itself"
                    );
                }
            }
        }));
        // One poll queues the command on the multiplexed connection, so a
        // request sent after this returns is ordered after it; the answer
        // is awaited off the caller's path.
        if release.as_mut().poll(&mut cx).is_pending() {
            drop(runtime.spawn(release));
        }
    }
}

/// Certificates for `rediss://` beyond the public roots: a CA to trust, a
/// client identity for mutual TLS.
#[cfg(feature = "tls")]
#[derive(Debug, Clone, Default)]
pub(crate) struct Tls {
    pub(crate) ca: Option<Pem>,
    pub(crate) identity: Option<(Pem, Pem)>,
}

#[cfg(feature = "tls")]
impl Tls {
    fn is_set(&self) -> bool {
        self.ca.is_some() || self.identity.is_some()
    }

    fn certificates(&self) -> redis::TlsCertificates {
        redis::TlsCertificates {
            client_tls: self
                .identity
                .as_ref()
                .map(|(cert, key)| redis::ClientTlsConfig {
                    client_cert: cert.0.clone(),
                    client_key: key.0.clone(),
                }),
            root_cert: self.ca.as_ref().map(|ca| ca.0.clone()),
        }
    }
}

/// PEM bytes, shown in `Debug` by their size only (a key is a secret).
#[cfg(feature = "tls")]
#[derive(Clone)]
pub(crate) struct Pem(Vec<u8>);

#[cfg(feature = "tls")]
impl From<Vec<u8>> for Pem {
    fn from(bytes: Vec<u8>) -> Self {
        Pem(bytes)
    }
}

#[cfg(feature = "tls")]
impl std::fmt::Debug for Pem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<PEM, {} bytes>", self.0.len())
    }
}

fn warn_release_failed(key: &str, error: &dyn std::fmt::Display) {
    tracing::warn!(key, %error, "redis-debounce: release failed; the lease will expire by itself");
}

fn decode_acquire(value: Value, key: &str) -> Result<Acquire, Error> {
    if let Value::Array(answer) = value {
        let mut answer = answer.into_iter();
        if let (Some(Value::Int(state)), Some(detail), None) =
            (answer.next(), answer.next(), answer.next())
        {
            let pttl = || match detail {
                Value::Int(ms) => Some(u64::try_from(ms).ok().map(Duration::from_millis)),
                _ => None,
            };
            let decoded = match state {
                0 => match detail {
                    Value::Int(fence) => Some(Acquire::Taken {
                        fence: u64::try_from(fence).ok().filter(|fence| *fence > 0),
                    }),
                    _ => None,
                },
                1 | 2 => pttl().map(|retry_after| Acquire::Held {
                    retry_after,
                    cooling: state == 2,
                }),
                3 => match detail {
                    Value::BulkString(payload) => Some(Acquire::Stored(payload)),
                    _ => None,
                },
                _ => None,
            };
            if let Some(decoded) = decoded {
                return Ok(decoded);
            }
        }
    }
    Err(Error::from_redis(
        redis::RedisError::from((
            redis::ErrorKind::UnexpectedReturnType,
            "unexpected answer from the acquire script",
        )),
        key,
        Duration::ZERO,
    ))
}

#[cfg(test)]
mod tests {
    use super::{Finish, RELEASE_LUA, Token, compact, finish_cmd, finish_key};

    #[test]
    fn a_script_is_sent_without_comments_or_indentation() {
        let lua = "-- Why.\n-- KEYS: 1 the lock.\nif x then\n    return 1 -- kept: code\nend\n\n";
        assert_eq!(compact(lua), "if x then\nreturn 1 -- kept: code\nend\n");
        assert!(!RELEASE_LUA.contains("\n--") && !RELEASE_LUA.starts_with("--"));
        assert!(
            RELEASE_LUA.starts_with("local function wake("),
            "the wake prelude first"
        );
    }

    /// Without the `tls` feature, `rediss://` is refused with a pointer to
    /// it (`scripts/test` runs these unit tests without features too).
    #[test]
    fn rediss_needs_the_tls_feature() {
        let opened = super::RedisBackend::open(
            "rediss://127.0.0.1/",
            std::time::Duration::from_secs(1),
            std::time::Duration::from_secs(1),
            #[cfg(feature = "tls")]
            &super::Tls::default(),
        );
        if cfg!(feature = "tls") {
            assert!(opened.is_ok(), "{opened:?}");
        } else {
            let error = opened.expect_err("no tls feature");
            assert!(error.to_string().contains("`tls` feature"), "{error}");
        }
    }

    /// No configuration error echoes the URL, so none carries its password
    /// (the URLs that fail to parse are those whose password the parser
    /// could not even find).
    #[test]
    fn no_password_in_a_configuration_error() {
        for url in [
            "http://user:hunter2@h/",
            "redis://user:hunter2@[::1",
            "redis://:hunter#2@h/",
            "redis://:hunter?2@h/",
            "redis://user:pa/hunter2@h/0",
            "redis:/user:hunter2@h/",
            "redis:user:hunter2@h/",
            "redis+unix:///s.sock?p%61ss=hunter2&db=x",
            "redis://user:hunter2@127.0.0.1:1/notadb",
        ] {
            let error = super::RedisBackend::open(
                url,
                std::time::Duration::from_secs(1),
                std::time::Duration::from_secs(1),
                #[cfg(feature = "tls")]
                &super::Tls::default(),
            )
            .expect_err(url);
            assert!(!error.to_string().contains("hunter"), "{url}: {error}");
            assert!(!format!("{error:?}").contains("hunter"), "{url}: {error:?}");
        }
    }

    #[test]
    fn a_finish_command_names_its_key() {
        let cmd = finish_cmd("debounce:{job:7}", Token::random(), &Finish::RELEASE);
        assert_eq!(finish_key(&cmd), "debounce:{job:7}");
    }
}
