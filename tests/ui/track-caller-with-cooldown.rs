use redis_debounce::{debounce, Busy};

#[debounce(key = "order:{id}", ttl = 30, cooldown = "1m")]
#[track_caller]
fn order(id: u64) -> Result<u64, Busy> {
    Ok(id)
}

fn main() {}
