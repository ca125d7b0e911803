//! UpdatePacker: many prefixes sharing one attribute set, packed into as few
//! UPDATEs as the negotiated maximum allows, all decoding back to the input.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use kumo_wire::*;

fn attrs() -> PathAttributes {
    PathAttributes {
        origin: Some(Origin::Igp),
        as_path: Some(AsPath::from(vec![AsPathSegment::Sequence(vec![
            65001,
            4_200_000_000,
        ])])),
        next_hop: Some(Ipv4Addr::new(192, 0, 2, 1)),
        med: Some(10),
        communities: (0..20).collect(),
        large_communities: kumo_wire::thin_vec![LargeCommunity {
            global_admin: 65001,
            local_data1: 1,
            local_data2: 2,
        }],
        unknown: kumo_wire::thin_vec![RawAttribute {
            flags: 0xe0,
            type_code: 99,
            value: vec![7; 300],
        }],
        ..PathAttributes::default()
    }
}

/// `n` distinct IPv4 prefixes of mixed lengths (/16 to /32).
fn v4_prefixes(n: u32, add_path: bool) -> Vec<Nlri> {
    (0..n)
        .map(|i| {
            let len = 16 + (i % 17) as u8;
            let addr = Ipv4Addr::from(0x0a00_0000 | (i << 8) | (i & 0xff));
            Nlri {
                prefix: IpNet::V4(Ipv4Net::new(addr, len).unwrap().trunc()),
                path_id: add_path.then_some(i % 5),
            }
        })
        .collect()
}

fn v6_prefixes(n: u32, add_path: bool) -> Vec<Nlri> {
    (0..n)
        .map(|i| {
            let len = 32 + (i % 97) as u8;
            let addr = Ipv6Addr::from((0x2001_0db8u128 << 96) | (u128::from(i) << 64) | u128::from(i));
            Nlri {
                prefix: IpNet::V6(Ipv6Net::new(addr, len).unwrap().trunc()),
                path_id: add_path.then_some(i),
            }
        })
        .collect()
}

fn nlri_len(n: &Nlri, add_path: bool) -> usize {
    usize::from(add_path) * 4 + 1 + usize::from(n.prefix.prefix_len()).div_ceil(8)
}

/// Split `out` into messages, check each against `max`, decode them all.
fn split(out: &[u8], ctx: &CodecContext) -> Vec<(Vec<u8>, Update)> {
    let mut rest = out;
    let mut messages = Vec::new();
    while !rest.is_empty() {
        let f = frame(rest, ctx.max_message_len()).unwrap().unwrap();
        assert!(f.message.len() <= ctx.max_message_len());
        let d = decode_message(f.message, ctx).unwrap();
        let Message::Update(u) = d.message else {
            panic!("not an UPDATE")
        };
        messages.push((f.message.to_vec(), *u));
        rest = &rest[f.message.len()..];
    }
    messages
}

/// Every message but the last is full: the next prefix would not have fitted.
fn assert_greedy(
    messages: &[(Vec<u8>, Update)],
    prefixes: &[Nlri],
    add_path: bool,
    max: usize,
    slack: usize,
) {
    let mut seen = 0;
    for (bytes, u) in messages {
        let count = u.nlri.len()
            + u.withdrawn.len()
            + u.mp_reach.as_ref().map_or(0, |r| r.nlri.len())
            + u.mp_unreach.as_ref().map_or(0, |r| r.nlri.len());
        seen += count;
        if let Some(next) = prefixes.get(seen) {
            assert!(
                bytes.len() + nlri_len(next, add_path) + slack > max,
                "message of {} octets not full",
                bytes.len()
            );
        }
    }
    assert_eq!(seen, prefixes.len());
}

fn announced(messages: &[(Vec<u8>, Update)]) -> Vec<Nlri> {
    messages
        .iter()
        .flat_map(|(_, u)| {
            u.nlri
                .iter()
                .chain(u.mp_reach.iter().flat_map(|r| r.nlri.iter()))
                .copied()
        })
        .collect()
}

