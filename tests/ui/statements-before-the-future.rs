use std::future::Future;
use std::pin::Pin;

use redis_debounce::{debounce, Busy};

#[debounce(key = "job:{id}", ttl = 30)]
fn job(id: u32) -> Pin<Box<dyn Future<Output = Result<u32, Busy>> + Send>> {
    println!("starting {id}");
    Box::pin(async move { Ok(id) })
}

fn main() {}
