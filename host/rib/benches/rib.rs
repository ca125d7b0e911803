//! Attribute interning, RIB announce and best path (issue 7, P2).
//!
//! `cargo bench -p kumo-rib --bench rib`
//!
//! - `intern/new`: `AttrInterner::intern` of a set not seen before (hash,
//!   miss, `Arc` allocation, insert), into an interner that holds 0–100k sets.
//! - `intern/existing`: the same set again (hash, hit, `Arc` clone).
//! - `announce/new-prefix-50-peers`: `Rib::announce` of a new prefix from one
//!   client with 50 clients up, accepted, `ExportAll`: the cost per announce
//!   including the per-receiver diff (49 changes into `OutChanges`, the
//!   daemon's sink), into a growing table.
//! - `announce/replace-50-peers`: the same client re-announcing a prefix it
//!   already holds with another attribute set (implicit withdraw), 49 changes;
//!   `-vec`: the same into a `Vec<OutChange>`.
//! - `best-path/decision/N`: `decision::best` over N rank keys (the full
//!   decision process with deterministic MED, every path eligible).
//! - `best-path/ranking/N`: `Ranking::rebuild` of N keys plus one `best_for`
//!   per receiving client (50), as the RIB does for a changed prefix.
//! - `best-path/rib-replace/N`: `Rib::announce` replacing the best of N paths
//!   of a prefix (alternately with a worse and its own attribute set) with 50
//!   clients up: ranking before and after, per-client best path and the diff
//!   (49 changes each time), end to end.

#![allow(clippy::unwrap_used, missing_docs)]

/// The daemon's allocator (host/kumo/src/main.rs), so allocation costs what it costs there.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ipnet::{IpNet, Ipv4Net};
use kumo_rib::decision::{self, RankKey, Ranking, SourceIdent};
use kumo_rib::{
    AttrInterner, Attrs, DEFAULT_LOCAL_PREF, ExportAll, ImportVerdict, OutChange, OutChanges, OutSink,
    PeerId, PeerInfo, Rib, RouteAttrs,
};
use kumo_wire::{AfiSafi, AsPath, AsPathSegment, LargeCommunity, Nlri, Origin, PathAttributes};

const PEERS: u32 = 50;
const PATH_COUNTS: [u32; 3] = [2, 8, 32];

/// A typical received set from client `from`: AS_PATH of 4, MED, two
/// communities and a large community; `variant` makes distinct sets.
fn route_attrs(from: u32, variant: u32) -> RouteAttrs {
    let asn = 64500 + from;
    RouteAttrs {
        attrs: PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(AsPath::from(vec![AsPathSegment::Sequence(vec![
                asn, 3333, 1299, 15169,
            ])])),
            next_hop: Some(Ipv4Addr::new(192, 0, 2, from as u8)),
            med: Some(variant),
            communities: kumo_wire::thin_vec![(asn << 16) | 100, (3333 << 16) | 2000],
            large_communities: kumo_wire::thin_vec![LargeCommunity {
                global_admin: asn,
                local_data1: 0,
                local_data2: 1,
            }],
            ..Default::default()
        },
        mp_next_hop: None,
    }
}

fn info(id: u32) -> PeerInfo {
    PeerInfo {
        id: PeerId(id),
        name: format!("client{id}").into(),
        asn: 64500 + id,
        bgp_id: Ipv4Addr::new(10, 0, (id >> 8) as u8, id as u8),
        address: IpAddr::V4(Ipv4Addr::new(192, 0, 2, id as u8)),
        families: vec![AfiSafi::IPV4_UNICAST, AfiSafi::IPV6_UNICAST],
        add_path_tx: vec![],
    }
}

fn v4_24(i: u32) -> Nlri {
    Nlri {
        prefix: IpNet::V4(Ipv4Net::new(Ipv4Addr::from(0x0500_0000u32.wrapping_add(i << 8)), 24).unwrap()),
        path_id: None,
    }
}

