//! Property tests: canonical messages survive encode → decode unchanged, and
//! no input makes the decoders panic.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use kumo_wire::testing::{self, AttrsOptions};
use kumo_wire::*;
use proptest::prelude::*;

const KNOWN_CAPS: &[u8] = &[1, 2, 6, 9, 64, 65, 69, 70, 71];

fn afi() -> impl Strategy<Value = Afi> {
    prop_oneof![
        Just(Afi::Ipv4),
        Just(Afi::Ipv6),
        (3u16..).prop_map(Afi::Other),
        Just(Afi::Other(0))
    ]
}

fn safi() -> impl Strategy<Value = Safi> {
    prop_oneof![
        Just(Safi::Unicast),
        any::<u8>()
            .prop_filter("canonical", |s| *s != 1)
            .prop_map(Safi::Other)
    ]
}

fn afi_safi() -> impl Strategy<Value = AfiSafi> {
    (afi(), safi()).prop_map(|(afi, safi)| AfiSafi { afi, safi })
}

fn v4_nlri(add_path: bool) -> impl Strategy<Value = Nlri> {
    (any::<u32>(), 0u8..=32, any::<u32>()).prop_map(move |(addr, len, id)| Nlri {
        prefix: IpNet::V4(Ipv4Net::new(Ipv4Addr::from(addr), len).unwrap().trunc()),
        path_id: add_path.then_some(id),
    })
}

fn v6_nlri(add_path: bool) -> impl Strategy<Value = Nlri> {
    (any::<u128>(), 0u8..=128, any::<u32>()).prop_map(move |(addr, len, id)| Nlri {
        prefix: IpNet::V6(Ipv6Net::new(Ipv6Addr::from(addr), len).unwrap().trunc()),
        path_id: add_path.then_some(id),
    })
}

/// An IPv4 route's MP next hop is IPv4 or IPv6, an IPv6 route's IPv6.
fn mp_next_hop(v4: bool) -> BoxedStrategy<MpNextHop> {
    if v4 {
        testing::mp_next_hop().boxed()
    } else {
        testing::mp_next_hop_v6().boxed()
    }
}

fn family_nlri(v4: bool, add_path: bool) -> BoxedStrategy<Vec<Nlri>> {
    if v4 {
        prop::collection::vec(v4_nlri(add_path), 0..40).boxed()
    } else {
        prop::collection::vec(v6_nlri(add_path), 0..40).boxed()
    }
}

fn mp_reach(add_path: bool) -> impl Strategy<Value = MpReach> {
    any::<bool>().prop_flat_map(move |v4| {
        let afi_safi = if v4 {
            AfiSafi::IPV4_UNICAST
        } else {
            AfiSafi::IPV6_UNICAST
        };
        (mp_next_hop(v4), family_nlri(v4, add_path)).prop_map(move |(next_hop, nlri)| MpReach {
            afi_safi,
            next_hop,
            nlri,
        })
    })
}

fn mp_unreach(add_path: bool) -> impl Strategy<Value = MpUnreach> {
    any::<bool>().prop_flat_map(move |v4| {
        let afi_safi = if v4 {
            AfiSafi::IPV4_UNICAST
        } else {
            AfiSafi::IPV6_UNICAST
        };
        family_nlri(v4, add_path).prop_map(move |nlri| MpUnreach { afi_safi, nlri })
    })
}

/// A session context together with an UPDATE canonical for it.
fn ctx_and_update() -> impl Strategy<Value = (CodecContext, Update)> {
    (any::<bool>(), any::<bool>()).prop_flat_map(|(four_octet, add_path)| {
        let ctx = CodecContext {
            four_octet_as: four_octet,
            add_path: if add_path {
                vec![AfiSafi::IPV4_UNICAST, AfiSafi::IPV6_UNICAST]
            } else {
                vec![]
            },
            extended_message: true,
        };
        (
            prop::collection::vec(v4_nlri(add_path), 0..40),
            // Only sets the session can carry survive the round trip.
            testing::path_attributes(AttrsOptions::encodable(four_octet)),
            prop::option::of(mp_reach(add_path)),
            prop::option::of(mp_unreach(add_path)),
            prop::collection::vec(v4_nlri(add_path), 0..40),
        )
            .prop_map(move |(withdrawn, attributes, mp_reach, mp_unreach, nlri)| {
                (
                    ctx.clone(),
                    Update {
                        withdrawn,
                        attributes,
                        mp_reach,
                        mp_unreach,
                        nlri,
                    },
                )
            })
    })
}

