//! Attribute sets and their interner.
//!
//! Most prefixes of a client share one attribute set (one UPDATE, many NLRI),
//! so the RIB stores shared, interned sets instead of copies.
//!
//! **Why a compact block.** A route server holds one set per distinct
//! attribute combination of every member: with ~3 prefixes per set, the sets
//! were half of kumo's memory per path when they were a [`PathAttributes`]
//! in an `Arc` (a 112-octet block plus one heap block per AS_PATH, community
//! list and MP next hop: ~210 octets per set, BENCHMARKS.md session 8). An
//! interned set ([`Attrs`]) is now one heap block behind a thin pointer: a
//! 16-octet header of presence bits and list lengths, then only the values
//! that are present, as 32-bit words (~90 octets for a typical IPv4 set).
//! Reading a field is an offset computed from the presence bits; the rare
//! attributes (extended communities, unknown ones) sit at the end of the
//! block. [`RouteAttrs`] stays the owned, editable form: decoding, policies
//! and the encoder work on it, and [`Attrs::to_route_attrs`] gives it back.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::net::{Ipv4Addr, Ipv6Addr};

use hashbrown::HashTable;
use kumo_wire::{
    Aggregator, AsPath, AsPathSegments, LargeCommunity, MpNextHop, Origin, PathAttributes, RawAttribute,
    ThinVec,
};
use triomphe::ThinArc;

/// A whole attribute set as received or as rewritten by an import policy,
/// including the next hop of MP_REACH_NLRI (which the wire types keep apart).
/// The owned, editable form of an [`Attrs`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct RouteAttrs {
    pub attrs: PathAttributes,
    /// Next hop from MP_REACH_NLRI; `None` for IPv4 routes carried in the
    /// classic NLRI field (their next hop is `attrs.next_hop`).
    pub mp_next_hop: Option<MpNextHop>,
}

impl RouteAttrs {
    /// `attrs` with the MP_REACH_NLRI next hop `mp_next_hop`, if any.
    pub fn new(attrs: PathAttributes, mp_next_hop: Option<MpNextHop>) -> Self {
        RouteAttrs { attrs, mp_next_hop }
    }

    /// The MP_REACH_NLRI next hop, if the set has one.
    pub fn mp_next_hop(&self) -> Option<MpNextHop> {
        self.mp_next_hop
    }
}

/// Presence bits of [`Head::bits`] and, for the scalar attributes, the order
/// of their words at the start of the block.
mod bit {
    pub const NEXT_HOP: u32 = 1 << 0;
    pub const MED: u32 = 1 << 1;
    pub const LOCAL_PREF: u32 = 1 << 2;
    pub const OTC: u32 = 1 << 3;
    /// One word each, in this order, first in the block.
    pub const SCALARS: u32 = NEXT_HOP | MED | LOCAL_PREF | OTC;
    /// Two words (ASN, address) after the scalars.
    pub const AGGREGATOR: u32 = 1 << 4;
    /// The MP next hop after the aggregator: one word (IPv4), four (IPv6
    /// global) or eight (with a link-local address).
    pub const MP_V4: u32 = 1 << 5;
    pub const MP_V6: u32 = 1 << 6;
    pub const MP_LINK_LOCAL: u32 = 1 << 7;
    pub const ATOMIC_AGGREGATE: u32 = 1 << 8;
    /// AS_PATH present (its words may still be none: an empty path).
    pub const AS_PATH: u32 = 1 << 9;
    /// Extended communities or unknown attributes follow the large communities.
    pub const RARE: u32 = 1 << 10;
    /// ORIGIN present; its value in the two bits above.
    pub const ORIGIN: u32 = 1 << 11;
    pub const ORIGIN_SHIFT: u32 = 12;
}

/// The fixed part of an interned set: what is present and how long the lists
/// are. The words follow in the same heap block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
struct Head {
    bits: u32,
    /// Words of the AS_PATH (header words and ASNs, [`AsPath::words`]).
    path_words: u32,
    communities: u32,
    /// Large communities (three words each).
    large: u32,
}

