//! kumo as a transparent route server (RFC 7947) between real BIRD 2 and GoBGP clients.
//!
//! Every test leases its own `127.0.N.0/24`: kumo is `.1`, clients are `.2` and up. Clients
//! announce documentation next hops (`192.0.2.N`, `2001:db8::N`) because GoBGP refuses 127/8
//! next hops; IPv6 routes ride on the IPv4 sessions (MP-BGP).
//!
//! Needs the kumo binary (`cargo build -p kumo`), `bird`/`birdc` and `gobgpd`/`gobgp`.

#![allow(clippy::unwrap_used)]

use std::net::IpAddr;

use anyhow::{Context, Result, bail, ensure};
use ipnet::IpNet;
use kumo_e2e::bird::CLIENT_PROTOCOL;
use kumo_e2e::{
    AddPath, Announce, Bird, BirdConfig, Community, ExtCommunity, Gobgp, Ix, KUMO_ASN, LargeCommunity, Route,
    TIMEOUT, eventually, paths_for, prefix,
};

/// The one path for `p` in `routes`, or an error naming what is there.
fn one_path<'a>(routes: &'a [Route], p: &IpNet) -> Result<&'a Route> {
    match paths_for(routes, p).as_slice() {
        [one] => Ok(one),
        other => bail!(
            "want exactly one path for {p}, have {}; all routes: {routes:#?}",
            other.len()
        ),
    }
}

/// Checks that `got` is `sent`, as announced by a client of AS `asn` with next hop `next_hop`,
/// passed through transparently: AS_PATH exactly `[asn, sent.as_path...]` (no 64500),
/// NEXT_HOP, MED and all three community kinds unchanged.
fn check_transparent(got: &Route, sent: &Announce, asn: u32, next_hop: IpAddr) -> Result<()> {
    let mut path = vec![asn];
    path.extend(&sent.as_path);
    ensure!(!got.as_path.contains(&KUMO_ASN), "kumo added its ASN: {got:?}");
    ensure!(got.as_path == path, "AS_PATH {:?}, want {path:?}", got.as_path);
    ensure!(
        got.next_hop == Some(next_hop),
        "NEXT_HOP {:?}, want {next_hop}",
        got.next_hop
    );
    ensure!(got.med == sent.med, "MED {:?}, want {:?}", got.med, sent.med);
    let mut want_c = sent.communities.clone();
    want_c.sort();
    ensure!(
        got.communities == want_c,
        "communities {:?}, want {want_c:?}",
        got.communities
    );
    let mut want_l = sent.large_communities.clone();
    want_l.sort();
    ensure!(
        got.large_communities == want_l,
        "large communities {:?}, want {want_l:?}",
        got.large_communities
    );
    let mut want_e = sent.ext_communities.clone();
    want_e.sort();
    ensure!(
        got.ext_communities == want_e,
        "ext communities {:?}, want {want_e:?}",
        got.ext_communities
    );
    Ok(())
}

/// Checks that `routes` hold exactly `sent` (one path each, transparently passed).
fn check_all(
    routes: &[Route],
    sent: &[Announce],
    asn: u32,
    next_hop: impl Fn(&IpNet) -> IpAddr,
) -> Result<()> {
    ensure!(
        routes.len() == sent.len(),
        "have {} routes, want {}: {routes:#?}",
        routes.len(),
        sent.len()
    );
    for s in sent {
        let got = one_path(routes, &s.prefix)?;
        check_transparent(got, s, asn, next_hop(&s.prefix))
            .map_err(|e| e.context(format!("route {}", s.prefix)))?;
    }
    Ok(())
}

fn rich_routes(asn: u16) -> Vec<Announce> {
    vec![
        Announce::new("10.2.0.0/24")
            .path(&[65010])
            .med(50)
            .community(asn, 7)
            .community(asn, 1)
            .large_community(u32::from(asn), 1, 2)
            .route_target(u32::from(asn), 9),
        Announce::new("10.2.1.0/24"),
        Announce::new("2001:db8:2::/48")
            .med(60)
            .community(asn, 8)
            .large_community(u32::from(asn), 3, 4)
            .route_origin(u32::from(asn), 10),
    ]
}

