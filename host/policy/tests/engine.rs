//! Loading, validation, import/export and chains with the shipped modules.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use common::*;
use kumo_policy::*;
use kumo_wire::LargeCommunity;

#[test]
fn accept_all_accepts_everything_and_exports_to_everyone() {
    let module = accept_all();
    assert_eq!(module.sha256().len(), 64);
    let mut worker = engine().worker();
    worker.set_clients(&clients());
    let p = prefixes(&["10.0.0.0/8", "198.51.100.0/24", "2001:db8::/32"]);
    let out = worker.import(
        std::slice::from_ref(&module),
        1,
        &attrs(&[3333], "192.0.2.1"),
        None,
        &p,
    );
    assert_eq!(
        out.to_vec(),
        vec![
            ImportResult::Accept {
                modified: None,
                preference: None,
                next_hop: None
            };
            3
        ]
    );
    let exported = worker.export(
        std::slice::from_ref(&module),
        1,
        &attrs(&[3333], "192.0.2.1"),
        &p[1],
        &[2, 3],
    );
    assert_eq!(exported.receivers.iter().collect::<Vec<_>>(), vec![0, 1]);
    assert!(exported.failure.is_none());
    let stats = module.stats().snapshot();
    assert_eq!((stats.calls, stats.routes, stats.instantiations), (2, 4, 1));
}

#[test]
fn rs_import_verdicts_and_tag() {
    let module = load(
        "rs-import",
        builtin::RS_IMPORT,
        serde_json::json!({"tag": "64500:1000:1"}),
    );
    let mut worker = engine().worker();
    worker.set_clients(&clients());
    let p = prefixes(&["10.0.0.0/8", "8.8.8.0/25", "8.8.8.0/24", "2a00:1450::/32"]);
    let out = worker.import(
        std::slice::from_ref(&module),
        1,
        &attrs(&[3333, 15169], "192.0.2.1"),
        None,
        &p,
    );
    let codes: Vec<Option<u16>> = out
        .iter()
        .map(|r| match r {
            ImportResult::Reject { code, policy, .. } => {
                assert_eq!(&**policy, "rs-import");
                Some(*code)
            }
            ImportResult::Accept { .. } => None,
        })
        .collect();
    assert_eq!(codes, vec![Some(2), Some(13), None, None]);
    let ImportResult::Accept {
        modified: Some(tagged),
        ..
    } = &out[2]
    else {
        panic!("{:?}", out[2])
    };
    assert_eq!(
        tagged.large_communities,
        vec![LargeCommunity {
            global_admin: 64500,
            local_data1: 1000,
            local_data2: 1
        }]
    );
    // Both accepted prefixes share one modified attribute set.
    let ImportResult::Accept {
        modified: Some(other),
        ..
    } = &out[3]
    else {
        panic!()
    };
    assert!(Arc::ptr_eq(tagged, other));

    // Attribute-wide checks reject every prefix: wrong first AS, wrong next hop.
    for (path, next_hop, code) in [
        (&[6939u32, 15169][..], "192.0.2.1", 6u16),
        (&[3333, 15169][..], "192.0.2.9", 5),
    ] {
        let out = worker.import(std::slice::from_ref(&module), 1, &attrs(path, next_hop), None, &p);
        assert!(
            out.iter()
                .all(|r| matches!(r, ImportResult::Reject { code: c, .. } if *c == code)),
            "{out:?}"
        );
    }
    // The MP_REACH next hop is what counts when given.
    let out = worker.import(
        std::slice::from_ref(&module),
        1,
        &attrs(&[3333], "192.0.2.9"),
        Some(ip("192.0.2.1")),
        &p[2..],
    );
    assert!(out.iter().all(ImportResult::is_accept), "{out:?}");
}

#[test]
fn chain_passes_accepted_prefixes_with_modified_attributes() {
    let tagger = load(
        "rs-import",
        builtin::RS_IMPORT,
        serde_json::json!({"tag": "64500:1:2"}),
    );
    // A second rs-import that only accepts up to /23: sees only what the first accepted.
    let strict = load(
        "strict",
        builtin::RS_IMPORT,
        serde_json::json!({"ipv4_length": [8, 23], "tag": "64500:3:4"}),
    );
    let mut worker = engine().worker();
    worker.set_clients(&clients());
    let p = prefixes(&["10.0.0.0/8", "8.8.8.0/24", "8.8.0.0/16"]);
    let out = worker.import(
        &[tagger.clone(), strict.clone()],
        1,
        &attrs(&[3333], "192.0.2.1"),
        None,
        &p,
    );
    assert!(matches!(&out[0], ImportResult::Reject { code: 2, policy, .. } if &**policy == "rs-import"));
    assert!(matches!(&out[1], ImportResult::Reject { code: 13, policy, .. } if &**policy == "strict"));
    let ImportResult::Accept {
        modified: Some(tagged),
        ..
    } = &out[2]
    else {
        panic!("{:?}", out[2])
    };
    assert_eq!(
        tagged.large_communities.len(),
        2,
        "both tags applied in chain order"
    );
    assert_eq!(
        strict.stats().snapshot().routes,
        2,
        "the bogon never reached the second module"
    );
}

