use redis_debounce::{debounce, Busy};

// `{amount:.2}` renders 10.001 and 10.004 as the same key.
#[debounce(key = "pay:{amount:.2}", ttl = 30)]
fn pay(amount: f64) -> Result<(), Busy> {
    Ok(())
}

fn main() {}
