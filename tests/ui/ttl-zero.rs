use redis_debounce::{debounce, Busy};

// Every duration argument shares this check: whole seconds, then a string.
#[debounce(key = "order:{id}", ttl = 0)]
fn order(id: u64) -> Result<(), Busy> {
    Ok(())
}

#[debounce(key = "order:{id}", ttl = "0ms")]
fn order_ms(id: u64) -> Result<(), Busy> {
    Ok(())
}

fn main() {}
