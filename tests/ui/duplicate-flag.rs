use redis_debounce::{debounce, Busy};

// Flags (`renew`, `fence`, `replay_errors`) are stored apart from values.
#[debounce(key = "job:{id}", ttl = 30, fence, fence)]
async fn job(id: u64) -> Result<(), Busy> {
    Ok(())
}

fn main() {}
