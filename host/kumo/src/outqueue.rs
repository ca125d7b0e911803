//! Per-client output queue: bounded by coalescing, never by blocking.
//!
//! The route-server core pushes changes for a client here and never waits on
//! that client's socket. Only the latest state per (prefix, path id) is kept,
//! so a client that stops reading costs at most one entry per route in the
//! table, and one slow client never stalls the others (RFC 7947 route servers
//! serve hundreds of clients from one process).

use std::collections::HashMap;
use std::sync::Mutex;

use kumo_rib::Attrs;
use kumo_wire::{AfiSafi, Nlri};
use tokio::sync::Notify;

/// What the writer takes from the queue in one go.
#[derive(Debug, Default)]
pub struct Batch {
    /// Latest state per route: `Some` = announce with these attributes, `None` = withdraw.
    pub routes: Vec<(Nlri, Option<Attrs>)>,
    /// End-of-RIB markers to send after `routes`.
    pub end_of_rib: Vec<AfiSafi>,
}

#[derive(Debug, Default)]
struct Pending {
    routes: HashMap<Nlri, Option<Attrs>>,
    end_of_rib: Vec<AfiSafi>,
}

/// A coalescing queue of route changes for one client.
#[derive(Debug, Default)]
pub struct OutQueue {
    pending: Mutex<Pending>,
    notify: Notify,
}

impl OutQueue {
    pub fn new() -> Self {
        Self::default()
    }

    /// Queue changes; a later change for the same route replaces an earlier one.
    pub fn push(&self, changes: impl IntoIterator<Item = (Nlri, Option<Attrs>)>) {
        {
            let mut pending = self.lock();
            for (nlri, attrs) in changes {
                pending.routes.insert(nlri, attrs);
            }
        }
        self.notify.notify_one();
    }

    /// Queue End-of-RIB for `family`, sent after everything queued before it.
    pub fn push_end_of_rib(&self, family: AfiSafi) {
        self.lock().end_of_rib.push(family);
        self.notify.notify_one();
    }

    /// Forget everything (the session went down: the next session starts from a full table).
    pub fn clear(&self) {
        let mut pending = self.lock();
        pending.routes.clear();
        pending.end_of_rib.clear();
    }

    /// Routes waiting to be sent.
    pub fn len(&self) -> usize {
        self.lock().routes.len()
    }

    pub fn is_empty(&self) -> bool {
        let pending = self.lock();
        pending.routes.is_empty() && pending.end_of_rib.is_empty()
    }

    /// Take everything queued, waiting until there is something.
    pub async fn next_batch(&self) -> Batch {
        loop {
            let notified = self.notify.notified();
            if let Some(batch) = self.try_take() {
                return batch;
            }
            notified.await;
        }
    }

    fn try_take(&self) -> Option<Batch> {
        let mut pending = self.lock();
        if pending.routes.is_empty() && pending.end_of_rib.is_empty() {
            return None;
        }
        Some(Batch {
            routes: pending.routes.drain().collect(),
            end_of_rib: std::mem::take(&mut pending.end_of_rib),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        // A panic while holding this lock cannot leave the map inconsistent
        // (every operation is a single insert/drain), so poisoning is ignored.
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use kumo_rib::RouteAttrs;
    use std::sync::Arc;

    fn nlri(s: &str) -> Nlri {
        Nlri {
            prefix: s.parse().unwrap(),
            path_id: None,
        }
    }

    #[tokio::test]
    async fn coalesces_to_latest_state_per_route() {
        let q = OutQueue::new();
        let a: Attrs = Arc::new(RouteAttrs::default());
        q.push([
            (nlri("10.0.0.0/24"), Some(a.clone())),
            (nlri("10.0.1.0/24"), Some(a.clone())),
        ]);
        q.push([(nlri("10.0.0.0/24"), None)]);
        assert_eq!(q.len(), 2);
        q.push_end_of_rib(AfiSafi::IPV4_UNICAST);
        let mut batch = q.next_batch().await;
        batch.routes.sort_by_key(|(n, _)| *n);
        assert_eq!(batch.routes.len(), 2);
        assert_eq!(batch.routes[0].0, nlri("10.0.0.0/24"));
        assert!(batch.routes[0].1.is_none(), "the withdraw replaced the announce");
        assert!(batch.routes[1].1.is_some());
        assert_eq!(batch.end_of_rib, vec![AfiSafi::IPV4_UNICAST]);
        assert_eq!(q.len(), 0);
    }
}
