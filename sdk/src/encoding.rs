//! The attribute-set encoding of `export-batch` (see `wit/policy.wit`): how
//! the host hands many attribute sets to one export call as one list of
//! bytes. The glue behind [`crate::export_policy!`] decodes it; policy
//! authors never see it. Public (and hidden) so that the host's encoder is
//! tested against this decoder.
//!
//! Why bytes and not the `attributes` record: wasmtime lowers a record with
//! nested lists field by field, with a memory look-up and an allocation
//! call into the guest per list; a list of bytes is one copy. Measured on
//! an export call with 49 targets, the record's lowering was most of the
//! call's cost.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::{AsPath, Attributes, Community, LargeCommunity, Origin, Segment, SegmentKind};

/// Presence bits of the first octet, in the order their values follow.
///
/// ```
/// use kumo_sdk::encoding::present;
/// assert_eq!(present::ORIGIN | present::MED, 0b101);
/// ```
pub mod present {
    /// ORIGIN.
    ///
    /// ```
    /// assert_eq!(kumo_sdk::encoding::present::ORIGIN, 1 << 0);
    /// ```
    pub const ORIGIN: u8 = 1 << 0;
    /// NEXT_HOP (or the MP_REACH_NLRI global next hop).
    ///
    /// ```
    /// assert_eq!(kumo_sdk::encoding::present::NEXT_HOP, 1 << 1);
    /// ```
    pub const NEXT_HOP: u8 = 1 << 1;
    /// MULTI_EXIT_DISC.
    ///
    /// ```
    /// assert_eq!(kumo_sdk::encoding::present::MED, 1 << 2);
    /// ```
    pub const MED: u8 = 1 << 2;
    /// LOCAL_PREF.
    ///
    /// ```
    /// assert_eq!(kumo_sdk::encoding::present::LOCAL_PREF, 1 << 3);
    /// ```
    pub const LOCAL_PREF: u8 = 1 << 3;
    /// ATOMIC_AGGREGATE (no value follows).
    ///
    /// ```
    /// assert_eq!(kumo_sdk::encoding::present::ATOMIC_AGGREGATE, 1 << 4);
    /// ```
    pub const ATOMIC_AGGREGATE: u8 = 1 << 4;
    /// AGGREGATOR.
    ///
    /// ```
    /// assert_eq!(kumo_sdk::encoding::present::AGGREGATOR, 1 << 5);
    /// ```
    pub const AGGREGATOR: u8 = 1 << 5;
    /// OTC.
    ///
    /// ```
    /// assert_eq!(kumo_sdk::encoding::present::OTC, 1 << 6);
    /// ```
    pub const OTC: u8 = 1 << 6;
}

/// A cursor over an encoded set; every read checks the length.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.0.split_first_chunk::<N>()?;
        self.0 = rest;
        Some(*head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take::<1>().map(|[b]| b)
    }
    fn u16(&mut self) -> Option<usize> {
        self.take().map(u16::from_le_bytes).map(usize::from)
    }
    fn u32(&mut self) -> Option<u32> {
        self.take().map(u32::from_le_bytes)
    }
    fn u64(&mut self) -> Option<u64> {
        self.take().map(u64::from_le_bytes)
    }
    /// A list of `count` items of `size` octets each, read by `item`;
    /// refused before allocating if the input is too short for it.
    fn list<T>(&mut self, size: usize, mut item: impl FnMut(&mut Self) -> Option<T>) -> Option<Vec<T>> {
        let count = self.u16()?;
        if self.0.len() < count * size {
            return None;
        }
        (0..count).map(|_| item(self)).collect()
    }
}

/// Decode one attribute set; `None` if `bytes` is not exactly one
/// well-formed set.
///
/// ```
/// use kumo_sdk::encoding::decode_attributes;
/// // ORIGIN IGP, an AS_PATH of one AS_SEQUENCE [64501], no communities.
/// let bytes = [0x01, 0, 1, 0, 0, 1, 0, 0xF5, 0xFB, 0, 0, 0, 0, 0, 0, 0, 0];
/// let attrs = decode_attributes(&bytes).unwrap();
/// assert_eq!(attrs.as_path.first_asn(), Some(64501));
/// assert!(decode_attributes(&bytes[..5]).is_none());
/// ```
pub fn decode_attributes(bytes: &[u8]) -> Option<Attributes> {
    let mut r = Reader(bytes);
    let bits = r.u8()?;
    let has = |bit: u8| bits & bit != 0;
    let origin = if has(present::ORIGIN) {
        Some(match r.u8()? {
            0 => Origin::Igp,
            1 => Origin::Egp,
            2 => Origin::Incomplete,
            _ => return None,
        })
    } else {
        None
    };
    let next_hop = if has(present::NEXT_HOP) {
        Some(match r.u8()? {
            4 => IpAddr::V4(Ipv4Addr::from(r.take::<4>()?)),
            6 => IpAddr::V6(Ipv6Addr::from(r.take::<16>()?)),
            _ => return None,
        })
    } else {
        None
    };
    let med = if has(present::MED) { Some(r.u32()?) } else { None };
    let local_pref = if has(present::LOCAL_PREF) {
        Some(r.u32()?)
    } else {
        None
    };
    let aggregator = if has(present::AGGREGATOR) {
        Some((r.u32()?, Ipv4Addr::from(r.take::<4>()?)))
    } else {
        None
    };
    let otc = if has(present::OTC) { Some(r.u32()?) } else { None };
    let segments = r.list(3, |r| {
        let kind = match r.u8()? {
            0 => SegmentKind::Sequence,
            1 => SegmentKind::Set,
            2 => SegmentKind::ConfedSequence,
            3 => SegmentKind::ConfedSet,
            _ => return None,
        };
        let asns = r.list(4, Reader::u32)?;
        Some(Segment { kind, asns })
    })?;
    let communities = r.list(4, |r| r.u32().map(Community))?;
    let extended_communities = r.list(8, Reader::u64)?;
    let large_communities = r.list(12, |r| Some(LargeCommunity::new(r.u32()?, r.u32()?, r.u32()?)))?;
    if !r.0.is_empty() {
        return None;
    }
    Some(Attributes {
        origin,
        as_path: AsPath { segments },
        next_hop,
        med,
        local_pref,
        atomic_aggregate: has(present::ATOMIC_AGGREGATE),
        aggregator,
        communities,
        extended_communities,
        large_communities,
        otc,
    })
}

