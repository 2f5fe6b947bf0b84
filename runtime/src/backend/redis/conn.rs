//! The connection driver a Redis `Debouncer` owns.
//!
//! One thread per `Debouncer` runs a current-thread tokio runtime, and on it
//! one task, the dispatcher, that owns one multiplexed connection. Callers
//! on any runtime, on several, or on none hand it requests as data (a
//! [`Job`]) through a channel that never blocks, and await the answer or
//! block on it. So the connection lives as long as the `Debouncer`, never
//! dies with a caller's runtime, and carries every request of the process
//! in the order the callers made them: a release is written before any
//! later request, from any thread.
//!
//! The dispatcher writes requests in order and reads the answers in order
//! (Redis answers one connection in order). When the connection breaks,
//! stalls past the response timeout, or the server says it cannot serve it
//! (`READONLY`, `LOADING`, `MASTERDOWN`, `BUSY`, `TRYAGAIN`, `NOSCRIPT`),
//! the requests it had in flight are sent again, in their order, on a new
//! connection: a release until its lease would have run out anyway, a
//! request once. An acquire whose answer never reached its caller (the
//! caller gave up, or the answer was lost with the connection) is undone
//! by a release with its token, so no cancelled call leaves a lock behind.
//!
//! An acquire that timed out is the exception: its stalled connection may
//! still deliver it, late. It is not sent again (with its token, a late one
//! could take the lock after the retry's holder released it); its caller
//! is told of the timeout, and its undo is written behind it on the stalled
//! connection too, which delivers the two in order. After the server
//! refused a request, the next connection waits out a growing pause, so a
//! release refused for as long as a failover takes does not reconnect in a
//! loop, and a flush waiting for it is told of the refusal.
//!
//! Waiters sleep in `BLPOP`, which holds a connection while it blocks: they
//! take connections of their own from a small pool ([`super::waiters`]).

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, Cmd, RedisError, RedisResult, Value};
use tokio::sync::{mpsc, oneshot};

use super::waiters::Waiters;
use super::{cmd, script};
use crate::token::Token;

/// Requests written and not yet answered, at most. The connection's own
/// queue is one larger, so writing a request never waits for room, and
/// the order in which the dispatcher writes is the order Redis runs.
const MAX_IN_FLIGHT: usize = 1024;

/// The longest pause between two attempts to reconnect while releases
/// wait to be sent.
const MAX_RECONNECT_PAUSE: Duration = Duration::from_secs(1);

/// How long after a refusal callers are told of it without a new
/// connection: a failover's end is noticed this soon, and a stream of
/// callers makes a connection at most this often.
const CALLERS_PAUSE: Duration = Duration::from_millis(200);

/// How to reach Redis.
#[derive(Debug, Clone)]
pub(super) struct Settings {
    pub(super) client: Client,
    pub(super) connect_timeout: Duration,
    pub(super) response_timeout: Duration,
}

impl Settings {
    pub(super) fn config(&self, response_timeout: Option<Duration>) -> AsyncConnectionConfig {
        AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.connect_timeout))
            .set_response_timeout(response_timeout)
            .set_pipeline_buffer_size(MAX_IN_FLIGHT + 1)
    }
}

/// An answer, with the command it answers (an acquire's, for undoing it).
type Reply = (RedisResult<Value>, Arc<Cmd>);

/// A release that could not be made: its lock's key, and why.
pub(super) type Failure = (String, RedisError);

/// One request for the connection.
struct Job {
    /// Its place in the order the dispatcher received jobs in (an undo
    /// shares its acquire's): what a flush waits for.
    seq: u64,
    cmd: Arc<Cmd>,
    kind: Kind,
    /// Where the answer goes; `None` when nobody waits for it.
    reply: Option<oneshot::Sender<Reply>>,
    /// Sent once more after a connection failure (releases have `until`).
    retries: u8,
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    /// Its caller awaits the answer; nothing to undo.
    Request,
    /// Takes a lock with this token and lease: a release undoes it when
    /// its caller cannot learn that it did.
    Acquire { token: Token, ttl: Duration },
    /// Gives a lock up. Sent, across reconnects, until `until`: the lease
    /// has run out by then, and nothing is left to release.
    Release { until: Instant },
    /// Answered once every release (and acquire, which may need undoing)
    /// handed over before it is answered.
    Flush,
}

