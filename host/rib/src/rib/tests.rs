#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use kumo_wire::{AsPath, AsPathSegment, Origin, PathAttributes};
use proptest::prelude::*;

use super::*;
use crate::policy::{ExportAll, ExportSet, ExportTargets};
use crate::{OutChange, OutChanges, PeerSet, RouteAttrs};

const V4U: AfiSafi = AfiSafi::IPV4_UNICAST;
const V6U: AfiSafi = AfiSafi::IPV6_UNICAST;

fn info(id: u32) -> PeerInfo {
    PeerInfo {
        id: PeerId(id),
        name: format!("client{id}").into(),
        asn: 64500 + id,
        bgp_id: Ipv4Addr::new(10, 0, 0, id as u8),
        address: IpAddr::V4(Ipv4Addr::new(192, 0, 2, id as u8)),
        families: vec![V4U, V6U],
        add_path_tx: vec![],
    }
}

fn add_path_info(id: u32) -> PeerInfo {
    PeerInfo {
        add_path_tx: vec![V4U, V6U],
        ..info(id)
    }
}

/// Attributes of a path from client `from` with `extra` ASNs behind it.
fn attrs(from: u32, extra: &[u32], med: Option<u32>) -> Attrs {
    let mut path = vec![64500 + from];
    path.extend_from_slice(extra);
    Attrs::from(RouteAttrs {
        attrs: PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(AsPath::from(vec![AsPathSegment::Sequence(path)])),
            next_hop: Some(Ipv4Addr::new(192, 0, 2, from as u8)),
            med,
            ..Default::default()
        },
        mp_next_hop: None,
    })
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn nlri(s: &str) -> Nlri {
    Nlri {
        prefix: net(s),
        path_id: None,
    }
}

fn reason(code: u16, text: &str) -> RejectReason {
    RejectReason::new(code, text)
}

/// A RIB plus the changes of the last operation.
struct Rs {
    rib: Rib,
    out: Vec<OutChange>,
}

impl Rs {
    fn new(peers: impl IntoIterator<Item = PeerInfo>) -> Self {
        let mut rs = Rs {
            rib: Rib::new(),
            out: Vec::new(),
        };
        for p in peers {
            rs.rib.peer_up(p, &mut rs.out);
        }
        assert!(rs.out.is_empty());
        rs
    }

    fn announce(&mut self, peer: u32, n: Nlri, a: &Attrs) -> Vec<OutChange> {
        self.announce_with(peer, n, a, ImportVerdict::accept(a.clone()), &ExportAll)
    }

    fn announce_with(
        &mut self,
        peer: u32,
        n: Nlri,
        a: &Attrs,
        verdict: ImportVerdict,
        export: &dyn ExportPolicy,
    ) -> Vec<OutChange> {
        self.rib
            .announce(PeerId(peer), n, a.clone(), verdict, export, &mut self.out)
            .unwrap();
        mem::take(&mut self.out)
    }

    fn withdraw(&mut self, peer: u32, n: Nlri) -> Vec<OutChange> {
        self.rib.withdraw(PeerId(peer), n, &mut self.out).unwrap();
        mem::take(&mut self.out)
    }

    fn holds(&self, client: u32, prefix: &str) -> Vec<(Nlri, Attrs)> {
        let mut v = self.rib.selected_for(PeerId(client), &net(prefix));
        v.sort_by_key(|(n, _)| *n);
        v
    }
}

fn change(client: u32, n: Nlri, a: Option<&Attrs>) -> OutChange {
    OutChange {
        client: PeerId(client),
        nlri: n,
        attrs: a.cloned(),
    }
}

fn sorted(mut v: Vec<OutChange>) -> Vec<OutChange> {
    v.sort_by_key(|c| (c.client, c.nlri));
    v
}

#[test]
fn a_path_accepted_as_received_for_everyone_stores_nothing_else() {
    let mut rs = Rs::new([info(1), info(2), info(3)]);
    let a = attrs(1, &[], None);
    let tagged = attrs(1, &[64500], None);
    let stored = |rs: &Rs, p: &str| {
        let id = rs.rib.table.id(&p.parse().unwrap()).unwrap();
        let (_, list) = rs.rib.table.at(id).unwrap();
        list.iter().next().unwrap().clone()
    };
    rs.announce(1, nlri("192.0.2.0/24"), &a);
    let plain = stored(&rs, "192.0.2.0/24");
    assert!(plain.extra.is_none() && Attrs::ptr_eq(plain.received(), &a));
    // Changed by the import policy: the received set is kept behind the extra.
    let modified = ImportVerdict::accept(tagged.clone());
    rs.announce_with(1, nlri("192.0.2.0/24"), &a, modified, &ExportAll);
    let changed = stored(&rs, "192.0.2.0/24");
    assert!(Attrs::ptr_eq(changed.received(), &a));
    assert!(Attrs::ptr_eq(changed.accepted().unwrap(), &tagged));
    // Not for everyone: the decision is kept behind the extra; back to all, gone.
    let only_2 = |_: &PeerInfo, _: &IpNet, _: &Attrs| ExportTargets::Only([PeerId(2)].into_iter().collect());
    rs.announce_with(
        1,
        nlri("192.0.2.0/24"),
        &a,
        ImportVerdict::accept(a.clone()),
        &only_2,
    );
    assert!(stored(&rs, "192.0.2.0/24").targets().is_some());
    rs.rib.reevaluate_export(&ExportAll, &mut rs.out);
    assert!(stored(&rs, "192.0.2.0/24").extra.is_none());
}

#[test]
fn path_entry_stays_small() {
    // The per-path memory budget in `Path`'s doc comment depends on this.
    assert!(
        mem::size_of::<Path>() <= 32,
        "Path is {} bytes",
        mem::size_of::<Path>()
    );
    // A single path is stored inline in its prefix's entry, at no extra cost.
    assert_eq!(mem::size_of::<table::PathList>(), mem::size_of::<Path>());
}

