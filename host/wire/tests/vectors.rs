//! Byte-exact test vectors, checked both ways: decoding the bytes gives the
//! struct, and encoding the struct gives the bytes (or, where the sender did
//! not use kumo's canonical form, the canonical bytes given alongside).
//!
//! Sources:
//! - `bird_*`: captured from BIRD 2.0.12 on this machine (a BIRD `protocol bgp`
//!   towards a minimal Python speaker that logged what it received; the session
//!   negotiated 4-octet AS, extended messages, role peer and, for the ADD-PATH
//!   vectors, ADD-PATH send for both families). An independent implementation's
//!   bytes, so they check our reading of the RFCs, not only our consistency.
//! - the others: assembled by hand from the RFC message layouts.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::{Ipv4Addr, Ipv6Addr};

use common::{ctx_add_path, ctx2, ctx4, h, hex, update};
use kumo_wire::*;

struct Vector {
    name: &'static str,
    ctx: CodecContext,
    /// As on the wire.
    bytes: Vec<u8>,
    /// What kumo encodes for `message`, when it differs from `bytes`.
    canonical: Option<Vec<u8>>,
    message: Message,
}

fn p(s: &str) -> Nlri {
    Nlri {
        prefix: s.parse().unwrap(),
        path_id: None,
    }
}

fn pid(s: &str, id: u32) -> Nlri {
    Nlri {
        prefix: s.parse().unwrap(),
        path_id: Some(id),
    }
}

fn seq(asns: &[u32]) -> AsPathSegment {
    AsPathSegment::Sequence(asns.to_vec())
}

fn v6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

fn check(v: &Vector) {
    let decoded = decode_message(&v.bytes, &v.ctx).unwrap_or_else(|n| panic!("{}: {}", v.name, n.describe()));
    assert_eq!(decoded.errors, vec![], "{}: unexpected attribute errors", v.name);
    assert_eq!(decoded.message, v.message, "{}: decode", v.name);
    let mut out = Vec::new();
    encode_message(&v.message, &v.ctx, &mut out).unwrap();
    let want = v.canonical.as_ref().unwrap_or(&v.bytes);
    assert_eq!(hex(&out), hex(want), "{}: encode", v.name);
    // The framer finds the same message.
    let f = frame(&v.bytes, v.ctx.max_message_len()).unwrap().unwrap();
    assert_eq!(f.message.len(), v.bytes.len(), "{}: frame", v.name);
}

fn bird_open(add_path: bool) -> Open {
    let mut capabilities = vec![
        Capability::Multiprotocol(AfiSafi::IPV4_UNICAST),
        Capability::Multiprotocol(AfiSafi::IPV6_UNICAST),
        Capability::RouteRefresh,
        Capability::ExtendedMessage,
        Capability::Role(Role::Peer),
        Capability::GracefulRestart {
            restarting: false,
            notification: false,
            restart_time: 120,
            afis: vec![
                GracefulRestartAfi {
                    afi_safi: AfiSafi::IPV4_UNICAST,
                    forwarding_preserved: false,
                },
                GracefulRestartAfi {
                    afi_safi: AfiSafi::IPV6_UNICAST,
                    forwarding_preserved: false,
                },
            ],
        },
        Capability::FourOctetAs(65002),
    ];
    if add_path {
        capabilities.push(Capability::AddPath(vec![
            (AfiSafi::IPV4_UNICAST, AddPathMode::Send),
            (AfiSafi::IPV6_UNICAST, AddPathMode::Send),
        ]));
    }
    capabilities.push(Capability::EnhancedRouteRefresh);
    capabilities.push(Capability::LongLivedGracefulRestart(vec![
        LlgrAfi {
            afi_safi: AfiSafi::IPV4_UNICAST,
            forwarding_preserved: false,
            stale_time: 3600,
        },
        LlgrAfi {
            afi_safi: AfiSafi::IPV6_UNICAST,
            forwarding_preserved: false,
            stale_time: 3600,
        },
    ]));
    Open {
        version: 4,
        my_as: 65002,
        hold_time: 90,
        bgp_id: Ipv4Addr::new(192, 0, 2, 2),
        capabilities,
    }
}

