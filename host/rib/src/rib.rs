//! The route-server RIB: every client's Adj-RIB-In, per-client selection,
//! and the changes each client must be sent.
//!
//! There is no per-client Adj-RIB-Out. What client C holds for a prefix is a
//! deterministic function of the prefix's candidate paths (with their cached
//! export targets) and of C's capabilities: its best eligible path, or every
//! eligible path for an ADD-PATH client. A change to a prefix therefore keeps
//! a copy of the candidate list before the change, applies it, and for every
//! client that is up compares its selection before and after, emitting only
//! the difference ([`OutChange`](crate::OutChange)). The copy is a few `Arc` clones; memory
//! stays per path, not per path and client.

use std::mem;
use std::sync::Arc;

use ipnet::IpNet;
use kumo_wire::{AfiSafi, Nlri};
use roaring::RoaringBitmap;

use crate::attrs::{AttrInterner, Attrs};
use crate::decision::{self, RankKey, Ranking, SourceIdent};
use crate::out::OutSink;
use crate::peer::{PeerId, PeerInfo};
use crate::policy::{
    DEFAULT_LOCAL_PREF, ExportDecision, ExportPolicy, ExportSet, ExportTargets, ImportVerdict, RejectReason,
    decide_sets,
};

mod table;
use table::{CHUNK, PathList, PrefixId, Table};

/// Errors from feeding the RIB.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RibError {
    /// Routes can only come from a client whose session is up ([`Rib::peer_up`]).
    #[error("{0} is not up: routes from it are not accepted")]
    PeerNotUp(PeerId),
}

/// Per-family route counts of one client's Adj-RIB-In.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FamilyCounts {
    pub received: usize,
    pub accepted: usize,
}

impl FamilyCounts {
    /// Paths the import policy rejected (kept, never selected).
    pub fn filtered(&self) -> usize {
        self.received.saturating_sub(self.accepted)
    }
}

/// Route counts of one client's Adj-RIB-In.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PeerCounts {
    pub ipv4: FamilyCounts,
    pub ipv6: FamilyCounts,
    /// Paths held stale (GR helper or static-hold), all families.
    pub stale: usize,
}

impl PeerCounts {
    /// Counts for one family (zero for families the RIB does not carry).
    pub fn family(&self, afi_safi: AfiSafi) -> FamilyCounts {
        match family_of_afi(afi_safi) {
            Some(V4) => self.ipv4,
            Some(_) => self.ipv6,
            None => FamilyCounts::default(),
        }
    }

    fn track(&mut self, family: usize, path: &Path, add: bool) {
        let f = if family == V4 {
            &mut self.ipv4
        } else {
            &mut self.ipv6
        };
        let step = |n: &mut usize| *n = if add { *n + 1 } else { n.saturating_sub(1) };
        step(&mut f.received);
        if path.accepted().is_some() {
            step(&mut f.accepted);
        }
        if path.stale() {
            step(&mut self.stale);
        }
    }
}

/// The import policy's outcome for a path, as stored and as shown.
#[derive(Debug, Clone, Copy)]
pub enum VerdictView<'a> {
    Accepted {
        /// Post-policy attributes: what clients receive.
        attrs: &'a Attrs,
        local_pref: u32,
        /// Cached export decision.
        export: &'a ExportDecision,
    },
    Rejected(&'a RejectReason),
}

/// One path of an Adj-RIB-In, for the admin API and tests.
#[derive(Debug, Clone, Copy)]
pub struct PathView<'a> {
    pub prefix: IpNet,
    pub source: PeerId,
    /// Path id the client sent (ADD-PATH receive), if any.
    pub remote_path_id: Option<u32>,
    /// Path id kumo uses towards ADD-PATH clients.
    pub local_path_id: u32,
    /// Attributes as received (pre-policy).
    pub received: &'a Attrs,
    pub verdict: VerdictView<'a>,
    pub stale: bool,
}

impl<'a> PathView<'a> {
    /// The NLRI as the source sent it.
    pub fn nlri(&self) -> Nlri {
        Nlri {
            prefix: self.prefix,
            path_id: self.remote_path_id,
        }
    }

    /// Post-policy attributes if accepted.
    pub fn accepted(&self) -> Option<&'a Attrs> {
        match self.verdict {
            VerdictView::Accepted { attrs, .. } => Some(attrs),
            VerdictView::Rejected(_) => None,
        }
    }

    /// Why the import policy rejected it, if it did.
    pub fn reject_reason(&self) -> Option<&'a RejectReason> {
        match self.verdict {
            VerdictView::Rejected(reason) => Some(reason),
            VerdictView::Accepted { .. } => None,
        }
    }
}

/// Attribute sets per [`ExportPolicy::targets_sets`] question after an
/// export policy change: enough that a policy answering many sets per call
/// pays its per-call cost rarely, few enough to keep the answers small.
const EXPORT_SETS_PER_CALL: usize = 128;

/// Prefixes per part of [`Rib::reevaluate_export_in_steps`]: enough that a
/// part's questions fill many policy calls and its changes pack into full
/// UPDATEs, few enough that the first changes go out early (a P3 policy
/// change re-evaluates 500,000 paths in ~16 parts).
const EXPORT_STEP_PREFIXES: usize = 32 * 1024;

const V4: usize = 0;
const V6: usize = 1;

fn family_of(prefix: &IpNet) -> usize {
    match prefix {
        IpNet::V4(_) => V4,
        IpNet::V6(_) => V6,
    }
}

fn family_of_afi(afi_safi: AfiSafi) -> Option<usize> {
    match afi_safi {
        AfiSafi::IPV4_UNICAST => Some(V4),
        AfiSafi::IPV6_UNICAST => Some(V6),
        _ => None,
    }
}

/// `Path::local_id` holds the local path id in its low 30 bits and two flags
/// above: 4 octets instead of a 1-octet field padded to 8. A prefix cannot
/// hold 2^30 paths (that would be 40 GiB of paths alone).
const LOCAL_ID_MASK: u32 = (1 << 30) - 1;
const STALE: u32 = 1 << 31;
const HAS_REMOTE_PATH_ID: u32 = 1 << 30;

