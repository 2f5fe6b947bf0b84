use redis_debounce::{debounce, Busy};

// Every `name = value` argument goes through the same check.
#[debounce(key = "order:{id}", ttl = 30, ttl = "1m")]
fn order(id: u64) -> Result<(), Busy> {
    Ok(())
}

fn main() {}
