use redis_debounce::{debounce, Busy};

#[debounce(ttl = 30)]
fn order(id: u64) -> Result<(), Busy> {
    Ok(())
}

fn main() {}
