use redis_debounce::{debounce, Busy};

// Every duration argument shares this bound: 100 years, whole seconds or a
// string with a unit. Exactly 100 years is taken.
#[debounce(key = "sms:{id}", ttl = 30, cooldown = "9999999999999999999ms")]
fn sms(id: u64) -> Result<(), Busy> {
    Ok(())
}

#[debounce(key = "order:{id}", ttl = 3155760001)]
fn order(id: u64) -> Result<(), Busy> {
    Ok(())
}

#[debounce(key = "order:{id}", ttl = "36525d")]
fn century(id: u64) -> Result<(), Busy> {
    Ok(())
}

fn main() {}
