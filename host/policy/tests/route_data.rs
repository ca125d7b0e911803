//! The host imports `rpki-validate` and `irr-check` through the real
//! wasmtime host: the embedded `rs-standard` asks a [`RouteData`] double,
//! once per call for the whole batch, and sees its data change at once.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use ipnet::IpNet;
use kumo_policy::*;

/// VRPs (prefix, max length, ASN) and AS-SETs (name, members, route objects),
/// swappable, with a count of look-ups and of prefixes asked.
#[derive(Debug, Default)]
struct Double {
    vrps: Mutex<Vec<(IpNet, u8, u32)>>,
    as_sets: Vec<(String, Vec<u32>, Vec<IpNet>)>,
    calls: Mutex<(usize, usize)>,
}

impl RouteData for Double {
    fn rpki_validate(&self, prefixes: &[IpNet], origin: u32, out: &mut Vec<Rov>) {
        let mut calls = self.calls.lock().unwrap();
        calls.0 += 1;
        calls.1 += prefixes.len();
        let vrps = self.vrps.lock().unwrap();
        out.extend(prefixes.iter().map(|p| {
            let covering: Vec<_> = vrps.iter().filter(|(v, _, _)| v.contains(p)).collect();
            if covering.is_empty() {
                Rov::NotFound
            } else if covering
                .iter()
                .any(|(_, max, asn)| *asn == origin && p.prefix_len() <= *max)
            {
                Rov::Valid
            } else {
                Rov::Invalid
            }
        }));
    }

    fn irr_check(&self, as_set: &str, origin: u32, prefixes: &[IpNet], v4: u8, v6: u8) -> IrrAnswer {
        let Some((_, members, objects)) = self.as_sets.iter().find(|(n, _, _)| n == as_set) else {
            return IrrAnswer::not_found(prefixes.len());
        };
        let prefix_match = prefixes
            .iter()
            .map(|p| {
                let max = if matches!(p, IpNet::V4(_)) { v4 } else { v6 };
                if objects.contains(p) {
                    IrrMatch::Exact
                } else if p.prefix_len() <= max && objects.iter().any(|o| o.contains(p)) {
                    IrrMatch::MoreSpecific
                } else {
                    IrrMatch::NotFound
                }
            })
            .collect();
        IrrAnswer {
            as_set_found: true,
            origin_in_set: members.contains(&origin),
            prefix_match,
        }
    }
}

fn net(text: &str) -> IpNet {
    text.parse().unwrap()
}

#[test]
fn rs_standard_asks_the_host_once_per_call_and_follows_its_data() {
    let data = Arc::new(Double {
        vrps: Mutex::new(vec![(net("8.8.8.0/24"), 24, 15169)]),
        as_sets: vec![(
            "AS-3333".into(),
            vec![3333, 15169],
            vec![net("8.8.8.0/24"), net("8.8.4.0/22"), net("1.1.1.0/24")],
        )],
        ..Double::default()
    });
    let engine = PolicyEngine::new(EngineOptions {
        route_data: data.clone(),
        ..EngineOptions::default()
    })
    .unwrap();
    let module = Arc::new(
        PolicyModule::load(
            &engine,
            "rs-standard",
            builtin::RS_STANDARD,
            relaxed(),
            serde_json::json!({"rs_as": 64500, "filtering": {
                "irrdb": {"allow_longer_prefixes": true},
                "rpki_bgp_origin_validation": {"enabled": true, "reject_invalid": true}
            }}),
        )
        .unwrap(),
    );
    let mut worker = engine.worker();
    let mut clients = clients();
    clients[0].params = serde_json::json!({"filtering": {"irrdb": {"as_sets": ["AS-3333"]}}});
    worker.set_clients(&clients);
    let chain = std::slice::from_ref(&module);
    let codes = |worker: &mut PolicyWorker, path: &[u32], p: &[IpNet]| -> Vec<Option<u16>> {
        worker
            .import(chain, 1, &attrs(path, "192.0.2.1"), None, p)
            .iter()
            .map(|r| match r {
                ImportResult::Reject { code, .. } => Some(*code),
                ImportResult::Accept { .. } => None,
            })
            .collect()
    };

    let batch = prefixes(&[
        "8.8.8.0/24",
        "8.8.5.0/24",
        "9.9.9.0/24",
        "1.1.1.0/24",
        "10.0.0.0/8",
    ]);
    *data.calls.lock().unwrap() = (0, 0);
    // RPKI valid; a registered more specific, RPKI not-found; not
    // registered (12); registered, no VRP covers it yet: not-found; bogon (2).
    assert_eq!(
        codes(&mut worker, &[3333, 15169], &batch),
        [None, None, Some(12), None, Some(2)]
    );
    // One RPKI look-up for the 3 prefixes that passed the IRR step.
    assert_eq!(*data.calls.lock().unwrap(), (1, 3));

    // The origin outside the AS-SET: 9 for every prefix, no RPKI look-up.
    *data.calls.lock().unwrap() = (0, 0);
    assert_eq!(
        codes(&mut worker, &[3333, 13335], &batch[..2]),
        [Some(9), Some(9)]
    );
    assert_eq!(data.calls.lock().unwrap().0, 0);

    // A VRP for 1.1.1.0/24 appears (AS13335): the same route is now invalid.
    data.vrps.lock().unwrap().push((net("1.1.1.0/24"), 24, 13335));
    assert_eq!(codes(&mut worker, &[3333, 15169], &batch[3..4]), [Some(14)]);
}

#[test]
fn without_route_data_everything_is_not_found() {
    // The shared test engine has no data: RPKI on, invalid would be rejected,
    // but nothing is covered; an AS-SET is unknown, so IRR rejects (9).
    let module = load(
        "rs-standard",
        builtin::RS_STANDARD,
        serde_json::json!({"rs_as": 64500, "filtering": {
            "rpki_bgp_origin_validation": {"enabled": true, "reject_invalid": true}
        }}),
    );
    let mut worker = engine().worker();
    let mut clients = clients();
    clients[1].params = serde_json::json!({"filtering": {"irrdb": {"as_sets": ["AS-3333"]}}});
    worker.set_clients(&clients);
    let chain = std::slice::from_ref(&module);
    let p = prefixes(&["8.8.8.0/24"]);
    let accepted = worker.import(chain, 1, &attrs(&[3333, 15169], "192.0.2.1"), None, &p);
    assert!(matches!(accepted[0], ImportResult::Accept { .. }), "{accepted:?}");
    let unknown_set = worker.import(chain, 2, &attrs(&[6939, 15169], "192.0.2.2"), None, &p);
    assert!(
        matches!(unknown_set[0], ImportResult::Reject { code: 9, .. }),
        "{unknown_set:?}"
    );
}
