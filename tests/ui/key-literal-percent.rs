use redis_debounce::{debounce, Busy};

// Values are percent-encoded, so a literal `%` could read as part of one:
// `{a}%3A{b}` with ("x:", "y") and ("x", ":y") would both render `x%3A%3Ay`.
#[debounce(key = "discount:{code}:100%", ttl = 30)]
fn discount(code: &str) -> Result<(), Busy> {
    Ok(())
}

fn main() {}
