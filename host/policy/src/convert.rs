//! Conversions between kumo's wire types and the WIT types, and applying a
//! guest's modification to path attributes.

use std::net::IpAddr;

use ipnet::IpNet;
use kumo_wire::{AsPath, AsPathSegment, LargeCommunity, Origin, PathAttributes};

use crate::bindings::kumo::policy::types as t;

pub(crate) fn ip(address: IpAddr) -> t::IpAddress {
    match address {
        IpAddr::V4(a) => t::IpAddress::V4(u32::from(a)),
        IpAddr::V6(a) => {
            let bits = u128::from(a);
            t::IpAddress::V6(((bits >> 64) as u64, bits as u64))
        }
    }
}

/// The address a guest named.
pub(crate) fn address(address: t::IpAddress) -> IpAddr {
    match address {
        t::IpAddress::V4(a) => IpAddr::V4(a.into()),
        t::IpAddress::V6((high, low)) => IpAddr::V6(((u128::from(high) << 64) | u128::from(low)).into()),
    }
}

/// Refill `batch`'s columns with the prefixes at `positions` of `prefixes`
/// (the members of one group going down a chain). The columns are reused
/// between calls.
pub(crate) fn fill_batch(batch: &mut t::PrefixBatch, prefixes: &[IpNet], positions: &[u32]) {
    batch.high.clear();
    batch.low.clear();
    batch.lengths.clear();
    batch.families.clear();
    let n = positions.len();
    batch.high.reserve(n);
    batch.low.reserve(n);
    batch.lengths.reserve(n);
    batch.families.reserve(n);
    for p in positions.iter().filter_map(|&i| prefixes.get(i as usize)) {
        push_prefix(batch, p);
    }
}

/// Append `p` to the columns of `batch`.
pub(crate) fn push_prefix(batch: &mut t::PrefixBatch, p: &IpNet) {
    let (high, low, family) = match p.network() {
        IpAddr::V4(a) => (0, u64::from(u32::from(a)), 4),
        IpAddr::V6(a) => {
            let bits = u128::from(a);
            ((bits >> 64) as u64, bits as u64, 6)
        }
    };
    batch.high.push(high);
    batch.low.push(low);
    batch.lengths.push(p.prefix_len());
    batch.families.push(family);
}