/// Lengths are u32: a list longer than that cannot be in memory, let alone
/// in a BGP message (at most 65,535 octets).
fn len32(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

/// Write `r` as a header and words into `words` (cleared first).
fn freeze(r: &RouteAttrs, words: &mut Vec<u32>) -> Head {
    let a = &r.attrs;
    words.clear();
    let mut bits = 0;
    for (value, b) in [
        (a.next_hop.map(u32::from), bit::NEXT_HOP),
        (a.med, bit::MED),
        (a.local_pref, bit::LOCAL_PREF),
        (a.otc, bit::OTC),
    ] {
        if let Some(v) = value {
            bits |= b;
            words.push(v);
        }
    }
    if let Some(agg) = a.aggregator {
        bits |= bit::AGGREGATOR;
        words.extend([agg.asn, u32::from(agg.address)]);
    }
    match r.mp_next_hop() {
        None => {}
        Some(MpNextHop::V4(addr)) => {
            bits |= bit::MP_V4;
            words.push(u32::from(addr));
        }
        Some(MpNextHop::V6 { global, link_local }) => {
            bits |= bit::MP_V6;
            push_v6(words, global);
            if let Some(ll) = link_local {
                bits |= bit::MP_LINK_LOCAL;
                push_v6(words, ll);
            }
        }
    }
    if a.atomic_aggregate {
        bits |= bit::ATOMIC_AGGREGATE;
    }
    if let Some(origin) = a.origin {
        bits |= bit::ORIGIN | ((origin as u32) << bit::ORIGIN_SHIFT);
    }
    let mut path_words = 0;
    if let Some(path) = &a.as_path {
        bits |= bit::AS_PATH;
        path_words = len32(path.words().len());
        words.extend_from_slice(path.words());
    }
    words.extend_from_slice(&a.communities);
    for lc in &a.large_communities {
        words.extend([lc.global_admin, lc.local_data1, lc.local_data2]);
    }
    if !a.extended_communities.is_empty() || !a.unknown.is_empty() {
        bits |= bit::RARE;
        words.push(len32(a.extended_communities.len()));
        for c in &a.extended_communities {
            let v = u64::from_be_bytes(*c);
            words.extend([(v >> 32) as u32, v as u32]);
        }
        for raw in &a.unknown {
            words.extend([
                (u32::from(raw.flags) << 8) | u32::from(raw.type_code),
                len32(raw.value.len()),
            ]);
            words.extend(raw.value.chunks(4).map(|c| {
                let mut w = [0; 4];
                w[..c.len()].copy_from_slice(c);
                u32::from_le_bytes(w)
            }));
        }
    }
    Head {
        bits,
        path_words,
        communities: len32(a.communities.len()),
        large: len32(a.large_communities.len()),
    }
}

fn push_v6(words: &mut Vec<u32>, addr: Ipv6Addr) {
    let v = u128::from(addr);
    words.extend([(v >> 96) as u32, (v >> 64) as u32, (v >> 32) as u32, v as u32]);
}

fn v6(words: &[u32]) -> Option<Ipv6Addr> {
    match *words {
        [a, b, c, d, ..] => Some(Ipv6Addr::from(
            (u128::from(a) << 96) | (u128::from(b) << 64) | (u128::from(c) << 32) | u128::from(d),
        )),
        _ => None,
    }
}

/// A shared, immutable, interned attribute set (see the module docs for its
/// layout). Cloning it is a reference count; equality compares contents (the
/// pointer first).
#[derive(Clone)]
pub struct Attrs(ThinArc<Head, u32>);

impl Attrs {
    /// `r` in its own block, not shared with equal sets (the interner shares).
    pub fn new(r: &RouteAttrs) -> Self {
        let mut words = Vec::new();
        let head = freeze(r, &mut words);
        Attrs(ThinArc::from_header_and_slice(head, &words))
    }

    fn head(&self) -> &Head {
        &self.0.header.header
    }

    fn words(&self) -> &[u32] {
        &self.0.slice
    }

    fn has(&self, b: u32) -> bool {
        self.head().bits & b != 0
    }

    /// Do `a` and `b` point to the same block?
    pub fn ptr_eq(a: &Attrs, b: &Attrs) -> bool {
        a.0.as_ptr() == b.0.as_ptr()
    }

    /// The block's address: an identity for maps keyed by set while the set is held.
    pub fn addr(&self) -> usize {
        self.0.as_ptr() as usize
    }

    /// How many holders the block has.
    pub fn strong_count(this: &Attrs) -> usize {
        ThinArc::strong_count(&this.0)
    }

    /// Size of the heap block, for memory accounting.
    pub fn heap_size(&self) -> usize {
        // Reference count and slice length (8 octets each), header, words.
        16 + std::mem::size_of::<Head>() + 4 * self.words().len()
    }

    fn scalar(&self, b: u32) -> Option<u32> {
        let bits = self.head().bits;
        if bits & b == 0 {
            return None;
        }
        let index = (bits & bit::SCALARS & (b - 1)).count_ones() as usize;
        self.words().get(index).copied()
    }

    /// Where the aggregator, the MP next hop and the lists start.
    fn offsets(&self) -> Offsets {
        let h = self.head();
        let aggregator = (h.bits & bit::SCALARS).count_ones() as usize;
        let mp = aggregator + if h.bits & bit::AGGREGATOR != 0 { 2 } else { 0 };
        let mp_words = if h.bits & bit::MP_V4 != 0 {
            1
        } else if h.bits & bit::MP_LINK_LOCAL != 0 {
            8
        } else if h.bits & bit::MP_V6 != 0 {
            4
        } else {
            0
        };
        let path = mp + mp_words;
        let communities = path + h.path_words as usize;
        let large = communities + h.communities as usize;
        let rare = large + 3 * h.large as usize;
        Offsets {
            aggregator,
            mp,
            path,
            communities,
            large,
            rare,
        }
    }

    /// `words[from..to]`, empty when out of range (never for a block this
    /// module wrote).
    fn span(&self, from: usize, to: usize) -> &[u32] {
        self.words().get(from..to).unwrap_or_default()
    }

    pub fn origin(&self) -> Option<Origin> {
        if !self.has(bit::ORIGIN) {
            return None;
        }
        Some(match (self.head().bits >> bit::ORIGIN_SHIFT) & 3 {
            0 => Origin::Igp,
            1 => Origin::Egp,
            _ => Origin::Incomplete,
        })
    }

    /// The NEXT_HOP attribute (IPv4 routes in the classic NLRI field).
    pub fn next_hop(&self) -> Option<Ipv4Addr> {
        self.scalar(bit::NEXT_HOP).map(Ipv4Addr::from)
    }

    pub fn med(&self) -> Option<u32> {
        self.scalar(bit::MED)
    }

    pub fn local_pref(&self) -> Option<u32> {
        self.scalar(bit::LOCAL_PREF)
    }

    pub fn otc(&self) -> Option<u32> {
        self.scalar(bit::OTC)
    }

    pub fn atomic_aggregate(&self) -> bool {
        self.has(bit::ATOMIC_AGGREGATE)
    }

    pub fn aggregator(&self) -> Option<Aggregator> {
        if !self.has(bit::AGGREGATOR) {
            return None;
        }
        let at = self.offsets().aggregator;
        match *self.span(at, at + 2) {
            [asn, address] => Some(Aggregator {
                asn,
                address: Ipv4Addr::from(address),
            }),
            _ => None,
        }
    }

    /// The MP_REACH_NLRI next hop, if the set has one.
    pub fn mp_next_hop(&self) -> Option<MpNextHop> {
        let at = self.offsets().mp;
        let words = self.words().get(at..).unwrap_or_default();
        if self.has(bit::MP_V4) {
            return words.first().map(|&w| MpNextHop::V4(Ipv4Addr::from(w)));
        }
        if !self.has(bit::MP_V6) {
            return None;
        }
        let global = v6(words)?;
        let link_local = if self.has(bit::MP_LINK_LOCAL) {
            Some(v6(words.get(4..).unwrap_or_default())?)
        } else {
            None
        };
        Some(MpNextHop::V6 { global, link_local })
    }

    /// The AS_PATH's segments, if the set has an AS_PATH.
    pub fn as_path_segments(&self) -> Option<AsPathSegments<'_>> {
        self.as_path_words().map(AsPathSegments::of_words)
    }

    /// The AS_PATH as an owned value.
    pub fn as_path(&self) -> Option<AsPath> {
        self.as_path_words().map(AsPath::from_words)
    }

    /// The AS_PATH's words ([`AsPath::words`]), if the set has an AS_PATH.
    fn as_path_words(&self) -> Option<&[u32]> {
        if !self.has(bit::AS_PATH) {
            return None;
        }
        let o = self.offsets();
        Some(self.span(o.path, o.communities))
    }

    /// RFC 1997 communities, in received order.
    pub fn communities(&self) -> &[u32] {
        let o = self.offsets();
        self.span(o.communities, o.large)
    }

    /// RFC 8092 large communities, in received order.
    pub fn large_communities(&self) -> impl ExactSizeIterator<Item = LargeCommunity> + '_ {
        let o = self.offsets();
        self.span(o.large, o.rare)
            .chunks_exact(3)
            .map(|c| LargeCommunity {
                global_admin: c[0],
                local_data1: c[1],
                local_data2: c[2],
            })
    }

    /// Extended communities and unknown attributes (the rare tail).
    fn rare(&self) -> (ThinVec<[u8; 8]>, ThinVec<RawAttribute>) {
        if !self.has(bit::RARE) {
            return (ThinVec::new(), ThinVec::new());
        }
        let words = self.words().get(self.offsets().rare..).unwrap_or_default();
        let Some((&count, mut rest)) = words.split_first() else {
            return (ThinVec::new(), ThinVec::new());
        };
        let count = (count as usize).min(rest.len() / 2);
        let extended = rest[..2 * count]
            .chunks_exact(2)
            .map(|c| ((u64::from(c[0]) << 32) | u64::from(c[1])).to_be_bytes())
            .collect();
        rest = &rest[2 * count..];
        let mut unknown = ThinVec::new();
        while let [head, len, tail @ ..] = rest {
            let len = *len as usize;
            let n = len.div_ceil(4).min(tail.len());
            let mut value: Vec<u8> = tail[..n].iter().flat_map(|w| w.to_le_bytes()).collect();
            value.truncate(len);
            unknown.push(RawAttribute {
                flags: (head >> 8) as u8,
                type_code: *head as u8,
                value,
            });
            rest = &tail[n..];
        }
        (extended, unknown)
    }

    /// The attributes other than the MP next hop, as an owned, editable value.
    pub fn path_attributes(&self) -> PathAttributes {
        let (extended, unknown) = self.rare();
        PathAttributes {
            origin: self.origin(),
            as_path: self.as_path(),
            next_hop: self.next_hop(),
            med: self.med(),
            local_pref: self.local_pref(),
            atomic_aggregate: self.atomic_aggregate(),
            aggregator: self.aggregator(),
            communities: self.communities().into(),
            extended_communities: extended,
            large_communities: self.large_communities().collect(),
            otc: self.otc(),
            unknown,
        }
    }

    /// The whole set as an owned, editable value.
    pub fn to_route_attrs(&self) -> RouteAttrs {
        RouteAttrs::new(self.path_attributes(), self.mp_next_hop())
    }
}

