//! Export modifications through the daemon: rs-standard strips the RS action
//! communities it interprets for every client on its export chain, while a
//! client on another chain (here the default, accept-all) receives the path
//! as it came. kumo stores a modification that every receiver shares once
//! (`ExportDecision::modified_all`); this checks that it never reaches a
//! client the export chain did not modify it for.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use ipnet::IpNet;
use kumo::daemon::Daemon;
use kumo::speaker::{Speaker, SpeakerConfig};
use kumo_wire::PathAttributes;

mod common;
use common::{attrs, free_port, holds, speaker};

const WAIT: Duration = Duration::from_secs(10);
const NET: u8 = 219;
/// Euro-IX "do not announce to AS65009" (not a client): interpreted by
/// rs-standard, so stripped from what its clients receive.
const DO_NOT_ANNOUNCE_TO_65009: u32 = 65009;
/// An ordinary community of the announcer: passed on to everyone.
const INFORMATIONAL: u32 = (3333 << 16) | 100;

fn received(s: &Speaker, prefix: &IpNet) -> PathAttributes {
    s.rib
        .iter()
        .find(|(n, _)| n.prefix == *prefix)
        .map(|(_, a)| a.clone())
        .unwrap()
}

async fn connect(host: u8, asn: u32, bgp: std::net::SocketAddr) -> Speaker {
    let config: SpeakerConfig = speaker(NET, host, asn);
    Speaker::connect(&config, bgp).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripped_action_communities_reach_only_the_chains_that_strip_them() {
    let port = free_port(NET);
    let config = format!(
        "[server]\nasn = 64500\nrouter_id = \"192.0.2.254\"\nlisten = [\"127.0.{NET}.1:{port}\"]\n\n\
         [policies.rs-standard.config]\nrs_as = 64500\n\n\
         [[clients]]\nname = \"a\"\nasn = 3333\nip = [\"127.0.{NET}.2\"]\n\n\
         [[clients]]\nname = \"b\"\nasn = 6939\nip = [\"127.0.{NET}.3\"]\nexport = [\"rs-standard\"]\n\n\
         [[clients]]\nname = \"c\"\nasn = 13335\nip = [\"127.0.{NET}.4\"]\nexport = [\"rs-standard\"]\n\n\
         [[clients]]\nname = \"d\"\nasn = 15169\nip = [\"127.0.{NET}.5\"]\n"
    );
    let daemon = Daemon::start(kumo_config::parse(&config).unwrap()).await.unwrap();
    let bgp = daemon.listening[0];
    let mut a = connect(2, 3333, bgp).await;
    let mut b = connect(3, 6939, bgp).await;
    let mut c = connect(4, 13335, bgp).await;
    let mut d = connect(5, 15169, bgp).await;

    let mut tagged = attrs(3333);
    tagged.communities.push(DO_NOT_ANNOUNCE_TO_65009);
    tagged.communities.push(INFORMATIONAL);
    let prefix: IpNet = "193.0.8.0/21".parse().unwrap();
    a.announce(&tagged, None, &[prefix]).await.unwrap();
    for s in [&mut b, &mut c, &mut d] {
        assert!(s.recv_until(WAIT, |s| holds(s, &prefix)).await.unwrap());
    }

    // b and c (rs-standard): the action community removed, the other kept.
    for s in [&b, &c] {
        let got = received(s, &prefix);
        assert_eq!(got.communities.to_vec(), vec![INFORMATIONAL], "{got:?}");
    }
    // d (accept-all): everything as announced.
    let got = received(&d, &prefix);
    assert_eq!(
        got.communities.to_vec(),
        vec![DO_NOT_ANNOUNCE_TO_65009, INFORMATIONAL],
        "{got:?}"
    );
}
