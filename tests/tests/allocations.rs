//! Allocations per call: a debounced call allocates its rendered key and
//! nothing else (in-memory backend, steady state: the key was seen before).
//! Counts are per thread and deterministic, unlike times.

use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use redis_debounce::{Busy, Debouncer, debounce};

const TTL: Duration = Duration::from_secs(30);
const CALLS: u64 = 100;

#[debounce(key = "alloc:{id}", ttl = 30, using = debouncer)]
async fn debounced(debouncer: &Debouncer, id: u32) -> Result<u32, Busy> {
    Ok(id)
}

#[debounce(key = "alloc-sync:{id}", ttl = 30, using = debouncer)]
fn debounced_sync(debouncer: &Debouncer, id: u32) -> Result<u32, Busy> {
    Ok(id)
}

/// Allocations made by one call of `call`, measured over `CALLS` calls
/// after a first one (which creates the key's entry).
fn per_call(mut call: impl FnMut()) -> u64 {
    call();
    let info = allocation_counter::measure(|| {
        for _ in 0..CALLS {
            call();
        }
    });
    assert_eq!(info.count_current, 0, "every allocation is freed again");
    assert_eq!(info.count_total % CALLS, 0, "{info:?}");
    info.count_total / CALLS
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Runs a future that the in-memory backend completes in one poll, inside
/// the runtime's context (`block_on` would box a large future in debug
/// builds, an allocation that is not the call's).
fn at_once<F: Future>(runtime: &tokio::runtime::Runtime, future: F) -> F::Output {
    let _entered = runtime.enter();
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the in-memory backend answers at once"),
    }
}

#[test]
fn a_blocking_lock_allocates_its_key_only() {
    let debouncer = Debouncer::memory();
    let allocations = per_call(|| {
        let guard = debouncer.try_lock_blocking("alloc:1", TTL).expect("free");
        drop(guard);
    });
    assert_eq!(allocations, 1);
}

#[test]
fn an_async_lock_allocates_its_key_only() {
    let runtime = runtime();
    let debouncer = Debouncer::memory();
    let allocations = per_call(|| {
        let guard = at_once(&runtime, debouncer.try_lock("alloc:1", TTL));
        drop(guard.expect("free"));
    });
    assert_eq!(allocations, 1);
}

#[test]
fn a_debounced_async_fn_allocates_its_key_only() {
    let runtime = runtime();
    let debouncer = Debouncer::memory();
    let allocations = per_call(|| {
        at_once(&runtime, debounced(&debouncer, 7)).expect("free");
    });
    assert_eq!(allocations, 1);
}

#[test]
fn a_debounced_sync_fn_allocates_its_key_only() {
    let debouncer = Debouncer::memory();
    let allocations = per_call(|| {
        debounced_sync(&debouncer, 7).expect("free");
    });
    assert_eq!(allocations, 1);
}
