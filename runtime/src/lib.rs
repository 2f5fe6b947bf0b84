//! Stop duplicate calls: `#[debounce]` takes a Redis lock, keyed by the
//! function's arguments, before the body runs. A double click, a retried
//! request or a second worker gets a "busy" value instead of a second run.
//!
//! ```
//! use redis_debounce::{debounce, Busy, Debouncer};
//!
//! #[derive(Debug)]
//! enum AppError {
//!     Busy(Busy),
//! }
//!
//! impl From<Busy> for AppError {
//!     fn from(busy: Busy) -> Self {
//!         AppError::Busy(busy)
//!     }
//! }
//!
//! struct User {
//!     id: u64,
//! }
//!
//! #[debounce(key = "checkout:{user.id}:{cart_id}", ttl = 300)]
//! async fn checkout(user: &User, cart_id: u64) -> Result<String, AppError> {
//!     tokio::task::yield_now().await; // e.g. a call to the payment provider
//!     Ok(format!("receipt for cart {cart_id}"))
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! // Production: Debouncer::open("redis://127.0.0.1/")
//! redis_debounce::install(Debouncer::memory());
//! let user = User { id: 7 };
//! let (first, second) = tokio::join!(checkout(&user, 1), checkout(&user, 1));
//! assert!(first.is_ok() != second.is_ok(), "exactly one of the two ran");
//! # }
//! ```
//!
//! The lock is the Redis pattern done right: `SET key token NX PX ttl` with
//! a random owner token, and a compare-and-delete script to release, so a
//! caller never deletes a lock it does not own. It is released on every
//! exit of the body: return, `?`, panic, and a future dropped mid-body.
//!
//! - [`debounce`]: the attribute, with its arguments.
//! - [`Debouncer`]: the lock service (Redis, or in-process for tests), with
//!   a programmatic [`try_lock`](Debouncer::try_lock) for code that is not
//!   one function.
//! - [`Busy`]: the answer instead of a run: held by another caller, or the
//!   backend was unavailable (never confused).
//! - Operating it: a `debounce` span per call, [`Debouncer::stats`],
//!   metrics (feature `metrics`), and [`Debouncer::admin`] to list,
//!   inspect, release and purge locks (the `redis-debounce` command line,
//!   feature `cli`, is built on it).
//!
//! Cargo features: `serde` (`replay`), `axum` and `actix-web` (handlers'
//! responses and extractors), `tls` (`rediss://`), and one per topology
//! beyond one server: `cluster` (Redis Cluster), `sentinel` (a master
//! found through sentinels) and `redlock` (a lock on a majority of
//! independent masters); see [`Builder::open`] for their URLs; `metrics`
//! (the `metrics` facade) and `cli` (the `redis-debounce` binary).
#![cfg_attr(docsrs, feature(doc_cfg))]

mod acquire;
mod admin;
mod backend;
mod blocking;
mod body;
mod builder;
mod busy;
mod call;
mod debouncer;
mod error;
mod guard;
mod install;
mod key;
mod lease;
mod observe;
mod outcome;
mod renew;
mod request;
mod stored;
mod token;
mod web;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

pub use crate::admin::{Admin, LockInfo, LockState, Purged};
pub use crate::body::lease;
pub use crate::builder::Builder;
pub use crate::busy::{Busy, BusyReason};
pub use crate::debouncer::Debouncer;
pub use crate::error::{BackendError, Error};
pub use crate::guard::LockGuard;
pub use crate::install::{install, installed};
pub use crate::lease::Lease;
pub use crate::observe::{Outcome, Stats};
#[cfg(feature = "serde")]
pub use crate::request::Acquired;
pub use crate::request::LockRequest;
pub use crate::web::{IdempotencyKey, KeyError};

#[doc = include_str!("debounce.md")]
pub use redis_debounce_macros::debounce;

/// The README's code blocks, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
