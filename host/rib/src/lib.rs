//! kumo-rib: the route-server RIB (RFC 7947). A pure, synchronous data
//! structure: the daemon owns one [`Rib`] in a single task and feeds it
//! received paths with the import policy's verdicts; the RIB answers with
//! the changes to send to each client.
//!
//! Module map:
//! - [`peer`]: [`PeerId`], [`PeerInfo`], [`PeerSet`] (bitset of peers).
//! - [`attrs`]: [`RouteAttrs`], the shared [`Attrs`], the [`AttrInterner`].
//! - [`policy`]: policy outcomes as data: [`ImportVerdict`], [`RejectReason`],
//!   [`ExportTargets`], [`ExportDecision`] and the [`ExportPolicy`] trait.
//! - [`decision`]: the decision process (deterministic MED), and the ranking
//!   that makes per-client best paths cheap.
//! - [`rib`]: [`Rib`] itself: Adj-RIB-In per client (pre- and post-policy),
//!   per-client selection with path hiding and ADD-PATH, and the diffs
//!   ([`OutChange`]) that replace a per-client Adj-RIB-Out. Its prefix table
//!   (entries per family in chunks, a hash index of 4-octet ids) is in
//!   `rib/table.rs`.
//! - [`out`]: where the diffs go ([`OutSink`]): a `Vec<OutChange>`, or
//!   [`OutChanges`], which stores one route's change for many clients once.

pub mod attrs;
pub mod decision;
pub mod out;
pub mod peer;
pub mod policy;
pub mod rib;

pub use attrs::{AttrInterner, Attrs, RouteAttrs};
pub use peer::{PeerId, PeerInfo, PeerSet};
pub use policy::{
    DEFAULT_LOCAL_PREF, ExportAll, ExportDecision, ExportPolicy, ExportSet, ExportTargets, ImportVerdict,
    RejectReason, decide_sets,
};
/// A `HashMap` with a fast hasher (ahash), for the daemon's hot paths: std's
/// SipHash cost ~20 % of a route server's CPU in a fan-out profile. ahash
/// keys are random per process, so colliding keys cannot be precomputed.
pub type FastMap<K, V> = std::collections::HashMap<K, V, FastHash>;
/// The hasher of [`FastMap`] (ahash).
pub type FastHash = ahash::RandomState;
/// A `HashSet` with the hasher of [`FastMap`].
pub type FastSet<K> = std::collections::HashSet<K, FastHash>;

pub use out::{OutChange, OutChanges, OutRun, OutSink, Receivers};
pub use rib::{FamilyCounts, PathView, PeerCounts, Rib, RibError, VerdictView};