/// Tests 1-3: transparency for IPv4 and IPv6, withdraw, and a client going down.
#[test]
fn transparent_announce_withdraw_and_client_down() {
    let ix = Ix::new();
    let mut kumo = ix.kumo(vec![
        ix.client(2, 65002),
        ix.client(3, 65003),
        ix.client(4, 65004),
    ]);
    let sent = rich_routes(65002);
    let mut a = Bird::start(sent.iter().cloned().fold(ix.bird(2, 65002), BirdConfig::route)).unwrap();
    let g = Gobgp::start(ix.gobgp(3, 65003)).unwrap();
    let d = Bird::start(ix.bird(4, 65004)).unwrap();
    a.wait_established(TIMEOUT).unwrap();
    g.wait_established(TIMEOUT).unwrap();
    d.wait_established(TIMEOUT).unwrap();

    // 1. Both receivers get A's routes unchanged.
    eventually("GoBGP to receive A's routes transparently", || {
        check_all(&g.adj_in()?, &sent, 65002, |p| a.next_hop_for(p))?;
        Ok(true)
    })
    .unwrap();
    eventually("BIRD D to receive A's routes transparently", || {
        check_all(&d.routes()?, &sent, 65002, |p| a.next_hop_for(p))?;
        Ok(true)
    })
    .unwrap();

    // 2. A withdraw propagates; the other routes stay.
    let gone = prefix("10.2.1.0/24");
    a.withdraw(&gone).unwrap();
    let remaining: Vec<Announce> = sent.iter().filter(|r| r.prefix != gone).cloned().collect();
    eventually("the withdraw to reach GoBGP", || {
        check_all(&g.adj_in()?, &remaining, 65002, |p| a.next_hop_for(p))?;
        Ok(true)
    })
    .unwrap();
    eventually("the withdraw to reach BIRD D", || {
        check_all(&d.routes()?, &remaining, 65002, |p| a.next_hop_for(p))?;
        Ok(true)
    })
    .unwrap();

    // 3. A dies (no NOTIFICATION, the kernel closes the socket): its routes are withdrawn.
    a.kill();
    eventually("A's routes to be withdrawn from GoBGP and BIRD D", || {
        let (at_g, at_d) = (g.adj_in()?, d.routes()?);
        ensure!(at_g.is_empty(), "GoBGP still has {at_g:#?}");
        ensure!(at_d.is_empty(), "BIRD D still has {at_d:#?}");
        Ok(true)
    })
    .unwrap();
    kumo.check_running().unwrap();
}

