//! Every supported function shape compiles, keeps its signature, runs its
//! body when the key is free and returns the busy value when it is held.
//! Expansions must not warn, even under `clippy::pedantic`.
#![deny(warnings, clippy::pedantic)]
#![allow(
    clippy::unused_async,
    clippy::needless_pass_by_value,
    clippy::trivially_copy_pass_by_ref
)]

use std::fmt::Display;
use std::sync::Arc;
use std::time::Duration;

use redis_debounce::{Busy, Debouncer, LockGuard, debounce};

const LEASE: Duration = Duration::from_secs(30);

/// Holds `key` so that the next call on it is turned away.
fn hold(debouncer: &Debouncer, key: &str) -> LockGuard {
    debouncer
        .try_lock_blocking(key, LEASE)
        .expect("the key is free")
}

#[derive(Debug)]
enum AppError {
    Busy(Busy),
    Invalid,
}

impl From<Busy> for AppError {
    fn from(busy: Busy) -> Self {
        AppError::Busy(busy)
    }
}

struct User {
    id: u64,
    team: Team,
}

struct Team {
    name: &'static str,
}

/// Docs and attributes stay on the function.
#[debounce(key = "checkout:{user.id}:{user.team.name}:{cart_id}", ttl = 300, using = debouncer)]
#[must_use = "a receipt"]
pub(crate) async fn checkout(
    debouncer: &Debouncer,
    user: &User,
    cart_id: u64,
) -> Result<String, AppError> {
    if cart_id == 0 {
        return Err(AppError::Invalid);
    }
    Ok(format!("receipt {cart_id}"))
}

#[tokio::test]
async fn async_free_fn_with_field_paths() {
    let debouncer = Debouncer::memory();
    let user = User {
        id: 7,
        team: Team { name: "ops" },
    };
    assert_eq!(checkout(&debouncer, &user, 3).await.unwrap(), "receipt 3");
    assert!(matches!(
        checkout(&debouncer, &user, 0).await,
        Err(AppError::Invalid)
    ));
    let _held = hold(&debouncer, "checkout:7:ops:3");
    match checkout(&debouncer, &user, 3).await {
        Err(AppError::Busy(busy)) => assert_eq!(busy.key(), "checkout:7:ops:3"),
        other => panic!("{other:?}"),
    }
}

#[debounce(key = "report:{day}", ttl = "90s", using = debouncer)]
fn build_report(debouncer: &Debouncer, day: &str) -> Result<usize, AppError> {
    Ok(day.len())
}

#[test]
fn sync_free_fn() {
    let debouncer = Debouncer::memory();
    assert_eq!(build_report(&debouncer, "2026-11-22").unwrap(), 10);
    let _held = hold(&debouncer, "report:2026-11-22");
    assert!(matches!(
        build_report(&debouncer, "2026-11-22"),
        Err(AppError::Busy(_))
    ));
}

struct Service {
    debouncer: Debouncer,
    tenant: String,
    calls: u32,
}

impl Service {
    #[debounce(key = "{self.tenant}:read:{id}", ttl = 30, using = self.debouncer)]
    async fn read(&self, id: u32) -> Result<u32, Busy> {
        Ok(id + self.calls)
    }

    #[debounce(key = "{self.tenant}:write:{id}", ttl = 30, using = self.debouncer)]
    async fn write(&mut self, id: u32) -> Result<u32, Busy> {
        self.calls += 1;
        Ok(id + self.calls)
    }

    #[debounce(key = "{self.tenant}:close", ttl = 30, using = self.debouncer.clone())]
    async fn close(self) -> Result<String, Busy> {
        Ok(self.tenant)
    }

    #[debounce(key = "{self.tenant}:read_sync:{id}", ttl = 30, using = self.debouncer)]
    fn read_sync(&self, id: u32) -> Result<u32, Busy> {
        Ok(id + self.calls)
    }

    #[debounce(key = "{self.tenant}:write_sync", ttl = 30, using = self.debouncer)]
    fn write_sync(&mut self) -> Result<u32, Busy> {
        self.calls += 1;
        Ok(self.calls)
    }

    #[debounce(key = "{self.tenant}:close_sync", ttl = 30, using = self.debouncer.clone())]
    fn close_sync(self) -> Result<String, Busy> {
        Ok(self.tenant)
    }
}

#[tokio::test]
async fn methods_with_every_receiver() {
    let debouncer = Debouncer::memory();
    let mut service = Service {
        debouncer: debouncer.clone(),
        tenant: "acme".into(),
        calls: 0,
    };
    assert_eq!(service.read(1).await.unwrap(), 1);
    assert_eq!(service.write(1).await.unwrap(), 2);
    assert_eq!(service.read_sync(1).unwrap(), 2);
    assert_eq!(service.write_sync().unwrap(), 2);
    {
        let _held = hold(&debouncer, "acme:read:1");
        let _also = hold(&debouncer, "acme:write_sync");
        assert!(service.read(1).await.unwrap_err().is_held());
        assert!(service.write_sync().unwrap_err().is_held());
        assert_eq!(service.calls, 2, "no body ran");
    }
    let second = Service {
        debouncer: debouncer.clone(),
        tenant: "acme".into(),
        calls: 0,
    };
    assert_eq!(service.close().await.unwrap(), "acme");
    let _held = hold(&debouncer, "acme:close_sync");
    assert!(second.close_sync().unwrap_err().is_held());
}

