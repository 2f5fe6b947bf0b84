use redis_debounce::{debounce, Busy};

#[debounce(key = "order:id}", ttl = 30)]
fn order(id: u64) -> Result<(), Busy> {
    Ok(())
}

fn main() {}
