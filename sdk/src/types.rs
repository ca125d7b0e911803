//! The data a policy decides on: clients, path attributes, AS_PATH, communities.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use crate::Config;

/// A route-server client (peer) as configured in kumo.
///
/// ```
/// use kumo_sdk::Client;
/// let c = Client::test(7, 64507).with_address([192, 0, 2, 7]);
/// assert_eq!(c.asn, 64507);
/// assert!(c.has_address("192.0.2.7".parse().unwrap()));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Client {
    /// kumo's id for the client; calls refer to clients by id.
    pub id: u32,
    /// The configured name.
    pub name: String,
    /// The client's ASN.
    pub asn: u32,
    /// The client's addresses on the IX LAN.
    pub addresses: Vec<IpAddr>,
    /// Per-client policy parameters from the configuration (`{}` when none).
    pub params: Config,
}

impl Client {
    /// A client for tests: name `as<ASN>`, no addresses, empty params.
    ///
    /// ```
    /// let c = kumo_sdk::Client::test(1, 64501);
    /// assert_eq!(c.name, "as64501");
    /// ```
    pub fn test(id: u32, asn: u32) -> Self {
        Client {
            id,
            name: format!("as{asn}"),
            asn,
            addresses: Vec::new(),
            params: Config::Object(Default::default()),
        }
    }

    /// Add an address (builder style).
    ///
    /// ```
    /// let c = kumo_sdk::Client::test(1, 64501).with_address([192, 0, 2, 1]);
    /// assert_eq!(c.addresses.len(), 1);
    /// ```
    pub fn with_address(mut self, address: impl Into<IpAddr>) -> Self {
        self.addresses.push(address.into());
        self
    }

    /// Replace the params (builder style).
    ///
    /// ```
    /// let c = kumo_sdk::Client::test(1, 64501).with_params(serde_json::json!({"max_len": 24}));
    /// assert_eq!(c.params["max_len"], 24);
    /// ```
    pub fn with_params(mut self, params: Config) -> Self {
        self.params = params;
        self
    }

    /// Is `address` one of the client's addresses?
    ///
    /// ```
    /// let c = kumo_sdk::Client::test(1, 64501).with_address([192, 0, 2, 1]);
    /// assert!(!c.has_address([192, 0, 2, 9].into()));
    /// ```
    pub fn has_address(&self, address: IpAddr) -> bool {
        self.addresses.contains(&address)
    }
}

/// The clients known to a policy instance, looked up by id.
///
/// Lookups are O(1) when ids are dense from 0 (as kumo assigns them) and
/// O(log n) otherwise.
///
/// ```
/// use kumo_sdk::{Client, types::ClientTable};
/// let table = ClientTable::new(vec![Client::test(0, 64500), Client::test(1, 64501)]);
/// assert_eq!(table.get(1).map(|c| c.asn), Some(64501));
/// assert!(table.get(9).is_none());
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClientTable {
    clients: Vec<Client>,
}

impl ClientTable {
    /// Build a table; a later duplicate id replaces an earlier one.
    ///
    /// ```
    /// let t = kumo_sdk::types::ClientTable::new(vec![kumo_sdk::Client::test(5, 1), kumo_sdk::Client::test(5, 2)]);
    /// assert_eq!(t.len(), 1);
    /// ```
    pub fn new(mut clients: Vec<Client>) -> Self {
        // Stable sort keeps input order among equal ids; keep the last one.
        clients.sort_by_key(|c| c.id);
        let mut deduped: Vec<Client> = Vec::with_capacity(clients.len());
        for client in clients {
            match deduped.last_mut() {
                Some(last) if last.id == client.id => *last = client,
                _ => deduped.push(client),
            }
        }
        ClientTable { clients: deduped }
    }

