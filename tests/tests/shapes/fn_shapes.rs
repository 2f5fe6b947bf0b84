//! The fn shapes of issue 14 (async-trait and tracing-attributes' test
//! suites, and odd ones of our own): each compiles under `#![deny(warnings)]`
//! as the same fn without the attribute would, and runs its body under the
//! lock, or nowhere.
#![deny(warnings, clippy::pedantic)]
#![allow(
    clippy::unused_async,
    clippy::needless_pass_by_value,
    clippy::trivially_copy_pass_by_ref
)]

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use redis_debounce::{Busy, Debouncer, LockGuard, debounce};
use tokio::sync::Notify;

const LEASE: Duration = Duration::from_secs(30);

fn hold(debouncer: &Debouncer, key: &str) -> LockGuard {
    debouncer
        .try_lock_blocking(key, LEASE)
        .expect("the key is free")
}

fn is_held(debouncer: &Debouncer, key: &str) -> bool {
    debouncer
        .try_lock_blocking(key, LEASE)
        .is_err_and(|busy| busy.is_held())
}

// ---- 1. #[async_trait] with destructured parameters in the key -----------

#[derive(Debug, PartialEq)]
struct Pair(u32, u32);

#[async_trait::async_trait]
trait Save {
    async fn save(&self, pair: (u32, u32)) -> Result<u32, Busy>;
    async fn save_struct(&self, pair: Pair) -> Result<u32, Busy>;
    async fn save_cfg(&self, pair: (u32, u32)) -> Result<u32, Busy>;
}

struct Saver {
    debouncer: Debouncer,
    tenant: &'static str,
}

#[async_trait::async_trait]
impl Save for Saver {
    #[debounce(key = "save:{self.tenant}:{a}", ttl = 30, using = self.debouncer)]
    async fn save(&self, (a, b): (u32, u32)) -> Result<u32, Busy> {
        Ok(a + b)
    }

    #[debounce(key = "save-struct:{x}", ttl = 30, using = self.debouncer)]
    async fn save_struct(&self, Pair(_, x): Pair) -> Result<u32, Busy> {
        Ok(x)
    }

    #[debounce(key = "save-cfg:{a}", ttl = 30, using = self.debouncer)]
    async fn save_cfg(&self, #[cfg(not(miri))] (a, b): (u32, u32)) -> Result<u32, Busy> {
        Ok(a * b)
    }
}

#[tokio::test]
async fn async_trait_destructured_parameters_name_the_key() {
    let saver = Saver {
        debouncer: Debouncer::memory(),
        tenant: "acme",
    };
    assert_eq!(saver.save((1, 2)).await.unwrap(), 3);
    assert_eq!(saver.save_struct(Pair(1, 9)).await.unwrap(), 9);
    assert_eq!(saver.save_cfg((3, 4)).await.unwrap(), 12);
    let _held = hold(&saver.debouncer, "save:acme:1");
    assert_eq!(saver.save((1, 5)).await.unwrap_err().key(), "save:acme:1");
    let _held = hold(&saver.debouncer, "save-struct:9");
    assert!(saver.save_struct(Pair(0, 9)).await.is_err());
    let _held = hold(&saver.debouncer, "save-cfg:3");
    assert!(saver.save_cfg((3, 1)).await.is_err());
}

// ---- 2. replay on a Result alias (only the Ok value is stored) ----------

#[derive(Debug)]
enum AppError {
    Busy,
}

impl From<Busy> for AppError {
    fn from(_: Busy) -> Self {
        AppError::Busy
    }
}

/// Not `Serialize`: only `u64` is stored.
type AppResult<T> = Result<T, AppError>;

#[debounce(key = "alias:{id}", ttl = 30, replay = "1m", using = debouncer)]
async fn alias_replay(debouncer: &Debouncer, id: u32, runs: &AtomicUsize) -> AppResult<u64> {
    Ok(runs.fetch_add(1, Ordering::SeqCst) as u64 + 100)
}

#[debounce(key = "alias-sync:{id}", ttl = 30, replay = "1m", using = debouncer)]
fn alias_replay_sync(debouncer: &Debouncer, id: u32, runs: &AtomicUsize) -> AppResult<u64> {
    Ok(runs.fetch_add(1, Ordering::SeqCst) as u64 + 200)
}

#[tokio::test]
async fn replay_of_a_result_alias_stores_its_ok_value() {
    let debouncer = Debouncer::memory();
    let runs = AtomicUsize::new(0);
    assert_eq!(alias_replay(&debouncer, 1, &runs).await.unwrap(), 100);
    assert_eq!(alias_replay(&debouncer, 1, &runs).await.unwrap(), 100);
    assert_eq!(alias_replay_sync(&debouncer, 1, &runs).unwrap(), 201);
    assert_eq!(alias_replay_sync(&debouncer, 1, &runs).unwrap(), 201);
    assert_eq!(runs.load(Ordering::SeqCst), 2, "replayed, not run again");
}

