//! Prefix classification: bogons (special-purpose address space that must
//! never be announced on an IX).
//!
//! "Bogon" means: the prefix lies within one of the ranges below (as BIRD's
//! `net ~ [ 10.0.0.0/8+ ]`). Prefixes *covering* a bogon (e.g. `0.0.0.0/0`)
//! are not bogons here: prefix length bounds reject those.
//!
//! ```
//! use kumo_sdk::prefix::is_bogon;
//! assert!(is_bogon(&"10.1.0.0/16".parse().unwrap()));
//! assert!(is_bogon(&"2001:db8:1::/48".parse().unwrap()));
//! assert!(!is_bogon(&"193.0.0.0/21".parse().unwrap()));
//! ```

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// IPv4 special-purpose ranges (RFC 6890 and successors): (network, length).
pub const BOGONS_V4: &[(u32, u8)] = &[
    (0x0000_0000, 8),  // 0.0.0.0/8 "this network"
    (0x0A00_0000, 8),  // 10.0.0.0/8 private
    (0x6440_0000, 10), // 100.64.0.0/10 shared address space (CGN)
    (0x7F00_0000, 8),  // 127.0.0.0/8 loopback
    (0xA9FE_0000, 16), // 169.254.0.0/16 link local
    (0xAC10_0000, 12), // 172.16.0.0/12 private
    (0xC000_0000, 24), // 192.0.0.0/24 IETF protocol assignments
    (0xC000_0200, 24), // 192.0.2.0/24 TEST-NET-1
    (0xC0A8_0000, 16), // 192.168.0.0/16 private
    (0xC612_0000, 15), // 198.18.0.0/15 benchmarking
    (0xC633_6400, 24), // 198.51.100.0/24 TEST-NET-2
    (0xCB00_7100, 24), // 203.0.113.0/24 TEST-NET-3
    (0xE000_0000, 3),  // 224.0.0.0/4 multicast + 240.0.0.0/4 reserved
];

/// IPv6 special-purpose ranges inside 2000::/3 (everything outside 2000::/3
/// is a bogon too): (network, length).
pub const BOGONS_V6: &[(u128, u8)] = &[
    (0x2001_0000_0000_0000_0000_0000_0000_0000, 32), // 2001::/32 Teredo
    (0x2001_0002_0000_0000_0000_0000_0000_0000, 48), // 2001:2::/48 benchmarking
    (0x2001_0010_0000_0000_0000_0000_0000_0000, 28), // 2001:10::/28 ORCHID
    (0x2001_0db8_0000_0000_0000_0000_0000_0000, 32), // 2001:db8::/32 documentation
    (0x2002_0000_0000_0000_0000_0000_0000_0000, 16), // 2002::/16 6to4
    (0x3ffe_0000_0000_0000_0000_0000_0000_0000, 16), // 3ffe::/16 old 6bone
    (0x3fff_0000_0000_0000_0000_0000_0000_0000, 20), // 3fff::/20 documentation (RFC 9637)
];

/// First octets under which some IPv4 bogon lies: lets the common case (a
/// prefix in ordinary unicast space) answer with one table look-up.
static V4_SUSPECT_FIRST_OCTET: [u64; 4] = {
    let mut table = [0u64; 4];
    let mut i = 0;
    while i < BOGONS_V4.len() {
        let (net, len) = BOGONS_V4[i];
        let first = (net >> 24) as usize;
        let span = if len >= 8 { 1 } else { 1usize << (8 - len) };
        let mut octet = first;
        while octet < first + span {
            table[octet / 64] |= 1 << (octet % 64);
            octet += 1;
        }
        i += 1;
    }
    table
};

const fn mask_v4(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - len as u32)
    }
}

const fn mask_v6(len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        u128::MAX << (128 - len as u32)
    }
}