/// One candidate path of a prefix: an entry of its source's Adj-RIB-In.
///
/// Memory (64-bit): `Path` is 32 bytes (a test keeps it so), and a prefix's
/// only path is stored inline in the prefix's table entry (see [`table`]):
/// with the entry's prefix, the hash index (prefix → 4-octet id) and the
/// source's index (a compressed bitmap of ids), a single-path IPv4 prefix
/// costs ~57 bytes before attribute sets (IPv6 ~72). The common path, accepted
/// as received and exported to every client unmodified, is one attribute set
/// and nothing else; the rest ([`PathExtra`]) sits behind one pointer. The
/// `load_figures` test (250k prefixes with two paths each) measures its
/// resident memory per path (BENCHMARKS.md).
#[derive(Debug, Clone)]
struct Path {
    /// Post-policy attributes of an accepted path; the received ones of a
    /// rejected path.
    attrs: Attrs,
    /// `None` for the common path; else what differs from it.
    extra: Option<Arc<PathExtra>>,
    source: PeerId,
    /// Valid when `local_id & HAS_REMOTE_PATH_ID` (saves the `Option` padding).
    remote_path_id: u32,
    /// Local path id and flags (see [`LOCAL_ID_MASK`]).
    local_id: u32,
    local_pref: u32,
}

/// A path's import outcome and export decision, as the policies give them.
#[derive(Debug, Clone, PartialEq)]
enum PathState {
    Accepted {
        attrs: Attrs,
        /// `None` means export to all unmodified, the common case, without an allocation.
        targets: Option<Arc<ExportDecision>>,
    },
    Rejected(Arc<RejectReason>),
}

/// What a path that is not the common one stores besides its attributes.
/// Shared between neighbouring paths that store the same (see [`Stored`]).
#[derive(Debug)]
struct PathExtra {
    /// The attributes as received, when the import policy changed them.
    received: Option<Attrs>,
    outcome: Outcome,
}

#[derive(Debug)]
enum Outcome {
    /// `None`: export to all unmodified.
    Accepted(Option<Arc<ExportDecision>>),
    Rejected(Arc<RejectReason>),
}

impl PathExtra {
    /// Holds the very same values (pointers) as `other`?
    fn same_as(&self, other: &PathExtra) -> bool {
        let same_received = match (&self.received, &other.received) {
            (Some(a), Some(b)) => Attrs::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        };
        same_received
            && match (&self.outcome, &other.outcome) {
                (Outcome::Accepted(Some(a)), Outcome::Accepted(Some(b))) => Arc::ptr_eq(a, b),
                (Outcome::Accepted(None), Outcome::Accepted(None)) => true,
                (Outcome::Rejected(a), Outcome::Rejected(b)) => Arc::ptr_eq(a, b),
                _ => false,
            }
    }
}

/// The last [`PathExtra`] made, so that the next path storing the same (the
/// other prefixes of an UPDATE, of an attribute set) shares it. Weak: it
/// keeps no attribute set alive for the interner's sweep.
#[derive(Debug, Default)]
struct Stored {
    last: Option<std::sync::Weak<PathExtra>>,
}

impl Stored {
    /// `received` and `state` as a path stores them: its attributes and its extra.
    fn store(&mut self, received: Attrs, state: PathState) -> (Attrs, Option<Arc<PathExtra>>) {
        let (attrs, extra) = match state {
            PathState::Accepted { attrs, targets } => {
                let received = (!Attrs::ptr_eq(&attrs, &received)).then_some(received);
                if received.is_none() && targets.is_none() {
                    return (attrs, None);
                }
                (
                    attrs,
                    PathExtra {
                        received,
                        outcome: Outcome::Accepted(targets),
                    },
                )
            }
            PathState::Rejected(reason) => (
                received,
                PathExtra {
                    received: None,
                    outcome: Outcome::Rejected(reason),
                },
            ),
        };
        if let Some(seen) = self.last.as_ref().and_then(std::sync::Weak::upgrade)
            && seen.same_as(&extra)
        {
            return (attrs, Some(seen));
        }
        let extra = Arc::new(extra);
        self.last = Some(Arc::downgrade(&extra));
        (attrs, Some(extra))
    }
}

static EXPORT_ALL: ExportDecision = ExportDecision {
    targets: crate::policy::ExportTargets::All,
    modified: Vec::new(),
    modified_all: None,
};

impl Path {
    fn remote_path_id(&self) -> Option<u32> {
        (self.local_id & HAS_REMOTE_PATH_ID != 0).then_some(self.remote_path_id)
    }

    fn stale(&self) -> bool {
        self.local_id & STALE != 0
    }

    /// The path id kumo uses towards ADD-PATH clients.
    fn local_path_id(&self) -> u32 {
        self.local_id & LOCAL_ID_MASK
    }

    fn is(&self, source: PeerId, remote_path_id: Option<u32>) -> bool {
        self.source == source && self.remote_path_id() == remote_path_id
    }

    /// The attributes as received (pre-policy).
    fn received(&self) -> &Attrs {
        self.extra
            .as_ref()
            .and_then(|e| e.received.as_ref())
            .unwrap_or(&self.attrs)
    }

    fn accepted(&self) -> Option<&Attrs> {
        match self.extra.as_deref() {
            Some(PathExtra {
                outcome: Outcome::Rejected(_),
                ..
            }) => None,
            _ => Some(&self.attrs),
        }
    }

    /// The cached export decision of an accepted path (`None`: to all, unmodified).
    fn targets(&self) -> Option<&Arc<ExportDecision>> {
        match self.extra.as_deref() {
            Some(PathExtra {
                outcome: Outcome::Accepted(targets),
                ..
            }) => targets.as_ref(),
            _ => None,
        }
    }

    /// The import outcome and export decision, as the policies gave them.
    fn state(&self) -> PathState {
        match self.extra.as_deref() {
            Some(PathExtra {
                outcome: Outcome::Rejected(reason),
                ..
            }) => PathState::Rejected(reason.clone()),
            _ => PathState::Accepted {
                attrs: self.attrs.clone(),
                targets: self.targets().cloned(),
            },
        }
    }

    /// What `client` receives from this path, if it may receive it at all.
    fn offer(&self, client: PeerId) -> Option<&Attrs> {
        if self.source == client {
            return None;
        }
        match self.extra.as_deref() {
            None => Some(&self.attrs),
            Some(PathExtra { outcome, .. }) => match outcome {
                Outcome::Accepted(None) => Some(&self.attrs),
                Outcome::Accepted(Some(decision)) if decision.targets.allows(client) => {
                    Some(decision.modified_for(client).unwrap_or(&self.attrs))
                }
                Outcome::Accepted(Some(_)) | Outcome::Rejected(_) => None,
            },
        }
    }

