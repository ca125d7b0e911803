//! Proptest strategies for [`PathAttributes`] and MP next hops, shared by the
//! property tests of kumo-wire, kumo-policy and kumo-rib so the attribute
//! generator is written once. Built for kumo-wire's own tests and, for other
//! crates' tests, behind the `test-support` feature (which pulls in
//! proptest); never part of a normal build.
//!
//! The callers differ in which attribute sets they can take, which
//! [`AttrsOptions`] says: the codec round trip needs sets the wire can carry
//! ([`AttrsOptions::encodable`]), the policy encoding has no place for
//! unknown attributes ([`UnknownAttrs::None`]), and the RIB stores whatever it
//! is handed ([`UnknownAttrs::Any`]).

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;

use crate::{
    Aggregator, AsPath, AsPathSegment, LargeCommunity, MAX_SEGMENT_ASNS, MpNextHop, Origin, PathAttributes,
    RawAttribute, attr_type,
};

/// The attribute type codes the codec interprets (everything else is kept
/// raw in [`PathAttributes::unknown`]).
const INTERPRETED: &[u8] = &[
    attr_type::ORIGIN,
    attr_type::AS_PATH,
    attr_type::NEXT_HOP,
    attr_type::MULTI_EXIT_DISC,
    attr_type::LOCAL_PREF,
    attr_type::ATOMIC_AGGREGATE,
    attr_type::AGGREGATOR,
    attr_type::COMMUNITIES,
    attr_type::MP_REACH_NLRI,
    attr_type::MP_UNREACH_NLRI,
    attr_type::EXTENDED_COMMUNITIES,
    attr_type::AS4_PATH,
    attr_type::AS4_AGGREGATOR,
    attr_type::LARGE_COMMUNITIES,
    attr_type::OTC,
];

/// Which unknown attributes ([`PathAttributes::unknown`]) to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownAttrs {
    /// None: for consumers that never see them (the policy interface has no
    /// field for them, so they would be invisible to its properties).
    None,
    /// What the decoder yields and the encoder writes back unchanged: up to
    /// two, with distinct type codes the codec does not interpret, in
    /// ascending order, flags optional transitive partial (0xe0, what the
    /// encoder sets), values up to 299 octets (past the one-octet length).
    Encodable,
    /// Up to two with any flags and any type code (interpreted ones and
    /// repeats included) and values up to 8 octets: what a store must keep
    /// octet for octet without knowing what it is.
    Any,
}

/// The domain of [`path_attributes`]. Every optional attribute is present or
/// absent independently; the sizes below bound the lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttrsOptions {
    /// `true`: AS_PATHs with any segment anywhere and 4-octet ASNs.
    /// `false`: AS_PATHs a 2-octet session carries unchanged (RFC 6793):
    /// confederation segments only at the head and with 2-octet ASNs (they
    /// travel in AS_PATH only), the other segments AS_SEQUENCE or AS_SET.
    pub four_octet_as: bool,
    /// Most segments in an AS_PATH (besides the 2-octet head).
    pub max_segments: usize,
    /// Most ASNs in a segment (at least one: an empty segment is not kept,
    /// see [`AsPath::push`]). [`MAX_SEGMENT_ASNS`] reaches the wire's limit.
    pub max_segment_asns: usize,
    /// Most entries in each of the community lists (RFC 1997, 4360, 8092).
    pub max_list_len: usize,
    /// Which unknown attributes to generate.
    pub unknown: UnknownAttrs,
}

impl Default for AttrsOptions {
    /// Attribute sets as kumo holds them in memory: 4-octet AS_PATHs, short
    /// lists, any unknown attributes.
    fn default() -> Self {
        AttrsOptions {
            four_octet_as: true,
            max_segments: 3,
            max_segment_asns: 7,
            max_list_len: 4,
            unknown: UnknownAttrs::Any,
        }
    }
}

impl AttrsOptions {
    /// Attribute sets a session with (`four_octet_as`) or without 4-octet AS
    /// support encodes and decodes back to the same value: segments up to the
    /// wire's 255 ASNs, [`UnknownAttrs::Encodable`] unknown attributes.
    pub fn encodable(four_octet_as: bool) -> Self {
        AttrsOptions {
            four_octet_as,
            max_segment_asns: MAX_SEGMENT_ASNS,
            unknown: UnknownAttrs::Encodable,
            ..AttrsOptions::default()
        }
    }
}

/// Any ORIGIN value.
pub fn origin() -> impl Strategy<Value = Origin> {
    prop_oneof![Just(Origin::Igp), Just(Origin::Egp), Just(Origin::Incomplete)]
}

