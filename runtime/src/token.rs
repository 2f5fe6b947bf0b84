//! Random owner tokens: who holds a lock.

use std::cell::Cell;
use std::fmt;
use std::hash::{BuildHasher, RandomState};

/// A random 128-bit value that marks one holder of one lock.
///
/// Release and renewal compare it on the server, so a caller whose lease
/// ran out can never delete or extend the next holder's lock.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Token([u8; 16]);

thread_local! {
    /// The generator's state, and the process it was seeded in. Seeded
    /// from the OS (std's randomly keyed SipHash) per thread, so no lock
    /// is shared on the hot path.
    static STATE: Cell<(u64, u32)> = Cell::new((seed(std::process::id()), std::process::id()));
}

/// A seed for this thread in process `pid`: std's `RandomState` keys come
/// from the OS once per thread; the pid and the thread set the streams
/// apart, also for a `fork()`ed child, whose keys are its parent's.
fn seed(pid: u32) -> u64 {
    RandomState::new().hash_one((pid, std::thread::current().id()))
}

/// wyrand: a fast generator with a 2^64 period that passes `BigCrush`.
fn wyrand(state: u64) -> (u64, u64) {
    let s = state.wrapping_add(0xa076_1d64_78bd_642f);
    let t = u128::from(s) * u128::from(s ^ 0xe703_7ed1_a0b4_28db);
    #[allow(clippy::cast_possible_truncation)]
    let folded = (t >> 64) as u64 ^ t as u64;
    (s, folded)
}

/// The next number of this thread's stream, for jitter: no process check
/// (a forked child sharing its parent's jitter harms nobody).
pub(crate) fn next_u64() -> u64 {
    STATE.with(|cell| {
        let (state, pid) = cell.get();
        let (state, out) = wyrand(state);
        cell.set((state, pid));
        out
    })
}

/// Two numbers of the stream, after reseeding if this is no longer the
/// process the stream was seeded in (a `fork()`ed child would otherwise
/// repeat its parent's tokens).
fn next_pair(pid: u32) -> (u64, u64) {
    STATE.with(|cell| {
        let (mut state, seeded_in) = cell.get();
        if seeded_in != pid {
            state = seed(pid);
        }
        let (state, first) = wyrand(state);
        let (state, second) = wyrand(state);
        cell.set((state, pid));
        (first, second)
    })
}

impl Token {
    /// A token for a lock in Redis, which other processes share: unique
    /// across threads, processes and `fork()` (one `getpid` per token).
    pub(crate) fn random() -> Self {
        Self::from_pair(next_pair(std::process::id()))
    }

    /// A token for the in-process backend, whose locks no other process
    /// sees: no process check.
    pub(crate) fn local() -> Self {
        Self::from_pair((next_u64(), next_u64()))
    }

    fn from_pair((first, second): (u64, u64)) -> Self {
        let mut bytes = [0; 16];
        bytes[..8].copy_from_slice(&first.to_le_bytes());
        bytes[8..].copy_from_slice(&second.to_le_bytes());
        Token(bytes)
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{STATE, Token, next_pair, seed, wyrand};

    /// The generator is wyrand as published (known answers, computed from
    /// its reference definition): a weakened mixer would still give
    /// distinct tokens in a test, but not the generator whose quality the
    /// docs claim.
    #[test]
    fn the_generator_is_wyrand() {
        let (state, first) = wyrand(0);
        assert_eq!(
            (state, first),
            (0xa076_1d64_78bd_642f, 0x111c_b3a7_8f59_a58e)
        );
        let (state, second) = wyrand(state);
        assert_eq!(
            (state, second),
            (0x40ec_3ac8_f17a_c85e, 0xceab_d938_ff4e_856d)
        );
        assert_eq!(
            wyrand(0x0123_4567_89ab_cdef),
            (0xa199_62cc_0269_321e, 0x58b9_6221_7aaf_c627)
        );
    }

    /// `Debug` shows the 16 bytes in hex (what a lock's value is in Redis,
    /// for matching a guard's log line to `GET`).
    #[test]
    fn debug_is_the_bytes_in_hex() {
        let mut bytes = [0; 16];
        bytes[0] = 0xab;
        bytes[15] = 0x01;
        assert_eq!(
            format!("{:?}", Token(bytes)),
            "ab000000000000000000000000000001"
        );
    }

    /// A seed is keyed, not a function of the pid and thread alone (so two
    /// containers that both run as PID 1 do not share a stream): the same
    /// pid and thread give another seed each time. That the keys come from
    /// the OS is std's `RandomState`'s promise, not checked here.
    #[test]
    fn seeds_are_random_not_derived_from_the_pid() {
        assert_ne!(seed(1), seed(1));
    }

    #[test]
    fn tokens_differ_within_and_across_threads() {
        let mine: Vec<Token> = (0..1000).map(|_| Token::random()).collect();
        let local: Vec<Token> = (0..1000).map(|_| Token::local()).collect();
        let theirs = std::thread::spawn(|| (0..1000).map(|_| Token::random()).collect::<Vec<_>>())
            .join()
            .expect("token thread");
        let mut all: Vec<[u8; 16]> = mine
            .iter()
            .chain(&local)
            .chain(&theirs)
            .map(|t| t.0)
            .collect();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 3000);
    }

    /// A `fork()`ed child starts with its parent's state; its first token
    /// (another pid) is not the one the parent makes next.
    #[test]
    fn a_forked_child_does_not_repeat_its_parent() {
        let parent = std::process::id();
        let snapshot = STATE.with(std::cell::Cell::get);
        let parents_next = next_pair(parent);
        // The child: the same state, another process.
        STATE.with(|cell| cell.set(snapshot));
        let childs_first = next_pair(parent.wrapping_add(1));
        assert_ne!(parents_next, childs_first);
        // And the parent's own stream goes on unchanged.
        STATE.with(|cell| cell.set(snapshot));
        assert_eq!(next_pair(parent), parents_next);
    }
}