#[test]
fn transparent_fan_out_never_back_to_source() {
    let mut rs = Rs::new([info(1), info(2), info(3)]);
    let a = attrs(1, &[65000], Some(7));
    let out = rs.announce(1, nlri("203.0.113.0/24"), &a);
    assert_eq!(
        sorted(out.clone()),
        vec![
            change(2, nlri("203.0.113.0/24"), Some(&a)),
            change(3, nlri("203.0.113.0/24"), Some(&a))
        ]
    );
    // Transparency: the very attribute set received goes out.
    assert!(out.iter().all(|c| Attrs::ptr_eq(c.attrs.as_ref().unwrap(), &a)));
    assert!(rs.holds(1, "203.0.113.0/24").is_empty());
}

#[test]
fn replace_is_an_implicit_withdraw() {
    let mut rs = Rs::new([info(1), info(2)]);
    let a1 = attrs(1, &[], None);
    let a2 = attrs(1, &[65000], None);
    rs.announce(1, nlri("198.51.100.0/24"), &a1);
    let out = rs.announce(1, nlri("198.51.100.0/24"), &a2);
    assert_eq!(out, vec![change(2, nlri("198.51.100.0/24"), Some(&a2))]);
    // The same attributes again change nothing.
    assert!(rs.announce(1, nlri("198.51.100.0/24"), &a2).is_empty());
    assert_eq!(rs.rib.path_count(), 1);
    assert_eq!(rs.rib.counts(PeerId(1)).ipv4.received, 1);
}

#[test]
fn withdrawing_the_best_falls_back_for_everyone() {
    let mut rs = Rs::new([info(1), info(2), info(3)]);
    let best = attrs(1, &[], None);
    let second = attrs(2, &[65000], None);
    rs.announce(1, nlri("192.0.2.0/24"), &best);
    let out = rs.announce(2, nlri("192.0.2.0/24"), &second);
    // Only 1 learns about 2's path: 3 keeps the better one.
    assert_eq!(out, vec![change(1, nlri("192.0.2.0/24"), Some(&second))]);
    assert_eq!(
        rs.holds(3, "192.0.2.0/24"),
        vec![(nlri("192.0.2.0/24"), best.clone())]
    );
    let out = rs.withdraw(1, nlri("192.0.2.0/24"));
    assert_eq!(
        sorted(out),
        vec![
            change(2, nlri("192.0.2.0/24"), None),
            change(3, nlri("192.0.2.0/24"), Some(&second))
        ]
    );
    // Withdrawing what is not there is harmless.
    assert!(rs.withdraw(1, nlri("192.0.2.0/24")).is_empty());
    assert!(rs.withdraw(3, nlri("10.0.0.0/8")).is_empty());
}

#[test]
fn path_hiding_gives_the_best_path_the_client_may_receive() {
    let mut rs = Rs::new([info(1), info(2), info(3), info(4)]);
    // 1's paths must not go to 3.
    let export = |src: &PeerInfo, _: &IpNet, _: &Attrs| {
        if src.id == PeerId(1) {
            ExportTargets::AllExcept([PeerId(3)].into_iter().collect())
        } else {
            ExportTargets::All
        }
    };
    let best = attrs(1, &[], None);
    let second = attrs(2, &[65000], None);
    let p = nlri("203.0.113.0/24");
    rs.announce_with(1, p, &best, ImportVerdict::accept(best.clone()), &export);
    let out = rs.announce_with(2, p, &second, ImportVerdict::accept(second.clone()), &export);
    assert_eq!(
        sorted(out),
        vec![change(1, p, Some(&second)), change(3, p, Some(&second))]
    );
    assert_eq!(rs.holds(3, "203.0.113.0/24"), vec![(p, second.clone())]);
    assert_eq!(rs.holds(4, "203.0.113.0/24"), vec![(p, best.clone())]);
    assert_eq!(rs.holds(2, "203.0.113.0/24"), vec![(p, best.clone())]);
}

#[test]
fn add_path_client_gets_every_eligible_path_with_stable_ids() {
    let mut rs = Rs::new([info(1), info(2), info(3), add_path_info(9)]);
    let p = "203.0.113.0/24";
    let a = attrs(1, &[], None);
    let b = attrs(2, &[65000], None);
    let id = |n: u32| Nlri {
        prefix: net(p),
        path_id: Some(n),
    };
    let to_9 = |v: Vec<OutChange>| {
        v.into_iter()
            .filter(|c| c.client == PeerId(9))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        to_9(rs.announce(1, nlri(p), &a)),
        vec![change(9, id(1), Some(&a))]
    );
    assert_eq!(
        to_9(rs.announce(2, nlri(p), &b)),
        vec![change(9, id(2), Some(&b))]
    );
    assert_eq!(rs.holds(9, p), vec![(id(1), a.clone()), (id(2), b.clone())]);
    // Replacing 2's path keeps its id.
    let b2 = attrs(2, &[65001], None);
    assert_eq!(
        to_9(rs.announce(2, nlri(p), &b2)),
        vec![change(9, id(2), Some(&b2))]
    );
    // Withdraw by id; the other path keeps its id.
    assert_eq!(to_9(rs.withdraw(1, nlri(p))), vec![change(9, id(1), None)]);
    assert_eq!(rs.holds(9, p), vec![(id(2), b2.clone())]);
    // A new path takes the free id.
    let c = attrs(3, &[], None);
    assert_eq!(
        to_9(rs.announce(3, nlri(p), &c)),
        vec![change(9, id(1), Some(&c))]
    );
    // ADD-PATH receive: two paths from one client are two candidates.
    let c7 = attrs(3, &[65007], None);
    let from_3 = |n: u32| Nlri {
        prefix: net(p),
        path_id: Some(n),
    };
    rs.announce(3, from_3(7), &c7);
    assert_eq!(
        rs.holds(9, p),
        vec![(id(1), c.clone()), (id(2), b2.clone()), (id(3), c7.clone())]
    );
    let c7b = attrs(3, &[65008], None);
    assert_eq!(
        to_9(rs.announce(3, from_3(7), &c7b)),
        vec![change(9, id(3), Some(&c7b))]
    );
}

