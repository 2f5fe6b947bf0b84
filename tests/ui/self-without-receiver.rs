use redis_debounce::{debounce, Busy};

#[debounce(key = "tenant:{self.tenant}", ttl = 30)]
fn free(id: u64) -> Result<(), Busy> {
    Ok(())
}

fn main() {}
