//! The prefix table: every prefix's candidate paths, laid out for memory.
//!
//! At an IX most prefixes have one path (one member announces them), so a
//! prefix's entry is what a path costs. A `HashMap<IpNet, Vec<Path>>` paid for
//! that entry three times: the map's slot (key and `Vec` header, times the
//! power-of-two slack of the table), the `Vec`'s own heap block, and a copy of
//! the prefix in its source's index. Here the entries live in fixed-size
//! chunks per family (no doubling slack, stable ids; an IPv4 entry keeps a
//! 5-octet prefix, so with its one path it is 40 octets), a single path is
//! stored inline ([`PathList::One`]), the hash index holds only 4-octet
//! [`PrefixId`]s (hashed by the prefix in their entry, as `indexmap` does), and
//! per-peer indexes hold the same ids instead of prefixes, in compressed
//! bitmaps. Entries freed when a prefix
//! loses its last path are reused by the next new prefix of the family; the
//! chunks themselves are kept (like BIRD's slabs), so a table that shrank
//! keeps its peak size until it grows again.

use std::ops::{Deref, DerefMut, Range};

use hashbrown::HashTable;
use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use super::Path;

/// A prefix's place in the [`Table`]; stable while the prefix has paths, then reused.
pub(super) type PrefixId = u32;

/// Entries per chunk: large enough that the chunk list is short, small
/// enough that a small RIB does not reserve much.
pub(super) const CHUNK: usize = 1024;

/// The candidate paths of one prefix, sorted by local path id.
#[derive(Debug, Clone)]
pub(super) enum PathList {
    /// The common case, without a heap block of its own.
    One(Path),
    /// None, or two and more.
    Many(Vec<Path>),
}

impl Default for PathList {
    fn default() -> Self {
        PathList::Many(Vec::new())
    }
}

impl Deref for PathList {
    type Target = [Path];

    fn deref(&self) -> &[Path] {
        match self {
            PathList::One(path) => std::slice::from_ref(path),
            PathList::Many(paths) => paths,
        }
    }
}

impl DerefMut for PathList {
    fn deref_mut(&mut self) -> &mut [Path] {
        match self {
            PathList::One(path) => std::slice::from_mut(path),
            PathList::Many(paths) => paths,
        }
    }
}

impl PathList {
    /// Inserts `path` at position `at`.
    pub(super) fn insert(&mut self, at: usize, path: Path) {
        match std::mem::take(self) {
            PathList::Many(paths) if paths.is_empty() => *self = PathList::One(path),
            PathList::One(only) => {
                // Most prefixes have one or two paths: do not let `Vec` round up to four.
                let mut paths = Vec::with_capacity(2);
                paths.push(only);
                paths.insert(at.min(1), path);
                *self = PathList::Many(paths);
            }
            PathList::Many(mut paths) => {
                paths.reserve_exact(1);
                paths.insert(at.min(paths.len()), path);
                *self = PathList::Many(paths);
            }
        }
    }

    /// Removes and returns the path at `at`, if there is one.
    pub(super) fn remove(&mut self, at: usize) -> Option<Path> {
        let removed = match self {
            PathList::One(_) if at == 0 => match std::mem::take(self) {
                PathList::One(path) => Some(path),
                PathList::Many(_) => None,
            },
            PathList::Many(paths) if at < paths.len() => Some(paths.remove(at)),
            _ => None,
        };
        self.compact();
        removed
    }

    /// Keeps the paths for which `keep` returns true.
    pub(super) fn retain_mut(&mut self, mut keep: impl FnMut(&mut Path) -> bool) {
        match self {
            PathList::One(path) => {
                if !keep(path) {
                    *self = PathList::default();
                }
            }
            PathList::Many(paths) => paths.retain_mut(keep),
        }
        self.compact();
    }

    /// Back to the inline form for one path; gives back memory a shrunk list no longer needs.
    fn compact(&mut self) {
        if let PathList::Many(paths) = self {
            if paths.len() == 1 {
                if let Some(only) = paths.pop() {
                    *self = PathList::One(only);
                }
            } else if paths.capacity() > 2 * paths.len() {
                paths.shrink_to_fit();
            }
        }
    }
}

