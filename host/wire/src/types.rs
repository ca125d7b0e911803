//! The decoded forms of BGP messages, attributes and capabilities.
//!
//! These types are the contract between the codec and the rest of kumo:
//! the session FSM consumes [`Open`], [`Notification`] and [`Message`]; the RIB
//! consumes [`Update`] and [`PathAttributes`].

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
// UPDATE is by far the most frequent message: boxing it would cost an
// allocation per UPDATE to save stack space on the rare others.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Open(Open),
    Update(Update),
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

/// AS_PATH with 4-octet ASNs (AS4_PATH already merged in for 2-octet speakers).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct AsPath {
    pub segments: Vec<AsPathSegment>,
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
    /// Path length as used by best-path selection (RFC 4271 §9.1.2.2): an AS_SET
    /// counts as one, confederation segments count as zero.
    pub fn path_len(&self) -> usize {
        self.segments
            .iter()
            .map(|segment| match segment {
                AsPathSegment::Sequence(asns) => asns.len(),
                AsPathSegment::Set(_) => 1,
                AsPathSegment::ConfedSequence(_) | AsPathSegment::ConfedSet(_) => 0,
            })
            .sum()
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
}
