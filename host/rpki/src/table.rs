//! The ROA (VRP) table and RFC 6811 route origin validation over it.

use std::collections::BTreeSet;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use prefix_trie::PrefixMap;

/// A Validated ROA Payload: `asn` may originate `prefix` and its more specifics up to
/// `max_length`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Vrp {
    /// The ROA prefix (host bits cleared).
    pub prefix: IpNet,
    /// Longest prefix length authorised.
    pub max_length: u8,
    /// The authorised origin AS; AS0 authorises nobody (RFC 6483 §4).
    pub asn: u32,
}

impl Vrp {
    /// A VRP, checking that `prefix_len <= max_length <= family maximum`.
    pub fn new(prefix: IpNet, max_length: u8, asn: u32) -> Result<Self, InvalidVrp> {
        let prefix = prefix.trunc();
        if max_length < prefix.prefix_len() || max_length > prefix.max_prefix_len() {
            return Err(InvalidVrp { prefix, max_length });
        }
        Ok(Self {
            prefix,
            max_length,
            asn,
        })
    }
}

impl std::fmt::Display for Vrp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{} AS{}", self.prefix, self.max_length, self.asn)
    }
}

/// A max length outside `prefix_len..=family maximum`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("VRP {prefix} with max length {max_length}: max length out of range")]
pub struct InvalidVrp {
    /// The prefix.
    pub prefix: IpNet,
    /// The offending max length.
    pub max_length: u8,
}

/// Route origin validation state (RFC 6811 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RovState {
    /// A VRP covers the prefix, matches the origin AS and allows the prefix length.
    Valid,
    /// At least one VRP covers the prefix, none matches.
    Invalid,
    /// No VRP covers the prefix.
    NotFound,
}

/// (max_length, asn) of the VRPs of one prefix.
type Entries = Vec<(u8, u32)>;

/// VRPs held in one prefix trie per family.
#[derive(Clone, Default, PartialEq)]
pub struct RoaTable {
    v4: PrefixMap<Ipv4Net, Entries>,
    v6: PrefixMap<Ipv6Net, Entries>,
    len: usize,
}

impl std::fmt::Debug for RoaTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoaTable").field("vrps", &self.len).finish()
    }
}

impl FromIterator<Vrp> for RoaTable {
    fn from_iter<I: IntoIterator<Item = Vrp>>(iter: I) -> Self {
        let mut table = Self::new();
        for vrp in iter {
            table.insert(vrp);
        }
        table
    }
}

impl RoaTable {
    /// An empty table: every route validates [`RovState::NotFound`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of distinct VRPs.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when no VRP is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn entries_mut(&mut self, prefix: IpNet) -> &mut Entries {
        match prefix {
            IpNet::V4(p) => self.v4.entry(p).or_default(),
            IpNet::V6(p) => self.v6.entry(p).or_default(),
        }
    }

    /// Adds a VRP; false when it was already present.
    pub fn insert(&mut self, vrp: Vrp) -> bool {
        let entries = self.entries_mut(vrp.prefix.trunc());
        if entries.contains(&(vrp.max_length, vrp.asn)) {
            return false;
        }
        entries.push((vrp.max_length, vrp.asn));
        self.len += 1;
        true
    }

    /// Removes a VRP; false when it was not present.
    pub fn remove(&mut self, vrp: &Vrp) -> bool {
        let key = (vrp.max_length, vrp.asn);
        let removed = match vrp.prefix.trunc() {
            IpNet::V4(p) => remove_entry(&mut self.v4, &p, key),
            IpNet::V6(p) => remove_entry(&mut self.v6, &p, key),
        };
        if removed {
            self.len -= 1;
        }
        removed
    }

    /// True when exactly this VRP is present.
    pub fn contains(&self, vrp: &Vrp) -> bool {
        let key = (vrp.max_length, vrp.asn);
        match vrp.prefix.trunc() {
            IpNet::V4(p) => self.v4.get(&p).is_some_and(|e| e.contains(&key)),
            IpNet::V6(p) => self.v6.get(&p).is_some_and(|e| e.contains(&key)),
        }
    }

    /// VRPs whose prefix covers `prefix` (equal or less specific): the "candidate ROAs" of RFC 6811.
    pub fn covering(&self, prefix: &IpNet) -> Vec<Vrp> {
        let mut out = Vec::new();
        let mut push = |covering: IpNet, entries: &Entries| {
            out.extend(entries.iter().map(|&(max_length, asn)| Vrp {
                prefix: covering,
                max_length,
                asn,
            }));
        };
        match prefix.trunc() {
            IpNet::V4(p) => self.v4.cover(&p).for_each(|(c, e)| push(IpNet::V4(c), e)),
            IpNet::V6(p) => self.v6.cover(&p).for_each(|(c, e)| push(IpNet::V6(c), e)),
        }
        out
    }

    /// RFC 6811 validation of a route `prefix` originated by `origin`.
    ///
    /// A route whose AS_PATH ends in an AS_SET has origin NONE (RFC 6811 §2): pass `0`, which no
    /// VRP matches (AS0 VRPs never match), giving Invalid when covered and NotFound otherwise.
    pub fn validate(&self, prefix: &IpNet, origin: u32) -> RovState {
        let prefix = prefix.trunc();
        let len = prefix.prefix_len();
        let matches = |entries: &Entries| {
            entries
                .iter()
                .any(|&(max, asn)| asn != 0 && asn == origin && len <= max)
        };
        let (covered, valid) = match prefix {
            IpNet::V4(p) => self
                .v4
                .cover(&p)
                .fold((false, false), |(_, v), (_, e)| (true, v || matches(e))),
            IpNet::V6(p) => self
                .v6
                .cover(&p)
                .fold((false, false), |(_, v), (_, e)| (true, v || matches(e))),
        };
        match (covered, valid) {
            (_, true) => RovState::Valid,
            (true, false) => RovState::Invalid,
            (false, false) => RovState::NotFound,
        }
    }

    /// Every VRP, IPv4 first.
    pub fn iter(&self) -> impl Iterator<Item = Vrp> + '_ {
        fn expand(prefix: IpNet, entries: &Entries) -> impl Iterator<Item = Vrp> + '_ {
            entries.iter().map(move |&(max_length, asn)| Vrp {
                prefix,
                max_length,
                asn,
            })
        }
        self.v4
            .iter()
            .flat_map(|(p, e)| expand(IpNet::V4(p), e))
            .chain(self.v6.iter().flat_map(|(p, e)| expand(IpNet::V6(p), e)))
    }

    /// The VRPs added and removed going from `old` to `new`.
    pub fn diff(old: &RoaTable, new: &RoaTable) -> VrpDelta {
        let before: BTreeSet<Vrp> = old.iter().collect();
        let after: BTreeSet<Vrp> = new.iter().collect();
        VrpDelta {
            announced: after.difference(&before).copied().collect(),
            withdrawn: before.difference(&after).copied().collect(),
        }
    }
}