/// An AS_PATH in the domain of `options` (its `four_octet_as`,
/// `max_segments` and `max_segment_asns`); possibly with no segment.
pub fn as_path(options: AttrsOptions) -> BoxedStrategy<AsPath> {
    let asns = 1..=options.max_segment_asns.max(1);
    let segments = 0..=options.max_segments;
    if options.four_octet_as {
        let segment =
            (0u8..4, prop::collection::vec(any::<u32>(), asns)).prop_map(|(kind, asns)| match kind {
                0 => AsPathSegment::Sequence(asns),
                1 => AsPathSegment::Set(asns),
                2 => AsPathSegment::ConfedSequence(asns),
                _ => AsPathSegment::ConfedSet(asns),
            });
        prop::collection::vec(segment, segments)
            .prop_map(AsPath::from)
            .boxed()
    } else {
        // Confederation segments travel in AS_PATH only (never AS4_PATH), so
        // RFC 6793 reconciliation keeps them at the head and with 2-octet ASNs.
        let head = (any::<bool>(), prop::collection::vec(1u32..65536, 1..4)).prop_map(|(set, asns)| {
            if set {
                AsPathSegment::ConfedSet(asns)
            } else {
                AsPathSegment::ConfedSequence(asns)
            }
        });
        let segment = (any::<bool>(), prop::collection::vec(any::<u32>(), asns)).prop_map(|(set, asns)| {
            if set {
                AsPathSegment::Set(asns)
            } else {
                AsPathSegment::Sequence(asns)
            }
        });
        (prop::option::of(head), prop::collection::vec(segment, segments))
            .prop_map(|(head, segments)| AsPath::from_segments(head.into_iter().chain(segments)))
            .boxed()
    }
}

/// Any RFC 8092 large community.
pub fn large_community() -> impl Strategy<Value = LargeCommunity> {
    any::<(u32, u32, u32)>().prop_map(|(global_admin, local_data1, local_data2)| LargeCommunity {
        global_admin,
        local_data1,
        local_data2,
    })
}

/// Unknown attributes of the kind `kind` says.
pub fn unknown_attributes(kind: UnknownAttrs) -> BoxedStrategy<Vec<RawAttribute>> {
    match kind {
        UnknownAttrs::None => Just(Vec::new()).boxed(),
        UnknownAttrs::Encodable => prop::collection::btree_map(
            any::<u8>().prop_filter("not an interpreted attribute", |t| !INTERPRETED.contains(t)),
            prop::collection::vec(any::<u8>(), 0..300),
            0..3,
        )
        .prop_map(|m: BTreeMap<u8, Vec<u8>>| {
            m.into_iter()
                .map(|(type_code, value)| RawAttribute {
                    flags: 0xe0,
                    type_code,
                    value,
                })
                .collect()
        })
        .boxed(),
        UnknownAttrs::Any => prop::collection::vec(
            (any::<u8>(), any::<u8>(), prop::collection::vec(any::<u8>(), 0..9)).prop_map(
                |(flags, type_code, value)| RawAttribute {
                    flags,
                    type_code,
                    value,
                },
            ),
            0..3,
        )
        .boxed(),
    }
}

/// Path attributes in the domain of `options`.
pub fn path_attributes(options: AttrsOptions) -> impl Strategy<Value = PathAttributes> {
    let list = 0..=options.max_list_len;
    (
        (
            prop::option::of(origin()),
            prop::option::of(as_path(options)),
            prop::option::of(any::<u32>().prop_map(Ipv4Addr::from)),
            prop::option::of(any::<u32>()),
            prop::option::of(any::<u32>()),
            any::<bool>(),
            prop::option::of(any::<(u32, u32)>().prop_map(|(asn, address)| Aggregator {
                asn,
                address: address.into(),
            })),
        ),
        (
            prop::collection::vec(any::<u32>(), list.clone()),
            prop::collection::vec(any::<[u8; 8]>(), list.clone()),
            prop::collection::vec(large_community(), list),
            prop::option::of(any::<u32>()),
            unknown_attributes(options.unknown),
        ),
    )
        .prop_map(
            |(
                (origin, as_path, next_hop, med, local_pref, atomic_aggregate, aggregator),
                (communities, extended_communities, large_communities, otc, unknown),
            )| PathAttributes {
                origin,
                as_path,
                next_hop,
                med,
                local_pref,
                atomic_aggregate,
                aggregator,
                communities: communities.into(),
                extended_communities: extended_communities.into(),
                large_communities: large_communities.into(),
                otc,
                unknown: unknown.into(),
            },
        )
}

/// An IPv6 MP_REACH_NLRI next hop: a global address, with or without a
/// link-local one (RFC 2545). The only kind an IPv6 route carries.
pub fn mp_next_hop_v6() -> impl Strategy<Value = MpNextHop> {
    (any::<u128>(), prop::option::of(any::<u128>())).prop_map(|(global, link_local)| MpNextHop::V6 {
        global: Ipv6Addr::from(global),
        link_local: link_local.map(Ipv6Addr::from),
    })
}

/// Any MP_REACH_NLRI next hop: IPv4 or [`mp_next_hop_v6`] (an IPv4 route
/// may carry either, RFC 8950).
pub fn mp_next_hop() -> impl Strategy<Value = MpNextHop> {
    prop_oneof![
        any::<u32>().prop_map(|a| MpNextHop::V4(Ipv4Addr::from(a))),
        mp_next_hop_v6()
    ]
}