#[test]
fn peer_down_withdraws_from_everyone() {
    let mut rs = Rs::new([info(1), info(2), info(3)]);
    let a = attrs(1, &[], None);
    rs.announce(1, nlri("192.0.2.0/24"), &a);
    rs.announce(1, nlri("2001:db8::/32"), &a);
    rs.rib.peer_down(PeerId(1), &mut rs.out);
    let out = sorted(mem::take(&mut rs.out));
    assert_eq!(
        out,
        vec![
            change(2, nlri("192.0.2.0/24"), None),
            change(2, nlri("2001:db8::/32"), None),
            change(3, nlri("192.0.2.0/24"), None),
            change(3, nlri("2001:db8::/32"), None),
        ]
    );
    assert_eq!(rs.rib.adj_rib_in(PeerId(1)).count(), 0);
    assert_eq!(rs.rib.counts(PeerId(1)), PeerCounts::default());
    assert_eq!(rs.rib.prefix_count(), 0);
    assert_eq!(
        rs.rib.announce(
            PeerId(1),
            nlri("192.0.2.0/24"),
            a.clone(),
            ImportVerdict::accept(a),
            &ExportAll,
            &mut rs.out
        ),
        Err(RibError::PeerNotUp(PeerId(1)))
    );
    // A down client is sent nothing.
    rs.rib.peer_down(PeerId(3), &mut rs.out);
    let b = attrs(2, &[], None);
    assert_eq!(rs.announce(2, nlri("192.0.2.0/24"), &b), vec![]);
    assert!(rs.rib.initial_table(PeerId(3)).is_empty());
}

#[test]
fn stale_paths_are_held_depreferred_and_purged() {
    let mut rs = Rs::new([info(1), info(2), info(3)]);
    let a = attrs(1, &[], None);
    let b = attrs(2, &[65000], None);
    let (p1, p2, p3) = (
        nlri("192.0.2.0/24"),
        nlri("198.51.100.0/24"),
        nlri("2001:db8::/32"),
    );
    rs.announce(1, p1, &a);
    rs.announce(1, p2, &a);
    rs.announce(1, p3, &a);
    rs.announce(2, p1, &b);
    let held = rs.rib.mark_stale(PeerId(1), &[V4U], &mut rs.out);
    assert_eq!(held, 2);
    // IPv6 was not held; on p1 the fresh path of 2 now wins for 3. 2 keeps 1's path.
    assert_eq!(
        sorted(mem::take(&mut rs.out)),
        vec![change(2, p3, None), change(3, p1, Some(&b)), change(3, p3, None)]
    );
    assert_eq!(rs.rib.counts(PeerId(1)).stale, 2);
    assert!(rs.rib.adj_rib_in(PeerId(1)).all(|p| p.stale));

    // 1 comes back and re-announces p2 only: nothing changes for anyone.
    rs.rib.peer_up(info(1), &mut rs.out);
    assert!(rs.out.is_empty());
    assert!(rs.announce(1, p2, &a).is_empty());
    assert_eq!(rs.rib.counts(PeerId(1)).stale, 1);
    // End-of-RIB: p1 from 1 is still stale and goes.
    assert_eq!(rs.rib.purge_stale(PeerId(1), Some(V4U), &mut rs.out), 1);
    assert_eq!(sorted(mem::take(&mut rs.out)), vec![change(2, p1, None)]);
    assert_eq!(rs.rib.counts(PeerId(1)).stale, 0);
    assert_eq!(rs.rib.purge_stale(PeerId(1), None, &mut rs.out), 0);
}

#[test]
fn a_new_bgp_identifier_on_return_reranks_held_paths() {
    let mut rs = Rs::new([info(1), info(2), info(3)]);
    // Equal paths: the lower BGP identifier (1's) wins.
    let a = attrs(1, &[], None);
    let b = attrs(2, &[], None);
    let p = nlri("192.0.2.0/24");
    rs.announce(1, p, &a);
    rs.announce(2, p, &b);
    assert_eq!(rs.holds(3, "192.0.2.0/24"), vec![(p, a.clone())]);
    rs.rib.mark_stale(PeerId(1), &[V4U], &mut rs.out);
    rs.rib.peer_up(info(1), &mut rs.out);
    rs.announce(1, p, &a);
    rs.out.clear();
    rs.rib.peer_up(
        PeerInfo {
            bgp_id: Ipv4Addr::new(10, 0, 0, 200),
            ..info(1)
        },
        &mut rs.out,
    );
    assert_eq!(mem::take(&mut rs.out), vec![change(3, p, Some(&b))]);
}

#[test]
fn reevaluate_export_emits_exactly_the_difference() {
    let mut rs = Rs::new([info(1), info(2), info(3), info(4)]);
    let a = attrs(1, &[], None);
    let b = attrs(2, &[65000], None);
    let (p1, p2) = (nlri("192.0.2.0/24"), nlri("198.51.100.0/24"));
    rs.announce(1, p1, &a);
    rs.announce(2, p1, &b);
    rs.announce(1, p2, &a);
    let hide_1_from_3 = |src: &PeerInfo, _: &IpNet, _: &Attrs| {
        if src.id == PeerId(1) {
            ExportTargets::AllExcept([PeerId(3)].into_iter().collect())
        } else {
            ExportTargets::All
        }
    };
    // Two paths of client 1 (p1, p2) get a new decision.
    assert_eq!(rs.rib.reevaluate_export(&hide_1_from_3, &mut rs.out), 2);
    assert_eq!(
        sorted(mem::take(&mut rs.out)),
        vec![change(3, p1, Some(&b)), change(3, p2, None)]
    );
    assert_eq!(rs.rib.reevaluate_export(&hide_1_from_3, &mut rs.out), 0);
    assert!(rs.out.is_empty());
    // Only-to: 1's paths go to 2 alone.
    let only_2 = |src: &PeerInfo, _: &IpNet, _: &Attrs| {
        if src.id == PeerId(1) {
            ExportTargets::Only([PeerId(2)].into_iter().collect::<PeerSet>())
        } else {
            ExportTargets::All
        }
    };
    rs.rib.reevaluate_export(&only_2, &mut rs.out);
    // 3 still may not receive them; 4 now may not either.
    assert_eq!(
        sorted(mem::take(&mut rs.out)),
        vec![change(4, p1, Some(&b)), change(4, p2, None)]
    );
    rs.rib.reevaluate_export(&ExportAll, &mut rs.out);
    assert_eq!(
        sorted(mem::take(&mut rs.out)),
        vec![
            change(3, p1, Some(&a)),
            change(3, p2, Some(&a)),
            change(4, p1, Some(&a)),
            change(4, p2, Some(&a))
        ]
    );
}

