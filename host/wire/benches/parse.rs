//! UPDATE parsing throughput, in prefixes per second (issue 7, P2).
//!
//! `cargo bench -p kumo-wire --bench parse`
//!
//! Every input is produced by kumo-wire's own encoder (`UpdatePacker`), so it
//! is valid, and decoded once before timing to check its prefix count. The
//! timed loop is what a session does with a receive buffer: `frame`, then
//! `decode_message`, for every message in it (see `next_event` in
//! host/kumo/src/peer.rs).
//!
//! - `v4-24-full`: one 4096-octet UPDATE packed with IPv4 /24s in the NLRI
//!   field, with a typical attribute set (ORIGIN, AS_PATH of 4, NEXT_HOP, MED,
//!   2 communities, 1 large community).
//! - `v6-48-full`: one 4096-octet UPDATE with IPv6 /48s in MP_REACH_NLRI and
//!   the same attributes.
//! - `mix-3-per-set`: a stream of UPDATEs as the packer makes them for ~3
//!   prefixes per attribute set (AS_PATH 1–8, 0–3 communities, 0–2 large
//!   communities from a fixed seed), two thirds IPv4 /24, one third IPv6 /48:
//!   attribute decoding dominates here.
//! - `withdrawn-v4-24`, `unreach-v6-48`: the same prefixes in the withdrawn
//!   routes field / MP_UNREACH_NLRI, with no other attribute: framing plus
//!   NLRI parsing alone (the NLRI parser itself is private to the crate).

#![allow(clippy::unwrap_used, missing_docs)]

/// The daemon's allocator (host/kumo/src/main.rs), so allocation costs what it costs there.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use std::hint::black_box;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use kumo_wire::{
    AfiSafi, AsPath, AsPathSegment, CodecContext, LargeCommunity, Message, MpNextHop, Nlri, Origin,
    PathAttributes, UpdatePacker, decode_message, frame,
};

fn ctx() -> CodecContext {
    CodecContext {
        four_octet_as: true,
        add_path: Vec::new(),
        extended_message: false,
    }
}

fn typical_attrs(as_path: Vec<u32>, communities: Vec<u32>, large: Vec<LargeCommunity>) -> PathAttributes {
    PathAttributes {
        origin: Some(Origin::Igp),
        as_path: Some(AsPath::from(vec![AsPathSegment::Sequence(as_path)])),
        next_hop: Some(Ipv4Addr::new(192, 0, 2, 1)),
        med: Some(10),
        communities: communities.into(),
        large_communities: large.into(),
        ..Default::default()
    }
}

fn v4_24(i: u32) -> Nlri {
    let addr = Ipv4Addr::from(0x0500_0000u32 + (i << 8));
    Nlri {
        prefix: IpNet::V4(Ipv4Net::new(addr, 24).unwrap()),
        path_id: None,
    }
}

fn v6_48(i: u32) -> Nlri {
    let addr = Ipv6Addr::from((0x2a00_0000_0000u128 + u128::from(i)) << 80);
    Nlri {
        prefix: IpNet::V6(Ipv6Net::new(addr, 48).unwrap()),
        path_id: None,
    }
}

fn v6_next_hop() -> MpNextHop {
    MpNextHop::V6 {
        global: "2001:db8::1".parse().unwrap(),
        link_local: None,
    }
}

/// Frames and decodes every message of `buf`; returns the prefixes seen
/// (announced and withdrawn, all families).
fn decode_stream(buf: &[u8], ctx: &CodecContext) -> usize {
    let mut rest = buf;
    let mut prefixes = 0;
    while let Some(f) = frame(rest, ctx.max_message_len()).unwrap() {
        rest = &rest[f.message.len()..];
        let decoded = decode_message(f.message, ctx).unwrap();
        if let Message::Update(u) = decoded.message {
            prefixes += u.nlri.len()
                + u.withdrawn.len()
                + u.mp_reach.as_ref().map_or(0, |m| m.nlri.len())
                + u.mp_unreach.as_ref().map_or(0, |m| m.nlri.len());
        }
    }
    prefixes
}

/// The first message of `buf` (the packer may have needed several).
fn first_message(buf: &[u8], ctx: &CodecContext) -> Vec<u8> {
    frame(buf, ctx.max_message_len())
        .unwrap()
        .unwrap()
        .message
        .to_vec()
}

/// A tiny deterministic generator (fixed seed) so runs compare.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u32) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) as u32) % below
    }
}

/// Every prefix of every message of `buf`, in order, for checking the inputs.
fn decoded_prefixes(buf: &[u8], ctx: &CodecContext) -> Vec<IpNet> {
    let mut rest = buf;
    let mut all = Vec::new();
    while let Some(f) = frame(rest, ctx.max_message_len()).unwrap() {
        rest = &rest[f.message.len()..];
        let decoded = decode_message(f.message, ctx).unwrap();
        assert!(decoded.errors.is_empty(), "{:?}", decoded.errors);
        let Message::Update(u) = decoded.message else {
            panic!("not an UPDATE")
        };
        let mp_reach = u.mp_reach.into_iter().flat_map(|m| m.nlri);
        let mp_unreach = u.mp_unreach.into_iter().flat_map(|m| m.nlri);
        all.extend(
            u.withdrawn
                .iter()
                .chain(&u.nlri)
                .copied()
                .chain(mp_reach)
                .chain(mp_unreach)
                .map(|n| n.prefix),
        );
    }
    all
}