// ---- 3. a boxed future behind an alias: the lock covers its run --------

type Fut<T> = Pin<Box<dyn Future<Output = T> + Send>>;

#[debounce(key = "job:{id}", ttl = 30, using = debouncer, busy = |b| Box::pin(async move { Err(b) }))]
fn job(
    debouncer: &Debouncer,
    id: u32,
    gate: Arc<Notify>,
    runs: Arc<AtomicUsize>,
) -> Fut<Result<u32, Busy>> {
    Box::pin(async move {
        runs.fetch_add(1, Ordering::SeqCst);
        gate.notified().await;
        Ok(id)
    })
}

#[tokio::test]
async fn a_boxed_future_behind_an_alias_runs_under_the_lock() {
    let debouncer = Debouncer::memory();
    let gate = Arc::new(Notify::new());
    let runs = Arc::new(AtomicUsize::new(0));
    let first = tokio::spawn(job(&debouncer, 1, gate.clone(), runs.clone()));
    while runs.load(Ordering::SeqCst) == 0 {
        tokio::task::yield_now().await;
    }
    // The first is inside its body: the second is turned away, not run.
    let second = job(&debouncer, 1, gate.clone(), runs.clone()).await;
    assert!(second.unwrap_err().is_held());
    assert!(is_held(&debouncer, "job:1"), "held while the future runs");
    gate.notify_one();
    assert_eq!(first.await.unwrap().unwrap(), 1);
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert!(!is_held(&debouncer, "job:1"), "released when it ends");
}

// ---- 4. tower's Service::call: the key from `self`, a 'static future ---

struct Svc {
    debouncer: Debouncer,
    tenant: String,
}

impl Svc {
    #[debounce(key = "svc:{self.tenant}:{id}", ttl = 30, using = self.debouncer)]
    fn call(&mut self, id: u32) -> Pin<Box<dyn Future<Output = Result<u32, Busy>> + Send>> {
        Box::pin(async move { Ok(id) })
    }
}

#[tokio::test]
async fn a_service_call_renders_its_key_before_the_future() {
    let mut svc = Svc {
        debouncer: Debouncer::memory(),
        tenant: "t1".into(),
    };
    let future = svc.call(5);
    // The future borrows nothing of `svc`.
    svc.tenant = "t2".into();
    assert_eq!(future.await.unwrap(), 5);
    let _held = hold(&svc.debouncer, "svc:t2:6");
    assert_eq!(svc.call(6).await.unwrap_err().key(), "svc:t2:6");
}

// ---- 5. a one-expression boxed block, under #![deny(warnings)] ---------

#[debounce(key = "one:{id}", ttl = 30, using = debouncer)]
fn one_expression(
    debouncer: &Debouncer,
    id: u32,
) -> Pin<Box<dyn Future<Output = Result<u32, Busy>> + Send>> {
    Box::pin(async move { Ok(id) })
}

#[tokio::test]
async fn a_one_expression_boxed_block_expands_without_warnings() {
    let debouncer = Debouncer::memory();
    assert_eq!(one_expression(&debouncer, 2).await.unwrap(), 2);
}

// ---- 6. a sync fn with cooldown returning what it borrows --------------

struct Items {
    debouncer: Debouncer,
    items: Vec<u32>,
}

impl Items {
    #[debounce(key = "claim:{i}", ttl = 30, cooldown = "1m", using = self.debouncer.clone())]
    fn claim(&mut self, i: usize) -> Result<&mut u32, Busy> {
        Ok(&mut self.items[i])
    }

    #[debounce(key = "peek:{i}", ttl = 30, replay = "1m", using = self.debouncer.clone())]
    fn peek(&mut self, i: usize) -> Result<u32, Busy> {
        Ok(self.items[i])
    }
}

#[test]
fn a_sync_fn_with_cooldown_may_return_a_borrow() {
    let mut items = Items {
        debouncer: Debouncer::memory(),
        items: vec![1, 2],
    };
    *items.claim(1).unwrap() = 7;
    assert_eq!(items.items, [1, 7]);
    assert!(items.claim(1).unwrap_err().is_cooling_down());
    assert_eq!(items.peek(1).unwrap(), 7);
}

// ---- 7. parameters owned by the call are dropped under the lock --------

/// Records, as it is dropped, whether its key was still held.
struct Flush {
    debouncer: Debouncer,
    key: &'static str,
    held_at_drop: Arc<AtomicBool>,
}