fn remove_entry<P: prefix_trie::Prefix>(map: &mut PrefixMap<P, Entries>, prefix: &P, key: (u8, u32)) -> bool {
    let Some(entries) = map.get_mut(prefix) else {
        return false;
    };
    let Some(index) = entries.iter().position(|e| *e == key) else {
        return false;
    };
    entries.swap_remove(index);
    if entries.is_empty() {
        map.remove(prefix);
    }
    true
}

/// VRPs announced and withdrawn by one update: what the caller must re-validate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VrpDelta {
    /// VRPs that are new, sorted.
    pub announced: Vec<Vrp>,
    /// VRPs that are gone, sorted.
    pub withdrawn: Vec<Vrp>,
}

impl VrpDelta {
    /// True when nothing changed.
    pub fn is_empty(&self) -> bool {
        self.announced.is_empty() && self.withdrawn.is_empty()
    }

    /// The distinct prefixes of the changed VRPs, sorted. Routes whose prefix is one of these or a
    /// more specific of one of them may have changed state; no other route did.
    pub fn changed_prefixes(&self) -> Vec<IpNet> {
        let set: BTreeSet<IpNet> = self
            .announced
            .iter()
            .chain(&self.withdrawn)
            .map(|v| v.prefix)
            .collect();
        set.into_iter().collect()
    }

