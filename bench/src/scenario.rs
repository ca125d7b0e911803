//! The routes every client announces: deterministic given a seed, shaped like
//! a real IX member's table, and built to pass rs-standard's import checks
//! (and the equivalent BIRD filters) so that every route is expected at every
//! other client.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use kumo_wire::{AsPath, AsPathSegment, LargeCommunity, Origin, PathAttributes};

/// The route server's ASN in every generated config.
pub const RS_ASN: u32 = 64500;

/// What to generate.
#[derive(Debug, Clone)]
pub struct ScenarioSpec {
    pub clients: usize,
    /// Prefixes announced by each client.
    pub prefixes: usize,
    /// Percentage of each client's prefixes that are IPv6 (0–100).
    pub v6_percent: u8,
    pub seed: u64,
    /// First two octets of the clients' addresses: 127.1 (any loopback
    /// address works without setup) or 198.18 (`bench/net.sh up`, needed by
    /// BIRD, which refuses neighbors in host-scope 127/8).
    pub v4_base: [u8; 2],
    /// Percentage of attribute sets carrying the Euro-IX action community
    /// `0:peer_as` ("do not announce to peer_as") for one other client (P3:
    /// it takes effect when the export policy becomes rs-standard).
    pub action_percent: u8,
    /// Each client also announces [`invalid_groups`]: one route failing each
    /// import check, which no route server may pass on.
    pub invalid: bool,
}

/// One announcing and receiving client.
#[derive(Debug, Clone)]
pub struct ClientSpec {
    pub index: usize,
    pub name: String,
    pub asn: u32,
    /// Session address (127.1.x.y) and IPv4 NEXT_HOP.
    pub v4: Ipv4Addr,
    /// IPv6 NEXT_HOP (an IX-LAN-style address listed as the client's in the RS config).
    pub v6: Ipv6Addr,
}

/// A group of prefixes of one family sharing one attribute set.
#[derive(Debug, Clone)]
pub struct RouteGroup {
    pub attrs: PathAttributes,
    pub prefixes: Vec<IpNet>,
}

/// Everything the run needs: clients, their groups, and which client owns
/// each prefix (to check what a receiver gets).
#[derive(Debug)]
pub struct Scenario {
    pub spec: ScenarioSpec,
    pub clients: Vec<ClientSpec>,
    /// Per client, its attribute groups.
    pub groups: Vec<Vec<RouteGroup>>,
    /// Prefix → global route index (`owner * prefixes + k`).
    pub index: PrefixIndex,
    /// Per route index, the client its `0:peer_as` community excludes
    /// (`NO_EXCLUSION` for none).
    pub excluded: Vec<u32>,
    /// Per client, how many routes exclude it.
    pub excluded_count: Vec<usize>,
}

/// Marks a route without a "do not announce to" community.
pub const NO_EXCLUSION: u32 = u32::MAX;

/// Prefix → global route index, split by family for cheap keys.
#[derive(Debug, Default)]
pub struct PrefixIndex {
    v4: HashMap<u64, u32, ahash::RandomState>,
    v6: HashMap<(u128, u8), u32, ahash::RandomState>,
    /// Per route index, its prefix: [`PrefixIndex::get_after`] tries the
    /// route after the previous one first.
    by_id: Vec<PrefixKey>,
}

/// A prefix as the readers see it: network bits (IPv4 in the low 32), length, family.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PrefixKey {
    pub bits: u128,
    pub len: u8,
    pub v6: bool,
}

impl PrefixKey {
    /// The key of a generated prefix (its network, host bits clear).
    pub fn of(prefix: &IpNet) -> PrefixKey {
        match prefix {
            IpNet::V4(p) => PrefixKey {
                bits: u128::from(u32::from(p.network())),
                len: p.prefix_len(),
                v6: false,
            },
            IpNet::V6(p) => PrefixKey {
                bits: u128::from(p.network()),
                len: p.prefix_len(),
                v6: true,
            },
        }
    }
}

