//! kumo-irr: IRR data for route-server import filters.
//!
//! The host loads route objects and AS-SETs once per (re)load into an immutable [`IrrDb`]
//! snapshot; import policies ask it per route whether the origin AS is in the client's AS-SET and
//! whether the prefix is registered ([`IrrDb::check`]). Reload builds a new snapshot that the
//! caller swaps in atomically; [`IrrDb::diff_relevant`] tells which origins and AS-SETs changed so
//! only the affected routes of the retained Adj-RIB-In are re-evaluated.
//!
//! Module map:
//! - [`db`]: [`IrrDb`] (lookups, AS-SET expansion, diff), [`IrrSources`] (the loader), policy types.
//! - `rpsl` (private): RPSL reader (`route:`, `route6:`, `as-set:`); plain or gzip.
//! - [`bgpq4`]: bgpq4 JSON prefix lists (`bgpq4 -j`) and AS lists (`bgpq4 -j -t`).
//! - [`name`]: AS numbers and AS-SET names, including `SOURCE::AS-SET`.
//! - [`trie`]: [`PrefixTrie`], one prefix trie over IPv4 and IPv6.
//! - [`error`]: [`IrrError`] (names file and line) and [`LoadWarning`].
//!
//! Data sources and their semantics:
//! - RPSL route objects are kept per origin AS in a trie. A prefix *matches* a route object when
//!   it is the same prefix ([`RouteObjectMatch::Exact`]) or a more specific no longer than the
//!   [`LengthBounds`] ([`RouteObjectMatch::MoreSpecificWithinBounds`]).
//! - AS-SETs are expanded recursively; a member set that refers back to a set being expanded is a
//!   loop and is cut (reported by [`AsSetExpansion::loops`]); unknown member sets are reported by
//!   [`AsSetExpansion::unresolved`]. `SOURCE::NAME` pins a name to one source; an unqualified name
//!   resolves to the first file/source defining it. `mbrs-by-ref:` is ignored.
//! - bgpq4 JSON prefix lists (named with `-l`) act as the prefixes of the AS-SET with that name;
//!   bgpq4 AS lists act as an already expanded AS-SET of that name (source [`BGPQ4_SOURCE`]).

pub mod bgpq4;
pub mod db;
pub mod error;
pub mod name;
mod rpsl;
pub mod trie;

pub use bgpq4::PrefixRange;
pub use db::{
    AsSetExpansion, BGPQ4_SOURCE, InvalidObjects, IrrBatchVerdict, IrrDb, IrrDiff, IrrPolicy, IrrSources,
    IrrVerdict, LengthBounds, PrefixList, PrefixScope, RouteObjectMatch,
};
pub use error::{IrrError, LoadWarning};
pub use name::{SetMember, SetName};
pub use trie::PrefixTrie;

/// `ipnet` is part of this crate's API.
pub use ipnet;

#[cfg(test)]
mod tests;