    /// What this path offers every client it does not single out
    /// ([`Path::singled_out`]): for those, `offer(client)` is this.
    fn usual_offer(&self) -> Option<&Attrs> {
        match self.extra.as_deref() {
            None => Some(&self.attrs),
            Some(PathExtra { outcome, .. }) => match outcome {
                Outcome::Accepted(None) => Some(&self.attrs),
                Outcome::Accepted(Some(decision)) => match decision.targets {
                    ExportTargets::Only(_) => None,
                    ExportTargets::All | ExportTargets::AllExcept(_) => {
                        Some(decision.modified_all.as_ref().unwrap_or(&self.attrs))
                    }
                },
                Outcome::Rejected(_) => None,
            },
        }
    }

    /// Calls `f` with every client that may be offered something else than
    /// [`Path::usual_offer`] (possibly twice): the source, and the clients
    /// its export decision names (in `Only`, in `AllExcept`, or with
    /// attributes of their own).
    fn singled_out(&self, mut f: impl FnMut(PeerId)) {
        f(self.source);
        if let Some(PathExtra {
            outcome: Outcome::Accepted(Some(decision)),
            ..
        }) = self.extra.as_deref()
        {
            match &decision.targets {
                ExportTargets::All => {}
                ExportTargets::Only(set) | ExportTargets::AllExcept(set) => set.iter().for_each(&mut f),
            }
            decision.modified.iter().for_each(|(peer, _)| f(*peer));
        }
    }

    fn rank_key(&self, ident: SourceIdent) -> Option<RankKey> {
        let attrs = self.accepted()?;
        Some(RankKey::new(
            attrs,
            self.local_pref,
            self.stale(),
            self.source,
            ident,
            self.remote_path_id(),
        ))
    }

    fn view(&self, prefix: IpNet) -> PathView<'_> {
        let verdict = match self.extra.as_deref() {
            Some(PathExtra {
                outcome: Outcome::Rejected(reason),
                ..
            }) => VerdictView::Rejected(reason),
            _ => VerdictView::Accepted {
                attrs: &self.attrs,
                local_pref: self.local_pref,
                export: self.targets().map_or(&EXPORT_ALL, |t| &**t),
            },
        };
        PathView {
            prefix,
            source: self.source,
            remote_path_id: self.remote_path_id(),
            local_path_id: self.local_path_id(),
            received: self.received(),
            verdict,
            stale: self.stale(),
        }
    }
}

fn import_state(
    source: &PeerInfo,
    prefix: &IpNet,
    verdict: ImportVerdict,
    export: &dyn ExportPolicy,
) -> (PathState, u32) {
    match verdict {
        ImportVerdict::Accept { attrs, local_pref } => {
            let targets = cache_targets(export.targets(source, prefix, &attrs));
            (PathState::Accepted { attrs, targets }, local_pref)
        }
        ImportVerdict::Reject(reason) => (PathState::Rejected(reason), DEFAULT_LOCAL_PREF),
    }
}

fn cache_targets(decision: ExportDecision) -> Option<Arc<ExportDecision>> {
    (!decision.is_all()).then(|| Arc::new(decision))
}

fn same_attrs(a: Option<&Attrs>, b: Option<&Attrs>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a == b,
        (None, None) => true,
        _ => false,
    }
}

/// The smallest local path id not used in `list` (sorted by local path id).
fn free_local_path_id(list: &[Path]) -> u32 {
    let mut id = 1;
    for p in list {
        if p.local_path_id() != id {
            break;
        }
        id += 1;
    }
    id
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SendMode {
    Off,
    Best,
    AddPath,
}

/// A client that is up, with what it receives per family.
#[derive(Debug, Clone, Copy)]
struct Receiver {
    id: PeerId,
    modes: [SendMode; 2],
}

impl Receiver {
    fn new(info: &PeerInfo) -> Self {
        let mode = |f: AfiSafi| {
            if !info.families.contains(&f) {
                SendMode::Off
            } else if info.add_path_tx.contains(&f) {
                SendMode::AddPath
            } else {
                SendMode::Best
            }
        };
        Receiver {
            id: info.id,
            modes: [mode(AfiSafi::IPV4_UNICAST), mode(AfiSafi::IPV6_UNICAST)],
        }
    }
}

#[derive(Debug)]
struct PeerSlot {
    info: PeerInfo,
    up: bool,
    /// Prefixes where this peer has at least one path: peer-wide operations
    /// cost O(its routes), not O(table). A compressed bitmap of ids (ids are
    /// handed out in arrival order, so a peer's are clustered): ~2 octets per
    /// path instead of ~8 in a hash set (P1: 4.1 MB, BENCHMARKS.md session 8).
    prefixes: RoaringBitmap,
    counts: PeerCounts,
}

impl PeerSlot {
    fn ident(&self) -> SourceIdent {
        SourceIdent {
            bgp_id: self.info.bgp_id,
            address: self.info.address,
        }
    }
}

#[derive(Debug, Default)]
struct Peers {
    slots: Vec<Option<PeerSlot>>,
    /// Clients that are up, by id.
    receivers: Vec<Receiver>,
    /// Per family: receivers that get a best path, sorted by id, shared with
    /// the changes that name them ([`OutSink::push_change_all_but`]).
    best: [Arc<[PeerId]>; 2],
    /// Per family: ADD-PATH receivers, sorted by id.
    add_path: [Vec<PeerId>; 2],
}

impl Peers {
    fn get(&self, id: PeerId) -> Option<&PeerSlot> {
        self.slots.get(id.0 as usize).and_then(Option::as_ref)
    }

    fn get_mut(&mut self, id: PeerId) -> Option<&mut PeerSlot> {
        self.slots.get_mut(id.0 as usize).and_then(Option::as_mut)
    }

    fn ident(&self, id: PeerId) -> SourceIdent {
        self.get(id).map_or(
            SourceIdent {
                bgp_id: [0; 4].into(),
                address: [0u8; 4].into(),
            },
            PeerSlot::ident,
        )
    }

    /// Does any client receive `family`'s routes?
    fn receiving(&self, family: usize) -> bool {
        !self.best[family].is_empty() || !self.add_path[family].is_empty()
    }

    fn receiver(&self, id: PeerId) -> Option<&Receiver> {
        self.receivers
            .binary_search_by_key(&id, |r| r.id)
            .ok()
            .map(|i| &self.receivers[i])
    }

    fn set_receiver(&mut self, receiver: Option<Receiver>, id: PeerId) {
        match (self.receivers.binary_search_by_key(&id, |r| r.id), receiver) {
            (Ok(i), Some(r)) => self.receivers[i] = r,
            (Err(i), Some(r)) => self.receivers.insert(i, r),
            (Ok(i), None) => {
                self.receivers.remove(i);
            }
            (Err(_), None) => {}
        }
        for f in [V4, V6] {
            let with = |mode| {
                self.receivers
                    .iter()
                    .filter(move |r| r.modes[f] == mode)
                    .map(|r| r.id)
            };
            self.best[f] = with(SendMode::Best).collect();
            self.add_path[f] = with(SendMode::AddPath).collect();
        }
    }
}

/// Buffers reused across changes so that the hot path does not allocate.
#[derive(Debug, Default)]
struct Scratch {
    before: Vec<Path>,
    before_ranking: Ranking,
    after_ranking: Ranking,
    /// The Best-mode clients some path of the prefix singles out.
    singled_out: Vec<PeerId>,
    stored: Stored,
}

/// What a peer-wide operation does to each of the peer's paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PathAction {
    Keep,
    Remove,
    MarkStale,
}

