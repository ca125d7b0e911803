//! The decision process: which of several paths for a prefix is best.
//!
//! RFC 4271 §9.1.2.2 adapted to an all-eBGP route server, and fully
//! deterministic. In order:
//! 1. higher LOCAL_PREF (set by the import policy; e.g. GRACEFUL_SHUTDOWN lowers it);
//! 2. a non-stale path over a stale one (GR helper / static-hold);
//! 3. shorter AS_PATH (an AS_SET counts 1, confederation segments 0);
//! 4. lower ORIGIN (IGP < EGP < INCOMPLETE; a missing ORIGIN counts as INCOMPLETE);
//! 5. lower MED (missing = 0), **only between paths with the same neighbour AS**;
//! 6. lower BGP Identifier of the source peer;
//! 7. lower peer address;
//! 8. lower path identifier (as received with ADD-PATH; none sorts first);
//! 9. lower [`PeerId`] (only two sessions with the same BGP Identifier and
//!    address get here; it keeps the order total).
//!
//! Rule 5 is not transitive, so the outcome of a pairwise scan would depend on
//! arrival order. We do what BIRD calls `deterministic med`: paths are grouped
//! by neighbour AS, each group's winner is chosen with MED, and the group
//! winners are compared without it. Both comparisons are total orders, so the
//! result is the same for any order of the candidates.

use std::cmp::Ordering;
use std::net::{IpAddr, Ipv4Addr};

use kumo_wire::Origin;

use crate::Attrs;
use crate::peer::PeerId;

/// What the decision process looks at for one path, extracted once per
/// candidate list so that per-client selections do not walk AS_PATHs again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RankKey {
    pub local_pref: u32,
    pub stale: bool,
    pub as_path_len: u32,
    pub origin: Origin,
    pub med: u32,
    /// Leftmost AS of the AS_PATH; `None` when it does not start with an AS_SEQUENCE.
    pub neighbour_as: Option<u32>,
    pub bgp_id: Ipv4Addr,
    pub address: IpAddr,
    pub path_id: Option<u32>,
    pub source: PeerId,
}

/// The source session's identity, as far as tie-breaking goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceIdent {
    pub bgp_id: Ipv4Addr,
    pub address: IpAddr,
}

impl RankKey {
    pub fn new(
        attrs: &Attrs,
        local_pref: u32,
        stale: bool,
        source: PeerId,
        ident: SourceIdent,
        path_id: Option<u32>,
    ) -> Self {
        let (as_path_len, neighbour_as) = match attrs.as_path_segments() {
            Some(p) => (
                u32::try_from(p.clone().path_len()).unwrap_or(u32::MAX),
                p.first_asn(),
            ),
            None => (0, None),
        };
        RankKey {
            local_pref,
            stale,
            as_path_len,
            origin: attrs.origin().unwrap_or(Origin::Incomplete),
            med: attrs.med().unwrap_or(0),
            neighbour_as,
            bgp_id: ident.bgp_id,
            address: ident.address,
            path_id,
            source,
        }
    }
}

/// Compares without MED; `Greater` means `a` is preferred.
pub fn cmp_without_med(a: &RankKey, b: &RankKey) -> Ordering {
    cmp_attributes(a, b).then_with(|| cmp_tie_break(a, b))
}

/// Compares with MED (meaningful only within one neighbour AS); `Greater`
/// means `a` is preferred.
pub fn cmp_with_med(a: &RankKey, b: &RankKey) -> Ordering {
    cmp_attributes(a, b)
        .then(b.med.cmp(&a.med))
        .then_with(|| cmp_tie_break(a, b))
}

fn cmp_attributes(a: &RankKey, b: &RankKey) -> Ordering {
    a.local_pref
        .cmp(&b.local_pref)
        .then(b.stale.cmp(&a.stale))
        .then(b.as_path_len.cmp(&a.as_path_len))
        .then(b.origin.cmp(&a.origin))
}

fn cmp_tie_break(a: &RankKey, b: &RankKey) -> Ordering {
    b.bgp_id
        .cmp(&a.bgp_id)
        .then(b.address.cmp(&a.address))
        .then(b.path_id.cmp(&a.path_id))
        .then(b.source.cmp(&a.source))
}

