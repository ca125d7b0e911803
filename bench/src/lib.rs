//! kumo-bench: the convergence benchmark harness of issue #7.
//!
//! N clients, each on its own loopback address, open BGP sessions to a route
//! server (kumo with rs-standard, or BIRD 2 with equivalent filters), announce
//! a deterministic, realistically shaped table at the same instant, and keep
//! reading until every client holds every other client's routes. The route
//! server's CPU seconds and memory come from /proc. See `bench/README.md`.
//!
//! - [`scenario`]: the seeded routes and clients.
//! - [`scan`]: a zero-allocation reader of received UPDATEs.
//! - [`client`]: one client session (writer and reader tasks).
//! - [`server`]: kumo/BIRD configs, the daemon process, /proc readings.
//! - [`replay`]: `--rs replay`, the floor: the expected bytes sent with no routing work.
//! - [`run`]: one measured run and medians.

pub mod client;
pub mod replay;
pub mod run;
pub mod scan;
pub mod scenario;
pub mod server;
