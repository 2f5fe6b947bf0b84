use redis_debounce::{debounce, Busy};

#[debounce(key = "report:{id}", ttl = 30, wait = "0ms")]
fn report(id: u64) -> Result<(), Busy> {
    Ok(())
}

fn main() {}