/// The best of the keys for which `eligible(index)` holds.
///
/// The best is the greatest group winner under [`cmp_without_med`]. A key that
/// does not beat the current best without MED cannot be that, so the (linear)
/// group-winner check only runs for keys that would displace the current best.
pub fn best(keys: &[RankKey], eligible: impl Fn(usize) -> bool) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (i, key) in keys.iter().enumerate() {
        if !eligible(i) {
            continue;
        }
        if let Some(b) = best
            && cmp_without_med(key, &keys[b]) != Ordering::Greater
        {
            continue;
        }
        let wins_group = keys.iter().enumerate().all(|(j, other)| {
            j == i
                || other.neighbour_as != key.neighbour_as
                || !eligible(j)
                || cmp_with_med(key, other) == Ordering::Greater
        });
        if wins_group {
            best = Some(i);
        }
    }
    best
}

/// A candidate list ranked once, so that the best path for many clients can
/// be found without running the full process for each.
///
/// With `winners` (group winners, best first) and the `contested` winners
/// (those whose group has other members), the best path for a client that may
/// receive every contested winner is the first winner it may receive: hiding
/// an uncontested winner removes its group entirely and leaves every other
/// group's winner unchanged. Otherwise a contested group may have a different
/// winner for that client, and [`best`] runs over the full list.
#[derive(Debug, Default)]
pub struct Ranking {
    keys: Vec<RankKey>,
    /// Candidate position of each key (rejected candidates have no key).
    slots: Vec<usize>,
    winners: Vec<usize>,
    contested: Vec<usize>,
    order: Vec<usize>,
}

impl Ranking {
    /// Ranks `candidates`, given as (candidate position, key) pairs.
    pub fn rebuild(&mut self, candidates: impl Iterator<Item = (usize, RankKey)>) {
        self.keys.clear();
        self.slots.clear();
        self.winners.clear();
        self.contested.clear();
        for (slot, key) in candidates {
            self.slots.push(slot);
            self.keys.push(key);
        }
        let keys = &self.keys;
        self.order.clear();
        self.order.extend(0..keys.len());
        // Group by neighbour AS, best first within each group.
        self.order.sort_unstable_by(|&a, &b| {
            keys[a]
                .neighbour_as
                .cmp(&keys[b].neighbour_as)
                .then_with(|| cmp_with_med(&keys[b], &keys[a]))
        });
        let mut i = 0;
        while i < self.order.len() {
            let head = self.order[i];
            let mut end = i + 1;
            while end < self.order.len() && keys[self.order[end]].neighbour_as == keys[head].neighbour_as {
                end += 1;
            }
            self.winners.push(head);
            if end - i > 1 {
                self.contested.push(head);
            }
            i = end;
        }
        self.winners
            .sort_unstable_by(|&a, &b| cmp_without_med(&keys[b], &keys[a]));
    }

    /// The candidate position of the best path among those `eligible` (by
    /// candidate position) for one client.
    pub fn best_for(&self, eligible: impl Fn(usize) -> bool) -> Option<usize> {
        if self.contested.iter().all(|&k| eligible(self.slots[k])) {
            self.winners
                .iter()
                .map(|&k| self.slots[k])
                .find(|&slot| eligible(slot))
        } else {
            best(&self.keys, |k| eligible(self.slots[k])).map(|k| self.slots[k])
        }
    }

