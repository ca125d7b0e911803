//! Conversions between kumo's wire types and the WIT types, and applying a
//! guest's modification to path attributes.

use std::net::IpAddr;

use ipnet::IpNet;
use kumo_wire::{AsPath, AsPathSegmentRef, LargeCommunity, Origin, PathAttributes};

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
    clear_prefix_batch(batch);
    append_prefixes(batch, prefixes, positions);
}

/// Append the prefixes at `positions` of `prefixes` to `batch`'s columns
/// (a position past `prefixes` is skipped).
pub(crate) fn append_prefixes(batch: &mut t::PrefixBatch, prefixes: &[IpNet], positions: &[u32]) {
    if positions.iter().all(|&i| (i as usize) < prefixes.len()) {
        extend_columns(batch, positions.iter().map(|&i| &prefixes[i as usize]));
    } else {
        // Never with kumo's own positions; kept total rather than panicking.
        let known: Vec<&IpNet> = positions
            .iter()
            .filter_map(|&i| prefixes.get(i as usize))
            .collect();
        extend_columns(batch, known.into_iter());
    }
}

/// Append `picked` to the columns: they grow first (zeroed), then one pass
/// writes each prefix into the four without a capacity check (measured:
/// pushing to the four columns prefix by prefix was a tenth of an import
/// call, and four passes, one per column, no better).
fn extend_columns<'a>(batch: &mut t::PrefixBatch, picked: impl ExactSizeIterator<Item = &'a IpNet>) {
    let start = batch.lengths.len();
    let end = start + picked.len();
    batch.high.resize(end, 0);
    batch.low.resize(end, 0);
    batch.lengths.resize(end, 0);
    batch.families.resize(end, 0);
    let slots = batch.high[start..]
        .iter_mut()
        .zip(&mut batch.low[start..])
        .zip(&mut batch.lengths[start..])
        .zip(&mut batch.families[start..]);
    for ((((high, low), length), family), p) in slots.zip(picked) {
        (*high, *low, *family) = match p {
            IpNet::V4(n) => (0, u64::from(u32::from(n.network())), 4),
            IpNet::V6(n) => {
                let bits = u128::from(n.network());
                ((bits >> 64) as u64, bits as u64, 6)
            }
        };
        *length = p.prefix_len();
    }
}

/// Append `p` to the columns of `batch`.
#[cfg(test)]
pub(crate) fn push_prefix(batch: &mut t::PrefixBatch, p: &IpNet) {
    extend_columns(batch, std::iter::once(p));
}

/// A prefix batch with no prefixes.
pub(crate) fn empty_prefix_batch() -> t::PrefixBatch {
    t::PrefixBatch {
        high: Vec::new(),
        low: Vec::new(),
        lengths: Vec::new(),
        families: Vec::new(),
    }
}

/// Empty `batch`, keeping its buffers.
fn clear_prefix_batch(batch: &mut t::PrefixBatch) {
    batch.high.clear();
    batch.low.clear();
    batch.lengths.clear();
    batch.families.clear();
}

/// An export batch with no questions.
pub(crate) fn empty_export_batch() -> t::ExportBatch {
    t::ExportBatch {
        sources: Vec::new(),
        attr_ends: Vec::new(),
        attrs: Vec::new(),
        prefix_ends: Vec::new(),
        prefixes: empty_prefix_batch(),
        target_ends: Vec::new(),
        targets: Vec::new(),
    }
}

/// Empty `batch`, keeping its buffers.
pub(crate) fn clear_export_batch(batch: &mut t::ExportBatch) {
    batch.sources.clear();
    batch.attr_ends.clear();
    batch.attrs.clear();
    batch.prefix_ends.clear();
    clear_prefix_batch(&mut batch.prefixes);
    batch.target_ends.clear();
    batch.targets.clear();
}

/// Empty `batch`, keeping its buffers.
pub(crate) fn clear_import_batch(batch: &mut t::ImportBatch) {
    batch.clients.clear();
    batch.attr_ends.clear();
    batch.attrs.clear();
    batch.prefix_ends.clear();
    clear_prefix_batch(&mut batch.prefixes);
}

pub(crate) fn empty_import_batch() -> t::ImportBatch {
    t::ImportBatch {
        clients: Vec::new(),
        attr_ends: Vec::new(),
        attrs: Vec::new(),
        prefix_ends: Vec::new(),
        prefixes: empty_prefix_batch(),
    }
}