impl Flush {
    /// A `Flush` of `key`, and where it records whether `key` was held.
    fn watching(debouncer: &Debouncer, key: &'static str) -> (Self, Arc<AtomicBool>) {
        let held_at_drop = Arc::new(AtomicBool::new(false));
        let flush = Flush {
            debouncer: debouncer.clone(),
            key,
            held_at_drop: held_at_drop.clone(),
        };
        (flush, held_at_drop)
    }
}

impl Drop for Flush {
    fn drop(&mut self) {
        let held = is_held(&self.debouncer, self.key);
        self.held_at_drop.store(held, Ordering::SeqCst);
    }
}

#[debounce(key = "flush-sync:{id}", ttl = 30, using = debouncer)]
fn flush_sync(debouncer: &Debouncer, id: u32, flush: Flush) -> Result<(), Busy> {
    Ok(())
}

#[debounce(key = "flush-sync-cool:{id}", ttl = 30, cooldown = "1ms", using = debouncer)]
fn flush_sync_wrapped(debouncer: &Debouncer, id: u32, flush: Flush) -> Result<(), Busy> {
    Ok(())
}

#[debounce(key = "flush-async:{id}", ttl = 30, using = debouncer)]
async fn flush_async(debouncer: &Debouncer, id: u32, flush: Flush) -> Result<(), Busy> {
    Ok(())
}

#[debounce(key = "flush-mut:{id}", ttl = 30, using = debouncer)]
fn flush_mut(
    debouncer: &Debouncer,
    id: u32,
    mut flush: Flush,
    (mut n, _m): (u32, u32),
) -> Result<u32, Busy> {
    flush.key = "flush-mut:1";
    n += 1;
    Ok(n)
}

#[tokio::test]
async fn parameters_the_body_does_not_use_are_dropped_under_the_lock() {
    let debouncer = Debouncer::memory();
    let flush = |key| Flush::watching(&debouncer, key);
    let (param, held) = flush("flush-sync:1");
    flush_sync(&debouncer, 1, param).unwrap();
    assert!(
        held.load(Ordering::SeqCst),
        "sync fn: dropped after the release"
    );
    let (param, held) = flush("flush-sync-cool:1");
    flush_sync_wrapped(&debouncer, 1, param).unwrap();
    assert!(
        held.load(Ordering::SeqCst),
        "sync fn with cooldown: dropped after the release"
    );
    let (param, held) = flush("flush-async:1");
    flush_async(&debouncer, 1, param).await.unwrap();
    assert!(
        held.load(Ordering::SeqCst),
        "async fn: dropped after the release"
    );
    let (param, held) = flush("flush-mut:0");
    assert_eq!(flush_mut(&debouncer, 1, param, (1, 2)).unwrap(), 2);
    assert!(
        held.load(Ordering::SeqCst),
        "a `mut` parameter: dropped after the release"
    );
}

// ---- 8. busy coerces to an async-trait method's boxed return type ------

trait Shape: Send {
    fn sides(&self) -> u32;
}

struct Square;

impl Shape for Square {
    fn sides(&self) -> u32 {
        4
    }
}

struct Triangle;

impl Shape for Triangle {
    fn sides(&self) -> u32 {
        3
    }
}

#[async_trait::async_trait]
trait Draw {
    async fn draw(&self, id: u32) -> Box<dyn Shape>;
}

#[async_trait::async_trait]
impl Draw for Saver {
    #[debounce(key = "draw:{id}", ttl = 30, using = self.debouncer, busy = Box::new(Square))]
    async fn draw(&self, id: u32) -> Box<dyn Shape> {
        Box::new(Triangle)
    }
}

#[tokio::test]
async fn a_busy_value_coerces_to_the_boxed_return_type() {
    let saver = Saver {
        debouncer: Debouncer::memory(),
        tenant: "acme",
    };
    assert_eq!(saver.draw(1).await.sides(), 3);
    let _held = hold(&saver.debouncer, "draw:1");
    assert_eq!(saver.draw(1).await.sides(), 4);
}

// ---- 10. a const generic of the impl in the key ------------------------

struct Shard<const N: usize> {
    debouncer: Debouncer,
}

impl<const N: usize> Shard<N> {
    #[debounce(key = "shard:{N}:{id}", ttl = 30, using = self.debouncer)]
    async fn put(&self, id: u32) -> Result<usize, Busy> {
        Ok(N)
    }
}

#[tokio::test]
async fn an_impl_const_generic_names_the_key() {
    let shard = Shard::<3> {
        debouncer: Debouncer::memory(),
    };
    assert_eq!(shard.put(1).await.unwrap(), 3);
    let _held = hold(&shard.debouncer, "shard:3:1");
    assert!(shard.put(1).await.is_err());
}

