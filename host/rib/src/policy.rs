//! Policy decisions as data: the RIB never runs a policy itself.
//!
//! Import policy results arrive as an [`ImportVerdict`] per path; export
//! policy is asked once per accepted path for the set of clients that may
//! receive it and what each receives ([`ExportDecision`]), and the answer is
//! cached with the path.

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
    /// The policy module that decided, when a policy did.
    pub policy: Option<Arc<str>>,
}

impl RejectReason {
    /// A reason not tied to a policy module.
    pub fn new(code: u16, text: impl Into<Arc<str>>) -> Self {
        RejectReason {
            code,
            text: text.into(),
            policy: None,
        }
    }
}

/// The import policy's decision for one received path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportVerdict {
    /// Accept with these post-policy attributes (may be the received `Arc` itself).
    Accept { attrs: Attrs, local_pref: u32 },
    /// Keep in Adj-RIB-In, never select. Shared: the paths one policy call
    /// rejects for the same reason hold one copy of it.
    Reject(Arc<RejectReason>),
}

impl ImportVerdict {
    /// Accept unchanged attributes with the default LOCAL_PREF.
    pub fn accept(attrs: Attrs) -> Self {
        ImportVerdict::Accept {
            attrs,
            local_pref: DEFAULT_LOCAL_PREF,
        }
    }

    /// Reject for `reason` (clone the verdict to share the reason).
    pub fn reject(reason: RejectReason) -> Self {
        ImportVerdict::Reject(Arc::new(reason))
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

/// The export policy's decision for one accepted path: who may receive it,
/// and the receivers that get modified attributes (e.g. a prepend they were
/// sent on request, or the action communities stripped for everyone).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExportDecision {
    pub targets: ExportTargets,
    /// Sorted by client; only for clients `targets` allows.
    pub modified: Vec<(PeerId, Attrs)>,
    /// What every other client `targets` allows receives instead of the
    /// path's own attributes. The common modification (action communities
    /// stripped) is the same for every receiver: one entry here instead of
    /// one per client in `modified` (no search per receiver, ~16 octets per
    /// client less per stored decision). It also reaches a client added
    /// after the decision was made: kumo re-evaluates every export decision
    /// whenever the client list changes (`Core::rebuild_pipeline`), so none
    /// is ever applied to a client it was not made for.
    pub modified_all: Option<Attrs>,
}

impl ExportDecision {
    /// The attributes `client` receives instead of the path's own, if any.
    pub fn modified_for(&self, client: PeerId) -> Option<&Attrs> {
        if self.modified.is_empty() {
            return self.modified_all.as_ref();
        }
        self.modified
            .binary_search_by_key(&client, |(peer, _)| *peer)
            .ok()
            .and_then(|i| self.modified.get(i))
            .map(|(_, attrs)| attrs)
            .or(self.modified_all.as_ref())
    }

    /// Export to everyone, unmodified?
    pub fn is_all(&self) -> bool {
        self.modified.is_empty()
            && self.modified_all.is_none()
            && match &self.targets {
                ExportTargets::All => true,
                ExportTargets::AllExcept(set) => set.is_empty(),
                ExportTargets::Only(_) => false,
            }
    }
}

impl From<ExportTargets> for ExportDecision {
    fn from(targets: ExportTargets) -> Self {
        ExportDecision {
            targets,
            modified: Vec::new(),
            modified_all: None,
        }
    }
}

/// The export policy, as far as the RIB is concerned.
pub trait ExportPolicy {
    /// Which clients may receive the accepted path `attrs` for `prefix` from
    /// `source`, and with which attributes.
    fn targets(&self, source: &PeerInfo, prefix: &IpNet, attrs: &Attrs) -> ExportDecision;

    /// [`ExportPolicy::targets`] for several prefixes from `source` that
    /// share the attribute set `attrs`, appended to `out` in order. A
    /// policy that can answer a batch at once (one WebAssembly call per
    /// attribute set) overrides it; the default asks per prefix.
    fn targets_many(
        &self,
        source: &PeerInfo,
        prefixes: &[IpNet],
        attrs: &Attrs,
        out: &mut Vec<ExportDecision>,
    ) {
        out.extend(prefixes.iter().map(|p| self.targets(source, p, attrs)));
    }

    /// [`ExportPolicy::targets_many`] for several attribute sets at once,
    /// the decisions of every set appended to `out` in order. A policy that
    /// can answer many sets in one call (one WebAssembly call for many
    /// sets) overrides it; the default asks set by set.
    fn targets_sets(&self, sets: &[ExportSet<'_>], out: &mut Vec<ExportDecision>) {
        for set in sets {
            self.targets_many(set.source, set.prefixes, set.attrs, out);
        }
    }
}

/// Ask `policy` about `sets` ([`ExportPolicy::targets_sets`]) and append to
/// `out` exactly one decision per prefix of the sets, in order, or nothing
/// when the answer does not have one per prefix: it cannot be matched to
/// prefixes then, and the caller asks prefix by prefix. Never a decision
/// meant for another prefix. Returns whether it appended.
pub fn decide_sets<P: ExportPolicy + ?Sized>(
    policy: &P,
    sets: &[ExportSet<'_>],
    out: &mut Vec<ExportDecision>,
) -> bool {
    let start = out.len();
    policy.targets_sets(sets, out);
    let expected: usize = sets.iter().map(|s| s.prefixes.len()).sum();
    if out.len() - start != expected {
        out.truncate(start);
        return false;
    }
    true
}

/// The accepted prefixes of one attribute set from one source: one question
/// of [`ExportPolicy::targets_sets`].
#[derive(Debug, Clone, Copy)]
pub struct ExportSet<'a> {
    pub source: &'a PeerInfo,
    pub attrs: &'a Attrs,
    pub prefixes: &'a [IpNet],
}

/// Export policy that sends every path to every client.
#[derive(Debug, Clone, Copy, Default)]
pub struct ExportAll;

impl ExportPolicy for ExportAll {
    fn targets(&self, _: &PeerInfo, _: &IpNet, _: &Attrs) -> ExportDecision {
        ExportDecision::default()
    }
}

impl<F, R> ExportPolicy for F
where
    F: Fn(&PeerInfo, &IpNet, &Attrs) -> R,
    R: Into<ExportDecision>,
{
    fn targets(&self, source: &PeerInfo, prefix: &IpNet, attrs: &Attrs) -> ExportDecision {
        self(source, prefix, attrs).into()
    }
}
