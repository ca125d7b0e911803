//! The standard policy (`rs-standard`) with IRR data from a committed RPSL file and RPKI from a
//! real stayrtr, between a real BIRD client announcing good and bad routes and a real GoBGP
//! client receiving them.
//!
//! BIRD runs its session to kumo as `rs client` so that it does not prepend its own ASN: every
//! AS_PATH is exactly what the test writes, which is how a wrong first AS is sent. Its routes
//! carry the documentation next hop `192.0.2.N`, listed as the client's authorised address.
//!
//! Needs the kumo binary (`cargo build -p kumo`), `bird`/`birdc`, `gobgpd`/`gobgp` and `stayrtr`.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use anyhow::{bail, ensure};
use kumo_e2e::{Announce, Bird, BirdConfig, Gobgp, Ix, KUMO_ASN, Roa, Stayrtr, TIMEOUT, eventually, prefix};

const MEMBER_A: u32 = 3333;
const MEMBER_B: u32 = 6939;

fn rpsl() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/e2e/data/ix.rpsl").to_owned()
}

#[test]
fn standard_policy_filters_with_irr_and_rpki_and_follows_roa_changes() {
    let ix = Ix::new();
    let api = ix.api();

    // The cache: 11.1.1.0/24 is AS3333's (valid); 11.3.0.0/16 is someone else's (so the route
    // 11.3.0.0/24 from AS3333 is RPKI-invalid).
    let rtr_port = ix.net.free_port(ix.kumo_ip()).unwrap();
    let metrics_port = ix.net.free_port(ix.kumo_ip()).unwrap();
    let valid_roa = Roa::new("11.1.1.0/24", 24, MEMBER_A);
    let foreign_roa = Roa::new("11.3.0.0/16", 24, 64999);
    let cache = Stayrtr::start(ix.kumo_ip(), rtr_port, metrics_port, &[valid_roa, foreign_roa]).unwrap();

    let a_next_hop = ix.bird(2, MEMBER_A).next_hop_v4();
    let params = format!(
        "params = {{ filtering = {{ next_hop = {{ authorized_addresses_list = [\"{a_next_hop}\", \"2001:db8::2\"] }}, \
         irrdb = {{ as_sets = [\"AS-MEMBER-A\"] }} }} }}"
    );
    let config = ix
        .config(vec![
            ix.client(2, MEMBER_A)
                .extra("import = [\"rs-standard\"]\nexport = [\"rs-standard\"]")
                .extra(&params),
            ix.client(3, MEMBER_B)
                .extra("import = [\"rs-standard\"]\nexport = [\"rs-standard\"]"),
        ])
        .admin(&api)
        .section(&format!("[irr]\nfiles = [\"{}\"]", rpsl()))
        .section(&format!("[rpki]\ncache = \"{}\"\nretry = 1", cache.address))
        .section(&format!(
            "[policies.rs-standard]\nbuiltin = \"rs-standard\"\n\
             [policies.rs-standard.config]\nrs_as = {KUMO_ASN}\n\
             [policies.rs-standard.config.filtering.rpki_bgp_origin_validation]\nenabled = true\nreject_invalid = true"
        ));
    let mut kumo = kumo_e2e::Kumo::start_with(&config).unwrap();
    api.wait_ready(TIMEOUT).unwrap();

    // (route, expected reject code or None for accepted)
    let a = MEMBER_A;
    let routes: Vec<(Announce, Option<u32>)> = vec![
        (Announce::new("11.1.1.0/24").path(&[a]), None),
        (Announce::new("11.1.2.0/24").path(&[a, 13335]), None),
        (Announce::new("2a0a:1::/48").path(&[a]), None),
        (Announce::new("10.0.0.0/8").path(&[a]), Some(2)),
        (Announce::new("11.1.3.0/25").path(&[a]), Some(13)),
        (
            Announce::new("11.1.4.0/24")
                .path(&[a])
                .next_hop(Ipv4Addr::new(192, 0, 2, 99)),
            Some(5),
        ),
        (Announce::new("11.1.5.0/24").path(&[13335]), Some(6)),
        (Announce::new("11.1.6.0/24").path(&[a, 8283]), Some(9)),
        (Announce::new("11.2.0.0/24").path(&[a]), Some(12)),
        (Announce::new("11.3.0.0/24").path(&[a]), Some(14)),
    ];
    let mut bird = ix.bird(2, MEMBER_A);
    for n in &mut bird.neighbors {
        n.rs_client = true;
        n.next_hop_keep = true;
    }
    let bird = routes
        .iter()
        .map(|(r, _)| r.clone())
        .fold(bird, BirdConfig::route);
    let a_daemon = Bird::start(bird).unwrap();
    let g = Gobgp::start(ix.gobgp(3, MEMBER_B)).unwrap();
    a_daemon.wait_established(TIMEOUT).unwrap();
    g.wait_established(TIMEOUT).unwrap();

    let accepted: Vec<_> = routes
        .iter()
        .filter(|(_, code)| code.is_none())
        .map(|(r, _)| r.prefix)
        .collect();
    let held = |want: &[ipnet::IpNet]| -> anyhow::Result<bool> {
        let mut got: Vec<_> = g.adj_in()?.iter().map(|r| r.prefix).collect();
        got.sort();
        let mut want = want.to_vec();
        want.sort();
        if got != want {
            let filtered = api
                .get(&format!("/api/v1/clients/as{MEMBER_A}/routes?view=filtered"))
                .map(|r| r.text())
                .unwrap_or_default();
            bail!("GoBGP holds {got:?}, want {want:?}; kumo filtered: {filtered}");
        }
        Ok(true)
    };
    eventually("GoBGP to hold exactly the good routes", || held(&accepted)).unwrap();

    // Every rejected route is visible with its reason.
    let want_filtered: BTreeMap<String, u32> = routes
        .iter()
        .filter_map(|(r, code)| Some((r.prefix.to_string(), (*code)?)))
        .collect();
    eventually("the API to list every rejected route with its reason", || {
        let page = api.get_json(&format!("/api/v1/clients/as{MEMBER_A}/routes?view=filtered"))?;
        let got: BTreeMap<String, u32> = page["routes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| {
                Some((
                    r["prefix"].as_str()?.to_owned(),
                    u32::try_from(r["filtered"]["code"].as_u64()?).ok()?,
                ))
            })
            .collect();
        ensure!(got == want_filtered, "filtered {got:?}, want {want_filtered:?}");
        Ok(true)
    })
    .unwrap();

    // The data behind the verdicts is visible to the operator.
    let status = api.get_json("/api/v1/status").unwrap();
    assert_eq!(status["irr"]["route_objects"], 8, "{status}");
    assert_eq!(status["irr"]["as_sets"], 2, "{status}");
    assert_eq!(status["rpki"]["connected"], true, "{status}");
    assert_eq!(status["rpki"]["data"], "synced", "{status}");
    assert_eq!(status["rpki"]["vrps"], 2, "{status}");
    let metrics = api.get("/metrics").unwrap().text();
    assert!(metrics.contains("kumo_rpki_vrps 2"), "{metrics}");
    assert!(metrics.contains("kumo_rpki_cache_up 1"), "{metrics}");

    let since =
        |name: &str| -> anyhow::Result<String> { Ok(api.client(name)?["state_changed_at"].to_string()) };
    let (a_since, b_since) = (
        since(&format!("as{MEMBER_A}")).unwrap(),
        since(&format!("as{MEMBER_B}")).unwrap(),
    );

    // The ROA for 11.1.1.0/24 moves to another AS: 11.1.1.0/24 from AS3333 becomes invalid and
    // leaves GoBGP, with no session reset anywhere.
    cache
        .set_roas(&[Roa::new("11.1.1.0/24", 24, 64998), foreign_roa])
        .unwrap();
    let remaining: Vec<_> = accepted
        .iter()
        .copied()
        .filter(|p| *p != prefix("11.1.1.0/24"))
        .collect();
    eventually("11.1.1.0/24 to leave GoBGP after the ROA change", || {
        held(&remaining)
    })
    .unwrap();
    let reason = api
        .get_json(&format!("/api/v1/clients/as{MEMBER_A}/routes?view=filtered"))
        .unwrap();
    let invalid = reason["routes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["prefix"] == "11.1.1.0/24")
        .unwrap_or_else(|| panic!("11.1.1.0/24 not filtered: {reason}"));
    assert_eq!(invalid["filtered"]["code"], 14, "{invalid}");
    assert_eq!(
        since(&format!("as{MEMBER_A}")).unwrap(),
        a_since,
        "client A's session was reset"
    );
    assert_eq!(
        since(&format!("as{MEMBER_B}")).unwrap(),
        b_since,
        "client B's session was reset"
    );

    // And back: valid again, announced again.
    cache.set_roas(&[valid_roa, foreign_roa]).unwrap();
    eventually("11.1.1.0/24 to come back after the ROA is restored", || {
        held(&accepted)
    })
    .unwrap();
    kumo.check_running().unwrap();
}
