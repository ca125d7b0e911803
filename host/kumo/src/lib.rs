//! kumo: a BGP route server for Internet Exchanges (RFC 7947/7948).
//!
//! Module map:
//! - [`admin`]: the admin API backend (answers from the core).
//! - [`daemon`]: start-up, listeners, shutdown.
//! - [`peer`]: the tokio driver of one client's session (socket, timers, writer task).
//! - [`core`]: the route-server core task that owns the RIB.
//! - [`pipeline`]: the import/export policy stages (WASM chains per client).
//! - [`policies`]: loading the modules a configuration names.
//! - [`route_data`]: IRR and RPKI data for policies (host imports), the RTR feed.
//! - [`policy_test`]: `kumo policy test`, a module over routes from a file.
//! - [`outqueue`]: per-client coalescing output queues.
//! - [`demo`]: `kumo demo`, a self-contained demo IX.
//! - [`status`]: session status shared with the admin API and metrics.
//! - [`speaker`]: a minimal BGP speaker on kumo's codec (demo, load harness, tests).
//! - `main.rs`: the command line (`kumo run`, `check`, `demo`, `policy test`).

pub mod admin;
pub mod core;
pub mod daemon;
pub mod demo;
pub mod outqueue;
pub mod peer;
pub mod pipeline;
pub mod policies;
pub mod policy_test;
pub mod route_data;
pub mod speaker;
pub mod status;
