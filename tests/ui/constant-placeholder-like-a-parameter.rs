use redis_debounce::{debounce, Busy};

const ID: u32 = 0;

#[debounce(key = "user:{ID}", ttl = 30)]
fn user(id: u32) -> Result<u32, Busy> {
    Ok(id + ID)
}

fn main() {}