/// Test 4: ADD-PATH clients get every path; the others get the best one.
#[test]
fn add_path_clients_receive_all_paths() {
    let ix = Ix::new();
    let p = prefix("10.60.0.0/24");
    let short = Announce::new("10.60.0.0/24").med(10).community(65002, 1);
    let long = Announce::new("10.60.0.0/24")
        .path(&[65020, 65021])
        .med(20)
        .community(65005, 2);
    let mut kumo = ix.kumo(vec![
        ix.client(2, 65002),
        ix.client(5, 65005),
        ix.client(6, 65006).add_path_send(),
        ix.client(7, 65007),
        ix.client(8, 65008).add_path_send(),
    ]);
    let a = Bird::start(ix.bird(2, 65002).route(short.clone())).unwrap();
    let b = Bird::start(ix.bird(5, 65005).route(long.clone())).unwrap();
    let c = Bird::start(ix.bird(6, 65006).add_path(AddPath::Rx)).unwrap();
    let d = Bird::start(ix.bird(7, 65007)).unwrap();
    let g = Gobgp::start(ix.gobgp(8, 65008).add_path_receive(true)).unwrap();
    for bird in [&a, &b, &c, &d] {
        bird.wait_established(TIMEOUT).unwrap();
    }
    g.wait_established(TIMEOUT).unwrap();

    let both = |routes: &[Route]| -> Result<()> {
        let paths = paths_for(routes, &p);
        ensure!(paths.len() == 2, "want 2 paths for {p}: {routes:#?}");
        let from_a = paths.iter().find(|r| r.as_path.first() == Some(&65002));
        let from_b = paths.iter().find(|r| r.as_path.first() == Some(&65005));
        let (Some(ra), Some(rb)) = (from_a, from_b) else {
            bail!("paths are not A's and B's: {paths:#?}")
        };
        check_transparent(ra, &short, 65002, a.next_hop_v4())?;
        check_transparent(rb, &long, 65005, b.next_hop_v4())
    };
    eventually("BIRD C (add paths rx) to receive both paths", || {
        both(&c.routes()?)?;
        Ok(true)
    })
    .unwrap();
    eventually("GoBGP (ADD-PATH receive) to receive both paths", || {
        both(&g.adj_in()?)?;
        Ok(true)
    })
    .unwrap();
    eventually(
        "BIRD D (no ADD-PATH) to receive only the best path (A's, shorter AS_PATH)",
        || {
            let routes = d.routes()?;
            check_transparent(one_path(&routes, &p)?, &short, 65002, a.next_hop_v4())?;
            Ok(true)
        },
    )
    .unwrap();
    kumo.check_running().unwrap();
}

/// Test 5: path hiding. C may not receive A's (best) path, so it must get B's.
#[test]
fn path_hiding_exports_best_allowed_path() {
    let ix = Ix::new();
    let p = prefix("10.70.0.0/24");
    let short = Announce::new("10.70.0.0/24");
    let long = Announce::new("10.70.0.0/24").path(&[65020]);
    let mut kumo = ix.kumo(vec![
        ix.client(2, 65002),
        ix.client(5, 65005),
        ix.client(6, 65006).deny_from(&["as65002"]),
        ix.client(7, 65007),
    ]);
    let a = Bird::start(ix.bird(2, 65002).route(short.clone())).unwrap();
    let b = Bird::start(ix.bird(5, 65005).route(long.clone())).unwrap();
    let c = Bird::start(ix.bird(6, 65006)).unwrap();
    let d = Bird::start(ix.bird(7, 65007)).unwrap();
    for bird in [&a, &b, &c, &d] {
        bird.wait_established(TIMEOUT).unwrap();
    }
    eventually("C to receive B's path (A's is hidden from it)", || {
        let routes = c.routes()?;
        check_transparent(one_path(&routes, &p)?, &long, 65005, b.next_hop_v4())?;
        Ok(true)
    })
    .unwrap();
    eventually("D to receive A's path (the overall best)", || {
        let routes = d.routes()?;
        check_transparent(one_path(&routes, &p)?, &short, 65002, a.next_hop_v4())?;
        Ok(true)
    })
    .unwrap();
    kumo.check_running().unwrap();
}

