use redis_debounce::{debounce, Busy};

// Every duration argument shares this parser.
#[debounce(key = "order:{id}", ttl = "30 seconds")]
fn order(id: u64) -> Result<(), Busy> {
    Ok(())
}

fn main() {}