impl Job {
    fn new(cmd: Cmd, kind: Kind, reply: Option<oneshot::Sender<Reply>>) -> Job {
        Job {
            seq: 0,
            cmd: Arc::new(cmd),
            kind,
            reply,
            retries: 1,
        }
    }

    /// The release that undoes an acquire of `cmd` with `token`.
    fn undo(cmd: &Cmd, token: Token, ttl: Duration) -> Job {
        let key = cmd::key_of(cmd);
        Job::new(
            cmd::release(&key, token),
            Kind::Release {
                until: Instant::now() + ttl,
            },
            None,
        )
    }

    /// Whether sending it still matters: nobody waits for a request whose
    /// caller is gone (nor is an acquire of theirs wanted); a release is
    /// wanted until its lease ends.
    fn wanted(&self) -> bool {
        match self.kind {
            Kind::Release { until } => Instant::now() < until,
            Kind::Request | Kind::Acquire { .. } | Kind::Flush => {
                self.reply.as_ref().is_some_and(|reply| !reply.is_closed())
            }
        }
    }
}

/// The handle callers use; the dispatcher ends once every handle is
/// dropped and every release they handed it has been answered.
#[derive(Debug)]
pub(super) struct Driver {
    jobs: mpsc::UnboundedSender<Job>,
    runtime: tokio::runtime::Handle,
    waiters: Arc<Waiters>,
    /// The last release that could not be made since the last flush.
    failed: Arc<Mutex<Option<Failure>>>,
}

impl Driver {
    /// Starts the thread, its runtime and the dispatcher (which connects
    /// on the first request).
    pub(super) fn start(settings: &Settings) -> std::io::Result<Driver> {
        let (jobs, queue) = mpsc::unbounded_channel();
        let failed = Arc::new(Mutex::new(None));
        let dispatcher = Dispatcher {
            queue,
            open: true,
            settings: settings.clone(),
            conn: Conn::Down { pause: None },
            failures: 0,
            pending: VecDeque::new(),
            sent: VecDeque::new(),
            broken: false,
            refused: None,
            refusal: None,
            behind: Vec::new(),
            received: 0,
            flushes: Vec::new(),
            redo: VecDeque::new(),
            failed: failed.clone(),
        };
        let (started, runtime) = std::sync::mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("redis-debounce".into())
            .spawn(move || {
                let mut dispatcher = dispatcher;
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build();
                match runtime {
                    Ok(runtime) => {
                        let _ = started.send(Ok(runtime.handle().clone()));
                        runtime.block_on(std::future::poll_fn(|cx| dispatcher.poll(cx)));
                    }
                    Err(error) => drop(started.send(Err(error))),
                }
            })?;
        let runtime = runtime
            .recv()
            .map_err(|_| std::io::Error::other("the connection thread stopped"))??;
        Ok(Driver {
            jobs,
            runtime,
            waiters: Arc::new(Waiters::new(settings)),
            failed,
        })
    }

    /// The runtime the connection lives on, for work that must outlive a
    /// caller's runtime (renewals).
    pub(super) fn runtime(&self) -> &tokio::runtime::Handle {
        &self.runtime
    }

    fn submit(&self, job: Job) {
        // The dispatcher outlives every handle, so the queue is open while
        // `self` lives.
        let _ = self.jobs.send(job);
    }

    /// Sends `cmd` and waits for its answer.
    pub(super) async fn request(&self, cmd: Cmd) -> RedisResult<Value> {
        let (reply, answer) = oneshot::channel();
        self.submit(Job::new(cmd, Kind::Request, Some(reply)));
        Answer {
            receiver: answer,
            driver: self,
            undo: None,
        }
        .await
    }

    /// Waits until Redis has answered every release handed over before
    /// (at once when none is left), or a connection attempt failed.
    pub(super) async fn flush(&self) -> RedisResult<Value> {
        let (reply, answer) = oneshot::channel();
        self.submit(Job::new(redis::cmd("PING"), Kind::Flush, Some(reply)));
        Answer {
            receiver: answer,
            driver: self,
            undo: None,
        }
        .await
    }

