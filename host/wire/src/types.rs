//! The decoded forms of BGP messages, attributes and capabilities.
//!
//! These types are the contract between the codec and the rest of kumo:
//! the session FSM consumes [`Open`], [`Notification`] and [`Message`]; the RIB
//! consumes [`Update`] and [`PathAttributes`].

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
pub use thin_vec::{ThinVec, thin_vec};

/// Address Family Identifier (RFC 4760).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Afi {
    Ipv4,
    Ipv6,
    /// Any other AFI, kept so capabilities we do not support can be decoded and ignored.
    Other(u16),
}

/// Subsequent Address Family Identifier (RFC 4760).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Safi {
    Unicast,
    Other(u8),
}

/// An (AFI, SAFI) pair: the unit of capability negotiation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AfiSafi {
    pub afi: Afi,
    pub safi: Safi,
}

impl Afi {
    /// Decode an AFI code (1 IPv4, 2 IPv6).
    pub fn from_code(code: u16) -> Self {
        match code {
            1 => Afi::Ipv4,
            2 => Afi::Ipv6,
            other => Afi::Other(other),
        }
    }
    /// The on-the-wire AFI code.
    pub fn code(self) -> u16 {
        match self {
            Afi::Ipv4 => 1,
            Afi::Ipv6 => 2,
            Afi::Other(code) => code,
        }
    }
}

impl Safi {
    /// Decode a SAFI code (1 unicast).
    pub fn from_code(code: u8) -> Self {
        match code {
            1 => Safi::Unicast,
            other => Safi::Other(other),
        }
    }
    /// The on-the-wire SAFI code.
    pub fn code(self) -> u8 {
        match self {
            Safi::Unicast => 1,
            Safi::Other(code) => code,
        }
    }
}

impl AfiSafi {
    pub const IPV4_UNICAST: AfiSafi = AfiSafi {
        afi: Afi::Ipv4,
        safi: Safi::Unicast,
    };
    pub const IPV6_UNICAST: AfiSafi = AfiSafi {
        afi: Afi::Ipv6,
        safi: Safi::Unicast,
    };

    pub fn new(afi: Afi, safi: Safi) -> Self {
        AfiSafi { afi, safi }
    }
    /// From the on-the-wire AFI and SAFI codes.
    pub fn from_codes(afi: u16, safi: u8) -> Self {
        AfiSafi {
            afi: Afi::from_code(afi),
            safi: Safi::from_code(safi),
        }
    }
}

impl std::fmt::Display for AfiSafi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.afi, self.safi) {
            (Afi::Ipv4, Safi::Unicast) => f.write_str("ipv4-unicast"),
            (Afi::Ipv6, Safi::Unicast) => f.write_str("ipv6-unicast"),
            (afi, safi) => write!(f, "afi {}/safi {}", afi.code(), safi.code()),
        }
    }
}

/// One announced or withdrawn prefix, with its ADD-PATH path identifier when
/// ADD-PATH is negotiated for its address family (RFC 7911).
///
/// Prefixes are always normalised (host bits cleared) by the decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Nlri {
    pub prefix: IpNet,
    pub path_id: Option<u32>,
}

/// What the session negotiated that changes how UPDATEs are encoded and decoded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CodecContext {
    /// Both sides sent the 4-octet AS capability (RFC 6793): AS_PATH carries 4-octet ASNs.
    pub four_octet_as: bool,
    /// Address families for which NLRI carry a path identifier (ADD-PATH) in this direction.
    pub add_path: Vec<AfiSafi>,
    /// Extended message (RFC 8654) negotiated: messages may be up to 65535 octets.
    pub extended_message: bool,
}

impl CodecContext {
    /// Largest message allowed in this context.
    pub fn max_message_len(&self) -> usize {
        if self.extended_message { 65535 } else { 4096 }
    }
    pub fn add_path_for(&self, afi_safi: AfiSafi) -> bool {
        self.add_path.contains(&afi_safi)
    }
}

/// A whole BGP message.
// UPDATE is boxed: it is 232 octets, and unboxed it was copied whole at each
// step from the decoder to the core (decoded, framed as an FSM event, an
// action, the core's event): 16 % of the parse benchmark's time in memcpy.
// The decoder fills the box in place; the daemon hands the box on as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Open(Open),
    Update(Box<Update>),
    Notification(Notification),
    Keepalive,
    RouteRefresh(RouteRefresh),
}