/// An entry: a prefix of one family (`K`: `Ipv4Net`, 5 octets, or
/// `Ipv6Net`, 17) and its paths. IPv4 entries are 40 octets, IPv6 ones 56:
/// an `IpNet` (18 octets) would make every entry 56.
#[derive(Debug)]
struct Entry<K> {
    /// `None` while the entry is free.
    prefix: Option<K>,
    paths: PathList,
}

/// The entries of one family, in fixed-size chunks.
#[derive(Debug)]
struct Entries<K> {
    chunks: Vec<Vec<Entry<K>>>,
    /// Entries whose prefix lost its last path, to be reused.
    free: Vec<u32>,
}

impl<K> Default for Entries<K> {
    fn default() -> Self {
        Entries {
            chunks: Vec::new(),
            free: Vec::new(),
        }
    }
}

impl<K: Copy> Entries<K> {
    fn get(&self, i: u32) -> Option<&Entry<K>> {
        self.chunks.get(i as usize / CHUNK)?.get(i as usize % CHUNK)
    }

    fn get_mut(&mut self, i: u32) -> Option<&mut Entry<K>> {
        self.chunks
            .get_mut(i as usize / CHUNK)?
            .get_mut(i as usize % CHUNK)
    }

    /// A free entry for `prefix`: a reused one, or a new one at the end.
    fn take(&mut self, prefix: K) -> u32 {
        let i = match self.free.pop() {
            Some(i) => i,
            None => {
                if self.chunks.last().is_none_or(|c| c.len() == CHUNK) {
                    self.chunks.push(Vec::with_capacity(CHUNK));
                }
                let n = self.chunks.len() - 1;
                let last = &mut self.chunks[n];
                last.push(Entry {
                    prefix: None,
                    paths: PathList::default(),
                });
                (n * CHUNK + last.len() - 1) as u32
            }
        };
        if let Some(entry) = self.get_mut(i) {
            entry.prefix = Some(prefix);
        }
        i
    }

    /// Entry `i` is free again (see [`Entries::take`]).
    fn release(&mut self, i: u32) {
        if let Some(entry) = self.get_mut(i)
            && entry.prefix.take().is_some()
        {
            self.free.push(i);
        }
    }

    /// The entries with paths in chunks `chunks` (clamped to those there are).
    fn iter(&self, chunks: Range<usize>) -> impl Iterator<Item = (K, &PathList)> {
        let end = chunks.end.min(self.chunks.len());
        self.chunks[chunks.start.min(end)..end]
            .iter()
            .flatten()
            .filter_map(|e| Some((e.prefix?, &e.paths)).filter(|(_, p)| !p.is_empty()))
    }

    fn iter_mut(&mut self, chunks: Range<usize>) -> impl Iterator<Item = (K, &mut PathList)> {
        let end = chunks.end.min(self.chunks.len());
        self.chunks[chunks.start.min(end)..end]
            .iter_mut()
            .flatten()
            .filter_map(|e| Some((e.prefix?, &mut e.paths)).filter(|(_, p)| !p.is_empty()))
    }
}

/// Prefix → candidate paths. See the module documentation.
#[derive(Debug, Default)]
pub(super) struct Table {
    /// Ids of the entries in use, hashed by their prefix.
    index: HashTable<PrefixId>,
    hasher: ahash::RandomState,
    v4: Entries<Ipv4Net>,
    v6: Entries<Ipv6Net>,
}

/// Set in the ids of IPv6 entries; the other bits are the entry's place.
const V6_ID: PrefixId = 1 << 31;

/// The prefix of entry `id` (`None` if free); for the index's hashing and comparisons.
fn prefix_at(v4: &Entries<Ipv4Net>, v6: &Entries<Ipv6Net>, id: PrefixId) -> Option<IpNet> {
    if id & V6_ID == 0 {
        v4.get(id)?.prefix.map(IpNet::V4)
    } else {
        v6.get(id & !V6_ID)?.prefix.map(IpNet::V6)
    }
}

