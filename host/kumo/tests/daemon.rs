//! In-process tests of the daemon: kumo's own speaker (on kumo's codec) plays
//! the clients. The same behaviours are proven against real BIRD and GoBGP in
//! the workspace's `tests/` crate; these are the fast, byte-level ones.
#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use ipnet::IpNet;
use kumo::daemon::Daemon;
use kumo::speaker::{Speaker, SpeakerConfig, SpeakerError};
use kumo_wire::{AfiSafi, AsPath, AsPathSegment, LargeCommunity, MpNextHop, Origin, PathAttributes};

const WAIT: Duration = Duration::from_secs(10);

/// Start kumo on 127.0.N.1 with clients .2 (AS65002), .3 (AS65003), .4 (AS65004).
async fn start(net: u8, extra: &str) -> (Daemon, SocketAddr) {
    let text = format!(
        r#"
[server]
asn = 64500
router_id = "192.0.2.254"
listen = ["127.0.{net}.1:0"]
hold_time = 30

[[clients]]
name = "a"
asn = 65002
ip = ["127.0.{net}.2"]

[[clients]]
name = "b"
asn = 65003
ip = ["127.0.{net}.3"]
{extra}

[[clients]]
name = "c"
asn = 65004
ip = ["127.0.{net}.4"]
add_path = "send"
"#
    );
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter("debug")
        .try_init();
    let config = kumo_config::parse(&text).unwrap();
    let daemon = Daemon::start(config).await.unwrap();
    let addr = daemon.listening[0];
    (daemon, addr)
}

fn speaker(net: u8, host: u8, asn: u32, add_path: bool) -> SpeakerConfig {
    SpeakerConfig {
        hold_time: 30,
        add_path_receive: add_path,
        ..SpeakerConfig::new(
            IpAddr::V4(Ipv4Addr::new(127, 0, net, host)),
            asn,
            Ipv4Addr::new(10, 0, 0, host),
        )
    }
}