/// BGP OPEN (RFC 4271 §4.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Open {
    /// Always 4 when we send; decoded as received (the FSM rejects others).
    pub version: u8,
    /// The 2-octet "My Autonomous System" field (AS_TRANS 23456 for 4-octet ASNs).
    pub my_as: u16,
    pub hold_time: u16,
    pub bgp_id: Ipv4Addr,
    /// Capabilities, in the order received (RFC 5492). Several capabilities may
    /// arrive in one or several Capabilities optional parameters; they are flattened.
    pub capabilities: Vec<Capability>,
}

impl Open {
    /// The speaker's real ASN: the 4-octet AS capability when present, else `my_as`.
    pub fn asn(&self) -> u32 {
        self.capabilities
            .iter()
            .find_map(|c| match c {
                Capability::FourOctetAs(asn) => Some(*asn),
                _ => None,
            })
            .unwrap_or(u32::from(self.my_as))
    }
}

/// ADD-PATH send/receive mode (RFC 7911 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddPathMode {
    Receive,
    Send,
    Both,
}

/// Per-AFI entry of the Graceful Restart capability (RFC 4724).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GracefulRestartAfi {
    pub afi_safi: AfiSafi,
    /// Forwarding state preserved (F bit).
    pub forwarding_preserved: bool,
}

/// Per-AFI entry of the Long-Lived Graceful Restart capability (RFC 9494).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LlgrAfi {
    pub afi_safi: AfiSafi,
    pub forwarding_preserved: bool,
    /// 24-bit long-lived stale time in seconds.
    pub stale_time: u32,
}

/// BGP role (RFC 9234).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Provider,
    RouteServer,
    RouteServerClient,
    Customer,
    Peer,
    Other(u8),
}

impl Role {
    /// Decode the role value of the BGP Role capability.
    pub fn from_code(code: u8) -> Self {
        match code {
            0 => Role::Provider,
            1 => Role::RouteServer,
            2 => Role::RouteServerClient,
            3 => Role::Customer,
            4 => Role::Peer,
            other => Role::Other(other),
        }
    }
    pub fn code(self) -> u8 {
        match self {
            Role::Provider => 0,
            Role::RouteServer => 1,
            Role::RouteServerClient => 2,
            Role::Customer => 3,
            Role::Peer => 4,
            Role::Other(code) => code,
        }
    }
}

/// A capability from the OPEN message (RFC 5492).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Capability {
    /// Code 1, RFC 4760.
    Multiprotocol(AfiSafi),
    /// Code 2, RFC 2918.
    RouteRefresh,
    /// Code 6, RFC 8654.
    ExtendedMessage,
    /// Code 9, RFC 9234.
    Role(Role),
    /// Code 64, RFC 4724.
    GracefulRestart {
        /// R bit: the sender has restarted.
        restarting: bool,
        /// N bit: RFC 8538 graceful NOTIFICATION support.
        notification: bool,
        /// 12-bit restart time in seconds.
        restart_time: u16,
        afis: Vec<GracefulRestartAfi>,
    },
    /// Code 65, RFC 6793.
    FourOctetAs(u32),
    /// Code 69, RFC 7911.
    AddPath(Vec<(AfiSafi, AddPathMode)>),
    /// Code 70, RFC 7313.
    EnhancedRouteRefresh,
    /// Code 71, RFC 9494.
    LongLivedGracefulRestart(Vec<LlgrAfi>),
    /// Anything else, kept raw.
    Unknown { code: u8, data: Vec<u8> },
}

/// ROUTE-REFRESH message subtype (RFC 7313).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteRefreshSubtype {
    Normal,
    /// Beginning of Route Refresh.
    BoRR,
    /// End of Route Refresh.
    EoRR,
    Other(u8),
}

impl RouteRefreshSubtype {
    pub fn from_code(code: u8) -> Self {
        match code {
            0 => RouteRefreshSubtype::Normal,
            1 => RouteRefreshSubtype::BoRR,
            2 => RouteRefreshSubtype::EoRR,
            other => RouteRefreshSubtype::Other(other),
        }
    }
    pub fn code(self) -> u8 {
        match self {
            RouteRefreshSubtype::Normal => 0,
            RouteRefreshSubtype::BoRR => 1,
            RouteRefreshSubtype::EoRR => 2,
            RouteRefreshSubtype::Other(code) => code,
        }
    }
}

/// ROUTE-REFRESH (RFC 2918, RFC 7313).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteRefresh {
    pub afi_safi: AfiSafi,
    pub subtype: RouteRefreshSubtype,
}

