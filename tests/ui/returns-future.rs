use std::future::Future;

use redis_debounce::{debounce, Busy};

#[debounce(key = "order:{id}", ttl = 30)]
fn order(id: u64) -> impl Future<Output = Result<u64, Busy>> {
    async move { Ok(id) }
}

fn main() {}