fn capability() -> impl Strategy<Value = Capability> {
    prop_oneof![
        afi_safi().prop_map(Capability::Multiprotocol),
        Just(Capability::RouteRefresh),
        Just(Capability::ExtendedMessage),
        (0u8..=255).prop_map(|r| Capability::Role(Role::from_code(r))),
        (
            any::<bool>(),
            any::<bool>(),
            0u16..4096,
            prop::collection::vec((afi_safi(), any::<bool>()), 0..5)
        )
            .prop_map(
                |(restarting, notification, restart_time, afis)| Capability::GracefulRestart {
                    restarting,
                    notification,
                    restart_time,
                    afis: afis
                        .into_iter()
                        .map(|(afi_safi, f)| GracefulRestartAfi {
                            afi_safi,
                            forwarding_preserved: f
                        })
                        .collect(),
                }
            ),
        any::<u32>().prop_map(Capability::FourOctetAs),
        prop::collection::vec(
            (
                afi_safi(),
                prop_oneof![
                    Just(AddPathMode::Receive),
                    Just(AddPathMode::Send),
                    Just(AddPathMode::Both)
                ]
            ),
            0..5
        )
        .prop_map(Capability::AddPath),
        Just(Capability::EnhancedRouteRefresh),
        prop::collection::vec((afi_safi(), any::<bool>(), 0u32..=0xff_ffff), 0..5).prop_map(|afis| {
            Capability::LongLivedGracefulRestart(
                afis.into_iter()
                    .map(|(afi_safi, f, stale_time)| LlgrAfi {
                        afi_safi,
                        forwarding_preserved: f,
                        stale_time,
                    })
                    .collect(),
            )
        }),
        (
            any::<u8>().prop_filter("unknown code", |c| !KNOWN_CAPS.contains(c)),
            prop::collection::vec(any::<u8>(), 0..100)
        )
            .prop_map(|(code, data)| Capability::Unknown { code, data }),
    ]
}

fn open() -> impl Strategy<Value = Open> {
    (
        any::<u8>(),
        any::<u16>(),
        any::<u16>(),
        any::<u32>(),
        prop::collection::vec(capability(), 0..20),
    )
        .prop_map(|(version, my_as, hold_time, id, capabilities)| Open {
            version,
            my_as,
            hold_time,
            bgp_id: id.into(),
            capabilities,
        })
}

fn other_message() -> impl Strategy<Value = Message> {
    prop_oneof![
        open().prop_map(Message::Open),
        (
            any::<u8>(),
            any::<u8>(),
            prop::collection::vec(any::<u8>(), 0..300)
        )
            .prop_map(|(code, subcode, data)| Message::Notification(Notification {
                code,
                subcode,
                data
            })),
        Just(Message::Keepalive),
        (afi_safi(), any::<u8>()).prop_map(|(afi_safi, s)| Message::RouteRefresh(RouteRefresh {
            afi_safi,
            subtype: RouteRefreshSubtype::from_code(s)
        })),
    ]
}

fn round_trip(msg: &Message, ctx: &CodecContext) -> Result<(), TestCaseError> {
    let mut out = Vec::new();
    encode_message(msg, ctx, &mut out).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let f = frame(&out, ctx.max_message_len())
        .map_err(|n| TestCaseError::fail(n.describe()))?
        .unwrap();
    prop_assert_eq!(f.message.len(), out.len());
    let decoded = decode_message(&out, ctx).map_err(|n| TestCaseError::fail(n.describe()))?;
    prop_assert_eq!(&decoded.message, msg);
    // Canonical form is a fixed point: re-encoding gives the same octets.
    let mut again = Vec::new();
    encode_message(&decoded.message, ctx, &mut again).unwrap();
    prop_assert_eq!(again, out);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    #[test]
    fn update_round_trips((ctx, update) in ctx_and_update()) {
        round_trip(&Message::Update(Box::new(update)), &ctx)?;
    }

    #[test]
    fn other_messages_round_trip(msg in other_message()) {
        round_trip(&msg, &common::ctx4())?;
    }

    #[test]
    fn frame_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200), max in 19usize..70000) {
        let _ = frame(&bytes, max);
    }

    /// Random bodies behind a valid header, so the body decoders are reached.
    #[test]
    fn decode_never_panics(
        msg_type in 1u8..=5,
        body in prop::collection::vec(any::<u8>(), 0..400),
        four_octet in any::<bool>(),
        add_path in any::<bool>(),
    ) {
        let ctx = CodecContext {
            four_octet_as: four_octet,
            add_path: if add_path { vec![AfiSafi::IPV4_UNICAST, AfiSafi::IPV6_UNICAST] } else { vec![] },
            extended_message: false,
        };
        let bytes = common::msg(msg_type, &body);
        let _ = decode_message(&bytes, &ctx);
        let _ = decode_message(&bytes[..bytes.len() / 2], &ctx);
    }

    /// Random attribute lists inside a well-formed UPDATE skeleton.
    #[test]
    fn decode_random_attributes_never_panics(
        attrs in prop::collection::vec((any::<u8>(), any::<u8>(), prop::collection::vec(any::<u8>(), 0..40)), 0..8),
        four_octet in any::<bool>(),
    ) {
        let mut list = Vec::new();
        for (flags, type_code, value) in attrs {
            list.extend_from_slice(&[flags & 0xe0, type_code, value.len() as u8]);
            list.extend_from_slice(&value);
        }
        let bytes = common::update(&[], &list, &[24, 192, 0, 2]);
        let ctx = CodecContext { four_octet_as: four_octet, ..CodecContext::default() };
        let _ = decode_message(&bytes, &ctx);
    }
}
