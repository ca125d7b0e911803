//! Where the RIB's changes for clients go: [`OutSink`], implemented by a
//! plain `Vec<OutChange>` (one entry per client and route, simple to test
//! against) and by [`OutChanges`] (what the daemon uses).
//!
//! [`OutChanges`] stores a change of one route for many clients once. The
//! RIB decides a prefix's change once for every client no path singles out
//! and pushes it as "every Best-mode receiver but these few"
//! ([`OutSink::push_change_all_but`]): one entry holding the exceptions and
//! an index to the shared receiver list. The few decided one by one, and
//! ADD-PATH receivers, come client by client; consecutive changes of one
//! route with one attribute set become one entry with a run of receiver
//! ids (4 octets each). Why: per-receiver entries and their moves were a
//! quarter of kumo's time with 300 clients, and the per-client pushes of
//! the common change ~10 % (BENCHMARKS.md, sessions 3 and 13).

use std::sync::Arc;

use kumo_wire::Nlri;

use crate::FastMap;
use crate::attrs::Attrs;
use crate::peer::PeerId;

/// One change to send to one client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutChange {
    pub client: PeerId,
    /// `path_id` is kumo's local path id for ADD-PATH clients, `None` otherwise.
    pub nlri: Nlri,
    /// `None` withdraws the NLRI; `Some` announces or replaces it.
    pub attrs: Option<Attrs>,
}

/// Receives the changes the RIB emits, in order.
pub trait OutSink {
    /// `client` must be sent `attrs` for `nlri` (`None`: a withdrawal).
    fn push_change(&mut self, client: PeerId, nlri: Nlri, attrs: Option<&Attrs>);

    /// Every client of `all` but those of `except` must be sent `attrs` for
    /// `nlri`. Both lists are strictly increasing (sorted, no duplicates).
    /// The RIB decides a prefix's change once for every client no path
    /// singles out (most of them, at an IXP) and says so here, instead of
    /// once per client; this default hands it on client by client.
    fn push_change_all_but(
        &mut self,
        all: &Arc<[PeerId]>,
        except: &[PeerId],
        nlri: Nlri,
        attrs: Option<&Attrs>,
    ) {
        for client in (Receivers::AllBut { all, except }).iter() {
            self.push_change(client, nlri, attrs);
        }
    }
}

impl OutSink for Vec<OutChange> {
    fn push_change(&mut self, client: PeerId, nlri: Nlri, attrs: Option<&Attrs>) {
        self.push(OutChange {
            client,
            nlri,
            attrs: attrs.cloned(),
        });
    }
}

/// The receivers of one change or run: a list of ids, or every client of a
/// shared list but a few. Lists are strictly increasing.
#[derive(Debug, Clone, Copy)]
pub enum Receivers<'a> {
    List(&'a [PeerId]),
    AllBut { all: &'a [PeerId], except: &'a [PeerId] },
}

impl<'a> Receivers<'a> {
    /// The receivers in order.
    pub fn iter(self) -> impl Iterator<Item = PeerId> + 'a {
        let (list, except) = match self {
            Receivers::List(list) => (list, &[][..]),
            Receivers::AllBut { all, except } => (all, except),
        };
        // Both sorted: walk `except` along `list`.
        let mut skip = except.iter().copied().peekable();
        list.iter().copied().filter(move |&client| {
            while skip.next_if(|&s| s < client).is_some() {}
            skip.next_if_eq(&client).is_none()
        })
    }

    /// Number of receivers.
    pub fn len(self) -> usize {
        match self {
            Receivers::List(list) => list.len(),
            Receivers::AllBut { all, except } => {
                all.len() - except.iter().filter(|c| all.binary_search(c).is_ok()).count()
            }
        }
    }

    /// No receiver at all?
    pub fn is_empty(self) -> bool {
        self.len() == 0
    }

    /// The same description (not only the same clients): lists equal, or the
    /// same shared list (by address) with equal exceptions. Two descriptions
    /// of one set that differ only cost a run of their own.
    fn same(self, other: Receivers<'_>) -> bool {
        match (self, other) {
            (Receivers::List(a), Receivers::List(b)) => a == b,
            (Receivers::AllBut { all: a, except: x }, Receivers::AllBut { all: b, except: y }) => {
                a.as_ptr() == b.as_ptr() && a.len() == b.len() && x == y
            }
            _ => false,
        }
    }

    /// A cheap hash of the description (FxHash's step): runs are compared in
    /// full on a hit ([`Receivers::same`]), and hashing each id through the
    /// map's hasher would cost more than the rest of the fold for a route
    /// sent to hundreds of clients.
    fn key(self) -> u64 {
        let (seed, ids) = match self {
            Receivers::List(list) => (list.len() as u64, list),
            Receivers::AllBut { all, except } => (!(all.as_ptr() as u64), except),
        };
        ids.iter().fold(seed, |h, p| {
            (h.rotate_left(5) ^ u64::from(p.0)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95)
        })
    }
}