    /// The client with this id.
    ///
    /// ```
    /// let t = kumo_sdk::types::ClientTable::new(vec![kumo_sdk::Client::test(10, 64510)]);
    /// assert_eq!(t.get(10).unwrap().asn, 64510);
    /// ```
    pub fn get(&self, id: u32) -> Option<&Client> {
        match self.clients.get(id as usize) {
            Some(client) if client.id == id => Some(client),
            _ => self
                .clients
                .binary_search_by_key(&id, |c| c.id)
                .ok()
                .and_then(|i| self.clients.get(i)),
        }
    }

    /// Every client, by ascending id.
    ///
    /// ```
    /// use kumo_sdk::{Client, types::ClientTable};
    /// let t = ClientTable::new(vec![Client::test(2, 64502), Client::test(1, 64501)]);
    /// assert_eq!(t.iter().map(|c| c.id).collect::<Vec<_>>(), vec![1, 2]);
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = &Client> + '_ {
        self.clients.iter()
    }

    /// Number of clients.
    ///
    /// ```
    /// assert_eq!(kumo_sdk::types::ClientTable::default().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.clients.len()
    }

    /// No clients at all?
    ///
    /// ```
    /// assert!(kumo_sdk::types::ClientTable::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }
}

/// The candidate receivers of one export call, by position.
///
/// Positions are what [`crate::ExportVerdicts`] speaks in. A target whose id
/// the instance does not know is skipped by [`Targets::iter`] and denied by
/// the SDK after the policy ran (fail closed).
///
/// ```
/// use kumo_sdk::{Client, Targets, types::ClientTable};
/// let table = ClientTable::new(vec![Client::test(0, 64500), Client::test(1, 64501)]);
/// let targets = Targets::new(&[1, 0, 42], &table);
/// let asns: Vec<(usize, u32)> = targets.iter().map(|(i, c)| (i, c.asn)).collect();
/// assert_eq!(asns, vec![(0, 64501), (1, 64500)]);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Targets<'a> {
    ids: &'a [u32],
    table: &'a ClientTable,
}

impl<'a> Targets<'a> {
    /// Targets by client id, resolved in `table`.
    ///
    /// ```
    /// let table = kumo_sdk::types::ClientTable::default();
    /// assert_eq!(kumo_sdk::Targets::new(&[1, 2], &table).len(), 2);
    /// ```
    pub fn new(ids: &'a [u32], table: &'a ClientTable) -> Self {
        Targets { ids, table }
    }

    /// Number of targets (known or not).
    ///
    /// ```
    /// let table = kumo_sdk::types::ClientTable::default();
    /// assert!(kumo_sdk::Targets::new(&[], &table).is_empty());
    /// ```
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// No targets?
    ///
    /// ```
    /// let table = kumo_sdk::types::ClientTable::default();
    /// assert!(!kumo_sdk::Targets::new(&[3], &table).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The client at position `index`, if known.
    ///
    /// ```
    /// use kumo_sdk::{Client, Targets, types::ClientTable};
    /// let table = ClientTable::new(vec![Client::test(4, 64504)]);
    /// assert_eq!(Targets::new(&[4], &table).get(0).unwrap().asn, 64504);
    /// ```
    pub fn get(&self, index: usize) -> Option<&'a Client> {
        self.ids.get(index).and_then(|id| self.table.get(*id))
    }

    /// The client ids, by position.
    ///
    /// ```
    /// let table = kumo_sdk::types::ClientTable::default();
    /// assert_eq!(kumo_sdk::Targets::new(&[9, 8], &table).ids(), &[9, 8]);
    /// ```
    pub fn ids(&self) -> &'a [u32] {
        self.ids
    }

    /// `(position, client)` for every known target.
    ///
    /// ```
    /// use kumo_sdk::{Client, Targets, types::ClientTable};
    /// let table = ClientTable::new(vec![Client::test(0, 64500)]);
    /// assert_eq!(Targets::new(&[0, 0], &table).iter().count(), 2);
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = (usize, &'a Client)> + 'a {
        let table = self.table;
        self.ids
            .iter()
            .enumerate()
            .filter_map(move |(i, id)| table.get(*id).map(|c| (i, c)))
    }

    /// Positions whose client id is unknown to this instance.
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub(crate) fn unknown(&self) -> impl Iterator<Item = usize> + 'a {
        let table = self.table;
        // Ids sorted and distinct, the last one `len - 1`: they are exactly
        // `0..len` (kumo's numbering), and one comparison per target tells
        // that every target is known: the usual answer, asked once per
        // export question for every target.
        let len = table.clients.len();
        let dense = table
            .clients
            .last()
            .is_none_or(|c| (c.id as usize).checked_add(1) == Some(len));
        let all_known = dense && self.ids.iter().all(|&id| (id as usize) < len);
        // Nothing to walk when every target is known.
        let ids = if all_known { &[][..] } else { self.ids };
        ids.iter()
            .enumerate()
            .filter(move |(_, id)| table.get(**id).is_none())
            .map(|(i, _)| i)
    }
}