/// The route-server RIB. See the module documentation.
#[derive(Debug, Default)]
pub struct Rib {
    peers: Peers,
    /// Candidate paths per prefix, sorted by local path id.
    table: Table,
    interner: AttrInterner,
    scratch: Scratch,
}

impl Rib {
    pub fn new() -> Self {
        Self::default()
    }

    /// The attribute interner the daemon uses for received and post-policy sets.
    pub fn interner(&mut self) -> &mut AttrInterner {
        &mut self.interner
    }

    /// `info.id` becomes Established: it receives changes from now on (send
    /// it [`initial_table`](Self::initial_table) first).
    ///
    /// Calling it for a peer that is already up replaces its info; treat that
    /// as a new session (send the initial table again).
    ///
    /// A peer coming back while its paths are held stale keeps them. If its
    /// BGP Identifier or address changed, those paths rank differently, and
    /// the resulting changes for other clients go to `out`.
    pub fn peer_up(&mut self, info: PeerInfo, out: &mut impl OutSink) {
        let id = info.id;
        let index = id.0 as usize;
        if self.peers.slots.len() <= index {
            self.peers.slots.resize_with(index + 1, || None);
        }
        let receiver = Receiver::new(&info);
        let previous = match &mut self.peers.slots[index] {
            Some(slot) => {
                let before = slot.ident();
                slot.info = info;
                slot.up = true;
                Some(before)
            }
            slot @ None => {
                *slot = Some(PeerSlot {
                    info,
                    up: true,
                    prefixes: RoaringBitmap::new(),
                    counts: PeerCounts::default(),
                });
                None
            }
        };
        // Re-rank its held paths for the others before it becomes a receiver itself.
        if let Some(before) = previous
            && before != self.peers.ident(id)
        {
            let Rib {
                peers,
                table,
                scratch,
                ..
            } = self;
            if let Some(slot) = peers.get(id) {
                for prefix_id in &slot.prefixes {
                    if let Some((prefix, list)) = table.at(prefix_id) {
                        emit_diff(prefix, list, list, peers, Some((id, before)), scratch, out);
                    }
                }
            }
        }
        self.peers.set_receiver(Some(receiver), id);
    }

    /// The session of `peer` went down: all its paths are withdrawn from
    /// everyone and it receives nothing more.
    pub fn peer_down(&mut self, peer: PeerId, out: &mut impl OutSink) {
        self.stop_receiving(peer);
        self.for_each_path_of(peer, |_, _| PathAction::Remove, out);
    }

    /// The session of `peer` went down but its paths are held (Graceful
    /// Restart helper, static-hold): paths of `families` stay, flagged stale
    /// (less preferred than any fresh path), and the others are withdrawn as
    /// by [`peer_down`](Self::peer_down). It receives nothing more until its
    /// next [`peer_up`](Self::peer_up). Returns the number of paths held.
    pub fn mark_stale(&mut self, peer: PeerId, families: &[AfiSafi], out: &mut impl OutSink) -> usize {
        self.stop_receiving(peer);
        let held: Vec<usize> = families.iter().filter_map(|f| family_of_afi(*f)).collect();
        self.for_each_path_of(
            peer,
            |prefix, _| {
                if held.contains(&family_of(prefix)) {
                    PathAction::MarkStale
                } else {
                    PathAction::Remove
                }
            },
            out,
        )
        .1
    }

    /// Withdraws `peer`'s paths still stale (not re-announced since
    /// [`mark_stale`](Self::mark_stale)), in `family` or in all families: at
    /// its End-of-RIB, or when the hold time expires. Returns how many.
    pub fn purge_stale(&mut self, peer: PeerId, family: Option<AfiSafi>, out: &mut impl OutSink) -> usize {
        let family = match family {
            Some(f) => match family_of_afi(f) {
                Some(f) => Some(f),
                None => return 0,
            },
            None => None,
        };
        self.for_each_path_of(
            peer,
            |prefix, path| {
                if path.stale() && family.is_none_or(|f| f == family_of(prefix)) {
                    PathAction::Remove
                } else {
                    PathAction::Keep
                }
            },
            out,
        )
        .0
    }

    /// A path from `peer`: adds it, or replaces the one with the same NLRI
    /// (implicit withdraw), and clears its stale flag. `received` is kept as
    /// the pre-policy attributes; `verdict` is the import policy's outcome.
    pub fn announce(
        &mut self,
        peer: PeerId,
        nlri: Nlri,
        received: Attrs,
        verdict: ImportVerdict,
        export: &dyn ExportPolicy,
        out: &mut impl OutSink,
    ) -> Result<(), RibError> {
        let Rib {
            peers,
            table,
            scratch,
            ..
        } = self;
        let slot = peers
            .get(peer)
            .filter(|s| s.up)
            .ok_or(RibError::PeerNotUp(peer))?;
        let prefix = nlri.prefix;
        let family = family_of(&prefix);
        let (state, local_pref) = import_state(&slot.info, &prefix, verdict, export);
        let (attrs, extra) = scratch.stored.store(received, state);
        let (prefix_id, list) = table.entry(prefix);
        edit_list(peers, scratch, prefix, list, out, |list, peers| {
            let Some(slot) = peers.get_mut(peer) else { return };
            if let Some(path) = list.iter_mut().find(|p| p.is(peer, nlri.path_id)) {
                slot.counts.track(family, path, false);
                path.attrs = attrs;
                path.extra = extra;
                path.local_pref = local_pref;
                path.local_id &= !STALE;
                slot.counts.track(family, path, true);
            } else {
                let local_path_id = free_local_path_id(list);
                let path = Path {
                    attrs,
                    extra,
                    source: peer,
                    remote_path_id: nlri.path_id.unwrap_or(0),
                    local_id: (local_path_id & LOCAL_ID_MASK)
                        | if nlri.path_id.is_some() {
                            HAS_REMOTE_PATH_ID
                        } else {
                            0
                        },
                    local_pref,
                };
                slot.counts.track(family, &path, true);
                let at = list.partition_point(|p| p.local_path_id() < local_path_id);
                list.insert(at, path);
                slot.prefixes.insert(prefix_id);
            }
        });
        Ok(())
    }

