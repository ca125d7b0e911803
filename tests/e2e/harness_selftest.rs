//! The harness proves itself without kumo: real BIRD and GoBGP peer with each other, and a
//! BIRD configured as a transparent route server (`rs client`) stands in for kumo, so the
//! expectations the kumo tests make (transparency, ADD-PATH, best path) are checked against a
//! known route server too.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use anyhow::{Result, bail, ensure};
use kumo_e2e::{
    AddPath, Announce, Bird, BirdConfig, BirdNeighbor, Community, ExtCommunity, Gobgp, GobgpConfig,
    GobgpNeighbor, LargeCommunity, Route, TestNet, eventually, paths_for, prefix,
};

fn find<'a>(routes: &'a [Route], p: &str) -> Result<&'a Route> {
    let p = prefix(p);
    match paths_for(routes, &p).as_slice() {
        [one] => Ok(one),
        other => bail!("want exactly one path for {p}, have {}: {routes:#?}", other.len()),
    }
}

#[test]
fn bird_and_gobgp_exchange_routes_with_all_attributes() {
    let net = TestNet::new().unwrap();
    let (bird_addr, gobgp_addr) = (net.addr(2), net.addr(3));
    let gobgp_port = net.free_port(gobgp_addr).unwrap();

    // GoBGP listens (passive); BIRD connects to its port.
    let gobgp = Gobgp::start(GobgpConfig {
        asn: 65003,
        local: gobgp_addr,
        listen_port: Some(gobgp_port),
        neighbors: vec![GobgpNeighbor {
            passive: true,
            ..GobgpNeighbor::new(bird_addr, 179, 65002)
        }],
    })
    .unwrap();
    let mut bird = Bird::start(
        BirdConfig::client(65002, bird_addr, gobgp_addr, gobgp_port, 65003)
            .route(
                Announce::new("10.2.0.0/24")
                    .path(&[65010])
                    .med(50)
                    .community(65002, 7)
                    .community(65002, 1)
                    .large_community(65002, 1, 2)
                    .route_target(65002, 9),
            )
            .route(Announce::new("10.2.1.0/24"))
            .route(
                Announce::new("2001:db8:2::/48")
                    .med(60)
                    .community(65002, 8)
                    .large_community(65002, 3, 4)
                    .route_origin(65002, 10),
            ),
    )
    .unwrap();
    bird.wait_established(Duration::from_secs(30)).unwrap();
    gobgp.wait_established(Duration::from_secs(30)).unwrap();

    eventually("GoBGP to receive BIRD's three routes", || {
        let routes = gobgp.adj_in()?;
        ensure!(routes.len() == 3, "GoBGP has {routes:#?}");
        let v4 = find(&routes, "10.2.0.0/24")?;
        assert_eq!(v4.as_path, vec![65002, 65010]);
        assert_eq!(v4.next_hop, Some(bird.next_hop_v4()));
        assert_eq!(
            v4.med,
            Some(50),
            "BIRD sends MED towards eBGP when the filter sets it"
        );
        assert_eq!(v4.communities, vec![Community(65002, 1), Community(65002, 7)]);
        assert_eq!(v4.large_communities, vec![LargeCommunity(65002, 1, 2)]);
        assert_eq!(
            v4.ext_communities,
            vec![ExtCommunity::RouteTarget { asn: 65002, value: 9 }]
        );
        let plain = find(&routes, "10.2.1.0/24")?;
        assert_eq!(plain.as_path, vec![65002]);
        assert_eq!(plain.med, None);
        let v6 = find(&routes, "2001:db8:2::/48")?;
        assert_eq!(v6.as_path, vec![65002]);
        assert_eq!(
            v6.next_hop,
            Some(bird.next_hop_v6()),
            "v6 over the v4 session keeps its v6 next hop"
        );
        assert_eq!(v6.med, Some(60));
        assert_eq!(v6.communities, vec![Community(65002, 8)]);
        assert_eq!(v6.large_communities, vec![LargeCommunity(65002, 3, 4)]);
        assert_eq!(
            v6.ext_communities,
            vec![ExtCommunity::RouteOrigin {
                asn: 65002,
                value: 10
            }]
        );
        Ok(true)
    })
    .unwrap();

    // The other direction: GoBGP announces, BIRD receives.
    gobgp
        .announce(
            &Announce::new("10.3.0.0/24")
                .path(&[65011])
                .med(30)
                .community(65003, 1)
                .large_community(65003, 1, 1)
                .route_target(65003, 5),
        )
        .unwrap();
    gobgp
        .announce(&Announce::new("2001:db8:3::/48").med(31).community(65003, 2))
        .unwrap();
    eventually("BIRD to receive GoBGP's routes", || {
        let routes = bird.routes()?;
        ensure!(routes.len() == 2, "BIRD has {routes:#?}");
        let v4 = find(&routes, "10.3.0.0/24")?;
        assert_eq!(v4.as_path, vec![65003, 65011]);
        assert_eq!(
            v4.next_hop,
            Some(gobgp.next_hop_v4()),
            "GoBGP keeps an explicit next hop"
        );
        assert_eq!(v4.med, Some(30));
        assert_eq!(v4.communities, vec![Community(65003, 1)]);
        assert_eq!(v4.large_communities, vec![LargeCommunity(65003, 1, 1)]);
        assert_eq!(
            v4.ext_communities,
            vec![ExtCommunity::RouteTarget { asn: 65003, value: 5 }]
        );
        let v6 = find(&routes, "2001:db8:3::/48")?;
        assert_eq!(v6.next_hop, Some(gobgp.next_hop_v6()));
        assert_eq!(v6.med, Some(31));
        Ok(true)
    })
    .unwrap();

    // Withdraws in both directions.
    bird.withdraw(&prefix("10.2.1.0/24")).unwrap();
    gobgp.withdraw(&prefix("10.3.0.0/24")).unwrap();
    eventually("both withdraws to arrive", || {
        let at_gobgp = gobgp.adj_in()?;
        let at_bird = bird.routes()?;
        ensure!(
            at_gobgp.len() == 2 && paths_for(&at_gobgp, &prefix("10.2.1.0/24")).is_empty(),
            "GoBGP has {at_gobgp:#?}"
        );
        ensure!(
            at_bird.len() == 1 && paths_for(&at_bird, &prefix("10.3.0.0/24")).is_empty(),
            "BIRD has {at_bird:#?}"
        );
        Ok(true)
    })
    .unwrap();

    // A killed speaker's routes go; after a restart (same config) they come back.
    bird.kill();
    eventually("GoBGP to drop the killed BIRD's routes", || {
        let routes = gobgp.adj_in()?;
        ensure!(routes.is_empty(), "GoBGP still has {routes:#?}");
        Ok(true)
    })
    .unwrap();
    bird.restart().unwrap();
    eventually("GoBGP to relearn BIRD's routes after restart", || {
        let routes = gobgp.adj_in()?;
        ensure!(routes.len() == 2, "GoBGP has {routes:#?}");
        Ok(true)
    })
    .unwrap();
}