#[test]
fn ipv4_announce_packs_into_full_messages() {
    for (extended, add_path) in [(false, false), (false, true), (true, false), (true, true)] {
        let ctx = CodecContext {
            four_octet_as: true,
            add_path: if add_path {
                vec![AfiSafi::IPV4_UNICAST]
            } else {
                vec![]
            },
            extended_message: extended,
        };
        let prefixes = v4_prefixes(20_000, add_path);
        let mut out = Vec::new();
        UpdatePacker::new(&ctx)
            .announce(&attrs(), AfiSafi::IPV4_UNICAST, None, &prefixes, &mut out)
            .unwrap();
        let messages = split(&out, &ctx);
        for (_, u) in &messages {
            assert_eq!(u.attributes, attrs());
            assert!(u.mp_reach.is_none());
        }
        assert_eq!(announced(&messages), prefixes);
        assert_greedy(&messages, &prefixes, add_path, ctx.max_message_len(), 0);
        // The count is the minimum: total prefix octets over the room per message.
        let fixed = messages[0].0.len()
            - messages[0]
                .1
                .nlri
                .iter()
                .map(|n| nlri_len(n, add_path))
                .sum::<usize>();
        let total: usize = prefixes.iter().map(|n| nlri_len(n, add_path)).sum();
        let room = ctx.max_message_len() - fixed;
        assert!(messages.len() <= total.div_ceil(room) + total.div_ceil(room) / 8 + 1);
        assert!(messages.len() >= total.div_ceil(room));
    }
}

#[test]
fn uniform_prefixes_give_exactly_ceil_messages() {
    let ctx = common::ctx4();
    let prefixes: Vec<Nlri> = (0..5000u32)
        .map(|i| Nlri {
            prefix: IpNet::V4(Ipv4Net::new(Ipv4Addr::from(i << 8), 24).unwrap()),
            path_id: None,
        })
        .collect();
    let mut out = Vec::new();
    UpdatePacker::new(&ctx)
        .announce(&attrs(), AfiSafi::IPV4_UNICAST, None, &prefixes, &mut out)
        .unwrap();
    let messages = split(&out, &ctx);
    let fixed = messages[0].0.len() - 4 * messages[0].1.nlri.len();
    let per_message = (4096 - fixed) / 4;
    assert_eq!(messages.len(), 5000usize.div_ceil(per_message));
    assert_eq!(announced(&messages), prefixes);
}

#[test]
fn ipv6_announce_uses_mp_reach_with_link_local() {
    let next_hop = MpNextHop::V6 {
        global: "2001:db8::1".parse().unwrap(),
        link_local: Some("fe80::1".parse().unwrap()),
    };
    for (extended, add_path) in [(false, false), (true, true)] {
        let ctx = CodecContext {
            four_octet_as: true,
            add_path: if add_path {
                vec![AfiSafi::IPV6_UNICAST]
            } else {
                vec![]
            },
            extended_message: extended,
        };
        let prefixes = v6_prefixes(12_000, add_path);
        let mut out = Vec::new();
        UpdatePacker::new(&ctx)
            .announce(
                &attrs(),
                AfiSafi::IPV6_UNICAST,
                Some(next_hop),
                &prefixes,
                &mut out,
            )
            .unwrap();
        let messages = split(&out, &ctx);
        let mut expected_attrs = attrs();
        expected_attrs.next_hop = None;
        for (bytes, u) in &messages {
            assert_eq!(u.attributes, expected_attrs);
            let reach = u.mp_reach.as_ref().unwrap();
            assert_eq!(reach.next_hop, next_hop);
            assert!(u.nlri.is_empty());
            // MP_REACH_NLRI is the first attribute (RFC 7606 §5.1).
            assert_eq!(bytes[24], attr_type::MP_REACH_NLRI);
        }
        assert_eq!(announced(&messages), prefixes);
        // One octet of slack: a message may stop where the short MP header
        // would have allowed one more.
        assert_greedy(&messages, &prefixes, add_path, ctx.max_message_len(), 1);
    }
}