    /// `peer` withdrew `nlri`. Withdrawing an unknown NLRI does nothing.
    pub fn withdraw(&mut self, peer: PeerId, nlri: Nlri, out: &mut impl OutSink) -> Result<(), RibError> {
        let Rib {
            peers,
            table,
            scratch,
            ..
        } = self;
        if !peers.get(peer).is_some_and(|s| s.up) {
            return Err(RibError::PeerNotUp(peer));
        }
        let Some(prefix_id) = table.id(&nlri.prefix) else {
            return Ok(());
        };
        let Some((prefix, list)) = table.at_mut(prefix_id) else {
            return Ok(());
        };
        let Some(pos) = list.iter().position(|p| p.is(peer, nlri.path_id)) else {
            return Ok(());
        };
        edit_list(peers, scratch, prefix, list, out, |list, peers| {
            let Some(path) = list.remove(pos) else { return };
            if let Some(slot) = peers.get_mut(peer) {
                slot.counts.track(family_of(&prefix), &path, false);
                if !list.iter().any(|p| p.source == peer) {
                    slot.prefixes.remove(prefix_id);
                }
            }
        });
        table.tidy(prefix_id);
        Ok(())
    }

    /// After an export policy change: asks `export` again for every accepted
    /// path and emits what changes for each client. Returns the number of
    /// paths whose export decision changed.
    pub fn reevaluate_export(&mut self, export: &dyn ExportPolicy, out: &mut impl OutSink) -> usize {
        self.reevaluate_export_in_steps(export, out, |_| {})
    }

    /// [`Rib::reevaluate_export`] a part of the table at a time (about
    /// 32,000 prefixes), calling `step_done` with `out` after each part. A
    /// prefix's changes are never split between parts, so the caller may
    /// send what `out` holds at each call while the next part is evaluated:
    /// the clients start receiving a policy change's routes long before the
    /// last one is decided, and the buffers of a part (its questions, its
    /// decisions, its changes) are bounded by the part instead of growing
    /// with the whole table. The paths of one attribute set that lie across
    /// two parts are asked about in both, each time for the prefixes there.
    pub fn reevaluate_export_in_steps<O: OutSink>(
        &mut self,
        export: &dyn ExportPolicy,
        out: &mut O,
        step_done: impl FnMut(&mut O),
    ) -> usize {
        let step = EXPORT_STEP_PREFIXES.div_ceil(CHUNK);
        self.reevaluate_export_by_parts(export, out, step, step_done)
    }

    /// [`Rib::reevaluate_export_in_steps`] with steps of `step` table parts.
    fn reevaluate_export_by_parts<O: OutSink>(
        &mut self,
        export: &dyn ExportPolicy,
        out: &mut O,
        step: usize,
        mut step_done: impl FnMut(&mut O),
    ) -> usize {
        // Reevaluating changes no prefix's place, so the parts stay put.
        let parts = self.table.parts();
        let step = step.max(1);
        let mut total = 0;
        for first in (0..parts).step_by(step) {
            total += self.reevaluate_export_part(export, first..parts.min(first.saturating_add(step)), out);
            step_done(out);
        }
        total
    }

    /// [`Rib::reevaluate_export`] for the prefixes in table parts `parts`.
    fn reevaluate_export_part(
        &mut self,
        export: &dyn ExportPolicy,
        parts: std::ops::Range<usize>,
        out: &mut impl OutSink,
    ) -> usize {
        let Rib {
            peers,
            table,
            scratch,
            ..
        } = self;
        // First every decision, one batched question per (source, attribute
        // set): a policy answers the prefixes of a set in one call. `order`
        // remembers, per accepted path in table order, its set and place, so
        // that the second walk (same order: the table is not resized in
        // between) finds its decision without hashing.
        let mut sets: crate::FastMap<(PeerId, usize), usize> = crate::FastMap::default();
        let mut batches: Vec<(PeerId, Attrs, Vec<IpNet>)> = Vec::new();
        let mut order: Vec<(u32, u32)> = Vec::with_capacity(parts.len() * CHUNK);
        for (prefix, list) in table.iter_part(parts.clone()) {
            for path in list.iter() {
                if let Some(attrs) = path.accepted() {
                    let k = *sets.entry((path.source, attrs.addr())).or_insert_with(|| {
                        batches.push((path.source, attrs.clone(), Vec::new()));
                        batches.len() - 1
                    });
                    let prefixes = &mut batches[k].2;
                    order.push((k as u32, prefixes.len() as u32));
                    prefixes.push(prefix);
                }
            }
        }
        drop(sets);
        let mut decided: Vec<Vec<Option<Arc<ExportDecision>>>> = Vec::with_capacity(batches.len());
        let mut answers = Vec::new();
        // Many sets per question to the policy (one WebAssembly call for
        // many sets); a set whose source is gone gets no decisions.
        for chunk in batches.chunks(EXPORT_SETS_PER_CALL) {
            let sets: Vec<ExportSet<'_>> = chunk
                .iter()
                .filter_map(|(source, attrs, prefixes)| {
                    let slot = peers.get(*source)?;
                    Some(ExportSet {
                        source: &slot.info,
                        attrs,
                        prefixes,
                    })
                })
                .collect();
            answers.clear();
            // Without one answer per prefix, every prefix of the chunk is
            // asked alone in the second walk.
            decide_sets(export, &sets, &mut answers);
            let mut answers = answers.drain(..);
            for (source, _, prefixes) in chunk {
                let mut stored = Vec::with_capacity(prefixes.len());
                if peers.get(*source).is_some() {
                    // Equal decisions of one set share one stored copy.
                    let mut last: Option<Arc<ExportDecision>> = None;
                    for decision in answers.by_ref().take(prefixes.len()) {
                        let new = match &last {
                            Some(seen) if **seen == decision => Some(seen.clone()),
                            _ => cache_targets(decision),
                        };
                        if new.is_some() {
                            last.clone_from(&new);
                        }
                        stored.push(new);
                    }
                }
                decided.push(stored);
            }
        }
        let mut order = order.into_iter();
        // Per path: its new decision, or `None` when it keeps the one it has.
        let mut fresh: Vec<Option<Option<Arc<ExportDecision>>>> = Vec::new();
        let mut staged: Vec<Option<(Attrs, Option<Arc<PathExtra>>)>> = Vec::new();
        let mut total = 0;
        for (prefix, list) in table.iter_part_mut(parts) {
            fresh.clear();
            let mut changed = false;
            for path in list.iter() {
                let targets = match path.accepted() {
                    Some(attrs) => {
                        let targets = path.targets();
                        let known = order.next().and_then(|(k, i)| {
                            let (from, set, prefixes) = batches.get(k as usize)?;
                            let same = *from == path.source
                                && Attrs::ptr_eq(set, attrs)
                                && prefixes.get(i as usize) == Some(&prefix);
                            same.then(|| decided.get(k as usize)?.get(i as usize).cloned())?
                        });
                        match peers.get(path.source) {
                            Some(source) => {
                                // Only if the walks disagreed, which they cannot.
                                let new = known.unwrap_or_else(|| {
                                    cache_targets(export.targets(&source.info, &prefix, attrs))
                                });
                                if new.as_ref() == targets {
                                    None
                                } else {
                                    changed = true;
                                    total += 1;
                                    Some(new)
                                }
                            }
                            None => None,
                        }
                    }
                    None => None,
                };
                fresh.push(targets);
            }
            if !changed {
                continue;
            }
            // Stored forms first (`edit_list` holds the scratch space).
            staged.clear();
            for (path, new) in list.iter().zip(fresh.drain(..)) {
                staged.push(new.zip(path.accepted()).map(|(targets, attrs)| {
                    let state = PathState::Accepted {
                        attrs: attrs.clone(),
                        targets,
                    };
                    scratch.stored.store(path.received().clone(), state)
                }));
            }
            edit_list(peers, scratch, prefix, list, out, |list, _| {
                for (path, new) in list.iter_mut().zip(staged.drain(..)) {
                    if let Some((attrs, extra)) = new {
                        path.attrs = attrs;
                        path.extra = extra;
                    }
                }
            });
        }
        total
    }

