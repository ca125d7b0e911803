//! kumo-rpki: RPKI route origin validation for route-server import filters.
//!
//! An [`RtrClient`] keeps an immutable [`RpkiSnapshot`] in sync with an RPKI cache (such as
//! stayrtr, Routinator, rpki-client + StayRTR) over RTR. Import policies validate routes against
//! the current snapshot (lock-free read, [`RpkiSnapshot::validate`]); after every update the client
//! publishes a new snapshot with the VRPs that changed ([`VrpDelta`]), so the host re-validates only
//! routes covered by a changed VRP's prefix instead of the whole Adj-RIB-In.
//!
//! Module map:
//! - [`table`]: [`Vrp`], [`RoaTable`] (per-family prefix tries), RFC 6811 [`RoaTable::validate`] →
//!   [`RovState`], [`VrpDelta`].
//! - [`client`]: [`RtrClient`] (tokio task around the `rpki` crate's RTR client: reconnect with
//!   backoff, Serial/Reset handling, snapshot publication), [`RtrConfig`], [`StaleData`],
//!   [`CacheStatus`], [`RtrStatus`].
//!
//! While no cache has ever answered, the table is empty and every route is NotFound
//! ([`CacheStatus::NeverSynced`]): routes are neither rejected nor preferred because of RPKI.
//! Alternatives a policy can choose, since the status travels with the snapshot: hold imports
//! until the first sync; or reject/tag nothing until synced but re-validate then (the delta of the
//! first snapshot lists every VRP). When a cache goes away after a sync, [`StaleData`] decides
//! whether the last data is kept until the Expire Interval (default, RFC 8210 §6), forever, or
//! dropped at once.

pub mod client;
pub mod table;

pub use client::{Aspas, CacheStatus, RpkiSnapshot, RtrClient, RtrConfig, RtrStatus, StaleData};
pub use table::{InvalidVrp, RoaTable, RovState, Vrp, VrpDelta};

/// `ipnet` is part of this crate's API.
pub use ipnet;
