use redis_debounce::{debounce, Busy};

struct User {
    id: u64,
}

#[debounce(key = "checkout:{customer.id}", ttl = 30)]
async fn checkout(user: &User) -> Result<(), Busy> {
    Ok(())
}

fn main() {}