/// Generic over types and lifetimes, with a where clause.
#[debounce(key = "label:{item}:{N}", ttl = 30, using = debouncer)]
async fn label<'a, T, const N: usize>(
    debouncer: &Debouncer,
    item: &'a T,
    n: [u8; N],
) -> Result<&'a T, Busy>
where
    T: Display + Sync + ?Sized,
{
    let _ = n;
    Ok(item)
}

#[debounce(key = "label_sync:{item}", ttl = 30, using = debouncer)]
fn label_sync<'a, T: Display + ?Sized>(debouncer: &Debouncer, item: &'a T) -> Result<&'a T, Busy> {
    Ok(item)
}

#[tokio::test]
async fn generic_fns() {
    let debouncer = Debouncer::memory();
    assert_eq!(label(&debouncer, "x", [0u8; 2]).await.unwrap(), "x");
    assert_eq!(*label_sync(&debouncer, &5).unwrap(), 5);
    let _held = hold(&debouncer, "label_sync:5");
    assert!(label_sync(&debouncer, &5).is_err());
}

struct Path<T>(T);
struct Point {
    x: i32,
    y: i32,
}

/// Keys from bindings inside destructured parameters, as with extractors.
#[debounce(key = "{id}:{a}+{b}:{x}/{why}:{first}", ttl = 30, using = debouncer)]
async fn destructured(
    debouncer: &Debouncer,
    Path(id): Path<u64>,
    (a, b): (u32, u32),
    Point { x, y: why }: Point,
    &[first, ..]: &[u8; 3],
) -> Result<i64, Busy> {
    Ok(i64::from(a)
        + i64::from(b)
        + i64::from(x)
        + i64::from(why)
        + i64::from(first)
        + i64::try_from(id).unwrap_or(0))
}

#[tokio::test]
async fn destructured_parameters() {
    let debouncer = Debouncer::memory();
    let run = || {
        destructured(
            &debouncer,
            Path(9),
            (1, 2),
            Point { x: 3, y: 4 },
            &[5, 6, 7],
        )
    };
    assert_eq!(run().await.unwrap(), 24);
    let _held = hold(&debouncer, "9:1+2:3/4:5");
    assert!(run().await.unwrap_err().is_held());
}

#[debounce(key = "{{literal}}:{n}", ttl = 30, using = debouncer)]
fn escaped(debouncer: &Debouncer, n: u8) -> Result<u8, Busy> {
    Ok(n)
}

#[test]
fn literal_braces_are_encoded() {
    let debouncer = Debouncer::memory();
    assert_eq!(escaped(&debouncer, 5).unwrap(), 5);
    // Literal braces are written `%7B`/`%7D` like a value's, so no key
    // holds a brace (it would move the hash tag); a programmatic key with
    // braces is the same key.
    let _held = hold(&debouncer, "{literal}:5");
    assert_eq!(escaped(&debouncer, 5).unwrap_err().key(), "%7Bliteral%7D:5");
}

#[async_trait::async_trait]
trait Repository {
    async fn save(&self, id: u32) -> Result<u32, AppError>;
}

struct Store {
    debouncer: Debouncer,
}

#[async_trait::async_trait]
impl Repository for Store {
    #[debounce(key = "save:{id}", ttl = 30, using = self.debouncer)]
    async fn save(&self, id: u32) -> Result<u32, AppError> {
        if id == 0 {
            return Err(AppError::Invalid);
        }
        Ok(id)
    }
}

#[tokio::test]
async fn async_trait_methods() {
    let store = Store {
        debouncer: Debouncer::memory(),
    };
    let repository: &dyn Repository = &store;
    assert_eq!(repository.save(4).await.unwrap(), 4);
    assert!(matches!(repository.save(0).await, Err(AppError::Invalid)));
    let _held = hold(&store.debouncer, "save:4");
    assert!(matches!(repository.save(4).await, Err(AppError::Busy(_))));
}

/// Native async fn in traits needs no help.
trait Native {
    async fn native(&self, id: u32) -> Result<u32, Busy>;
}

impl Native for Store {
    #[debounce(key = "native:{id}", ttl = 30, using = self.debouncer)]
    async fn native(&self, id: u32) -> Result<u32, Busy> {
        Ok(id)
    }
}

#[tokio::test]
async fn native_async_trait_methods() {
    let store = Store {
        debouncer: Debouncer::memory(),
    };
    assert_eq!(store.native(1).await.unwrap(), 1);
    let _held = hold(&store.debouncer, "native:1");
    assert!(store.native(1).await.is_err());
}

#[tracing::instrument(skip(debouncer))]
#[debounce(key = "traced:{id}", ttl = 30, using = debouncer)]
async fn instrument_outside(debouncer: &Debouncer, id: u32) -> Result<u32, Busy> {
    Ok(id)
}

