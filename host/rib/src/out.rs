//! Where the RIB's changes for clients go: [`OutSink`], implemented by a
//! plain `Vec<OutChange>` (one entry per client and route, simple to test
//! against) and by [`OutChanges`] (what the daemon uses).
//!
//! [`OutChanges`] stores a change of one route for many clients once: the
//! RIB emits a prefix's changes receiver by receiver, and at an IXP most
//! receivers get the same path, so consecutive changes of one route with one
//! attribute set become one entry with a run of receiver ids. Per receiver
//! that costs 4 octets, instead of a 40-octet entry and a reference count
//! update on a shared attribute set (measured: the per-receiver entries and
//! their moves were a quarter of kumo's time with 300 clients).

use kumo_wire::Nlri;

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

/// One route's change and the receivers it is for (a range of
/// [`OutChanges`]' receiver ids).
#[derive(Debug, Clone)]
struct RouteChange {
    nlri: Nlri,
    attrs: Option<Attrs>,
    /// End of this change's receivers in `OutChanges::receivers`.
    end: u32,
}

/// Changes for clients, grouped by route (see the module docs).
#[derive(Debug, Clone, Default)]
pub struct OutChanges {
    routes: Vec<RouteChange>,
    receivers: Vec<PeerId>,
}

impl OutSink for OutChanges {
    fn push_change(&mut self, client: PeerId, nlri: Nlri, attrs: Option<&Attrs>) {
        let same = self.routes.last().is_some_and(|last| {
            last.nlri == nlri
                && match (&last.attrs, attrs) {
                    (Some(a), Some(b)) => Attrs::ptr_eq(a, b),
                    (None, None) => true,
                    _ => false,
                }
        });
        self.receivers.push(client);
        let end = self.receivers.len() as u32;
        match self.routes.last_mut() {
            Some(last) if same => last.end = end,
            _ => self.routes.push(RouteChange {
                nlri,
                attrs: attrs.cloned(),
                end,
            }),
        }
    }
}

impl OutChanges {
    /// Number of (client, route) changes.
    pub fn len(&self) -> usize {
        self.receivers.len()
    }

    /// Nothing to send?
    pub fn is_empty(&self) -> bool {
        self.receivers.is_empty()
    }

    /// Forget everything, keeping the buffers.
    pub fn clear(&mut self) {
        self.routes.clear();
        self.receivers.clear();
    }

    /// Memory held by the buffers, in entries (to drop them after a rare big batch).
    pub fn capacity(&self) -> usize {
        self.receivers.capacity().max(self.routes.capacity())
    }

    /// The changes in order: each route's change with its receivers.
    pub fn routes(&self) -> impl Iterator<Item = (Nlri, &Option<Attrs>, &[PeerId])> + '_ {
        let mut start = 0;
        self.routes.iter().map(move |r| {
            let end = r.end as usize;
            let receivers = self.receivers.get(start..end).unwrap_or_default();
            start = end;
            (r.nlri, &r.attrs, receivers)
        })
    }

    /// One [`OutChange`] per client and route, in order.
    pub fn iter(&self) -> impl Iterator<Item = OutChange> + '_ {
        self.routes().flat_map(|(nlri, attrs, receivers)| {
            receivers.iter().map(move |&client| OutChange {
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
}