#[test]
fn small_batches_use_the_short_attribute_header() {
    let ctx = common::ctx4();
    let next_hop = MpNextHop::V6 {
        global: "2001:db8::1".parse().unwrap(),
        link_local: None,
    };
    let prefixes = v6_prefixes(3, false);
    let mut out = Vec::new();
    UpdatePacker::new(&ctx)
        .announce(
            &attrs(),
            AfiSafi::IPV6_UNICAST,
            Some(next_hop),
            &prefixes,
            &mut out,
        )
        .unwrap();
    assert_eq!(out[23], attr_flags::OPTIONAL);
    let messages = split(&out, &ctx);
    assert_eq!(messages.len(), 1);
    assert_eq!(announced(&messages), prefixes);
}

#[test]
fn ipv4_with_mp_next_hop_uses_mp_reach() {
    // RFC 8950: IPv4 NLRI with an IPv6 next hop.
    let ctx = common::ctx4();
    let next_hop = MpNextHop::V6 {
        global: "2001:db8::1".parse().unwrap(),
        link_local: None,
    };
    let prefixes = v4_prefixes(100, false);
    let mut out = Vec::new();
    UpdatePacker::new(&ctx)
        .announce(
            &attrs(),
            AfiSafi::IPV4_UNICAST,
            Some(next_hop),
            &prefixes,
            &mut out,
        )
        .unwrap();
    let messages = split(&out, &ctx);
    assert_eq!(messages[0].1.attributes.next_hop, None);
    assert_eq!(
        messages[0].1.mp_reach.as_ref().unwrap().afi_safi,
        AfiSafi::IPV4_UNICAST
    );
    assert_eq!(announced(&messages), prefixes);
}

#[test]
fn withdrawals_pack_both_families() {
    for add_path in [false, true] {
        let ctx = CodecContext {
            four_octet_as: true,
            add_path: if add_path {
                vec![AfiSafi::IPV4_UNICAST, AfiSafi::IPV6_UNICAST]
            } else {
                vec![]
            },
            extended_message: false,
        };
        let packer = UpdatePacker::new(&ctx);
        let v4 = v4_prefixes(5000, add_path);
        let mut out = Vec::new();
        packer.withdraw(AfiSafi::IPV4_UNICAST, &v4, &mut out).unwrap();
        let messages = split(&out, &ctx);
        let withdrawn: Vec<Nlri> = messages.iter().flat_map(|(_, u)| u.withdrawn.clone()).collect();
        assert_eq!(withdrawn, v4);
        assert_greedy(&messages, &v4, add_path, 4096, 0);

        let v6 = v6_prefixes(5000, add_path);
        let mut out = Vec::new();
        packer.withdraw(AfiSafi::IPV6_UNICAST, &v6, &mut out).unwrap();
        let messages = split(&out, &ctx);
        let withdrawn: Vec<Nlri> = messages
            .iter()
            .flat_map(|(_, u)| u.mp_unreach.as_ref().unwrap().nlri.clone())
            .collect();
        assert_eq!(withdrawn, v6);
        assert_greedy(&messages, &v6, add_path, 4096, 1);
        assert!(messages.iter().all(|(_, u)| u.end_of_rib().is_none()));
    }
}

#[test]
fn missing_path_id_on_add_path_family_is_zero() {
    let ctx = common::ctx_add_path();
    let prefixes = v4_prefixes(3, false);
    let mut out = Vec::new();
    UpdatePacker::new(&ctx)
        .announce(&attrs(), AfiSafi::IPV4_UNICAST, None, &prefixes, &mut out)
        .unwrap();
    let messages = split(&out, &ctx);
    assert!(announced(&messages).iter().all(|n| n.path_id == Some(0)));
}