/// ORIGIN attribute.
///
/// ```
/// assert_ne!(kumo_sdk::Origin::Igp, kumo_sdk::Origin::Incomplete);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Origin {
    /// IGP (0).
    Igp,
    /// EGP (1).
    Egp,
    /// INCOMPLETE (2).
    Incomplete,
}

/// The kind of an AS_PATH segment.
///
/// ```
/// assert_ne!(kumo_sdk::SegmentKind::Sequence, kumo_sdk::SegmentKind::Set);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SegmentKind {
    /// AS_SEQUENCE.
    Sequence,
    /// AS_SET.
    Set,
    /// AS_CONFED_SEQUENCE.
    ConfedSequence,
    /// AS_CONFED_SET.
    ConfedSet,
}

/// One AS_PATH segment.
///
/// ```
/// use kumo_sdk::{Segment, SegmentKind};
/// let s = Segment { kind: SegmentKind::Set, asns: vec![1, 2] };
/// assert_eq!(s.asns.len(), 2);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Segment {
    /// Segment type.
    pub kind: SegmentKind,
    /// ASNs, left to right.
    pub asns: Vec<u32>,
}

/// AS_PATH with 4-octet ASNs.
///
/// ```
/// use kumo_sdk::AsPath;
/// let path = AsPath::sequence([64501, 64510, 64520]);
/// assert_eq!(path.first_asn(), Some(64501));
/// assert_eq!(path.origin_asn(), Some(64520));
/// assert_eq!(path.len(), 3);
/// assert!(path.contains(64510));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct AsPath {
    /// Segments, left (most recent) to right (origin).
    pub segments: Vec<Segment>,
}

impl AsPath {
    /// A path of one AS_SEQUENCE.
    ///
    /// ```
    /// assert_eq!(kumo_sdk::AsPath::sequence([1, 2]).segments.len(), 1);
    /// assert!(kumo_sdk::AsPath::sequence([]).is_empty());
    /// ```
    pub fn sequence(asns: impl IntoIterator<Item = u32>) -> Self {
        let asns: Vec<u32> = asns.into_iter().collect();
        if asns.is_empty() {
            return AsPath::default();
        }
        AsPath {
            segments: vec![Segment {
                kind: SegmentKind::Sequence,
                asns,
            }],
        }
    }

    /// The left-most AS: the neighbour that sent the route. `None` for an
    /// empty path or one that starts with an AS_SET or a confederation segment.
    ///
    /// ```
    /// use kumo_sdk::{AsPath, Segment, SegmentKind};
    /// let set_first = AsPath { segments: vec![Segment { kind: SegmentKind::Set, asns: vec![1] }] };
    /// assert_eq!(set_first.first_asn(), None);
    /// ```
    pub fn first_asn(&self) -> Option<u32> {
        match self.segments.first() {
            Some(Segment {
                kind: SegmentKind::Sequence,
                asns,
            }) => asns.first().copied(),
            _ => None,
        }
    }