/// ORIGIN IGP, AS_PATH 65002, OTC 65002: the attributes of BIRD's IPv6 and ADD-PATH UPDATEs.
fn bird_short_attrs(next_hop: Option<Ipv4Addr>) -> PathAttributes {
    PathAttributes {
        origin: Some(Origin::Igp),
        as_path: Some(AsPath::from(vec![seq(&[65002])])),
        next_hop,
        otc: Some(65002),
        ..PathAttributes::default()
    }
}

fn bird_v6_reach(path_id: Option<u32>) -> MpReach {
    MpReach {
        afi_safi: AfiSafi::IPV6_UNICAST,
        next_hop: MpNextHop::V6 {
            global: v6("2001:db8::2"),
            link_local: None,
        },
        nlri: vec![
            Nlri {
                prefix: "2001:db8:1::/48".parse().unwrap(),
                path_id,
            },
            Nlri {
                prefix: "2001:db8:2::/48".parse().unwrap(),
                path_id,
            },
        ],
    }
}

fn vectors() -> Vec<Vector> {
    vec![
        Vector {
            name: "keepalive",
            ctx: ctx4(),
            bytes: h("ffffffffffffffffffffffffffffffff 0013 04"),
            canonical: None,
            message: Message::Keepalive,
        },
        Vector {
            name: "bird_open",
            ctx: ctx2(),
            bytes: h(
                "ffffffffffffffffffffffffffffffff 0056 01 | 04 fdea 005a c0000202 | 39 | 02 37 \
                      01 04 0001 00 01 | 01 04 0002 00 01 | 02 00 | 06 00 | 09 01 04 \
                      | 40 0a 0078 0001 01 00 0002 01 00 | 41 04 0000fdea | 46 00 \
                      | 47 0e 0001 01 00 000e10 0002 01 00 000e10",
            ),
            canonical: None,
            message: Message::Open(bird_open(false)),
        },
        Vector {
            name: "bird_open_add_path",
            ctx: ctx2(),
            bytes: h(
                "ffffffffffffffffffffffffffffffff00600104fdea005ac000020243024101040001000101040002000102000600\
                      090104400a0078000101000002010041040000fdea450800010102000201024600470e00010100000e10000201\
                      00000e10",
            ),
            canonical: None,
            message: Message::Open(bird_open(true)),
        },
        Vector {
            // GR with R and N bits and F bits set, an unknown capability, a
            // 2-octet ASN and the deprecated Cisco route refresh (128) kept raw.
            name: "open_gr_flags_unknown_capability",
            ctx: ctx2(),
            bytes: h(
                "ffffffffffffffffffffffffffffffff 0033 01 | 04 fc00 00b4 0a000001 | 16 | 02 14 \
                      40 06 c0b4 0001 01 80 | 41 04 0000fc00 | 80 00 | 83 02 abcd",
            ),
            canonical: None,
            message: Message::Open(Open {
                version: 4,
                my_as: 64512,
                hold_time: 180,
                bgp_id: Ipv4Addr::new(10, 0, 0, 1),
                capabilities: vec![
                    Capability::GracefulRestart {
                        restarting: true,
                        notification: true,
                        restart_time: 180,
                        afis: vec![GracefulRestartAfi {
                            afi_safi: AfiSafi::IPV4_UNICAST,
                            forwarding_preserved: true,
                        }],
                    },
                    Capability::FourOctetAs(64512),
                    Capability::Unknown {
                        code: 128,
                        data: vec![],
                    },
                    Capability::Unknown {
                        code: 131,
                        data: vec![0xab, 0xcd],
                    },
                ],
            }),
        },
        Vector {
            // RFC 9003 shutdown communication.
            name: "notification_shutdown_message",
            ctx: ctx4(),
            bytes: h("ffffffffffffffffffffffffffffffff 0029 03 | 06 02 | 13 \
                      706c616e6e6564206d61696e74656e616e6365"),
            canonical: None,
            message: Message::Notification(Notification::admin_shutdown("planned maintenance")),
        },
        Vector {
            name: "route_refresh_borr_ipv4",
            ctx: ctx4(),
            bytes: h("ffffffffffffffffffffffffffffffff 0017 05 | 0001 01 01"),
            canonical: None,
            message: Message::RouteRefresh(RouteRefresh {
                afi_safi: AfiSafi::IPV4_UNICAST,
                subtype: RouteRefreshSubtype::BoRR,
            }),
        },
        Vector {
            name: "route_refresh_eorr_ipv6",
            ctx: ctx4(),
            bytes: h("ffffffffffffffffffffffffffffffff 0017 05 | 0002 02 01"),
            canonical: None,
            message: Message::RouteRefresh(RouteRefresh {
                afi_safi: AfiSafi::IPV6_UNICAST,
                subtype: RouteRefreshSubtype::EoRR,
            }),
        },
        Vector {
            name: "bird_update_ipv4_communities_otc",
            ctx: ctx4(),
            bytes: h("ffffffffffffffffffffffffffffffff 0067 02 | 0000 | 0047 \
                      40 01 01 00 | 40 02 0a 02 02 0000fdea fa56ea01 | 40 03 04 c0000202 | 80 04 04 00000032 \
                      | c0 08 04 fdea0064 | c0 10 08 0002fdea00000007 | c0 20 0c 0000fdea0000000100000002 \
                      | c0 23 04 0000fdea | 19 c6336480 | 18 cb0071"),
            canonical: None,
            message: Message::Update(Box::new(Update {
                attributes: PathAttributes {
                    origin: Some(Origin::Igp),
                    as_path: Some(AsPath::from(vec![seq(&[65002, 4_200_000_001])])),
                    next_hop: Some(Ipv4Addr::new(192, 0, 2, 2)),
                    med: Some(50),
                    communities: kumo_wire::thin_vec![(65002 << 16) | 100],
                    extended_communities: kumo_wire::thin_vec![[0x00, 0x02, 0xfd, 0xea, 0, 0, 0, 7]],
                    large_communities: kumo_wire::thin_vec![LargeCommunity {
                        global_admin: 65002,
                        local_data1: 1,
                        local_data2: 2,
                    }],
                    otc: Some(65002),
                    ..PathAttributes::default()
                },
                nlri: vec![p("198.51.100.128/25"), p("203.0.113.0/24")],
                ..Update::default()
            })),
        },
        Vector {
            name: "bird_end_of_rib_ipv4",
            ctx: ctx4(),
            bytes: h("ffffffffffffffffffffffffffffffff 0017 02 0000 0000"),
            canonical: None,
            message: Message::Update(Box::default()),
        },
        Vector {
            // BIRD sets Extended Length on MP_REACH_NLRI even for 35 octets;
            // kumo only sets it above 255.
            name: "bird_update_ipv6_mp_reach",
            ctx: ctx4(),
            bytes: h("ffffffffffffffffffffffffffffffff 0052 02 | 0000 | 003b \
                      90 0e 0023 0002 01 10 20010db8000000000000000000000002 00 30 20010db80001 30 20010db80002 \
                      | 40 01 01 00 | 40 02 06 02 01 0000fdea | c0 23 04 0000fdea"),
            canonical: Some(h("ffffffffffffffffffffffffffffffff 0051 02 | 0000 | 003a \
                      80 0e 23 0002 01 10 20010db8000000000000000000000002 00 30 20010db80001 30 20010db80002 \
                      | 40 01 01 00 | 40 02 06 02 01 0000fdea | c0 23 04 0000fdea")),
            message: Message::Update(Box::new(Update {
                attributes: bird_short_attrs(None),
                mp_reach: Some(bird_v6_reach(None)),
                ..Update::default()
            })),
        },
        Vector {
            name: "bird_end_of_rib_ipv6",
            ctx: ctx4(),
            bytes: h("ffffffffffffffffffffffffffffffff 001d 02 | 0000 | 0006 | 80 0f 03 0002 01"),
            canonical: None,
            message: Message::Update(Box::new(Update {
                mp_unreach: Some(MpUnreach {
                    afi_safi: AfiSafi::IPV6_UNICAST,
                    nlri: vec![],
                }),
                ..Update::default()
            })),
        },
        Vector {
            name: "bird_add_path_ipv4",
            ctx: ctx_add_path(),
            bytes: h("ffffffffffffffffffffffffffffffff 0043 02 | 0000 | 001b \
                      40 01 01 00 | 40 02 06 02 01 0000fdea | 40 03 04 c0000202 | c0 23 04 0000fdea \
                      | 00000002 19 c6336480 | 00000002 18 cb0071"),
            canonical: None,
            message: Message::Update(Box::new(Update {
                attributes: bird_short_attrs(Some(Ipv4Addr::new(192, 0, 2, 2))),
                nlri: vec![pid("198.51.100.128/25", 2), pid("203.0.113.0/24", 2)],
                ..Update::default()
            })),
        },
        Vector {
            name: "bird_add_path_ipv6",
            ctx: ctx_add_path(),
            bytes: h("ffffffffffffffffffffffffffffffff005a02000000439\
                      00e002b0002011020010db800000000000000000000000200000000033020010db80001000000033020010db80002\
                      4001010040020602010000fdeac023040000fdea"),
            canonical: Some(h(
                "ffffffffffffffffffffffffffffffff 0059 02 | 0000 | 0042 | 80 0e 2b \
                      0002011020010db800000000000000000000000200000000033020010db80001000000033020010db80002\
                      4001010040020602010000fdeac023040000fdea",
            )),
            message: Message::Update(Box::new(Update {
                attributes: bird_short_attrs(None),
                mp_reach: Some(bird_v6_reach(Some(3))),
                ..Update::default()
            })),
        },
        Vector {
            // Every attribute kumo interprets, plus an unknown optional
            // transitive one (type 99, Partial set as kumo re-sends it) and a
            // withdrawn prefix, on a 4-octet session.
            name: "update_ipv4_all_attributes",
            ctx: ctx4(),
            bytes: update(
                &h("10 0a01"),
                &h("40 01 01 02 \
                    | 40 02 1a 02 02 0000fde8 00010000 01 02 0000fde9 0000fdea 04 01 0000fc00 \
                    | 40 03 04 c0000201 | 80 04 04 00000064 | 40 05 04 000000c8 | 40 06 00 \
                    | c0 07 08 0000fde8 c0000201 | c0 08 08 fde80001 ffffff01 \
                    | c0 10 10 0002fde800000064 4300000000000000 \
                    | c0 20 18 0000fde8 00000001 00000002 00010000 00000003 00000004 \
                    | c0 23 04 0000fde8 | e0 63 03 010203"),
                &h("18 c00002"),
            ),
            canonical: None,
            message: Message::Update(Box::new(Update {
                withdrawn: vec![p("10.1.0.0/16")],
                attributes: PathAttributes {
                    origin: Some(Origin::Incomplete),
                    as_path: Some(AsPath::from(vec![
                        seq(&[65000, 65536]),
                        AsPathSegment::Set(vec![65001, 65002]),
                        AsPathSegment::ConfedSet(vec![64512]),
                    ])),
                    next_hop: Some(Ipv4Addr::new(192, 0, 2, 1)),
                    med: Some(100),
                    local_pref: Some(200),
                    atomic_aggregate: true,
                    aggregator: Some(Aggregator {
                        asn: 65000,
                        address: Ipv4Addr::new(192, 0, 2, 1),
                    }),
                    communities: kumo_wire::thin_vec![0xfde8_0001, 0xffff_ff01],
                    extended_communities: kumo_wire::thin_vec![
                        [0, 2, 0xfd, 0xe8, 0, 0, 0, 0x64],
                        [0x43, 0, 0, 0, 0, 0, 0, 0],
                    ],
                    large_communities: kumo_wire::thin_vec![
                        LargeCommunity {
                            global_admin: 65000,
                            local_data1: 1,
                            local_data2: 2,
                        },
                        LargeCommunity {
                            global_admin: 65536,
                            local_data1: 3,
                            local_data2: 4,
                        },
                    ],
                    otc: Some(65000),
                    unknown: kumo_wire::thin_vec![RawAttribute {
                        flags: 0xe0,
                        type_code: 99,
                        value: vec![1, 2, 3],
                    }],
                },
                nlri: vec![p("192.0.2.0/24")],
                ..Update::default()
            })),
        },
        Vector {
            // RFC 2545: 32-octet next hop, global then link-local.
            name: "update_ipv6_link_local_next_hop",
            ctx: ctx4(),
            bytes: update(
                &[],
                &h(
                    "80 0e 42 0002 01 20 20010db8000000000000000000000001 fe800000000000000000000000000001 00 \
                    | 20 20010db8 | 30 20010db8ffff | 80 20010db8000000000000000000000001 \
                    | 40 01 01 00 | 40 02 06 02 01 0000fde8",
                ),
                &[],
            ),
            canonical: None,
            message: Message::Update(Box::new(Update {
                attributes: PathAttributes {
                    origin: Some(Origin::Igp),
                    as_path: Some(AsPath::from(vec![seq(&[65000])])),
                    ..PathAttributes::default()
                },
                mp_reach: Some(MpReach {
                    afi_safi: AfiSafi::IPV6_UNICAST,
                    next_hop: MpNextHop::V6 {
                        global: v6("2001:db8::1"),
                        link_local: Some(v6("fe80::1")),
                    },
                    nlri: vec![p("2001:db8::/32"), p("2001:db8:ffff::/48"), p("2001:db8::1/128")],
                }),
                ..Update::default()
            })),
        },
        Vector {
            name: "update_ipv6_mp_unreach",
            ctx: ctx4(),
            bytes: update(
                &[],
                &h("80 0f 11 0002 01 | 30 20010db80001 | 30 20010db80002"),
                &[],
            ),
            canonical: None,
            message: Message::Update(Box::new(Update {
                mp_unreach: Some(MpUnreach {
                    afi_safi: AfiSafi::IPV6_UNICAST,
                    nlri: vec![p("2001:db8:1::/48"), p("2001:db8:2::/48")],
                }),
                ..Update::default()
            })),
        },
        Vector {
            // A 2-octet session: AS_TRANS in AS_PATH and AGGREGATOR, the real
            // ASNs in AS4_PATH and AS4_AGGREGATOR (RFC 6793 §4.2.2).
            name: "update_2_octet_as4_path_as4_aggregator",
            ctx: ctx2(),
            bytes: update(
                &[],
                &h(
                    "40 01 01 00 | 40 02 08 02 03 fde8 5ba0 fde9 | 40 03 04 c0000201 | c0 07 06 5ba0 c0000201 \
                    | e0 11 0e 02 03 0000fde8 00010001 0000fde9 | e0 12 08 00010001 c0000201",
                ),
                &h("18 c00002"),
            ),
            canonical: Some(update(
                &[],
                &h(
                    "40 01 01 00 | 40 02 08 02 03 fde8 5ba0 fde9 | 40 03 04 c0000201 | c0 07 06 5ba0 c0000201 \
                    | c0 11 0e 02 03 0000fde8 00010001 0000fde9 | c0 12 08 00010001 c0000201",
                ),
                &h("18 c00002"),
            )),
            message: Message::Update(Box::new(Update {
                attributes: PathAttributes {
                    origin: Some(Origin::Igp),
                    as_path: Some(AsPath::from(vec![seq(&[65000, 65537, 65001])])),
                    next_hop: Some(Ipv4Addr::new(192, 0, 2, 1)),
                    aggregator: Some(Aggregator {
                        asn: 65537,
                        address: Ipv4Addr::new(192, 0, 2, 1),
                    }),
                    ..PathAttributes::default()
                },
                nlri: vec![p("192.0.2.0/24")],
                ..Update::default()
            })),
        },
    ]
}

