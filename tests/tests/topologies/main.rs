//! Beyond one Redis: Redlock over independent masters, a Redis Cluster,
//! and a master watched by sentinels, each started by the harness; what
//! happens when nodes fail. (Every policy's scenarios also run on each
//! topology: the `::cluster`, `::sentinel` and `::redlock` variants of the
//! `policies` and `locks` binaries.)

#[cfg(feature = "cluster")]
mod cluster;
#[cfg(feature = "redlock")]
mod redlock;
#[cfg(feature = "sentinel")]
mod sentinel;