/// A set with every field present: the vector the decoder's tests and the
/// host's encoder's (`host/policy/src/convert.rs`) are both checked against.
///
/// ```
/// assert!(kumo_sdk::encoding::decode_attributes(kumo_sdk::encoding::FULL_EXAMPLE).is_some());
/// ```
pub const FULL_EXAMPLE: &[u8] = &[
    0x7F, // all seven bits
    2,    // ORIGIN INCOMPLETE
    6, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, // 2001:db8::1
    10, 0, 0, 0, // MED 10
    200, 0, 0, 0, // LOCAL_PREF 200
    0xF5, 0xFB, 0, 0, 192, 0, 2, 1, // AGGREGATOR 64501, 192.0.2.1
    7, 0, 0, 0, // OTC 7
    2, 0, // two segments
    0, 2, 0, 0xF5, 0xFB, 0, 0, 0xF6, 0xFB, 0, 0, // AS_SEQUENCE 64501 64502
    1, 1, 0, 0x0D, 0x0D, 0, 0, // AS_SET {3341}
    1, 0, 0x00, 0x01, 0xF5, 0xFB, // 64501:256
    1, 0, 1, 2, 3, 4, 5, 6, 7, 8, // one extended community
    1, 0, 0xF4, 0xFB, 0, 0, 0x4D, 0x04, 0, 0, 13, 0, 0, 0, // 64500:1101:13
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_set_decodes_field_by_field() {
        let a = decode_attributes(FULL_EXAMPLE).expect("well-formed");
        assert_eq!(a.origin, Some(Origin::Incomplete));
        assert_eq!(a.next_hop, Some("2001:db8::1".parse().expect("an address")));
        assert_eq!((a.med, a.local_pref, a.otc), (Some(10), Some(200), Some(7)));
        assert!(a.atomic_aggregate);
        assert_eq!(a.aggregator, Some((64501, Ipv4Addr::new(192, 0, 2, 1))));
        assert_eq!(
            a.as_path.segments,
            vec![
                Segment {
                    kind: SegmentKind::Sequence,
                    asns: vec![64501, 64502]
                },
                Segment {
                    kind: SegmentKind::Set,
                    asns: vec![3341]
                },
            ]
        );
        assert_eq!(a.communities, vec![Community::new(64501, 256)]);
        assert_eq!(a.extended_communities, vec![0x0807_0605_0403_0201]);
        assert_eq!(a.large_communities, vec![LargeCommunity::new(64500, 1101, 13)]);
    }

    #[test]
    fn an_empty_set_is_nine_octets() {
        let a = decode_attributes(&[0, 0, 0, 0, 0, 0, 0, 0, 0]).expect("well-formed");
        assert_eq!(a, Attributes::default());
    }

    #[test]
    fn every_truncation_and_any_trailing_octet_is_refused() {
        for len in 0..FULL_EXAMPLE.len() {
            assert!(decode_attributes(&FULL_EXAMPLE[..len]).is_none(), "{len} octets");
        }
        let mut longer = FULL_EXAMPLE.to_vec();
        longer.push(0);
        assert!(decode_attributes(&longer).is_none());
    }

    #[test]
    fn unknown_codes_and_huge_counts_are_refused() {
        let mut bad = FULL_EXAMPLE.to_vec();
        bad[1] = 3; // ORIGIN 3
        assert!(decode_attributes(&bad).is_none());
        let mut bad = FULL_EXAMPLE.to_vec();
        bad[2] = 5; // next-hop family 5
        assert!(decode_attributes(&bad).is_none());
        // 65535 communities announced, none there: refused without allocating.
        assert!(decode_attributes(&[0, 0, 0, 0xFF, 0xFF, 0, 0, 0, 0]).is_none());
    }
}
