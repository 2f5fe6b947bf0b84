use redis_debounce::{debounce, Busy};

#[debounce(key = "job:{id}", ttl = "5m", renew, max_hold = "1m")]
async fn job(id: u64) -> Result<(), Busy> {
    Ok(())
}

fn main() {}