/// NOTIFICATION (RFC 4271 §4.5). Use the constructors in [`crate::notification`]
/// for the codes kumo sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub code: u8,
    pub subcode: u8,
    pub data: Vec<u8>,
}

/// ORIGIN attribute value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Origin {
    Igp = 0,
    Egp = 1,
    Incomplete = 2,
}

/// One AS_PATH segment (RFC 4271, RFC 5065 confederation types included).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AsPathSegment {
    Sequence(Vec<u32>),
    Set(Vec<u32>),
    ConfedSequence(Vec<u32>),
    ConfedSet(Vec<u32>),
}

/// Most ASNs one AS_PATH segment carries on the wire (its count is one octet).
pub const MAX_SEGMENT_ASNS: usize = 255;

/// One AS_PATH segment of an [`AsPath`], borrowed from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AsPathSegmentRef<'a> {
    Sequence(&'a [u32]),
    Set(&'a [u32]),
    ConfedSequence(&'a [u32]),
    ConfedSet(&'a [u32]),
}

/// AS_PATH with 4-octet ASNs (AS4_PATH already merged in for 2-octet speakers).
///
/// Stored in one block: per segment a header word (type code << 16 | ASN
/// count) followed by its ASNs. Every interned attribute set holds one: as a
/// `Vec` of segments each with its own `Vec` it was two heap blocks and 24
/// inline octets (8 here), ~24 octets more per set (BENCHMARKS.md, session 8).
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct AsPath {
    pub(crate) words: ThinVec<u32>,
}

impl fmt::Debug for AsPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.segments()).finish()
    }
}

impl From<Vec<AsPathSegment>> for AsPath {
    fn from(segments: Vec<AsPathSegment>) -> Self {
        AsPath::from_segments(segments)
    }
}

impl<'a> AsPathSegmentRef<'a> {
    /// The segment type code (1 AS_SET, 2 AS_SEQUENCE, 3 AS_CONFED_SEQUENCE, 4 AS_CONFED_SET).
    pub fn type_code(&self) -> u8 {
        match self {
            AsPathSegmentRef::Set(_) => 1,
            AsPathSegmentRef::Sequence(_) => 2,
            AsPathSegmentRef::ConfedSequence(_) => 3,
            AsPathSegmentRef::ConfedSet(_) => 4,
        }
    }

    pub fn asns(&self) -> &'a [u32] {
        match *self {
            AsPathSegmentRef::Sequence(asns)
            | AsPathSegmentRef::Set(asns)
            | AsPathSegmentRef::ConfedSequence(asns)
            | AsPathSegmentRef::ConfedSet(asns) => asns,
        }
    }

    /// Is this a confederation segment (RFC 5065)?
    pub fn is_confed(&self) -> bool {
        matches!(
            self,
            AsPathSegmentRef::ConfedSequence(_) | AsPathSegmentRef::ConfedSet(_)
        )
    }

    pub fn to_owned(&self) -> AsPathSegment {
        let asns = self.asns().to_vec();
        match self {
            AsPathSegmentRef::Sequence(_) => AsPathSegment::Sequence(asns),
            AsPathSegmentRef::Set(_) => AsPathSegment::Set(asns),
            AsPathSegmentRef::ConfedSequence(_) => AsPathSegment::ConfedSequence(asns),
            AsPathSegmentRef::ConfedSet(_) => AsPathSegment::ConfedSet(asns),
        }
    }
}

/// The segments of an [`AsPath`], in order.
#[derive(Debug, Clone)]
pub struct AsPathSegments<'a> {
    words: &'a [u32],
}

impl<'a> AsPathSegments<'a> {
    /// The segments of a path stored as [`AsPath::words`] elsewhere (an
    /// interned attribute set keeps them in its own block). Words that are
    /// not such a path read as some segments, never a panic.
    pub fn of_words(words: &'a [u32]) -> Self {
        AsPathSegments { words }
    }

    /// The left-most AS (the neighbour's), if the path starts with an AS_SEQUENCE.
    pub fn first_asn(mut self) -> Option<u32> {
        match self.next()? {
            AsPathSegmentRef::Sequence(asns) => asns.first().copied(),
            _ => None,
        }
    }

    /// Path length as used by best-path selection (RFC 4271 §9.1.2.2): an AS_SET
    /// counts as one, confederation segments count as zero.
    pub fn path_len(self) -> usize {
        self.map(|segment| match segment {
            AsPathSegmentRef::Sequence(asns) => asns.len(),
            AsPathSegmentRef::Set(_) => 1,
            AsPathSegmentRef::ConfedSequence(_) | AsPathSegmentRef::ConfedSet(_) => 0,
        })
        .sum()
    }
}