    /// The candidate position of the overall best path.
    pub fn overall_best(&self) -> Option<usize> {
        self.winners.first().map(|&k| self.slots[k])
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::RouteAttrs;
    use kumo_wire::{AsPath, AsPathSegment, PathAttributes};
    use proptest::prelude::*;

    fn key(source: u32) -> RankKey {
        RankKey {
            local_pref: 100,
            stale: false,
            as_path_len: 2,
            origin: Origin::Igp,
            med: 0,
            neighbour_as: Some(64500 + source),
            bgp_id: Ipv4Addr::new(10, 0, 0, source as u8),
            address: IpAddr::V4(Ipv4Addr::new(192, 0, 2, source as u8)),
            path_id: None,
            source: PeerId(source),
        }
    }

    /// Index of the best of all keys.
    fn winner(keys: &[RankKey]) -> usize {
        best(keys, |_| true).unwrap()
    }

    /// `b` is the better one by exactly one rule; check both orders.
    fn assert_prefers(worse: RankKey, better: RankKey) {
        assert_eq!(winner(&[worse, better]), 1, "{better:?} should beat {worse:?}");
        assert_eq!(winner(&[better, worse]), 0, "{better:?} should beat {worse:?}");
    }

    #[test]
    fn each_rule_decides() {
        // Each `better` is worse than `worse` on every later rule, so the
        // named rule is the one deciding.
        let worse = key(1);
        let mut better = key(2);
        better.local_pref = 200;
        better.as_path_len = 9;
        assert_prefers(worse, better);

        let mut stale = key(1);
        stale.stale = true;
        let mut fresh = key(2);
        fresh.as_path_len = 9;
        assert_prefers(stale, fresh);

        let mut long = key(1);
        long.as_path_len = 3;
        let mut short = key(2);
        short.origin = Origin::Incomplete;
        assert_prefers(long, short);

        let mut egp = key(1);
        egp.origin = Origin::Egp;
        let mut igp = key(2);
        igp.med = 1000;
        assert_prefers(egp, igp);

        // MED, same neighbour AS.
        let mut high = key(1);
        high.med = 20;
        let mut low = key(2);
        low.neighbour_as = high.neighbour_as;
        low.med = 10;
        assert_prefers(high, low);

        // BGP identifier (lower wins) over address.
        let mut hi_id = key(1);
        hi_id.bgp_id = Ipv4Addr::new(10, 0, 0, 9);
        hi_id.address = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
        let mut lo_id = key(2);
        lo_id.bgp_id = Ipv4Addr::new(10, 0, 0, 1);
        lo_id.address = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 9));
        assert_prefers(hi_id, lo_id);