/// Append one import question to `batch`: the prefixes at `positions` of
/// `prefixes` from `client` with `attrs` (`next_hop` from MP_REACH_NLRI
/// taking precedence). `None` (and nothing appended) when the attribute set
/// cannot be encoded.
pub(crate) fn push_import_question(
    batch: &mut t::ImportBatch,
    client: u32,
    attrs: &PathAttributes,
    next_hop: Option<IpAddr>,
    prefixes: &[IpNet],
    positions: &[u32],
) -> Option<()> {
    let columns = (
        &mut batch.attrs,
        &mut batch.attr_ends,
        &mut batch.prefixes,
        &mut batch.prefix_ends,
    );
    push_set(columns, attrs, next_hop, prefixes, positions)?;
    batch.clients.push(client);
    Some(())
}

/// The columns a question's attribute set and prefixes go into: attribute
/// bytes and their ends, prefixes and their ends.
type SetColumns<'a> = (
    &'a mut Vec<u8>,
    &'a mut Vec<u32>,
    &'a mut t::PrefixBatch,
    &'a mut Vec<u32>,
);

/// Append a question's attribute set (encoded) and the prefixes at
/// `positions` of `prefixes` to `columns`; `None` (and nothing appended)
/// when the set cannot be encoded.
fn push_set(
    (attrs_column, attr_ends, prefix_column, prefix_ends): SetColumns<'_>,
    attrs: &PathAttributes,
    next_hop: Option<IpAddr>,
    prefixes: &[IpNet],
    positions: &[u32],
) -> Option<()> {
    let start = attrs_column.len();
    if encode_attributes(attrs, next_hop, attrs_column).is_none() {
        attrs_column.truncate(start);
        return None;
    }
    attr_ends.push(offset(attrs_column.len()));
    append_prefixes(prefix_column, prefixes, positions);
    prefix_ends.push(offset(prefix_column.lengths.len()));
    Some(())
}

