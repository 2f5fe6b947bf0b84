//! The waiters' connections: a waiter sleeps in `BLPOP`, which holds its
//! connection while it blocks, so it cannot share the dispatcher's. They
//! live on the driver's runtime, like the dispatcher's.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use redis::{Cmd, RedisResult, Value};

use super::cmd;
use super::conn::Settings;
use super::target::Link;

/// Connections kept for waiters (`BLPOP`). A waiter beyond them sleeps
/// its back-off instead of waiting for a wake-up.
const WAITER_CONNECTIONS: usize = 16;

/// The waiters' connections.
#[derive(Debug)]
pub(super) struct Waiters {
    settings: Settings,
    idle: Mutex<Vec<Link>>,
    /// Bumped when the idle connections go to a master no longer the
    /// master: a connection a waiter took before goes, not back to them.
    generation: std::sync::atomic::AtomicU64,
    /// Waiters holding a connection now.
    busy: AtomicUsize,
}

/// A waiter's claim on one of the connections, given back when dropped.
struct Slot<'a>(&'a AtomicUsize);

impl<'a> Slot<'a> {
    fn take(busy: &'a AtomicUsize) -> Option<Self> {
        busy.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n < WAITER_CONNECTIONS).then_some(n + 1)
        })
        .ok()
        .map(|_| Slot(busy))
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Waiters {
    pub(super) fn new(settings: &Settings) -> Self {
        Waiters {
            settings: settings.clone(),
            idle: Mutex::new(Vec::new()),
            generation: std::sync::atomic::AtomicU64::new(0),
            busy: AtomicUsize::new(0),
        }
    }

    /// Drops the idle connections (the master they go to is no longer
    /// the master).
    #[cfg(feature = "sentinel")]
    pub(super) fn forget_idle(&self) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        self.generation.fetch_add(1, Ordering::AcqRel);
        idle.clear();
    }

    pub(super) async fn wait(self: Arc<Self>, cmd: Cmd, timeout: Duration) -> RedisResult<()> {
        let Some(_slot) = Slot::take(&self.busy) else {
            tokio::time::sleep(timeout).await;
            return Ok(());
        };
        let (pooled, generation) = {
            let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
            (idle.pop(), self.generation.load(Ordering::Acquire))
        };
        let budget = timeout + self.settings.connect_timeout + self.settings.response_timeout;
        let answer = tokio::time::timeout(budget, async {
            if let Some(mut conn) = pooled {
                match conn.send(&cmd).await.and_then(Value::extract_error) {
                    Ok(_) => return Ok(conn),
                    // A pooled connection that died since: once more on a
                    // new one.
                    Err(error) if !cmd::needs_new_connection(&error) => return Err(error),
                    Err(_) => {}
                }
            }
            let mut conn = self.settings.connect(None).await?;
            conn.send(&cmd).await.and_then(Value::extract_error)?;
            Ok(conn)
        })
        .await;
        match answer {
            Ok(Ok(conn)) => {
                let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
                if self.generation.load(Ordering::Acquire) == generation {
                    idle.push(conn);
                }
                Ok(())
            }
            Ok(Err(error)) => Err(error),
            // The connection may still be blocked: it is dropped, not kept.
            Err(_) => Err(std::io::Error::from(std::io::ErrorKind::TimedOut).into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::{Slot, WAITER_CONNECTIONS};

    /// At most `WAITER_CONNECTIONS` waiters hold a connection at once; a
    /// slot given back is free again.
    #[test]
    fn slots_are_bounded_and_given_back() {
        let busy = AtomicUsize::new(0);
        let slots: Vec<Slot<'_>> = (0..WAITER_CONNECTIONS)
            .map(|_| Slot::take(&busy).expect("a free slot"))
            .collect();
        assert!(Slot::take(&busy).is_none(), "one slot too many");
        assert_eq!(busy.load(Ordering::SeqCst), WAITER_CONNECTIONS);
        drop(slots);
        assert_eq!(busy.load(Ordering::SeqCst), 0);
        assert!(Slot::take(&busy).is_some());
    }
}