impl<'a> Iterator for AsPathSegments<'a> {
    type Item = AsPathSegmentRef<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        let (&header, rest) = self.words.split_first()?;
        let len = (header & 0xffff) as usize;
        let (asns, rest) = rest.split_at(len.min(rest.len()));
        self.words = rest;
        Some(match header >> 16 {
            1 => AsPathSegmentRef::Set(asns),
            3 => AsPathSegmentRef::ConfedSequence(asns),
            4 => AsPathSegmentRef::ConfedSet(asns),
            _ => AsPathSegmentRef::Sequence(asns),
        })
    }
}

/// AGGREGATOR attribute (4-octet form; AS4_AGGREGATOR already merged in).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Aggregator {
    pub asn: u32,
    pub address: Ipv4Addr,
}

/// RFC 8092 large community.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LargeCommunity {
    pub global_admin: u32,
    pub local_data1: u32,
    pub local_data2: u32,
}

/// An attribute the codec does not interpret, kept byte for byte.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RawAttribute {
    /// Flags as received (the Partial bit is set on encode for optional transitive ones).
    pub flags: u8,
    pub type_code: u8,
    pub value: Vec<u8>,
}

/// Next hop of an MP_REACH_NLRI (RFC 4760; RFC 2545 for IPv6 with link-local).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MpNextHop {
    V4(Ipv4Addr),
    V6 {
        global: Ipv6Addr,
        link_local: Option<Ipv6Addr>,
    },
}

/// MP_REACH_NLRI (attribute 14).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MpReach {
    pub afi_safi: AfiSafi,
    pub next_hop: MpNextHop,
    pub nlri: Vec<Nlri>,
}

/// MP_UNREACH_NLRI (attribute 15). Empty `nlri` is End-of-RIB for that family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MpUnreach {
    pub afi_safi: AfiSafi,
    pub nlri: Vec<Nlri>,
}

/// The path attributes of an UPDATE other than MP_REACH/MP_UNREACH.
///
/// AS4_PATH and AS4_AGGREGATOR never appear here: the decoder reconciles them
/// into `as_path` and `aggregator` (RFC 6793 §4.2.3), and the encoder produces
/// them again for 2-octet peers.
///
/// The list fields are [`ThinVec`]s (8 octets, 0 when empty, instead of a
/// `Vec`'s 24): a route server keeps one of these per distinct attribute
/// set, and most of its lists are empty.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct PathAttributes {
    pub origin: Option<Origin>,
    pub as_path: Option<AsPath>,
    pub next_hop: Option<Ipv4Addr>,
    pub med: Option<u32>,
    pub local_pref: Option<u32>,
    pub atomic_aggregate: bool,
    pub aggregator: Option<Aggregator>,
    /// RFC 1997 communities, as received (order kept).
    pub communities: ThinVec<u32>,
    /// RFC 4360 extended communities, 8 octets each.
    pub extended_communities: ThinVec<[u8; 8]>,
    /// RFC 8092 large communities.
    pub large_communities: ThinVec<LargeCommunity>,
    /// RFC 9234 Only To Customer.
    pub otc: Option<u32>,
    /// Unrecognised optional transitive attributes (and recognised ones kumo does
    /// not interpret), in received order.
    pub unknown: ThinVec<RawAttribute>,
}

/// BGP UPDATE (RFC 4271 §4.3), decoded.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Update {
    /// IPv4 withdrawn routes field.
    pub withdrawn: Vec<Nlri>,
    pub attributes: PathAttributes,
    pub mp_reach: Option<MpReach>,
    pub mp_unreach: Option<MpUnreach>,
    /// IPv4 NLRI field.
    pub nlri: Vec<Nlri>,
}

impl Update {
    /// The family this UPDATE is the End-of-RIB marker of (RFC 4724 §2), if it is one:
    /// an empty UPDATE for IPv4 unicast, or an UPDATE carrying nothing but an empty
    /// MP_UNREACH_NLRI for any other family.
    pub fn end_of_rib(&self) -> Option<AfiSafi> {
        if !self.withdrawn.is_empty()
            || !self.nlri.is_empty()
            || self.mp_reach.is_some()
            || self.attributes != PathAttributes::default()
        {
            return None;
        }
        match &self.mp_unreach {
            None => Some(AfiSafi::IPV4_UNICAST),
            Some(unreach) if unreach.nlri.is_empty() => Some(unreach.afi_safi),
            Some(_) => None,
        }
    }
}

