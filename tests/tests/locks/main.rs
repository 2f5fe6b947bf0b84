//! The lock itself, on Redis and in memory: mutual exclusion, release on
//! every exit and in order, expired holders, flushing, outages, the key
//! layout, lost scripts, wrong-type keys, sync calls inside a runtime.
//! One test binary for the concern (linking is most of a test run's time).

mod acl;
mod confirm;
mod connection;
mod connection_edges;
mod connection_refusals;
mod expired_holder;
mod flush;
mod key_layout;
mod keys;
mod lost_scripts;
mod memory_backend;
mod mutual_exclusion;
mod outage;
mod processes;
mod proxy_chaos;
mod release_on_exit;
mod release_order;
mod release_paths;
mod resent;
mod restart;

mod runtimes;
mod sync_in_runtime;
mod tls;
mod unexpected;
mod wrong_type;