fn rib_with_peers() -> Rib {
    let mut rib = Rib::new();
    let mut out = Vec::new();
    for id in 0..PEERS {
        rib.peer_up(info(id), &mut out);
    }
    assert!(out.is_empty());
    rib
}

fn announce(rib: &mut Rib, peer: u32, nlri: Nlri, attrs: &Attrs, out: &mut impl OutSink) {
    rib.announce(
        PeerId(peer),
        nlri,
        attrs.clone(),
        ImportVerdict::accept(attrs.clone()),
        &ExportAll,
        out,
    )
    .unwrap();
}

fn intern(c: &mut Criterion) {
    let mut group = c.benchmark_group("intern");
    group.throughput(Throughput::Elements(1));
    // Sets are built (untimed) in chunks so memory stays bounded whatever
    // the iteration count criterion picks; the interner restarts per chunk.
    const CHUNK: u64 = 100_000;
    group.bench_function("new", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut done = 0u64;
            let mut variant = 0u32;
            while done < iters {
                let n = CHUNK.min(iters - done);
                let sets: Vec<RouteAttrs> = (0..n)
                    .map(|_| {
                        variant = variant.wrapping_add(1);
                        route_attrs(variant % PEERS, variant)
                    })
                    .collect();
                let mut interner = AttrInterner::new();
                let mut held = Vec::with_capacity(sets.len());
                let start = Instant::now();
                for set in sets {
                    held.push(interner.intern(set));
                }
                total += start.elapsed();
                assert_eq!(interner.len() as u64, n);
                done += n;
            }
            total
        })
    });
    let mut interner = AttrInterner::new();
    // A realistic population: one client's many sets, the one looked up among them.
    let held: Vec<Attrs> = (0..10_000).map(|v| interner.intern(route_attrs(1, v))).collect();
    let probe = route_attrs(1, 5_000);
    assert!(Attrs::ptr_eq(&interner.intern(probe.clone()), &held[5_000]));
    group.bench_function("existing", |b| {
        b.iter_batched(
            || probe.clone(),
            |set| interner.intern(set),
            criterion::BatchSize::SmallInput,
        )
    });
    assert_eq!(interner.len(), held.len());
    group.finish();
}

fn announce_bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("announce");
    group.throughput(Throughput::Elements(1));
    let attrs: Attrs = Attrs::from(route_attrs(0, 10));
    {
        // Check the shape once: every other client gets the new prefix.
        let mut rib = rib_with_peers();
        let mut out = OutChanges::default();
        announce(&mut rib, 0, v4_24(0), &attrs, &mut out);
        assert_eq!(out.len(), PEERS as usize - 1);
    }
    // Into `OutChanges`, the daemon's sink.
    group.bench_function("new-prefix-50-peers", |b| {
        b.iter_custom(|iters| {
            let mut rib = rib_with_peers();
            let mut out = OutChanges::default();
            let start = Instant::now();
            for i in 0..iters {
                announce(&mut rib, 0, v4_24(i as u32), &attrs, &mut out);
                out.clear();
            }
            let elapsed = start.elapsed();
            assert_eq!(rib.prefix_count() as u64, iters);
            elapsed
        })
    });

    let other: Attrs = Attrs::from(route_attrs(0, 20));
    let mut rib = rib_with_peers();
    let mut out = OutChanges::default();
    announce(&mut rib, 0, v4_24(0), &attrs, &mut out);
    out.clear();
    announce(&mut rib, 0, v4_24(0), &other, &mut out);
    assert_eq!(out.len(), PEERS as usize - 1);
    out.clear();
    let mut flip = false;
    group.bench_function("replace-50-peers", |b| {
        b.iter(|| {
            flip = !flip;
            let a = if flip { &attrs } else { &other };
            announce(&mut rib, 0, v4_24(0), a, &mut out);
            let n = out.len();
            out.clear();
            n
        })
    });
    // The same into a plain `Vec<OutChange>` (one entry and one `Arc`
    // clone per receiver), for comparison.
    let mut out: Vec<OutChange> = Vec::with_capacity(PEERS as usize);
    group.bench_function("replace-50-peers-vec", |b| {
        b.iter(|| {
            flip = !flip;
            let a = if flip { &attrs } else { &other };
            announce(&mut rib, 0, v4_24(0), a, &mut out);
            let n = out.len();
            out.clear();
            n
        })
    });
    assert_eq!(out.capacity(), PEERS as usize);
    group.finish();
}

