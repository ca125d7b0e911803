//! RFC 7999 blackholing through the daemon: rs-standard with
//! `blackhole_filtering.policy = "rewrite-next-hop"` accepts a client's /32
//! tagged 65535:666 and every other client receives it with the IX's
//! blackhole NEXT_HOP (and NO_EXPORT); ordinary routes keep their NEXT_HOP.
#![allow(clippy::unwrap_used)]

use std::net::Ipv4Addr;
use std::time::Duration;

use ipnet::IpNet;
use kumo::daemon::Daemon;
use kumo::speaker::Speaker;
use kumo_wire::{AsPath, AsPathSegment, MpNextHop, Origin, PathAttributes};

mod common;
use common::{free_port, holds, speaker};

const WAIT: Duration = Duration::from_secs(10);
const NET: u8 = 221;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blackhole_routes_get_the_ixs_blackhole_next_hop() {
    let port = free_port(NET);
    let config = format!(
        "[server]\nasn = 64500\nrouter_id = \"192.0.2.254\"\nlisten = [\"127.0.{NET}.1:{port}\"]\n\n\
         [policies.rs-standard.config]\nrs_as = 64500\n\
         blackhole_filtering = {{ policy = \"rewrite-next-hop\", rewrite_next_hop_ipv4 = \"192.0.2.66\", rewrite_next_hop_ipv6 = \"2001:db8::66\" }}\n\n\
         [[clients]]\nname = \"a\"\nasn = 3333\nip = [\"127.0.{NET}.2\"]\n\
         import = [\"rs-standard\"]\nexport = [\"rs-standard\"]\n\
         params = {{ blackhole_filtering = {{ allowed = true }}, filtering = {{ next_hop = {{ authorized_addresses_list = [\"192.0.2.9\", \"2001:db8::9\"] }} }} }}\n\n\
         [[clients]]\nname = \"b\"\nasn = 6939\nip = [\"127.0.{NET}.3\"]\n\
         import = [\"rs-standard\"]\nexport = [\"rs-standard\"]\n"
    );
    let daemon = Daemon::start(kumo_config::parse(&config).unwrap()).await.unwrap();
    let bgp = daemon.listening[0];
    let mut a = Speaker::connect(&speaker(NET, 2, 3333), bgp).await.unwrap();
    let mut b = Speaker::connect(&speaker(NET, 3, 6939), bgp).await.unwrap();
    let plain = PathAttributes {
        origin: Some(Origin::Igp),
        as_path: Some(AsPath::from(vec![AsPathSegment::Sequence(vec![3333])])),
        next_hop: Some(Ipv4Addr::new(192, 0, 2, 9)),
        ..Default::default()
    };
    let mut blackhole = plain.clone();
    blackhole.communities.push(0xFFFF_029A);
    let victim: IpNet = "193.0.0.66/32".parse().unwrap();
    let route: IpNet = "193.0.0.0/21".parse().unwrap();
    a.announce(&plain, None, &[route]).await.unwrap();
    a.announce(&blackhole, None, &[victim]).await.unwrap();
    // IPv6: the next hop travels in MP_REACH_NLRI.
    let victim6: IpNet = "2001:67c:2e8::66/128".parse().unwrap();
    let v6_next_hop = MpNextHop::V6 {
        global: "2001:db8::9".parse().unwrap(),
        link_local: None,
    };
    let mut blackhole6 = blackhole.clone();
    blackhole6.next_hop = None;
    a.announce(&blackhole6, Some(v6_next_hop), &[victim6])
        .await
        .unwrap();
    assert!(
        b.recv_until(WAIT, |s| holds(s, &victim)
            && holds(s, &route)
            && holds(s, &victim6))
            .await
            .unwrap()
    );
    let got = |prefix: &IpNet| {
        b.rib
            .iter()
            .find(|(n, _)| n.prefix == *prefix)
            .map(|(_, attrs)| attrs.clone())
            .unwrap()
    };
    let blackholed = got(&victim);
    assert_eq!(
        blackholed.next_hop,
        Some(Ipv4Addr::new(192, 0, 2, 66)),
        "{blackholed:?}"
    );
    assert!(blackholed.communities.contains(&0xFFFF_029A), "{blackholed:?}");
    assert!(
        blackholed.communities.contains(&0xFFFF_FF01),
        "NO_EXPORT: {blackholed:?}"
    );
    let got6 = b
        .mp_next_hops
        .iter()
        .find(|(n, _)| n.prefix == victim6)
        .map(|(_, h)| *h);
    assert_eq!(
        got6,
        Some(MpNextHop::V6 {
            global: "2001:db8::66".parse().unwrap(),
            link_local: None
        })
    );
    // Transparency everywhere else: the ordinary route keeps the client's next hop.
    assert_eq!(got(&route).next_hop, Some(Ipv4Addr::new(192, 0, 2, 9)));
}