#[test]
fn export_modifications_reach_only_their_target() {
    let mut rs = Rs::new([info(1), info(2), info(3)]);
    let a = attrs(1, &[], None);
    // What client 3 asked for: the path prepended once.
    let prepended = attrs(1, &[64501], None);
    let p = nlri("192.0.2.0/24");
    let for_3 = prepended.clone();
    let prepend_to_3 = move |_: &PeerInfo, _: &IpNet, _: &Attrs| ExportDecision {
        targets: ExportTargets::All,
        modified: vec![(PeerId(3), for_3.clone())],
        modified_all: None,
    };
    let out = rs.announce_with(1, p, &a, ImportVerdict::accept(a.clone()), &prepend_to_3);
    assert_eq!(
        sorted(out),
        vec![change(2, p, Some(&a)), change(3, p, Some(&prepended))]
    );
    // Dropping the modification sends client 3 the path as it is, and nothing to 2.
    rs.rib.reevaluate_export(&ExportAll, &mut rs.out);
    assert_eq!(mem::take(&mut rs.out), vec![change(3, p, Some(&a))]);
}

#[test]
fn a_modification_for_all_reaches_every_allowed_client_but_the_ones_named() {
    let mut rs = Rs::new([info(1), info(2), info(3), info(4)]);
    let a = attrs(1, &[], None);
    let stripped = attrs(1, &[64501], None);
    let prepended = attrs(1, &[64501, 64501], None);
    let p = nlri("192.0.2.0/24");
    let (all, for_4) = (stripped.clone(), prepended.clone());
    // Everyone gets `stripped`, client 4 its own prepend, client 3 nothing.
    let decision = move |_: &PeerInfo, _: &IpNet, _: &Attrs| ExportDecision {
        targets: ExportTargets::AllExcept([PeerId(3)].into_iter().collect()),
        modified: vec![(PeerId(4), for_4.clone())],
        modified_all: Some(all.clone()),
    };
    let out = rs.announce_with(1, p, &a, ImportVerdict::accept(a.clone()), &decision);
    assert_eq!(
        sorted(out),
        vec![change(2, p, Some(&stripped)), change(4, p, Some(&prepended))]
    );
    // Back to unmodified for everyone: 2 and 4 get the path as it is, 3 gets it now.
    rs.rib.reevaluate_export(&ExportAll, &mut rs.out);
    assert_eq!(
        sorted(mem::take(&mut rs.out)),
        vec![
            change(2, p, Some(&a)),
            change(3, p, Some(&a)),
            change(4, p, Some(&a))
        ]
    );
}

#[test]
fn rejected_paths_stay_with_their_reason_and_are_never_selected() {
    let mut rs = Rs::new([info(1), info(2)]);
    let a = attrs(1, &[], None);
    let p = nlri("192.0.2.0/24");
    let bogon = ImportVerdict::reject(reason(1101, "bogon"));
    let out = rs.announce_with(1, p, &a, bogon.clone(), &ExportAll);
    assert!(out.is_empty());
    assert!(rs.holds(2, "192.0.2.0/24").is_empty());
    let held: Vec<_> = rs.rib.adj_rib_in(PeerId(1)).collect();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].reject_reason(), Some(&reason(1101, "bogon")));
    // Paths rejected by one verdict share its reason (memory per filtered path).
    rs.announce_with(1, nlri("198.51.100.0/24"), &a, bogon.clone(), &ExportAll);
    let reasons: Vec<_> = rs
        .rib
        .adj_rib_in(PeerId(1))
        .filter_map(|p| p.reject_reason())
        .collect();
    assert!(reasons.len() == 2 && std::ptr::eq(reasons[0], reasons[1]));
    // And their stored extra (the reason behind one pointer): one block for both.
    let extras = |rs: &Rs| -> Vec<Arc<PathExtra>> {
        ["192.0.2.0/24", "198.51.100.0/24"]
            .iter()
            .map(|p| {
                let id = rs.rib.table.id(&p.parse().unwrap()).unwrap();
                let (_, list) = rs.rib.table.at(id).unwrap();
                list.iter().next().unwrap().extra.clone().unwrap()
            })
            .collect()
    };
    let shared = extras(&rs);
    assert!(Arc::ptr_eq(&shared[0], &shared[1]));
    // Asked again with the same answer, nothing changes and nothing is stored anew.
    let changed = rs
        .rib
        .reevaluate_import(None, &mut |_, _, _| bogon.clone(), &ExportAll, &mut rs.out);
    assert_eq!(changed, 0);
    assert!(extras(&rs).iter().all(|e| Arc::ptr_eq(e, &shared[0])));
    rs.withdraw(1, nlri("198.51.100.0/24"));
    let held: Vec<_> = rs.rib.adj_rib_in(PeerId(1)).collect();
    assert!(Attrs::ptr_eq(held[0].received, &a));
    assert_eq!(
        rs.rib.counts(PeerId(1)).ipv4,
        FamilyCounts {
            received: 1,
            accepted: 0
        }
    );
    assert_eq!(rs.rib.counts(PeerId(1)).ipv4.filtered(), 1);
    assert!(rs.rib.best(&net("192.0.2.0/24")).is_none());

    // The filter changes (say, an IRR update): the retained path is accepted
    // with a rewritten attribute set and lower LOCAL_PREF.
    let rewritten = attrs(1, &[], Some(0));
    let mut import = |_: &PeerInfo, _: &Nlri, _: &Attrs| ImportVerdict::Accept {
        attrs: rewritten.clone(),
        local_pref: 50,
    };
    let changed = rs
        .rib
        .reevaluate_import(Some(PeerId(1)), &mut import, &ExportAll, &mut rs.out);
    assert_eq!(changed, 1);
    assert_eq!(mem::take(&mut rs.out), vec![change(2, p, Some(&rewritten))]);
    assert_eq!(
        rs.rib.counts(PeerId(1)).ipv4,
        FamilyCounts {
            received: 1,
            accepted: 1
        }
    );
    let view = rs.rib.paths(&net("192.0.2.0/24"));
    assert!(Attrs::ptr_eq(view[0].received, &a));
    assert!(matches!(
        view[0].verdict,
        VerdictView::Accepted { local_pref: 50, .. }
    ));
    let changed = rs
        .rib
        .reevaluate_import(None, &mut import, &ExportAll, &mut rs.out);
    assert_eq!(changed, 0);
    assert!(rs.out.is_empty());
}

