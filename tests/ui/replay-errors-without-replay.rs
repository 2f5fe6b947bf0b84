use redis_debounce::{debounce, Busy};

#[debounce(key = "charge:{id}", ttl = 30, replay_errors)]
async fn charge(id: u64) -> Result<(), Busy> {
    Ok(())
}

fn main() {}