#[test]
fn empty_chain_and_empty_prefix_list() {
    let mut worker = engine().worker();
    worker.set_clients(&clients());
    let p = prefixes(&["8.8.8.0/24"]);
    assert!(worker.import(&[], 1, &attrs(&[3333], "192.0.2.1"), None, &p)[0].is_accept());
    assert!(
        worker
            .import(&[accept_all()], 1, &attrs(&[3333], "192.0.2.1"), None, &[])
            .is_empty()
    );
    assert_eq!(
        worker
            .export(&[], 1, &attrs(&[3333], "192.0.2.1"), &p[0], &[2, 3])
            .receivers
            .count(),
        2
    );
}

#[test]
fn unknown_client_fails_closed() {
    let module = accept_all();
    let mut worker = engine().worker();
    worker.set_clients(&clients());
    let p = prefixes(&["8.8.8.0/24"]);
    let out = worker.import(
        std::slice::from_ref(&module),
        99,
        &attrs(&[3333], "192.0.2.1"),
        None,
        &p,
    );
    assert!(is_policy_error(&out[0], "accept-all"), "{out:?}");
    let exported = worker.export(
        std::slice::from_ref(&module),
        99,
        &attrs(&[3333], "192.0.2.1"),
        &p[0],
        &[1, 2],
    );
    assert_eq!(exported.receivers.count(), 0);
    assert!(exported.failure.is_some());
}

#[test]
fn client_table_changes_reach_live_instances() {
    let module = load("rs-import", builtin::RS_IMPORT, serde_json::json!({}));
    let mut worker = engine().worker();
    worker.set_clients(&clients());
    let p = prefixes(&["8.8.8.0/24"]);
    let a = attrs(&[3333], "192.0.2.77");
    assert!(!worker.import(std::slice::from_ref(&module), 1, &a, None, &p)[0].is_accept());
    // The client moves to a new address: the instance must see the new table.
    let mut moved = clients();
    moved[0].addresses = vec![ip("192.0.2.77")];
    worker.set_clients(&moved);
    assert!(worker.import(std::slice::from_ref(&module), 1, &a, None, &p)[0].is_accept());
    assert_eq!(module.stats().snapshot().instantiations, 1);
}

#[test]
fn load_errors_name_the_module() {
    let e = engine();
    let err =
        PolicyModule::load(e, "junk", b"not wasm", Limits::default(), serde_json::json!({})).unwrap_err();
    assert!(
        matches!(&err, PolicyError::Compile { module, .. } if module == "junk"),
        "{err}"
    );
    // A valid but empty component (no exports): the wrong world.
    let empty_component = b"\0asm\x0d\x00\x01\x00";
    let err = PolicyModule::load(
        e,
        "empty",
        empty_component,
        Limits::default(),
        serde_json::json!({}),
    )
    .unwrap_err();
    assert!(
        matches!(&err, PolicyError::WrongWorld { module, .. } if module == "empty"),
        "{err}"
    );
    assert!(err.to_string().contains("\"empty\""));
    // A core module is not a component.
    let core_module = b"\0asm\x01\x00\x00\x00";
    let err =
        PolicyModule::load(e, "core", core_module, Limits::default(), serde_json::json!({})).unwrap_err();
    assert!(err.to_string().contains("\"core\""), "{err}");
    // The module refuses its configuration.
    let err = PolicyModule::load(
        e,
        "rs",
        builtin::RS_IMPORT,
        Limits::default(),
        serde_json::json!({"tag": 5}),
    )
    .unwrap_err();
    assert!(
        matches!(&err, PolicyError::ConfigRefused { module, message } if module == "rs" && message.contains("rs-import configuration")),
        "{err}"
    );
}

#[test]
fn sdk_example_runs_as_a_component() {
    const ORIGIN_TAGGER: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/origin_tagger.wasm"));
    let module = load(
        "origin-tagger",
        ORIGIN_TAGGER,
        serde_json::json!({"rs_asn": 64500}),
    );
    let mut worker = engine().worker();
    worker.set_clients(&clients());
    let p = prefixes(&["8.8.8.0/24"]);
    // Tagged with its origin AS.
    let out = worker.import(
        std::slice::from_ref(&module),
        1,
        &attrs(&[3333, 15169], "192.0.2.1"),
        None,
        &p,
    );
    let ImportResult::Accept {
        modified: Some(tagged),
        ..
    } = &out[0]
    else {
        panic!("{out:?}")
    };
    assert_eq!(
        tagged.large_communities,
        vec![LargeCommunity {
            global_admin: 64500,
            local_data1: 1000,
            local_data2: 15169
        }]
    );
    // A private ASN in the path rejects.
    let out = worker.import(
        std::slice::from_ref(&module),
        1,
        &attrs(&[3333, 65000, 15169], "192.0.2.1"),
        None,
        &p,
    );
    assert!(matches!(&out[0], ImportResult::Reject { code: 7, .. }), "{out:?}");
    // 0:13335 = do not announce to AS13335 (client 3).
    let mut no_3 = attrs(&[3333], "192.0.2.1");
    no_3.communities.push(13335);
    let exported = worker.export(std::slice::from_ref(&module), 1, &no_3, &p[0], &[2, 3]);
    assert_eq!(exported.receivers.iter().collect::<Vec<_>>(), vec![0]);
}
