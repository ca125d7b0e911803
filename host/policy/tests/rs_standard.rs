//! The embedded `rs-standard` component through the real wasmtime host:
//! import verdicts with reject codes and modifications, export receivers,
//! prepends and stripped action communities, and configuration refusal.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use common::*;
use kumo_policy::*;
use kumo_wire::LargeCommunity;

const RS_AS: u32 = 64500;

fn rs_standard() -> Arc<PolicyModule> {
    load(
        "rs-standard",
        builtin::RS_STANDARD,
        serde_json::json!({"rs_as": RS_AS}),
    )
}

/// The common clients, with client 1 (AS3333) allowed to blackhole and
/// client 3 (AS13335) opted out of receiving blackhole routes.
fn ix_clients() -> Vec<ClientCtx> {
    let mut all = clients();
    all[0].params = serde_json::json!({"blackhole_filtering": {"allowed": true}});
    all[2].params = serde_json::json!({"blackhole_filtering": {"announce_to_client": false}});
    all
}

fn code(result: &ImportResult) -> Option<u16> {
    match result {
        ImportResult::Reject { code, .. } => Some(*code),
        ImportResult::Accept { .. } => None,
    }
}

#[test]
fn import_verdicts_through_wasmtime() {
    let module = rs_standard();
    let chain = std::slice::from_ref(&module);
    let mut worker = engine().worker();
    worker.set_clients(&ix_clients());

    // Per-prefix checks in one call: accepted, bogon, too long, v6 outside 2000::/3.
    let p = prefixes(&["8.8.8.0/24", "10.0.0.0/8", "8.8.8.0/25", "fc00::/16"]);
    let out = worker.import(chain, 1, &attrs(&[3333, 15169], "192.0.2.1"), None, &p);
    let codes: Vec<Option<u16>> = out.iter().map(code).collect();
    assert_eq!(codes, vec![None, Some(2), Some(13), Some(10)], "{out:?}");
    let ImportResult::Reject { text, policy, .. } = &out[1] else {
        panic!()
    };
    assert_eq!((&**text, &**policy), ("Prefix is bogon", "rs-standard"));

    // Attribute-wide checks: NEXT_HOP (5), left-most AS (6), invalid ASN (7), transit-free (8).
    for (path, next_hop, expected) in [
        (&[3333u32, 15169][..], "192.0.2.2", 5u16),
        (&[6939, 15169][..], "192.0.2.1", 6),
        (&[3333, 65000, 15169][..], "192.0.2.1", 7),
        (&[3333, 3356, 15169][..], "192.0.2.1", 8),
    ] {
        let out = worker.import(chain, 1, &attrs(path, next_hop), None, &p[..1]);
        assert_eq!(code(&out[0]), Some(expected), "{path:?} via {next_hop}: {out:?}");
    }

    // BLACKHOLE /32 from a client allowed to: accepted, NO_EXPORT added.
    let mut blackhole = attrs(&[3333, 15169], "192.0.2.1");
    blackhole.communities.push(0xFFFF_029A);
    let out = worker.import(chain, 1, &blackhole, None, &prefixes(&["8.8.8.8/32"]));
    let ImportResult::Accept {
        modified: Some(tagged),
        ..
    } = &out[0]
    else {
        panic!("{out:?}")
    };
    assert!(tagged.communities.contains(&0xFFFF_FF01), "{tagged:?}");
    // ... and from a client not allowed to: a /32 is too long.
    let mut from_2 = attrs(&[6939, 15169], "192.0.2.2");
    from_2.communities.push(0xFFFF_029A);
    let out = worker.import(chain, 2, &from_2, None, &prefixes(&["8.8.8.8/32"]));
    assert_eq!(code(&out[0]), Some(13), "{out:?}");

    // GRACEFUL_SHUTDOWN: accepted with preference 0.
    let mut gshut = attrs(&[3333, 15169], "192.0.2.1");
    gshut.communities.push(0xFFFF_0000);
    let out = worker.import(chain, 1, &gshut, None, &p[..1]);
    assert!(
        matches!(
            &out[0],
            ImportResult::Accept {
                preference: Some(0),
                ..
            }
        ),
        "{out:?}"
    );
}

