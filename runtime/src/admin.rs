//! The admin API, for operators: which keys are held and for how long, and
//! a way to free a stuck lock or clear a prefix after an incident. The
//! `redis-debounce` command line (feature `cli`) is built on it.

use std::time::Duration;

use crate::backend::Backend;
use crate::backend::admin::{Done, Op, Raw};
use crate::{Debouncer, Error};

/// How many locks are read at once.
const BATCH: usize = 100;

/// The admin API of a [`Debouncer`]: see [`Debouncer::admin`].
#[derive(Debug, Clone, Copy)]
pub struct Admin<'a> {
    debouncer: &'a Debouncer,
}

/// What a lock's key holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LockState {
    /// A call holds it.
    Held,
    /// A finished call's `cooldown`: taken by nobody until it ends.
    CoolingDown,
    /// No lock; a stored result or waiters' marker remains.
    Free,
    /// A key of another type than ours sits where the lock would be.
    Foreign,
}

impl LockState {
    /// `held`, `cooldown`, `free` or `foreign`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            LockState::Held => "held",
            LockState::CoolingDown => "cooldown",
            LockState::Free => "free",
            LockState::Foreign => "foreign",
        }
    }
}

impl std::fmt::Display for LockState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One lock as [`Admin::list`] and [`Admin::inspect`] see it.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LockInfo {
    /// The key, without the prefix (as `#[debounce]` rendered it).
    pub key: String,
    /// What the key holds.
    pub state: LockState,
    /// The lock's time left (`None`: no lock, or no expiry).
    pub expires_in: Option<Duration>,
    /// Callers wait for it (`wait`): its release wakes one.
    pub waiters: bool,
    /// Its fencing counter: the last fencing token handed out.
    pub fence: Option<u64>,
    /// The size of its stored result (`replay`), in bytes.
    pub stored_bytes: Option<u64>,
    /// The stored result's time left.
    pub stored_expires_in: Option<Duration>,
    /// On Redlock, on how many of how many nodes the lock is held by its
    /// holder.
    pub nodes: Option<(usize, usize)>,
    /// The lock's value and deadline on each node, as read:
    /// [`Admin::release`] frees it only if it is still that (never printed:
    /// a holder's token).
    holders: Vec<Option<(Vec<u8>, i64)>>,
}

impl std::fmt::Debug for LockInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LockInfo")
            .field("key", &self.key)
            .field("state", &self.state)
            .field("expires_in", &self.expires_in)
            .field("waiters", &self.waiters)
            .field("fence", &self.fence)
            .field("stored_bytes", &self.stored_bytes)
            .field("stored_expires_in", &self.stored_expires_in)
            .field("nodes", &self.nodes)
            .finish_non_exhaustive()
    }
}

/// What [`Admin::purge`] removed (or, dry, would remove).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Purged {
    /// Locks with a key removed.
    pub locks: u64,
    /// Redis keys removed: locks, waiters' markers, wake-up signals and
    /// stored results (on Redlock, summed over the nodes).
    pub keys: u64,
}

impl Debouncer {
    /// The admin API: list, inspect, release and purge this `Debouncer`'s
    /// locks, on whatever backend it uses (on a cluster, every master; on
    /// Redlock, every node). Each operation is an [`Error::Config`] for a
    /// `Debouncer` without a key prefix, whose locks cannot be told from
    /// another app's hash-tagged keys.
    ///
    /// ```
    /// use std::time::Duration;
    /// use redis_debounce::{Debouncer, LockState};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), redis_debounce::Error> {
    /// let debouncer = Debouncer::memory();
    /// let _guard = debouncer.try_lock("export:7", Duration::from_secs(60)).await.unwrap();
    /// let admin = debouncer.admin();
    /// let held = admin.list("export:", 100).await?;
    /// assert_eq!(held.len(), 1);
    /// assert_eq!((held[0].key.as_str(), held[0].state), ("export:7", LockState::Held));
    /// assert!(admin.release(&held[0]).await?, "freed, whoever held it");
    /// assert_eq!(admin.inspect("export:7").await?.state, LockState::Free);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn admin(&self) -> Admin<'_> {
        Admin { debouncer: self }
    }
}