    /// The right-most AS: the one that originated the route. `None` when the
    /// path is empty or ends with an AS_SET (the origin is then ambiguous).
    ///
    /// ```
    /// use kumo_sdk::{AsPath, Segment, SegmentKind};
    /// let mut path = AsPath::sequence([64501, 64502]);
    /// assert_eq!(path.origin_asn(), Some(64502));
    /// path.segments.push(Segment { kind: SegmentKind::Set, asns: vec![7, 8] });
    /// assert_eq!(path.origin_asn(), None);
    /// ```
    pub fn origin_asn(&self) -> Option<u32> {
        match self.segments.last() {
            Some(Segment {
                kind: SegmentKind::Sequence,
                asns,
            }) => asns.last().copied(),
            _ => None,
        }
    }

    /// Path length as best-path selection counts it (RFC 4271 §9.1.2.2): an
    /// AS_SET counts as one, confederation segments as zero.
    ///
    /// ```
    /// use kumo_sdk::{AsPath, Segment, SegmentKind};
    /// let mut path = AsPath::sequence([1, 2, 3]);
    /// path.segments.push(Segment { kind: SegmentKind::Set, asns: vec![4, 5, 6] });
    /// assert_eq!(path.len(), 4);
    /// ```
    pub fn len(&self) -> usize {
        self.segments
            .iter()
            .map(|s| match s.kind {
                SegmentKind::Sequence => s.asns.len(),
                SegmentKind::Set => 1,
                SegmentKind::ConfedSequence | SegmentKind::ConfedSet => 0,
            })
            .sum()
    }

    /// No ASNs at all (a route originated by the neighbour's iBGP... or by
    /// a route server that is not transparent)?
    ///
    /// ```
    /// assert!(kumo_sdk::AsPath::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.segments.iter().all(|s| s.asns.is_empty())
    }

    /// Every ASN in the path, left to right, whatever its segment.
    ///
    /// ```
    /// let path = kumo_sdk::AsPath::sequence([1, 2]);
    /// assert_eq!(path.asns().collect::<Vec<_>>(), vec![1, 2]);
    /// ```
    pub fn asns(&self) -> impl Iterator<Item = u32> + '_ {
        self.segments.iter().flat_map(|s| s.asns.iter().copied())
    }

    /// Does `asn` appear anywhere in the path?
    ///
    /// ```
    /// assert!(!kumo_sdk::AsPath::sequence([1, 2]).contains(3));
    /// ```
    pub fn contains(&self, asn: u32) -> bool {
        self.segments.iter().any(|s| s.asns.contains(&asn))
    }

    /// Does any ASN in the path satisfy `test`? For example
    /// `path.any(asn::is_private)`.
    ///
    /// ```
    /// use kumo_sdk::{AsPath, asn};
    /// assert!(AsPath::sequence([3356, 64512]).any(asn::is_private));
    /// assert!(!AsPath::sequence([3356, 174]).any(asn::is_private));
    /// ```
    pub fn any(&self, test: impl Fn(u32) -> bool) -> bool {
        self.segments.iter().any(|s| s.asns.iter().any(|a| test(*a)))
    }

    /// Does the path contain an AS_SET (or AS_CONFED_SET)? RFC 9774
    /// deprecates them; many IXs reject such routes.
    ///
    /// ```
    /// assert!(!kumo_sdk::AsPath::sequence([1]).has_as_set());
    /// ```
    pub fn has_as_set(&self) -> bool {
        self.segments
            .iter()
            .any(|s| matches!(s.kind, SegmentKind::Set | SegmentKind::ConfedSet))
    }
}

/// An RFC 1997 community: `asn:value`, both 16 bits.
///
/// ```
/// use kumo_sdk::Community;
/// let c: Community = "65000:120".parse().unwrap();
/// assert_eq!((c.asn(), c.value()), (65000, 120));
/// assert_eq!(c, Community::new(65000, 120));
/// assert!(c.matches(Some(65000), None));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Community(pub u32);

impl Community {
    /// RFC 8326 GRACEFUL_SHUTDOWN.
    pub const GRACEFUL_SHUTDOWN: Community = Community(0xFFFF_0000);
    /// RFC 7999 BLACKHOLE.
    pub const BLACKHOLE: Community = Community(0xFFFF_029A);
    /// RFC 1997 NO_EXPORT.
    pub const NO_EXPORT: Community = Community(0xFFFF_FF01);
    /// RFC 1997 NO_ADVERTISE.
    pub const NO_ADVERTISE: Community = Community(0xFFFF_FF02);