impl Table {
    /// Number of prefixes with at least one path.
    pub(super) fn len(&self) -> usize {
        self.index.len()
    }

    /// The id of `prefix`, if it has paths.
    pub(super) fn id(&self, prefix: &IpNet) -> Option<PrefixId> {
        let (v4, v6) = (&self.v4, &self.v6);
        self.index
            .find(self.hasher.hash_one(prefix), |id| {
                prefix_at(v4, v6, *id).as_ref() == Some(prefix)
            })
            .copied()
    }

    pub(super) fn get(&self, prefix: &IpNet) -> Option<&PathList> {
        self.at(self.id(prefix)?).map(|(_, paths)| paths)
    }

    /// The prefix and paths of entry `id`, if it is in use.
    pub(super) fn at(&self, id: PrefixId) -> Option<(IpNet, &PathList)> {
        if id & V6_ID == 0 {
            let entry = self.v4.get(id)?;
            Some((IpNet::V4(entry.prefix?), &entry.paths))
        } else {
            let entry = self.v6.get(id & !V6_ID)?;
            Some((IpNet::V6(entry.prefix?), &entry.paths))
        }
    }

    pub(super) fn at_mut(&mut self, id: PrefixId) -> Option<(IpNet, &mut PathList)> {
        if id & V6_ID == 0 {
            let entry = self.v4.get_mut(id)?;
            Some((IpNet::V4(entry.prefix?), &mut entry.paths))
        } else {
            let entry = self.v6.get_mut(id & !V6_ID)?;
            Some((IpNet::V6(entry.prefix?), &mut entry.paths))
        }
    }

    /// The entry of `prefix`, created empty if it has none. An entry left
    /// empty must be given back with [`Table::tidy`].
    pub(super) fn entry(&mut self, prefix: IpNet) -> (PrefixId, &mut PathList) {
        let id = match self.id(&prefix) {
            Some(id) => id,
            None => {
                let id = match prefix {
                    IpNet::V4(net) => self.v4.take(net),
                    IpNet::V6(net) => self.v6.take(net) | V6_ID,
                };
                let Table {
                    index,
                    hasher,
                    v4,
                    v6,
                } = self;
                // Entries in the index are in use: their prefix is set.
                let rehash = |id: &PrefixId| prefix_at(v4, v6, *id).map_or(0, |p| hasher.hash_one(p));
                index.insert_unique(hasher.hash_one(prefix), id, rehash);
                id
            }
        };
        // Indexing: `id` names an entry that exists (found or just taken).
        let i = (id & !V6_ID) as usize;
        let paths = if id & V6_ID == 0 {
            &mut self.v4.chunks[i / CHUNK][i % CHUNK].paths
        } else {
            &mut self.v6.chunks[i / CHUNK][i % CHUNK].paths
        };
        (id, paths)
    }

    /// Frees entry `id` if its prefix has no path left.
    pub(super) fn tidy(&mut self, id: PrefixId) {
        let Some((prefix, paths)) = self.at(id) else {
            return;
        };
        if !paths.is_empty() {
            return;
        }
        if let Ok(found) = self
            .index
            .find_entry(self.hasher.hash_one(prefix), |other| *other == id)
        {
            found.remove();
        }
        if id & V6_ID == 0 {
            self.v4.release(id);
        } else {
            self.v6.release(id & !V6_ID);
        }
    }

    /// Every prefix with paths, IPv4 then IPv6, in entry order (stable while
    /// no prefix is added or removed).
    pub(super) fn iter(&self) -> impl Iterator<Item = (IpNet, &PathList)> {
        self.iter_part(0..usize::MAX)
    }

    /// [`Table::iter`], mutably (same order).
    pub(super) fn iter_mut(&mut self) -> impl Iterator<Item = (IpNet, &mut PathList)> {
        self.iter_part_mut(0..usize::MAX)
    }