    /// After an import policy, IRR or RPKI change: runs `import` again over
    /// the retained pre-policy paths of `peer` (or of every peer), and emits
    /// what changes for each client. `export` is asked for newly accepted paths.
    /// Returns the number of paths whose verdict, attributes or export
    /// decision changed.
    pub fn reevaluate_import(
        &mut self,
        peer: Option<PeerId>,
        import: &mut dyn FnMut(&PeerInfo, &Nlri, &Attrs) -> ImportVerdict,
        export: &dyn ExportPolicy,
        out: &mut impl OutSink,
    ) -> usize {
        let Some(peer) = peer else {
            return self.reevaluate_import_where(&|_| true, import, export, out);
        };
        let Rib {
            peers,
            table,
            scratch,
            ..
        } = self;
        let mut fresh = Vec::new();
        let mut changed = 0;
        let Some(slot) = peers.get(peer) else { return 0 };
        // The peer's index does not change (no path is added or removed).
        let prefixes: Vec<PrefixId> = slot.prefixes.iter().collect();
        for prefix_id in prefixes {
            if let Some((prefix, list)) = table.at_mut(prefix_id) {
                changed += reimport_list(
                    peers,
                    scratch,
                    prefix,
                    list,
                    Some(peer),
                    import,
                    export,
                    &mut fresh,
                    out,
                );
            }
        }
        changed
    }

    /// [`Rib::reevaluate_import`] for the paths, from every peer, of the
    /// prefixes `affected` selects: after an RPKI change, only routes covered
    /// by a changed VRP can change state.
    pub fn reevaluate_import_where(
        &mut self,
        affected: &dyn Fn(&IpNet) -> bool,
        import: &mut dyn FnMut(&PeerInfo, &Nlri, &Attrs) -> ImportVerdict,
        export: &dyn ExportPolicy,
        out: &mut impl OutSink,
    ) -> usize {
        let Rib {
            peers,
            table,
            scratch,
            ..
        } = self;
        let mut fresh = Vec::new();
        let mut changed = 0;
        for (prefix, list) in table.iter_mut() {
            if affected(&prefix) {
                changed += reimport_list(
                    peers, scratch, prefix, list, None, import, export, &mut fresh, out,
                );
            }
        }
        changed
    }

    /// What to send `client` right after it came up: everything selected for it.
    /// Grouping by attribute set into UPDATEs is the caller's.
    pub fn initial_table(&self, client: PeerId) -> Vec<(Nlri, Attrs)> {
        let mut selected = Vec::new();
        let Some(receiver) = self.peers.receiver(client) else {
            return selected;
        };
        let mut scratch = Default::default();
        for (prefix, list) in self.table.iter() {
            select(prefix, list, receiver, &self.peers, &mut scratch, &mut selected);
        }
        selected
    }

    /// What `client` holds for `prefix` now (empty if it is not up).
    pub fn selected_for(&self, client: PeerId, prefix: &IpNet) -> Vec<(Nlri, Attrs)> {
        let mut selected = Vec::new();
        if let (Some(receiver), Some(list)) = (self.peers.receiver(client), self.table.get(prefix)) {
            select(
                *prefix,
                list,
                receiver,
                &self.peers,
                &mut Default::default(),
                &mut selected,
            );
        }
        selected
    }

