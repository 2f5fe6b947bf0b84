use redis_debounce::{debounce, Busy};

#[debounce(key = "checkout:{usr_id}", ttl = 30)]
async fn checkout(user_id: u64) -> Result<(), Busy> {
    Ok(())
}

fn main() {}