    /// Sends an acquire and waits for its answer; dropped before the
    /// answer is read, the lock it may have taken is released.
    pub(super) async fn acquire(
        &self,
        cmd: Cmd,
        token: Token,
        ttl: Duration,
    ) -> RedisResult<Value> {
        let (reply, answer) = oneshot::channel();
        self.submit(Job::new(cmd, Kind::Acquire { token, ttl }, Some(reply)));
        Answer {
            receiver: answer,
            driver: self,
            undo: Some((token, ttl)),
        }
        .await
    }

    /// Hands a release over: it is written before any request made after
    /// this returns, and sent again after a reconnect until `until`. The
    /// answer is awaited only by whoever holds the returned receiver.
    pub(super) fn release(&self, cmd: Cmd, until: Instant, answered: bool) -> Option<Answered> {
        let (reply, answer) = if answered {
            let (reply, answer) = oneshot::channel();
            (Some(reply), Some(answer))
        } else {
            (None, None)
        };
        self.submit(Job::new(cmd, Kind::Release { until }, reply));
        answer.map(Answered)
    }

    /// Sleeps in `cmd` (a `BLPOP`) for up to `timeout` on a waiter's
    /// connection; dropped, it closes that connection, which ends the
    /// `BLPOP` without taking a wake-up meant for another waiter.
    pub(super) async fn wait(&self, cmd: Cmd, timeout: Duration) -> RedisResult<()> {
        let mut task = AbortOnDrop(self.runtime.spawn(self.waiters.clone().wait(cmd, timeout)));
        match (&mut task.0).await {
            Ok(answer) => answer,
            Err(_) => Err(stopped()),
        }
    }

    /// Takes the failure of a release since the last call, if any.
    pub(super) fn take_failure(&self) -> Option<Failure> {
        self.failed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }
}

/// A release's answer, for a caller that waits for it.
pub(super) struct Answered(oneshot::Receiver<Reply>);

impl Answered {
    pub(super) async fn get(self) -> RedisResult<Value> {
        match self.0.await {
            Ok((answer, _)) => answer,
            Err(_) => Err(stopped()),
        }
    }
}

fn stopped() -> RedisError {
    std::io::Error::other("the connection thread stopped").into()
}

/// An awaited answer; for an acquire, dropped before it is read, it undoes
/// the lock the acquire took.
struct Answer<'a> {
    receiver: oneshot::Receiver<Reply>,
    driver: &'a Driver,
    undo: Option<(Token, Duration)>,
}

impl Future for Answer<'_> {
    type Output = RedisResult<Value>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let answer = std::task::ready!(Pin::new(&mut self.receiver).poll(cx));
        // Read: the caller has it now, nothing to undo.
        self.undo = None;
        Poll::Ready(match answer {
            Ok((answer, _)) => answer,
            Err(_) => Err(stopped()),
        })
    }
}

impl Drop for Answer<'_> {
    fn drop(&mut self) {
        let Some((token, ttl)) = self.undo else {
            return;
        };
        // Closed first: an answer sent from now on comes back to the
        // dispatcher, which undoes the lock itself; one sent before is
        // read here.
        self.receiver.close();
        if let Ok((Ok(value), acquire)) = self.receiver.try_recv()
            && cmd::took_lock(&value)
        {
            self.driver.submit(Job::undo(&acquire, token, ttl));
        }
    }
}

/// Aborts the task when dropped.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

enum Conn {
    /// No connection: one is made when a request comes, or after `pause`
    /// when only releases wait.
    Down {
        pause: Option<Pin<Box<tokio::time::Sleep>>>,
    },
    Connecting(Pin<Box<dyn Future<Output = RedisResult<MultiplexedConnection>> + Send>>),
    Up(MultiplexedConnection),
}

type Sending = Pin<Box<dyn Future<Output = RedisResult<Value>> + Send>>;