    /// `peer`'s Adj-RIB-In: every path it sent that is still held, accepted or
    /// not, in no particular order.
    pub fn adj_rib_in(&self, peer: PeerId) -> impl Iterator<Item = PathView<'_>> {
        self.peers
            .get(peer)
            .into_iter()
            .flat_map(|slot| slot.prefixes.iter())
            .filter_map(|id| self.table.at(id))
            .flat_map(move |(prefix, list)| {
                list.iter()
                    .filter(move |p| p.source == peer)
                    .map(move |p| p.view(prefix))
            })
    }

    /// Every path, from all peers, of the prefixes `affected` selects.
    pub fn paths_where<'a>(
        &'a self,
        affected: &'a dyn Fn(&IpNet) -> bool,
    ) -> impl Iterator<Item = PathView<'a>> + 'a {
        self.table
            .iter()
            .filter(move |(prefix, _)| affected(prefix))
            .flat_map(|(prefix, list)| list.iter().map(move |p| p.view(prefix)))
    }

    /// Every candidate path for `prefix`, from all peers.
    pub fn paths(&self, prefix: &IpNet) -> Vec<PathView<'_>> {
        self.table
            .get(prefix)
            .into_iter()
            .flat_map(|list| list.iter())
            .map(|p| p.view(*prefix))
            .collect()
    }

    /// The overall best path for `prefix` (what a client that may receive
    /// every path, and sent none of them, would get).
    pub fn best(&self, prefix: &IpNet) -> Option<PathView<'_>> {
        let list = self.table.get(prefix)?;
        let mut ranking = Ranking::default();
        rank(&mut ranking, list, |id| self.peers.ident(id));
        ranking.overall_best().map(|i| list[i].view(*prefix))
    }

    /// Route counts of `peer`'s Adj-RIB-In (zero for an unknown peer).
    pub fn counts(&self, peer: PeerId) -> PeerCounts {
        self.peers.get(peer).map(|s| s.counts).unwrap_or_default()
    }

    /// What the daemon told us about `peer`, if it was ever up.
    pub fn peer_info(&self, peer: PeerId) -> Option<&PeerInfo> {
        self.peers.get(peer).map(|s| &s.info)
    }

    /// Whether `peer` is up (receives changes, may announce).
    pub fn is_up(&self, peer: PeerId) -> bool {
        self.peers.get(peer).is_some_and(|s| s.up)
    }

    /// Number of prefixes with at least one path.
    pub fn prefix_count(&self) -> usize {
        self.table.len()
    }

    /// Number of paths held, accepted or not.
    pub fn path_count(&self) -> usize {
        self.table.iter().map(|(_, list)| list.len()).sum()
    }

    /// The number of paths held, from the per-peer counters: what
    /// [`Rib::path_count`] counts, without walking the table.
    pub fn paths_held(&self) -> usize {
        self.peers
            .slots
            .iter()
            .flatten()
            .map(|s| s.counts.ipv4.received + s.counts.ipv6.received)
            .sum()
    }

    fn stop_receiving(&mut self, peer: PeerId) {
        if let Some(slot) = self.peers.get_mut(peer) {
            slot.up = false;
        }
        self.peers.set_receiver(None, peer);
    }

    /// Applies `action` to each of `peer`'s paths, emitting the changes.
    /// Returns (paths removed, paths marked stale).
    fn for_each_path_of(
        &mut self,
        peer: PeerId,
        action: impl Fn(&IpNet, &Path) -> PathAction,
        out: &mut impl OutSink,
    ) -> (usize, usize) {
        let Rib {
            peers,
            table,
            scratch,
            ..
        } = self;
        let Some(slot) = peers.get_mut(peer) else {
            return (0, 0);
        };
        let index = mem::take(&mut slot.prefixes);
        let (mut removed, mut marked) = (0, 0);
        // The ids of prefixes where the peer keeps a path, rebuilt by appending
        // in the walk's ascending order (removing ids one by one would shift
        // the rest of their container each time).
        let mut kept = RoaringBitmap::new();
        let mut visit = |prefix_id: PrefixId| {
            let Some((prefix, list)) = table.at_mut(prefix_id) else {
                return false;
            };
            let prefix = &prefix;
            let acts = |p: &Path| p.source == peer && action(prefix, p) != PathAction::Keep;
            if !list.iter().any(acts) {
                return true;
            }
            let family = family_of(prefix);
            edit_list(peers, scratch, *prefix, list, out, |list, peers| {
                let Some(slot) = peers.get_mut(peer) else { return };
                list.retain_mut(|p| {
                    if p.source != peer {
                        return true;
                    }
                    match action(prefix, p) {
                        PathAction::Keep => true,
                        PathAction::Remove => {
                            slot.counts.track(family, p, false);
                            removed += 1;
                            false
                        }
                        PathAction::MarkStale => {
                            slot.counts.track(family, p, false);
                            p.local_id |= STALE;
                            slot.counts.track(family, p, true);
                            marked += 1;
                            true
                        }
                    }
                });
            });
            let still_has_paths = list.iter().any(|p| p.source == peer);
            table.tidy(prefix_id);
            still_has_paths
        };
        for prefix_id in &index {
            // The walk is in ascending order, so appending always succeeds.
            if visit(prefix_id) && kept.try_push(prefix_id).is_err() {
                kept.insert(prefix_id);
            }
        }
        if let Some(slot) = peers.get_mut(peer) {
            slot.prefixes = kept;
        }
        (removed, marked)
    }
}

/// Runs `edit` on the candidate list of `prefix` and emits what changes for
/// every client. Nothing is copied when no client receives this family.
fn edit_list(
    peers: &mut Peers,
    scratch: &mut Scratch,
    prefix: IpNet,
    list: &mut PathList,
    out: &mut impl OutSink,
    edit: impl FnOnce(&mut PathList, &mut Peers),
) {
    let diffing = peers.receiving(family_of(&prefix));
    let mut before = mem::take(&mut scratch.before);
    if diffing {
        before.extend_from_slice(list);
    }
    edit(list, peers);
    if diffing {
        emit_diff(prefix, &before, list, peers, None, scratch, out);
    }
    // Release the Arcs now, so that the interner's sweep sees true counts.
    before.clear();
    scratch.before = before;
}

fn rank(ranking: &mut Ranking, list: &[Path], ident: impl Fn(PeerId) -> SourceIdent) {
    ranking.rebuild(
        list.iter()
            .enumerate()
            .filter_map(|(i, p)| Some((i, p.rank_key(ident(p.source))?))),
    );
}

