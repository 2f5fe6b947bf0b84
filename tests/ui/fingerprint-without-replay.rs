use redis_debounce::{debounce, Busy};

#[debounce(key = "pay:{id}", ttl = 30, fingerprint = "{cents}")]
async fn pay(id: u64, cents: u64) -> Result<(), Busy> {
    Ok(())
}

fn main() {}