#[test]
fn vectors_decode_and_encode_byte_exact() {
    for v in vectors() {
        check(&v);
    }
}

#[test]
fn bird_end_of_rib_markers_are_recognised() {
    let by_name = |name: &str| vectors().into_iter().find(|v| v.name == name).unwrap();
    for (name, family) in [
        ("bird_end_of_rib_ipv4", AfiSafi::IPV4_UNICAST),
        ("bird_end_of_rib_ipv6", AfiSafi::IPV6_UNICAST),
    ] {
        let v = by_name(name);
        let Message::Update(update) = decode_message(&v.bytes, &v.ctx).unwrap().message else {
            panic!("{name}")
        };
        assert_eq!(update.end_of_rib(), Some(family), "{name}");
        // And kumo's own End-of-RIB is byte for byte BIRD's.
        let mut out = Vec::new();
        encode_end_of_rib(family, &mut out);
        assert_eq!(hex(&out), hex(&v.bytes), "{name}");
    }
    let v = by_name("update_ipv6_mp_unreach");
    let Message::Update(update) = decode_message(&v.bytes, &v.ctx).unwrap().message else {
        panic!()
    };
    assert_eq!(update.end_of_rib(), None);
}

#[test]
fn shutdown_message_is_readable() {
    let v = vectors()
        .into_iter()
        .find(|v| v.name == "notification_shutdown_message")
        .unwrap();
    let Message::Notification(n) = decode_message(&v.bytes, &v.ctx).unwrap().message else {
        panic!()
    };
    assert_eq!(n.shutdown_message().as_deref(), Some("planned maintenance"));
}

