use redis_debounce::{debounce, Busy};

#[debounce(key = "job:{id}", ttl = 30, fence, fence)]
async fn job(id: u64) -> Result<(), Busy> {
    Ok(())
}

fn main() {}