    /// Number of parts of the table (chunks of [`CHUNK`] entries, IPv4's
    /// then IPv6's), for walking it a part at a time with [`Table::iter_part`].
    pub(super) fn parts(&self) -> usize {
        self.v4.chunks.len() + self.v6.chunks.len()
    }

    /// The prefixes of [`Table::iter`] in parts `parts`, in the same order.
    pub(super) fn iter_part(&self, parts: Range<usize>) -> impl Iterator<Item = (IpNet, &PathList)> {
        let (v4, v6) = self.split_parts(parts);
        let v4 = self.v4.iter(v4).map(|(net, paths)| (IpNet::V4(net), paths));
        v4.chain(self.v6.iter(v6).map(|(net, paths)| (IpNet::V6(net), paths)))
    }

    /// [`Table::iter_part`], mutably (same order).
    pub(super) fn iter_part_mut(
        &mut self,
        parts: Range<usize>,
    ) -> impl Iterator<Item = (IpNet, &mut PathList)> {
        let (v4, v6) = self.split_parts(parts);
        let v4 = self.v4.iter_mut(v4).map(|(net, paths)| (IpNet::V4(net), paths));
        v4.chain(self.v6.iter_mut(v6).map(|(net, paths)| (IpNet::V6(net), paths)))
    }