        // Same BGP identifier: lower address.
        let mut hi_addr = lo_id;
        hi_addr.address = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 200));
        hi_addr.source = PeerId(0);
        assert_prefers(hi_addr, lo_id);

        // Same session identity: lower path id.
        let mut p2 = lo_id;
        p2.path_id = Some(2);
        p2.source = PeerId(0);
        let mut p1 = lo_id;
        p1.path_id = Some(1);
        assert_prefers(p2, p1);
    }

    #[test]
    fn med_is_ignored_across_neighbour_ases() {
        let mut a = key(1);
        a.med = 0;
        let mut b = key(2);
        b.med = 50;
        // Different neighbour AS: MED is skipped and the lower BGP id (a's) decides.
        a.bgp_id = Ipv4Addr::new(10, 0, 0, 9);
        b.bgp_id = Ipv4Addr::new(10, 0, 0, 1);
        assert_eq!(winner(&[a, b]), 1);
    }

    #[test]
    fn deterministic_med_groups_first() {
        // Classic non-transitive triple: x beats y by MED (same AS),
        // y beats z by BGP id, z beats x by BGP id.
        let mut x = key(3);
        x.neighbour_as = Some(1);
        x.med = 0;
        let mut y = key(1);
        y.neighbour_as = Some(1);
        y.med = 10;
        let mut z = key(2);
        z.neighbour_as = Some(2);
        // Group AS1 winner is x (MED); x vs z without MED: z has the lower id.
        for order in [[x, y, z], [y, z, x], [z, x, y], [x, z, y], [y, x, z], [z, y, x]] {
            let w = winner(&order);
            assert_eq!(order[w].source, z.source);
        }
        // Without x, y wins its group and beats z by BGP id.
        assert_eq!(best(&[x, y, z], |i| i != 0), Some(1));
    }

    #[test]
    fn as_path_length_rules() {
        let p = AsPath::from(vec![
            AsPathSegment::ConfedSequence(vec![1, 2]),
            AsPathSegment::Sequence(vec![3, 4, 5]),
            AsPathSegment::Set(vec![6, 7]),
            AsPathSegment::ConfedSet(vec![8]),
        ]);
        let key = |path: Option<AsPath>| {
            let attrs = PathAttributes {
                as_path: path,
                ..Default::default()
            };
            let ident = SourceIdent {
                bgp_id: Ipv4Addr::LOCALHOST,
                address: IpAddr::V4(Ipv4Addr::LOCALHOST),
            };
            let key = RankKey::new(
                &Attrs::new(&RouteAttrs::new(attrs, None)),
                100,
                false,
                PeerId(1),
                ident,
                None,
            );
            (key.as_path_len, key.neighbour_as)
        };
        assert_eq!(key(Some(p)), (4, None));
        let q = AsPath::from(vec![AsPathSegment::Sequence(vec![64501, 3])]);
        assert_eq!(key(Some(q)), (2, Some(64501)));
        assert_eq!(key(Some(AsPath::default())), (0, None));
        assert_eq!(key(None), (0, None));
    }

    #[test]
    fn ranking_fast_path_handles_hidden_winners() {
        let mut x = key(3);
        x.neighbour_as = Some(1);
        let mut y = key(1);
        y.neighbour_as = Some(1);
        y.med = 10;
        let z = key(2);
        let keys = [x, y, z];
        let mut r = Ranking::default();
        r.rebuild(keys.iter().copied().enumerate().map(|(i, k)| (i * 2, k)));
        assert_eq!(r.overall_best(), Some(4));
        assert_eq!(r.best_for(|_| true), Some(4));
        // Hiding z: the next winner is x.
        assert_eq!(r.best_for(|s| s != 4), Some(0));
        // Hiding contested x makes y the winner of AS 1, which beats z.
        assert_eq!(r.best_for(|s| s != 0), Some(2));
        assert_eq!(r.best_for(|_| false), None);
    }

    fn arb_key() -> impl Strategy<Value = RankKey> {
        (
            prop_oneof![Just(100u32), Just(50), Just(200)],
            any::<bool>(),
            1u32..4,
            prop_oneof![Just(Origin::Igp), Just(Origin::Egp), Just(Origin::Incomplete)],
            0u32..4,
            prop_oneof![Just(None), (1u32..4).prop_map(Some)],
            0u8..4,
            0u8..3,
        )
            .prop_map(
                |(local_pref, stale, as_path_len, origin, med, neighbour_as, id, addr)| RankKey {
                    local_pref,
                    stale,
                    as_path_len,
                    origin,
                    med,
                    neighbour_as,
                    bgp_id: Ipv4Addr::new(10, 0, 0, id),
                    address: IpAddr::V4(Ipv4Addr::new(192, 0, 2, addr)),
                    path_id: None,
                    source: PeerId(0),
                },
            )
    }

    /// Distinct sources make every key distinct, as in a real candidate list.
    fn arb_keys() -> impl Strategy<Value = Vec<RankKey>> {
        prop::collection::vec(arb_key(), 1..8).prop_map(|mut v| {
            for (i, k) in v.iter_mut().enumerate() {
                k.source = PeerId(i as u32);
            }
            v
        })
    }

    /// Straightforward deterministic MED: explicit groups, then the maximum.
    fn reference_best(keys: &[RankKey], eligible: &dyn Fn(usize) -> bool) -> Option<usize> {
        let mut groups: std::collections::BTreeMap<Option<u32>, Vec<usize>> = Default::default();
        for i in (0..keys.len()).filter(|&i| eligible(i)) {
            groups.entry(keys[i].neighbour_as).or_default().push(i);
        }
        groups
            .values()
            .map(|g| {
                *g.iter()
                    .max_by(|&&a, &&b| cmp_with_med(&keys[a], &keys[b]))
                    .unwrap()
            })
            .max_by(|&a, &b| cmp_without_med(&keys[a], &keys[b]))
    }

    proptest! {
        #[test]
        fn selection_is_independent_of_order(
            (keys, shuffled) in arb_keys().prop_flat_map(|k| (Just(k.clone()), Just(k).prop_shuffle())),
            mask in any::<u8>(),
        ) {
            // The mask selects by source, so it means the same paths in both orders.
            let in_mask = |k: &RankKey| mask & (1 << k.source.0) != 0;
            let chosen = best(&keys, |i| in_mask(&keys[i])).map(|i| keys[i].source);
            let again = best(&shuffled, |i| in_mask(&shuffled[i])).map(|i| shuffled[i].source);
            prop_assert_eq!(chosen, again);
        }

        #[test]
        fn best_matches_reference(keys in arb_keys(), mask in any::<u8>()) {
            let eligible = |i: usize| mask & (1 << i) != 0;
            prop_assert_eq!(best(&keys, eligible), reference_best(&keys, &eligible));
        }

        #[test]
        fn ranking_matches_best(keys in arb_keys(), mask in any::<u8>()) {
            let mut r = Ranking::default();
            r.rebuild(keys.iter().copied().enumerate());
            let eligible = |i: usize| mask & (1 << i) != 0;
            prop_assert_eq!(r.best_for(eligible), best(&keys, eligible));
            prop_assert_eq!(r.overall_best(), best(&keys, |_| true));
        }
    }
}
