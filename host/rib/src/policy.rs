//! Policy decisions as data: the RIB never runs a policy itself.
//!
//! Import policy results arrive as an [`ImportVerdict`] per path; export
//! policy is asked once per accepted path for the set of clients that may
//! receive it ([`ExportTargets`]), and the answer is cached with the path.

use std::sync::Arc;

use ipnet::IpNet;

use crate::attrs::Attrs;
use crate::peer::{PeerId, PeerInfo, PeerSet};

/// LOCAL_PREF a path gets when the import policy does not set one.
pub const DEFAULT_LOCAL_PREF: u32 = 100;

/// Why the import policy rejected a path: shown to operators and looking
/// glasses (the code is also what `rs-as:1101:code` style communities carry).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RejectReason {
    pub code: u16,
    pub text: Arc<str>,
}

/// The import policy's decision for one received path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportVerdict {
    /// Accept with these post-policy attributes (may be the received `Arc` itself).
    Accept { attrs: Attrs, local_pref: u32 },
    /// Keep in Adj-RIB-In, never select.
    Reject(RejectReason),
}

impl ImportVerdict {
    /// Accept unchanged attributes with the default LOCAL_PREF.
    pub fn accept(attrs: Attrs) -> Self {
        ImportVerdict::Accept {
            attrs,
            local_pref: DEFAULT_LOCAL_PREF,
        }
    }
}

/// The clients an accepted path may be exported to (RS action communities
/// decide this once per path, for all clients at once).
///
/// A path is never sent back to its source, whatever this says.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum ExportTargets {
    #[default]
    All,
    Only(PeerSet),
    AllExcept(PeerSet),
}

impl ExportTargets {
    pub fn allows(&self, client: PeerId) -> bool {
        match self {
            ExportTargets::All => true,
            ExportTargets::Only(set) => set.contains(client),
            ExportTargets::AllExcept(set) => !set.contains(client),
        }
    }
}

/// The export policy, as far as the RIB is concerned.
pub trait ExportPolicy {
    /// Which clients may receive the accepted path `attrs` for `prefix` from `source`.
    fn targets(&self, source: &PeerInfo, prefix: &IpNet, attrs: &Attrs) -> ExportTargets;
}

/// Export policy that sends every path to every client.
#[derive(Debug, Clone, Copy, Default)]
pub struct ExportAll;

impl ExportPolicy for ExportAll {
    fn targets(&self, _: &PeerInfo, _: &IpNet, _: &Attrs) -> ExportTargets {
        ExportTargets::All
    }
}

impl<F> ExportPolicy for F
where
    F: Fn(&PeerInfo, &IpNet, &Attrs) -> ExportTargets,
{
    fn targets(&self, source: &PeerInfo, prefix: &IpNet, attrs: &Attrs) -> ExportTargets {
        self(source, prefix, attrs)
    }
}