/// One benchmark input: whole messages and the prefixes they were built from.
struct Input {
    name: &'static str,
    buf: Vec<u8>,
    /// Prefixes given to the packer, in order (for a single message, the
    /// packer's input, of which the message holds the first ones).
    sent: Vec<IpNet>,
    /// Whether `buf` is only the first message the packer produced.
    first_only: bool,
}

fn inputs(ctx: &CodecContext) -> Vec<Input> {
    let packer = UpdatePacker::new(ctx);
    let attrs = typical_attrs(
        vec![64500, 3333, 1299, 15169],
        vec![(64500 << 16) | 100, (3333 << 16) | 2000],
        vec![LargeCommunity {
            global_admin: 64500,
            local_data1: 0,
            local_data2: 1,
        }],
    );
    // More than one 4096-octet message holds: the first message is full.
    let v4: Vec<Nlri> = (0..1100).map(v4_24).collect();
    let v6: Vec<Nlri> = (0..700).map(v6_48).collect();
    let prefixes = |n: &[Nlri]| n.iter().map(|n| n.prefix).collect::<Vec<_>>();
    let mut out = Vec::new();
    let mut single = |name, buf: &[u8], sent: &[Nlri]| {
        out.push(Input {
            name,
            buf: first_message(buf, ctx),
            sent: prefixes(sent),
            first_only: true,
        });
    };

    let mut buf = Vec::new();
    packer
        .announce(&attrs, AfiSafi::IPV4_UNICAST, None, &v4, &mut buf)
        .unwrap();
    single("v4-24-full", &buf, &v4);

    buf.clear();
    packer
        .announce(&attrs, AfiSafi::IPV6_UNICAST, Some(v6_next_hop()), &v6, &mut buf)
        .unwrap();
    single("v6-48-full", &buf, &v6);

    buf.clear();
    packer.withdraw(AfiSafi::IPV4_UNICAST, &v4, &mut buf).unwrap();
    single("withdrawn-v4-24", &buf, &v4);

    buf.clear();
    packer.withdraw(AfiSafi::IPV6_UNICAST, &v6, &mut buf).unwrap();
    single("unreach-v6-48", &buf, &v6);

    // The mix: 1000 attribute sets of 3 prefixes each.
    let mut rng = Lcg(7);
    let mut mix = Vec::new();
    let mut sent = Vec::new();
    for set in 0..1000u32 {
        let as_path: Vec<u32> = (0..1 + rng.next(8)).map(|_| 64496 + rng.next(1000)).collect();
        let origin_as = as_path[0];
        let communities = (0..rng.next(4))
            .map(|_| (origin_as << 16) | rng.next(3000))
            .collect();
        let large = (0..rng.next(3))
            .map(|_| LargeCommunity {
                global_admin: origin_as,
                local_data1: rng.next(10),
                local_data2: rng.next(1000),
            })
            .collect();
        let a = typical_attrs(as_path, communities, large);
        let first = set * 3;
        let nlri: Vec<Nlri>;
        if set % 3 == 2 {
            nlri = (first..first + 3).map(v6_48).collect();
            packer
                .announce(&a, AfiSafi::IPV6_UNICAST, Some(v6_next_hop()), &nlri, &mut mix)
                .unwrap();
        } else {
            nlri = (first..first + 3).map(v4_24).collect();
            packer
                .announce(&a, AfiSafi::IPV4_UNICAST, None, &nlri, &mut mix)
                .unwrap();
        }
        sent.extend(prefixes(&nlri));
    }
    out.push(Input {
        name: "mix-3-per-set",
        buf: mix,
        sent,
        first_only: false,
    });
    out
}

/// Checks that `input` decodes to the prefixes it was built from and
/// returns how many it holds.
fn check(input: &Input, ctx: &CodecContext) -> usize {
    let got = decoded_prefixes(&input.buf, ctx);
    if input.first_only {
        assert_eq!(got, input.sent[..got.len()], "{}", input.name);
        // Full: the packer's next prefix would not have fitted.
        let next = input.sent[got.len()];
        let next_len = 1 + usize::from(next.prefix_len()).div_ceil(8);
        assert!(
            input.buf.len() + next_len > kumo_wire::MAX_MESSAGE_LEN,
            "{}",
            input.name
        );
    } else {
        assert_eq!(got, input.sent, "{}", input.name);
    }
    got.len()
}

fn bench(c: &mut Criterion) {
    let ctx = ctx();
    let mut group = c.benchmark_group("parse");
    for input in inputs(&ctx) {
        // A parser that dropped prefixes would look fast: the count timed is
        // the count checked against what was encoded.
        let prefixes = check(&input, &ctx);
        assert_eq!(decode_stream(&input.buf, &ctx), prefixes, "{}", input.name);
        eprintln!(
            "parse/{}: {prefixes} prefixes in {} octets ({} messages, {:.2} octets per prefix)",
            input.name,
            input.buf.len(),
            count_messages(&input.buf, &ctx),
            input.buf.len() as f64 / prefixes as f64
        );
        group.throughput(Throughput::Elements(prefixes as u64));
        group.bench_function(input.name, |b| {
            b.iter(|| decode_stream(black_box(&input.buf), &ctx))
        });
    }
    group.finish();
}

fn count_messages(buf: &[u8], ctx: &CodecContext) -> usize {
    let mut rest = buf;
    let mut n = 0;
    while let Some(f) = frame(rest, ctx.max_message_len()).unwrap() {
        rest = &rest[f.message.len()..];
        n += 1;
    }
    n
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
    targets = bench
}
criterion_main!(benches);
