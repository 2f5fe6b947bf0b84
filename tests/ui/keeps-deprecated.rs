#![deny(deprecated)]

use redis_debounce::{debounce, Busy};

#[deprecated = "use `order_v2`"]
#[debounce(key = "order:{id}", ttl = 30)]
fn order(id: u64) -> Result<(), Busy> {
    Ok(())
}

fn main() {
    let _ = order(1);
}