fn attrs(path: &[u32], next_hop: [u8; 4]) -> PathAttributes {
    PathAttributes {
        origin: Some(Origin::Igp),
        as_path: Some(AsPath::from(vec![AsPathSegment::Sequence(path.to_vec())])),
        next_hop: Some(Ipv4Addr::from(next_hop)),
        med: Some(42),
        communities: kumo_wire::thin_vec![(65002 << 16) | 100, 0xFFFF_0000],
        extended_communities: kumo_wire::thin_vec![[0x00, 0x02, 0xfd, 0xea, 0, 0, 0, 7]],
        large_communities: kumo_wire::thin_vec![LargeCommunity {
            global_admin: 65002,
            local_data1: 1,
            local_data2: 2,
        }],
        ..Default::default()
    }
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn has(s: &Speaker, prefix: &str) -> bool {
    let p = net(prefix);
    s.rib.keys().any(|n| n.prefix == p)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_are_reannounced_transparently_and_withdrawn() {
    let (_kumo, addr) = start(201, "").await;
    let mut a = Speaker::connect(&speaker(201, 2, 65002, false), addr)
        .await
        .unwrap();
    let mut b = Speaker::connect(&speaker(201, 3, 65003, false), addr)
        .await
        .unwrap();
    let mut c = Speaker::connect(&speaker(201, 4, 65004, true), addr)
        .await
        .unwrap();

    let sent = attrs(&[65002, 65010], [192, 0, 2, 2]);
    a.announce(&sent, None, &[net("198.51.100.0/24"), net("203.0.113.0/24")])
        .await
        .unwrap();
    let mut v6 = sent.clone();
    v6.next_hop = None;
    let nh6 = MpNextHop::V6 {
        global: "2001:db8::2".parse::<Ipv6Addr>().unwrap(),
        link_local: None,
    };
    a.announce(&v6, Some(nh6), &[net("2001:db8:100::/48")])
        .await
        .unwrap();

    for s in [&mut b, &mut c] {
        let ok = s
            .recv_until(WAIT, |s| {
                has(s, "198.51.100.0/24") && has(s, "203.0.113.0/24") && has(s, "2001:db8:100::/48")
            })
            .await
            .unwrap();
        assert!(
            ok,
            "routes did not arrive: {:?}",
            s.rib.keys().collect::<Vec<_>>()
        );
        for (nlri, got) in &s.rib {
            // Transparent: same AS_PATH (no 64500), next hop, MED, all communities.
            assert_eq!(got.as_path, sent.as_path, "{nlri:?}");
            assert_eq!(got.med, Some(42));
            assert_eq!(got.communities, sent.communities);
            assert_eq!(got.extended_communities, sent.extended_communities);
            assert_eq!(got.large_communities, sent.large_communities);
            assert_eq!(got.local_pref, None, "LOCAL_PREF is never sent to eBGP clients");
            if nlri.prefix.addr().is_ipv4() {
                assert_eq!(got.next_hop, Some(Ipv4Addr::new(192, 0, 2, 2)));
            }
        }
    }
    // The ADD-PATH client got path ids; the other did not.
    assert!(c.rib.keys().all(|n| n.path_id.is_some()));
    assert!(b.rib.keys().all(|n| n.path_id.is_none()));
    // Initial End-of-RIB was sent to everyone (it may come in the same batch
    // as, and after, routes announced meanwhile).
    assert!(
        b.recv_until(WAIT, |s| s.end_of_rib.contains(&AfiSafi::IPV4_UNICAST))
            .await
            .unwrap()
    );

    // Never back to the originating client.
    let ok = a
        .recv_until(Duration::from_millis(500), |s| !s.rib.is_empty())
        .await
        .unwrap();
    assert!(!ok, "a received its own routes back: {:?}", a.rib);

    // Withdraw propagates.
    a.withdraw(&[net("203.0.113.0/24")]).await.unwrap();
    assert!(b.recv_until(WAIT, |s| !has(s, "203.0.113.0/24")).await.unwrap());
    assert!(has(&b, "198.51.100.0/24"));

    // A client that goes away has its routes withdrawn from the others.
    drop(a);
    assert!(
        b.recv_until(WAIT, |s| s.rib.is_empty()).await.unwrap(),
        "left: {:?}",
        b.rib.keys()
    );
    assert!(c.recv_until(WAIT, |s| s.rib.is_empty()).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_hiding_gives_the_best_receivable_path() {
    // b refuses paths from a: it must still get c's (longer) path for the prefix.
    let (_kumo, addr) = start(202, r#"test_export_deny_from = ["a"]"#).await;
    let mut a = Speaker::connect(&speaker(202, 2, 65002, false), addr)
        .await
        .unwrap();
    let mut b = Speaker::connect(&speaker(202, 3, 65003, false), addr)
        .await
        .unwrap();
    let mut c = Speaker::connect(&speaker(202, 4, 65004, false), addr)
        .await
        .unwrap();
    a.announce(&attrs(&[65002], [192, 0, 2, 2]), None, &[net("198.51.100.0/24")])
        .await
        .unwrap();
    c.announce(
        &attrs(&[65004, 65020, 65021], [192, 0, 2, 4]),
        None,
        &[net("198.51.100.0/24")],
    )
    .await
    .unwrap();
    let first = |s: &Speaker| s.rib.values().next().and_then(|a| a.as_path.clone());
    let want_c = Some(AsPath::from(vec![AsPathSegment::Sequence(vec![
        65004, 65020, 65021,
    ])]));
    assert!(
        b.recv_until(WAIT, |s| first(s) == want_c).await.unwrap(),
        "b got {:?}",
        b.rib
    );
    // c gets a's path (the only other one).
    let want_a = Some(AsPath::from(vec![AsPathSegment::Sequence(vec![65002])]));
    assert!(c.recv_until(WAIT, |s| first(s) == want_a).await.unwrap());
    // a gets c's.
    assert!(a.recv_until(WAIT, |s| first(s) == want_c).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_source_address_is_refused() {
    let (_kumo, addr) = start(203, "").await;
    let stranger = speaker(203, 99, 65099, false);
    match Speaker::connect(&stranger, addr).await {
        Err(SpeakerError::Notification(n)) => {
            assert_eq!(
                (n.code, n.subcode),
                (6, 5),
                "Cease / Connection Rejected: {}",
                n.describe()
            )
        }
        Err(SpeakerError::Io(_)) => {} // closed before we read it: also refused
        other => panic!("an unconfigured address got a session: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_prefix_shutdown_closes_with_cease() {
    let (_kumo, addr) = start(204, "max_prefix = { ipv4 = 3, action = \"shutdown\" }").await;
    let mut b = Speaker::connect(&speaker(204, 3, 65003, false), addr)
        .await
        .unwrap();
    let prefixes: Vec<IpNet> = (0..5).map(|i| net(&format!("10.{i}.0.0/16"))).collect();
    b.announce(&attrs(&[65003], [192, 0, 2, 3]), None, &prefixes)
        .await
        .unwrap();
    match b.recv_until(WAIT, |_| false).await {
        Err(SpeakerError::Notification(n)) => {
            assert_eq!((n.code, n.subcode), (6, 1), "{}", n.describe());
            assert_eq!(&n.data[..3], &[0, 1, 1], "AFI 1 / SAFI 1");
        }
        other => panic!("expected Cease / Maximum Number of Prefixes Reached, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_restart_helper_keeps_stale_routes_until_end_of_rib() {
    let (_kumo, addr) = start(205, "").await;
    let mut watcher = Speaker::connect(&speaker(205, 2, 65002, false), addr)
        .await
        .unwrap();
    let gr = SpeakerConfig {
        graceful_restart: Some(60),
        ..speaker(205, 3, 65003, false)
    };
    let mut b = Speaker::connect(&gr, addr).await.unwrap();
    let routes = [net("198.51.100.0/24"), net("203.0.113.0/24")];
    b.announce(&attrs(&[65003], [192, 0, 2, 3]), None, &routes)
        .await
        .unwrap();
    assert!(watcher.recv_until(WAIT, |s| s.rib.len() == 2).await.unwrap());

    // The TCP session dies without a NOTIFICATION: the routes stay (RFC 4724 helper).
    drop(b);
    let withdrawn = watcher
        .recv_until(Duration::from_secs(2), |s| s.rib.len() < 2)
        .await
        .unwrap();
    assert!(
        !withdrawn,
        "routes of a restarting GR client were withdrawn: {:?}",
        watcher.rib.keys()
    );

    // It comes back and re-announces only one route, then End-of-RIB: the other goes.
    let mut b = Speaker::connect(&gr, addr).await.unwrap();
    b.announce(&attrs(&[65003], [192, 0, 2, 3]), None, &routes[..1])
        .await
        .unwrap();
    b.end_of_rib(AfiSafi::IPV4_UNICAST).await.unwrap();
    assert!(
        watcher.recv_until(WAIT, |s| s.rib.len() == 1).await.unwrap(),
        "{:?}",
        watcher.rib.keys()
    );
    assert!(has(&watcher, "198.51.100.0/24"));
}

/// UPDATEs that arrive together are applied as one burst (imports and
/// export decisions asked for all of them first): the outcome must be what
/// applying them one by one gives, End-of-RIB included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_arriving_together_are_applied_in_order() {
    let (_kumo, addr) = start(216, "").await;
    let mut watcher = Speaker::connect(&speaker(216, 2, 65002, false), addr)
        .await
        .unwrap();
    let gr = SpeakerConfig {
        graceful_restart: Some(60),
        ..speaker(216, 3, 65003, false)
    };
    let mut b = Speaker::connect(&gr, addr).await.unwrap();
    let with_med = |med| PathAttributes {
        med: Some(med),
        ..attrs(&[65003], [192, 0, 2, 3])
    };
    let held = [net("198.51.100.0/24"), net("203.0.113.0/24")];
    b.announce(&with_med(1), None, &held).await.unwrap();
    assert!(watcher.recv_until(WAIT, |s| s.rib.len() == 2).await.unwrap());
    drop(b);

    // Back after a restart (once kumo has seen the old session go: until
    // then a new one is refused as a collision), everything in one write:
    // the first held route again, a route announced and withdrawn, one
    // announced twice (the second wins), End-of-RIB (the second held route
    // goes), then one more.
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut b = loop {
        match Speaker::connect(&gr, addr).await {
            Ok(b) => break b,
            Err(e) if tokio::time::Instant::now() < deadline => {
                tracing::debug!(%e, "reconnect refused, trying again");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("reconnect: {e}"),
        }
    };
    b.cork();
    b.announce(&with_med(2), None, &held[..1]).await.unwrap();
    b.announce(&with_med(3), None, &[net("192.0.2.0/25")])
        .await
        .unwrap();
    b.withdraw(&[net("192.0.2.0/25")]).await.unwrap();
    b.announce(&with_med(4), None, &[net("192.0.2.128/25")])
        .await
        .unwrap();
    b.announce(&with_med(5), None, &[net("192.0.2.128/25")])
        .await
        .unwrap();
    b.end_of_rib(AfiSafi::IPV4_UNICAST).await.unwrap();
    b.announce(&with_med(6), None, &[net("198.18.0.0/15")])
        .await
        .unwrap();
    b.uncork().await.unwrap();

    let med = |s: &Speaker, p: &str| {
        s.rib
            .iter()
            .find(|(n, _)| n.prefix == net(p))
            .and_then(|(_, a)| a.med)
    };
    // The first held route is never withdrawn on the way (End-of-RIB
    // applied before the re-announcement would withdraw it, then send it again).
    let mut gap = false;
    let done = watcher
        .recv_until(WAIT, |s| {
            gap |= !has(s, "198.51.100.0/24");
            med(s, "198.51.100.0/24") == Some(2)
                && med(s, "192.0.2.128/25") == Some(5)
                && has(s, "198.18.0.0/15")
                && !has(s, "203.0.113.0/24")
        })
        .await
        .unwrap();
    assert!(done, "{:?}", watcher.rib);
    assert!(!gap, "a re-announced held route was withdrawn first");
    // Nothing else arrives: the withdrawn route stays away.
    let extra = watcher
        .recv_until(Duration::from_millis(500), |s| s.rib.len() != 3)
        .await
        .unwrap();
    assert!(!extra && !has(&watcher, "192.0.2.0/25"), "{:?}", watcher.rib);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_graceful_restart_a_lost_session_withdraws_at_once() {
    let (_kumo, addr) = start(206, "").await;
    let mut watcher = Speaker::connect(&speaker(206, 2, 65002, false), addr)
        .await
        .unwrap();
    let mut b = Speaker::connect(&speaker(206, 3, 65003, false), addr)
        .await
        .unwrap();
    b.announce(&attrs(&[65003], [192, 0, 2, 3]), None, &[net("198.51.100.0/24")])
        .await
        .unwrap();
    assert!(watcher.recv_until(WAIT, |s| s.rib.len() == 1).await.unwrap());
    drop(b);
    assert!(watcher.recv_until(WAIT, |s| s.rib.is_empty()).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hold_timer_expiry_sends_notification() {
    let (_kumo, addr) = start(207, "").await;
    let quiet = SpeakerConfig {
        hold_time: 3,
        ..speaker(207, 3, 65003, false)
    };
    let mut b = Speaker::connect(&quiet, addr).await.unwrap();
    // Read without ever answering KEEPALIVEs.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match tokio::time::timeout_at(deadline, b.recv()).await {
            Ok(Ok(_)) => continue,
            Ok(Err(SpeakerError::Notification(n))) => {
                assert_eq!((n.code, n.subcode), (4, 0), "{}", n.describe());
                break;
            }
            other => panic!("expected Hold Timer Expired, got {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_attribute_is_treated_as_withdraw_and_the_session_stays() {
    let (_kumo, addr) = start(208, "").await;
    let mut watcher = Speaker::connect(&speaker(208, 2, 65002, false), addr)
        .await
        .unwrap();
    let mut b = Speaker::connect(&speaker(208, 3, 65003, false), addr)
        .await
        .unwrap();
    b.announce(&attrs(&[65003], [192, 0, 2, 3]), None, &[net("198.51.100.0/24")])
        .await
        .unwrap();
    assert!(watcher.recv_until(WAIT, |s| s.rib.len() == 1).await.unwrap());
    // The same prefix again, with a 3-octet MED (RFC 7606 §7.4: treat-as-withdraw).
    let attributes: Vec<u8> = [
        &[0x40u8, 1, 1, 0][..],                // ORIGIN IGP
        &[0x40, 2, 6, 2, 1, 0, 0, 0xfd, 0xeb], // AS_PATH [65003]
        &[0x40, 3, 4, 192, 0, 2, 3],           // NEXT_HOP
        &[0x80, 4, 3, 0, 0, 1],                // MED with length 3: malformed
    ]
    .concat();
    let nlri = [24u8, 198, 51, 100];
    let len = (19 + 2 + 2 + attributes.len() + nlri.len()) as u16;
    let mut bad = vec![0xffu8; 16];
    bad.extend_from_slice(&len.to_be_bytes());
    bad.push(2); // UPDATE
    bad.extend_from_slice(&[0, 0]); // no withdrawn routes
    bad.extend_from_slice(&(attributes.len() as u16).to_be_bytes());
    bad.extend_from_slice(&attributes);
    bad.extend_from_slice(&nlri);
    b.send_raw(&bad).await.unwrap();
    assert!(
        watcher.recv_until(WAIT, |s| s.rib.is_empty()).await.unwrap(),
        "treat-as-withdraw did not withdraw"
    );
    // The session is still up: a good UPDATE is accepted again.
    b.announce(&attrs(&[65003], [192, 0, 2, 3]), None, &[net("198.51.100.0/24")])
        .await
        .unwrap();
    assert!(watcher.recv_until(WAIT, |s| s.rib.len() == 1).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_prefix_restart_refuses_until_the_hold_down_ends() {
    let (_kumo, addr) = start(
        209,
        "max_prefix = { ipv4 = 1, action = \"restart\", restart_after = 2 }",
    )
    .await;
    let config = speaker(209, 3, 65003, false);
    let mut b = Speaker::connect(&config, addr).await.unwrap();
    b.announce(
        &attrs(&[65003], [192, 0, 2, 3]),
        None,
        &[net("10.0.0.0/16"), net("10.1.0.0/16")],
    )
    .await
    .unwrap();
    match b.recv_until(WAIT, |_| false).await {
        Err(SpeakerError::Notification(n)) => assert_eq!((n.code, n.subcode), (6, 1), "{}", n.describe()),
        other => panic!("expected Cease / Maximum Number of Prefixes Reached, got {other:?}"),
    }
    // During the hold-down the session is refused (Cease / Connection Rejected).
    match Speaker::connect(&config, addr).await {
        Err(SpeakerError::Notification(n)) => assert_eq!((n.code, n.subcode), (6, 5), "{}", n.describe()),
        Err(SpeakerError::Io(_)) => {}
        Ok(_) => panic!("session accepted during the max-prefix hold-down"),
        Err(e) => panic!("unexpected: {e}"),
    }
    // After it, the client gets its session back.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    Speaker::connect(&config, addr)
        .await
        .expect("session after the hold-down");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_prefix_warn_keeps_the_session() {
    let (_kumo, addr) = start(210, "max_prefix = { ipv4 = 1, action = \"warn\" }").await;
    let mut watcher = Speaker::connect(&speaker(210, 2, 65002, false), addr)
        .await
        .unwrap();
    let mut b = Speaker::connect(&speaker(210, 3, 65003, false), addr)
        .await
        .unwrap();
    b.announce(
        &attrs(&[65003], [192, 0, 2, 3]),
        None,
        &[net("10.0.0.0/16"), net("10.1.0.0/16")],
    )
    .await
    .unwrap();
    assert!(watcher.recv_until(WAIT, |s| s.rib.len() == 2).await.unwrap());
    let closed = b.recv_until(Duration::from_secs(1), |_| false).await;
    assert!(matches!(closed, Ok(false)), "the session was closed: {closed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_transitive_attributes_pass_through_with_partial_set() {
    let (_kumo, addr) = start(211, "").await;
    let mut a = Speaker::connect(&speaker(211, 2, 65002, false), addr)
        .await
        .unwrap();
    let mut b = Speaker::connect(&speaker(211, 3, 65003, false), addr)
        .await
        .unwrap();
    let mut sent = attrs(&[65002], [192, 0, 2, 2]);
    let opaque = vec![0xde, 0xad, 0xbe, 0xef, 0x01];
    sent.unknown = kumo_wire::thin_vec![
        // optional transitive, unknown to kumo: forwarded with Partial set (RFC 4271 §5)
        kumo_wire::RawAttribute {
            flags: 0xc0,
            type_code: 99,
            value: opaque.clone(),
        },
        // optional non-transitive: never forwarded
        kumo_wire::RawAttribute {
            flags: 0x80,
            type_code: 98,
            value: vec![1, 2],
        },
    ];
    a.announce(&sent, None, &[net("198.51.100.0/24")]).await.unwrap();
    assert!(b.recv_until(WAIT, |s| s.rib.len() == 1).await.unwrap());
    let got = b.rib.values().next().unwrap();
    assert_eq!(
        got.unknown,
        vec![kumo_wire::RawAttribute {
            flags: 0xe0,
            type_code: 99,
            value: opaque
        }],
        "the unknown transitive attribute must arrive byte for byte with Partial set, the non-transitive one not at all"
    );
}