    /// `asn:value`.
    ///
    /// ```
    /// assert_eq!(kumo_sdk::Community::new(0xFFFF, 0xFF01), kumo_sdk::Community::NO_EXPORT);
    /// ```
    pub const fn new(asn: u16, value: u16) -> Self {
        Community(((asn as u32) << 16) | value as u32)
    }

    /// The high 16 bits.
    ///
    /// ```
    /// assert_eq!(kumo_sdk::Community::new(7, 8).asn(), 7);
    /// ```
    pub const fn asn(self) -> u16 {
        (self.0 >> 16) as u16
    }

    /// The low 16 bits.
    ///
    /// ```
    /// assert_eq!(kumo_sdk::Community::new(7, 8).value(), 8);
    /// ```
    pub const fn value(self) -> u16 {
        self.0 as u16
    }

    /// Match with wildcards: `None` matches any value in that half.
    ///
    /// ```
    /// let c = kumo_sdk::Community::new(0, 64501);
    /// assert!(c.matches(Some(0), None));
    /// assert!(!c.matches(Some(65000), None));
    /// ```
    pub fn matches(self, asn: Option<u16>, value: Option<u16>) -> bool {
        asn.is_none_or(|a| a == self.asn()) && value.is_none_or(|v| v == self.value())
    }
}

impl fmt::Display for Community {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.asn(), self.value())
    }
}

/// The error of parsing a community from text.
///
/// ```
/// assert!("65536:1".parse::<kumo_sdk::Community>().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseCommunityError(pub String);

impl fmt::Display for ParseCommunityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid community {:?}", self.0)
    }
}

impl std::error::Error for ParseCommunityError {}

impl FromStr for Community {
    type Err = ParseCommunityError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseCommunityError(s.to_owned());
        let (a, v) = s.split_once(':').ok_or_else(err)?;
        Ok(Community::new(
            a.trim().parse().map_err(|_| err())?,
            v.trim().parse().map_err(|_| err())?,
        ))
    }
}

/// An RFC 8092 large community `global:data1:data2`.
///
/// ```
/// use kumo_sdk::LargeCommunity;
/// let lc: LargeCommunity = "64500:1101:13".parse().unwrap();
/// assert_eq!(lc, LargeCommunity::new(64500, 1101, 13));
/// assert!(lc.matches(Some(64500), Some(1101), None));
/// assert_eq!(lc.to_string(), "64500:1101:13");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LargeCommunity {
    /// Global administrator (an ASN).
    pub global: u32,
    /// First local data part.
    pub data1: u32,
    /// Second local data part.
    pub data2: u32,
}

impl LargeCommunity {
    /// `global:data1:data2`.
    ///
    /// ```
    /// assert_eq!(kumo_sdk::LargeCommunity::new(1, 2, 3).data2, 3);
    /// ```
    pub const fn new(global: u32, data1: u32, data2: u32) -> Self {
        LargeCommunity { global, data1, data2 }
    }

    /// Match with wildcards: `None` matches any value in that part.
    ///
    /// ```
    /// let lc = kumo_sdk::LargeCommunity::new(64500, 0, 64501);
    /// assert!(lc.matches(Some(64500), Some(0), None));
    /// assert!(!lc.matches(None, Some(1), None));
    /// ```
    pub fn matches(self, global: Option<u32>, data1: Option<u32>, data2: Option<u32>) -> bool {
        global.is_none_or(|g| g == self.global)
            && data1.is_none_or(|d| d == self.data1)
            && data2.is_none_or(|d| d == self.data2)
    }
}

impl fmt::Display for LargeCommunity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.global, self.data1, self.data2)
    }
}