#[test]
fn export_communities_through_wasmtime() {
    let module = rs_standard();
    let chain = std::slice::from_ref(&module);
    let mut worker = engine().worker();
    worker.set_clients(&ix_clients());
    let prefix = prefixes(&["8.8.8.0/24"])[0];
    let targets = [2u32, 3];
    let with = |communities: &[u32]| {
        let mut a = attrs(&[3333, 15169], "192.0.2.1");
        a.communities.extend_from_slice(communities);
        a
    };

    // No action community: everyone, untouched.
    let out = worker.export(chain, 1, &with(&[(3333 << 16) | 100]), &prefix, &targets);
    assert_eq!(out.receivers.iter().collect::<Vec<_>>(), vec![0, 1]);
    assert!(out.modified.is_empty());

    // 0:6939: not to client 2; the community is stripped towards client 3.
    let out = worker.export(chain, 1, &with(&[6939, (3333 << 16) | 100]), &prefix, &targets);
    assert_eq!(out.receivers.iter().collect::<Vec<_>>(), vec![1]);
    let (target, sent) = out.modified_targets()[0];
    assert_eq!(target, 1);
    assert_eq!(sent.communities, vec![(3333 << 16) | 100]);

    // 0:rs_as + rs_as:13335: only client 3.
    let out = worker.export(
        chain,
        1,
        &with(&[RS_AS, (RS_AS << 16) | 13335]),
        &prefix,
        &targets,
    );
    assert_eq!(out.receivers.iter().collect::<Vec<_>>(), vec![1]);

    // Large rs_as:0:0: nobody.
    let mut none = with(&[]);
    none.large_communities.push(LargeCommunity {
        global_admin: RS_AS,
        local_data1: 0,
        local_data2: 0,
    });
    assert_eq!(
        worker
            .export(chain, 1, &none, &prefix, &targets)
            .receivers
            .count(),
        0
    );

    // 65512:6939: client 2 gets the path prepended twice, without the request.
    let out = worker.export(chain, 1, &with(&[(65512 << 16) | 6939]), &prefix, &targets);
    assert_eq!(out.receivers.count(), 2);
    let modified = out.modified_targets();
    let to_2 = modified.iter().find(|(t, _)| *t == 0).unwrap();
    let path: Vec<u32> = to_2.1.as_path.as_ref().unwrap().asns().collect();
    assert_eq!(path, vec![3333, 3333, 3333, 15169]);
    assert!(to_2.1.communities.is_empty());
    let to_3 = modified.iter().find(|(t, _)| *t == 1).unwrap();
    assert_eq!(
        to_3.1
            .as_path
            .as_ref()
            .unwrap()
            .segments()
            .map(|s| s.asns().len())
            .sum::<usize>(),
        2
    );

    // A blackhole route skips client 3, which opted out.
    let out = worker.export(chain, 1, &with(&[0xFFFF_029A]), &prefix, &targets);
    assert_eq!(out.receivers.iter().collect::<Vec<_>>(), vec![0]);
}

#[test]
fn set_clients_reaches_the_policy() {
    // same-as needs the whole client table: only `set-clients` gives it.
    let module = rs_standard();
    let chain = std::slice::from_ref(&module);
    let mut worker = engine().worker();
    let mut all = clients();
    all[0].params = serde_json::json!({"filtering": {"next_hop": {"policy": "same-as"}}});
    worker.set_clients(&all);
    let p = prefixes(&["8.8.8.0/24"]);
    let via_second = attrs(&[3333, 15169], "192.0.2.4");
    assert_eq!(code(&worker.import(chain, 1, &via_second, None, &p)[0]), Some(5));
    // A second connection of AS3333 joins at 192.0.2.4.
    all.push(client(4, 3333, "192.0.2.4"));
    worker.set_clients(&all);
    let out = worker.import(chain, 1, &via_second, None, &p);
    assert!(out[0].is_accept(), "{out:?}");
    // Client 2 (AS6939) may still not use it.
    let out = worker.import(chain, 2, &attrs(&[6939], "192.0.2.4"), None, &p);
    assert_eq!(code(&out[0]), Some(5));
}

