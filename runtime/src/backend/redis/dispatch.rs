//! The dispatcher: the task on the connection thread that owns the
//! multiplexed connection, writes every request in order, reads the answers
//! in order, and reconnects (see [`super::conn`] for what it promises).

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use redis::{Cmd, RedisError, RedisResult, Value};
use tokio::sync::{mpsc, oneshot};

mod reconnect;

use reconnect::backoff;

use super::cmd;
use super::conn::{Failure, Job, Kind, MAX_IN_FLIGHT, Reply, Settings};
use super::target::Link;
use crate::token::Token;

/// The longest pause between two attempts to reconnect while releases
/// wait to be sent.
const MAX_RECONNECT_PAUSE: Duration = Duration::from_secs(1);

/// How long after a refusal callers are told of it without a new
/// connection: a failover's end is noticed this soon, and a stream of
/// callers makes a connection at most this often.
const CALLERS_PAUSE: Duration = Duration::from_millis(200);

enum Conn {
    /// No connection: one is made when a request comes, or after `pause`
    /// when only releases wait.
    Down {
        pause: Option<Pin<Box<tokio::time::Sleep>>>,
    },
    Connecting(Pin<Box<dyn Future<Output = RedisResult<Link>> + Send>>),
    Up(Link),
}

type Sending = Pin<Box<dyn Future<Output = RedisResult<Value>> + Send>>;

pub(super) struct Dispatcher {
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
    /// Set when the sentinels switched the master: the connection is
    /// replaced once what is in flight on it is answered.
    switched: Arc<AtomicBool>,
}

impl Dispatcher {
    pub(super) fn new(
        queue: mpsc::UnboundedReceiver<Job>,
        settings: Settings,
        failed: Arc<Mutex<Option<Failure>>>,
        switched: Arc<AtomicBool>,
    ) -> Self {
        Dispatcher {
            queue,
            open: true,
            settings,
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
            failed,
            switched,
        }
    }

    pub(super) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
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
            // A connection being made may go to the old master: the switch
            // is acted on once it is up. Without one, the next is made to
            // whichever master the sentinels name then.
            let switch = match self.conn {
                Conn::Connecting(_) => false,
                Conn::Up(_) | Conn::Down { .. } => self
                    .switched
                    .swap(false, std::sync::atomic::Ordering::AcqRel),
            };
            if switch && matches!(self.conn, Conn::Up(_)) {
                tracing::debug!("redis-debounce: the sentinels switched the master; reconnecting");
                self.broken = true;
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
        let mut sending: Sending =
            Box::pin(tokio::task::unconstrained(
                async move { conn.send(&undo).await },
            ));
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
                        key = self.settings.observer.shown(&cmd::key_of(&job.cmd), ""),
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
            let mut sending: Sending =
                Box::pin(tokio::task::unconstrained(
                    async move { conn.send(&cmd).await },
                ));
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
                            give_up(&self.settings, &self.failed, job, error);
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
                    return give_up(&self.settings, &self.failed, job, error);
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

/// A release that could not be made: logged, counted, kept for the next
/// flush, and told to its caller if one waits.
fn give_up(settings: &Settings, failed: &Mutex<Option<Failure>>, job: Job, error: RedisError) {
    let key = cmd::key_of(&job.cmd);
    settings.observer.release_failed();
    tracing::warn!(
        key = settings.observer.shown(&key, ""),
        %error,
        "redis-debounce: release failed; the lease will expire by itself"
    );
    *failed.lock().unwrap_or_else(PoisonError::into_inner) = Some((key, error.clone()));
    if let Some(reply) = job.reply {
        let _ = reply.send((Err(error), job.cmd));
    }
}