/// Is the IPv4 prefix within a bogon range?
///
/// ```
/// assert!(kumo_sdk::prefix::is_bogon_v4(&"192.168.10.0/24".parse().unwrap()));
/// assert!(!kumo_sdk::prefix::is_bogon_v4(&"8.8.8.0/24".parse().unwrap()));
/// ```
#[inline]
pub fn is_bogon_v4(prefix: &Ipv4Net) -> bool {
    let addr = u32::from(prefix.network());
    let first = (addr >> 24) as usize;
    if V4_SUSPECT_FIRST_OCTET[first / 64] & (1 << (first % 64)) == 0 {
        return false;
    }
    let len = prefix.prefix_len();
    BOGONS_V4
        .iter()
        .any(|&(net, blen)| len >= blen && (addr ^ net) & mask_v4(blen) == 0)
}

/// Is the IPv6 prefix outside global unicast (2000::/3) or within a bogon range?
///
/// ```
/// assert!(kumo_sdk::prefix::is_bogon_v6(&"fe80::/64".parse().unwrap()));
/// assert!(!kumo_sdk::prefix::is_bogon_v6(&"2a00:1450::/32".parse().unwrap()));
/// ```
#[inline]
pub fn is_bogon_v6(prefix: &Ipv6Net) -> bool {
    let addr = u128::from(prefix.network());
    let len = prefix.prefix_len();
    if len < 3 || addr >> 125 != 0b001 {
        return true;
    }
    // Every listed range starts with one of these 16-bit groups.
    let top = (addr >> 112) as u16;
    if !matches!(top, 0x2001 | 0x2002 | 0x3ffe | 0x3fff) {
        return false;
    }
    BOGONS_V6
        .iter()
        .any(|&(net, blen)| len >= blen && (addr ^ net) & mask_v6(blen) == 0)
}

/// Is the prefix a bogon (either family)?
///
/// ```
/// assert!(kumo_sdk::prefix::is_bogon(&"127.0.0.0/8".parse().unwrap()));
/// ```
#[inline]
pub fn is_bogon(prefix: &IpNet) -> bool {
    match prefix {
        IpNet::V4(p) => is_bogon_v4(p),
        IpNet::V6(p) => is_bogon_v6(p),
    }
}

/// One entry of a prefix list, as operators write it (arouteserver's
/// `white_list_pref` / `black_list_pref` fields): a prefix, and which of its
/// more-specifics it covers.
///
/// In configuration JSON it is either a string, `"192.0.2.0/24"` (the prefix
/// and every more-specific), or an object
/// `{"prefix": "192.0.2.0/24", "exact": false, "ge": 24, "le": 28}`.
///
/// ```
/// use kumo_sdk::prefix::PrefixEntry;
/// let e: PrefixEntry = serde_json::from_str(r#"{"prefix": "193.0.0.0/16", "le": 24}"#).unwrap();
/// assert!(e.covers(&"193.0.10.0/24".parse().unwrap()));
/// assert!(!e.covers(&"193.0.10.0/25".parse().unwrap()));
/// let any: PrefixEntry = serde_json::from_str(r#""10.0.0.0/8""#).unwrap();
/// assert!(any.covers(&"10.1.2.3/32".parse().unwrap()));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(try_from = "PrefixEntryText")]
pub struct PrefixEntry {
    /// The network (host bits cleared).
    pub prefix: IpNet,
    /// Shortest covered length.
    pub ge: u8,
    /// Longest covered length.
    pub le: u8,
}

#[derive(serde::Deserialize)]
#[serde(untagged)]
enum PrefixEntryText {
    Plain(String),
    Full {
        prefix: String,
        #[serde(default)]
        exact: bool,
        ge: Option<u8>,
        le: Option<u8>,
    },
}

impl TryFrom<PrefixEntryText> for PrefixEntry {
    type Error = String;
    fn try_from(text: PrefixEntryText) -> Result<Self, String> {
        let (prefix, exact, ge, le) = match text {
            PrefixEntryText::Plain(p) => (p, false, None, None),
            PrefixEntryText::Full {
                prefix,
                exact,
                ge,
                le,
            } => (prefix, exact, ge, le),
        };
        let net: IpNet = prefix.parse().map_err(|e| format!("prefix {prefix:?}: {e}"))?;
        if exact && (ge.is_some() || le.is_some()) {
            return Err(format!("prefix {prefix:?}: exact excludes ge/le"));
        }
        if net.trunc() != net {
            return Err(format!("prefix {prefix:?} has host bits set"));
        }
        let own = net.prefix_len();
        let max = net.max_prefix_len();
        let (ge, le) = if exact {
            (own, own)
        } else {
            (ge.unwrap_or(own), le.unwrap_or(max))
        };
        if ge < own || le < ge || le > max {
            return Err(format!(
                "prefix {prefix:?}: need {own} <= ge ({ge}) <= le ({le}) <= {max}"
            ));
        }
        Ok(PrefixEntry { prefix: net, ge, le })
    }
}

