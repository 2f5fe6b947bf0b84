use redis_debounce::{debounce, Busy};

#[debounce(key = "job:{id}", ttl = 30, confirm = "yes")]
async fn job(id: u64) -> Result<(), Busy> {
    Ok(())
}

fn main() {}