    /// True when a route for `prefix` may have changed state (a changed VRP covers it).
    pub fn affects(&self, prefix: &IpNet) -> bool {
        self.announced
            .iter()
            .chain(&self.withdrawn)
            .any(|v| v.prefix.contains(prefix))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    fn vrp(p: &str, max: u8, asn: u32) -> Vrp {
        Vrp::new(net(p), max, asn).unwrap()
    }

    #[test]
    fn rfc6811_table() {
        let table: RoaTable = [
            vrp("192.0.2.0/24", 24, 64500),
            vrp("198.51.100.0/22", 24, 64501),
            vrp("198.51.100.0/22", 22, 64502),
            vrp("203.0.113.0/24", 24, 0), // AS0: nobody may originate
            vrp("2001:db8::/32", 48, 64500),
            vrp("10.0.0.0/8", 8, 64503),
            vrp("10.1.0.0/16", 24, 64504),
        ]
        .into_iter()
        .collect();
        use RovState::*;
        let cases: &[(&str, u32, RovState)] = &[
            ("192.0.2.0/24", 64500, Valid),
            ("192.0.2.0/25", 64500, Invalid),  // longer than max length
            ("192.0.2.0/24", 64999, Invalid),  // wrong origin
            ("192.0.0.0/16", 64500, NotFound), // less specific than the ROA: not covered
            ("198.51.100.0/24", 64501, Valid),
            ("198.51.101.0/24", 64501, Valid),
            ("198.51.100.0/23", 64502, Invalid), // 64502's max length is 22
            ("198.51.100.0/22", 64502, Valid),
            ("198.51.100.0/25", 64501, Invalid),
            ("203.0.113.0/24", 0, Invalid), // AS0 ROA never matches, even origin 0
            ("203.0.113.0/24", 64500, Invalid),
            ("2001:db8:1::/48", 64500, Valid),
            ("2001:db8:1::/49", 64500, Invalid),
            ("2001:db9::/32", 64500, NotFound),
            ("10.1.2.0/24", 64504, Valid),   // matched by the more specific ROA
            ("10.1.2.0/24", 64503, Invalid), // 10/8 covers but max length 8
            ("10.0.0.0/8", 64503, Valid),
            ("172.16.0.0/12", 64500, NotFound),
            ("192.0.2.0/24", 0, Invalid), // origin NONE (AS_SET) never matches
        ];
        for (prefix, origin, want) in cases {
            assert_eq!(
                table.validate(&net(prefix), *origin),
                *want,
                "{prefix} AS{origin}"
            );
        }
        assert_eq!(RoaTable::new().validate(&net("192.0.2.0/24"), 64500), NotFound);
    }

    #[test]
    fn insert_remove_contains() {
        let mut t = RoaTable::new();
        let a = vrp("192.0.2.0/24", 24, 1);
        assert!(t.insert(a));
        assert!(!t.insert(a));
        assert!(t.insert(vrp("192.0.2.0/24", 25, 1)));
        assert_eq!(t.len(), 2);
        assert!(t.contains(&a));
        assert!(t.remove(&a));
        assert!(!t.remove(&a));
        assert!(!t.contains(&a));
        assert_eq!(t.len(), 1);
        assert_eq!(t.covering(&net("192.0.2.0/25")), vec![vrp("192.0.2.0/24", 25, 1)]);
    }

    #[test]
    fn invalid_vrps_are_refused() {
        assert!(Vrp::new(net("192.0.2.0/24"), 23, 1).is_err());
        assert!(Vrp::new(net("192.0.2.0/24"), 33, 1).is_err());
        assert!(Vrp::new(net("2001:db8::/32"), 128, 1).is_ok());
    }

    #[test]
    fn delta_and_affected_prefixes() {
        let old: RoaTable = [vrp("192.0.2.0/24", 24, 1), vrp("2001:db8::/32", 48, 2)]
            .into_iter()
            .collect();
        let new: RoaTable = [vrp("192.0.2.0/24", 24, 1), vrp("198.51.100.0/24", 24, 3)]
            .into_iter()
            .collect();
        let d = RoaTable::diff(&old, &new);
        assert_eq!(d.announced, vec![vrp("198.51.100.0/24", 24, 3)]);
        assert_eq!(d.withdrawn, vec![vrp("2001:db8::/32", 48, 2)]);
        assert_eq!(
            d.changed_prefixes(),
            vec![net("198.51.100.0/24"), net("2001:db8::/32")]
        );
        assert!(d.affects(&net("2001:db8:5::/48")));
        assert!(!d.affects(&net("192.0.2.0/24")));
        assert!(RoaTable::diff(&new, &new).is_empty());
    }

    fn arb_vrp() -> impl Strategy<Value = Vrp> {
        (0u32..16, 8u8..=12, 0u8..=4, 0u32..4).prop_map(|(bits, len, extra, asn)| {
            let addr = std::net::Ipv4Addr::from(0x0a00_0000 | (bits << 20));
            let prefix = IpNet::V4(Ipv4Net::new(addr, len).unwrap().trunc());
            Vrp::new(prefix, len + extra, asn).unwrap()
        })
    }

    proptest! {
        /// The trie-based validation equals RFC 6811 §2 computed over the plain list of VRPs.
        #[test]
        fn validate_agrees_with_rfc6811_over_a_list(
            vrps in proptest::collection::vec(arb_vrp(), 0..24),
            route in arb_vrp(),
            origin in 0u32..4,
        ) {
            let table: RoaTable = vrps.iter().copied().collect();
            let prefix = IpNet::V4(Ipv4Net::new(
                match route.prefix { IpNet::V4(p) => p.addr(), IpNet::V6(_) => unreachable!() },
                route.max_length,
            ).unwrap().trunc());
            let candidates: Vec<&Vrp> = vrps.iter().filter(|v| v.prefix.contains(&prefix)).collect();
            let want = if candidates.is_empty() {
                RovState::NotFound
            } else if candidates.iter().any(|v| v.asn != 0 && v.asn == origin && prefix.prefix_len() <= v.max_length) {
                RovState::Valid
            } else {
                RovState::Invalid
            };
            prop_assert_eq!(table.validate(&prefix, origin), want);
        }
    }
}