// ---- 11. raw identifiers -----------------------------------------------

#[debounce(key = "raw:{type}:{r#match}", ttl = 30, using = debouncer)]
fn raw(debouncer: &Debouncer, r#type: &str, r#match: u32) -> Result<u32, Busy> {
    Ok(r#match)
}

#[test]
fn raw_identifiers_name_the_key() {
    let debouncer = Debouncer::memory();
    assert_eq!(raw(&debouncer, "a", 1).unwrap(), 1);
    let _held = hold(&debouncer, "raw:a:1");
    assert!(raw(&debouncer, "a", 1).is_err());
}

// ---- 12. a return type that merely mentions `Future` --------------------

mod domain {
    /// A domain type that happens to be called `Future` (a futures contract).
    #[derive(Debug, PartialEq)]
    pub(super) struct Future {
        pub(super) price: u32,
    }
}

#[debounce(key = "contract:{id}", ttl = 30, using = debouncer)]
fn contract(debouncer: &Debouncer, id: u32) -> Result<domain::Future, Busy> {
    Ok(domain::Future { price: id })
}

type Tasks = Vec<Pin<Box<dyn Future<Output = ()> + Send>>>;

#[debounce(key = "tasks:{n}", ttl = 30, using = debouncer)]
fn tasks(debouncer: &Debouncer, n: usize) -> Result<Tasks, Busy> {
    Ok((0..n)
        .map(|_| Box::pin(async {}) as Pin<Box<dyn Future<Output = ()> + Send>>)
        .collect())
}

#[test]
fn a_return_type_that_mentions_future_is_not_a_future() {
    let debouncer = Debouncer::memory();
    assert_eq!(
        contract(&debouncer, 3).unwrap(),
        domain::Future { price: 3 }
    );
    assert_eq!(tasks(&debouncer, 2).unwrap().len(), 2);
    let _held = hold(&debouncer, "contract:3");
    assert!(contract(&debouncer, 3).is_err());
}

// ---- 13. a key passed through macro_rules! that declares the parameter --

macro_rules! debounced_by_id {
    ($name:ident, $key:literal) => {
        #[debounce(key = $key, ttl = 30, using = debouncer)]
        fn $name(debouncer: &Debouncer, id: u32) -> Result<u32, Busy> {
            Ok(id)
        }
    };
}

debounced_by_id!(from_a_macro, "macro:{id}");

#[test]
fn a_key_through_macro_rules_names_its_parameter() {
    let debouncer = Debouncer::memory();
    assert_eq!(from_a_macro(&debouncer, 4).unwrap(), 4);
    let _held = hold(&debouncer, "macro:4");
    assert!(from_a_macro(&debouncer, 4).is_err());
}

// ---- 14. #[track_caller] -------------------------------------------------

#[debounce(key = "located:{id}", ttl = 30, using = debouncer)]
#[track_caller]
fn located(debouncer: &Debouncer, id: u32) -> Result<u32, Busy> {
    Ok(std::panic::Location::caller().line())
}

#[test]
fn track_caller_reports_the_caller() {
    let debouncer = Debouncer::memory();
    let line = line!() + 1;
    let reported = located(&debouncer, 1).unwrap();
    assert_eq!(reported, line, "the caller's line, not the fn's");
}

// ---- 15. #![forbid(warnings)] --------------------------------------------

mod forbidden {
    #![forbid(warnings)]

    use redis_debounce::{Busy, Debouncer, debounce};

    #[debounce(key = "forbid:{id}", ttl = 30, cooldown = "1s", using = debouncer)]
    pub(super) async fn forbid_async(debouncer: &Debouncer, id: u32) -> Result<u32, Busy> {
        if id == 0 {
            return Ok(0);
        }
        Ok(id)
    }

    #[debounce(key = "forbid-sync:{id}", ttl = 30, replay = "1m", using = debouncer)]
    pub(super) fn forbid_sync(debouncer: &Debouncer, id: u32) -> Result<u32, Busy> {
        Ok(id)
    }
}

#[tokio::test]
async fn a_crate_that_forbids_warnings_takes_the_expansion() {
    let debouncer = Debouncer::memory();
    assert_eq!(forbidden::forbid_async(&debouncer, 2).await.unwrap(), 2);
    assert_eq!(forbidden::forbid_sync(&debouncer, 2).unwrap(), 2);
}

// ---- 9. a boxed future that is Sync -------------------------------------

#[debounce(key = "sync-future:{id}", ttl = 30, using = debouncer)]
fn sync_future(
    debouncer: &Debouncer,
    id: u32,
) -> Pin<Box<dyn Future<Output = Result<u32, Busy>> + Send + Sync>> {
    Box::pin(async move { Ok(id) })
}

#[tokio::test]
async fn a_boxed_future_may_be_sync() {
    let debouncer = Debouncer::memory();
    assert_eq!(sync_future(&debouncer, 1).await.unwrap(), 1);
    let _held = hold(&debouncer, "sync-future:1");
    assert!(sync_future(&debouncer, 1).await.is_err());
}

// ---- more shapes: receivers, lifetimes, impl Trait, stacking ------------

struct Account {
    debouncer: Debouncer,
    id: u32,
}

impl Account {
    #[debounce(key = "boxed:{self.id}", ttl = 30, using = self.debouncer.clone())]
    async fn boxed(self: Box<Self>) -> Result<u32, Busy> {
        Ok(self.id)
    }

    #[debounce(key = "arc:{self.id}", ttl = 30, using = self.debouncer)]
    fn shared(self: Arc<Self>) -> Result<u32, Busy> {
        Ok(self.id)
    }

    #[debounce(key = "pinned:{self.id}", ttl = 30, using = self.debouncer)]
    async fn pinned(self: Pin<&mut Self>, by: u32) -> Result<u32, Busy> {
        let this = self.get_mut();
        this.id += by;
        Ok(this.id)
    }

    #[debounce(key = "new:{id}", ttl = 30, using = debouncer)]
    fn open(debouncer: &Debouncer, id: u32) -> Result<Self, Busy> {
        Ok(Account {
            debouncer: debouncer.clone(),
            id,
        })
    }
}

#[debounce(key = "longest:{a}:{b}", ttl = 30, using = debouncer)]
fn longest<'a, 'b: 'a, T>(
    debouncer: &Debouncer,
    a: &'a str,
    b: &'b str,
    _tag: T,
) -> Result<&'a str, Busy>
where
    T: std::fmt::Debug,
{
    Ok(if a.len() >= b.len() { a } else { b })
}