#[test]
fn open_with_extended_optional_parameters() {
    // RFC 9072: 70 unknown capabilities of 2 octets each = 280 octets, more
    // than a one-octet parameter length holds.
    let capabilities: Vec<Capability> = (0..70u8)
        .map(|i| Capability::Unknown {
            code: 200,
            data: vec![i, i],
        })
        .collect();
    let open = Open {
        version: 4,
        my_as: 65000,
        hold_time: 90,
        bgp_id: Ipv4Addr::new(192, 0, 2, 1),
        capabilities,
    };
    let mut out = Vec::new();
    encode_message(&Message::Open(open.clone()), &ctx4(), &mut out).unwrap();
    // Non-Ext OP Len 255, Non-Ext OP Type 255, Extended Opt. Parm. Length 283,
    // then parameter type 2 with a 2-octet length of 280.
    assert_eq!(hex(&out[28..35]), "ffff011b020118");
    assert_eq!(out.len(), 29 + 3 + 3 + 280);
    let decoded = decode_message(&out, &ctx4()).unwrap();
    assert_eq!(decoded.message, Message::Open(open));
}

#[test]
fn capabilities_in_several_parameters_are_flattened() {
    // Two Capabilities parameters, the older style of some implementations.
    let bytes = h(
        "ffffffffffffffffffffffffffffffff 0029 01 | 04 fde8 005a c0000201 | 0c \
                   02 06 01 04 0001 00 01 | 02 02 02 00",
    );
    let Message::Open(open) = decode_message(&bytes, &ctx2()).unwrap().message else {
        panic!()
    };
    assert_eq!(
        open.capabilities,
        vec![
            Capability::Multiprotocol(AfiSafi::IPV4_UNICAST),
            Capability::RouteRefresh
        ]
    );
    assert_eq!(open.asn(), 65000);
}