/// One route's change and the receivers it is for.
#[derive(Debug, Clone)]
struct RouteChange {
    nlri: Nlri,
    attrs: Option<Attrs>,
    /// End of this change's ids in `OutChanges::receivers`: its receivers,
    /// or, if `all` is set, the exceptions.
    end: u32,
    /// Index in `OutChanges::all` of the shared list the change is for
    /// (everyone in it but the ids above), or [`LISTED`].
    all: u32,
}

/// [`RouteChange::all`] of a change for the listed receivers only.
const LISTED: u32 = u32::MAX;

/// The changes for one set of receivers (see [`OutChanges::runs`]).
#[derive(Debug, Clone)]
pub struct OutRun<'a> {
    pub receivers: Receivers<'a>,
    pub routes: Vec<(Nlri, &'a Option<Attrs>)>,
}

/// Changes for clients, grouped by route (see the module docs).
#[derive(Debug, Clone, Default)]
pub struct OutChanges {
    routes: Vec<RouteChange>,
    receivers: Vec<PeerId>,
    /// The shared receiver lists of `push_change_all_but`, each once per run
    /// of changes for it (an index per change instead of a reference count).
    all: Vec<Arc<[PeerId]>>,
    /// (client, route) changes held.
    changes: usize,
}

impl OutSink for OutChanges {
    fn push_change(&mut self, client: PeerId, nlri: Nlri, attrs: Option<&Attrs>) {
        let same = self.routes.last().is_some_and(|last| {
            last.all == LISTED
                && last.nlri == nlri
                && match (&last.attrs, attrs) {
                    (Some(a), Some(b)) => Attrs::ptr_eq(a, b),
                    (None, None) => true,
                    _ => false,
                }
        });
        self.receivers.push(client);
        self.changes += 1;
        let end = self.receivers.len() as u32;
        match self.routes.last_mut() {
            Some(last) if same => last.end = end,
            _ => self.routes.push(RouteChange {
                nlri,
                attrs: attrs.cloned(),
                end,
                all: LISTED,
            }),
        }
    }

    fn push_change_all_but(
        &mut self,
        all: &Arc<[PeerId]>,
        except: &[PeerId],
        nlri: Nlri,
        attrs: Option<&Attrs>,
    ) {
        debug_assert!(
            all.windows(2).all(|w| w[0] < w[1]),
            "`all` not strictly increasing"
        );
        debug_assert!(
            except.windows(2).all(|w| w[0] < w[1]),
            "`except` not strictly increasing"
        );
        let count = Receivers::AllBut { all, except }.len();
        if count == 0 {
            return;
        }
        let index = match self.all.last() {
            Some(last) if Arc::ptr_eq(last, all) => self.all.len() - 1,
            _ => {
                self.all.push(all.clone());
                self.all.len() - 1
            }
        };
        self.receivers.extend_from_slice(except);
        self.changes += count;
        self.routes.push(RouteChange {
            nlri,
            attrs: attrs.cloned(),
            end: self.receivers.len() as u32,
            all: index as u32,
        });
    }
}

impl OutChanges {
    /// Number of (client, route) changes.
    pub fn len(&self) -> usize {
        self.changes
    }

    /// Nothing to send?
    pub fn is_empty(&self) -> bool {
        self.changes == 0
    }

    /// Number of route changes stored (one for all the receivers of a
    /// change), which is what the buffers' size follows.
    pub fn route_changes(&self) -> usize {
        self.routes.len()
    }