impl PrefixIndex {
    fn insert(&mut self, prefix: IpNet, id: u32) -> bool {
        let key = PrefixKey::of(&prefix);
        let slot = id as usize;
        if self.by_id.len() <= slot {
            self.by_id.resize(slot + 1, PrefixKey::default());
        }
        self.by_id[slot] = key;
        match prefix {
            IpNet::V4(p) => self.v4.insert(v4_key(u32::from(p.network()), p.prefix_len()), id),
            IpNet::V6(p) => self.v6.insert((u128::from(p.network()), p.prefix_len()), id),
        }
        .is_none()
    }

    /// The route index of `key`, trying `next` first: a server sends the
    /// routes of one UPDATE, and often of several, in the order they were
    /// announced, so the readers find many without a hash look-up. (At
    /// 1,000 × 1,000 the look-ups into a table of a million prefixes missed
    /// the caches: with this, the harness alone, fed by `--rs replay`, needs
    /// 38 s instead of 84 s.)
    pub fn get_after(&self, key: PrefixKey, next: u32) -> Option<u32> {
        if self.by_id.get(next as usize) == Some(&key) {
            return Some(next);
        }
        if key.v6 {
            self.get_v6(key.bits, key.len)
        } else {
            self.get_v4(key.bits as u32, key.len)
        }
    }

    /// The route index of an IPv4 prefix given as network bits and length.
    pub fn get_v4(&self, network: u32, len: u8) -> Option<u32> {
        self.v4.get(&v4_key(network, len)).copied()
    }

    /// The route index of an IPv6 prefix given as network bits and length.
    pub fn get_v6(&self, network: u128, len: u8) -> Option<u32> {
        self.v6.get(&(network, len)).copied()
    }

    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn v4_key(network: u32, len: u8) -> u64 {
    (u64::from(network) << 8) | u64::from(len)
}

/// SplitMix64: tiny, seedable, and the same on every platform.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }
    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }
}

/// Client `i`'s ASN: public, 16-bit (standard communities can name it), not
/// on rs-standard's transit-free list.
pub fn client_asn(i: usize) -> u32 {
    // Callers stay far below 45000 clients, which keeps this under 55000 (and clear of 23456).
    let asn = 10000 + i as u32;
    if asn >= 23456 { asn + 1 } else { asn }
}

/// Clients per block of the address layout, and the host part of a block's
/// first client: client `i` is host `HOST_BASE + i % PER_BLOCK` of block
/// `i / PER_BLOCK` (`client_v4`, `client_v6`; `client_index` inverts it).
const PER_BLOCK: usize = 200;
const HOST_BASE: usize = 10;

/// Client `i`'s (block, host) in the address layout.
fn client_place(i: usize) -> (usize, usize) {
    (i / PER_BLOCK, HOST_BASE + i % PER_BLOCK)
}

/// The client index at (block, host) of the address layout, if any.
fn client_index(block: usize, host: usize) -> Option<usize> {
    let k = host.checked_sub(HOST_BASE).filter(|&k| k < PER_BLOCK)?;
    block.checked_mul(PER_BLOCK)?.checked_add(k)
}

/// Client `i`'s session address: BASE.(i / 200).(10 + i % 200).
pub fn client_v4(base: [u8; 2], i: usize) -> Ipv4Addr {
    let (block, host) = client_place(i);
    Ipv4Addr::new(base[0], base[1], block as u8, host as u8)
}

/// Client `i`'s IPv6 NEXT_HOP: in 2001:7f8::/32 (IX peering LANs), never routed here.
pub fn client_v6(i: usize) -> Ipv6Addr {
    let (block, host) = client_place(i);
    Ipv6Addr::new(0x2001, 0x7f8, 0xffff, 0, 0, 0, block as u16, host as u16)
}

/// IPv4 first octets the generator uses: public unicast, no bogon below them.
fn v4_octet_ok(octet: u32) -> bool {
    !matches!(octet, 0 | 10 | 100 | 127 | 169 | 172 | 192 | 198 | 203) && (1..224).contains(&octet)
}