impl Admin<'_> {
    /// The locks whose key starts with `prefix` (after the `Debouncer`'s
    /// own prefix; `""` for all), at most `limit`, sorted by key. Found by
    /// `SCAN` (never `KEYS`, which blocks Redis), on every master of a
    /// cluster. A lock that only has a fencing counter left is not listed.
    ///
    /// # Errors
    ///
    /// The backend's [`Error`] (on Redlock, when no majority answered).
    pub async fn list(&self, prefix: &str, limit: usize) -> Result<Vec<LockInfo>, Error> {
        self.prefixed()?;
        let starts = self.starts(prefix);
        let mut locks = std::collections::BTreeSet::new();
        for done in self.each(Op::Locks { starts }).await?.into_iter().flatten() {
            if let Done::Locks(found) = done {
                locks.extend(found);
            }
        }
        let locks: Vec<String> = locks.into_iter().collect();
        let mut listed = Vec::new();
        // Read in key order until `limit` locks are found: a key left
        // with nothing but an expired marker's signal is no lock.
        for batch in locks.chunks(BATCH) {
            for (lock, raws) in batch.iter().zip(self.read(batch).await?) {
                if listed.len() == limit {
                    return Ok(listed);
                }
                listed.extend(self.info(lock, &raws));
            }
        }
        Ok(listed)
    }

    /// What every node holds of each of `locks`: per lock, per node
    /// (`None` for a node that did not answer).
    async fn read(self, locks: &[String]) -> Result<Vec<Vec<Option<Raw>>>, Error> {
        let answers = self.each(Op::Inspect(locks.to_vec())).await?;
        Ok((0..locks.len())
            .map(|at| {
                answers
                    .iter()
                    .map(|done| match done {
                        Some(Done::Inspected(raws)) => raws.get(at).cloned(),
                        _ => None,
                    })
                    .collect()
            })
            .collect())
    }

    /// One lock, by its key as [`list`](Self::list) shows it (state
    /// [`Free`](LockState::Free) when there is no lock; its fencing
    /// counter is shown all the same).
    ///
    /// # Errors
    ///
    /// The backend's [`Error`].
    pub async fn inspect(&self, key: &str) -> Result<LockInfo, Error> {
        self.prefixed()?;
        let lock = self.debouncer.key_str(key).full;
        let raws = self
            .read(std::slice::from_ref(&lock))
            .await?
            .pop()
            .unwrap_or_default();
        let fence = raws.iter().flatten().filter_map(|raw| raw.fence).max();
        Ok(self.info(&lock, &raws).unwrap_or_else(|| LockInfo {
            key: key.into(),
            state: LockState::Free,
            expires_in: None,
            waiters: false,
            fence,
            stored_bytes: None,
            stored_expires_in: None,
            nodes: None,
            holders: Vec::new(),
        }))
    }

    /// Frees `lock` by compare-and-delete: only if each node still has the
    /// holder [`inspect`](Self::inspect) or [`list`](Self::list) read
    /// (whoever held it then, or the same cooldown; a holder or cooldown
    /// that took the key since is left alone), and wakes a waiter. The
    /// holder's own release then finds the lock gone, and its body may
    /// still be running: free a lock whose holder is stuck or gone. `true`
    /// when freed everywhere it was read (on Redlock, or on a majority).
    ///
    /// # Errors
    ///
    /// The backend's [`Error`], when a node that failed leaves it freed on
    /// too few.
    pub async fn release(&self, lock: &LockInfo) -> Result<bool, Error> {
        self.prefixed()?;
        if !matches!(lock.state, LockState::Held | LockState::CoolingDown) {
            return Ok(false);
        }
        let full = self.debouncer.key_str(&lock.key).full;
        let (mut freed, mut failure) = (0, None);
        for (at, holder) in lock.holders.iter().enumerate() {
            let Some((value, deadline)) = holder else {
                continue;
            };
            let op = Op::TakeDown {
                key: full.clone(),
                value: value.clone(),
                deadline: *deadline,
            };
            match self.on(at, op).await {
                Ok(Done::TakenDown(true)) => freed += 1,
                Ok(_) => {}
                Err(error) => {
                    failure.get_or_insert(error);
                }
            }
        }
        // Everywhere it was read, or on a majority of the nodes.
        let held_on = lock.holders.iter().flatten().count();
        let needed = quorum(self.nodes()).min(held_on);
        match failure {
            Some(error) if freed < needed => Err(error),
            _ => Ok(freed > 0 && freed >= needed),
        }
    }

    /// Removes every lock, waiters' marker, wake-up signal and stored
    /// result under `prefix` (after the `Debouncer`'s own prefix), in
    /// batches of `SCAN` and `UNLINK`; with `dry_run`, only counts them.
    /// Fencing counters stay: a purged key's next fencing token is still
    /// larger than every one handed out. A call that holds a purged lock
    /// goes on running; its release then finds the lock gone.
    ///
    /// # Errors
    ///
    /// The backend's [`Error`] (on Redlock, the first node that failed);
    /// [`Error::Config`] for a `Debouncer` without a key prefix.
    pub async fn purge(&self, prefix: &str, dry_run: bool) -> Result<Purged, Error> {
        self.prefixed()?;
        let starts = self.starts(prefix);
        let mut purged = Purged::default();
        for at in 0..self.nodes() {
            let op = Op::Purge {
                starts: starts.clone(),
                dry_run,
            };
            if let Done::Purged(locks, keys) = self.on(at, op).await? {
                purged.locks = purged.locks.max(locks);
                purged.keys += keys;
            }
        }
        Ok(purged)
    }

    /// The admin API needs the `Debouncer`'s key prefix: without one, any
    /// hash-tagged key of another app (`{user:1}`) looks like a lock.
    fn prefixed(self) -> Result<(), Error> {
        if self.debouncer.prefix().is_empty() {
            return Err(Error::config(
                "the admin API needs a key prefix: without one, another app's hash-tagged keys (`{user:1}`) look like locks",
            ));
        }
        Ok(())
    }

    /// `<prefix>{<key prefix>`: what every full key under `prefix` starts
    /// with.
    fn starts(self, prefix: &str) -> String {
        // Braces written as a rendered key has them; never shortened (a
        // key's prefix is not a key: a long one matches the kept bytes).
        let mut starts = format!("{}{{", self.debouncer.prefix());
        for c in prefix.chars() {
            match c {
                '{' => starts.push_str("%7B"),
                '}' => starts.push_str("%7D"),
                c => starts.push(c),
            }
        }
        starts
    }

    fn nodes(self) -> usize {
        match self.debouncer.backend() {
            #[cfg(feature = "redlock")]
            Backend::Redlock(redlock) => redlock.nodes().len(),
            _ => 1,
        }
    }

    /// `op` on node `at` (the one target, but on Redlock).
    async fn on(self, at: usize, op: Op) -> Result<Done, Error> {
        #[cfg(not(feature = "redlock"))]
        let _ = at;
        let prefix = self.debouncer.prefix();
        match self.debouncer.backend() {
            Backend::Redis(redis) => redis.admin(prefix, op).await,
            Backend::Memory(memory) => Ok(memory.admin(prefix, op)),
            #[cfg(feature = "redlock")]
            Backend::Redlock(redlock) => match redlock.nodes().get(at) {
                Some(node) => node.admin(prefix, op).await,
                None => Err(Error::config("no such Redlock node")),
            },
        }
    }

    /// `op` on every node at once: their answers (`None` for a node that
    /// failed); an error when fewer than a majority answered.
    async fn each(self, op: Op) -> Result<Vec<Option<Done>>, Error> {
        let nodes = self.nodes();
        let mut answers: Vec<Option<Done>> = (0..nodes).map(|_| None).collect();
        let mut failure = None;
        crate::backend::each(
            (0..nodes).map(|at| self.on(at, op.clone())),
            |at, answer| {
                match answer {
                    Ok(done) => answers[at] = Some(done),
                    Err(error) => {
                        failure.get_or_insert(error);
                    }
                }
                std::ops::ControlFlow::Continue(())
            },
        )
        .await;
        let answered = answers.iter().filter(|done| done.is_some()).count();
        match failure {
            Some(error) if answered < quorum(nodes) => Err(error),
            _ => Ok(answers),
        }
    }

    /// A lock from what each node read of it; `None` when no node has
    /// anything of it but a fencing counter.
    fn info(self, lock: &str, raws: &[Option<Raw>]) -> Option<LockInfo> {
        let nodes = raws.len();
        let values: Vec<Option<&[u8]>> = raws
            .iter()
            .map(|raw| raw.as_ref().map(|raw| raw.value.as_slice()))
            .map(|value| value.filter(|value| !value.is_empty()))
            .collect();
        // The holder: the one on the most nodes (its token, flagged by
        // waiters on some nodes or not).
        let holders: Vec<Option<&[u8]>> = values.iter().map(|value| value.map(holder_of)).collect();
        let holder = holders
            .iter()
            .flatten()
            .max_by_key(|value| holders.iter().filter(|v| v == &&Some(**value)).count())
            .copied();
        let held_on = holders
            .iter()
            .filter(|v| **v == holder && holder.is_some())
            .count();
        let present = raws.iter().flatten();
        let waiters = present.clone().any(|raw| {
            raw.waiting_pttl > 0 || (raw.value.len() == 17 && raw.value.ends_with(b"+"))
        });
        let stored: Vec<&Raw> = present
            .clone()
            .filter(|raw| raw.result_pttl != -2 && raw.result_bytes >= 0)
            .collect();
        if holder.is_none() && !waiters && stored.is_empty() {
            return None;
        }
        let state = match holder {
            None => LockState::Free,
            Some(b"cooldown") => LockState::CoolingDown,
            Some(b"!") => LockState::Foreign,
            Some(_) => LockState::Held,
        };
        let expires_in = raws
            .iter()
            .flatten()
            .filter(|raw| !raw.value.is_empty() && Some(holder_of(&raw.value)) == holder)
            .filter(|raw| raw.pttl > 0)
            .map(|raw| raw.pttl)
            .min()
            .map(millis);
        let key = lock
            .strip_prefix(self.debouncer.prefix())
            .and_then(|key| key.strip_prefix('{'))
            .and_then(|key| key.strip_suffix('}'))
            .unwrap_or(lock);
        Some(LockInfo {
            key: key.into(),
            state,
            expires_in,
            waiters,
            fence: present.filter_map(|raw| raw.fence).max(),
            stored_bytes: stored
                .iter()
                .map(|raw| u64::try_from(raw.result_bytes).unwrap_or(0))
                .max(),
            stored_expires_in: stored
                .iter()
                .map(|raw| raw.result_pttl)
                .filter(|pttl| *pttl > 0)
                .max()
                .map(millis),
            nodes: (nodes > 1).then_some((held_on, nodes)),
            holders: raws
                .iter()
                .map(|raw| {
                    raw.as_ref()
                        .filter(|raw| !raw.value.is_empty())
                        .filter(|raw| Some(holder_of(&raw.value)) == holder)
                        .map(|raw| (raw.value.clone(), raw.deadline))
                })
                .collect(),
        })
    }
}

/// Who a lock's value names: its token, whether a waiter flagged it (`+`)
/// or not.
fn holder_of(value: &[u8]) -> &[u8] {
    match value {
        [token @ .., b'+'] if token.len() == 16 => token,
        value => value,
    }
}

fn millis(ms: i64) -> Duration {
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

/// A majority of `nodes`.
fn quorum(nodes: usize) -> usize {
    nodes / 2 + 1
}