impl PrefixEntry {
    /// The prefix and all its more-specifics.
    ///
    /// ```
    /// let e = kumo_sdk::prefix::PrefixEntry::within("10.0.0.0/8".parse().unwrap());
    /// assert_eq!((e.ge, e.le), (8, 32));
    /// ```
    pub fn within(prefix: IpNet) -> Self {
        let prefix = prefix.trunc();
        PrefixEntry {
            ge: prefix.prefix_len(),
            le: prefix.max_prefix_len(),
            prefix,
        }
    }

    /// Does the entry cover `prefix` (same family, inside it, length within
    /// `ge..=le`)?
    ///
    /// ```
    /// use kumo_sdk::prefix::PrefixEntry;
    /// let e = PrefixEntry::within("2001:db8::/32".parse().unwrap());
    /// assert!(!e.covers(&"10.0.0.0/8".parse().unwrap()));
    /// ```
    #[inline]
    pub fn covers(&self, prefix: &IpNet) -> bool {
        let len = prefix.prefix_len();
        len >= self.ge && len <= self.le && self.prefix.contains(prefix)
    }
}

/// A list of [`PrefixEntry`]: covers a prefix when any entry does.
///
/// ```
/// use kumo_sdk::prefix::PrefixList;
/// let list: PrefixList = serde_json::from_str(r#"["192.0.2.0/24", {"prefix": "2001:db8::/32", "exact": true}]"#).unwrap();
/// assert!(list.covers(&"192.0.2.128/25".parse().unwrap()));
/// assert!(!list.covers(&"2001:db8:1::/48".parse().unwrap()));
/// assert_eq!(list.len(), 2);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(transparent)]
pub struct PrefixList {
    entries: Vec<PrefixEntry>,
}

impl PrefixList {
    /// A list of the given entries.
    ///
    /// ```
    /// let list = kumo_sdk::prefix::PrefixList::new(vec![]);
    /// assert!(list.is_empty());
    /// ```
    pub fn new(entries: Vec<PrefixEntry>) -> Self {
        PrefixList { entries }
    }

    /// [`BOGONS_V4`] and [`BOGONS_V6`] as a list (each range with all its
    /// more-specifics), IPv6 space outside 2000::/3 not included.
    ///
    /// ```
    /// let bogons = kumo_sdk::prefix::PrefixList::default_bogons();
    /// assert!(bogons.covers(&"192.168.1.0/24".parse().unwrap()));
    /// assert!(!bogons.covers(&"fe80::/64".parse().unwrap()));
    /// ```
    pub fn default_bogons() -> Self {
        let v4 = BOGONS_V4.iter().filter_map(|&(net, len)| {
            Ipv4Net::new(net.into(), len)
                .ok()
                .map(|n| PrefixEntry::within(IpNet::V4(n)))
        });
        let v6 = BOGONS_V6.iter().filter_map(|&(net, len)| {
            Ipv6Net::new(net.into(), len)
                .ok()
                .map(|n| PrefixEntry::within(IpNet::V6(n)))
        });
        PrefixList {
            entries: v4.chain(v6).collect(),
        }
    }

    /// Does any entry cover `prefix`?
    ///
    /// ```
    /// assert!(!kumo_sdk::prefix::PrefixList::default().covers(&"8.8.8.0/24".parse().unwrap()));
    /// ```
    #[inline]
    pub fn covers(&self, prefix: &IpNet) -> bool {
        self.entries.iter().any(|e| e.covers(prefix))
    }