struct Offsets {
    aggregator: usize,
    mp: usize,
    path: usize,
    communities: usize,
    large: usize,
    rare: usize,
}

impl From<RouteAttrs> for Attrs {
    fn from(r: RouteAttrs) -> Self {
        Attrs::new(&r)
    }
}

impl PartialEq for Attrs {
    fn eq(&self, other: &Self) -> bool {
        Attrs::ptr_eq(self, other) || (self.head() == other.head() && self.words() == other.words())
    }
}

impl Eq for Attrs {}

impl Hash for Attrs {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (self.head(), self.words()).hash(state);
    }
}

impl fmt::Debug for Attrs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.to_route_attrs().fmt(f)
    }
}

impl Default for Attrs {
    fn default() -> Self {
        Attrs::new(&RouteAttrs::default())
    }
}

/// Deduplicates attribute sets so that equal sets share one block.
///
/// Entries stay until [`AttrInterner::sweep`] finds that nothing else holds them.
#[derive(Default)]
pub struct AttrInterner {
    sets: HashTable<Attrs>,
    hasher: ahash::RandomState,
    /// The words of the set being looked up, reused between calls.
    scratch: Vec<u32>,
}

impl fmt::Debug for AttrInterner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AttrInterner")
            .field("sets", &self.sets.len())
            .finish()
    }
}