/// The WIT attribute record for `attrs`; `next_hop` (from MP_REACH_NLRI)
/// takes precedence over the NEXT_HOP attribute.
pub(crate) fn attributes(attrs: &PathAttributes, next_hop: Option<IpAddr>) -> t::Attributes {
    t::Attributes {
        origin: attrs.origin.map(|o| match o {
            Origin::Igp => t::Origin::Igp,
            Origin::Egp => t::Origin::Egp,
            Origin::Incomplete => t::Origin::Incomplete,
        }),
        as_path: attrs
            .as_path
            .as_ref()
            .map(|path| {
                path.segments
                    .iter()
                    .map(|s| t::AsPathSegment {
                        kind: match s {
                            AsPathSegment::Sequence(_) => t::SegmentKind::Sequence,
                            AsPathSegment::Set(_) => t::SegmentKind::Set,
                            AsPathSegment::ConfedSequence(_) => t::SegmentKind::ConfedSequence,
                            AsPathSegment::ConfedSet(_) => t::SegmentKind::ConfedSet,
                        },
                        asns: s.asns().to_vec(),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        next_hop: next_hop.or(attrs.next_hop.map(IpAddr::V4)).map(ip),
        med: attrs.med,
        local_pref: attrs.local_pref,
        atomic_aggregate: attrs.atomic_aggregate,
        aggregator: attrs.aggregator.map(|a| t::Aggregator {
            asn: a.asn,
            address: u32::from(a.address),
        }),
        communities: attrs.communities.to_vec(),
        extended_communities: attrs
            .extended_communities
            .iter()
            .map(|c| u64::from_be_bytes(*c))
            .collect(),
        large_communities: attrs
            .large_communities
            .iter()
            .map(|c| t::LargeCommunity {
                global_admin: c.global_admin,
                local_data1: c.local_data1,
                local_data2: c.local_data2,
            })
            .collect(),
        otc: attrs.otc,
    }
}

fn large(c: &t::LargeCommunity) -> LargeCommunity {
    LargeCommunity {
        global_admin: c.global_admin,
        local_data1: c.local_data1,
        local_data2: c.local_data2,
    }
}

/// Largest AS_SEQUENCE segment (its length is one octet on the wire).
const MAX_SEGMENT_LEN: usize = 255;

/// `attrs` with `m` applied: removals first, then additions (an addition of
/// something already present is skipped), then `prepend` copies of the
/// left-most AS. Preference is not an attribute: the caller reads it.
pub(crate) fn apply(attrs: &PathAttributes, m: &t::Modification) -> PathAttributes {
    let mut out = attrs.clone();
    if !m.remove_communities.is_empty() {
        out.communities.retain(|c| !m.remove_communities.contains(c));
    }
    for c in &m.add_communities {
        if !out.communities.contains(c) {
            out.communities.push(*c);
        }
    }
    if !m.remove_large_communities.is_empty() {
        let remove: Vec<LargeCommunity> = m.remove_large_communities.iter().map(large).collect();
        out.large_communities.retain(|c| !remove.contains(c));
    }
    for c in m.add_large_communities.iter().map(large) {
        if !out.large_communities.contains(&c) {
            out.large_communities.push(c);
        }
    }
    if m.prepend > 0 {
        prepend(&mut out, m.prepend);
    }
    out
}

/// Prepend the left-most AS `times` times. A route server prepends the
/// announcing client's AS (it is not in the path itself); a path that does
/// not start with an AS_SEQUENCE is left alone.
fn prepend(attrs: &mut PathAttributes, times: u8) {
    let Some(AsPath { segments }) = attrs.as_path.as_mut() else {
        return;
    };
    let Some(AsPathSegment::Sequence(first)) = segments.first_mut() else {
        return;
    };
    let Some(&asn) = first.first() else { return };
    let times = usize::from(times);
    if first.len() + times <= MAX_SEGMENT_LEN {
        first.splice(0..0, std::iter::repeat_n(asn, times));
    } else {
        segments.insert(0, AsPathSegment::Sequence(vec![asn; times]));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn modification() -> t::Modification {
        t::Modification {
            add_communities: vec![],
            remove_communities: vec![],
            add_large_communities: vec![],
            remove_large_communities: vec![],
            prepend: 0,
            preference: None,
            next_hop: None,
        }
    }

    #[test]
    fn ip_round_trip_halves() {
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        match ip(v6) {
            t::IpAddress::V6((hi, lo)) => {
                assert_eq!(hi, 0x2001_0db8_0000_0000);
                assert_eq!(lo, 1);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            ip("192.0.2.1".parse().unwrap()),
            t::IpAddress::V4(0xC000_0201)
        ));
    }

    #[test]
    fn apply_removes_adds_and_skips_duplicates() {
        let attrs = PathAttributes {
            communities: kumo_wire::thin_vec![1, 2, 3],
            ..Default::default()
        };
        let m = t::Modification {
            remove_communities: vec![2],
            add_communities: vec![3, 4],
            ..modification()
        };
        assert_eq!(apply(&attrs, &m).communities, vec![1, 3, 4]);
    }

    #[test]
    fn prepend_left_most_as() {
        let attrs = PathAttributes {
            as_path: Some(AsPath {
                segments: vec![AsPathSegment::Sequence(vec![64501, 3356])],
            }),
            ..Default::default()
        };
        let out = apply(
            &attrs,
            &t::Modification {
                prepend: 2,
                ..modification()
            },
        );
        assert_eq!(
            out.as_path.unwrap().segments,
            vec![AsPathSegment::Sequence(vec![64501, 64501, 64501, 3356])]
        );
        let long = PathAttributes {
            as_path: Some(AsPath {
                segments: vec![AsPathSegment::Sequence(vec![7; 254])],
            }),
            ..Default::default()
        };
        let out = apply(
            &long,
            &t::Modification {
                prepend: 3,
                ..modification()
            },
        );
        let segments = out.as_path.unwrap().segments;
        assert_eq!(segments.len(), 2);
        assert_eq!(segments[0], AsPathSegment::Sequence(vec![7; 3]));
    }

    #[test]
    fn attributes_prefer_mp_next_hop() {
        let attrs = PathAttributes {
            next_hop: Some("192.0.2.1".parse().unwrap()),
            ..Default::default()
        };
        let v6: IpAddr = "2001:db8::2".parse().unwrap();
        assert!(matches!(
            attributes(&attrs, Some(v6)).next_hop,
            Some(t::IpAddress::V6(_))
        ));
        assert!(matches!(
            attributes(&attrs, None).next_hop,
            Some(t::IpAddress::V4(0xC000_0201))
        ));
    }
}