#[debounce(key = "display:{label}", ttl = 30, using = debouncer)]
async fn display(
    debouncer: &Debouncer,
    label: impl std::fmt::Display + Send,
) -> Result<String, Busy> {
    Ok(label.to_string())
}

#[async_trait::async_trait]
trait Traced {
    async fn traced(&self, (a, b): (u32, u32)) -> Result<u32, Busy>;
}

#[async_trait::async_trait]
impl Traced for Saver {
    #[debounce(key = "traced:{a}:{b}", ttl = 30, using = self.debouncer)]
    #[tracing::instrument(skip(self))]
    async fn traced(&self, (a, b): (u32, u32)) -> Result<u32, Busy> {
        Ok(a * b)
    }
}

#[tokio::test]
async fn receivers_lifetimes_impl_trait_and_stacking() {
    let debouncer = Debouncer::memory();
    let account = || Account {
        debouncer: debouncer.clone(),
        id: 9,
    };
    assert_eq!(Box::new(account()).boxed().await.unwrap(), 9);
    assert_eq!(Arc::new(account()).shared().unwrap(), 9);
    let mut pinned = account();
    assert_eq!(Pin::new(&mut pinned).pinned(1).await.unwrap(), 10);
    assert_eq!(Account::open(&debouncer, 4).unwrap().id, 4);
    assert_eq!(longest(&debouncer, "abc", "de", 1).unwrap(), "abc");
    assert_eq!(display(&debouncer, 5).await.unwrap(), "5");
    let saver = Saver {
        debouncer: debouncer.clone(),
        tenant: "acme",
    };
    assert_eq!(saver.traced((2, 3)).await.unwrap(), 6);
    let _held = (
        hold(&debouncer, "boxed:9"),
        hold(&debouncer, "arc:9"),
        hold(&debouncer, "longest:abc:de"),
        hold(&debouncer, "traced:2:3"),
    );
    assert!(Box::new(account()).boxed().await.is_err());
    assert!(Arc::new(account()).shared().is_err());
    assert!(longest(&debouncer, "abc", "de", 1).is_err());
    assert!(saver.traced((2, 3)).await.is_err());
}

// ---- after a hostile review ----------------------------------------------

#[async_trait::async_trait]
trait Count {
    async fn count(&self, id: u32) -> Result<u32, Busy>;
    async fn count_unit(&self, id: u32);
}

struct Counter {
    debouncer: Debouncer,
    runs: AtomicUsize,
}