    /// Parts `parts` as chunk ranges of the IPv4 and of the IPv6 entries.
    fn split_parts(&self, parts: Range<usize>) -> (Range<usize>, Range<usize>) {
        let v4 = self.v4.chunks.len();
        let v6 = parts.start.saturating_sub(v4)..parts.end.saturating_sub(v4);
        (parts.start.min(v4)..parts.end.min(v4), v6)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {

    use super::super::Path;
    use super::*;
    use crate::PeerId;

    fn path(local_path_id: u32) -> Path {
        let attrs = crate::Attrs::default();
        Path {
            attrs,
            extra: None,
            source: PeerId(local_path_id),
            remote_path_id: 0,
            local_id: local_path_id,
            local_pref: 100,
        }
    }

    fn ids(list: &PathList) -> Vec<u32> {
        list.iter().map(|p| p.local_path_id()).collect()
    }

    #[test]
    fn an_entry_with_one_path_is_40_octets_for_ipv4_and_56_for_ipv6() {
        // The per-path memory figure in `Path`'s doc comment depends on this.
        let sizes = (
            std::mem::size_of::<Entry<Ipv4Net>>(),
            std::mem::size_of::<Entry<Ipv6Net>>(),
        );
        assert!(sizes.0 <= 40 && sizes.1 <= 56, "{sizes:?}");
    }

    #[test]
    fn one_path_is_inline_and_lists_keep_their_order() {
        let mut list = PathList::default();
        list.insert(0, path(2));
        assert!(matches!(list, PathList::One(_)));
        list.insert(0, path(1));
        list.insert(2, path(3));
        assert_eq!(ids(&list), [1, 2, 3]);
        assert_eq!(list.remove(1).map(|p| p.local_path_id()), Some(2));
        assert!(list.remove(5).is_none());
        list.retain_mut(|p| p.local_path_id() != 1);
        assert!(matches!(list, PathList::One(_)), "back inline: {list:?}");
        assert_eq!(ids(&list), [3]);
        assert_eq!(list.remove(0).map(|p| p.local_path_id()), Some(3));
        assert!(list.is_empty());
    }

    #[test]
    fn entries_are_reused_and_iteration_skips_free_ones() {
        let mut table = Table::default();
        let nets: Vec<IpNet> = (0..(CHUNK as u32 + 5))
            .map(|i| IpNet::V4(Ipv4Net::new((0x0a00_0000 + (i << 8)).into(), 24).unwrap()))
            .collect();
        for (i, net) in nets.iter().enumerate() {
            let (id, list) = table.entry(*net);
            assert_eq!(id as usize, i);
            list.insert(0, path(1));
        }
        assert_eq!(table.len(), nets.len());
        assert_eq!(table.v4.chunks.len(), 2);
        // An IPv6 prefix has an entry of its own kind.
        let v6: IpNet = "2001:db8::/32".parse().unwrap();
        let (v6_id, list) = table.entry(v6);
        list.insert(0, path(1));
        assert_eq!(table.at(v6_id).map(|(p, l)| (p, l.len())), Some((v6, 1)));
        assert_eq!(table.iter().last().map(|(p, _)| p), Some(v6));
        // Emptying a prefix frees its entry; the next new prefix of the family takes it.
        let id = table.id(&nets[3]).unwrap();
        table.at_mut(id).unwrap().1.remove(0);
        table.tidy(id);
        assert_eq!(table.id(&nets[3]), None);
        assert!(table.at(id).is_none());
        assert_eq!(table.iter().count(), nets.len());
        let fresh: IpNet = "192.0.2.0/24".parse().unwrap();
        let (reused, list) = table.entry(fresh);
        assert_eq!(reused, id);
        list.insert(0, path(1));
        assert_eq!(table.get(&fresh).map(|l| l.len()), Some(1));
        assert_eq!(table.at(id).map(|(p, _)| p), Some(fresh));
        // A prefix with paths left is not freed.
        table.tidy(id);
        assert_eq!(table.id(&fresh), Some(id));
        assert_eq!(table.iter().count(), nets.len() + 1);
        // Every prefix is found again after the index grew.
        for net in nets.iter().filter(|n| **n != nets[3]).chain([&v6, &fresh]) {
            assert_eq!(
                table.id(net).and_then(|id| table.at(id)).map(|(p, _)| p),
                Some(*net)
            );
        }
    }

    proptest::proptest! {
        /// The table against a map model: random adds and removals over a
        /// few hundred prefixes of both families (enough to grow the index
        /// several times and reuse freed entries).
        #[test]
        fn behaves_like_a_map_of_prefixes_to_paths(
            ops in proptest::collection::vec((0u32..300, proptest::bool::ANY, proptest::bool::ANY), 1..2000)
        ) {
            use std::collections::BTreeMap;
            let mut table = Table::default();
            let mut model: BTreeMap<IpNet, usize> = BTreeMap::new();
            let net = |n: u32, v6: bool| -> IpNet {
                if v6 {
                    IpNet::V6(Ipv6Net::new((0x2001_0db8u128 << 96 | u128::from(n) << 64).into(), 64).unwrap())
                } else {
                    IpNet::V4(Ipv4Net::new((0x0a00_0000 + (n << 8)).into(), 24).unwrap())
                }
            };
            for (n, v6, add) in ops {
                let prefix = net(n, v6);
                if add {
                    let (id, list) = table.entry(prefix);
                    let at = list.len();
                    list.insert(at, path(at as u32 + 1));
                    proptest::prop_assert_eq!(table.at(id).map(|(p, _)| p), Some(prefix));
                    *model.entry(prefix).or_default() += 1;
                } else if let Some(id) = table.id(&prefix) {
                    let removed = table.at_mut(id).and_then(|(_, list)| list.remove(0));
                    proptest::prop_assert!(removed.is_some());
                    table.tidy(id);
                    let left = model.get_mut(&prefix).map(|c| { *c -= 1; *c });
                    if left == Some(0) {
                        model.remove(&prefix);
                    }
                } else {
                    proptest::prop_assert!(!model.contains_key(&prefix));
                }
            }
            proptest::prop_assert_eq!(table.len(), model.len());
            let mut seen: BTreeMap<IpNet, usize> = BTreeMap::new();
            for (prefix, list) in table.iter() {
                proptest::prop_assert!(seen.insert(prefix, list.len()).is_none(), "{} twice", prefix);
                let id = table.id(&prefix);
                proptest::prop_assert_eq!(id.and_then(|id| table.at(id)).map(|(p, l)| (p, l.len())), Some((prefix, list.len())));
            }
            proptest::prop_assert_eq!(seen, model);
        }
    }
}
