//! A debounced fn keeps its doc comment: under `deny(missing_docs)` the only
//! error is the undocumented item below, not the debounced fn.
#![deny(missing_docs)]

use redis_debounce::{debounce, Busy};

/// Documented, and still documented after the expansion.
#[debounce(key = "order:{id}", ttl = 30)]
pub fn order(id: u64) -> Result<(), Busy> {
    Ok(())
}

pub fn undocumented() {}

fn main() {}