#[async_trait::async_trait]
impl Count for Counter {
    /// Two statements: `#[async_trait]`'s `let __ret = { .. };` around
    /// them is the body, not one of its declarations.
    #[debounce(key = "count:{id}", ttl = 30, using = self.debouncer)]
    async fn count(&self, id: u32) -> Result<u32, Busy> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        Ok(id)
    }

    #[debounce(key = "count-unit:{id}", ttl = 30, using = self.debouncer, busy = ())]
    async fn count_unit(&self, id: u32) {
        self.runs.fetch_add(1, Ordering::SeqCst);
        let _ = id;
    }
}

#[tokio::test]
async fn an_async_trait_body_of_two_statements_runs_under_the_lock() {
    let counter = Counter {
        debouncer: Debouncer::memory(),
        runs: AtomicUsize::new(0),
    };
    let _held = (
        hold(&counter.debouncer, "count:1"),
        hold(&counter.debouncer, "count-unit:1"),
    );
    assert!(counter.count(1).await.is_err());
    counter.count_unit(1).await;
    assert_eq!(counter.runs.load(Ordering::SeqCst), 0, "ran while held");
    assert_eq!(counter.count(2).await.unwrap(), 2);
    counter.count_unit(2).await;
    assert_eq!(counter.runs.load(Ordering::SeqCst), 2);
}

/// Owns a `Flush`, dropped with it.
struct Owner {
    _flush: Flush,
}

impl Owner {
    #[debounce(key = "own-sync:{id}", ttl = 30, using = debouncer)]
    fn consume(self, debouncer: &Debouncer, id: u32) -> Result<(), Busy> {
        Ok(())
    }

    #[debounce(key = "own-async:{id}", ttl = 30, using = debouncer)]
    async fn consume_async(self, debouncer: &Debouncer, id: u32) -> Result<(), Busy> {
        Ok(())
    }

    #[debounce(key = "own-box:{id}", ttl = 30, using = debouncer)]
    fn consume_box(self: Box<Self>, debouncer: &Debouncer, id: u32) -> Result<(), Busy> {
        Ok(())
    }
}

#[debounce(key = "wild:{id}", ttl = 30, using = debouncer)]
fn wild(debouncer: &Debouncer, id: u32, _: Flush) -> Result<(), Busy> {
    Ok(())
}

#[debounce(key = "wild-async:{id}", ttl = 30, using = debouncer)]
async fn wild_async(debouncer: &Debouncer, id: u32, _: Flush) -> Result<(), Busy> {
    Ok(())
}

#[debounce(key = "part:{n}", ttl = 30, using = debouncer)]
fn part(debouncer: &Debouncer, (n, _, _): (u32, Flush, ())) -> Result<u32, Busy> {
    Ok(n)
}

#[debounce(key = "guarded:{id}", ttl = 30, using = debouncer)]
fn guarded(debouncer: &Debouncer, id: u32, _guard: Flush) -> Result<(), Busy> {
    Ok(())
}

#[tokio::test]
async fn self_wildcards_and_unbound_parts_are_dropped_under_the_lock() {
    let debouncer = Debouncer::memory();
    let flush = |key| Flush::watching(&debouncer, key);
    let (param, held) = flush("own-sync:1");
    Owner { _flush: param }.consume(&debouncer, 1).unwrap();
    assert!(held.load(Ordering::SeqCst), "sync `self`");
    let (param, held) = flush("own-async:1");
    Owner { _flush: param }
        .consume_async(&debouncer, 1)
        .await
        .unwrap();
    assert!(held.load(Ordering::SeqCst), "async `self`");
    let (param, held) = flush("own-box:1");
    Box::new(Owner { _flush: param })
        .consume_box(&debouncer, 1)
        .unwrap();
    assert!(held.load(Ordering::SeqCst), "`self: Box<Self>`");
    let (param, held) = flush("wild:1");
    wild(&debouncer, 1, param).unwrap();
    assert!(held.load(Ordering::SeqCst), "a `_` parameter");
    let (param, held) = flush("wild-async:1");
    wild_async(&debouncer, 1, param).await.unwrap();
    assert!(held.load(Ordering::SeqCst), "an async fn's `_` parameter");
    let (param, held) = flush("part:1");
    assert_eq!(part(&debouncer, (1, param, ())).unwrap(), 1);
    assert!(held.load(Ordering::SeqCst), "the `_` part of a pattern");
    let (param, held) = flush("guarded:1");
    guarded(&debouncer, 1, param).unwrap();
    assert!(held.load(Ordering::SeqCst), "a `_guard` parameter");
}

/// A fn that never returns, and a `busy` that diverges, under
/// `#![deny(warnings)]`.
#[debounce(key = "never:{id}", ttl = 30, using = debouncer, busy = panic!("busy"))]
fn never(debouncer: &Debouncer, id: u32) -> ! {
    panic!("ran {id}")
}

