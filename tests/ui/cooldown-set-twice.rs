use redis_debounce::{debounce, Busy};

#[debounce(key = "sms:{phone}", ttl = 30, cooldown = "5m", cooldown = "1m")]
fn send(phone: &str) -> Result<(), Busy> {
    Ok(())
}

fn main() {}