/// One path per source, sources 1..=n; every fourth one shares a neighbour
/// AS with the previous one, so deterministic MED has groups to resolve.
fn path_attrs(source: u32) -> RouteAttrs {
    let mut a = route_attrs(source, source * 7 % 13);
    let neighbour = if source.is_multiple_of(4) {
        64500 + source - 1
    } else {
        64500 + source
    };
    let len = 2 + source % 3;
    let mut path = vec![neighbour];
    path.extend((0..len).map(|k| 3000 + k));
    a.attrs.as_path = Some(AsPath::from(vec![AsPathSegment::Sequence(path)]));
    a
}

fn keys(n: u32) -> Vec<RankKey> {
    (1..=n)
        .map(|s| {
            let peer = info(s);
            RankKey::new(
                &Attrs::from(path_attrs(s)),
                DEFAULT_LOCAL_PREF,
                false,
                peer.id,
                SourceIdent {
                    bgp_id: peer.bgp_id,
                    address: peer.address,
                },
                None,
            )
        })
        .collect()
}

fn best_path(c: &mut Criterion) {
    let mut group = c.benchmark_group("best-path");
    for n in PATH_COUNTS {
        let keys = keys(n);
        let best = decision::best(&keys, |_| true).unwrap();
        group.bench_with_input(BenchmarkId::new("decision", n), &keys, |b, keys| {
            b.iter(|| decision::best(black_box(keys), |_| true))
        });

        let mut ranking = Ranking::default();
        ranking.rebuild(keys.iter().copied().enumerate());
        assert_eq!(ranking.overall_best(), Some(best));
        group.bench_with_input(BenchmarkId::new("ranking", n), &keys, |b, keys| {
            b.iter(|| {
                ranking.rebuild(black_box(keys).iter().copied().enumerate());
                // Each client may receive every path but its own.
                let mut sum = 0;
                for client in 0..PEERS as usize {
                    let own = client.checked_sub(1);
                    sum += ranking.best_for(|i| Some(i) != own).unwrap_or(0);
                }
                sum
            })
        });

        let mut rib = rib_with_peers();
        let mut out = OutChanges::default();
        let sets: Vec<Attrs> = (1..=n).map(|s| Attrs::from(path_attrs(s))).collect();
        let prefix = v4_24(0);
        for (s, a) in (1..=n).zip(&sets) {
            announce(&mut rib, s, prefix, a, &mut out);
        }
        assert_eq!(rib.paths(&prefix.prefix).len(), n as usize);
        assert_eq!(rib.best(&prefix.prefix).unwrap().source, PeerId(best as u32 + 1));
        // The best path's source flips between its set and a longer AS_PATH,
        // so every other client's best path changes at each step: the worst
        // case of one announce on a prefix with N paths.
        let source = best as u32 + 1;
        let mut longer = path_attrs(source);
        if let Some(p) = longer.attrs.as_path.as_mut() {
            *p = AsPath::sequence(&[64500 + source; 12]);
        }
        let longer = Attrs::from(longer);
        let own = &sets[best];
        out.clear();
        announce(&mut rib, source, prefix, &longer, &mut out);
        assert_eq!(out.len(), PEERS as usize - 1);
        out.clear();
        announce(&mut rib, source, prefix, own, &mut out);
        assert_eq!(out.len(), PEERS as usize - 1);
        let mut flip = false;
        group.bench_function(BenchmarkId::new("rib-replace", n), |b| {
            b.iter(|| {
                flip = !flip;
                let a = if flip { &longer } else { own };
                out.clear();
                announce(&mut rib, source, prefix, a, &mut out);
                out.len()
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
    targets = intern, announce_bench, best_path
}
criterion_main!(benches);
