//! The dispatcher's connection: made when a request comes (or, with only
//! releases waiting, after a growing pause), and what happens when making
//! it fails or the server refuses requests on it.

use std::collections::VecDeque;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use redis::RedisError;

use super::{CALLERS_PAUSE, Conn, Dispatcher, MAX_RECONNECT_PAUSE, give_up};
use crate::backend::redis::cmd;
use crate::backend::redis::conn::{Job, Kind};

impl Dispatcher {
    /// Makes a connection when there is something to write.
    pub(super) fn connect(&mut self, cx: &mut Context<'_>) -> bool {
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
                let connecting = self.settings.connect(Some(self.settings.response_timeout));
                self.conn = Conn::Connecting(Box::pin(async move {
                    let mut conn = connecting.await?;
                    // Loaded ahead, so no request meets a NOSCRIPT. A user
                    // without the right (ACL) gets NOPERM on the requests
                    // themselves, which is the error worth reporting.
                    if let Err(error) = conn.load_scripts().await
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
    pub(super) fn connect_failed(&mut self, error: &RedisError) {
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
                Kind::Release { .. } => give_up(&self.settings, &self.failed, job, error.clone()),
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
    pub(super) fn answer_waiting_releases(&mut self, error: &RedisError) {
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
    pub(super) fn refuse_callers(&mut self, error: &RedisError) {
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
    pub(super) fn fail_flushes(&mut self, error: &RedisError) {
        for (_, reply, cmd) in self.flushes.drain(..) {
            let _ = reply.send((Err(error.clone()), cmd));
        }
    }
}

/// The pause before the next connection after `failures` failures in a
/// row: 100 ms, doubling, at most [`MAX_RECONNECT_PAUSE`].
pub(super) fn backoff(failures: u32) -> Duration {
    Duration::from_millis(50)
        .saturating_mul(1 << failures.min(5))
        .min(MAX_RECONNECT_PAUSE)
}