#[test]
fn families_not_negotiated_receive_nothing() {
    let v4_only = PeerInfo {
        families: vec![V4U],
        ..info(2)
    };
    let mut rs = Rs::new([info(1), v4_only]);
    let a = attrs(1, &[], None);
    assert!(rs.announce(1, nlri("2001:db8::/32"), &a).is_empty());
    assert_eq!(rs.announce(1, nlri("192.0.2.0/24"), &a).len(), 1);
    assert_eq!(rs.rib.initial_table(PeerId(2)).len(), 1);
}

#[test]
fn initial_table_is_what_a_new_client_should_hold() {
    let mut rs = Rs::new([info(1), info(2)]);
    let a = attrs(1, &[], None);
    let b = attrs(2, &[65000], None);
    rs.announce(1, nlri("192.0.2.0/24"), &a);
    rs.announce(2, nlri("192.0.2.0/24"), &b);
    rs.announce(2, nlri("2001:db8::/32"), &b);
    rs.rib.peer_up(info(3), &mut rs.out);
    assert!(rs.out.is_empty());
    let mut t = rs.rib.initial_table(PeerId(3));
    t.sort_by_key(|(n, _)| *n);
    assert_eq!(
        t,
        vec![
            (nlri("192.0.2.0/24"), a.clone()),
            (nlri("2001:db8::/32"), b.clone())
        ]
    );
}

// ---------------------------------------------------------------------------
// The key invariant: applying every emitted change to per-client maps gives
// exactly `selected_for`, after any sequence of operations.

#[derive(Debug, Clone)]
enum Op {
    Up {
        peer: u32,
        add_path: u8,
        v6: bool,
        bgp_id: u8,
    },
    Down(u32),
    Stale {
        peer: u32,
        v4: bool,
        v6: bool,
    },
    Purge {
        peer: u32,
        family: Option<bool>,
    },
    Announce {
        peer: u32,
        prefix: usize,
        path_id: Option<u32>,
        shape: (u32, u32, u32),
        reject: bool,
        low_pref: bool,
    },
    Withdraw {
        peer: u32,
        prefix: usize,
        path_id: Option<u32>,
    },
    Export(u8),
    Import {
        peer: Option<u32>,
        seed: u8,
    },
}

const PEERS: u32 = 5;
const PREFIXES: [&str; 3] = ["192.0.2.0/24", "198.51.100.0/24", "2001:db8::/32"];

fn arb_op() -> impl Strategy<Value = Op> {
    let peer = 0..PEERS;
    prop_oneof![
        2 => (peer.clone(), 0u8..4, any::<bool>(), 0u8..3)
            .prop_map(|(peer, add_path, v6, bgp_id)| Op::Up { peer, add_path, v6, bgp_id }),
        1 => peer.clone().prop_map(Op::Down),
        1 => (peer.clone(), any::<bool>(), any::<bool>()).prop_map(|(peer, v4, v6)| Op::Stale { peer, v4, v6 }),
        1 => (peer.clone(), prop::option::of(any::<bool>())).prop_map(|(peer, family)| Op::Purge { peer, family }),
        8 => (peer.clone(), 0..PREFIXES.len(), prop::option::of(0u32..2), (0u32..2, 0u32..3, 0u32..3), prop::bool::weighted(0.2), prop::bool::weighted(0.2))
            .prop_map(|(peer, prefix, path_id, shape, reject, low_pref)| Op::Announce { peer, prefix, path_id, shape, reject, low_pref }),
        3 => (peer.clone(), 0..PREFIXES.len(), prop::option::of(0u32..2))
            .prop_map(|(peer, prefix, path_id)| Op::Withdraw { peer, prefix, path_id }),
        1 => any::<u8>().prop_map(Op::Export),
        1 => (prop::option::of(peer), any::<u8>()).prop_map(|(peer, seed)| Op::Import { peer, seed }),
    ]
}

/// An export policy that depends on the seed, the source, the prefix and the
/// MED: who receives, and sometimes modified attributes for one or two
/// clients, for every receiver, or both.
fn seeded_export(seed: u8) -> impl Fn(&PeerInfo, &IpNet, &Attrs) -> ExportDecision {
    move |src, prefix, attrs| {
        let med = attrs.med().unwrap_or(0);
        let h = u32::from(seed) + src.id.0 * 3 + med * 5 + u32::from(prefix.prefix_len());
        let other = PeerId((h / 4) % PEERS);
        let targets = match h % 4 {
            0 => ExportTargets::AllExcept([other].into_iter().collect()),
            1 => ExportTargets::Only([other, PeerId((h / 16) % PEERS)].into_iter().collect()),
            _ => ExportTargets::All,
        };
        let marked = |community: u32| {
            let mut a = attrs.to_route_attrs();
            a.attrs.communities.push(community);
            Attrs::from(a)
        };
        // One or two clients with attributes of their own (sorted, allowed only).
        let for_some = || {
            let mut some: Vec<(PeerId, Attrs)> = [PeerId((h / 8) % PEERS), PeerId((h / 32) % PEERS)]
                .into_iter()
                .take(1 + (h as usize / 128) % 2)
                .filter(|&c| targets.allows(c))
                .map(|c| (c, marked(1 + c.0)))
                .collect();
            some.sort_by_key(|(c, _)| *c);
            some.dedup_by_key(|(c, _)| *c);
            some
        };
        let (modified, modified_all) = match (h / 2) % 4 {
            0 => (for_some(), None),
            1 => (Vec::new(), Some(marked(100))),
            2 => (for_some(), Some(marked(100))),
            _ => (Vec::new(), None),
        };
        ExportDecision {
            targets,
            modified,
            modified_all,
        }
    }
}

