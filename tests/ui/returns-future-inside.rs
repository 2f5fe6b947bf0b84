use std::future::{Future, IntoFuture};
use std::pin::Pin;

use redis_debounce::{debounce, Busy};

// Each returns work that would run after the lock is released.

#[debounce(key = "a:{id}", ttl = 30, busy = None)]
fn maybe(id: u32) -> Option<impl Future<Output = u32>> {
    Some(async move { id })
}

#[debounce(key = "b:{id}", ttl = 30, busy = Box::new(async move { 0 }))]
fn boxed(id: u32) -> Box<dyn Future<Output = u32> + Send> {
    Box::new(async move { id })
}

struct Later(u32);

impl IntoFuture for Later {
    type Output = u32;
    type IntoFuture = std::future::Ready<u32>;
    fn into_future(self) -> Self::IntoFuture {
        std::future::ready(self.0)
    }
}

#[debounce(key = "c:{id}", ttl = 30, busy = Later(0))]
fn later(id: u32) -> Later {
    Later(id)
}

trait Task: Future<Output = u32> {}
impl<F: Future<Output = u32>> Task for F {}

#[debounce(key = "d:{id}", ttl = 30, busy = panic!("busy"))]
fn task(id: u32) -> impl Task {
    async move { id }
}

#[debounce(key = "e:{id}", ttl = 30, busy = std::future::ready(0))]
async fn nested(id: u32) -> std::future::Ready<u32> {
    std::future::ready(id)
}

type BoxFut = std::pin::Pin<Box<dyn Future<Output = u32> + Send>>;

#[debounce(key = "f:{id}", ttl = 30, busy = Ok(Box::pin(async move { 0 })))]
fn result_of(id: u32) -> Result<BoxFut, redis_debounce::Busy> {
    Ok(Box::pin(async move { id }))
}

#[debounce(key = "g:{id}", ttl = 30, busy = None)]
fn option_of(id: u32) -> Option<BoxFut> {
    Some(Box::pin(async move { id }))
}

#[debounce(key = "h:{id}", ttl = 30)]
fn order(id: u64) -> impl Future<Output = Result<u64, Busy>> {
    async move { Ok(id) }
}

type Job = Pin<Box<dyn Future<Output = Result<u64, Busy>> + Send>>;

// The body does not end in `Box::pin(async move { .. })`: the lock would
// cover only the making of the future. Refused by the return type's kind.
#[debounce(key = "i:{id}", ttl = 30, busy = |b| -> Job { Box::pin(async move { Err(b) }) })]
fn job(id: u64) -> Job {
    let job = async move { Ok(id) };
    Box::pin(job)
}

fn main() {}