#[test]
fn refuses_a_configuration_without_rs_as() {
    let err = PolicyModule::load(
        engine(),
        "rs-standard",
        builtin::RS_STANDARD,
        Limits::default(),
        serde_json::json!({}),
    )
    .unwrap_err();
    assert!(
        matches!(&err, PolicyError::ConfigRefused { message, .. } if message.contains("rs_as")),
        "{err}"
    );
    assert_eq!(builtin::get("rs-standard"), Some(builtin::RS_STANDARD));
}

/// `blackhole_filtering.policy = "rewrite-next-hop"`: the NEXT_HOP of an
/// accepted blackhole route becomes the IX's blackhole address, in the
/// attributes (IPv4) and in the result for MP_REACH next hops (IPv6).
#[test]
fn blackhole_next_hop_rewritten_through_wasmtime() {
    let module = load(
        "rs-standard",
        builtin::RS_STANDARD,
        serde_json::json!({"rs_as": RS_AS, "blackhole_filtering": {
            "policy": "rewrite-next-hop",
            "rewrite_next_hop_ipv4": "192.0.2.66",
            "rewrite_next_hop_ipv6": "2001:db8::66"
        }}),
    );
    let chain = std::slice::from_ref(&module);
    let mut worker = engine().worker();
    let mut clients = ix_clients();
    clients[0].params = serde_json::json!({
        "blackhole_filtering": {"allowed": true},
        "filtering": {"next_hop": {"authorized_addresses_list": ["2001:db8::1"]}}
    });
    worker.set_clients(&clients);
    let mut blackhole = attrs(&[3333, 15169], "192.0.2.1");
    blackhole.communities.push(0xFFFF_029A);

    let out = worker.import(chain, 1, &blackhole, None, &prefixes(&["8.8.8.8/32"]));
    let ImportResult::Accept {
        modified: Some(rewritten),
        next_hop,
        ..
    } = &out[0]
    else {
        panic!("{out:?}")
    };
    assert_eq!(rewritten.next_hop, Some("192.0.2.66".parse().unwrap()));
    assert_eq!(*next_hop, Some(ip("192.0.2.66")));

    // IPv6 (next hop from MP_REACH_NLRI): the host gets the address to apply.
    let out = worker.import(
        chain,
        1,
        &blackhole,
        Some(ip("2001:db8::1")),
        &prefixes(&["2a00:1450::1/128"]),
    );
    assert!(
        matches!(&out[0], ImportResult::Accept { next_hop: Some(a), .. } if *a == ip("2001:db8::66")),
        "{out:?}"
    );

    // Not a blackhole route: nothing rewritten.
    let out = worker.import(
        chain,
        1,
        &attrs(&[3333, 15169], "192.0.2.1"),
        None,
        &prefixes(&["8.8.8.0/24"]),
    );
    assert!(
        matches!(
            &out[0],
            ImportResult::Accept {
                modified: None,
                next_hop: None,
                ..
            }
        ),
        "{out:?}"
    );
}

/// rs-standard's export does not depend on the prefix, so the SDK's glue
/// evaluates it once per attribute set (`export_uses_prefix`; that it is
/// once is measured in `export_cost`, not observable here): every prefix
/// of a set gets the verdict it gets when asked alone.
#[test]
fn every_prefix_of_a_set_gets_the_verdict_it_gets_alone() {
    let module = rs_standard();
    let chain = std::slice::from_ref(&module);
    let mut worker = engine().worker();
    worker.set_clients(&ix_clients());
    let p = prefixes(&["8.8.8.0/24", "9.9.9.0/24", "2a00:1450::/32"]);
    let targets = [2u32, 3];
    let mut attrs = attrs(&[3333, 15169], "192.0.2.1");
    attrs.communities.extend_from_slice(&[6939, (3333 << 16) | 100]);
    let out = worker.export_many(chain, 1, &attrs, &p, &targets);
    assert_eq!(out.distinct().len(), 1, "{out:?}");
    for (i, prefix) in p.iter().enumerate() {
        let alone = worker.export(chain, 1, &attrs, prefix, &targets);
        let batched = out.get(i).unwrap();
        assert_eq!(batched.receivers, alone.receivers);
        assert_eq!(batched.modified_targets(), alone.modified_targets());
        assert_eq!(batched.receivers.iter().collect::<Vec<_>>(), vec![1]);
    }
}
