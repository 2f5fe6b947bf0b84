use redis_debounce::{debounce, Busy};

#[debounce(key = "order:{id}", ttl = 1.5)]
fn order(id: u64) -> Result<(), Busy> {
    Ok(())
}

fn main() {}