/// A middle-of-path ASN: public, not AS_TRANS, not transit-free (20000–60000
/// and 4-byte 131072–400000 hold none of rs-standard's defaults).
fn transit_asn(rng: &mut Rng) -> u32 {
    loop {
        let asn = if rng.chance(20) {
            rng.range(131_072, 400_000) as u32
        } else {
            rng.range(20_000, 60_000) as u32
        };
        if asn != 23456 {
            return asn;
        }
    }
}

/// IPv4 prefix length: mostly /24, as in the DFZ.
fn v4_len(rng: &mut Rng) -> u8 {
    match rng.range(0, 99) {
        0..=59 => 24,
        60..=74 => 23,
        75..=84 => 22,
        85..=94 => rng.range(19, 21) as u8,
        _ => rng.range(16, 18) as u8,
    }
}

/// IPv6 prefix length: mostly /48, some /32–/47.
fn v6_len(rng: &mut Rng) -> u8 {
    match rng.range(0, 99) {
        0..=54 => 48,
        55..=74 => rng.range(40, 47) as u8,
        75..=89 => rng.range(33, 39) as u8,
        _ => 32,
    }
}

/// Allocates distinct, aligned, non-bogon prefixes from a running cursor.
#[derive(Debug)]
struct Allocator {
    v4_next: u64,
    v6_next: u128,
}

impl Allocator {
    fn new() -> Self {
        Allocator {
            v4_next: 11u64 << 24,
            // 2a00::/12 onwards (RIPE space): inside 2000::/3, no bogon.
            v6_next: 0x2a00u128 << 112,
        }
    }

    fn v4(&mut self, len: u8) -> Option<Ipv4Net> {
        let size = 1u64 << (32 - u32::from(len));
        loop {
            let start = self.v4_next.div_ceil(size) * size;
            if start + size > 224u64 << 24 {
                return None;
            }
            let octet = (start >> 24) as u32;
            if v4_octet_ok(octet) {
                self.v4_next = start + size;
                return Ipv4Net::new(Ipv4Addr::from(start as u32), len).ok();
            }
            self.v4_next = u64::from(octet + 1) << 24;
        }
    }

    fn v6(&mut self, len: u8) -> Option<Ipv6Net> {
        let size = 1u128 << (128 - u32::from(len));
        let start = self.v6_next.div_ceil(size) * size;
        // Stay below 3000::/4 (far from 3ffe::/16 and 3fff::/20).
        if start + size > 0x3000u128 << 112 {
            return None;
        }
        self.v6_next = start + size;
        Ipv6Net::new(Ipv6Addr::from(start), len).ok()
    }
}

/// Errors building a scenario.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("address space exhausted after {0} prefixes; use fewer clients or prefixes")]
    Exhausted(usize),
    #[error("{0} clients is more than this harness addresses (max 40000)")]
    TooManyClients(usize),
}