impl AttrInterner {
    pub fn new() -> Self {
        Self::default()
    }

    /// The shared copy of `attrs`, creating it on first sight.
    pub fn intern(&mut self, attrs: RouteAttrs) -> Attrs {
        self.intern_ref(&attrs)
    }

    /// Like [`intern`](Self::intern), for a borrowed set.
    pub fn intern_ref(&mut self, attrs: &RouteAttrs) -> Attrs {
        let head = freeze(attrs, &mut self.scratch);
        let hash = self.hasher.hash_one((&head, &self.scratch[..]));
        let words = &self.scratch;
        if let Some(shared) = self
            .sets
            .find(hash, |a| *a.head() == head && a.words() == &words[..])
        {
            return shared.clone();
        }
        let shared = Attrs(ThinArc::from_header_and_slice(head, words));
        self.insert(hash, shared.clone());
        shared
    }

    /// Like [`intern`](Self::intern) for a set already in a block (e.g. a
    /// policy's output), reusing that block when the set is new.
    pub fn intern_arc(&mut self, attrs: Attrs) -> Attrs {
        let hash = self.hasher.hash_one((attrs.head(), attrs.words()));
        if let Some(shared) = self.sets.find(hash, |a| *a == attrs) {
            return shared.clone();
        }
        self.insert(hash, attrs.clone());
        attrs
    }