    /// Forget everything, keeping the buffers.
    pub fn clear(&mut self) {
        self.routes.clear();
        self.receivers.clear();
        self.all.clear();
        self.changes = 0;
    }

    /// Memory held by the buffers, in entries (to drop them after a rare big batch).
    pub fn capacity(&self) -> usize {
        self.receivers
            .capacity()
            .max(self.routes.capacity())
            .max(self.all.capacity())
    }

    /// The changes in order: each route's change with its receivers.
    pub fn routes(&self) -> impl Iterator<Item = (Nlri, &Option<Attrs>, Receivers<'_>)> + '_ {
        let mut start = 0;
        self.routes.iter().map(move |r| {
            let end = r.end as usize;
            let ids = self.receivers.get(start..end).unwrap_or_default();
            start = end;
            let receivers = match self.all.get(r.all as usize) {
                Some(all) => Receivers::AllBut { all, except: ids },
                None => Receivers::List(ids),
            };
            (r.nlri, &r.attrs, receivers)
        })
    }

    /// The changes folded into one run per distinct set of receivers, each
    /// run's routes in the order they were pushed. Every client still gets
    /// the changes of one NLRI in the order they were pushed; changes of
    /// different NLRIs may be reordered, which BGP does not observe.
    ///
    /// Why: the RIB emits prefix by prefix, so the changes for one receiver
    /// set (say the routes of one source that one client must not get)
    /// arrive scattered between other sets' changes. Folded, they fill one
    /// shared segment and pack into few UPDATEs instead of one UPDATE and
    /// one queued pointer per route and receiver.
    pub fn runs(&self) -> Vec<OutRun<'_>> {
        let mut runs: Vec<OutRun<'_>> = Vec::new();
        // Latest run of a receiver set, by a hash of the set (a collision
        // only costs a fresh run: a hit is compared in full).
        let mut by_receivers: FastMap<u64, usize> = FastMap::default();
        // Latest run each NLRI went to: a change may join an earlier run
        // only if no change of its NLRI is in a later one.
        let mut latest: FastMap<Nlri, usize> = FastMap::default();
        let mut current: Option<usize> = None;
        for (nlri, attrs, receivers) in self.routes() {
            let same_as_current = current.is_some_and(|i| runs[i].receivers.same(receivers));
            let mut key = None;
            let found = if same_as_current {
                current
            } else {
                let k = *key.insert(receivers.key());
                by_receivers
                    .get(&k)
                    .copied()
                    .filter(|&i| runs[i].receivers.same(receivers))
            };
            let place = match (found, latest.get(&nlri)) {
                (Some(i), Some(&after)) if after > i => None,
                (found, _) => found,
            };
            let i = match place {
                Some(i) => i,
                None => {
                    runs.push(OutRun {
                        receivers,
                        routes: Vec::new(),
                    });
                    let k = key.unwrap_or_else(|| receivers.key());
                    by_receivers.insert(k, runs.len() - 1);
                    runs.len() - 1
                }
            };
            runs[i].routes.push((nlri, attrs));
            latest.insert(nlri, i);
            current = Some(i);
        }
        runs
    }