impl Scenario {
    /// Build the scenario: the same spec always gives the same routes.
    pub fn generate(spec: ScenarioSpec) -> Result<Scenario, ScenarioError> {
        // 200 clients per /24, at most 255 of them: 51000 addresses.
        if spec.clients > 40_000 {
            return Err(ScenarioError::TooManyClients(spec.clients));
        }
        let mut rng = Rng::new(spec.seed);
        let mut alloc = Allocator::new();
        let mut index = PrefixIndex::default();
        let mut clients = Vec::with_capacity(spec.clients);
        let mut groups = Vec::with_capacity(spec.clients);
        let mut excluded = vec![NO_EXCLUSION; spec.clients * spec.prefixes];
        let mut excluded_count = vec![0usize; spec.clients];
        for i in 0..spec.clients {
            let client = ClientSpec {
                index: i,
                name: format!("as{}", client_asn(i)),
                asn: client_asn(i),
                v4: client_v4(spec.v4_base, i),
                v6: client_v6(i),
            };
            let n_v6 = spec.prefixes * usize::from(spec.v6_percent.min(100)) / 100;
            let n_v4 = spec.prefixes - n_v6;
            let mut mine = Vec::new();
            let mut k = 0usize;
            for (family_v6, count) in [(false, n_v4), (true, n_v6)] {
                let mut left = count;
                while left > 0 {
                    // 1–5 prefixes per attribute set: 3 on average.
                    let n = (rng.range(1, 5) as usize).min(left);
                    // Drawn only when asked for, so that other scenarios keep their routes.
                    let target = (spec.action_percent > 0
                        && spec.clients > 1
                        && rng.chance(u64::from(spec.action_percent)))
                    .then(|| {
                        let other = rng.range(0, spec.clients as u64 - 2) as usize;
                        if other >= i { other + 1 } else { other }
                    });
                    let mut prefixes = Vec::with_capacity(n);
                    for _ in 0..n {
                        let prefix = if family_v6 {
                            alloc.v6(v6_len(&mut rng)).map(IpNet::V6)
                        } else {
                            alloc.v4(v4_len(&mut rng)).map(IpNet::V4)
                        }
                        .ok_or(ScenarioError::Exhausted(index.len()))?;
                        let id = (i * spec.prefixes + k) as u32;
                        let fresh = index.insert(prefix, id);
                        // The allocator never hands out a prefix twice.
                        debug_assert!(fresh, "{prefix} allocated twice");
                        if let Some(t) = target {
                            excluded[id as usize] = t as u32;
                            excluded_count[t] += 1;
                        }
                        prefixes.push(prefix);
                        k += 1;
                    }
                    let mut attrs = attributes(&client, family_v6, &mut rng);
                    if let Some(t) = target {
                        attrs.communities.push(client_asn(t));
                    }
                    mine.push(RouteGroup { attrs, prefixes });
                    left -= n;
                }
            }
            if spec.invalid {
                let other = client_v4(spec.v4_base, (i + 1) % spec.clients);
                mine.extend(invalid_groups(&client, other));
            }
            clients.push(client);
            groups.push(mine);
        }
        Ok(Scenario {
            spec,
            clients,
            groups,
            index,
            excluded,
            excluded_count,
        })
    }

    /// Routes each receiving client must hold at the end: every other client's.
    pub fn expected_per_client(&self) -> usize {
        self.spec.prefixes * self.spec.clients.saturating_sub(1)
    }

    /// The client whose address `next_hop` is, if any (computed from the
    /// address by the layout's inverse, then checked: no look-up per route).
    pub fn owner_by_next_hop(&self, next_hop: crate::scan::NextHop) -> Option<usize> {
        let (block, host) = match next_hop {
            crate::scan::NextHop::V4(a) => {
                let o = a.octets();
                (usize::from(o[2]), usize::from(o[3]))
            }
            crate::scan::NextHop::V6(a) => {
                let s = a.segments();
                (usize::from(s[6]), usize::from(s[7]))
            }
        };
        let i = client_index(block, host)?;
        let client = self.clients.get(i)?;
        let ours = match next_hop {
            crate::scan::NextHop::V4(a) => client.v4 == a,
            crate::scan::NextHop::V6(a) => client.v6 == a,
        };
        ours.then_some(i)
    }

    /// The client that announced route `id`.
    pub fn owner_of(&self, id: u32) -> usize {
        id as usize / self.spec.prefixes.max(1)
    }

    /// The NEXT_HOP a receiver must see for route `id` (the announcer's own
    /// address: route servers do not change it).
    pub fn next_hop_of(&self, id: u32, v6: bool) -> IpAddr {
        let owner = &self.clients[self.owner_of(id)];
        if v6 {
            IpAddr::V6(owner.v6)
        } else {
            IpAddr::V4(owner.v4)
        }
    }
}

