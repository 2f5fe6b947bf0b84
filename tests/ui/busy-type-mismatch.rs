use redis_debounce::debounce;

#[debounce(key = "order:{id}", ttl = 30, busy = "busy")]
fn order(id: u64) -> Result<u64, String> {
    Ok(id)
}

fn main() {}
