//! Table-driven tests: one row per filter case and per export community
//! (input route, client config, expected verdict and reason).

#![allow(clippy::unwrap_used, clippy::type_complexity)]

use super::*;
use kumo_sdk::prelude::*;
use kumo_sdk::testing;
use kumo_sdk::types::ClientTable;
use serde_json::{Value, json};

const RS_AS: u32 = 64500;

fn policy_with(config: Value, clients: &[Client]) -> RsStandard {
    let mut p: RsStandard = testing::build(&config.to_string()).unwrap();
    p.clients_changed(&ClientTable::new(clients.to_vec()));
    p
}

/// The client announcing: AS3333 at 192.0.2.1 (id 1).
fn client(params: Value) -> Client {
    Client::test(1, 3333)
        .with_address([192, 0, 2, 1])
        .with_params(params)
}

/// A second connection of AS3333 (same-as) and two other members.
fn others() -> Vec<Client> {
    vec![
        Client::test(2, 3333).with_address([192, 0, 2, 2]),
        Client::test(3, 6939).with_address([192, 0, 2, 3]),
        Client::test(4, 4_200_000_123).with_address([192, 0, 2, 4]),
        Client::test(5, 13335).with_address([192, 0, 2, 5]),
    ]
}

fn good() -> Attributes {
    Attributes::test().path([3333, 15169]).next_hop([192, 0, 2, 1])
}

/// Run one import of `prefix` and give (reject code, or None for accept).
fn import_one(
    module: Value,
    params: Value,
    attrs: &Attributes,
    prefix: &str,
) -> (Option<u16>, ImportVerdicts) {
    let c = client(params);
    let mut all = others();
    all.push(c.clone());
    let p = policy_with(module, &all);
    let v = testing::import(&p, &c, attrs, &prefixes(&[prefix]));
    (v.get(0).unwrap().rejection().map(|r| r.code), v)
}

fn base() -> Value {
    json!({"rs_as": RS_AS})
}