/// One attribute set: AS_PATH of 1–8 ASNs from the client's, a few standard
/// and large communities, sometimes a MED.
fn attributes(client: &ClientSpec, v6: bool, rng: &mut Rng) -> PathAttributes {
    let len = rng.range(1, 8) as usize;
    let mut path = Vec::with_capacity(len);
    path.push(client.asn);
    // Prepending happens: sometimes the client's ASN twice.
    if len > 1 && rng.chance(10) {
        path.push(client.asn);
    }
    while path.len() < len {
        path.push(transit_asn(rng));
    }
    let communities = (0..rng.range(0, 3))
        .map(|_| (client.asn << 16) | rng.range(100, 999) as u32)
        .collect();
    let large_communities = (0..rng.range(0, 2))
        .map(|_| LargeCommunity {
            global_admin: client.asn,
            local_data1: rng.range(1, 9) as u32,
            local_data2: rng.range(1, 5000) as u32,
        })
        .collect();
    PathAttributes {
        origin: Some(if rng.chance(90) {
            Origin::Igp
        } else {
            Origin::Incomplete
        }),
        as_path: Some(AsPath::from(vec![AsPathSegment::Sequence(path)])),
        next_hop: if v6 { None } else { Some(client.v4) },
        med: if rng.chance(30) {
            Some(rng.range(0, 1000) as u32)
        } else {
            None
        },
        communities,
        large_communities,
        ..Default::default()
    }
}