impl FromStr for LargeCommunity {
    type Err = ParseCommunityError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseCommunityError(s.to_owned());
        let mut parts = s.split(':').map(|p| p.trim().parse::<u32>().map_err(|_| err()));
        let (Some(g), Some(d1), Some(d2), None) = (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(err());
        };
        Ok(LargeCommunity::new(g?, d1?, d2?))
    }
}

/// The path attributes shared by every prefix of one call.
///
/// Build test values in one line with [`Attributes::test`] and the `with`-style
/// methods:
///
/// ```
/// use kumo_sdk::{Attributes, Community};
/// let attrs = Attributes::test().path([64501, 64510]).next_hop([192, 0, 2, 1]).community(65000, 1);
/// assert_eq!(attrs.as_path.origin_asn(), Some(64510));
/// assert!(attrs.has_community(Community::new(65000, 1)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Attributes {
    /// ORIGIN, if present.
    pub origin: Option<Origin>,
    /// AS_PATH (4-octet ASNs).
    pub as_path: AsPath,
    /// NEXT_HOP or the MP_REACH_NLRI global next hop.
    pub next_hop: Option<IpAddr>,
    /// MULTI_EXIT_DISC.
    pub med: Option<u32>,
    /// LOCAL_PREF (rarely present from eBGP clients).
    pub local_pref: Option<u32>,
    /// ATOMIC_AGGREGATE present.
    pub atomic_aggregate: bool,
    /// AGGREGATOR (ASN, address).
    pub aggregator: Option<(u32, std::net::Ipv4Addr)>,
    /// RFC 1997 communities, in received order.
    pub communities: Vec<Community>,
    /// RFC 4360 extended communities, big-endian u64.
    pub extended_communities: Vec<u64>,
    /// RFC 8092 large communities.
    pub large_communities: Vec<LargeCommunity>,
    /// RFC 9234 Only To Customer.
    pub otc: Option<u32>,
}

impl Attributes {
    /// Attributes for tests: ORIGIN IGP, everything else empty.
    ///
    /// ```
    /// assert_eq!(kumo_sdk::Attributes::test().origin, Some(kumo_sdk::Origin::Igp));
    /// ```
    pub fn test() -> Self {
        Attributes {
            origin: Some(Origin::Igp),
            ..Attributes::default()
        }
    }

    /// Replace the AS_PATH by one AS_SEQUENCE.
    ///
    /// ```
    /// assert_eq!(kumo_sdk::Attributes::test().path([1, 2, 3]).as_path.len(), 3);
    /// ```
    pub fn path(mut self, asns: impl IntoIterator<Item = u32>) -> Self {
        self.as_path = AsPath::sequence(asns);
        self
    }

    /// Set the next hop.
    ///
    /// ```
    /// let a = kumo_sdk::Attributes::test().next_hop([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1]);
    /// assert!(a.next_hop.unwrap().is_ipv6());
    /// ```
    pub fn next_hop(mut self, address: impl Into<IpAddr>) -> Self {
        self.next_hop = Some(address.into());
        self
    }

    /// Add a community `asn:value`.
    ///
    /// ```
    /// assert_eq!(kumo_sdk::Attributes::test().community(0, 64501).communities.len(), 1);
    /// ```
    pub fn community(mut self, asn: u16, value: u16) -> Self {
        self.communities.push(Community::new(asn, value));
        self
    }

    /// Add a large community.
    ///
    /// ```
    /// assert_eq!(kumo_sdk::Attributes::test().large_community(64500, 0, 64501).large_communities.len(), 1);
    /// ```
    pub fn large_community(mut self, global: u32, data1: u32, data2: u32) -> Self {
        self.large_communities
            .push(LargeCommunity::new(global, data1, data2));
        self
    }

    /// Set the MED.
    ///
    /// ```
    /// assert_eq!(kumo_sdk::Attributes::test().with_med(10).med, Some(10));
    /// ```
    pub fn with_med(mut self, med: u32) -> Self {
        self.med = Some(med);
        self
    }

