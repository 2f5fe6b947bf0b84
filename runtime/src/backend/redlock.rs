//! Redlock: one lock over N independent Redis masters (no replication
//! between them), held when a majority granted it within its validity.
//!
//! Every request goes to all nodes at once (one round trip, not N): an
//! acquire counts the grants, and unless a majority granted it in time it
//! gives back what it got and answers held (a majority holds it for
//! another), unavailable (too many nodes did not answer), or, when the
//! votes split between callers, tries again after a random pause, a
//! bounded number of times. A lease is counted valid for its ttl less the
//! clock drift Redlock allows (1 % and 2 ms), from before the acquire was
//! sent. Renewal extends on every node and holds with a majority.
//! Fencing tokens stay strictly increasing: a holder's token is the
//! largest of its majority's counters, written back to that majority
//! before the lock is handed out, and every later majority shares a node
//! with it.

use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use super::redis::RedisBackend;
use super::{Acquire, Ask, Finish, each};
use crate::Error;
use crate::token::Token;

/// Acquires tried again after a split vote, at most.
const RETRIES: u32 = 3;

/// The longest random pause before trying again after a split vote.
const MAX_JITTER: Duration = Duration::from_millis(50);

#[derive(Debug)]
pub(crate) struct RedlockBackend {
    nodes: Vec<RedisBackend>,
}

/// The clock drift Redlock allows for a lease of `ttl`: 1 % and 2 ms.
fn drift(ttl: Duration) -> Duration {
    ttl / 100 + Duration::from_millis(2)
}

/// The nodes that granted an acquire: given back when dropped, unless
/// kept (a caller that gave up, or an acquire that fell short, leaves no
/// lock behind on any node).
struct Grants<'a> {
    redlock: &'a RedlockBackend,
    key: &'a str,
    token: Token,
    valid_until: Instant,
    nodes: Vec<usize>,
}

impl Grants<'_> {
    fn keep(mut self) {
        self.nodes.clear();
    }
}

impl Drop for Grants<'_> {
    fn drop(&mut self) {
        for &node in &self.nodes {
            self.redlock.nodes[node].finish_detached(
                self.key,
                self.token,
                &Finish::RELEASE,
                self.valid_until,
            );
        }
    }
}

impl RedlockBackend {
    pub(crate) fn new(nodes: Vec<RedisBackend>) -> Result<Self, Error> {
        if nodes.len() < 3 {
            return Err(Error::config(
                "Redlock needs at least 3 independent Redis masters",
            ));
        }
        // One server named twice would count twice towards a majority.
        let mut servers: Vec<String> = nodes.iter().map(RedisBackend::server).collect();
        servers.sort_unstable();
        if servers.windows(2).any(|pair| pair[0] == pair[1]) {
            return Err(Error::config(
                "a Redlock node is listed twice: its nodes must be independent servers",
            ));
        }
        Ok(RedlockBackend { nodes })
    }

    fn quorum(&self) -> usize {
        self.nodes.len() / 2 + 1
    }

    /// How long a lease of `ttl` counts as ours from before it was asked
    /// for: less the drift between the nodes' clocks and ours.
    pub(crate) fn validity(ttl: Duration) -> Duration {
        ttl.saturating_sub(drift(ttl))
    }

    fn no_quorum(&self, answered: usize, error: Option<Error>) -> Error {
        Error::NoQuorum {
            nodes: self.nodes.len(),
            answered,
            needed: self.quorum(),
            source: Box::new(error.unwrap_or(Error::config("no node was asked"))),
        }
    }

