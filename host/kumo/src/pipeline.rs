//! The policy stages of the route-server pipeline.
//!
//! Every path a client announces passes the **import** stage (verdict per
//! prefix, called once per attribute set with all its prefixes, the call shape
//! the WASM engine needs); every path the RIB may re-announce gets its export
//! targets from the **export** stage (once per path, for all clients at once).
//!
//! This is the pass-all stage: it accepts everything and exports to everyone,
//! except for the `test_export_deny_from` aid used to exercise path hiding.
//! The WASM policy engine replaces it behind the same two calls.

use std::collections::HashMap;

use ipnet::IpNet;
use kumo_rib::{Attrs, ExportPolicy, ExportTargets, ImportVerdict, PeerId, PeerInfo, PeerSet};
use kumo_wire::Nlri;

/// LOCAL_PREF-like preference given to accepted paths when the policy says nothing.
pub const DEFAULT_PREFERENCE: u32 = 100;

/// The import and export stages for all clients.
#[derive(Debug, Default)]
pub struct Pipeline {
    /// For each source client: the clients that must not receive its paths.
    deny_from: HashMap<PeerId, PeerSet>,
}

impl Pipeline {
    /// `deny_from`: (receiving client, source client) pairs from `test_export_deny_from`.
    pub fn new(deny_from: impl IntoIterator<Item = (PeerId, PeerId)>) -> Self {
        let mut map: HashMap<PeerId, PeerSet> = HashMap::new();
        for (receiver, source) in deny_from {
            map.entry(source).or_default().insert(receiver);
        }
        Pipeline { deny_from: map }
    }

    /// Import verdicts for `prefixes`, all announced by `peer` with `attrs`.
    pub fn import(
        &self,
        _peer: &PeerInfo,
        attrs: &Attrs,
        prefixes: &[Nlri],
        verdicts: &mut Vec<ImportVerdict>,
    ) {
        verdicts.clear();
        verdicts.extend(prefixes.iter().map(|_| ImportVerdict::Accept {
            attrs: attrs.clone(),
            local_pref: DEFAULT_PREFERENCE,
        }));
    }
}

impl ExportPolicy for Pipeline {
    fn targets(&self, source: &PeerInfo, _prefix: &IpNet, _attrs: &Attrs) -> ExportTargets {
        match self.deny_from.get(&source.id) {
            Some(denied) => ExportTargets::AllExcept(denied.clone()),
            None => ExportTargets::All,
        }
    }
}
