use redis_debounce::{debounce, Busy};

// "1" and "23" would render as "1" and "23" as well as "12" and "3".
#[debounce(key = "order:{a}{b}", ttl = 30)]
fn order(a: u32, b: u32) -> Result<(), Busy> {
    Ok(())
}

fn main() {}
