//! Helpers shared by the daemon tests: kumo's own speaker plays the clients.
// Each test file uses a different subset.
#![allow(dead_code, clippy::unwrap_used)]

use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;
use kumo::speaker::{Speaker, SpeakerConfig};
use kumo_wire::{AsPath, AsPathSegment, Origin, PathAttributes};

/// A client speaking from 127.0.`net`.`host` with AS `asn`.
pub fn speaker(net: u8, host: u8, asn: u32) -> SpeakerConfig {
    SpeakerConfig::new(
        IpAddr::V4(Ipv4Addr::new(127, 0, net, host)),
        asn,
        Ipv4Addr::new(10, 0, 0, host),
    )
}

/// A path from AS `asn` with a documentation next hop (never a client's own
/// address, so strict next-hop filters reject it).
pub fn attrs(asn: u32) -> PathAttributes {
    PathAttributes {
        origin: Some(Origin::Igp),
        as_path: Some(AsPath {
            segments: vec![AsPathSegment::Sequence(vec![asn])],
        }),
        next_hop: Some(Ipv4Addr::new(192, 0, 2, 9)),
        ..Default::default()
    }
}

/// A port free on 127.0.`net`.1 right now.
pub fn free_port(net: u8) -> u16 {
    let l = std::net::TcpListener::bind((Ipv4Addr::new(127, 0, net, 1), 0)).unwrap();
    l.local_addr().unwrap().port()
}

/// Does the speaker hold a path for `prefix`?
pub fn holds(s: &Speaker, prefix: &IpNet) -> bool {
    s.rib.keys().any(|n| n.prefix == *prefix)
}