struct Dispatcher {
    queue: mpsc::UnboundedReceiver<Job>,
    /// Whether any handle is left.
    open: bool,
    settings: Settings,
    conn: Conn,
    /// Connection attempts that failed in a row.
    failures: u32,
    /// To write, in order.
    pending: VecDeque<Job>,
    /// Written on the connection, in order.
    sent: VecDeque<(Job, Sending)>,
    /// The connection failed: nothing more is written on it, and once the
    /// requests in flight on it are answered or failed, it is replaced.
    broken: bool,
    /// The server refused a request on it (a replica, loading, a script
    /// running): the next connection waits out a pause, or releases that
    /// keep being refused would reconnect in a loop.
    refused: Option<RedisError>,
    /// The refusal, and when: for [`CALLERS_PAUSE`] what a caller who asks
    /// is told at once (connecting for each would be the loop again). Not
    /// for `BUSY` or `TRYAGAIN`, which last a moment.
    refusal: Option<(RedisError, Instant)>,
    /// Undos written behind acquires that timed out, on the connection
    /// they went out on (see [`Dispatcher::undo_behind`]). Each holds its
    /// connection open until it is answered or times out: redis-rs stops a
    /// connection's writer with its last handle, and it runs on this
    /// thread, so it may not have written the undo yet when the connection
    /// is replaced.
    behind: Vec<Sending>,
    /// Requests to write again on the next connection, in order, before
    /// anything pending.
    redo: VecDeque<Job>,
    failed: Arc<Mutex<Option<Failure>>>,
    /// Jobs received so far: the next one's `seq`.
    received: u64,
    /// Flushes waiting, with the `seq` they wait up to.
    flushes: Vec<(u64, oneshot::Sender<Reply>, Arc<Cmd>)>,
}