fn seeded_import(seed: u8) -> impl FnMut(&PeerInfo, &Nlri, &Attrs) -> ImportVerdict {
    move |src, _, received| {
        let med = received.med().unwrap_or(0);
        match (u32::from(seed) + src.id.0 + med) % 4 {
            0 => ImportVerdict::reject(reason(1, "seeded")),
            1 => {
                // A rewrite: the post-policy set differs from the received one.
                let mut a = received.to_route_attrs();
                a.attrs.communities.push(0xFFFF_0000);
                ImportVerdict::Accept {
                    attrs: Attrs::from(a),
                    local_pref: 50,
                }
            }
            _ => ImportVerdict::accept(received.clone()),
        }
    }
}

fn shaped_attrs(peer: u32, (neighbour, len, med): (u32, u32, u32)) -> Attrs {
    // Neighbour AS 0 or 1 (two sessions of one AS are common at IXs), so
    // deterministic MED groups form.
    let mut path = vec![65000 + neighbour];
    path.extend((0..len).map(|i| 64000 + i));
    Attrs::from(RouteAttrs {
        attrs: PathAttributes {
            origin: Some(if med == 2 { Origin::Egp } else { Origin::Igp }),
            as_path: Some(AsPath::from(vec![AsPathSegment::Sequence(path)])),
            next_hop: Some(Ipv4Addr::new(192, 0, 2, peer as u8)),
            med: Some(med),
            ..Default::default()
        },
        mp_next_hop: None,
    })
}

type Held = BTreeMap<Nlri, Attrs>;

/// Applies `out` to the clients' maps, checking that every change is a real
/// change for a client that is up.
fn apply(rib: &Rib, held: &mut BTreeMap<PeerId, Held>, out: &mut OutChanges) -> Result<(), TestCaseError> {
    // Through `OutChanges`, as in the daemon: a change for all but a few
    // clients is expanded here, client by client.
    let changes: Vec<OutChange> = out.iter().collect();
    out.clear();
    for c in changes {
        prop_assert!(rib.is_up(c.client), "change for a client that is not up: {:?}", c);
        let map = held.entry(c.client).or_default();
        match c.attrs {
            Some(a) => {
                let previous = map.insert(c.nlri, a.clone());
                prop_assert!(previous.as_ref() != Some(&a), "redundant announce {:?}", c.nlri);
            }
            None => prop_assert!(
                map.remove(&c.nlri).is_some(),
                "withdraw of what {:?} does not hold",
                c.client
            ),
        }
    }
    Ok(())
}

fn check(rib: &Rib, held: &BTreeMap<PeerId, Held>) -> Result<(), TestCaseError> {
    for id in (0..PEERS).map(PeerId) {
        let empty = Held::new();
        let holds = held.get(&id).unwrap_or(&empty);
        let mut expected = Held::new();
        for p in PREFIXES {
            for (n, a) in rib.selected_for(id, &net(p)) {
                prop_assert!(expected.insert(n, a).is_none(), "duplicate NLRI in selection");
            }
        }
        prop_assert_eq!(holds, &expected, "client {:?}", id);
        let initial: Held = rib.initial_table(id).into_iter().collect();
        prop_assert_eq!(&initial, &expected);
        // Counters agree with the Adj-RIB-In.
        let mut counts = PeerCounts::default();
        for v in rib.adj_rib_in(id) {
            let f = if v.prefix.addr().is_ipv4() {
                &mut counts.ipv4
            } else {
                &mut counts.ipv6
            };
            f.received += 1;
            f.accepted += usize::from(v.accepted().is_some());
            counts.stale += usize::from(v.stale);
        }
        prop_assert_eq!(rib.counts(id), counts);
        // Local path ids are unique per prefix.
        for p in PREFIXES {
            let mut ids: Vec<u32> = rib.paths(&net(p)).iter().map(|v| v.local_path_id).collect();
            let n = ids.len();
            ids.dedup();
            prop_assert_eq!(ids.len(), n);
        }
    }
    // The counters' total is the table's.
    prop_assert_eq!(rib.paths_held(), rib.path_count());
    Ok(())
}

proptest! {
    // 512 cases unless PROPTEST_CASES says otherwise (for longer soak runs).
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(512),
        ..ProptestConfig::default()
    })]

    #[test]
    fn emitted_changes_rebuild_every_clients_selection(ops in prop::collection::vec(arb_op(), 1..60)) {
        let mut rib = Rib::new();
        let mut out = OutChanges::default();
        let mut held: BTreeMap<PeerId, Held> = BTreeMap::new();
        let mut export_seed = 0u8;
        for op in ops {
            match op {
                Op::Up { peer, add_path, v6, bgp_id } => {
                    // ADD-PATH for neither family, both, IPv4 only, IPv6 only.
                    let mut i = info(peer);
                    i.add_path_tx = match add_path {
                        0 => vec![],
                        1 => vec![V4U, V6U],
                        2 => vec![V4U],
                        _ => vec![V6U],
                    };
                    if !v6 {
                        i.families = vec![V4U];
                    }
                    i.bgp_id = Ipv4Addr::new(10, 0, 0, bgp_id);
                    rib.peer_up(i, &mut out);
                    held.remove(&PeerId(peer));
                    apply(&rib, &mut held, &mut out)?;
                    held.insert(PeerId(peer), rib.initial_table(PeerId(peer)).into_iter().collect());
                }
                Op::Down(peer) => {
                    rib.peer_down(PeerId(peer), &mut out);
                    held.remove(&PeerId(peer));
                    prop_assert_eq!(rib.adj_rib_in(PeerId(peer)).count(), 0);
                }
                Op::Stale { peer, v4, v6 } => {
                    let families: Vec<AfiSafi> = [(v4, V4U), (v6, V6U)].into_iter().filter(|f| f.0).map(|f| f.1).collect();
                    let n = rib.mark_stale(PeerId(peer), &families, &mut out);
                    held.remove(&PeerId(peer));
                    prop_assert_eq!(n, rib.counts(PeerId(peer)).stale);
                }
                Op::Purge { peer, family } => {
                    let family = family.map(|v6| if v6 { V6U } else { V4U });
                    rib.purge_stale(PeerId(peer), family, &mut out);
                }
                Op::Announce { peer, prefix, path_id, shape, reject, low_pref } => {
                    let a = shaped_attrs(peer, shape);
                    let verdict = if reject {
                        ImportVerdict::reject(reason(2, "test"))
                    } else {
                        ImportVerdict::Accept { attrs: a.clone(), local_pref: if low_pref { 0 } else { 100 } }
                    };
                    let n = Nlri { prefix: net(PREFIXES[prefix]), path_id };
                    let r = rib.announce(PeerId(peer), n, a, verdict, &seeded_export(export_seed), &mut out);
                    prop_assert_eq!(r.is_ok(), rib.is_up(PeerId(peer)));
                }
                Op::Withdraw { peer, prefix, path_id } => {
                    let n = Nlri { prefix: net(PREFIXES[prefix]), path_id };
                    let r = rib.withdraw(PeerId(peer), n, &mut out);
                    prop_assert_eq!(r.is_ok(), rib.is_up(PeerId(peer)));
                }
                Op::Export(seed) => {
                    export_seed = seed;
                    rib.reevaluate_export(&seeded_export(seed), &mut out);
                }
                Op::Import { peer, seed } => {
                    rib.reevaluate_import(peer.map(PeerId), &mut seeded_import(seed), &seeded_export(export_seed), &mut out);
                }
            }
            apply(&rib, &mut held, &mut out)?;
            check(&rib, &held)?;
        }
    }
}