/// BIRD as a transparent route server between BIRD and GoBGP clients: the same checks the
/// kumo tests make, against a known implementation.
#[test]
fn bird_route_server_with_add_path_clients() {
    let net = TestNet::new().unwrap();
    let rs_addr = net.addr(1);
    let (a_addr, b_addr, c_addr, d_addr, g_addr) =
        (net.addr(2), net.addr(5), net.addr(6), net.addr(7), net.addr(8));
    let p = prefix("10.50.0.0/24");
    let rs_peer = |name: &str, addr, asn, add_path| BirdNeighbor {
        rs_client: true,
        export_all: true,
        next_hop_keep: true,
        passive: true,
        add_path,
        ..BirdNeighbor::new(name, addr, 179, asn)
    };
    let rs = Bird::start(
        BirdConfig::new(64500, rs_addr)
            .neighbor(rs_peer("a", a_addr, 65002, AddPath::Off))
            .neighbor(rs_peer("b", b_addr, 65005, AddPath::Off))
            .neighbor(rs_peer("c", c_addr, 65006, AddPath::Tx))
            .neighbor(rs_peer("d", d_addr, 65007, AddPath::Off))
            .neighbor(rs_peer("g", g_addr, 65008, AddPath::Tx)),
    )
    .unwrap();
    let a = Bird::start(
        BirdConfig::client(65002, a_addr, rs_addr, 179, 64500).route(
            Announce::new("10.50.0.0/24")
                .med(10)
                .community(65002, 1)
                .large_community(65002, 0, 1),
        ),
    )
    .unwrap();
    let b = Bird::start(
        BirdConfig::client(65005, b_addr, rs_addr, 179, 64500)
            .route(Announce::new("10.50.0.0/24").path(&[65020, 65021]).med(20)),
    )
    .unwrap();
    let c =
        Bird::start(BirdConfig::client(65006, c_addr, rs_addr, 179, 64500).add_path(AddPath::Rx)).unwrap();
    let d = Bird::start(BirdConfig::client(65007, d_addr, rs_addr, 179, 64500)).unwrap();
    let g =
        Gobgp::start(GobgpConfig::client(65008, g_addr, rs_addr, 179, 64500).add_path_receive(true)).unwrap();
    for bird in [&rs, &a, &b, &c, &d] {
        bird.wait_established(Duration::from_secs(30)).unwrap();
    }
    g.wait_established(Duration::from_secs(30)).unwrap();

    let expect_a = |r: &Route| {
        r.as_path == vec![65002]
            && r.next_hop == Some(a.next_hop_v4())
            && r.med == Some(10)
            && r.communities == vec![Community(65002, 1)]
            && r.large_communities == vec![LargeCommunity(65002, 0, 1)]
    };
    let expect_b = |r: &Route| {
        r.as_path == vec![65005, 65020, 65021] && r.next_hop == Some(b.next_hop_v4()) && r.med == Some(20)
    };

    eventually("the ADD-PATH BIRD client to receive both paths", || {
        let routes = c.routes()?;
        let paths = paths_for(&routes, &p);
        ensure!(
            paths.len() == 2 && paths.iter().any(|r| expect_a(r)) && paths.iter().any(|r| expect_b(r)),
            "C has {routes:#?}"
        );
        Ok(true)
    })
    .unwrap();
    eventually("the ADD-PATH GoBGP client to receive both paths", || {
        let routes = g.adj_in()?;
        let paths = paths_for(&routes, &p);
        ensure!(
            paths.len() == 2 && paths.iter().any(|r| expect_a(r)) && paths.iter().any(|r| expect_b(r)),
            "GoBGP has {routes:#?}"
        );
        Ok(true)
    })
    .unwrap();
    eventually(
        "the plain client to receive only the best (shortest AS_PATH) path",
        || {
            let routes = d.routes()?;
            let paths = paths_for(&routes, &p);
            ensure!(paths.len() == 1 && expect_a(paths[0]), "D has {routes:#?}");
            Ok(true)
        },
    )
    .unwrap();
}