/// Routes that each fail one of rs-standard's default import checks, and
/// the other route servers' equivalent filters: a route server must send none
/// of them. Their prefixes are outside the index (IPv4 1.0.0.0–9.255.255.255,
/// which the allocator starts above, and lengths the valid routes never
/// have), so a client that receives one counts an unknown prefix and the run
/// is not correct. Built without the random generator: the valid routes stay
/// the same with or without them.
pub fn invalid_groups(client: &ClientSpec, other_client: Ipv4Addr) -> Vec<RouteGroup> {
    let [hi, lo] = (client.index as u16).to_be_bytes();
    let v4 = |first: u8, len: u8| IpNet::V4(Ipv4Net::new_assert(Ipv4Addr::new(first, hi, lo, 0), len));
    let v6 = |first: u16, len: u8| {
        IpNet::V6(Ipv6Net::new_assert(
            Ipv6Addr::new(first, client.index as u16, 0, 0, 0, 0, 0, 0),
            len,
        ))
    };
    let route = |prefix: IpNet, path: Vec<u32>, next_hop: Ipv4Addr| {
        let v6 = matches!(prefix, IpNet::V6(_));
        RouteGroup {
            attrs: PathAttributes {
                origin: Some(Origin::Igp),
                as_path: Some(AsPath::from(vec![AsPathSegment::Sequence(path)])),
                next_hop: (!v6).then_some(next_hop),
                ..Default::default()
            },
            prefixes: vec![prefix],
        }
    };
    let me = client.asn;
    let ok_path = vec![me, 30_000];
    let own = client.v4;
    vec![
        // Bogon prefixes.
        route(v4(10, 24), ok_path.clone(), own),
        route(
            IpNet::V6(Ipv6Net::new_assert(
                Ipv6Addr::new(0x2001, 0xdb8, client.index as u16, 0, 0, 0, 0, 0),
                48,
            )),
            ok_path.clone(),
            own,
        ),
        // IPv6 outside 2000::/3.
        route(v6(0x4000, 48), ok_path.clone(), own),
        // Prefix lengths outside /8–/24 and /12–/48.
        route(v4(1, 25), ok_path.clone(), own),
        route(
            IpNet::V4(Ipv4Net::new_assert(Ipv4Addr::new(2, 0, 0, 0), 7)),
            ok_path.clone(),
            own,
        ),
        route(v6(0x2a0f, 49), ok_path.clone(), own),
        route(
            IpNet::V6(Ipv6Net::new_assert(
                Ipv6Addr::new(0x2000, 0, 0, 0, 0, 0, 0, 0),
                11,
            )),
            ok_path.clone(),
            own,
        ),
        // AS_PATH: a private ASN, AS_TRANS, a transit-free ASN, 33 ASNs,
        // and a first AS that is not the client's.
        route(v4(3, 24), vec![me, 64_512, 30_000], own),
        route(v4(4, 24), vec![me, 23_456, 30_000], own),
        route(v4(5, 24), vec![me, 3356, 30_000], own),
        route(
            v4(6, 24),
            [me].into_iter().chain((0..32).map(|k| 30_000 + k)).collect(),
            own,
        ),
        route(v4(7, 24), vec![30_000, me], own),
        // NEXT_HOP: another client's address.
        route(v4(8, 24), ok_path, other_client),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(seed: u64) -> ScenarioSpec {
        ScenarioSpec {
            clients: 20,
            prefixes: 500,
            v6_percent: 20,
            seed,
            v4_base: [127, 1],
            action_percent: 0,
            invalid: false,
        }
    }

    #[test]
    fn invalid_routes_come_after_the_same_valid_ones_and_are_never_expected() {
        let valid = Scenario::generate(spec(7)).expect("scenario");
        let with = Scenario::generate(ScenarioSpec {
            invalid: true,
            ..spec(7)
        })
        .expect("scenario");
        for (i, (plain, mine)) in valid.groups.iter().zip(&with.groups).enumerate() {
            let (same, extra) = mine.split_at(plain.len());
            assert_eq!(format!("{plain:?}"), format!("{same:?}"), "client {i}");
            assert_eq!(extra.len(), 13);
            for g in extra {
                assert_eq!(g.prefixes.len(), 1);
                let key = PrefixKey::of(&g.prefixes[0]);
                assert_eq!(with.index.get_after(key, 0), None, "{g:?}");
            }
        }
        assert_eq!(with.index.len(), valid.index.len());
    }

    #[test]
    fn deterministic_given_a_seed() {
        let a = Scenario::generate(spec(7)).expect("scenario");
        let b = Scenario::generate(spec(7)).expect("scenario");
        let c = Scenario::generate(spec(8)).expect("scenario");
        let flat = |s: &Scenario| format!("{:?}", s.groups);
        assert_eq!(flat(&a), flat(&b));
        assert_ne!(flat(&a), flat(&c));
    }

    #[test]
    fn shape_passes_rs_standard_checks() {
        let s = Scenario::generate(spec(1)).expect("scenario");
        assert_eq!(s.index.len(), 20 * 500, "every prefix distinct");
        let mut sets = 0usize;
        let mut v6 = 0usize;
        for (client, groups) in s.clients.iter().zip(&s.groups) {
            let count: usize = groups.iter().map(|g| g.prefixes.len()).sum();
            assert_eq!(count, 500);
            sets += groups.len();
            for g in groups {
                let path = g.attrs.as_path.as_ref().expect("AS_PATH");
                let asns = path.segments().next().expect("a segment").asns();
                assert_eq!(asns[0], client.asn);
                assert!((1..=8).contains(&asns.len()));
                for &asn in asns {
                    assert!(asn != 23456 && asn != 0 && !(64496..131_072).contains(&asn));
                }
                for p in &g.prefixes {
                    match p {
                        IpNet::V4(p) => {
                            assert!((8..=24).contains(&p.prefix_len()));
                            assert!(v4_octet_ok(u32::from(p.network()) >> 24), "{p}");
                        }
                        IpNet::V6(p) => {
                            v6 += 1;
                            assert!((12..=48).contains(&p.prefix_len()));
                            let top = u128::from(p.network()) >> 112;
                            assert!((0x2a00..0x3000).contains(&top), "{p}");
                        }
                    }
                }
            }
        }
        assert_eq!(v6, 20 * 100);
        let per_set = (20.0 * 500.0) / sets as f64;
        assert!(
            (2.5..3.5).contains(&per_set),
            "prefixes per attribute set {per_set}"
        );
    }

    #[test]
    fn action_communities_name_another_client() {
        let plain = Scenario::generate(spec(5)).expect("scenario");
        assert!(plain.excluded.iter().all(|&e| e == NO_EXCLUSION));
        let s = Scenario::generate(ScenarioSpec {
            action_percent: 10,
            invalid: false,
            ..spec(5)
        })
        .expect("scenario");
        let tagged = s.excluded.iter().filter(|&&e| e != NO_EXCLUSION).count();
        assert_eq!(tagged, s.excluded_count.iter().sum::<usize>());
        // About 10% of the 10000 routes.
        assert!((600..1400).contains(&tagged), "{tagged}");
        for (owner, groups) in s.groups.iter().enumerate() {
            for g in groups {
                let IpNet::V4(p) = g.prefixes[0] else { continue };
                let id = s
                    .index
                    .get_v4(u32::from(p.network()), p.prefix_len())
                    .expect("indexed");
                let e = s.excluded[id as usize];
                let has = g.attrs.communities.iter().any(|&c| c >> 16 == 0);
                assert_eq!(has, e != NO_EXCLUSION);
                if has {
                    assert_ne!(e as usize, owner);
                    assert!(g.attrs.communities.contains(&client_asn(e as usize)));
                }
            }
        }
    }

    #[test]
    fn index_maps_back_to_owner() {
        let s = Scenario::generate(spec(3)).expect("scenario");
        let g = &s.groups[7][2];
        let IpNet::V4(p) = g.prefixes[0] else {
            panic!("the first groups are IPv4");
        };
        let id = s
            .index
            .get_v4(u32::from(p.network()), p.prefix_len())
            .expect("indexed");
        assert_eq!(s.owner_of(id), 7);
        assert_eq!(s.next_hop_of(id, false), IpAddr::V4(client_v4([127, 1], 7)));
    }

    #[test]
    fn the_hint_finds_the_same_route_as_the_hash() {
        let s = Scenario::generate(spec(3)).expect("scenario");
        let mut checked = 0;
        for (c, groups) in s.groups.iter().enumerate() {
            for p in groups.iter().flat_map(|g| &g.prefixes) {
                let key = PrefixKey::of(p);
                let id = s.index.get_after(key, u32::MAX).expect("indexed");
                assert_eq!(s.owner_of(id), c);
                // Right hint, wrong hint, past the end: the same answer.
                for hint in [id, id.wrapping_add(1), 0, u32::MAX - 1] {
                    assert_eq!(s.index.get_after(key, hint), Some(id));
                }
                checked += 1;
            }
        }
        assert_eq!(checked, s.index.len());
        // The same bits as another family's prefix are not that prefix.
        let v4 = s.index.by_id[0];
        assert!(!v4.v6);
        assert_eq!(s.index.get_after(PrefixKey { v6: true, ..v4 }, 0), None);
    }

    #[test]
    fn a_next_hop_names_its_client_and_only_a_clients_address_names_one() {
        use crate::scan::NextHop;
        let s = Scenario::generate(ScenarioSpec {
            clients: 450,
            prefixes: 10,
            ..spec(3)
        })
        .expect("scenario");
        for c in &s.clients {
            assert_eq!(s.owner_by_next_hop(NextHop::V4(c.v4)), Some(c.index));
            assert_eq!(s.owner_by_next_hop(NextHop::V6(c.v6)), Some(c.index));
        }
        let strangers = [
            NextHop::V4(Ipv4Addr::new(127, 1, 0, 9)),
            NextHop::V4(Ipv4Addr::new(127, 1, 2, 60)), // client 450: one past the last
            NextHop::V4(Ipv4Addr::new(10, 0, 0, 10)),  // client 0's host part, another network
            NextHop::V6(Ipv6Addr::new(0x2001, 0x7f8, 0xffff, 0, 0, 0, 0, 9)),
            NextHop::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 10)),
        ];
        for nh in strangers {
            assert_eq!(s.owner_by_next_hop(nh), None, "{nh:?}");
        }
    }
}
