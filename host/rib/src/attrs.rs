//! Attribute sets and their interner.
//!
//! Most prefixes of a client share one attribute set (one UPDATE, many NLRI),
//! so the RIB stores `Arc`s to interned sets instead of copies.

use std::collections::HashSet;
use std::sync::Arc;

use kumo_wire::{MpNextHop, PathAttributes};

/// A whole attribute set as received or as rewritten by an import policy,
/// including the next hop of MP_REACH_NLRI (which the wire types keep apart).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct RouteAttrs {
    pub attrs: PathAttributes,
    /// Next hop from MP_REACH_NLRI; `None` for IPv4 routes carried in the
    /// classic NLRI field (their next hop is `attrs.next_hop`). Boxed: inline
    /// it would make every interned set 32 octets larger, IPv4 ones included.
    pub mp_next_hop: Option<Box<MpNextHop>>,
}

impl RouteAttrs {
    /// `attrs` with the MP_REACH_NLRI next hop `mp_next_hop`, if any.
    pub fn new(attrs: PathAttributes, mp_next_hop: Option<MpNextHop>) -> Self {
        RouteAttrs {
            attrs,
            mp_next_hop: mp_next_hop.map(Box::new),
        }
    }

    /// The MP_REACH_NLRI next hop, if the set has one.
    pub fn mp_next_hop(&self) -> Option<MpNextHop> {
        self.mp_next_hop.as_deref().copied()
    }
}

/// A shared, immutable attribute set.
pub type Attrs = Arc<RouteAttrs>;

/// Deduplicates attribute sets so that equal sets share one allocation.
///
/// Entries stay until [`AttrInterner::sweep`] finds that nothing else holds them.
#[derive(Debug, Default)]
pub struct AttrInterner {
    sets: HashSet<Attrs, ahash::RandomState>,
}

impl AttrInterner {
    pub fn new() -> Self {
        Self::default()
    }

    /// The shared copy of `attrs`, creating it on first sight.
    pub fn intern(&mut self, attrs: RouteAttrs) -> Attrs {
        if let Some(shared) = self.sets.get(&attrs) {
            return Arc::clone(shared);
        }
        let shared = Arc::new(attrs);
        self.sets.insert(Arc::clone(&shared));
        shared
    }

    /// Like [`intern`](Self::intern) for a set that is already in an `Arc`
    /// (e.g. a policy's output), reusing that allocation when the set is new.
    pub fn intern_arc(&mut self, attrs: Attrs) -> Attrs {
        if let Some(shared) = self.sets.get(&*attrs) {
            return Arc::clone(shared);
        }
        self.sets.insert(Arc::clone(&attrs));
        attrs
    }

    /// Number of distinct attribute sets held.
    pub fn len(&self) -> usize {
        self.sets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sets.is_empty()
    }

    /// Drops sets that only the interner still references; returns how many.
    pub fn sweep(&mut self) -> usize {
        let before = self.sets.len();
        self.sets.retain(|a| Arc::strong_count(a) > 1);
        before - self.sets.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_med(med: u32) -> RouteAttrs {
        RouteAttrs {
            attrs: PathAttributes {
                med: Some(med),
                ..Default::default()
            },
            mp_next_hop: None,
        }
    }

    #[test]
    fn an_attribute_set_is_96_octets() {
        // Every interned set is one of these behind an `Arc` (BENCHMARKS.md's
        // bytes per path depend on it): the list fields and the AS_PATH are
        // 8-octet ThinVecs and the MP_REACH next hop is boxed. With the `Arc`'s
        // counts that is a 112-octet block (128 at 112 octets).
        assert!(
            std::mem::size_of::<RouteAttrs>() <= 96,
            "{}",
            std::mem::size_of::<RouteAttrs>()
        );
    }

    #[test]
    fn the_boxed_mp_next_hop_reads_back() {
        let v6 = MpNextHop::V6 {
            global: std::net::Ipv6Addr::LOCALHOST,
            link_local: None,
        };
        assert_eq!(
            RouteAttrs::new(PathAttributes::default(), Some(v6)).mp_next_hop(),
            Some(v6)
        );
        assert_eq!(
            RouteAttrs::new(PathAttributes::default(), None).mp_next_hop(),
            None
        );
    }

    #[test]
    fn equal_sets_share_one_allocation_and_sweep_drops_unused() {
        let mut i = AttrInterner::new();
        let a = i.intern(with_med(1));
        let b = i.intern(with_med(1));
        let c = i.intern_arc(Arc::new(with_med(2)));
        let d = i.intern_arc(Arc::new(with_med(1)));
        assert!(Arc::ptr_eq(&a, &b) && Arc::ptr_eq(&a, &d));
        assert!(!Arc::ptr_eq(&a, &c));
        assert_eq!(i.len(), 2);
        drop(c);
        assert_eq!(i.sweep(), 1);
        assert_eq!(i.len(), 1);
        drop((a, b, d));
        assert_eq!(i.sweep(), 1);
        assert!(i.is_empty());
    }
}