impl Dispatcher {
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            while self.open {
                match self.queue.poll_recv(cx) {
                    Poll::Ready(Some(mut job)) => {
                        self.received += 1;
                        job.seq = self.received;
                        match (job.kind, job.reply) {
                            (Kind::Flush, Some(reply)) => {
                                self.flushes.push((job.seq, reply, job.cmd));
                            }
                            (Kind::Flush, None) => {}
                            (_, reply) => self.pending.push_back(Job { reply, ..job }),
                        }
                    }
                    Poll::Ready(None) => self.open = false,
                    Poll::Pending => break,
                }
            }
            let answered = self.read_answers(cx);
            let connected = self.connect(cx);
            let written = self.write(cx);
            if !(answered || connected || written) {
                break;
            }
        }
        self.settle_flushes();
        let idle = self.pending.is_empty() && self.sent.is_empty() && self.redo.is_empty();
        if !self.open && idle {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    /// Answers the flushes that no release or acquire before them holds
    /// up any longer.
    fn settle_flushes(&mut self) {
        if self.flushes.is_empty() {
            return;
        }
        let oldest = self
            .pending
            .iter()
            .chain(&self.redo)
            .chain(self.sent.iter().map(|(job, _)| job))
            .filter(|job| !matches!(job.kind, Kind::Request))
            .map(|job| job.seq)
            .min()
            .unwrap_or(u64::MAX);
        let (done, waiting) = std::mem::take(&mut self.flushes)
            .into_iter()
            .partition(|(seq, ..)| *seq <= oldest);
        self.flushes = waiting;
        for (_, reply, cmd) in done {
            let _ = reply.send((Ok(Value::Okay), cmd));
        }
    }

    /// Reads the answers that are in, in order.
    fn read_answers(&mut self, cx: &mut Context<'_>) -> bool {
        let mut progress = false;
        while let Some((_, sending)) = self.sent.front_mut() {
            let Poll::Ready(answer) = sending.as_mut().poll(cx) else {
                break;
            };
            if let Some((job, _)) = self.sent.pop_front() {
                self.answered(job, answer, cx);
            }
            progress = true;
        }
        self.behind
            .retain_mut(|sending| sending.as_mut().poll(cx).is_pending());
        if self.broken && self.sent.is_empty() {
            self.broken = false;
            let pause = self.refused.take().map(|error| {
                self.failures = self.failures.saturating_add(1);
                if cmd::refuses_callers(&error) {
                    self.refusal = Some((error, Instant::now()));
                }
                Box::pin(tokio::time::sleep(backoff(self.failures)))
            });
            self.conn = Conn::Down { pause };
            progress = true;
        }
        progress
    }

    /// Makes a connection when there is something to write.
    fn connect(&mut self, cx: &mut Context<'_>) -> bool {
        match &mut self.conn {
            Conn::Up(_) => false,
            Conn::Down { pause } => {
                if self.pending.is_empty() && self.redo.is_empty() {
                    return false;
                }
                // Someone waits: a caller, or whoever confirms a release.
                let awaited =
                    self.pending.iter().chain(&self.redo).any(|job| {
                        !matches!(job.kind, Kind::Release { .. }) || job.reply.is_some()
                    });
                let pausing = pause
                    .as_mut()
                    .is_some_and(|pause| pause.as_mut().poll(cx).is_pending());
                if !pausing {
                    self.refusal = None;
                }
                if pausing {
                    // Releases alone wait for the pause.
                    if !awaited {
                        return false;
                    }
                    if let Some((error, at)) = self.refusal.clone()
                        && at.elapsed() < CALLERS_PAUSE
                    {
                        // Refused a moment ago: whoever waits is told so
                        // (the releases stay, for after the pause).
                        self.refuse_callers(&error);
                        self.answer_waiting_releases(&error);
                        return true;
                    }
                    // Someone waits: try now.
                }
                let client = self.settings.client.clone();
                let config = self.settings.config(Some(self.settings.response_timeout));
                self.conn = Conn::Connecting(Box::pin(async move {
                    let mut conn = client
                        .get_multiplexed_async_connection_with_config(&config)
                        .await?;
                    // Loaded ahead, so no request meets a NOSCRIPT. A user
                    // without the right (ACL) gets NOPERM on the requests
                    // themselves, which is the error worth reporting.
                    if let Err(error) = script::load().exec_async(&mut conn).await
                        && cmd::needs_new_connection(&error)
                    {
                        return Err(error);
                    }
                    Ok(conn)
                }));
                true
            }
            Conn::Connecting(connecting) => {
                let Poll::Ready(made) = connecting.as_mut().poll(cx) else {
                    return false;
                };
                match made {
                    Ok(conn) => {
                        // (The failures in a row end with an answer, not a
                        // connection: a server that refuses every request
                        // still accepts connections.)
                        self.refusal = None;
                        self.conn = Conn::Up(conn);
                        // The requests of the last connection go first.
                        while let Some(job) = self.redo.pop_back() {
                            self.pending.push_front(job);
                        }
                    }
                    Err(error) => self.connect_failed(&error),
                }
                true
            }
        }
    }

    /// Every caller waiting is told; releases wait for the next attempt.
    fn connect_failed(&mut self, error: &RedisError) {
        self.failures = self.failures.saturating_add(1);
        let mut keep = VecDeque::new();
        for job in self.redo.drain(..).chain(self.pending.drain(..)) {
            match job.kind {
                Kind::Release { until } if Instant::now() < until => {
                    // Its caller hears of the failure now; the release
                    // itself waits for the next connection.
                    let mut job = job;
                    if let Some(reply) = job.reply.take() {
                        let _ = reply.send((Err(error.clone()), job.cmd.clone()));
                    }
                    keep.push_back(job);
                }
                Kind::Release { .. } => give_up(&self.failed, job, error.clone()),
                Kind::Request | Kind::Acquire { .. } | Kind::Flush => {
                    if let Some(reply) = job.reply {
                        let _ = reply.send((Err(error.clone()), job.cmd));
                    }
                }
            }
        }
        self.pending = keep;
        self.fail_flushes(error);
        self.conn = Conn::Down {
            pause: Some(Box::pin(tokio::time::sleep(backoff(self.failures)))),
        };
    }

    /// The callers waiting for releases that wait for the next connection
    /// are told of `error`; the releases stay.
    fn answer_waiting_releases(&mut self, error: &RedisError) {
        for job in self.redo.iter_mut().chain(self.pending.iter_mut()) {
            // Only a release's: a caller's reply is its own to answer.
            if let Kind::Release { .. } = job.kind
                && let Some(reply) = job.reply.take()
            {
                let _ = reply.send((Err(error.clone()), job.cmd.clone()));
            }
        }
    }

    /// Every caller waiting (not a release, which waits for the next
    /// connection) is told of `error`.
    fn refuse_callers(&mut self, error: &RedisError) {
        let (keep, refused): (VecDeque<Job>, VecDeque<Job>) = self
            .redo
            .drain(..)
            .chain(self.pending.drain(..))
            .partition(|job| matches!(job.kind, Kind::Release { .. }));
        self.pending = keep;
        for job in refused {
            if let Some(reply) = job.reply {
                let _ = reply.send((Err(error.clone()), job.cmd));
            }
        }
    }

    /// Every flush waiting is told of `error`: what it waits for cannot be
    /// done now (it is still sent later, while its lease runs).
    fn fail_flushes(&mut self, error: &RedisError) {
        for (_, reply, cmd) in self.flushes.drain(..) {
            let _ = reply.send((Err(error.clone()), cmd));
        }
    }

    /// Writes the undo of a timed-out acquire behind it, on the connection
    /// it went out on: one that stalled may still deliver the acquire, late
    /// (after its caller was told of the timeout, or after a retry ran and
    /// released), and then delivers the undo right after it, in order.
    fn undo_behind(&mut self, acquire: &Cmd, token: Token, cx: &mut Context<'_>) {
        let Conn::Up(conn) = &self.conn else {
            return;
        };
        let mut conn = conn.clone();
        let undo = cmd::release(&cmd::key_of(acquire), token);
        let mut sending: Sending = Box::pin(tokio::task::unconstrained(async move {
            conn.send_packed_command(&undo).await
        }));
        // The first poll queues it; its answer matters to nobody.
        if sending.as_mut().poll(cx).is_pending() {
            self.behind.push(sending);
        }
    }

    /// Writes what is pending, in order, while the connection is sound.
    fn write(&mut self, cx: &mut Context<'_>) -> bool {
        let Conn::Up(conn) = &self.conn else {
            return false;
        };
        let conn = conn.clone();
        let mut progress = false;
        while !self.broken && self.sent.len() < MAX_IN_FLIGHT {
            let Some(job) = self.pending.pop_front() else {
                break;
            };
            progress = true;
            if !job.wanted() {
                if let Kind::Release { .. } = job.kind {
                    tracing::debug!(
                        key = cmd::key_of(&job.cmd),
                        "redis-debounce: a release was not sent before its lease ran out"
                    );
                    // What Redis would have said: the lock was no longer ours.
                    if let Some(reply) = job.reply {
                        let _ = reply.send((Ok(Value::Int(0)), job.cmd));
                    }
                }
                continue;
            }
            let mut conn = conn.clone();
            let cmd = job.cmd.clone();
            // Unconstrained: a spent coop budget would make this first
            // poll return before the request is queued.
            let mut sending: Sending = Box::pin(tokio::task::unconstrained(async move {
                conn.send_packed_command(&cmd).await
            }));
            // This first poll queues the request on the connection, in
            // order (there is room: see MAX_IN_FLIGHT).
            match sending.as_mut().poll(cx) {
                Poll::Ready(answer) => self.answered(job, answer, cx),
                Poll::Pending => self.sent.push_back((job, sending)),
            }
        }
        progress
    }

    fn answered(&mut self, mut job: Job, answer: RedisResult<Value>, cx: &mut Context<'_>) {
        // An error reply comes as a value: made an error here, once.
        match answer.and_then(Value::extract_error) {
            Err(error) if cmd::needs_new_connection(&error) => {
                if !self.broken {
                    tracing::debug!(%error, "redis-debounce: replacing the Redis connection");
                }
                self.broken = true;
                if cmd::refused(&error) {
                    // The server is up and says no: a flush would wait for
                    // as long as it does (a lease, for a release).
                    self.refused = Some(error.clone());
                    self.fail_flushes(&error);
                }
                match job.kind {
                    Kind::Release { until } => {
                        // Whoever waits for it (a confirming call) hears of
                        // the failure now, not after the next connection's
                        // try too; the release itself goes on.
                        if let Some(reply) = job.reply.take() {
                            let _ = reply.send((Err(error.clone()), job.cmd.clone()));
                        }
                        job.retries = job.retries.saturating_sub(1);
                        if Instant::now() < until {
                            self.redo.push_back(job);
                        } else {
                            give_up(&self.failed, job, error);
                        }
                    }
                    Kind::Request | Kind::Acquire { .. } | Kind::Flush => {
                        // Whether an acquire ran is unknown: undo it first.
                        let mut stalled = false;
                        if let Kind::Acquire { token, ttl } = job.kind {
                            // A timed-out acquire may yet arrive on its
                            // stalled connection: undone there too, and
                            // not sent again with the same token (a late
                            // one could take the lock after the retry's
                            // holder released it). Its caller is told.
                            stalled = error.is_timeout();
                            if stalled {
                                self.undo_behind(&job.cmd, token, cx);
                            }
                            let undo = Job::undo(&job.cmd, token, ttl);
                            self.redo.push_back(Job {
                                seq: job.seq,
                                ..undo
                            });
                        }
                        if job.retries > 0 && job.wanted() && !stalled {
                            job.retries -= 1;
                            self.redo.push_back(job);
                        } else if let Some(reply) = job.reply {
                            let _ = reply.send((Err(error), job.cmd));
                        }
                    }
                }
            }
            answer => {
                // Served again: an acquire or a request answered (a release
                // is no sign, a replica answers one that deletes nothing).
                if answer.is_ok() && matches!(job.kind, Kind::Request | Kind::Acquire { .. }) {
                    self.failures = 0;
                }
                if let (Kind::Release { .. }, Err(error)) = (job.kind, &answer) {
                    let error = error.clone();
                    return give_up(&self.failed, job, error);
                }
                let took = matches!(job.kind, Kind::Acquire { .. })
                    && answer.as_ref().is_ok_and(cmd::took_lock);
                let Some(reply) = job.reply else {
                    return;
                };
                // The caller gave up: a lock it took is released.
                if let Err((_, cmd)) = reply.send((answer, job.cmd))
                    && took
                    && let Kind::Acquire { token, ttl } = job.kind
                {
                    let undo = Job::undo(&cmd, token, ttl);
                    self.pending.push_front(Job {
                        seq: job.seq,
                        ..undo
                    });
                }
            }
        }
    }
}

