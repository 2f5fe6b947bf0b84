use redis_debounce::{debounce, Busy};

#[debounce(key = "job:{id}", ttl = 30, max_hold = "10m")]
async fn job(id: u64) -> Result<(), Busy> {
    Ok(())
}

fn main() {}
