//! What an admin operation (`crate::admin`) asks of one backend, and what
//! it answers: the same for the in-process maps, a Redis server or
//! cluster, and each Redlock node.

use redis::Value;

/// What an admin operation asks of one target (a server, a cluster, one
/// Redlock node, the in-process maps). `starts`: what every full key of
/// the locks concerned starts with.
#[derive(Debug, Clone)]
pub(crate) enum Op {
    /// The full keys of the locks under `starts` with any key but a
    /// fencing counter (`SCAN`, every one of them).
    Locks { starts: String },
    /// What each of these locks (full keys) holds.
    Inspect(Vec<String>),
    /// Frees a lock if it is still `value` until `deadline` (see [`Raw`]).
    TakeDown {
        key: String,
        value: Vec<u8>,
        deadline: i64,
    },
    /// Deletes every lock, waiters' marker, signal and stored result under
    /// `starts` (fencing counters stay), or counts them.
    Purge { starts: String, dry_run: bool },
}

/// What it answered.
#[derive(Debug)]
pub(crate) enum Done {
    Locks(Vec<String>),
    /// In the order asked.
    Inspected(Vec<Raw>),
    TakenDown(bool),
    /// Locks touched, keys deleted (or that would be).
    Purged(u64, u64),
}

/// What one node holds of one lock (`inspect.lua`'s answer).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Raw {
    /// The lock's value: empty when there is none, `!` when the key is not
    /// a string.
    pub(crate) value: Vec<u8>,
    /// `PTTL`s: -2 when there is no key, -1 when it does not expire.
    pub(crate) pttl: i64,
    pub(crate) waiting_pttl: i64,
    pub(crate) fence: Option<u64>,
    /// -1 when the key is not a string.
    pub(crate) result_bytes: i64,
    pub(crate) result_pttl: i64,
    /// When the lock expires, in the node's clock's ms (-2 without a
    /// lock): a cooldown's value is the same for every cooldown, its
    /// deadline tells one from the next.
    pub(crate) deadline: i64,
}

impl Raw {
    pub(crate) fn parse(value: &Value) -> Option<Raw> {
        let Value::Array(parts) = value else {
            return None;
        };
        let bytes = |at: usize| match parts.get(at) {
            Some(Value::BulkString(bytes)) => Some(bytes.clone()),
            Some(Value::SimpleString(text)) => Some(text.clone().into_bytes()),
            _ => None,
        };
        let int = |at: usize| match parts.get(at) {
            Some(Value::Int(n)) => Some(*n),
            _ => None,
        };
        let fence = bytes(3)?;
        Some(Raw {
            value: bytes(0)?,
            pttl: int(1)?,
            waiting_pttl: int(2)?,
            fence: std::str::from_utf8(&fence)
                .ok()
                .and_then(|f| f.parse().ok()),
            result_bytes: int(4)?,
            result_pttl: int(5)?,
            deadline: int(6)?,
        })
    }
}