/// Load and memory figures, for humans: `cargo test -p kumo-rib --release -- --ignored --nocapture load_figures`.
#[test]
#[ignore = "measurement, not a check"]
fn load_figures() {
    fn resident_bytes() -> usize {
        let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
        statm
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse::<usize>().ok())
            .unwrap_or(0)
            * 4096
    }
    const CLIENTS: u32 = 100;
    const PREFIXES_PER_CLIENT: u32 = 5_000;
    println!(
        "size_of: Path {} PathState {} IpNet {}",
        mem::size_of::<Path>(),
        mem::size_of::<PathState>(),
        mem::size_of::<IpNet>()
    );
    let mut rib = Rib::new();
    let mut out = Vec::new();
    for id in 0..CLIENTS {
        rib.peer_up(info(id), &mut out);
    }
    // One attribute set per client, as when a client sends few large UPDATEs.
    let sets: Vec<Attrs> = (0..CLIENTS).map(|id| attrs(id, &[65000], None)).collect();
    let before = resident_bytes();
    let start = std::time::Instant::now();
    let mut changes = 0usize;
    for id in 0..CLIENTS {
        for i in 0..PREFIXES_PER_CLIENT {
            // Every prefix is announced by two clients (multihoming).
            let n = (id / 2) * PREFIXES_PER_CLIENT + i;
            let prefix = IpNet::V4(ipnet::Ipv4Net::new(Ipv4Addr::from(0x0a00_0000 + (n << 8)), 24).unwrap());
            let a = &sets[id as usize];
            rib.announce(
                PeerId(id),
                Nlri {
                    prefix,
                    path_id: None,
                },
                a.clone(),
                ImportVerdict::accept(a.clone()),
                &ExportAll,
                &mut out,
            )
            .unwrap();
            changes += out.len();
            out.clear();
        }
    }
    let elapsed = start.elapsed();
    let paths = rib.path_count();
    println!(
        "{paths} paths on {} prefixes, {CLIENTS} clients: {:?} ({:.0} ns/announce), {changes} changes ({:.1} ns/change)",
        rib.prefix_count(),
        elapsed,
        elapsed.as_nanos() as f64 / paths as f64,
        elapsed.as_nanos() as f64 / changes as f64,
    );
    println!(
        "resident growth {:.0} bytes/path",
        (resident_bytes() - before) as f64 / paths as f64
    );
    let start = std::time::Instant::now();
    rib.peer_down(PeerId(0), &mut out);
    println!(
        "peer_down of {PREFIXES_PER_CLIENT} paths: {:?}, {} changes",
        start.elapsed(),
        out.len()
    );
}

#[test]
fn reevaluation_where_touches_only_the_selected_prefixes() {
    let mut rs = Rs::new([info(1), info(2)]);
    let a = attrs(1, &[], None);
    rs.announce(1, nlri("192.0.2.0/24"), &a);
    rs.announce(1, nlri("198.51.100.0/24"), &a);
    rs.out.clear();
    // An RPKI change covering 192.0.2.0/23 invalidates the route inside it only.
    let changed_vrp = net("192.0.2.0/23");
    let affected = |p: &IpNet| changed_vrp.contains(p);
    assert_eq!(rs.rib.paths_where(&affected).count(), 1);
    let mut asked = Vec::new();
    let mut import = |_: &PeerInfo, n: &Nlri, _: &Attrs| {
        asked.push(n.prefix);
        ImportVerdict::reject(reason(14, "RPKI invalid"))
    };
    let changed = rs
        .rib
        .reevaluate_import_where(&affected, &mut import, &ExportAll, &mut rs.out);
    assert_eq!(changed, 1);
    assert_eq!(asked, vec![net("192.0.2.0/24")]);
    assert_eq!(
        mem::take(&mut rs.out),
        vec![change(2, nlri("192.0.2.0/24"), None)]
    );
    assert_eq!(rs.holds(2, "198.51.100.0/24").len(), 1);
}

/// An export policy that answers many sets at once (as the WebAssembly
/// pipeline does), optionally answering one decision too few.
struct ManySets {
    calls: std::cell::Cell<usize>,
    one_too_few: bool,
}

fn by_med(src: &PeerInfo, _: &IpNet, attrs: &Attrs) -> ExportTargets {
    match (src.id, attrs.med().unwrap_or(0) % 3) {
        (PeerId(1), 0) => ExportTargets::AllExcept([PeerId(3)].into_iter().collect()),
        (PeerId(2), 1) => ExportTargets::Only([PeerId(4)].into_iter().collect()),
        _ => ExportTargets::All,
    }
}