impl AsPath {
    /// An empty AS_PATH (what a route server's own routes would carry).
    pub fn new() -> Self {
        AsPath::default()
    }

    /// A path of one AS_SEQUENCE.
    pub fn sequence(asns: &[u32]) -> Self {
        let mut path = AsPath::with_capacity(1 + asns.len());
        path.push(AsPathSegmentRef::Sequence(asns));
        path
    }

    /// Room for `words` header words and ASNs without reallocating.
    pub fn with_capacity(words: usize) -> Self {
        AsPath {
            words: ThinVec::with_capacity(words),
        }
    }

    pub fn from_segments(segments: impl IntoIterator<Item = AsPathSegment>) -> Self {
        let mut path = AsPath::new();
        for segment in segments {
            path.push(segment.as_ref());
        }
        path
    }

    /// Appends `segment` (split in two if it holds more than 65,535 ASNs, which
    /// no BGP message can carry). An empty segment is left out: it has no
    /// meaning, and the wire has no way to carry one (RFC 7606 §7.2).
    pub fn push(&mut self, segment: AsPathSegmentRef<'_>) {
        let code = u32::from(segment.type_code()) << 16;
        for chunk in segment.asns().chunks(usize::from(u16::MAX)) {
            self.words.push(code | chunk.len() as u32);
            self.words.extend_from_slice(chunk);
        }
    }

    /// Prepends `asn` `times` times: into the first segment if it is an
    /// AS_SEQUENCE with room (a segment on the wire holds at most 255 ASNs),
    /// else as a new AS_SEQUENCE in front (RFC 4271 §5.1.2).
    pub fn prepend(&mut self, asn: u32, times: usize) {
        if times == 0 {
            return;
        }
        let mut rest = self.segments();
        let mut words = ThinVec::with_capacity(self.words.len() + times + 1);
        match rest.clone().next() {
            Some(AsPathSegmentRef::Sequence(asns)) if asns.len() + times <= MAX_SEGMENT_ASNS => {
                words.push((2 << 16) | (asns.len() + times) as u32);
                words.extend(std::iter::repeat_n(asn, times));
                words.extend_from_slice(asns);
                rest.next();
            }
            _ => {
                let mut left = times;
                while left > 0 {
                    let n = left.min(MAX_SEGMENT_ASNS);
                    words.push((2 << 16) | n as u32);
                    words.extend(std::iter::repeat_n(asn, n));
                    left -= n;
                }
            }
        }
        words.extend_from_slice(rest.words);
        self.words = words;
    }

    /// The path as stored: per segment a header word (type code << 16 | ASN
    /// count), then its ASNs. [`AsPath::from_words`] reads it back.
    pub fn words(&self) -> &[u32] {
        &self.words
    }

    /// A path from [`AsPath::words`] (read by [`AsPathSegments::of_words`]).
    pub fn from_words(words: &[u32]) -> Self {
        AsPath {
            words: ThinVec::from(words),
        }
    }

    /// The segments, in order.
    pub fn segments(&self) -> AsPathSegments<'_> {
        AsPathSegments { words: &self.words }
    }

    /// The segments as owned values (for tests and rare rewrites).
    pub fn to_segments(&self) -> Vec<AsPathSegment> {
        self.segments().map(|s| s.to_owned()).collect()
    }

    pub fn segment_count(&self) -> usize {
        self.segments().count()
    }

    /// No segment at all?
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// The left-most AS of the path (the neighbour's), if it starts with an
    /// AS_SEQUENCE.
    pub fn first_asn(&self) -> Option<u32> {
        self.segments().first_asn()
    }

    /// Every ASN of every segment, in order.
    pub fn asns(&self) -> impl Iterator<Item = u32> + '_ {
        self.segments().flat_map(|s| s.asns().iter().copied())
    }

    /// Path length as used by best-path selection (RFC 4271 §9.1.2.2): an AS_SET
    /// counts as one, confederation segments count as zero.
    pub fn path_len(&self) -> usize {
        self.segments().path_len()
    }
}

impl AsPathSegment {
    /// The segment type code (1 AS_SET, 2 AS_SEQUENCE, 3 AS_CONFED_SEQUENCE, 4 AS_CONFED_SET).
    pub fn type_code(&self) -> u8 {
        match self {
            AsPathSegment::Set(_) => 1,
            AsPathSegment::Sequence(_) => 2,
            AsPathSegment::ConfedSequence(_) => 3,
            AsPathSegment::ConfedSet(_) => 4,
        }
    }
    pub fn asns(&self) -> &[u32] {
        match self {
            AsPathSegment::Sequence(asns)
            | AsPathSegment::Set(asns)
            | AsPathSegment::ConfedSequence(asns)
            | AsPathSegment::ConfedSet(asns) => asns,
        }
    }