/// A release that could not be made: logged, kept for the next flush, and
/// told to its caller if one waits.
fn give_up(failed: &Mutex<Option<Failure>>, job: Job, error: RedisError) {
    let key = cmd::key_of(&job.cmd);
    tracing::warn!(
        key,
        %error,
        "redis-debounce: release failed; the lease will expire by itself"
    );
    *failed.lock().unwrap_or_else(PoisonError::into_inner) = Some((key, error.clone()));
    if let Some(reply) = job.reply {
        let _ = reply.send((Err(error), job.cmd));
    }
}

/// The pause before the next connection after `failures` failures in a
/// row: 100 ms, doubling, at most [`MAX_RECONNECT_PAUSE`].
fn backoff(failures: u32) -> Duration {
    Duration::from_millis(50)
        .saturating_mul(1 << failures.min(5))
        .min(MAX_RECONNECT_PAUSE)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::sync::oneshot;

    use super::AbortOnDrop;

    /// Dropping the handle ends the task (a dropped waiter's `BLPOP` must
    /// not go on taking wake-ups meant for others).
    #[tokio::test(start_paused = true)]
    async fn dropping_the_handle_aborts_the_task() {
        let (alive, ended) = oneshot::channel::<()>();
        let task = AbortOnDrop(tokio::spawn(async move {
            let _alive = alive;
            std::future::pending::<()>().await;
        }));
        tokio::task::yield_now().await;
        drop(task);
        let ended = tokio::time::timeout(Duration::from_secs(60), ended).await;
        assert!(
            matches!(ended, Ok(Err(_))),
            "the task still runs: {ended:?}"
        );
    }
}
