//! The policies of `#[debounce]`, on Redis and in memory: wait (and the
//! waiter flag), cooldown, replay, renew, fencing, the body's lease, and
//! all of them together.

mod combined;
mod cooldown;
mod fence;
mod lease;
mod programmatic;
mod renew;
mod replay;
mod wait;
mod waiter_flag;