#[debounce(key = "traced:{id}", ttl = 30, using = debouncer)]
#[tracing::instrument(skip(debouncer))]
async fn instrument_inside(debouncer: &Debouncer, id: u32) -> Result<u32, Busy> {
    Ok(id)
}

#[debounce(key = "traced:{id}", ttl = 30, using = debouncer)]
#[tracing::instrument(skip(debouncer))]
fn instrument_sync(debouncer: &Debouncer, id: u32) -> Result<u32, Busy> {
    Ok(id)
}

#[tokio::test]
async fn stacked_with_tracing_instrument() {
    let debouncer = Debouncer::memory();
    assert_eq!(instrument_outside(&debouncer, 1).await.unwrap(), 1);
    assert_eq!(instrument_inside(&debouncer, 1).await.unwrap(), 1);
    assert_eq!(instrument_sync(&debouncer, 1).unwrap(), 1);
    let _held = hold(&debouncer, "traced:1");
    assert!(instrument_outside(&debouncer, 1).await.is_err());
    assert!(instrument_inside(&debouncer, 1).await.is_err());
    assert!(instrument_sync(&debouncer, 1).is_err());
}

#[debounce(key = "opt:{id}", ttl = 30, using = debouncer, busy = None)]
async fn busy_expression(debouncer: &Debouncer, id: u32) -> Option<u32> {
    Some(id)
}

#[debounce(key = "text:{id}", ttl = 30, using = debouncer, busy = |busy| Err(format!("{id} busy: {}", busy.key())))]
fn busy_closure(debouncer: &Debouncer, id: u32) -> Result<u32, String> {
    Ok(id)
}

#[debounce(key = "unit:{id}", ttl = 30, using = debouncer, busy = ())]
async fn unit_return(debouncer: &Debouncer, id: u32, ran: &std::sync::atomic::AtomicBool) {
    let _ = id;
    ran.store(true, std::sync::atomic::Ordering::SeqCst);
}

#[debounce(key = "shown:{id}", ttl = 30, using = debouncer, busy = String::from("busy"))]
fn impl_trait_return(debouncer: &Debouncer, id: u32) -> impl Display {
    format!("ran {id}")
}

/// A response type that can say "busy" itself.
#[derive(Debug, PartialEq)]
enum Reply {
    Done(u32),
    Busy,
}

impl From<Busy> for Reply {
    fn from(_: Busy) -> Self {
        Reply::Busy
    }
}

#[debounce(key = "reply:{id}", ttl = 30, using = debouncer)]
async fn from_busy_return(debouncer: &Debouncer, id: u32) -> Reply {
    Reply::Done(id)
}

#[tokio::test]
async fn busy_values() {
    let debouncer = Debouncer::memory();
    let ran = std::sync::atomic::AtomicBool::new(false);
    let _held = [
        hold(&debouncer, "opt:1"),
        hold(&debouncer, "text:1"),
        hold(&debouncer, "unit:1"),
        hold(&debouncer, "shown:1"),
        hold(&debouncer, "reply:1"),
    ];
    assert_eq!(busy_expression(&debouncer, 1).await, None);
    assert_eq!(busy_expression(&debouncer, 2).await, Some(2));
    assert_eq!(busy_closure(&debouncer, 1).unwrap_err(), "1 busy: text:1");
    assert_eq!(busy_closure(&debouncer, 2), Ok(2));
    unit_return(&debouncer, 1, &ran).await;
    assert!(!ran.load(std::sync::atomic::Ordering::SeqCst));
    unit_return(&debouncer, 2, &ran).await;
    assert!(ran.load(std::sync::atomic::Ordering::SeqCst));
    assert_eq!(impl_trait_return(&debouncer, 1).to_string(), "busy");
    assert_eq!(impl_trait_return(&debouncer, 2).to_string(), "ran 2");
    assert_eq!(from_busy_return(&debouncer, 1).await, Reply::Busy);
    assert_eq!(from_busy_return(&debouncer, 2).await, Reply::Done(2));
}

mod renamed {
    pub(crate) use redis_debounce::*;
}

#[debounce(key = "renamed:{id}", ttl = 30, using = debouncer, crate = "crate::shapes::renamed")]
async fn renamed_crate(debouncer: &Arc<Debouncer>, id: u32) -> Result<u32, Busy> {
    Ok(id)
}

#[tokio::test]
async fn crate_path_and_arc_debouncer() {
    let debouncer = Arc::new(Debouncer::memory());
    assert_eq!(renamed_crate(&debouncer, 1).await.unwrap(), 1);
    let _held = hold(&debouncer, "renamed:1");
    assert!(renamed_crate(&debouncer, 1).await.is_err());
}

fn assert_send<T: Send>(_: &T) {}

#[tokio::test]
async fn futures_stay_send() {
    let debouncer = Debouncer::memory();
    let user = User {
        id: 1,
        team: Team { name: "t" },
    };
    let future = checkout(&debouncer, &user, 1);
    assert_send(&future);
    assert!(future.await.is_ok());
    let handle = tokio::spawn(async move {
        let debouncer = Debouncer::memory();
        busy_expression(&debouncer, 1).await
    });
    assert_eq!(handle.await.unwrap(), Some(1));
}
