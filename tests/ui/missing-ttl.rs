use redis_debounce::{debounce, Busy};

#[debounce(key = "order:{id}")]
fn order(id: u64) -> Result<(), Busy> {
    Ok(())
}

fn main() {}
