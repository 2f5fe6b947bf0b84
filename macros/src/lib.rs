//! The `#[debounce]` attribute of [redis-debounce](https://docs.rs/redis-debounce).
//!
//! Depend on `redis-debounce`, which re-exports this macro with its full
//! documentation; the expansion calls into that crate.

mod args;
mod bindings;
mod expand;
mod fallback;
#[cfg(test)]
mod fuzz;
mod item;
mod key;
mod plan;

use proc_macro::TokenStream;

/// Takes a lock keyed by the function's arguments before its body runs.
/// See `redis_debounce::debounce` for the arguments.
#[proc_macro_attribute]
pub fn debounce(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::debounce(args.into(), item.into()).into()
}