    pub(crate) async fn acquire(&self, key: &str, ask: Ask) -> Result<Acquire, Error> {
        let ttl = Duration::from_millis(ask.ttl_ms);
        let quorum = self.quorum();
        let others = self.nodes.len() - quorum;
        let mut tries = 0;
        loop {
            let started = Instant::now();
            let mut grants = Grants {
                redlock: self,
                key,
                token: ask.token,
                valid_until: started + ttl,
                nodes: Vec::new(),
            };
            let mut fence = 0;
            let mut held = Vec::new();
            let mut stored = None;
            let mut errors = Vec::new();
            // Done once a majority granted: a node that hangs is not waited
            // for (its late grant is undone by the dropped request).
            each(
                self.nodes.iter().map(|node| node.acquire(key, ask)),
                |at, answer| {
                    match answer {
                        Ok(Acquire::Taken {
                            fence: node_fence, ..
                        }) => {
                            grants.nodes.push(at);
                            fence = fence.max(node_fence.unwrap_or(0));
                        }
                        Ok(Acquire::Held {
                            retry_after,
                            cooling,
                        }) => held.push((retry_after, cooling)),
                        Ok(Acquire::Stored(value)) => stored = Some(value),
                        Err(error) => errors.push(error),
                    }
                    if grants.nodes.len() >= quorum {
                        ControlFlow::Break(())
                    } else {
                        ControlFlow::Continue(())
                    }
                },
            )
            .await;
            let in_time = || started.elapsed() < Self::validity(ttl);
            let granted = grants.nodes.len();
            if granted >= quorum {
                if ask.fence {
                    self.raise_fence(key, fence, &grants.nodes).await?;
                }
                // Handed out only while still valid, the raise's time
                // included.
                if in_time() {
                    grants.keep();
                    return Ok(Acquire::Taken {
                        fence: ask.fence.then_some(fence),
                        asked: Some(started),
                    });
                }
            }
            drop(grants);
            if let Some(value) = stored {
                return Ok(Acquire::Stored(value));
            }
            // Nothing granted to us and a majority taken: another caller
            // holds it (or is taking it).
            if granted == 0 && held.len() > others {
                return Ok(Self::held(held, others));
            }
            if errors.len() > others {
                let answered = self.nodes.len() - errors.len();
                return Err(self.no_quorum(answered, errors.into_iter().next()));
            }
            // The votes split between callers (each gave back what it got),
            // or the time ran out: again, after a random pause.
            tries += 1;
            if tries > RETRIES {
                if held.is_empty() {
                    let answered = self.nodes.len() - errors.len();
                    return Err(self.no_quorum(answered, errors.into_iter().next()));
                }
                return Ok(Self::held(held, others));
            }
            let jitter = MAX_JITTER * u32::from(crate::token::next_u64().to_le_bytes()[0]) / 255;
            // On the connections' runtime: a blocking caller has none.
            // (A `Sleep` takes its timer from the runtime it is made on.)
            let pause = async move { tokio::time::sleep(jitter).await };
            let _ = self.runtime()?.spawn(pause).await;
        }
    }

    /// Held on more nodes than may be missing from a majority: busy until
    /// enough of them free the key.
    fn held(mut held: Vec<(Option<Duration>, bool)>, others: usize) -> Acquire {
        let cooling = held.iter().filter(|(_, cooling)| *cooling).count() > others;
        // The key is ours to take once `held.len() - others` of them end
        // (after a split vote, once any one does).
        held.sort_by_key(|(retry_after, _)| retry_after.unwrap_or(Duration::MAX));
        let ending = held.len().saturating_sub(others).max(1);
        let retry_after = held
            .get(ending - 1)
            .and_then(|(retry_after, _)| *retry_after);
        Acquire::Held {
            retry_after,
            cooling,
        }
    }

    /// Writes `fence` back to the nodes that granted it; a majority must
    /// take it.
    async fn raise_fence(&self, key: &str, fence: u64, nodes: &[usize]) -> Result<(), Error> {
        let mut raised = 0;
        let mut failure = None;
        each(
            nodes
                .iter()
                .map(|&at| self.nodes[at].raise_fence(key, fence)),
            |_, answer| {
                match answer {
                    Ok(()) => raised += 1,
                    Err(error) => failure = Some(error),
                }
                ControlFlow::Continue(())
            },
        )
        .await;
        if raised >= self.quorum() {
            Ok(())
        } else {
            Err(self.no_quorum(raised, failure))
        }
    }

