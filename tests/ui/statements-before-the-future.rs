use std::future::Future;
use std::pin::Pin;

use redis_debounce::{debounce, Busy};

#[debounce(key = "job:{id}", ttl = 30)]
fn job(id: u32) -> Pin<Box<dyn Future<Output = Result<u32, Busy>> + Send>> {
    println!("starting {id}");
    Box::pin(async move { Ok(id) })
}

// Shaped like `#[async_trait]`'s declarations, but not them: a block that
// moves a binding not named `__arg..`, and one that moves another.
#[debounce(key = "pair:{id}", ttl = 30)]
fn pair(id: u32, t: (u32, u32)) -> Pin<Box<dyn Future<Output = Result<u32, Busy>> + Send>> {
    let (a, b) = { let t = t; t };
    Box::pin(async move { Ok(id + a + b) })
}

#[debounce(key = "moved:{id}", ttl = 30)]
fn moved(id: u32, t: (u32, u32)) -> Pin<Box<dyn Future<Output = Result<u32, Busy>> + Send>> {
    let (a, b) = { let __arg1 = t; __arg1 };
    Box::pin(async move { Ok(id + a + b) })
}

fn main() {}
