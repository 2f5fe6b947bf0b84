use redis_debounce::{debounce, Busy};

struct Cart {
    items: Vec<u32>,
}

#[debounce(key = "cart:{cart.items}", ttl = 30)]
fn add(cart: &Cart) -> Result<(), Busy> {
    Ok(())
}

fn main() {}