#[test]
fn a_never_returning_fn_and_a_diverging_busy_compile() {
    let debouncer = Debouncer::memory();
    let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| never(&debouncer, 1)));
    assert!(ran.is_err());
    assert!(!is_held(&debouncer, "never:1"), "released by the panic");
}

// ---- after a second review ----------------------------------------------

#[async_trait::async_trait]
trait Consume {
    async fn wild(&self, id: u32, flush: Flush) -> Result<(), Busy>;
    async fn part(&self, id: u32, pair: (u32, Flush)) -> Result<u32, Busy>;
    async fn by_value(self, id: u32) -> Result<u32, Busy>;
}

#[derive(Clone)]
struct Consumer {
    debouncer: Debouncer,
}

#[async_trait::async_trait]
impl Consume for Consumer {
    #[debounce(key = "at-wild:{id}", ttl = 30, using = self.debouncer)]
    async fn wild(&self, id: u32, _: Flush) -> Result<(), Busy> {
        Ok(())
    }

    #[debounce(key = "at-part:{id}", ttl = 30, using = self.debouncer)]
    async fn part(&self, id: u32, (n, _): (u32, Flush)) -> Result<u32, Busy> {
        Ok(n)
    }

    #[debounce(key = "at-self:{id}", ttl = 30, using = self.debouncer.clone())]
    async fn by_value(self, id: u32) -> Result<u32, Busy> {
        Ok(id)
    }
}

#[tokio::test]
async fn async_trait_wildcards_and_self_by_value() {
    let consumer = Consumer {
        debouncer: Debouncer::memory(),
    };
    let flush = |key| Flush::watching(&consumer.debouncer, key);
    let (param, held) = flush("at-wild:1");
    consumer.wild(1, param).await.unwrap();
    assert!(held.load(Ordering::SeqCst), "an async-trait `_` parameter");
    let (param, held) = flush("at-part:1");
    assert_eq!(consumer.part(1, (2, param)).await.unwrap(), 2);
    assert!(
        held.load(Ordering::SeqCst),
        "the `_` part of an async-trait pattern"
    );
    assert_eq!(consumer.clone().by_value(3).await.unwrap(), 3);
    let _held = hold(&consumer.debouncer, "at-self:3");
    assert!(consumer.by_value(3).await.is_err());
}

/// A type with `Drop`: nothing can be moved out of it.
struct Guard(String);

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.clear();
    }
}

#[debounce(key = "guard:{id}", ttl = 30, using = debouncer)]
fn guard_pattern(
    debouncer: &Debouncer,
    id: u32,
    Guard(_): Guard,
    pair @ (_, _): (String, String),
) -> Result<usize, Busy> {
    Ok(pair.0.len() + pair.1.len())
}

#[debounce(key = "items:{id}", ttl = 30, using = debouncer)]
fn items_first(
    debouncer: &Debouncer,
    id: u32,
) -> Pin<Box<dyn Future<Output = Result<u32, Busy>> + Send>> {
    const TWICE: u32 = 2;
    Box::pin(async move { Ok(id * TWICE) })
}

#[tokio::test]
async fn patterns_of_drop_types_and_items_before_the_future_compile() {
    let debouncer = Debouncer::memory();
    let pair = ("a".to_owned(), "bc".to_owned());
    assert_eq!(
        guard_pattern(&debouncer, 1, Guard("g".into()), pair).unwrap(),
        3
    );
    assert_eq!(items_first(&debouncer, 4).await.unwrap(), 8);
}

/// Not `From<Busy>`'s: `?` converts a `ParseIntError` by the signature.
#[derive(Debug)]
enum ParseError {
    Busy,
    Int,
}

impl From<Busy> for ParseError {
    fn from(_: Busy) -> Self {
        ParseError::Busy
    }
}

impl From<std::num::ParseIntError> for ParseError {
    fn from(_: std::num::ParseIntError) -> Self {
        ParseError::Int
    }
}

/// `impl Trait` inside the return type, and `?`: the body runs in a closure
/// annotated `Result<_, ParseError>`, so `?` converts as the signature says.
#[debounce(key = "parse:{text}", ttl = 30, using = debouncer)]
fn parse(debouncer: &Debouncer, text: &str) -> Result<impl std::fmt::Display, ParseError> {
    let n: u32 = text.parse()?;
    Ok(n * 2)
}

#[debounce(key = "parse-async:{text}", ttl = 30, using = debouncer)]
async fn parse_async(
    debouncer: &Debouncer,
    text: &str,
) -> Result<impl std::fmt::Display, ParseError> {
    let n: u32 = text.parse()?;
    Ok(n * 2)
}