#[test]
fn import_table() {
    let long_path = std::iter::once(3333).chain(std::iter::repeat_n(15169, 40));
    // (name, module config, client params, attributes, prefix, expected code)
    let rows: Vec<(&str, Value, Value, Attributes, &str, Option<u16>)> = vec![
        (
            "plain route accepted",
            base(),
            json!({}),
            good(),
            "8.8.8.0/24",
            None,
        ),
        (
            "v6 route accepted",
            base(),
            json!({}),
            good(),
            "2a00:1450::/32",
            None,
        ),
        // NEXT_HOP (5)
        (
            "next hop of another AS",
            base(),
            json!({}),
            good().next_hop([192, 0, 2, 3]),
            "8.8.8.0/24",
            Some(5),
        ),
        (
            "next hop of same AS, strict",
            base(),
            json!({}),
            good().next_hop([192, 0, 2, 2]),
            "8.8.8.0/24",
            Some(5),
        ),
        (
            "next hop of same AS, same-as",
            base(),
            json!({"filtering": {"next_hop": {"policy": "same-as"}}}),
            good().next_hop([192, 0, 2, 2]),
            "8.8.8.0/24",
            None,
        ),
        (
            "same-as still refuses another AS",
            base(),
            json!({"filtering": {"next_hop": {"policy": "same-as"}}}),
            good().next_hop([192, 0, 2, 3]),
            "8.8.8.0/24",
            Some(5),
        ),
        (
            "authorised address list",
            base(),
            json!({"filtering": {"next_hop": {"policy": "authorized_addresses", "authorized_addresses_list": ["192.0.2.99"]}}}),
            good().next_hop([192, 0, 2, 99]),
            "8.8.8.0/24",
            None,
        ),
        (
            "next hop check off",
            base(),
            json!({"filtering": {"next_hop": {"policy": "off"}}}),
            good().next_hop([192, 0, 2, 99]),
            "8.8.8.0/24",
            None,
        ),
        // Left-most AS (6)
        (
            "left-most AS not the client's",
            base(),
            json!({}),
            good().path([6939, 15169]),
            "8.8.8.0/24",
            Some(6),
        ),
        (
            "empty AS_PATH",
            base(),
            json!({}),
            good().path([]),
            "8.8.8.0/24",
            Some(6),
        ),
        (
            "left-most check off",
            base(),
            json!({"filtering": {"enforce_peer_asn_leftmost": false}}),
            good().path([6939, 15169]),
            "8.8.8.0/24",
            None,
        ),
        // AS_PATH length (1)
        (
            "AS_PATH too long",
            base(),
            json!({}),
            good().path(long_path.clone()),
            "8.8.8.0/24",
            Some(1),
        ),
        (
            "AS_PATH limit raised per client",
            base(),
            json!({"filtering": {"max_as_path_len": 64}}),
            good().path(long_path.clone()),
            "8.8.8.0/24",
            None,
        ),
        // Invalid ASN (7)
        (
            "private ASN in path",
            base(),
            json!({}),
            good().path([3333, 65000, 15169]),
            "8.8.8.0/24",
            Some(7),
        ),
        (
            "AS_TRANS in path",
            base(),
            json!({}),
            good().path([3333, 23456]),
            "8.8.8.0/24",
            Some(7),
        ),
        (
            "invalid ASN check off",
            base(),
            json!({"filtering": {"reject_invalid_as_in_as_path": false}}),
            good().path([3333, 65000]),
            "8.8.8.0/24",
            None,
        ),
        // Transit-free (8)
        (
            "transit-free ASN behind the client",
            base(),
            json!({}),
            good().path([3333, 3356, 15169]),
            "8.8.8.0/24",
            Some(8),
        ),
        (
            "transit-free action none",
            base(),
            json!({"filtering": {"transit_free": {"action": "none"}}}),
            good().path([3333, 3356, 15169]),
            "8.8.8.0/24",
            None,
        ),
        (
            "transit-free list replaced",
            json!({"rs_as": RS_AS, "filtering": {"transit_free": {"asns": [15169]}}}),
            json!({}),
            good().path([3333, 3356, 15169]),
            "8.8.8.0/24",
            Some(8),
        ),
        // Never via route servers (15)
        (
            "never-via-RS ASN",
            json!({"rs_as": RS_AS, "filtering": {"never_via_route_servers": {"asns": [15169]}}}),
            json!({}),
            good(),
            "8.8.8.0/24",
            Some(15),
        ),
        // Bogons (2, 10)
        ("bogon v4", base(), json!({}), good(), "10.1.0.0/16", Some(2)),
        ("bogon v6", base(), json!({}), good(), "2001:db8:1::/48", Some(2)),
        (
            "v6 outside 2000::/3",
            base(),
            json!({}),
            good(),
            "fc00::/16",
            Some(10),
        ),
        (
            "bogon list overridden",
            json!({"rs_as": RS_AS, "filtering": {"bogons": {"ipv4": ["8.0.0.0/8"]}}}),
            json!({}),
            good(),
            "8.8.8.0/24",
            Some(2),
        ),
        (
            "overridden list no longer has 10/8",
            json!({"rs_as": RS_AS, "filtering": {"bogons": {"ipv4": ["8.0.0.0/8"]}}}),
            json!({}),
            good(),
            "10.1.0.0/16",
            None,
        ),
        (
            "bogon check off",
            base(),
            json!({"filtering": {"bogons": {"enabled": false}}}),
            good(),
            "10.1.0.0/16",
            None,
        ),
        // Global black list (3)
        (
            "global black list",
            json!({"rs_as": RS_AS, "filtering": {"global_black_list_pref": ["193.0.0.0/21"]}}),
            json!({}),
            good(),
            "193.0.4.0/22",
            Some(3),
        ),
        // Client black list (11)
        (
            "client black list, exact",
            base(),
            json!({"filtering": {"black_list_pref": [{"prefix": "8.8.8.0/24", "exact": true}]}}),
            good(),
            "8.8.8.0/24",
            Some(11),
        ),
        (
            "client black list, exact, other length passes",
            base(),
            json!({"filtering": {"black_list_pref": [{"prefix": "8.8.8.0/24", "exact": true}]}}),
            good(),
            "8.8.0.0/16",
            None,
        ),
        // Prefix length (13)
        ("v4 too long", base(), json!({}), good(), "8.8.8.0/25", Some(13)),
        ("v4 too short", base(), json!({}), good(), "8.0.0.0/7", Some(13)),
        (
            "v6 too long",
            base(),
            json!({}),
            good(),
            "2a00:1450::/49",
            Some(13),
        ),
        (
            "v6 /12 is the default minimum",
            base(),
            json!({}),
            good(),
            "2a00::/12",
            None,
        ),
        ("v6 too short", base(), json!({}), good(), "2000::/11", Some(13)),
        (
            "per-client v4 bounds",
            base(),
            json!({"filtering": {"ipv4_pref_len": {"min": 8, "max": 25}}}),
            good(),
            "8.8.8.0/25",
            None,
        ),
        // IRR step: white list (12)
        (
            "outside the white list",
            base(),
            json!({"filtering": {"irrdb": {"white_list_pref": ["8.8.0.0/16"]}}}),
            good(),
            "9.9.9.0/24",
            Some(12),
        ),
        (
            "inside the white list",
            base(),
            json!({"filtering": {"irrdb": {"white_list_pref": ["8.8.0.0/16"]}}}),
            good(),
            "8.8.8.0/24",
            None,
        ),
        // BLACKHOLE
        (
            "blackhole /32 from a client not allowed",
            base(),
            json!({}),
            good().community(65535, 666),
            "8.8.8.8/32",
            Some(13),
        ),
        (
            "blackhole /32 from an allowed client",
            base(),
            json!({"blackhole_filtering": {"allowed": true}}),
            good().community(65535, 666),
            "8.8.8.8/32",
            None,
        ),
        (
            "blackhole /128 from an allowed client",
            base(),
            json!({"blackhole_filtering": {"allowed": true}}),
            good().community(65535, 666),
            "2a00:1450::1/128",
            None,
        ),
        (
            "blackhole still refuses bogons",
            base(),
            json!({"blackhole_filtering": {"allowed": true}}),
            good().community(65535, 666),
            "10.0.0.1/32",
            Some(2),
        ),
        (
            "blackhole limit lowered",
            base(),
            json!({"blackhole_filtering": {"allowed": true, "ipv4_max_len": 28}}),
            good().community(65535, 666),
            "8.8.8.8/32",
            Some(13),
        ),
        (
            "/32 without BLACKHOLE from an allowed client",
            base(),
            json!({"blackhole_filtering": {"allowed": true}}),
            good(),
            "8.8.8.8/32",
            Some(13),
        ),
    ];
    let mut failures = Vec::new();
    for (name, module, params, attrs, prefix, expected) in rows {
        let (got, v) = import_one(module, params, &attrs, prefix);
        if got != expected {
            failures.push(format!(
                "{name}: expected {expected:?}, got {got:?} ({:?})",
                v.get(0)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn transit_free_client_may_be_left_most() {
    let c = Client::test(7, 3356).with_address([192, 0, 2, 7]);
    let p = policy_with(base(), std::slice::from_ref(&c));
    let attrs = Attributes::test().path([3356, 15169]).next_hop([192, 0, 2, 7]);
    let v = testing::import(&p, &c, &attrs, &prefixes(&["8.8.8.0/24"]));
    assert!(v.get(0).unwrap().is_accept(), "{v:?}");
    let attrs = Attributes::test()
        .path([3356, 1299, 15169])
        .next_hop([192, 0, 2, 7]);
    let v = testing::import(&p, &c, &attrs, &prefixes(&["8.8.8.0/24"]));
    assert_eq!(
        v.get(0).unwrap().rejection().unwrap().code,
        reject::TRANSIT_FREE_ASN
    );
}

#[test]
fn reject_texts_are_arouteserver_compatible() {
    let (_, v) = import_one(base(), json!({}), &good().next_hop([192, 0, 2, 9]), "8.8.8.0/24");
    let r = v.get(0).unwrap().rejection().unwrap();
    assert!(r.text.starts_with("Invalid NEXT_HOP"), "{}", r.text);
    assert!(r.text.contains("192.0.2.9"), "{}", r.text);
    let (_, v) = import_one(base(), json!({}), &good(), "10.0.0.0/16");
    assert_eq!(v.get(0).unwrap().rejection().unwrap().text, "Prefix is bogon");
}

#[test]
fn mixed_batch_rejects_per_prefix() {
    let c = client(json!({}));
    let p = policy_with(base(), std::slice::from_ref(&c));
    let batch = prefixes(&[
        "8.8.8.0/24",
        "10.0.0.0/8",
        "8.8.8.0/25",
        "9.9.9.0/24",
        "fe80::/64",
    ]);
    let v = testing::import(&p, &c, &good(), &batch);
    let codes: Vec<Option<u16>> = v.iter().map(|o| o.rejection().map(|r| r.code)).collect();
    assert_eq!(codes, vec![None, Some(2), Some(13), None, Some(10)]);
}

#[test]
fn blackhole_modifications() {
    let allowed = client(json!({"blackhole_filtering": {"allowed": true}}));
    let p = policy_with(base(), std::slice::from_ref(&allowed));
    let v = testing::import(
        &p,
        &allowed,
        &good().community(65535, 666),
        &prefixes(&["8.8.8.8/32"]),
    );
    let m = v.get(0).unwrap().modification().unwrap();
    assert_eq!(m.add_communities, vec![Community::NO_EXPORT]);
    assert!(m.remove_communities.is_empty());

    // No NO_EXPORT when switched off.
    let quiet = client(json!({"blackhole_filtering": {"allowed": true, "add_noexport": false}}));
    let p = policy_with(base(), std::slice::from_ref(&quiet));
    let v = testing::import(
        &p,
        &quiet,
        &good().community(65535, 666),
        &prefixes(&["8.8.8.8/32"]),
    );
    assert!(v.get(0).unwrap().modification().is_none());

    // Not allowed: a normal-length route keeps flowing, without BLACKHOLE.
    let other = client(json!({}));
    let p = policy_with(base(), std::slice::from_ref(&other));
    let v = testing::import(
        &p,
        &other,
        &good().community(65535, 666),
        &prefixes(&["8.8.8.0/24"]),
    );
    let m = v.get(0).unwrap().modification().unwrap();
    assert_eq!(m.remove_communities, vec![Community::BLACKHOLE]);

    // ... unless stripping is off: then it passes untouched.
    let keep = client(json!({"blackhole_filtering": {"strip_unauthorised": false}}));
    let p = policy_with(base(), std::slice::from_ref(&keep));
    let v = testing::import(
        &p,
        &keep,
        &good().community(65535, 666),
        &prefixes(&["8.8.8.0/24"]),
    );
    assert!(v.get(0).unwrap().modification().is_none());
}

#[test]
fn blackhole_next_hop_rewritten_per_family() {
    let module = json!({"rs_as": RS_AS, "blackhole_filtering": {
        "policy": "rewrite-next-hop",
        "rewrite_next_hop_ipv4": "192.0.2.66",
        "rewrite_next_hop_ipv6": "2001:db8::66"
    }});
    let allowed = client(json!({"blackhole_filtering": {"allowed": true}}));
    let p = policy_with(module.clone(), std::slice::from_ref(&allowed));
    let blackholed = good().community(65535, 666);
    let v = testing::import(
        &p,
        &allowed,
        &blackholed,
        &prefixes(&["8.8.8.8/32", "2a00:1450::1/128"]),
    );
    let next_hops: Vec<_> = (0..2)
        .map(|i| v.get(i).unwrap().modification().unwrap().next_hop)
        .collect();
    assert_eq!(
        next_hops,
        [
            Some("192.0.2.66".parse().unwrap()),
            Some("2001:db8::66".parse().unwrap())
        ]
    );
    // Without the community: the next hop stays.
    let v = testing::import(&p, &allowed, &good(), &prefixes(&["8.8.8.0/24"]));
    assert!(v.get(0).unwrap().modification().is_none());
    // Only IPv4 configured: IPv6 blackhole routes keep theirs.
    let v4_only = json!({"rs_as": RS_AS, "blackhole_filtering": {
        "policy": "rewrite-next-hop", "rewrite_next_hop_ipv4": "192.0.2.66"
    }});
    let p = policy_with(v4_only, std::slice::from_ref(&allowed));
    let v = testing::import(&p, &allowed, &blackholed, &prefixes(&["2a00:1450::1/128"]));
    assert_eq!(v.get(0).unwrap().modification().unwrap().next_hop, None);
}

#[test]
fn graceful_shutdown_lowers_preference() {
    let c = client(json!({}));
    let p = policy_with(base(), std::slice::from_ref(&c));
    let v = testing::import(&p, &c, &good().community(65535, 0), &prefixes(&["8.8.8.0/24"]));
    assert_eq!(v.get(0).unwrap().modification().unwrap().preference, Some(0));
    // Without the community: untouched.
    let v = testing::import(&p, &c, &good(), &prefixes(&["8.8.8.0/24"]));
    assert!(v.get(0).unwrap().modification().is_none());
    // A configured value; and switched off per client.
    let p = policy_with(
        json!({"rs_as": RS_AS, "graceful_shutdown": {"local_pref": 7}}),
        std::slice::from_ref(&c),
    );
    let v = testing::import(&p, &c, &good().community(65535, 0), &prefixes(&["8.8.8.0/24"]));
    assert_eq!(v.get(0).unwrap().modification().unwrap().preference, Some(7));
    let off = client(json!({"graceful_shutdown": {"enabled": false}}));
    let p = policy_with(base(), std::slice::from_ref(&off));
    let v = testing::import(&p, &off, &good().community(65535, 0), &prefixes(&["8.8.8.0/24"]));
    assert!(v.get(0).unwrap().modification().is_none());
}

#[test]
fn bad_client_params_fail_closed() {
    let c = client(json!({"filtering": {"ipv4_pref_len": {"min": 30, "max": 24}}}));
    let p = policy_with(base(), std::slice::from_ref(&c));
    assert!(matches!(p.client(1), Some(Err(_))));
    let v = testing::import(&p, &c, &good(), &prefixes(&["8.8.8.0/24"]));
    let r = v.get(0).unwrap().rejection().unwrap();
    assert_eq!(r.code, reject::POLICY_ERROR);
    assert!(r.text.contains("ipv4_pref_len"), "{}", r.text);
    // Unknown keys inside a section are refused; other modules' keys are not.
    let typo = client(json!({"filtering": {"max_as_path_lenght": 3}}));
    let p = policy_with(base(), std::slice::from_ref(&typo));
    assert!(matches!(p.client(1), Some(Err(e)) if e.contains("max_as_path_lenght")));
    let foreign = client(json!({"as_set": "AS-EXAMPLE"}));
    let p = policy_with(base(), &[foreign]);
    assert!(matches!(p.client(1), Some(Ok(_))));
}

#[test]
fn module_config_errors() {
    for (config, needle) in [
        (json!({}), "rs_as"),
        (json!({"rs_as": 1, "colour": 1}), "colour"),
        (
            json!({"rs_as": 1, "filtering": {"ipv6_pref_len": {"min": 8, "max": 129}}}),
            "ipv6_pref_len",
        ),
        (
            json!({"rs_as": 1, "filtering": {"bogons": {"ipv4": ["2001:db8::/32"]}}}),
            "ipv4",
        ),
        (
            json!({"rs_as": 1, "filtering": {"next_hop": {"policy": "loose"}}}),
            "loose",
        ),
        (
            json!({"rs_as": 1, "blackhole_filtering": {"policy": "rewrite-next-hop"}}),
            "rewrite_next_hop_ipv4",
        ),
        (
            json!({"rs_as": 1, "blackhole_filtering": {"policy": "drop-it"}}),
            "rewrite-next-hop",
        ),
        (
            json!({"rs_as": 1, "communities": {"announce_to_peer": {"std": "0:1"}}}),
            "peer_as",
        ),
        (
            json!({"rs_as": 1, "communities": {"do_not_announce_to_any": {"lrg": "1:0:peer_as"}}}),
            "must not",
        ),
        (
            json!({"rs_as": 1, "communities": {"do_not_announce_to_peer": {"lrg": "x"}}}),
            "lrg",
        ),
        (
            json!({"rs_as": 4_200_000_000u32, "communities": {"announce_to_peer": {"std": "rs_as:peer_as"}}}),
            "16 bits",
        ),
    ] {
        let err = testing::build::<RsStandard>(&config.to_string()).unwrap_err();
        assert!(err.contains(needle), "{config}: {err}");
    }
    // A 32-bit rs_as silently drops the default standard forms that name it.
    let p: RsStandard = testing::build(r#"{"rs_as": 4200000000}"#).unwrap();
    assert!(p.config().actions.announce_to_peer.std.is_none());
    assert!(p.config().actions.announce_to_peer.lrg.is_some());
    assert!(p.config().actions.do_not_announce_to_peer.std.is_some());
    assert!(p.self_test().is_ok());
}

// ---- export ----

/// Export `attrs` from client 1 to the others; (allowed ASNs, prepend per ASN, per-target modifications).
fn export(module: Value, attrs: &Attributes) -> (Vec<u32>, ExportVerdicts, Vec<Client>) {
    let mut all = others();
    let source = client(json!({}));
    all.push(source.clone());
    let p = policy_with(module, &all);
    let targets = others();
    let v = testing::export(&p, &source, attrs, &prefixes(&["8.8.8.0/24"])[0], &targets);
    let allowed = targets
        .iter()
        .enumerate()
        .filter(|(i, _)| v.is_allowed(*i))
        .map(|(_, c)| c.asn)
        .collect();
    (allowed, v, targets)
}

const BIG: u32 = 4_200_000_123;

#[test]
fn export_table() {
    let all = vec![3333, 6939, BIG, 13335];
    // (name, communities, large communities, expected receivers)
    let rows: Vec<(&str, Vec<(u16, u16)>, Vec<(u32, u32, u32)>, Vec<u32>)> = vec![
        ("no communities", vec![], vec![], all.clone()),
        (
            "unrelated communities",
            vec![(3333, 100), (65535, 65281)],
            vec![(3333, 1, 2)],
            all.clone(),
        ),
        ("0:peer", vec![(0, 6939)], vec![], vec![3333, BIG, 13335]),
        (
            "0:peer twice",
            vec![(0, 6939), (0, 13335)],
            vec![],
            vec![3333, BIG],
        ),
        (
            "large rs:0:peer (32-bit)",
            vec![],
            vec![(RS_AS, 0, BIG)],
            vec![3333, 6939, 13335],
        ),
        ("0:rs_as", vec![(0, RS_AS as u16)], vec![], vec![]),
        ("large rs:0:0", vec![], vec![(RS_AS, 0, 0)], vec![]),
        (
            "0:rs_as + rs:peer",
            vec![(0, RS_AS as u16), (RS_AS as u16, 6939)],
            vec![],
            vec![6939],
        ),
        (
            "0:rs_as + large rs:1:peer",
            vec![(0, RS_AS as u16)],
            vec![(RS_AS, 1, BIG)],
            vec![BIG],
        ),
        (
            "rs:peer alone means only",
            vec![(RS_AS as u16, 13335)],
            vec![],
            vec![13335],
        ),
        (
            "large rs:1:peer alone",
            vec![],
            vec![(RS_AS, 1, 6939)],
            vec![6939],
        ),
        (
            "deny wins over announce",
            vec![(RS_AS as u16, 6939), (0, 6939)],
            vec![],
            vec![],
        ),
        (
            "same-AS peers both named",
            vec![(0, 3333)],
            vec![],
            vec![6939, BIG, 13335],
        ),
        (
            "another RS's 0:X is only for that peer",
            vec![(0, 64999)],
            vec![],
            all.clone(),
        ),
        (
            "large of another RS ignored",
            vec![],
            vec![(64999, 0, 6939)],
            all.clone(),
        ),
        (
            "prepend requests do not filter",
            vec![(65511, 6939), (65502, RS_AS as u16)],
            vec![],
            all.clone(),
        ),
    ];
    let mut failures = Vec::new();
    for (name, std, lrg, expected) in rows {
        let mut attrs = good();
        for (a, b) in std {
            attrs = attrs.community(a, b);
        }
        for (a, b, c) in lrg {
            attrs = attrs.large_community(a, b, c);
        }
        let (got, _, _) = export(base(), &attrs);
        if got != expected {
            failures.push(format!("{name}: expected {expected:?}, got {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn announce_to_peer_alone_can_follow_arouteserver() {
    let module = json!({"rs_as": RS_AS, "announce_to_peer_only": false});
    let (got, _, _) = export(module, &good().community(RS_AS as u16, 13335));
    assert_eq!(got, vec![3333, 6939, BIG, 13335]);
}

fn prepend_of(v: &ExportVerdicts, targets: &[Client], asn: u32) -> u8 {
    let i = targets.iter().position(|c| c.asn == asn).unwrap();
    v.modification(i).map_or(0, |m| m.prepend)
}

#[test]
fn prepend_table() {
    // (name, std, large, expected prepends for [3333, 6939, BIG, 13335])
    let rows: Vec<(&str, Vec<(u16, u16)>, Vec<(u32, u32, u32)>, [u8; 4])> = vec![
        ("none", vec![], vec![], [0, 0, 0, 0]),
        ("once to peer", vec![(65511, 6939)], vec![], [0, 1, 0, 0]),
        ("twice to peer", vec![(65512, 6939)], vec![], [0, 2, 0, 0]),
        ("thrice to peer", vec![(65513, 13335)], vec![], [0, 0, 0, 3]),
        (
            "large twice to 32-bit peer",
            vec![],
            vec![(RS_AS, 102, BIG)],
            [0, 0, 2, 0],
        ),
        (
            "large thrice to peer",
            vec![],
            vec![(RS_AS, 103, 6939)],
            [0, 3, 0, 0],
        ),
        ("once to any", vec![(65501, RS_AS as u16)], vec![], [1, 1, 1, 1]),
        ("large twice to any", vec![], vec![(RS_AS, 102, 0)], [2, 2, 2, 2]),
        ("thrice to any", vec![(65503, RS_AS as u16)], vec![], [3, 3, 3, 3]),
        (
            "to peer overrides to any",
            vec![(65503, RS_AS as u16), (65511, 6939)],
            vec![],
            [3, 1, 3, 3],
        ),
        (
            "lowest to peer wins",
            vec![(65513, 6939), (65511, 6939)],
            vec![],
            [0, 1, 0, 0],
        ),
        (
            "lowest to peer wins, either order",
            vec![(65511, 6939), (65513, 6939)],
            vec![],
            [0, 1, 0, 0],
        ),
        (
            "lowest wins across forms",
            vec![(65513, 6939)],
            vec![(RS_AS, 102, 6939)],
            [0, 2, 0, 0],
        ),
    ];
    let mut failures = Vec::new();
    for (name, std, lrg, expected) in rows {
        let mut attrs = good();
        for (a, b) in std {
            attrs = attrs.community(a, b);
        }
        for (a, b, c) in lrg {
            attrs = attrs.large_community(a, b, c);
        }
        let (_, v, targets) = export(base(), &attrs);
        let got = [3333, 6939, BIG, 13335].map(|asn| prepend_of(&v, &targets, asn));
        if got != expected {
            failures.push(format!("{name}: expected {expected:?}, got {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn interpreted_communities_are_stripped_and_others_kept() {
    let attrs = good()
        .community(0, 6939)
        .community(65511, 13335)
        .community(3333, 100)
        .community(65535, 0)
        .large_community(RS_AS, 0, BIG)
        .large_community(3333, 1, 1)
        .large_community(RS_AS, 1000, 1);
    let (got, v, targets) = export(base(), &attrs);
    assert_eq!(got, vec![3333, 13335]);
    for (i, _) in targets.iter().enumerate().filter(|(i, _)| v.is_allowed(*i)) {
        let m = v.modification(i).unwrap();
        assert_eq!(
            m.remove_communities,
            vec![Community::new(0, 6939), Community::new(65511, 13335)]
        );
        assert_eq!(
            m.remove_large_communities,
            vec![LargeCommunity::new(RS_AS, 0, BIG)]
        );
        assert!(m.add_communities.is_empty() && m.add_large_communities.is_empty());
    }
    // A route without action communities gets no modification at all.
    let (_, v, _) = export(base(), &good().community(3333, 100));
    assert!((0..4).all(|i| v.modification(i).is_none()));
}

#[test]
fn custom_community_values() {
    let module = json!({"rs_as": RS_AS, "communities": {
        "do_not_announce_to_peer": {"std": "65000:peer_as", "lrg": ""},
        "prepend_once_to_peer": {"std": ""}
    }});
    // The default 0:peer no longer means anything (and is not stripped).
    let (got, v, _) = export(module.clone(), &good().community(0, 6939));
    assert_eq!(got, vec![3333, 6939, BIG, 13335]);
    assert!((0..4).all(|i| v.modification(i).is_none()));
    let (got, _, _) = export(module.clone(), &good().community(65000, 6939));
    assert_eq!(got, vec![3333, BIG, 13335]);
    let (got, _, _) = export(module.clone(), &good().large_community(RS_AS, 0, 6939));
    assert_eq!(got, vec![3333, 6939, BIG, 13335]);
    let (_, v, targets) = export(module, &good().community(65511, 6939));
    assert_eq!(prepend_of(&v, &targets, 6939), 0);
}

#[test]
fn blackhole_routes_skip_clients_that_opt_out() {
    let mut all = others();
    all[1] = all[1]
        .clone()
        .with_params(json!({"blackhole_filtering": {"announce_to_client": false}}));
    let source = client(json!({}));
    all.push(source.clone());
    let p = policy_with(base(), &all);
    let targets = &all[..4];
    let attrs = good().community(65535, 666);
    let v = testing::export(&p, &source, &attrs, &prefixes(&["8.8.8.8/32"])[0], targets);
    assert_eq!(
        (0..4).map(|i| v.is_allowed(i)).collect::<Vec<_>>(),
        vec![true, false, true, true]
    );
    // A normal route still reaches it.
    let v = testing::export(&p, &source, &good(), &prefixes(&["8.8.8.0/24"])[0], targets);
    assert!(v.is_allowed(1));
}

#[test]
fn clients_changed_rebuilds_same_as_addresses() {
    let c = client(json!({"filtering": {"next_hop": {"policy": "same-as"}}}));
    let mut p = policy_with(base(), std::slice::from_ref(&c));
    let attrs = good().next_hop([192, 0, 2, 2]);
    assert_eq!(
        testing::import(&p, &c, &attrs, &prefixes(&["8.8.8.0/24"])).accepted(),
        0
    );
    // The second AS3333 connection appears.
    let mut all = others();
    all.push(c.clone());
    p.clients_changed(&ClientTable::new(all));
    assert_eq!(
        testing::import(&p, &c, &attrs, &prefixes(&["8.8.8.0/24"])).accepted(),
        1
    );
}

/// IRR and RPKI data for the IRR/RPKI table: AS-3333 holds AS3333 and
/// AS15169 with their route objects; VRPs for 8.8.8.0/24 (AS15169) and
/// 1.1.1.0/24 (AS13335).
fn route_data() -> kumo_sdk::data::testing::Installed {
    kumo_sdk::data::testing::TestData::new()
        .as_set(
            "AS-3333",
            &[3333, 15169],
            &["8.8.8.0/24", "8.8.4.0/22", "2a00:1450::/32"],
        )
        .as_set("AS-EMPTY", &[64999], &[])
        .roa("8.8.8.0/24", 24, 15169)
        .roa("1.1.1.0/24", 24, 13335)
        .roa("2a00:1450::/32", 48, 15169)
        .install()
}

/// The module config of the IRR/RPKI table: every tag configured.
fn tagging() -> Value {
    json!({"rs_as": RS_AS, "communities": {
        "origin_present_in_as_set": {"lrg": "rs_as:1000:1"},
        "origin_not_present_in_as_set": {"lrg": "rs_as:1000:2"},
        "prefix_present_in_as_set": {"lrg": "rs_as:1000:3"},
        "prefix_not_present_in_as_set": {"lrg": "rs_as:1000:4"},
        "roa_valid": {"lrg": "rs_as:1000:5"},
        "roa_invalid": {"lrg": "rs_as:1000:6"},
        "roa_unknown": {"std": "65000:7", "lrg": "rs_as:1000:7"}
    }})
}

fn tag(n: u32) -> LargeCommunity {
    LargeCommunity::new(RS_AS, 1000, n)
}

#[test]
fn irr_and_rpki_table() {
    let _data = route_data();
    let irr = |extra: Value| {
        let mut p = json!({"filtering": {"irrdb": {"as_sets": ["AS-3333"]}}});
        merge_json(&mut p, &extra);
        p
    };
    let rpki = |reject_invalid: bool| json!({"filtering": {"rpki_bgp_origin_validation": {"enabled": true, "reject_invalid": reject_invalid}}});
    let as_set_origin = || {
        let mut a = good();
        a.as_path.segments.push(kumo_sdk::Segment {
            kind: kumo_sdk::SegmentKind::Set,
            asns: vec![15169, 13335],
        });
        a
    };
    // (name, client params, attributes, prefix, expected code, tags the accepted route must carry)
    let rows: Vec<(&str, Value, Attributes, &str, Option<u16>, Vec<u32>)> = vec![
        (
            "no AS-SET configured: no IRR check",
            json!({}),
            good(),
            "9.9.9.0/24",
            None,
            vec![],
        ),
        (
            "origin in set, prefix registered",
            irr(json!({})),
            good(),
            "8.8.8.0/24",
            None,
            vec![1, 3],
        ),
        (
            "v6 prefix registered",
            irr(json!({})),
            good(),
            "2a00:1450::/32",
            None,
            vec![1, 3],
        ),
        (
            "origin not in set",
            irr(json!({})),
            good().path([3333, 13335]),
            "8.8.8.0/24",
            Some(9),
            vec![],
        ),
        (
            "prefix not registered",
            irr(json!({})),
            good(),
            "9.9.9.0/24",
            Some(12),
            vec![],
        ),
        (
            "more specific, exact matches only",
            irr(json!({})),
            good(),
            "8.8.5.0/24",
            Some(12),
            vec![],
        ),
        (
            "more specific with allow_longer_prefixes",
            irr(json!({"filtering": {"irrdb": {"allow_longer_prefixes": true}}})),
            good(),
            "8.8.5.0/24",
            None,
            vec![1, 3],
        ),
        (
            "unknown AS-SET: nothing is in it",
            json!({"filtering": {"irrdb": {"as_sets": ["AS-NOWHERE"]}}}),
            good(),
            "8.8.8.0/24",
            Some(9),
            vec![],
        ),
        (
            "second AS-SET of the client covers it",
            json!({"filtering": {"irrdb": {"as_sets": ["AS-EMPTY", "AS-3333"]}}}),
            good(),
            "8.8.8.0/24",
            None,
            vec![1, 3],
        ),
        (
            "white-listed prefix not registered",
            irr(json!({"filtering": {"irrdb": {"white_list_pref": ["9.9.9.0/24"]}}})),
            good(),
            "9.9.9.0/24",
            None,
            vec![1, 3],
        ),
        (
            "white-listed origin not in set",
            irr(json!({"filtering": {"irrdb": {"white_list_asn": [13335]}}})),
            good().path([3333, 13335]),
            "8.8.8.0/24",
            None,
            vec![1, 3],
        ),
        (
            "origin not enforced: tagged",
            irr(json!({"filtering": {"irrdb": {"enforce_origin_in_as_set": false}}})),
            good().path([3333, 13335]),
            "8.8.8.0/24",
            None,
            vec![2, 3],
        ),
        (
            "prefix not enforced: tagged",
            irr(json!({"filtering": {"irrdb": {"enforce_prefix_in_as_set": false}}})),
            good(),
            "9.9.9.0/24",
            None,
            vec![1, 4],
        ),
        (
            "RPKI off: invalid accepted",
            json!({}),
            good(),
            "1.1.1.0/24",
            None,
            vec![],
        ),
        (
            "RPKI invalid rejected",
            rpki(true),
            good(),
            "1.1.1.0/24",
            Some(14),
            vec![],
        ),
        (
            "RPKI invalid only tagged",
            rpki(false),
            good(),
            "1.1.1.0/24",
            None,
            vec![6],
        ),
        (
            "longer than /48: the length check runs before RPKI",
            rpki(true),
            good(),
            "2a00:1450:1:100::/56",
            Some(13),
            vec![],
        ),
        (
            "RPKI valid tagged",
            rpki(true),
            good(),
            "8.8.8.0/24",
            None,
            vec![5],
        ),
        (
            "RPKI valid v6",
            rpki(true),
            good(),
            "2a00:1450:1::/48",
            None,
            vec![5],
        ),
        (
            "RPKI not-found tagged unknown",
            rpki(true),
            good(),
            "9.9.9.0/24",
            None,
            vec![7],
        ),
        (
            "RPKI: AS_SET origin is NONE, covered: invalid",
            rpki(true),
            as_set_origin(),
            "8.8.8.0/24",
            Some(14),
            vec![],
        ),
        (
            "RPKI: AS_SET origin is NONE, not covered",
            rpki(true),
            as_set_origin(),
            "9.9.9.0/24",
            None,
            vec![7],
        ),
        (
            "IRR before RPKI: IRR reason wins",
            {
                let mut p = irr(json!({}));
                merge_json(&mut p, &rpki(true));
                p
            },
            good(),
            "1.1.1.0/24",
            Some(12),
            vec![],
        ),
        (
            "IRR and RPKI both pass",
            {
                let mut p = irr(json!({}));
                merge_json(&mut p, &rpki(true));
                p
            },
            good(),
            "8.8.8.0/24",
            None,
            vec![1, 3, 5],
        ),
    ];
    for (name, params, attrs, prefix, code, tags) in rows {
        let (got, v) = import_one(tagging(), params, &attrs, prefix);
        assert_eq!(got, code, "{name}: {:?}", v.get(0));
        if code.is_none() {
            let added: Vec<u32> = v
                .get(0)
                .unwrap()
                .modification()
                .map(|m| m.add_large_communities.iter().map(|c| c.data2).collect())
                .unwrap_or_default();
            assert_eq!(added, tags, "{name}: tags");
        }
    }
}

/// Merge `over` into `base` (objects key by key) for building params.
fn merge_json(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                merge_json(b.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (b, o) => *b = o.clone(),
    }
}

#[test]
fn irr_and_rpki_look_ups_cover_a_mixed_batch_in_order() {
    let _data = route_data();
    let params = json!({"filtering": {
        "irrdb": {"as_sets": ["AS-3333"], "allow_longer_prefixes": true},
        "rpki_bgp_origin_validation": {"enabled": true, "reject_invalid": true}
    }});
    let c = client(params);
    let p = policy_with(base(), std::slice::from_ref(&c));
    let batch = prefixes(&[
        "8.8.8.0/24",
        "10.0.0.0/8",
        "9.9.9.0/24",
        "8.8.4.0/24",
        "8.8.9.0/24",
    ]);
    let v = testing::import(&p, &c, &good(), &batch);
    let codes: Vec<Option<u16>> = (0..batch.len())
        .map(|i| v.get(i).unwrap().rejection().map(|r| r.code))
        .collect();
    // registered and RPKI valid; bogon (before any look-up); not registered;
    // a more specific of the registered /22, RPKI not-found; outside every
    // route object.
    assert_eq!(codes, [None, Some(2), Some(12), None, Some(12)]);
}

#[test]
fn clients_cannot_forge_the_route_servers_tags() {
    let _data = route_data();
    let forged = good().large_community(RS_AS, 1000, 5).community(65000, 7);
    let (code, v) = import_one(tagging(), json!({}), &forged, "9.9.9.0/24");
    assert_eq!(code, None);
    let m = v.get(0).unwrap().modification().unwrap();
    assert!(m.remove_large_communities.contains(&tag(5)));
    assert!(m.remove_communities.contains(&Community::new(65000, 7)));
}

/// `export_uses_prefix` is `false`: the same attributes give the same
/// verdict (receivers and modifications) whatever the prefix.
#[test]
fn export_ignores_the_prefix() {
    assert!(!policy_with(base(), &others()).export_uses_prefix());
    let sets = [
        good(),
        good().community(0, 6939),
        good().community(RS_AS as u16, 13335).community(65511, 6939),
        good().large_community(RS_AS, 0, BIG),
        good().community(65535, 666),
    ];
    let mut all = others();
    let source = client(json!({}));
    all.push(source.clone());
    let p = policy_with(base(), &all);
    let targets = others();
    for attrs in &sets {
        let list = prefixes(&[
            "8.8.8.0/24",
            "9.9.9.9/32",
            "10.0.0.0/8",
            "2a00:1450::/32",
            "2001:db8::1/128",
        ]);
        assert_eq!(
            testing::check_export_uses_prefix(&p, &source, attrs, &list, &targets),
            Ok(()),
            "{attrs:?}"
        );
    }
}