    fn insert(&mut self, hash: u64, attrs: Attrs) {
        let hasher = &self.hasher;
        self.sets
            .insert_unique(hash, attrs, |a| hasher.hash_one((a.head(), a.words())));
    }

    /// Number of distinct attribute sets held.
    pub fn len(&self) -> usize {
        self.sets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sets.is_empty()
    }

    /// Drops sets that only the interner still references; returns how many.
    pub fn sweep(&mut self) -> usize {
        let before = self.sets.len();
        self.sets.retain(|a| Attrs::strong_count(a) > 1);
        before - self.sets.len()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use kumo_wire::testing::{self, AttrsOptions, UnknownAttrs};
    use kumo_wire::{AsPathSegment, thin_vec};
    use proptest::prelude::*;

    use super::*;

    fn with_med(med: u32) -> RouteAttrs {
        RouteAttrs {
            attrs: PathAttributes {
                med: Some(med),
                ..Default::default()
            },
            mp_next_hop: None,
        }
    }

    /// A set with every field kumo stores, for the round trips.
    fn everything() -> RouteAttrs {
        RouteAttrs::new(
            PathAttributes {
                origin: Some(Origin::Egp),
                as_path: Some(AsPath::from(vec![
                    AsPathSegment::Sequence(vec![64500, 64501]),
                    AsPathSegment::Set(vec![7, 8]),
                ])),
                next_hop: Some(Ipv4Addr::new(192, 0, 2, 1)),
                med: Some(10),
                local_pref: Some(200),
                atomic_aggregate: true,
                aggregator: Some(Aggregator {
                    asn: 4_200_000_000,
                    address: Ipv4Addr::new(198, 51, 100, 1),
                }),
                communities: thin_vec![0xFFFF_0000, 64500 << 16 | 1],
                extended_communities: thin_vec![[0, 2, 0xfd, 0xe8, 0, 0, 0, 1]],
                large_communities: thin_vec![LargeCommunity {
                    global_admin: 64500,
                    local_data1: 1,
                    local_data2: 2,
                }],
                otc: Some(64501),
                unknown: thin_vec![
                    RawAttribute {
                        flags: 0xc0,
                        type_code: 99,
                        value: vec![1, 2, 3, 4, 5],
                    },
                    RawAttribute {
                        flags: 0xe0,
                        type_code: 100,
                        value: vec![],
                    },
                ],
            },
            Some(MpNextHop::V6 {
                global: "2001:db8::1".parse().unwrap(),
                link_local: Some("fe80::1".parse().unwrap()),
            }),
        )
    }

    #[test]
    fn a_typical_ipv4_set_is_one_block_of_under_100_octets() {
        // BENCHMARKS.md's bytes per path depend on it: ~3 prefixes share a set.
        let r = RouteAttrs::new(
            PathAttributes {
                origin: Some(Origin::Igp),
                as_path: Some(AsPath::sequence(&[64500, 64501, 64502, 64503])),
                next_hop: Some(Ipv4Addr::new(192, 0, 2, 1)),
                med: Some(5),
                communities: thin_vec![64500 << 16 | 1, 64500 << 16 | 2],
                large_communities: thin_vec![LargeCommunity {
                    global_admin: 64500,
                    local_data1: 1,
                    local_data2: 2,
                }],
                ..Default::default()
            },
            None,
        );
        let a = Attrs::new(&r);
        assert_eq!(a.to_route_attrs(), r);
        assert!(a.heap_size() <= 96, "{}", a.heap_size());
        assert_eq!(std::mem::size_of::<Attrs>(), 8);
        assert_eq!(std::mem::size_of::<Option<Attrs>>(), 8);
    }

    #[test]
    fn every_field_reads_back() {
        let r = everything();
        let a = Attrs::new(&r);
        assert_eq!(a.to_route_attrs(), r);
        assert_eq!(a.origin(), Some(Origin::Egp));
        assert_eq!(a.next_hop(), Some(Ipv4Addr::new(192, 0, 2, 1)));
        assert_eq!(
            (a.med(), a.local_pref(), a.otc()),
            (Some(10), Some(200), Some(64501))
        );
        assert!(a.atomic_aggregate());
        assert_eq!(a.aggregator(), r.attrs.aggregator);
        assert_eq!(a.mp_next_hop(), r.mp_next_hop());
        assert_eq!(a.communities(), &r.attrs.communities[..]);
        assert_eq!(
            a.large_communities().collect::<Vec<_>>(),
            r.attrs.large_communities.to_vec()
        );
        assert_eq!(a.as_path_segments().unwrap().path_len(), 3);
        assert_eq!(a.as_path_segments().unwrap().first_asn(), Some(64500));
        let empty = Attrs::new(&RouteAttrs::default());
        assert_eq!(empty.to_route_attrs(), RouteAttrs::default());
        assert!(empty.as_path_segments().is_none() && empty.mp_next_hop().is_none());
    }

    #[test]
    fn an_empty_as_path_is_not_a_missing_one() {
        let r = RouteAttrs::new(
            PathAttributes {
                as_path: Some(AsPath::new()),
                ..Default::default()
            },
            Some(MpNextHop::V4(Ipv4Addr::new(192, 0, 2, 9))),
        );
        let a = Attrs::new(&r);
        assert_eq!(a.to_route_attrs(), r);
        assert_ne!(a, Attrs::default());
    }

    #[test]
    fn equal_sets_share_one_allocation_and_sweep_drops_unused() {
        let mut i = AttrInterner::new();
        let a = i.intern(with_med(1));
        let b = i.intern(with_med(1));
        let c = i.intern_arc(Attrs::new(&with_med(2)));
        let d = i.intern_arc(Attrs::new(&with_med(1)));
        assert!(Attrs::ptr_eq(&a, &b) && Attrs::ptr_eq(&a, &d));
        assert!(!Attrs::ptr_eq(&a, &c));
        assert_eq!(i.len(), 2);
        drop(c);
        assert_eq!(i.sweep(), 1);
        assert_eq!(i.len(), 1);
        drop((a, b, d));
        assert_eq!(i.sweep(), 1);
        assert!(i.is_empty());
    }

    /// Any set the RIB may be handed: unknown attributes of any flags and
    /// type code (the block must keep them octet for octet), with or without
    /// an MP next hop of either family.
    fn route_attrs() -> impl Strategy<Value = RouteAttrs> {
        let attrs = testing::path_attributes(AttrsOptions {
            max_segments: 2,
            max_segment_asns: 4,
            max_list_len: 3,
            unknown: UnknownAttrs::Any,
            ..Default::default()
        });
        (attrs, prop::option::of(testing::mp_next_hop())).prop_map(|(attrs, mp)| RouteAttrs::new(attrs, mp))
    }

    proptest! {
        #[test]
        fn a_set_reads_back_as_stored(r in route_attrs()) {
            let a = Attrs::new(&r);
            prop_assert_eq!(a.to_route_attrs(), r.clone());
            prop_assert_eq!(a.as_path_segments().map(|s| s.path_len()),
                r.attrs.as_path.as_ref().map(|p| p.path_len()));
        }

        #[test]
        fn sets_are_equal_exactly_when_their_values_are(x in route_attrs(), y in route_attrs()) {
            let mut i = AttrInterner::new();
            let (a, b) = (i.intern_ref(&x), i.intern_ref(&y));
            prop_assert_eq!(a == b, x == y);
            prop_assert_eq!(Attrs::ptr_eq(&a, &b), x == y);
            prop_assert_eq!(a == Attrs::new(&y), x == y);
        }
    }
}
