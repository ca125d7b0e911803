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

use crate::{Attributes, Community, LargeCommunity, Origin, Segment, SegmentKind};

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
    /// A list of `count` items of `size` octets each, read by `item` into
    /// `out` (emptied first, its buffer kept); refused before growing it if
    /// the input is too short for the count.
    fn list_into<T>(
        &mut self,
        out: &mut Vec<T>,
        size: usize,
        mut item: impl FnMut(&mut Self) -> Option<T>,
    ) -> Option<()> {
        out.clear();
        let count = self.u16()?;
        if self.0.len() < count * size {
            return None;
        }
        out.reserve(count);
        for _ in 0..count {
            out.push(item(self)?);
        }
        Some(())
    }

    /// AS_PATH segments into `out`, reusing its segments' ASN buffers.
    fn segments_into(&mut self, out: &mut Vec<Segment>) -> Option<()> {
        let count = self.u16()?;
        if self.0.len() < count * 3 {
            out.clear();
            return None;
        }
        out.truncate(count);
        for i in 0..count {
            let kind = match self.u8()? {
                0 => SegmentKind::Sequence,
                1 => SegmentKind::Set,
                2 => SegmentKind::ConfedSequence,
                3 => SegmentKind::ConfedSet,
                _ => return None,
            };
            if i == out.len() {
                out.push(Segment {
                    kind,
                    asns: Vec::new(),
                });
            }
            let segment = &mut out[i];
            segment.kind = kind;
            self.list_into(&mut segment.asns, 4, Reader::u32)?;
        }
        Some(())
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
    let mut attrs = Attributes::default();
    decode_attributes_into(bytes, &mut attrs)?;
    Some(attrs)
}

/// [`decode_attributes`] into `attrs`, keeping its buffers (the AS_PATH's
/// segments, the community lists): the export glue decodes every question
/// of a call into one set, so that a call of many questions does not
/// allocate and free each set's lists again (measured: the allocator was
/// the largest single cost of an export call). On `None` the contents of
/// `attrs` are unspecified.
///
/// ```
/// use kumo_sdk::encoding::{FULL_EXAMPLE, decode_attributes_into};
/// let empty = [0, 0, 0, 0, 0, 0, 0, 0, 0];
/// let mut attrs = kumo_sdk::Attributes::default();
/// assert!(decode_attributes_into(FULL_EXAMPLE, &mut attrs).is_some());
/// assert_eq!(attrs.communities.len(), 1);
/// // The next set replaces every field of the one before.
/// assert!(decode_attributes_into(&empty, &mut attrs).is_some());
/// assert_eq!(attrs, kumo_sdk::Attributes::default());
/// ```
pub fn decode_attributes_into(bytes: &[u8], attrs: &mut Attributes) -> Option<()> {
    let mut r = Reader(bytes);
    let bits = r.u8()?;
    let has = |bit: u8| bits & bit != 0;
    attrs.origin = if has(present::ORIGIN) {
        Some(match r.u8()? {
            0 => Origin::Igp,
            1 => Origin::Egp,
            2 => Origin::Incomplete,
            _ => return None,
        })
    } else {
        None
    };
    attrs.next_hop = if has(present::NEXT_HOP) {
        Some(match r.u8()? {
            4 => IpAddr::V4(Ipv4Addr::from(r.take::<4>()?)),
            6 => IpAddr::V6(Ipv6Addr::from(r.take::<16>()?)),
            _ => return None,
        })
    } else {
        None
    };
    attrs.med = if has(present::MED) { Some(r.u32()?) } else { None };
    attrs.local_pref = if has(present::LOCAL_PREF) {
        Some(r.u32()?)
    } else {
        None
    };
    attrs.atomic_aggregate = has(present::ATOMIC_AGGREGATE);
    attrs.aggregator = if has(present::AGGREGATOR) {
        Some((r.u32()?, Ipv4Addr::from(r.take::<4>()?)))
    } else {
        None
    };
    attrs.otc = if has(present::OTC) { Some(r.u32()?) } else { None };
    r.segments_into(&mut attrs.as_path.segments)?;
    r.list_into(&mut attrs.communities, 4, |r| r.u32().map(Community))?;
    r.list_into(&mut attrs.extended_communities, 8, Reader::u64)?;
    r.list_into(&mut attrs.large_communities, 12, |r| {
        Some(LargeCommunity::new(r.u32()?, r.u32()?, r.u32()?))
    })?;
    r.0.is_empty().then_some(())
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
    fn decoding_into_a_used_set_gives_what_a_fresh_decode_gives() {
        // Shorter, longer and fewer segments than the set before, and a
        // failed decode in between: nothing of an earlier set remains.
        let mut fewer_segments = FULL_EXAMPLE.to_vec();
        fewer_segments.splice(52..59, []); // the AS_SET segment
        fewer_segments[39] = 1;
        let empty = [0u8; 9];
        let inputs: [&[u8]; 5] = [
            FULL_EXAMPLE,
            &fewer_segments,
            &FULL_EXAMPLE[..20],
            &empty,
            FULL_EXAMPLE,
        ];
        let mut attrs = Attributes::default();
        for bytes in inputs {
            let fresh = decode_attributes(bytes);
            let reused = decode_attributes_into(bytes, &mut attrs).map(|()| attrs.clone());
            assert_eq!(reused, fresh, "{bytes:?}");
        }
        assert_eq!(
            decode_attributes(&fewer_segments).map(|a| a.as_path.segments.len()),
            Some(1)
        );
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
