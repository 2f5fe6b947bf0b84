use redis_debounce::{debounce, Busy};

// The typo is reported once; the function still exists, so its callers
// raise no further errors.
#[debounce(key = "order:{idd}", ttl = 30)]
fn order(id: u64) -> Result<u64, Busy> {
    Ok(id)
}

fn main() {
    let _ = order(1);
}