    /// Does the route carry this community?
    ///
    /// ```
    /// use kumo_sdk::{Attributes, Community};
    /// assert!(!Attributes::test().has_community(Community::NO_EXPORT));
    /// ```
    pub fn has_community(&self, community: Community) -> bool {
        self.communities.contains(&community)
    }

    /// Communities matching `asn:value` with wildcards (`None` = any).
    ///
    /// ```
    /// let a = kumo_sdk::Attributes::test().community(0, 64501).community(0, 64502).community(65000, 1);
    /// let peers: Vec<u16> = a.communities_matching(Some(0), None).map(|c| c.value()).collect();
    /// assert_eq!(peers, vec![64501, 64502]);
    /// ```
    pub fn communities_matching(
        &self,
        asn: Option<u16>,
        value: Option<u16>,
    ) -> impl Iterator<Item = Community> + '_ {
        self.communities
            .iter()
            .copied()
            .filter(move |c| c.matches(asn, value))
    }

    /// Does the route carry this large community?
    ///
    /// ```
    /// use kumo_sdk::{Attributes, LargeCommunity};
    /// let a = Attributes::test().large_community(1, 2, 3);
    /// assert!(a.has_large_community(LargeCommunity::new(1, 2, 3)));
    /// ```
    pub fn has_large_community(&self, community: LargeCommunity) -> bool {
        self.large_communities.contains(&community)
    }

    /// Large communities matching with wildcards (`None` = any).
    ///
    /// ```
    /// let a = kumo_sdk::Attributes::test().large_community(64500, 0, 64501).large_community(64500, 1, 2);
    /// assert_eq!(a.large_communities_matching(Some(64500), Some(0), None).count(), 1);
    /// ```
    pub fn large_communities_matching(
        &self,
        global: Option<u32>,
        data1: Option<u32>,
        data2: Option<u32>,
    ) -> impl Iterator<Item = LargeCommunity> + '_ {
        self.large_communities
            .iter()
            .copied()
            .filter(move |c| c.matches(global, data1, data2))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn client_table_lookup_dense_and_sparse() {
        let table = ClientTable::new(vec![Client::test(100, 3), Client::test(0, 1), Client::test(7, 2)]);
        assert_eq!(table.get(0).unwrap().asn, 1);
        assert_eq!(table.get(7).unwrap().asn, 2);
        assert_eq!(table.get(100).unwrap().asn, 3);
        assert!(table.get(1).is_none());
        assert!(table.get(u32::MAX).is_none());
    }

    #[test]
    fn unknown_targets_in_dense_and_sparse_tables() {
        let unknown =
            |table: &ClientTable, ids: &[u32]| Targets::new(ids, table).unknown().collect::<Vec<_>>();
        let dense = ClientTable::new((0..3).map(|id| Client::test(id, 64500 + id)).collect());
        assert_eq!(unknown(&dense, &[2, 0, 1]), Vec::<usize>::new());
        assert_eq!(unknown(&dense, &[1, 3, 0, 7]), vec![1, 3]);
        // Three clients, but not ids 0..3: every id is looked up.
        let sparse = ClientTable::new([0, 2, 5].map(|id| Client::test(id, 64500 + id)).to_vec());
        assert_eq!(unknown(&sparse, &[0, 1, 2]), vec![1]);
        assert_eq!(unknown(&sparse, &[5, 2]), Vec::<usize>::new());
        assert_eq!(unknown(&ClientTable::default(), &[0]), vec![0]);
    }

    #[test]
    fn community_parse_rejects_garbage() {
        for bad in ["", "1", "1:", ":1", "1:2:3", "a:b", "70000:1"] {
            assert!(bad.parse::<Community>().is_err(), "{bad}");
        }
        for bad in ["1:2", "1:2:3:4", "x:1:2"] {
            assert!(bad.parse::<LargeCommunity>().is_err(), "{bad}");
        }
    }

    #[test]
    fn path_helpers_on_empty_path() {
        let path = AsPath::default();
        assert_eq!(path.first_asn(), None);
        assert_eq!(path.origin_asn(), None);
        assert_eq!(path.len(), 0);
        assert!(!path.has_as_set());
    }
}