#[tokio::test]
async fn question_marks_convert_under_an_impl_trait_return() {
    let debouncer = Debouncer::memory();
    assert_eq!(parse(&debouncer, "21").unwrap().to_string(), "42");
    assert!(matches!(parse(&debouncer, "x"), Err(ParseError::Int)));
    assert_eq!(parse_async(&debouncer, "4").await.unwrap().to_string(), "8");
    let _held = hold(&debouncer, "parse:21");
    assert!(matches!(parse(&debouncer, "21"), Err(ParseError::Busy)));
}

// ---- shapes the mutation run asked for ------------------------------------

/// A boxed trait object that is no future: locked like any value.
#[debounce(key = "boxed-dyn:{id}", ttl = 30, using = debouncer)]
fn boxed_display(debouncer: &Debouncer, id: u32) -> Result<Box<dyn std::fmt::Display>, Busy> {
    Ok(Box::new(id))
}

#[debounce(key = "plain-box:{id}", ttl = 30, using = debouncer, busy = Box::new(0))]
fn plain_box(debouncer: &Debouncer, id: u32) -> Box<u32> {
    Box::new(id)
}

struct Tracked {
    debouncer: Debouncer,
}

impl Tracked {
    /// `&self` is no owned receiver: the body stays inline, where
    /// `#[track_caller]` works.
    #[debounce(key = "tracked:{id}", ttl = 30, using = self.debouncer)]
    #[track_caller]
    fn line(&self, id: u32) -> Result<u32, Busy> {
        Ok(std::panic::Location::caller().line())
    }
}

/// `impl Future<Output = ..>` with a `Box::pin` body: its output is named
/// from the bound, so `replay` can store it.
#[debounce(key = "impl-fut:{id}", ttl = 30, replay = "1m", using = debouncer)]
fn impl_future(
    debouncer: &Debouncer,
    id: u32,
    runs: Arc<AtomicUsize>,
) -> impl Future<Output = Result<u32, Busy>> {
    Box::pin(
        async move { Ok(id + u32::try_from(runs.fetch_add(1, Ordering::SeqCst)).unwrap_or(0)) },
    )
}

#[tokio::test]
async fn boxed_values_borrowed_receivers_and_impl_future_with_replay() {
    let debouncer = Debouncer::memory();
    assert_eq!(boxed_display(&debouncer, 1).unwrap().to_string(), "1");
    assert_eq!(*plain_box(&debouncer, 2), 2);
    let tracked = Tracked {
        debouncer: debouncer.clone(),
    };
    let line = line!() + 1;
    assert_eq!(tracked.line(1).unwrap(), line, "the caller's line");
    let runs = Arc::new(AtomicUsize::new(0));
    assert_eq!(impl_future(&debouncer, 10, runs.clone()).await.unwrap(), 10);
    assert_eq!(
        impl_future(&debouncer, 10, runs.clone()).await.unwrap(),
        10,
        "replayed"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

// ---- a body whose first statement looks like #[async_trait]'s own ---------

#[async_trait::async_trait]
trait Tally {
    async fn tally(&self, id: u32, entered: &AtomicUsize) -> Result<usize, Busy>;
}

struct Tallier {
    debouncer: Debouncer,
}

#[async_trait::async_trait]
impl Tally for Tallier {
    #[debounce(key = "tally:{id}", ttl = 30, using = self.debouncer)]
    #[allow(clippy::let_and_return, reason = "the shape under test")]
    async fn tally(&self, id: u32, entered: &AtomicUsize) -> Result<usize, Busy> {
        // #[async_trait] wraps the body in `let __ret = { .. };`: this one
        // is then shaped like its own declarations (a block that binds and
        // yields a name), but it runs code of ours, under the lock.
        let before = Ok(entered.fetch_add(1, Ordering::SeqCst));
        before
    }
}

/// A first statement shaped like `#[async_trait]`'s declarations but
/// running code of the user's is part of the body: it does not run while
/// the key is held.
#[tokio::test]
async fn an_async_trait_bodys_first_statement_runs_under_the_lock() {
    let counter = Tallier {
        debouncer: Debouncer::memory(),
    };
    let entered = AtomicUsize::new(0);
    let held = counter
        .debouncer
        .try_lock("tally:1", Duration::from_secs(30))
        .await
        .unwrap();
    assert!(counter.tally(1, &entered).await.unwrap_err().is_held());
    assert_eq!(
        entered.load(Ordering::SeqCst),
        0,
        "ran while the key was held"
    );
    drop(held);
    assert_eq!(counter.tally(1, &entered).await.unwrap(), 0);
}