    /// Number of entries.
    ///
    /// ```
    /// assert_eq!(kumo_sdk::prefix::PrefixList::default().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// No entries?
    ///
    /// ```
    /// assert!(kumo_sdk::prefix::PrefixList::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries.
    ///
    /// ```
    /// assert!(kumo_sdk::prefix::PrefixList::default_bogons().entries().len() > 10);
    /// ```
    pub fn entries(&self) -> &[PrefixEntry] {
        &self.entries
    }
}

/// Is the IPv6 prefix inside global unicast space (2000::/3)?
///
/// ```
/// assert!(kumo_sdk::prefix::is_ipv6_global_unicast(&"2a00::/16".parse().unwrap()));
/// assert!(!kumo_sdk::prefix::is_ipv6_global_unicast(&"fc00::/7".parse().unwrap()));
/// assert!(!kumo_sdk::prefix::is_ipv6_global_unicast(&"::/0".parse().unwrap()));
/// ```
#[inline]
pub fn is_ipv6_global_unicast(prefix: &Ipv6Net) -> bool {
    prefix.prefix_len() >= 3 && u128::from(prefix.network()) >> 125 == 0b001
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn bogon(s: &str) -> bool {
        is_bogon(&s.parse().unwrap())
    }

    #[test]
    fn v4_ranges_and_edges() {
        for p in [
            "0.0.0.0/8",
            "10.0.0.0/8",
            "10.255.0.0/16",
            "100.64.0.0/10",
            "100.127.0.0/16",
            "172.31.0.0/16",
            "192.0.2.0/24",
            "198.19.0.0/16",
            "224.0.0.0/4",
            "240.0.0.0/4",
            "255.255.255.255/32",
            "203.0.113.128/25",
        ] {
            assert!(bogon(p), "{p} must be a bogon");
        }
        for p in [
            "1.0.0.0/24",
            "100.128.0.0/10",
            "172.32.0.0/16",
            "192.0.3.0/24",
            "198.20.0.0/16",
            "223.255.255.0/24",
            "0.0.0.0/0",
            "8.0.0.0/7",
        ] {
            assert!(!bogon(p), "{p} must not be a bogon");
        }
    }

    #[test]
    fn v6_ranges_and_edges() {
        for p in [
            "::/8",
            "fc00::/7",
            "ff02::/16",
            "2001:db8::/32",
            "2001:db8:ffff::/48",
            "2002:c000::/24",
            "3ffe::/16",
            "3fff:1::/32",
            "2001::/32",
            "4000::/3",
            "::/0",
        ] {
            assert!(bogon(p), "{p} must be a bogon");
        }
        for p in [
            "2001:db9::/32",
            "2001:7f8::/29",
            "2a02::/16",
            "2003::/19",
            "3fff:1000::/20",
            "2001:4860::/32",
        ] {
            assert!(!bogon(p), "{p} must not be a bogon");
        }
    }

    #[test]
    fn default_bogon_list_agrees_with_is_bogon_inside_global_unicast() {
        let list = PrefixList::default_bogons();
        for p in [
            "10.1.0.0/16",
            "192.0.2.0/24",
            "8.8.8.0/24",
            "240.0.0.0/8",
            "2001:db8::/48",
            "2a00::/16",
            "3fff::/20",
        ] {
            assert_eq!(list.covers(&p.parse().unwrap()), bogon(p), "{p}");
        }
    }

    #[test]
    fn prefix_entry_errors() {
        for bad in [
            r#""10.0.0.1/8""#,
            r#""nope""#,
            r#"{"prefix": "10.0.0.0/8", "ge": 7}"#,
            r#"{"prefix": "10.0.0.0/8", "ge": 20, "le": 16}"#,
            r#"{"prefix": "10.0.0.0/8", "le": 33}"#,
            r#"{"prefix": "10.0.0.0/8", "exact": true, "le": 24}"#,
        ] {
            assert!(serde_json::from_str::<PrefixEntry>(bad).is_err(), "{bad}");
        }
        let exact: PrefixEntry = serde_json::from_str(r#"{"prefix": "10.0.0.0/8", "exact": true}"#).unwrap();
        assert!(exact.covers(&"10.0.0.0/8".parse().unwrap()));
        assert!(!exact.covers(&"10.0.0.0/9".parse().unwrap()));
    }
}
