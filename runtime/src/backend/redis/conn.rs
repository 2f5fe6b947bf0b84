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
//! The dispatcher itself is in [`super::dispatch`]. Waiters sleep in `BLPOP`, which holds a connection while it blocks: they
//! take connections of their own from a small pool ([`super::waiters`]).

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use redis::{AsyncConnectionConfig, Cmd, RedisError, RedisResult, Value};
use tokio::sync::{mpsc, oneshot};

use super::cmd;
use super::dispatch::Dispatcher;
use super::target::{Link, Target};
use super::waiters::Waiters;
use crate::token::Token;

/// Requests written and not yet answered, at most. The connection's own
/// queue is one larger, so writing a request never waits for room, and
/// the order in which the dispatcher writes is the order Redis runs.
pub(super) const MAX_IN_FLIGHT: usize = 1024;

/// How to reach Redis.
#[derive(Debug, Clone)]
pub(super) struct Settings {
    pub(super) target: Target,
    pub(super) connect_timeout: Duration,
    pub(super) response_timeout: Duration,
    pub(super) observer: std::sync::Arc<crate::observe::Observer>,
}

impl Settings {
    pub(super) fn config(&self, response_timeout: Option<Duration>) -> AsyncConnectionConfig {
        AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.connect_timeout))
            .set_response_timeout(response_timeout)
            .set_pipeline_buffer_size(MAX_IN_FLIGHT + 1)
    }

    /// A new connection; `response_timeout` bounds each answer on it
    /// (`None` for a waiter's, which blocks in `BLPOP`).
    pub(super) fn connect(
        &self,
        response_timeout: Option<Duration>,
    ) -> impl Future<Output = RedisResult<Link>> + Send + 'static {
        self.target.clone().connect(
            self.config(response_timeout),
            self.connect_timeout,
            response_timeout,
        )
    }
}

/// An answer, with the command it answers (an acquire's, for undoing it).
pub(super) type Reply = (RedisResult<Value>, Arc<Cmd>);

/// A release that could not be made: its lock's key, and why.
pub(super) type Failure = (String, RedisError);

/// One request for the connection.
pub(super) struct Job {
    /// Its place in the order the dispatcher received jobs in (an undo
    /// shares its acquire's): what a flush waits for.
    pub(super) seq: u64,
    pub(super) cmd: Arc<Cmd>,
    pub(super) kind: Kind,
    /// Where the answer goes; `None` when nobody waits for it.
    pub(super) reply: Option<oneshot::Sender<Reply>>,
    /// Sent once more after a connection failure (releases have `until`).
    pub(super) retries: u8,
}

#[derive(Debug, Clone, Copy)]
pub(super) enum Kind {
    /// Its caller awaits the answer; nothing to undo.
    Request,
    /// Takes a lock with this token and lease: a release undoes it when
    /// its caller cannot learn that it did.
    Acquire { token: Token, ttl: Duration },
    /// Gives a lock up. Sent, across reconnects, until `until`: the lease
    /// has run out by then, and nothing is left to release.
    Release { until: Instant },
    /// Answered once every release (and acquire, which may need undoing)
    /// handed over before it is answered. Without a reply, it only wakes
    /// the dispatcher.
    Flush,
}

impl Job {
    pub(super) fn new(cmd: Cmd, kind: Kind, reply: Option<oneshot::Sender<Reply>>) -> Job {
        Job {
            seq: 0,
            cmd: Arc::new(cmd),
            kind,
            reply,
            retries: 1,
        }
    }

    /// The release that undoes an acquire of `cmd` with `token`.
    pub(super) fn undo(cmd: &Cmd, token: Token, ttl: Duration) -> Job {
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
    pub(super) fn wanted(&self) -> bool {
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
    /// Listens to the sentinels for a switch of the master.
    #[cfg(feature = "sentinel")]
    _follower: Option<AbortOnDrop<()>>,
}

impl Driver {
    /// Starts the thread, its runtime and the dispatcher (which connects
    /// on the first request).
    pub(super) fn start(settings: &Settings) -> std::io::Result<Driver> {
        let (jobs, queue) = mpsc::unbounded_channel();
        let failed = Arc::new(Mutex::new(None));
        let switched = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let dispatcher = Dispatcher::new(queue, settings.clone(), failed.clone(), switched.clone());
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
        let waiters = Arc::new(Waiters::new(settings));
        #[cfg(feature = "sentinel")]
        let follower = if let Target::Sentinel(sentinel) = &settings.target {
            let (jobs, waiters) = (jobs.downgrade(), waiters.clone());
            let switched = move || {
                waiters.forget_idle();
                switched.store(true, std::sync::atomic::Ordering::Release);
                // A flush nobody waits for: it only wakes the dispatcher.
                if let Some(jobs) = jobs.upgrade() {
                    let _ = jobs.send(Job::new(redis::cmd("PING"), Kind::Flush, None));
                }
            };
            let follow = sentinel.clone().follow(settings.connect_timeout, switched);
            Some(AbortOnDrop(runtime.spawn(follow)))
        } else {
            None
        };
        Ok(Driver {
            jobs,
            runtime,
            waiters,
            failed,
            #[cfg(feature = "sentinel")]
            _follower: follower,
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

pub(super) fn stopped() -> RedisError {
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
#[derive(Debug)]
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
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