/// Writes the vectors as fuzz seeds into fuzz/seeds/<target>/ (run on demand:
/// `cargo test -p kumo-wire --test vectors -- --ignored write_fuzz_seeds`).
#[test]
#[ignore = "writes files; run on demand"]
fn write_fuzz_seeds() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds");
    let write = |target: &str, name: &str, bytes: &[u8]| {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), bytes).unwrap();
    };
    for v in vectors() {
        // The fuzz targets' context selector: bit 0 4-octet AS, bit 1 ADD-PATH, bit 2 extended.
        let selector = u8::from(v.ctx.four_octet_as)
            | (u8::from(!v.ctx.add_path.is_empty()) << 1)
            | (u8::from(v.ctx.extended_message) << 2);
        write("frame", v.name, &v.bytes);
        let with_selector = |bytes: &[u8]| [&[selector], bytes].concat();
        write("roundtrip", v.name, &with_selector(&v.bytes));
        let body = &v.bytes[HEADER_LEN..];
        match v.bytes[18] {
            msg_type::OPEN => write("open", v.name, body),
            msg_type::UPDATE => write("update", v.name, &with_selector(body)),
            msg_type::NOTIFICATION => write("notification", v.name, body),
            msg_type::ROUTE_REFRESH => write("route_refresh", v.name, body),
            _ => {}
        }
    }
}