    /// One [`OutChange`] per client and route, in order.
    pub fn iter(&self) -> impl Iterator<Item = OutChange> + '_ {
        self.routes().flat_map(|(nlri, attrs, receivers)| {
            receivers.iter().map(move |client| OutChange {
                client,
                nlri,
                attrs: attrs.clone(),
            })
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn nlri(s: &str) -> Nlri {
        Nlri {
            prefix: s.parse().unwrap(),
            path_id: None,
        }
    }

    #[test]
    fn a_route_for_many_receivers_is_stored_once_in_order() {
        let a: Attrs = Attrs::default();
        let b: Attrs = Attrs::default();
        let (p, q) = (nlri("10.0.0.0/24"), nlri("10.0.1.0/24"));
        let pushes = [
            (1, p, Some(&a)),
            (2, p, Some(&a)),
            (3, p, Some(&b)), // equal content, another set: a change of its own
            (1, q, None),
            (2, q, None),
            (1, p, None),
        ];
        let (mut grouped, mut plain) = (OutChanges::default(), Vec::new());
        for (client, n, attrs) in pushes {
            grouped.push_change(PeerId(client), n, attrs);
            plain.push_change(PeerId(client), n, attrs);
        }
        assert_eq!(grouped.len(), 6);
        assert_eq!(grouped.routes().count(), 4);
        let receivers: Vec<Vec<u32>> = grouped
            .routes()
            .map(|(_, _, r)| r.iter().map(|p| p.0).collect())
            .collect();
        assert_eq!(receivers, vec![vec![1, 2], vec![3], vec![1, 2], vec![1]]);
        assert!(grouped.iter().eq(plain.iter().cloned()));
        assert!(
            grouped
                .iter()
                .zip(&plain)
                .all(|(g, p)| match (&g.attrs, &p.attrs) {
                    (Some(x), Some(y)) => Attrs::ptr_eq(x, y),
                    (x, y) => x.is_none() && y.is_none(),
                })
        );
        grouped.clear();
        assert!(grouped.is_empty() && grouped.routes().next().is_none());
    }

    /// Per client, the changes it receives: NLRI and attribute set's address.
    type Received = std::collections::BTreeMap<u32, Vec<(Nlri, Option<usize>)>>;

    /// What each client receives when the runs are handed out in order.
    fn per_client(runs: &[OutRun<'_>]) -> Received {
        let mut got = Received::default();
        for run in runs {
            for client in run.receivers.iter() {
                for (nlri, attrs) in &run.routes {
                    got.entry(client.0)
                        .or_default()
                        .push((*nlri, attrs.as_ref().map(Attrs::addr)));
                }
            }
        }
        got
    }

    /// Each run's receivers and number of routes.
    fn shape(runs: &[OutRun<'_>]) -> Vec<(Vec<u32>, usize)> {
        runs.iter()
            .map(|r| (r.receivers.iter().map(|p| p.0).collect(), r.routes.len()))
            .collect()
    }

    fn ids(ids: &[u32]) -> Vec<PeerId> {
        ids.iter().copied().map(PeerId).collect()
    }

    #[test]
    fn a_change_for_all_but_a_few_is_stored_once_and_folds_by_its_exceptions() {
        let a = Attrs::default();
        let all: Arc<[PeerId]> = ids(&[1, 2, 3, 5, 8]).into();
        let (p, q, r) = (nlri("10.0.0.0/24"), nlri("10.0.1.0/24"), nlri("10.0.2.0/24"));
        let mut out = OutChanges::default();
        // As the RIB emits: the usual change, then the sources' own.
        out.push_change_all_but(&all, &ids(&[2]), p, Some(&a));
        out.push_change(PeerId(2), p, None);
        out.push_change_all_but(&all, &ids(&[3]), q, Some(&a));
        out.push_change_all_but(&all, &ids(&[2]), r, Some(&a));
        // An exception outside the list changes nothing; all excepted: no change.
        out.push_change_all_but(&all, &ids(&[4]), r, None);
        out.push_change_all_but(&all, &ids(&[1, 2, 3, 5, 8]), q, None);
        assert_eq!(out.len(), 4 + 1 + 4 + 4 + 5);
        assert_eq!(out.routes().count(), 5);
        assert_eq!(
            shape(&out.runs()),
            vec![
                (vec![1, 3, 5, 8], 2),
                (vec![2], 1),
                (vec![1, 2, 5, 8], 1),
                (vec![1, 2, 3, 5, 8], 1)
            ]
        );
        let mut plain = Vec::new();
        plain.push_change_all_but(&all, &ids(&[2]), p, Some(&a));
        assert_eq!(plain.iter().map(|c| c.client.0).collect::<Vec<_>>(), [1, 3, 5, 8]);
        assert!(out.iter().take(4).eq(plain.iter().cloned()));
        out.clear();
        assert!(out.is_empty() && out.routes().next().is_none());
    }

    #[test]
    fn scattered_changes_of_one_receiver_set_fold_into_one_run() {
        let (a, b) = (Attrs::default(), Attrs::default());
        let (p, q, r) = (nlri("10.0.0.0/24"), nlri("10.0.1.0/24"), nlri("10.0.2.0/24"));
        // As the RIB emits a policy change: per prefix, the route for all
        // but one client and a withdrawal for that one.
        let mut out = OutChanges::default();
        for n in [p, q, r] {
            out.push_change(PeerId(1), n, Some(&a));
            out.push_change(PeerId(2), n, None);
            out.push_change(PeerId(3), n, Some(&a));
        }
        assert_eq!(shape(&out.runs()), vec![(vec![1], 3), (vec![2], 3), (vec![3], 3)]);

        // A later change of an NLRI never joins a run before its earlier one.
        let mut out = OutChanges::default();
        out.push_change(PeerId(1), p, Some(&a));
        out.push_change(PeerId(2), p, Some(&a));
        out.push_change(PeerId(1), p, Some(&b));
        out.push_change(PeerId(1), q, Some(&a));
        out.push_change(PeerId(2), q, Some(&a));
        out.push_change(PeerId(1), p, None);
        out.push_change(PeerId(2), p, None);
        let runs = out.runs();
        // q joins the first run (nothing of q is later); p's withdrawal
        // cannot (p's second change is in a later run), so it starts a run.
        assert_eq!(shape(&runs), vec![(vec![1, 2], 2), (vec![1], 1), (vec![1, 2], 1)]);
        let got = per_client(&runs);
        assert_eq!(
            got[&1],
            [
                (p, Some(a.addr())),
                (q, Some(a.addr())),
                (p, Some(b.addr())),
                (p, None)
            ]
        );
        assert_eq!(got[&2], [(p, Some(a.addr())), (q, Some(a.addr())), (p, None)]);
    }

    proptest::proptest! {
        /// Folded into runs, every client gets exactly its changes, those of
        /// one NLRI in the order they were pushed, whether the changes came
        /// client by client or for all of a shared list but a few.
        #[test]
        fn runs_keep_each_clients_changes_of_an_nlri_in_order(
            emits in proptest::collection::vec(
                (
                    0u8..6,
                    proptest::option::of((0usize..2, proptest::collection::vec(0u32..7, 0..4), 0usize..4)),
                    proptest::collection::vec((0u32..7, 0usize..4), 0..6),
                ),
                0..40,
            ),
        ) {
            let sets = [Attrs::default(), Attrs::default(), Attrs::default()];
            let lists: [Arc<[PeerId]>; 2] = [ids(&[0, 1, 2, 3, 4, 5]).into(), ids(&[1, 3, 4]).into()];
            let (mut grouped, mut plain) = (OutChanges::default(), Vec::new());
            // As the RIB emits: per prefix, at most one change per client.
            for (n, usual, changes) in emits {
                let n = nlri(&format!("10.0.{n}.0/24"));
                let mut seen = std::collections::BTreeSet::new();
                if let Some((list, mut except, set)) = usual {
                    except.sort_unstable();
                    except.dedup();
                    let all = &lists[list];
                    grouped.push_change_all_but(all, &ids(&except), n, sets.get(set));
                    plain.push_change_all_but(all, &ids(&except), n, sets.get(set));
                    seen.extend(Receivers::AllBut { all, except: &ids(&except) }.iter().map(|p| p.0));
                }
                for (client, set) in changes {
                    if seen.insert(client) {
                        let attrs = sets.get(set);
                        grouped.push_change(PeerId(client), n, attrs);
                        plain.push_change(PeerId(client), n, attrs);
                    }
                }
            }
            proptest::prop_assert_eq!(grouped.len(), plain.len());
            proptest::prop_assert!(grouped.iter().eq(plain.iter().cloned()));
            let got = per_client(&grouped.runs());
            let mut want = Received::default();
            for c in &plain {
                want.entry(c.client.0).or_default().push((c.nlri, c.attrs.as_ref().map(Attrs::addr)));
            }
            proptest::prop_assert_eq!(got.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>());
            for (client, want) in &want {
                let got = &got[client];
                let sorted = |v: &Vec<(Nlri, Option<usize>)>| {
                    // A stable sort by NLRI keeps each NLRI's changes in order.
                    let mut v = v.clone();
                    v.sort_by_key(|(n, _)| *n);
                    v
                };
                proptest::prop_assert_eq!(sorted(got), sorted(want));
            }
        }
    }
}