/// Test 6: GoBGP announces; BIRD and another GoBGP receive; GoBGP's withdraw propagates.
#[test]
fn gobgp_announces_to_bird_and_gobgp() {
    let ix = Ix::new();
    let mut kumo = ix.kumo(vec![
        ix.client(3, 65003),
        ix.client(4, 65004),
        ix.client(9, 65009),
    ]);
    let g = Gobgp::start(ix.gobgp(3, 65003)).unwrap();
    let d = Bird::start(ix.bird(4, 65004)).unwrap();
    let h = Gobgp::start(ix.gobgp(9, 65009)).unwrap();
    g.wait_established(TIMEOUT).unwrap();
    d.wait_established(TIMEOUT).unwrap();
    h.wait_established(TIMEOUT).unwrap();

    let sent = vec![
        Announce::new("10.3.0.0/24")
            .path(&[65011])
            .med(30)
            .community(65003, 1)
            .large_community(65003, 1, 1)
            .route_target(65003, 5),
        Announce::new("2001:db8:3::/48")
            .med(31)
            .community(65003, 2)
            .large_community(65003, 2, 2),
    ];
    for r in &sent {
        g.announce(r).unwrap();
    }
    eventually("BIRD D to receive GoBGP's routes", || {
        check_all(&d.routes()?, &sent, 65003, |p| g.next_hop_for(p))?;
        Ok(true)
    })
    .unwrap();
    eventually("GoBGP H to receive GoBGP G's routes", || {
        check_all(&h.adj_in()?, &sent, 65003, |p| g.next_hop_for(p))?;
        Ok(true)
    })
    .unwrap();

    g.withdraw(&sent[0].prefix).unwrap();
    eventually("GoBGP's withdraw to reach BIRD D and GoBGP H", || {
        check_all(&d.routes()?, &sent[1..], 65003, |p| g.next_hop_for(p))?;
        check_all(&h.adj_in()?, &sent[1..], 65003, |p| g.next_hop_for(p))?;
        Ok(true)
    })
    .unwrap();
    kumo.check_running().unwrap();
}

/// The harness's own contract with the tests above: the expected values do not hold for a
/// route that kumo would have altered.
#[test]
fn check_transparent_rejects_altered_routes() {
    let sent = Announce::new("10.2.0.0/24")
        .path(&[65010])
        .med(5)
        .community(65002, 1);
    let nh: IpAddr = "192.0.2.2".parse().unwrap();
    let good = Route {
        prefix: sent.prefix,
        as_path: vec![65002, 65010],
        next_hop: Some(nh),
        med: Some(5),
        communities: vec![Community(65002, 1)],
        large_communities: Vec::new(),
        ext_communities: Vec::new(),
    };
    check_transparent(&good, &sent, 65002, nh).unwrap();
    let prepended = Route {
        as_path: vec![KUMO_ASN, 65002, 65010],
        ..good.clone()
    };
    assert!(check_transparent(&prepended, &sent, 65002, nh).is_err());
    let next_hop_self = Route {
        next_hop: Some("127.0.0.1".parse().unwrap()),
        ..good.clone()
    };
    assert!(check_transparent(&next_hop_self, &sent, 65002, nh).is_err());
    let no_med = Route {
        med: None,
        ..good.clone()
    };
    assert!(check_transparent(&no_med, &sent, 65002, nh).is_err());
    let extra = Route {
        large_communities: vec![LargeCommunity(64500, 1101, 1)],
        ..good.clone()
    };
    assert!(check_transparent(&extra, &sent, 65002, nh).is_err());
    let ext = Route {
        ext_communities: vec![ExtCommunity::RouteTarget { asn: 1, value: 1 }],
        ..good
    };
    assert!(check_transparent(&ext, &sent, 65002, nh).is_err());
}

/// kumo opens the session itself (`passive = false`) to a BIRD that only listens.
#[test]
fn kumo_connects_actively_to_a_passive_client() {
    let ix = Ix::new();
    let _kumo = ix.kumo(vec![
        ix.client(2, 65002).passive(false).extra("port = 179"),
        ix.client(3, 65003),
    ]);
    let a = Bird::start(
        ix.bird(2, 65002)
            .passive(true)
            .route(Announce::new("10.9.0.0/24")),
    )
    .unwrap();
    let g = Gobgp::start(ix.gobgp(3, 65003)).unwrap();
    a.wait_established(TIMEOUT).unwrap();
    eventually("GoBGP to receive the passive client's route", || {
        let routes = g.adj_in()?;
        let r = one_path(&routes, &prefix("10.9.0.0/24"))?;
        ensure!(r.as_path == vec![65002], "as_path {:?}", r.as_path);
        Ok(true)
    })
    .unwrap();
}

