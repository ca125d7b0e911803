//! Routes as the tests see them: what a client announces ([`Announce`]) and what a client
//! received ([`Route`]), with the attributes a transparent route server must pass through.

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;

/// A standard community (RFC 1997), `asn:value`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Community(pub u16, pub u16);

/// A large community (RFC 8092), `global:local1:local2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LargeCommunity(pub u32, pub u32, pub u32);

/// An extended community (RFC 4360). Only the AS-specific route target / route origin kinds
/// are modelled (both the 2-octet and 4-octet AS forms); anything else keeps the text the
/// daemon printed so that a comparison still fails loudly instead of silently matching.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ExtCommunity {
    RouteTarget { asn: u32, value: u32 },
    RouteOrigin { asn: u32, value: u32 },
    Other(String),
}

impl fmt::Display for Community {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.0, self.1)
    }
}

impl fmt::Display for LargeCommunity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.0, self.1, self.2)
    }
}

/// A route a client announces. The announcing daemon prepends its own ASN, so `as_path` holds
/// only the ASNs that follow it (empty: the client originates the prefix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announce {
    pub prefix: IpNet,
    pub as_path: Vec<u32>,
    pub med: Option<u32>,
    pub communities: Vec<Community>,
    pub large_communities: Vec<LargeCommunity>,
    pub ext_communities: Vec<ExtCommunity>,
    /// A NEXT_HOP other than the client's own (sent with BIRD's `next hop keep`).
    pub next_hop: Option<std::net::IpAddr>,
}

impl Announce {
    /// A route for `prefix` with no optional attributes.
    ///
    /// # Panics
    /// Panics if `prefix` is not a prefix in `a.b.c.d/len` or `x::/len` form; prefixes are
    /// literals in test code, so a typo should stop the test at once.
    pub fn new(prefix: &str) -> Self {
        let prefix: IpNet = match prefix.parse() {
            Ok(p) => p,
            Err(e) => panic!("bad prefix literal {prefix:?} in a test: {e}"),
        };
        Self {
            prefix: prefix.trunc(),
            as_path: Vec::new(),
            med: None,
            communities: Vec::new(),
            large_communities: Vec::new(),
            ext_communities: Vec::new(),
            next_hop: None,
        }
    }

    /// Announce with NEXT_HOP `address` (the neighbor needs `next_hop_keep`).
    pub fn next_hop(mut self, address: impl Into<std::net::IpAddr>) -> Self {
        self.next_hop = Some(address.into());
        self
    }

    /// ASNs after the announcing speaker's own ASN (a longer AS_PATH for best-path tests).
    pub fn path(mut self, asns: &[u32]) -> Self {
        self.as_path = asns.to_vec();
        self
    }

    pub fn med(mut self, med: u32) -> Self {
        self.med = Some(med);
        self
    }

    pub fn community(mut self, asn: u16, value: u16) -> Self {
        self.communities.push(Community(asn, value));
        self
    }

    pub fn large_community(mut self, global: u32, local1: u32, local2: u32) -> Self {
        self.large_communities
            .push(LargeCommunity(global, local1, local2));
        self
    }

    pub fn route_target(mut self, asn: u32, value: u32) -> Self {
        self.ext_communities
            .push(ExtCommunity::RouteTarget { asn, value });
        self
    }

    pub fn route_origin(mut self, asn: u32, value: u32) -> Self {
        self.ext_communities
            .push(ExtCommunity::RouteOrigin { asn, value });
        self
    }
}

/// A path a client received (one entry of its Adj-RIB-In), as parsed from the daemon's output.
/// With ADD-PATH a prefix has several entries. The path identifier is not kept: neither
/// `birdc show route` nor GoBGP 3.10's JSON prints it.
/// Community lists are sorted: their order carries no meaning and daemons reorder them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub prefix: IpNet,
    pub as_path: Vec<u32>,
    pub next_hop: Option<IpAddr>,
    pub med: Option<u32>,
    pub communities: Vec<Community>,
    pub large_communities: Vec<LargeCommunity>,
    pub ext_communities: Vec<ExtCommunity>,
}

impl Route {
    pub(crate) fn empty(prefix: IpNet) -> Self {
        Self {
            prefix,
            as_path: Vec::new(),
            next_hop: None,
            med: None,
            communities: Vec::new(),
            large_communities: Vec::new(),
            ext_communities: Vec::new(),
        }
    }

    pub(crate) fn normalise(&mut self) {
        self.communities.sort();
        self.large_communities.sort();
        self.ext_communities.sort();
    }

    /// The origin AS (last ASN of the AS_PATH), if any.
    pub fn origin_as(&self) -> Option<u32> {
        self.as_path.last().copied()
    }
}

/// Parses a prefix literal for tests (same panic policy as [`Announce::new`]).
///
/// # Panics
/// Panics on a malformed literal.
pub fn prefix(text: &str) -> IpNet {
    match text.parse::<IpNet>() {
        Ok(p) => p.trunc(),
        Err(e) => panic!("bad prefix literal {text:?} in a test: {e}"),
    }
}

/// All paths for `prefix` in `routes`.
pub fn paths_for<'a>(routes: &'a [Route], prefix: &IpNet) -> Vec<&'a Route> {
    routes.iter().filter(|r| &r.prefix == prefix).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announce_builder_keeps_attributes_in_order() {
        let a = Announce::new("10.1.0.1/24")
            .path(&[65010, 65011])
            .med(7)
            .community(65002, 1)
            .large_community(65002, 2, 3)
            .route_target(65002, 4);
        assert_eq!(
            a.prefix,
            prefix("10.1.0.0/24"),
            "prefix is truncated to its network"
        );
        assert_eq!(a.as_path, vec![65010, 65011]);
        assert_eq!(a.med, Some(7));
        assert_eq!(a.communities, vec![Community(65002, 1)]);
        assert_eq!(a.large_communities, vec![LargeCommunity(65002, 2, 3)]);
        assert_eq!(
            a.ext_communities,
            vec![ExtCommunity::RouteTarget { asn: 65002, value: 4 }]
        );
    }

    #[test]
    fn paths_for_selects_by_prefix() {
        let p = prefix("10.0.0.0/24");
        let q = prefix("10.0.1.0/24");
        let routes = vec![Route::empty(p), Route::empty(q), Route::empty(p)];
        assert_eq!(paths_for(&routes, &p).len(), 2);
        assert_eq!(paths_for(&routes, &q).len(), 1);
    }
}
