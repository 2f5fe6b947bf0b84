use std::future::Future;
use std::pin::Pin;

use redis_debounce::{debounce, Busy};

type Job = Pin<Box<dyn Future<Output = Result<u64, Busy>> + Send>>;

// The body does not end in `Box::pin(async move { .. })`: the lock would
// cover only the making of the future. Refused by the return type's kind.
#[debounce(key = "order:{id}", ttl = 30, busy = |b| -> Job { Box::pin(async move { Err(b) }) })]
fn order(id: u64) -> Job {
    let job = async move { Ok(id) };
    Box::pin(job)
}

fn main() {}