impl ExportPolicy for ManySets {
    fn targets(&self, source: &PeerInfo, prefix: &IpNet, attrs: &Attrs) -> ExportDecision {
        by_med(source, prefix, attrs).into()
    }

    fn targets_sets(&self, sets: &[ExportSet<'_>], out: &mut Vec<ExportDecision>) {
        self.calls.set(self.calls.get() + 1);
        let start = out.len();
        for set in sets {
            out.extend(
                set.prefixes
                    .iter()
                    .map(|p| self.targets(set.source, p, set.attrs)),
            );
        }
        if self.one_too_few && out.len() > start {
            // The first answer missing: every later one is one prefix early.
            out.remove(start);
        }
    }
}

#[test]
fn reevaluate_export_asks_many_sets_at_once_and_never_misplaces_an_answer() {
    // 300 attribute sets (distinct MEDs) from two clients, two prefixes each.
    let build = || {
        let mut rs = Rs::new([info(1), info(2), info(3), info(4)]);
        for i in 0..300u32 {
            let from = 1 + i % 2;
            let a = attrs(from, &[], Some(i));
            for k in 0..2 {
                let n = Nlri {
                    prefix: IpNet::new(Ipv4Addr::from(0x0a00_0000 + (i << 9) + (k << 8)).into(), 24).unwrap(),
                    path_id: None,
                };
                rs.announce(from, n, &a);
            }
        }
        mem::take(&mut rs.out);
        rs
    };
    let mut expected = build();
    let changed = expected.rib.reevaluate_export(&by_med, &mut expected.out);
    let expected_out = sorted(mem::take(&mut expected.out));
    assert!(changed > 0 && !expected_out.is_empty());
    for one_too_few in [false, true] {
        let mut rs = build();
        let policy = ManySets {
            calls: Default::default(),
            one_too_few,
        };
        assert_eq!(
            rs.rib.reevaluate_export(&policy, &mut rs.out),
            changed,
            "one too few: {one_too_few}"
        );
        assert_eq!(
            sorted(mem::take(&mut rs.out)),
            expected_out,
            "one too few: {one_too_few}"
        );
        // 300 sets, 128 per question.
        assert_eq!(policy.calls.get(), 3);
    }
}

/// [`by_med`] that counts, per attribute set (by its MED), the questions
/// that asked about it.
#[derive(Default)]
struct CountingSets {
    asked: std::cell::RefCell<BTreeMap<u32, usize>>,
}

impl ExportPolicy for CountingSets {
    fn targets(&self, source: &PeerInfo, prefix: &IpNet, attrs: &Attrs) -> ExportDecision {
        by_med(source, prefix, attrs).into()
    }

    fn targets_sets(&self, sets: &[ExportSet<'_>], out: &mut Vec<ExportDecision>) {
        for set in sets {
            *self
                .asked
                .borrow_mut()
                .entry(set.attrs.med().unwrap_or(0))
                .or_default() += 1;
            out.extend(
                set.prefixes
                    .iter()
                    .map(|p| self.targets(set.source, p, set.attrs)),
            );
        }
    }
}

#[test]
fn reevaluate_export_in_steps_sends_each_prefix_once_and_the_same_changes() {
    // 3,000 IPv4 prefixes (three table parts of 1,024 entries) and 300
    // IPv6 ones (a fourth part) from two clients, in attribute sets of
    // three prefixes (set n: prefixes 3n..3n+3), every 100th IPv4 prefix
    // withdrawn again (free entries in the parts). Sets 341 (entries
    // 1,023-1,025) and 682 (2,046-2,048) lie across parts' borders.
    let sets: Vec<Attrs> = (0..1100u32).map(|n| attrs(1 + n % 2, &[], Some(n))).collect();
    let from = |i: u32| 1 + (i / 3) % 2;
    let prefix = |i: u32| Nlri {
        prefix: if i < 3000 {
            IpNet::new(Ipv4Addr::from(0x0a00_0000 + (i << 8)).into(), 24)
        } else {
            IpNet::new(
                Ipv6Addr::from(0x2001_0db8_u128 << 96 | u128::from(i) << 80).into(),
                48,
            )
        }
        .unwrap(),
        path_id: None,
    };
    let build = || {
        let mut rs = Rs::new([info(1), info(2), info(3), info(4)]);
        for i in 0..3300u32 {
            rs.announce(from(i), prefix(i), &sets[(i / 3) as usize]);
        }
        for i in (50..3000u32).step_by(100) {
            rs.withdraw(from(i), prefix(i));
        }
        mem::take(&mut rs.out);
        rs
    };
    let mut whole = build();
    let changed = whole.rib.reevaluate_export(&by_med, &mut whole.out);
    let expected = sorted(mem::take(&mut whole.out));
    assert!(changed > 0);

    // Parts per step, and the sets then asked about in two steps.
    for (step, across) in [(1, vec![341, 682]), (2, vec![682]), (3, vec![])] {
        let mut rs = build();
        assert_eq!(rs.rib.table.parts(), 4);
        let policy = CountingSets::default();
        let mut steps: Vec<Vec<OutChange>> = Vec::new();
        let by_parts = rs
            .rib
            .reevaluate_export_by_parts(&policy, &mut rs.out, step, |out| steps.push(mem::take(out)));
        assert_eq!(by_parts, changed, "step {step}");
        assert_eq!(steps.len(), 4usize.div_ceil(step), "step {step}");
        // Every step has changes, and a prefix's changes are all in one step.
        let mut seen = HashSet::new();
        for changes in &steps {
            assert!(!changes.is_empty(), "step {step}");
            let here: HashSet<_> = changes.iter().map(|c| c.nlri).collect();
            assert!(here.is_disjoint(&seen), "step {step}");
            seen.extend(here);
        }
        assert_eq!(sorted(steps.concat()), expected, "step {step}");
        let asked = policy.asked.into_inner();
        assert_eq!(asked.len(), 1100, "step {step}");
        let twice: Vec<u32> = asked.iter().filter(|(_, n)| **n == 2).map(|(m, _)| *m).collect();
        assert_eq!(twice, across, "step {step}");
        assert!(asked.values().all(|n| *n <= 2), "step {step}");
    }
}
