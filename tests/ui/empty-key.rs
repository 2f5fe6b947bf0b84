use redis_debounce::{debounce, Busy};

#[debounce(key = "", ttl = 30)]
fn order(id: u64) -> Result<(), Busy> {
    Ok(())
}

fn main() {}
