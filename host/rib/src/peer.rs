//! Peers as the RIB sees them: a dense identifier, what the session
//! negotiated, and a compact set type for export target lists.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use kumo_wire::AfiSafi;

/// A route-server client, identified by a dense index the daemon assigns.
///
/// Dense so that per-peer tables are plain vectors and peer sets are bitsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(pub u32);

impl PeerId {
    fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "peer#{}", self.0)
    }
}

/// What the RIB needs to know about a client once its session is Established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerInfo {
    pub id: PeerId,
    pub name: Arc<str>,
    pub asn: u32,
    /// BGP Identifier from its OPEN: a tie-breaker in the decision process.
    pub bgp_id: Ipv4Addr,
    /// Session address: the last tie-breaker but one in the decision process.
    pub address: IpAddr,
    /// Address families negotiated (Multiprotocol capability); nothing else is sent to it.
    pub families: Vec<AfiSafi>,
    /// Families for which ADD-PATH send towards this client was negotiated (RFC 7911):
    /// it receives every eligible path instead of its best one.
    pub add_path_tx: Vec<AfiSafi>,
}

/// A set of peers, as a bitset over [`PeerId`].
///
/// Invariant: no trailing zero words, so that derived equality and hashing are
/// equality of sets.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct PeerSet {
    words: Vec<u64>,
}

impl PeerSet {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `peer`; returns whether it was absent.
    pub fn insert(&mut self, peer: PeerId) -> bool {
        let (word, bit) = Self::position(peer);
        if self.words.len() <= word {
            self.words.resize(word + 1, 0);
        }
        let absent = self.words[word] & bit == 0;
        self.words[word] |= bit;
        absent
    }

    /// Removes `peer`; returns whether it was present.
    pub fn remove(&mut self, peer: PeerId) -> bool {
        let (word, bit) = Self::position(peer);
        let Some(w) = self.words.get_mut(word) else {
            return false;
        };
        let present = *w & bit != 0;
        *w &= !bit;
        while self.words.last() == Some(&0) {
            self.words.pop();
        }
        present
    }

    pub fn contains(&self, peer: PeerId) -> bool {
        let (word, bit) = Self::position(peer);
        self.words.get(word).is_some_and(|w| w & bit != 0)
    }

    pub fn len(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// The members in increasing order.
    pub fn iter(&self) -> impl Iterator<Item = PeerId> + '_ {
        // Bit by bit from the lowest set one (an `Only` set is walked per
        // changed prefix by the RIB: no test of the clear bits).
        self.words.iter().enumerate().flat_map(|(i, &w)| {
            let mut rest = w;
            std::iter::from_fn(move || {
                (rest != 0).then(|| {
                    let bit = rest.trailing_zeros();
                    rest &= rest - 1;
                    PeerId(i as u32 * 64 + bit)
                })
            })
        })
    }

    fn position(peer: PeerId) -> (usize, u64) {
        (peer.index() / 64, 1u64 << (peer.0 % 64))
    }
}

impl FromIterator<PeerId> for PeerSet {
    fn from_iter<I: IntoIterator<Item = PeerId>>(iter: I) -> Self {
        let mut set = PeerSet::new();
        for p in iter {
            set.insert(p);
        }
        set
    }
}

impl fmt::Debug for PeerSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter().map(|p| p.0)).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_set_insert_remove_contains() {
        let mut s = PeerSet::new();
        assert!(s.insert(PeerId(3)));
        assert!(!s.insert(PeerId(3)));
        assert!(s.insert(PeerId(130)));
        assert!(s.contains(PeerId(3)) && s.contains(PeerId(130)));
        assert!(!s.contains(PeerId(4)) && !s.contains(PeerId(100_000)));
        assert_eq!(s.len(), 2);
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![PeerId(3), PeerId(130)]);
        assert!(s.remove(PeerId(130)));
        assert!(!s.remove(PeerId(130)));
        // Trailing words are trimmed, so equality is set equality.
        assert_eq!(s, [PeerId(3)].into_iter().collect::<PeerSet>());
        assert!(s.remove(PeerId(3)));
        assert!(s.is_empty());
        assert_eq!(s, PeerSet::new());
    }
}
