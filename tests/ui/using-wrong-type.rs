use redis_debounce::{debounce, Busy};

#[debounce(key = "order:{id}", ttl = 30, using = "redis://127.0.0.1/")]
fn order(id: u64) -> Result<(), Busy> {
    Ok(())
}

fn main() {}
