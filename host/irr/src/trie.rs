//! A prefix trie over both address families.
//!
//! `prefix-trie` keys a map by one family; IRR data mixes `route:` and `route6:`, so this wraps one
//! map per family behind [`IpNet`]. Keys are always stored truncated (host bits cleared) so that
//! `192.0.2.1/24` and `192.0.2.0/24` are the same entry, as every router treats them.

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use prefix_trie::PrefixMap;

/// Map from prefix to `T` with exact, covering (less-specific) and iteration lookups.
#[derive(Clone, PartialEq)]
pub struct PrefixTrie<T> {
    v4: PrefixMap<Ipv4Net, T>,
    v6: PrefixMap<Ipv6Net, T>,
}

impl<T> Default for PrefixTrie<T> {
    fn default() -> Self {
        Self {
            v4: PrefixMap::new(),
            v6: PrefixMap::new(),
        }
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for PrefixTrie<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<T> PrefixTrie<T> {
    /// An empty trie.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of prefixes held (both families).
    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    /// True when no prefix is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Inserts `value` at `prefix` (host bits cleared), returning the value it replaced.
    pub fn insert(&mut self, prefix: IpNet, value: T) -> Option<T> {
        match prefix.trunc() {
            IpNet::V4(p) => self.v4.insert(p, value),
            IpNet::V6(p) => self.v6.insert(p, value),
        }
    }

    /// Removes the entry at exactly `prefix`.
    pub fn remove(&mut self, prefix: &IpNet) -> Option<T> {
        match prefix.trunc() {
            IpNet::V4(p) => self.v4.remove(&p),
            IpNet::V6(p) => self.v6.remove(&p),
        }
    }

    /// The value at exactly `prefix`.
    pub fn get(&self, prefix: &IpNet) -> Option<&T> {
        match prefix.trunc() {
            IpNet::V4(p) => self.v4.get(&p),
            IpNet::V6(p) => self.v6.get(&p),
        }
    }

    /// Mutable value at exactly `prefix`, inserting `T::default()` first if absent.
    pub fn get_or_default(&mut self, prefix: IpNet) -> &mut T
    where
        T: Default,
    {
        match prefix.trunc() {
            IpNet::V4(p) => self.v4.entry(p).or_default(),
            IpNet::V6(p) => self.v6.entry(p).or_default(),
        }
    }

    /// Every entry whose prefix covers `prefix` (equal or less specific), shortest first.
    pub fn covering(&self, prefix: &IpNet) -> impl Iterator<Item = (IpNet, &T)> + '_ {
        // Both arms must have one type: chain an empty iterator of the other family.
        let (v4, v6) = match prefix.trunc() {
            IpNet::V4(p) => (Some(self.v4.cover(&p)), None),
            IpNet::V6(p) => (None, Some(self.v6.cover(&p))),
        };
        v4.into_iter()
            .flatten()
            .map(|(p, v)| (IpNet::V4(p), v))
            .chain(v6.into_iter().flatten().map(|(p, v)| (IpNet::V6(p), v)))
    }

    /// True when any entry covers `prefix` (equal or less specific).
    pub fn is_covered(&self, prefix: &IpNet) -> bool {
        match prefix.trunc() {
            IpNet::V4(p) => self.v4.cover(&p).next().is_some(),
            IpNet::V6(p) => self.v6.cover(&p).next().is_some(),
        }
    }

    /// All entries, IPv4 first, each family in trie (lexicographic) order.
    pub fn iter(&self) -> impl Iterator<Item = (IpNet, &T)> + '_ {
        self.v4
            .iter()
            .map(|(p, v)| (IpNet::V4(p), v))
            .chain(self.v6.iter().map(|(p, v)| (IpNet::V6(p), v)))
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

    #[test]
    fn covering_returns_less_specifics_in_order() {
        let mut t = PrefixTrie::new();
        for (i, p) in [
            "10.0.0.0/8",
            "10.1.0.0/16",
            "10.1.1.0/24",
            "10.1.2.0/24",
            "2001:db8::/32",
        ]
        .iter()
        .enumerate()
        {
            t.insert(net(p), i);
        }
        let got: Vec<_> = t
            .covering(&net("10.1.1.128/25"))
            .map(|(p, v)| (p.to_string(), *v))
            .collect();
        assert_eq!(
            got,
            vec![
                ("10.0.0.0/8".into(), 0),
                ("10.1.0.0/16".into(), 1),
                ("10.1.1.0/24".into(), 2)
            ]
        );
        assert!(t.covering(&net("11.0.0.0/8")).next().is_none());
        assert!(t.is_covered(&net("2001:db8:1::/48")));
        assert!(!t.is_covered(&net("2001:db9::/32")));
    }

    #[test]
    fn host_bits_are_cleared_on_insert_and_lookup() {
        let mut t = PrefixTrie::new();
        t.insert(net("192.0.2.77/24"), "a");
        assert_eq!(t.get(&net("192.0.2.0/24")), Some(&"a"));
        assert_eq!(t.get(&net("192.0.2.5/24")), Some(&"a"));
        assert_eq!(t.remove(&net("192.0.2.9/24")), Some("a"));
        assert!(t.is_empty());
    }

    fn arb_v4() -> impl Strategy<Value = IpNet> {
        // A small address space (first octet 10, few bits) so that random prefixes overlap often.
        (0u32..=0xff, 0u8..=16).prop_map(|(bits, len)| {
            let addr = std::net::Ipv4Addr::from(0x0a00_0000 | (bits << 12));
            IpNet::V4(Ipv4Net::new(addr, 8 + len).unwrap().trunc())
        })
    }

    fn arb_v6() -> impl Strategy<Value = IpNet> {
        (0u128..=0xff, 0u8..=16).prop_map(|(bits, len)| {
            let addr = std::net::Ipv6Addr::from((0x2001_0db8u128 << 96) | (bits << 80));
            IpNet::V6(Ipv6Net::new(addr, 32 + len).unwrap().trunc())
        })
    }

    fn arb_net() -> impl Strategy<Value = IpNet> {
        prop_oneof![arb_v4(), arb_v6()]
    }

    proptest! {
        /// The trie's covering lookup finds exactly what a linear scan over the inserted prefixes finds.
        #[test]
        fn covering_agrees_with_linear_scan(
            entries in proptest::collection::vec(arb_net(), 0..64),
            queries in proptest::collection::vec(arb_net(), 1..32),
        ) {
            let mut t = PrefixTrie::new();
            for p in &entries {
                t.insert(*p, ());
            }
            for q in &queries {
                let mut from_trie: Vec<IpNet> = t.covering(q).map(|(p, _)| p).collect();
                let mut linear: Vec<IpNet> = entries.iter().copied().filter(|p| p.contains(q)).collect();
                linear.sort();
                linear.dedup();
                from_trie.sort();
                prop_assert_eq!(&from_trie, &linear);
                prop_assert_eq!(t.is_covered(q), !linear.is_empty());
            }
        }
    }
}