/// Emits, for every receiver, the difference between its selection from
/// `before` and from `after`. `before_ident` overrides one source's identity
/// in `before` (used when a peer comes back with a new BGP Identifier).
fn emit_diff(
    prefix: IpNet,
    before: &[Path],
    after: &[Path],
    peers: &Peers,
    before_ident: Option<(PeerId, SourceIdent)>,
    scratch: &mut Scratch,
    out: &mut impl OutSink,
) {
    let family = family_of(&prefix);
    let nlri = Nlri {
        prefix,
        path_id: None,
    };
    let all = &peers.best[family];
    if !all.is_empty() {
        let (before_ranking, after_ranking) = (&mut scratch.before_ranking, &mut scratch.after_ranking);
        rank(before_ranking, before, |id| match before_ident {
            Some((p, ident)) if p == id => ident,
            _ => peers.ident(id),
        });
        rank(after_ranking, after, |id| peers.ident(id));
        // Every client that no path singles out (most of them, at an IXP)
        // gets the same change: decided once and pushed once for all of
        // them, rather than once per client; the few singled out are
        // decided one by one.
        let singled_out = &mut scratch.singled_out;
        singled_out.clear();
        for path in before.iter().chain(after) {
            path.singled_out(|client| {
                if all.binary_search(&client).is_ok() {
                    singled_out.push(client);
                }
            });
        }
        singled_out.sort_unstable();
        singled_out.dedup();
        let old = selected(before_ranking, before, Path::usual_offer);
        let new = selected(after_ranking, after, Path::usual_offer);
        if !same_attrs(old, new) {
            out.push_change_all_but(all, singled_out, nlri, new);
        }
        for &client in singled_out.iter() {
            let old = selected(before_ranking, before, |p| p.offer(client));
            let new = selected(after_ranking, after, |p| p.offer(client));
            if !same_attrs(old, new) {
                out.push_change(client, nlri, new);
            }
        }
    }
    let add_path = &peers.add_path[family];
    if add_path.is_empty() {
        return;
    }
    // Both lists are sorted by local path id: walk them together. Per path,
    // its clients one after another, so that their equal changes (most)
    // become one entry of `OutChanges` with a list of receivers.
    let (mut i, mut j) = (0, 0);
    loop {
        let (id, old, new) = match (before.get(i), after.get(j)) {
            (Some(b), Some(a)) if b.local_path_id() == a.local_path_id() => {
                i += 1;
                j += 1;
                (a.local_path_id(), Some(b), Some(a))
            }
            (Some(b), a) if a.is_none_or(|a| b.local_path_id() < a.local_path_id()) => {
                i += 1;
                (b.local_path_id(), Some(b), None)
            }
            (_, Some(a)) => {
                j += 1;
                (a.local_path_id(), None, Some(a))
            }
            (_, None) => break,
        };
        let nlri = Nlri {
            prefix,
            path_id: Some(id),
        };
        for &client in add_path {
            let old = old.and_then(|p| p.offer(client));
            let new = new.and_then(|p| p.offer(client));
            if !same_attrs(old, new) {
                out.push_change(client, nlri, new);
            }
        }
    }
}

/// What a client that `offer` describes holds from `list`: the best of the
/// paths offered to it, as offered.
fn selected<'a>(
    ranking: &Ranking,
    list: &'a [Path],
    offer: impl Fn(&'a Path) -> Option<&'a Attrs>,
) -> Option<&'a Attrs> {
    ranking
        .best_for(|i| list.get(i).and_then(&offer).is_some())
        .and_then(|i| list.get(i).and_then(&offer))
}

/// Appends what `receiver` holds for `prefix`. Runs the full decision process
/// over the paths it may receive, independently of the ranking shortcut that
/// [`emit_diff`] takes, so tests can check one against the other.
fn select(
    prefix: IpNet,
    list: &[Path],
    receiver: &Receiver,
    peers: &Peers,
    scratch: &mut (Vec<RankKey>, Vec<usize>),
    selected: &mut Vec<(Nlri, Attrs)>,
) {
    let client = receiver.id;
    match receiver.modes[family_of(&prefix)] {
        SendMode::Off => {}
        SendMode::Best => {
            let (keys, slots) = (&mut scratch.0, &mut scratch.1);
            keys.clear();
            slots.clear();
            for (i, p) in list.iter().enumerate() {
                if p.offer(client).is_some()
                    && let Some(key) = p.rank_key(peers.ident(p.source))
                {
                    keys.push(key);
                    slots.push(i);
                }
            }
            if let Some(best) = decision::best(keys, |_| true)
                && let Some(attrs) = list[slots[best]].offer(client)
            {
                selected.push((
                    Nlri {
                        prefix,
                        path_id: None,
                    },
                    attrs.clone(),
                ));
            }
        }
        SendMode::AddPath => {
            for p in list {
                if let Some(attrs) = p.offer(client) {
                    selected.push((
                        Nlri {
                            prefix,
                            path_id: Some(p.local_path_id()),
                        },
                        attrs.clone(),
                    ));
                }
            }
        }
    }
}

/// Runs the import policy again over the paths of `list` (those of `scope`,
/// or all), and applies and emits the changes if any verdict changed.
#[allow(clippy::too_many_arguments)]
fn reimport_list(
    peers: &mut Peers,
    scratch: &mut Scratch,
    prefix: IpNet,
    list: &mut PathList,
    scope: Option<PeerId>,
    import: &mut dyn FnMut(&PeerInfo, &Nlri, &Attrs) -> ImportVerdict,
    export: &dyn ExportPolicy,
    fresh: &mut Vec<Option<(PathState, u32)>>,
    out: &mut impl OutSink,
) -> usize {
    fresh.clear();
    let mut changed = 0;
    for path in list.iter() {
        let source = match peers.get(path.source) {
            Some(source) if scope.is_none_or(|s| s == path.source) => source,
            _ => {
                fresh.push(None);
                continue;
            }
        };
        let nlri = Nlri {
            prefix,
            path_id: path.remote_path_id(),
        };
        let verdict = import(&source.info, &nlri, path.received());
        let (state, local_pref) = import_state(&source.info, &prefix, verdict, export);
        let old = path.state();
        let same = match (&state, &old) {
            (PathState::Accepted { .. }, PathState::Accepted { .. }) => {
                state == old && local_pref == path.local_pref
            }
            _ => state == old,
        };
        changed += usize::from(!same);
        // An unchanged path keeps what it stores (and shares).
        fresh.push((!same).then_some((state, local_pref)));
    }
    if changed == 0 {
        return 0;
    }
    let family = family_of(&prefix);
    // Stored forms first (`edit_list` holds the scratch space).
    let staged: Vec<_> = list
        .iter()
        .zip(fresh.drain(..))
        .map(|(path, new)| {
            new.map(|(state, local_pref)| {
                let (attrs, extra) = scratch.stored.store(path.received().clone(), state);
                (attrs, extra, local_pref)
            })
        })
        .collect();
    edit_list(peers, scratch, prefix, list, out, |list, peers| {
        for (path, new) in list.iter_mut().zip(staged) {
            let (Some((attrs, extra, local_pref)), Some(slot)) = (new, peers.get_mut(path.source)) else {
                continue;
            };
            slot.counts.track(family, path, false);
            path.attrs = attrs;
            path.extra = extra;
            path.local_pref = local_pref;
            slot.counts.track(family, path, true);
        }
    });
    changed
}

#[cfg(test)]
mod tests;