/// When the client's session came up (`Since` of `birdc show protocols`): a reset changes it.
fn session_since(bird: &Bird) -> Result<String> {
    let text = bird.birdc(&["show", "protocols", CLIENT_PROTOCOL])?;
    let line = text
        .lines()
        .find(|l| l.starts_with(CLIENT_PROTOCOL))
        .with_context(|| format!("no protocol {CLIENT_PROTOCOL} in:\n{text}"))?;
    match line.split_whitespace().collect::<Vec<_>>().as_slice() {
        [_, _, _, "up", since, ..] => Ok((*since).to_owned()),
        _ => bail!("protocol {CLIENT_PROTOCOL} is not up: {line}"),
    }
}

/// RFC 8654 §4: a route that only fits an extended message reaches the client that negotiated
/// them; the one that did not gets a withdrawal instead, so that the smaller path it held
/// before is not left in service. The other routes flow and no session resets.
#[test]
fn route_too_big_for_a_client_is_withdrawn_from_it_only() {
    let ix = Ix::new();
    let mut kumo = ix.kumo(vec![
        ix.client(2, 65001),
        ix.client(3, 65003),
        ix.client(4, 65004),
    ]);
    let p = prefix("10.80.0.0/24");
    let small = Announce::new("10.80.0.0/24").community(65001, 1);
    let q: Vec<Announce> = (1..=5)
        .map(|i| Announce::new(&format!("10.81.{i}.0/24")))
        .collect();
    let mut a = Bird::start(
        q.iter()
            .cloned()
            .fold(ix.bird(2, 65001).route(small.clone()), BirdConfig::route)
            .extended_messages(true),
    )
    .unwrap();
    let b = Bird::start(ix.bird(3, 65003)).unwrap();
    let c = Bird::start(ix.bird(4, 65004).extended_messages(true)).unwrap();
    for bird in [&a, &b, &c] {
        bird.wait_established(TIMEOUT).unwrap();
    }
    let holds = |routes: &[Route], want: &[&Announce]| -> Result<()> {
        for w in want {
            ensure!(
                paths_for(routes, &w.prefix).len() == 1,
                "no single path for {}: {routes:#?}",
                w.prefix
            );
        }
        Ok(())
    };
    let first: Vec<&Announce> = q.iter().chain([&small]).collect();
    eventually("B and C to receive P (small) and Q", || {
        holds(&b.routes()?, &first)?;
        holds(&c.routes()?, &first)?;
        Ok(true)
    })
    .unwrap();
    let since = [&a, &b, &c].map(|bird| session_since(bird).unwrap());

    // 1,200 communities: 4,800 octets of one attribute, over 4,096 (RFC 4271's maximum).
    let big = (0..1200).fold(Announce::new("10.80.0.0/24"), |r, i| r.community(65001, i));
    let r: Vec<Announce> = (1..=5)
        .map(|i| Announce::new(&format!("10.82.{i}.0/24")))
        .collect();
    a.announce_all(std::iter::once(big).chain(r.iter().cloned()))
        .unwrap();
    let rest: Vec<&Announce> = q.iter().chain(&r).collect();
    eventually("C to receive P with 1,200 communities, and Q and R", || {
        let routes = c.routes()?;
        holds(&routes, &rest)?;
        let got = one_path(&routes, &p)?;
        ensure!(
            got.communities.len() == 1200,
            "P has {} communities at C",
            got.communities.len()
        );
        Ok(true)
    })
    .unwrap();
    eventually(
        "B to lose P (withdrawn, not left with the small path) and get Q and R",
        || {
            let routes = b.routes()?;
            holds(&routes, &rest)?;
            ensure!(
                paths_for(&routes, &p).is_empty(),
                "B still has P: {:#?}",
                paths_for(&routes, &p)
            );
            Ok(true)
        },
    )
    .unwrap();
    for (bird, before) in [&a, &b, &c].into_iter().zip(since) {
        let now = session_since(bird).unwrap();
        assert_eq!(now, before, "AS{}'s session was reset", bird.asn());
    }
    kumo.check_running().unwrap();
}