#[test]
fn end_of_rib_markers() {
    let ctx = common::ctx4();
    for family in [
        AfiSafi::IPV4_UNICAST,
        AfiSafi::IPV6_UNICAST,
        AfiSafi::from_codes(1, 133),
    ] {
        let mut out = Vec::new();
        UpdatePacker::new(&ctx).end_of_rib(family, &mut out);
        let messages = split(&out, &ctx);
        assert_eq!(messages.len(), 1);
        assert_eq!(messages[0].1.end_of_rib(), Some(family));
    }
}

#[test]
fn caller_errors_are_reported_and_leave_out_untouched() {
    let ctx = common::ctx4();
    let packer = UpdatePacker::new(&ctx);
    let mut out = vec![1, 2, 3];
    let mixed = [v4_prefixes(1, false)[0], v6_prefixes(1, false)[0]];
    assert!(matches!(
        packer.announce(&attrs(), AfiSafi::IPV4_UNICAST, None, &mixed, &mut out),
        Err(EncodeError::FamilyMismatch { .. })
    ));
    assert!(matches!(
        packer.announce(
            &attrs(),
            AfiSafi::IPV6_UNICAST,
            None,
            &v6_prefixes(1, false),
            &mut out
        ),
        Err(EncodeError::MissingNextHop { .. })
    ));
    let mut no_next_hop = attrs();
    no_next_hop.next_hop = None;
    assert!(matches!(
        packer.announce(
            &no_next_hop,
            AfiSafi::IPV4_UNICAST,
            None,
            &v4_prefixes(1, false),
            &mut out
        ),
        Err(EncodeError::MissingNextHop { .. })
    ));
    // Attributes too large for any prefix to fit.
    let mut huge = attrs();
    huge.unknown = kumo_wire::thin_vec![RawAttribute {
        flags: 0xc0,
        type_code: 99,
        value: vec![0; 4080],
    }];
    assert!(matches!(
        packer.announce(
            &huge,
            AfiSafi::IPV4_UNICAST,
            None,
            &v4_prefixes(1, false),
            &mut out
        ),
        Err(EncodeError::TooLong { .. })
    ));
    assert_eq!(out, vec![1, 2, 3]);
}

/// Rough decode throughput on full 4096-octet UPDATEs of /24s. Run with
/// `cargo test --release -p kumo-wire --test packer -- --ignored --nocapture decode_throughput`.
#[test]
#[ignore = "timing, run on demand in release mode"]
fn decode_throughput() {
    let ctx = common::ctx4();
    let prefixes: Vec<Nlri> = (0..100_000u32)
        .map(|i| Nlri {
            prefix: IpNet::V4(Ipv4Net::new(Ipv4Addr::from(i << 8), 24).unwrap()),
            path_id: None,
        })
        .collect();
    let mut out = Vec::new();
    UpdatePacker::new(&ctx)
        .announce(&attrs(), AfiSafi::IPV4_UNICAST, None, &prefixes, &mut out)
        .unwrap();
    let messages: Vec<&[u8]> = {
        let mut rest = out.as_slice();
        let mut v = Vec::new();
        while let Ok(Some(f)) = frame(rest, 4096) {
            v.push(f.message);
            rest = &rest[f.message.len()..];
        }
        v
    };
    let rounds = 50;
    let start = std::time::Instant::now();
    let mut count = 0;
    for _ in 0..rounds {
        for m in &messages {
            let d = decode_message(m, &ctx).unwrap();
            if let Message::Update(u) = d.message {
                count += u.nlri.len();
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(count, rounds * prefixes.len());
    println!(
        "decoded {count} prefixes in {secs:.3} s: {:.1} M prefixes/s",
        count as f64 / secs / 1e6
    );
}