    /// Counts the nodes that answered `true`: `true` with a majority,
    /// `false` when the others could not make one up, else the error.
    fn majority(&self, answers: Vec<Result<bool, Error>>) -> Result<bool, Error> {
        let yes = answers
            .iter()
            .filter(|answer| matches!(answer, Ok(true)))
            .count();
        if yes >= self.quorum() {
            return Ok(true);
        }
        let answered = answers.iter().filter(|answer| answer.is_ok()).count();
        let unknown = self.nodes.len() - answered;
        if yes + unknown < self.quorum() {
            return Ok(false);
        }
        let error = answers.into_iter().find_map(Result::err);
        Err(self.no_quorum(answered, error))
    }

    async fn on_all<F: Future<Output = Result<bool, Error>>>(
        &self,
        requests: impl IntoIterator<Item = F>,
    ) -> Result<bool, Error> {
        let mut answers = Vec::with_capacity(self.nodes.len());
        let mut yes = 0;
        // Done once a majority said yes: a node that hangs is not waited
        // for (what was handed to it is still sent).
        each(requests, |_, answer| {
            yes += usize::from(matches!(answer, Ok(true)));
            answers.push(answer);
            if yes >= self.quorum() {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .await;
        self.majority(answers)
    }

    pub(crate) async fn extend(&self, key: &str, token: Token, ttl_ms: u64) -> Result<bool, Error> {
        self.on_all(
            self.nodes
                .iter()
                .map(|node| node.extend(key, token, ttl_ms)),
        )
        .await
    }

    pub(crate) async fn finish(
        &self,
        key: &str,
        token: Token,
        finish: &Finish,
        valid_until: Instant,
    ) -> Result<bool, Error> {
        self.on_all(
            self.nodes
                .iter()
                .map(|node| node.finish(key, token, finish, valid_until)),
        )
        .await
    }

    pub(crate) fn finish_detached(
        &self,
        key: &str,
        token: Token,
        finish: &Finish,
        valid_until: Instant,
    ) {
        for node in &self.nodes {
            node.finish_detached(key, token, finish, valid_until);
        }
    }

    /// Sleeps on every node's wake-up list: the first wake-up ends it.
    /// Nodes that cannot be asked are left out; when none can, their
    /// first error.
    pub(crate) async fn wait(&self, key: &str, timeout: Duration) -> Result<(), Error> {
        let mut woken = false;
        let mut failure = None;
        each(
            self.nodes.iter().map(|node| node.wait(key, timeout)),
            |_, answer| match answer {
                Ok(()) => {
                    woken = true;
                    ControlFlow::Break(())
                }
                Err(error) => {
                    failure.get_or_insert(error);
                    ControlFlow::Continue(())
                }
            },
        )
        .await;
        match failure {
            Some(error) if !woken => Err(error),
            _ => Ok(()),
        }
    }

    /// Waits for every node's releases: done when a majority ran them (a
    /// minority that still holds a lock cannot grant it again), else the
    /// first node's error.
    pub(crate) async fn flush(&self) -> Result<(), Error> {
        let mut flushed = 0;
        let mut failure = None;
        each(self.nodes.iter().map(RedisBackend::flush), |_, answer| {
            match answer {
                Ok(()) => flushed += 1,
                Err(error) => {
                    failure.get_or_insert(error);
                }
            }
            ControlFlow::Continue(())
        })
        .await;
        if flushed >= self.quorum() {
            Ok(())
        } else {
            Err(self.no_quorum(flushed, failure))
        }
    }

    /// Its nodes, in the order given (the admin API asks each).
    pub(crate) fn nodes(&self) -> &[RedisBackend] {
        &self.nodes
    }

    /// The runtime renewals run on: the first node's connection's.
    pub(crate) fn runtime(&self) -> Result<&tokio::runtime::Handle, Error> {
        self.nodes[0].runtime()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::RedlockBackend;

    /// Redlock's drift allowance: 1 % of the ttl and 2 ms.
    #[test]
    fn validity_is_the_ttl_less_the_drift() {
        let validity = |ms| RedlockBackend::validity(Duration::from_millis(ms));
        assert_eq!(validity(30_000), Duration::from_millis(29_698));
        assert_eq!(validity(1_000), Duration::from_millis(988));
        assert_eq!(validity(1), Duration::ZERO);
    }
}
