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
    // Seeded from the OS through std's randomly keyed SipHash; every thread
    // gets its own seed, so no lock is shared on the hot path.
    static STATE: Cell<u64> = Cell::new(RandomState::new().hash_one(std::thread::current().id()));
}

/// wyrand: a fast generator with a 2^64 period that passes `BigCrush`.
pub(crate) fn next_u64() -> u64 {
    STATE.with(|state| {
        let s = state.get().wrapping_add(0xa076_1d64_78bd_642f);
        state.set(s);
        let t = u128::from(s) * u128::from(s ^ 0xe703_7ed1_a0b4_28db);
        #[allow(clippy::cast_possible_truncation)]
        let folded = (t >> 64) as u64 ^ t as u64;
        folded
    })
}

impl Token {
    pub(crate) fn random() -> Self {
        let mut bytes = [0; 16];
        bytes[..8].copy_from_slice(&next_u64().to_le_bytes());
        bytes[8..].copy_from_slice(&next_u64().to_le_bytes());
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
    use super::Token;

    #[test]
    fn tokens_differ_within_and_across_threads() {
        let mine: Vec<Token> = (0..1000).map(|_| Token::random()).collect();
        let theirs = std::thread::spawn(|| (0..1000).map(|_| Token::random()).collect::<Vec<_>>())
            .join()
            .expect("token thread");
        let mut all: Vec<[u8; 16]> = mine.iter().chain(&theirs).map(|t| t.0).collect();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 2000);
    }
}