/// An offset into a batch's column: u32, a batch being far smaller than 4 GiB.
fn offset(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

/// Append one question to `batch`: the prefixes at `positions` of
/// `prefixes` from `source` with `attrs`, for the targets at `members` of
/// `targets`. Returns the number of targets, or `None` (and appends
/// nothing) when the attribute set cannot be encoded.
pub(crate) fn push_question(
    batch: &mut t::ExportBatch,
    source: u32,
    attrs: &PathAttributes,
    prefixes: &[IpNet],
    positions: &[u32],
    members: &[u32],
    targets: &[u32],
) -> Option<usize> {
    let columns = (
        &mut batch.attrs,
        &mut batch.attr_ends,
        &mut batch.prefixes,
        &mut batch.prefix_ends,
    );
    push_set(columns, attrs, None, prefixes, positions)?;
    batch.sources.push(source);
    let end = offset;
    let before = batch.targets.len();
    if members.len() == targets.len() {
        // Members are distinct positions: as many as the targets is all of
        // them, in order (the usual case), copied at once.
        batch.targets.extend_from_slice(targets);
    } else {
        batch
            .targets
            .extend(members.iter().filter_map(|&i| targets.get(i as usize).copied()));
    }
    batch.target_ends.push(end(batch.targets.len()));
    Some(batch.targets.len() - before)
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
                path.segments()
                    .map(|s| t::AsPathSegment {
                        kind: match s {
                            AsPathSegmentRef::Sequence(_) => t::SegmentKind::Sequence,
                            AsPathSegmentRef::Set(_) => t::SegmentKind::Set,
                            AsPathSegmentRef::ConfedSequence(_) => t::SegmentKind::ConfedSequence,
                            AsPathSegmentRef::ConfedSet(_) => t::SegmentKind::ConfedSet,
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

/// Append `attrs` to `out` in the attribute-set encoding of `export-batch`
/// (`wit/policy.wit`; decoded by `kumo_sdk::encoding`). `next_hop` (from
/// MP_REACH_NLRI) takes precedence over NEXT_HOP, as in [`attributes`].
/// Written by hand because it is the one place the format is produced and
/// it runs once per attribute set on the export path. `None` (with part of
/// the set appended) when a list is longer than the encoding's u16 counts
/// allow, which no UPDATE can carry: the caller fails the set closed
/// rather than hand a policy a shortened list.
pub(crate) fn encode_attributes(
    attrs: &PathAttributes,
    next_hop: Option<IpAddr>,
    out: &mut Vec<u8>,
) -> Option<()> {
    use kumo_sdk::encoding::present;
    let next_hop = next_hop.or(attrs.next_hop.map(IpAddr::V4));
    let bits = [
        (attrs.origin.is_some(), present::ORIGIN),
        (next_hop.is_some(), present::NEXT_HOP),
        (attrs.med.is_some(), present::MED),
        (attrs.local_pref.is_some(), present::LOCAL_PREF),
        (attrs.atomic_aggregate, present::ATOMIC_AGGREGATE),
        (attrs.aggregator.is_some(), present::AGGREGATOR),
        (attrs.otc.is_some(), present::OTC),
    ]
    .iter()
    .filter(|(set, _)| *set)
    .fold(0, |bits, (_, bit)| bits | bit);
    out.push(bits);
    if let Some(origin) = attrs.origin {
        out.push(match origin {
            Origin::Igp => 0,
            Origin::Egp => 1,
            Origin::Incomplete => 2,
        });
    }
    match next_hop {
        Some(IpAddr::V4(a)) => {
            out.push(4);
            out.extend_from_slice(&a.octets());
        }
        Some(IpAddr::V6(a)) => {
            out.push(6);
            out.extend_from_slice(&a.octets());
        }
        None => {}
    }
    for value in [attrs.med, attrs.local_pref].into_iter().flatten() {
        out.extend_from_slice(&value.to_le_bytes());
    }
    if let Some(a) = attrs.aggregator {
        out.extend_from_slice(&a.asn.to_le_bytes());
        out.extend_from_slice(&a.address.octets());
    }
    if let Some(otc) = attrs.otc {
        out.extend_from_slice(&otc.to_le_bytes());
    }
    // Counts are u16: an UPDATE (at most 65535 octets) cannot hold more.
    fn count<T>(items: &[T], out: &mut Vec<u8>) -> Option<()> {
        let n = u16::try_from(items.len()).ok()?;
        out.extend_from_slice(&n.to_le_bytes());
        Some(())
    }
    let empty = AsPath::new();
    let path = attrs.as_path.as_ref().unwrap_or(&empty);
    let segments = u16::try_from(path.segment_count()).ok()?;
    out.extend_from_slice(&segments.to_le_bytes());
    for s in path.segments() {
        out.push(match s {
            AsPathSegmentRef::Sequence(_) => 0,
            AsPathSegmentRef::Set(_) => 1,
            AsPathSegmentRef::ConfedSequence(_) => 2,
            AsPathSegmentRef::ConfedSet(_) => 3,
        });
        let asns = s.asns();
        count(asns, out)?;
        for asn in asns {
            out.extend_from_slice(&asn.to_le_bytes());
        }
    }
    count(&attrs.communities, out)?;
    for c in &attrs.communities {
        out.extend_from_slice(&c.to_le_bytes());
    }
    let extended = &attrs.extended_communities;
    count(extended, out)?;
    for c in extended {
        // Stored as the wire's 8 octets; the encoding holds their big-endian value.
        out.extend_from_slice(&u64::from_be_bytes(*c).to_le_bytes());
    }
    let large = &attrs.large_communities;
    count(large, out)?;
    for c in large {
        for part in [c.global_admin, c.local_data1, c.local_data2] {
            out.extend_from_slice(&part.to_le_bytes());
        }
    }
    Some(())
}

fn large(c: &t::LargeCommunity) -> LargeCommunity {
    LargeCommunity {
        global_admin: c.global_admin,
        local_data1: c.local_data1,
        local_data2: c.local_data2,
    }
}

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
    let Some(path) = attrs.as_path.as_mut() else {
        return;
    };
    let Some(AsPathSegmentRef::Sequence(first)) = path.segments().next() else {
        return;
    };
    let Some(&asn) = first.first() else { return };
    path.prepend(asn, usize::from(times));
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use kumo_wire::AsPathSegment;

    #[test]
    fn prefix_columns_hold_the_chosen_prefixes_of_both_families_in_order() {
        let prefixes: Vec<IpNet> = ["192.0.2.0/24", "2001:db8:1::/48", "10.0.0.0/8"]
            .iter()
            .map(|p| p.parse().expect("a prefix"))
            .collect();
        let mut batch = empty_prefix_batch();
        fill_batch(&mut batch, &prefixes, &[2, 1]);
        // Appending keeps what is there; a position past the list is skipped.
        append_prefixes(&mut batch, &prefixes, &[0, 7]);
        assert_eq!(batch.families, [4, 6, 4]);
        assert_eq!(batch.lengths, [8, 48, 24]);
        assert_eq!(batch.high, [0, 0x2001_0db8_0001_0000, 0]);
        assert_eq!(batch.low, [0x0a00_0000, 0, 0xc000_0200]);
        // Refilling starts again.
        fill_batch(&mut batch, &prefixes, &[0]);
        assert_eq!((batch.families.len(), batch.low[0]), (1, 0xc000_0200));
    }

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
            as_path: Some(AsPath::from(vec![AsPathSegment::Sequence(vec![64501, 3356])])),
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
            out.as_path.unwrap().to_segments(),
            vec![AsPathSegment::Sequence(vec![64501, 64501, 64501, 3356])]
        );
        let long = PathAttributes {
            as_path: Some(AsPath::from(vec![AsPathSegment::Sequence(vec![7; 254])])),
            ..Default::default()
        };
        let out = apply(
            &long,
            &t::Modification {
                prepend: 3,
                ..modification()
            },
        );
        let segments = out.as_path.unwrap().to_segments();
        assert_eq!(segments.len(), 2);
        assert_eq!(segments[0], AsPathSegment::Sequence(vec![7; 3]));
    }

    fn full_example() -> PathAttributes {
        PathAttributes {
            origin: Some(Origin::Incomplete),
            as_path: Some(AsPath::from(vec![
                AsPathSegment::Sequence(vec![64501, 64502]),
                AsPathSegment::Set(vec![3341]),
            ])),
            med: Some(10),
            local_pref: Some(200),
            atomic_aggregate: true,
            aggregator: Some(kumo_wire::Aggregator {
                asn: 64501,
                address: "192.0.2.1".parse().unwrap(),
            }),
            communities: kumo_wire::thin_vec![(64501 << 16) | 256],
            extended_communities: kumo_wire::thin_vec![[8, 7, 6, 5, 4, 3, 2, 1]],
            large_communities: kumo_wire::thin_vec![LargeCommunity {
                global_admin: 64500,
                local_data1: 1101,
                local_data2: 13,
            }],
            otc: Some(7),
            ..Default::default()
        }
    }

    #[test]
    fn the_encoding_matches_the_sdks_vector_octet_for_octet() {
        let mut out = Vec::new();
        encode_attributes(&full_example(), Some("2001:db8::1".parse().unwrap()), &mut out).unwrap();
        assert_eq!(out, kumo_sdk::encoding::FULL_EXAMPLE);
    }

    #[test]
    fn a_list_longer_than_the_encoding_counts_is_refused_not_shortened() {
        let attrs = PathAttributes {
            communities: vec![1; 65_536].into(),
            ..Default::default()
        };
        assert!(encode_attributes(&attrs, None, &mut Vec::new()).is_none());
        let mut batch = empty_export_batch();
        let p: Vec<IpNet> = vec!["192.0.2.0/24".parse().unwrap()];
        assert_eq!(push_question(&mut batch, 1, &attrs, &p, &[0], &[0], &[2]), None);
        assert!(batch.sources.is_empty() && batch.attrs.is_empty() && batch.prefixes.lengths.is_empty());
    }

    use proptest::prelude::*;

    /// Attribute sets as a policy sees them: no unknown attributes, which
    /// neither the WIT `attributes` record nor the `export-batch` encoding
    /// carries (kumo passes them on unchanged, RFC 7947), so the property
    /// below could not see them.
    fn any_attributes() -> impl Strategy<Value = PathAttributes> {
        kumo_wire::testing::path_attributes(kumo_wire::testing::AttrsOptions {
            max_segment_asns: 7,
            max_list_len: 5,
            unknown: kumo_wire::testing::UnknownAttrs::None,
            ..Default::default()
        })
    }

    proptest! {
        /// What the guest decodes is what the WIT record would have carried.
        #[test]
        fn the_sdk_decodes_what_the_host_encodes(a in any_attributes(), v6 in prop::option::of(any::<u128>())) {
            let next_hop = v6.map(|bits| IpAddr::V6(bits.into()));
            let mut out = Vec::new();
            encode_attributes(&a, next_hop, &mut out).unwrap();
            let d = kumo_sdk::encoding::decode_attributes(&out).expect("decodes");
            let w = attributes(&a, next_hop);
            prop_assert_eq!(d.origin.map(|o| o as u8), w.origin.map(|o| o as u8));
            let segments: Vec<(u8, Vec<u32>)> = w.as_path.into_iter().map(|s| (s.kind as u8, s.asns)).collect();
            prop_assert_eq!(d.as_path.segments.into_iter().map(|s| (s.kind as u8, s.asns)).collect::<Vec<_>>(), segments);
            prop_assert_eq!(d.next_hop, w.next_hop.map(address));
            prop_assert_eq!((d.med, d.local_pref, d.atomic_aggregate, d.otc), (w.med, w.local_pref, w.atomic_aggregate, w.otc));
            prop_assert_eq!(d.aggregator.map(|(asn, a)| (asn, u32::from(a))), w.aggregator.map(|g| (g.asn, g.address)));
            prop_assert_eq!(d.communities.into_iter().map(|c| c.0).collect::<Vec<_>>(), w.communities);
            prop_assert_eq!(d.extended_communities, w.extended_communities);
            prop_assert_eq!(
                d.large_communities.into_iter().map(|c| (c.global, c.data1, c.data2)).collect::<Vec<_>>(),
                w.large_communities.into_iter().map(|c| (c.global_admin, c.local_data1, c.local_data2)).collect::<Vec<_>>()
            );
        }
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