    /// This segment, borrowed (the form [`AsPath`] hands out).
    pub fn as_ref(&self) -> AsPathSegmentRef<'_> {
        match self {
            AsPathSegment::Sequence(asns) => AsPathSegmentRef::Sequence(asns),
            AsPathSegment::Set(asns) => AsPathSegmentRef::Set(asns),
            AsPathSegment::ConfedSequence(asns) => AsPathSegmentRef::ConfedSequence(asns),
            AsPathSegment::ConfedSet(asns) => AsPathSegmentRef::ConfedSet(asns),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn an_as_path_is_one_block_of_words() {
        let path = AsPath::from(vec![
            AsPathSegment::Sequence(vec![64500, 64501]),
            AsPathSegment::Set(vec![7]),
        ]);
        assert_eq!(&path.words[..], &[(2 << 16) | 2, 64500, 64501, (1 << 16) | 1, 7]);
        // 8 octets inline (`Option` too): the interned attribute set stays small.
        assert_eq!(std::mem::size_of::<Option<AsPath>>(), 8);
        assert_eq!(format!("{path:?}"), "[Sequence([64500, 64501]), Set([7])]");
        assert_eq!(path.segment_count(), 2);
        assert_eq!(path.first_asn(), Some(64500));
        assert_eq!(path.path_len(), 3);
        assert_eq!(path.asns().collect::<Vec<_>>(), vec![64500, 64501, 7]);
    }

    #[test]
    fn prepend_joins_the_first_sequence_while_it_has_room() {
        let mut path = AsPath::from(vec![
            AsPathSegment::Sequence(vec![3356]),
            AsPathSegment::Set(vec![1, 2]),
        ]);
        path.prepend(64501, 2);
        assert_eq!(
            path.to_segments(),
            vec![
                AsPathSegment::Sequence(vec![64501, 64501, 3356]),
                AsPathSegment::Set(vec![1, 2])
            ]
        );
        // 254 + 3 would not fit one segment on the wire: a new one in front.
        let mut long = AsPath::sequence(&[7; 254]);
        long.prepend(7, 3);
        assert_eq!(
            long.to_segments(),
            vec![
                AsPathSegment::Sequence(vec![7; 3]),
                AsPathSegment::Sequence(vec![7; 254])
            ]
        );
        // A path that starts with a set: a new sequence in front.
        let mut set_first = AsPath::from(vec![AsPathSegment::Set(vec![1])]);
        set_first.prepend(9, 1);
        assert_eq!(
            set_first.to_segments(),
            vec![AsPathSegment::Sequence(vec![9]), AsPathSegment::Set(vec![1])]
        );
        assert_eq!(set_first.first_asn(), Some(9));
        // Nothing to prepend, nothing changes; an empty path gets a sequence.
        let mut empty = AsPath::new();
        empty.prepend(9, 0);
        assert!(empty.is_empty());
        empty.prepend(9, 2);
        assert_eq!(empty.to_segments(), vec![AsPathSegment::Sequence(vec![9, 9])]);
    }

    fn segment() -> impl Strategy<Value = AsPathSegment> {
        (0u8..4, prop::collection::vec(any::<u32>(), 0..300)).prop_map(|(kind, asns)| match kind {
            0 => AsPathSegment::Sequence(asns),
            1 => AsPathSegment::Set(asns),
            2 => AsPathSegment::ConfedSequence(asns),
            _ => AsPathSegment::ConfedSet(asns),
        })
    }

    proptest! {
        #[test]
        fn segments_read_back_as_built(segments in prop::collection::vec(segment(), 0..6)) {
            let path = AsPath::from_segments(segments.clone());
            let kept: Vec<AsPathSegment> =
                segments.iter().filter(|s| !s.asns().is_empty()).cloned().collect();
            prop_assert_eq!(path.to_segments(), kept.clone());
            let len: usize = kept
                .iter()
                .map(|s| match s {
                    AsPathSegment::Sequence(a) => a.len(),
                    AsPathSegment::Set(_) => 1,
                    _ => 0,
                })
                .sum();
            prop_assert_eq!(path.path_len(), len);
        }
    }
}
