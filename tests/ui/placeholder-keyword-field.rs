use redis_debounce::{debounce, Busy};

struct Order {
    id: u64,
}

// A keyword is no field name: refused at the placeholder, not a panic.
#[debounce(key = "order:{order.type}", ttl = 30)]
fn ship(order: &Order) -> Result<(), Busy> {
    Ok(())
}

fn main() {}
