//! What a policy answers: per-prefix outcomes for import, a receiver set for
//! export, and the modifications and rejections they carry.
//!
//! Both verdict types store what the WIT interface returns, so the common
//! answers ("accept everything", "reject everything for one reason") cost
//! nothing per prefix to hand back to kumo.

use std::borrow::Cow;
use std::net::IpAddr;

use crate::{Community, LargeCommunity};

/// Why a route was rejected: a reason code (see [`crate::reject`]) and a text
/// for operators.
///
/// ```
/// use kumo_sdk::{Rejection, reject};
/// let r = Rejection::new(reject::BOGON_PREFIX, "prefix is a bogon");
/// assert_eq!(r.code, 2);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Rejection {
    /// Reason code.
    pub code: u16,
    /// Human-readable reason.
    pub text: Cow<'static, str>,
}

impl Rejection {
    /// A rejection with a code and a text (`&'static str` or `String`).
    ///
    /// ```
    /// let r = kumo_sdk::Rejection::new(13, format!("/{} is too long", 25));
    /// assert_eq!(r.text, "/25 is too long");
    /// ```
    pub fn new(code: u16, text: impl Into<Cow<'static, str>>) -> Self {
        Rejection {
            code,
            text: text.into(),
        }
    }
}

/// Changes to an accepted route's attributes.
///
/// ```
/// use kumo_sdk::{Modification, Community, LargeCommunity};
/// let m = Modification::new().add_community(Community::new(65000, 1)).add_large_community(LargeCommunity::new(64500, 1, 2));
/// assert_eq!(m.add_communities.len(), 1);
/// assert!(!m.is_empty());
/// assert!(Modification::new().is_empty());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Modification {
    /// Communities to add (kumo does not add one that is already present).
    pub add_communities: Vec<Community>,
    /// Communities to remove.
    pub remove_communities: Vec<Community>,
    /// Large communities to add.
    pub add_large_communities: Vec<LargeCommunity>,
    /// Large communities to remove.
    pub remove_large_communities: Vec<LargeCommunity>,
    /// Prepend the left-most AS this many times (export only).
    pub prepend: u8,
    /// Preference among paths for the prefix (import only; higher wins).
    pub preference: Option<u32>,
    /// Replace NEXT_HOP (import only): e.g. the IX's blackhole address for an
    /// RFC 7999 blackhole route. kumo applies an address of the route's own
    /// family and ignores the other.
    pub next_hop: Option<IpAddr>,
}

impl Modification {
    /// No change.
    ///
    /// ```
    /// assert_eq!(kumo_sdk::Modification::new().prepend, 0);
    /// ```
    pub fn new() -> Self {
        Modification::default()
    }

    /// Add a community.
    ///
    /// ```
    /// let m = kumo_sdk::Modification::new().add_community(kumo_sdk::Community::NO_EXPORT);
    /// assert_eq!(m.add_communities, vec![kumo_sdk::Community::NO_EXPORT]);
    /// ```
    pub fn add_community(mut self, community: Community) -> Self {
        self.add_communities.push(community);
        self
    }

    /// Remove a community.
    ///
    /// ```
    /// let m = kumo_sdk::Modification::new().remove_community(kumo_sdk::Community::new(0, 1));
    /// assert_eq!(m.remove_communities.len(), 1);
    /// ```
    pub fn remove_community(mut self, community: Community) -> Self {
        self.remove_communities.push(community);
        self
    }

    /// Add a large community.
    ///
    /// ```
    /// let m = kumo_sdk::Modification::new().add_large_community(kumo_sdk::LargeCommunity::new(1, 2, 3));
    /// assert_eq!(m.add_large_communities.len(), 1);
    /// ```
    pub fn add_large_community(mut self, community: LargeCommunity) -> Self {
        self.add_large_communities.push(community);
        self
    }

    /// Remove a large community.
    ///
    /// ```
    /// let m = kumo_sdk::Modification::new().remove_large_community(kumo_sdk::LargeCommunity::new(1, 2, 3));
    /// assert_eq!(m.remove_large_communities.len(), 1);
    /// ```
    pub fn remove_large_community(mut self, community: LargeCommunity) -> Self {
        self.remove_large_communities.push(community);
        self
    }

    /// Prepend the left-most AS `times` times (export only).
    ///
    /// ```
    /// assert_eq!(kumo_sdk::Modification::new().prepend(2).prepend, 2);
    /// ```
    pub fn prepend(mut self, times: u8) -> Self {
        self.prepend = times;
        self
    }

    /// Set the preference (import only).
    ///
    /// ```
    /// assert_eq!(kumo_sdk::Modification::new().preference(200).preference, Some(200));
    /// ```
    pub fn preference(mut self, preference: u32) -> Self {
        self.preference = Some(preference);
        self
    }

    /// Replace the route's NEXT_HOP (import only).
    ///
    /// ```
    /// let m = kumo_sdk::Modification::new().next_hop([192, 0, 2, 66]);
    /// assert_eq!(m.next_hop, Some("192.0.2.66".parse().unwrap()));
    /// ```
    pub fn next_hop(mut self, address: impl Into<IpAddr>) -> Self {
        self.next_hop = Some(address.into());
        self
    }

    /// Nothing to change?
    ///
    /// ```
    /// assert!(!kumo_sdk::Modification::new().prepend(1).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        // Field by field: comparing with a default one builds it first.
        self.add_communities.is_empty()
            && self.remove_communities.is_empty()
            && self.add_large_communities.is_empty()
            && self.remove_large_communities.is_empty()
            && self.prepend == 0
            && self.preference.is_none()
            && self.next_hop.is_none()
    }

    /// Fold `other` into `self` (lists appended, scalars overridden when set).
    ///
    /// ```
    /// use kumo_sdk::{Modification, Community};
    /// let mut m = Modification::new().add_community(Community::new(1, 1));
    /// m.merge(&Modification::new().add_community(Community::new(2, 2)).prepend(1));
    /// assert_eq!((m.add_communities.len(), m.prepend), (2, 1));
    /// ```
    pub fn merge(&mut self, other: &Modification) {
        self.add_communities.extend_from_slice(&other.add_communities);
        self.remove_communities
            .extend_from_slice(&other.remove_communities);
        self.add_large_communities
            .extend_from_slice(&other.add_large_communities);
        self.remove_large_communities
            .extend_from_slice(&other.remove_large_communities);
        if other.prepend != 0 {
            self.prepend = other.prepend;
        }
        if other.preference.is_some() {
            self.preference = other.preference;
        }
        if other.next_hop.is_some() {
            self.next_hop = other.next_hop;
        }
    }
}

/// The outcome for one prefix.
///
/// ```
/// use kumo_sdk::{Outcome, Rejection};
/// assert!(Outcome::Accept.is_accept());
/// assert!(Outcome::Reject(Rejection::new(1, "x")).is_reject());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Accepted unchanged.
    Accept,
    /// Accepted with changes.
    AcceptModified(Modification),
    /// Rejected.
    Reject(Rejection),
}

impl Outcome {
    /// Accepted, with or without changes?
    ///
    /// ```
    /// assert!(kumo_sdk::Outcome::AcceptModified(Default::default()).is_accept());
    /// ```
    pub fn is_accept(&self) -> bool {
        !self.is_reject()
    }

    /// Rejected?
    ///
    /// ```
    /// assert!(!kumo_sdk::Outcome::Accept.is_reject());
    /// ```
    pub fn is_reject(&self) -> bool {
        matches!(self, Outcome::Reject(_))
    }

    /// The rejection, if rejected.
    ///
    /// ```
    /// use kumo_sdk::{Outcome, Rejection};
    /// assert_eq!(Outcome::Reject(Rejection::new(5, "nh")).rejection().map(|r| r.code), Some(5));
    /// ```
    pub fn rejection(&self) -> Option<&Rejection> {
        match self {
            Outcome::Reject(r) => Some(r),
            _ => None,
        }
    }

    /// The modification, if accepted with changes.
    ///
    /// ```
    /// assert!(kumo_sdk::Outcome::Accept.modification().is_none());
    /// ```
    pub fn modification(&self) -> Option<&Modification> {
        match self {
            Outcome::AcceptModified(m) => Some(m),
            _ => None,
        }
    }
}

/// The verdicts of one import call: an [`Outcome`] per prefix.
///
/// Starts as "every prefix accepted, unmodified". Stored as a small table of
/// distinct outcomes plus, only once prefixes differ, one index per prefix.
///
/// ```
/// use kumo_sdk::{ImportVerdicts, Modification, Community, reject};
/// let mut v = ImportVerdicts::new(3);
/// v.reject(1, reject::BOGON_PREFIX, "bogon");
/// v.modify_all(&Modification::new().add_community(Community::new(65000, 1)));
/// assert!(v.get(0).unwrap().modification().is_some());
/// assert!(v.get(1).unwrap().is_reject());
/// assert_eq!(v.accepted(), 2);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportVerdicts {
    len: usize,
    /// Empty while every prefix has outcome 0; else one index per prefix.
    indices: Vec<u16>,
    outcomes: Vec<Outcome>,
}

impl ImportVerdicts {
    /// Verdicts for `len` prefixes, all accepted.
    ///
    /// ```
    /// assert_eq!(kumo_sdk::ImportVerdicts::new(4).accepted(), 4);
    /// ```
    pub fn new(len: usize) -> Self {
        ImportVerdicts {
            len,
            indices: Vec::new(),
            outcomes: vec![Outcome::Accept],
        }
    }

    /// Number of prefixes.
    ///
    /// ```
    /// assert_eq!(kumo_sdk::ImportVerdicts::new(4).len(), 4);
    /// ```
    pub fn len(&self) -> usize {
        self.len
    }

    /// No prefixes?
    ///
    /// ```
    /// assert!(kumo_sdk::ImportVerdicts::new(0).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The outcome for prefix `index`.
    ///
    /// ```
    /// assert!(kumo_sdk::ImportVerdicts::new(1).get(1).is_none());
    /// ```
    pub fn get(&self, index: usize) -> Option<&Outcome> {
        if index >= self.len {
            return None;
        }
        let slot = if self.indices.is_empty() {
            0
        } else {
            *self.indices.get(index)? as usize
        };
        self.outcomes.get(slot)
    }

    /// Every outcome, in prefix order.
    ///
    /// ```
    /// assert_eq!(kumo_sdk::ImportVerdicts::new(2).iter().count(), 2);
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = &Outcome> + '_ {
        (0..self.len).filter_map(|i| self.get(i))
    }

    /// Number of accepted prefixes.
    ///
    /// ```
    /// let mut v = kumo_sdk::ImportVerdicts::new(2);
    /// v.reject_all(1, "x");
    /// assert_eq!(v.accepted(), 0);
    /// ```
    pub fn accepted(&self) -> usize {
        self.iter().filter(|o| o.is_accept()).count()
    }

    /// Reject prefix `index`. Out-of-range indices are ignored.
    ///
    /// ```
    /// let mut v = kumo_sdk::ImportVerdicts::new(2);
    /// v.reject(0, 13, "too long");
    /// assert_eq!(v.get(0).unwrap().rejection().unwrap().code, 13);
    /// assert!(v.get(1).unwrap().is_accept());
    /// ```
    pub fn reject(&mut self, index: usize, code: u16, text: impl Into<Cow<'static, str>>) {
        self.set(index, Outcome::Reject(Rejection::new(code, text)));
    }

    /// Reject every prefix for one reason (what an attribute check does).
    ///
    /// ```
    /// let mut v = kumo_sdk::ImportVerdicts::new(3);
    /// v.reject_all(6, "first AS is not the client's");
    /// assert!(v.iter().all(|o| o.is_reject()));
    /// ```
    pub fn reject_all(&mut self, code: u16, text: impl Into<Cow<'static, str>>) {
        self.indices.clear();
        self.outcomes.clear();
        self.outcomes.push(Outcome::Reject(Rejection::new(code, text)));
    }

    /// Set the outcome of prefix `index`. Out-of-range indices are ignored.
    ///
    /// ```
    /// use kumo_sdk::{ImportVerdicts, Outcome, Modification};
    /// let mut v = ImportVerdicts::new(2);
    /// v.set(1, Outcome::AcceptModified(Modification::new().preference(10)));
    /// assert_eq!(v.get(1).unwrap().modification().unwrap().preference, Some(10));
    /// ```
    pub fn set(&mut self, index: usize, outcome: Outcome) {
        if index >= self.len {
            return;
        }
        if self.indices.is_empty() && self.outcomes.len() == 1 && self.outcomes.first() == Some(&outcome) {
            return;
        }
        let slot = match self.outcomes.iter().position(|o| *o == outcome) {
            Some(slot) => slot,
            None => {
                // More distinct outcomes than a u16 can index cannot happen in
                // practice (one per prefix at most); fold the excess into the last.
                if self.outcomes.len() > u16::MAX as usize {
                    return;
                }
                self.outcomes.push(outcome);
                self.outcomes.len() - 1
            }
        };
        if self.indices.is_empty() {
            self.indices = vec![0; self.len];
        }
        if let Some(entry) = self.indices.get_mut(index) {
            *entry = slot as u16;
        }
    }

    /// Apply `modification` to every accepted prefix (rejected ones stay
    /// rejected). Call it after the rejections, e.g. to tag what passed.
    ///
    /// ```
    /// use kumo_sdk::{ImportVerdicts, Modification};
    /// let mut v = ImportVerdicts::new(1);
    /// v.modify_all(&Modification::new().preference(5));
    /// assert_eq!(v.get(0).unwrap().modification().unwrap().preference, Some(5));
    /// ```
    pub fn modify_all(&mut self, modification: &Modification) {
        if modification.is_empty() {
            return;
        }
        for outcome in &mut self.outcomes {
            match outcome {
                Outcome::Accept => *outcome = Outcome::AcceptModified(modification.clone()),
                Outcome::AcceptModified(m) => m.merge(modification),
                Outcome::Reject(_) => {}
            }
        }
    }

    /// Apply `modification` to prefix `index` if it is accepted.
    ///
    /// ```
    /// use kumo_sdk::{ImportVerdicts, Modification};
    /// let mut v = ImportVerdicts::new(2);
    /// v.modify(1, &Modification::new().preference(5));
    /// assert!(v.get(0).unwrap().modification().is_none());
    /// assert!(v.get(1).unwrap().modification().is_some());
    /// ```
    pub fn modify(&mut self, index: usize, modification: &Modification) {
        // Nothing to change: keep the prefix on its shared outcome.
        if modification.is_empty() {
            return;
        }
        let next = match self.get(index) {
            Some(Outcome::Accept) => Outcome::AcceptModified(modification.clone()),
            Some(Outcome::AcceptModified(m)) => {
                let mut m = m.clone();
                m.merge(modification);
                Outcome::AcceptModified(m)
            }
            Some(Outcome::Reject(_)) | None => return,
        };
        self.set(index, next);
    }

    /// The raw form: distinct outcomes and, unless every prefix has outcome 0,
    /// one index per prefix. Used by the component glue.
    #[doc(hidden)]
    pub fn into_parts(self) -> (Vec<u16>, Vec<Outcome>) {
        (self.indices, self.outcomes)
    }
}

/// The verdict of one export call: which targets may receive the route and
/// per-target modifications.
///
/// Starts as "every target, unmodified".
///
/// ```
/// use kumo_sdk::{ExportVerdicts, Modification};
/// let mut v = ExportVerdicts::new(3);
/// v.deny(0);
/// v.modify(2, &Modification::new().prepend(2));
/// assert_eq!(v.allowed(), 2);
/// assert!(!v.is_allowed(0) && v.is_allowed(2));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportVerdicts {
    len: usize,
    /// `None` = every target; else one bit per target.
    bitmap: Option<Vec<u64>>,
    /// Per target, 1 + its index in `modifications` (0: unmodified); empty
    /// until the first modification. The same modification for many targets
    /// (the usual case: the same action communities stripped for all) is
    /// stored once, and a target's is found without a search.
    modified: Vec<u16>,
    modifications: Vec<Modification>,
}

impl ExportVerdicts {
    /// Verdicts for `len` targets, all allowed.
    ///
    /// ```
    /// assert_eq!(kumo_sdk::ExportVerdicts::new(70).allowed(), 70);
    /// ```
    pub fn new(len: usize) -> Self {
        ExportVerdicts {
            len,
            bitmap: None,
            modified: Vec::new(),
            modifications: Vec::new(),
        }
    }

    /// Number of targets.
    ///
    /// ```
    /// assert_eq!(kumo_sdk::ExportVerdicts::new(2).len(), 2);
    /// ```
    pub fn len(&self) -> usize {
        self.len
    }

    /// No targets?
    ///
    /// ```
    /// assert!(kumo_sdk::ExportVerdicts::new(0).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn bitmap_mut(&mut self) -> &mut Vec<u64> {
        let len = self.len;
        self.bitmap.get_or_insert_with(|| {
            let mut words = vec![u64::MAX; len.div_ceil(64)];
            if !len.is_multiple_of(64)
                && let Some(last) = words.last_mut()
            {
                *last = (1u64 << (len % 64)) - 1;
            }
            words
        })
    }

    /// May target `index` receive the route?
    ///
    /// ```
    /// assert!(!kumo_sdk::ExportVerdicts::new(1).is_allowed(1));
    /// ```
    pub fn is_allowed(&self, index: usize) -> bool {
        if index >= self.len {
            return false;
        }
        match &self.bitmap {
            None => true,
            Some(words) => words
                .get(index / 64)
                .is_some_and(|w| w & (1 << (index % 64)) != 0),
        }
    }

    /// Number of targets that may receive the route.
    ///
    /// ```
    /// let mut v = kumo_sdk::ExportVerdicts::new(2);
    /// v.deny_all();
    /// assert_eq!(v.allowed(), 0);
    /// ```
    pub fn allowed(&self) -> usize {
        match &self.bitmap {
            None => self.len,
            Some(words) => words.iter().map(|w| w.count_ones() as usize).sum(),
        }
    }

    /// Do not send to target `index`. Out-of-range indices are ignored.
    ///
    /// ```
    /// let mut v = kumo_sdk::ExportVerdicts::new(2);
    /// v.deny(1);
    /// assert_eq!(v.allowed(), 1);
    /// ```
    pub fn deny(&mut self, index: usize) {
        if index < self.len
            && let Some(word) = self.bitmap_mut().get_mut(index / 64)
        {
            *word &= !(1 << (index % 64));
        }
    }

    /// Send to target `index` (undo a deny). Out-of-range indices are ignored.
    ///
    /// ```
    /// let mut v = kumo_sdk::ExportVerdicts::new(2);
    /// v.deny_all();
    /// v.allow(0);
    /// assert!(v.is_allowed(0) && !v.is_allowed(1));
    /// ```
    pub fn allow(&mut self, index: usize) {
        if index < self.len
            && let Some(word) = self.bitmap_mut().get_mut(index / 64)
        {
            *word |= 1 << (index % 64);
        }
    }

    /// Send to no target.
    ///
    /// ```
    /// let mut v = kumo_sdk::ExportVerdicts::new(65);
    /// v.deny_all();
    /// assert!(!v.is_allowed(64));
    /// ```
    pub fn deny_all(&mut self) {
        self.bitmap = Some(vec![0; self.len.div_ceil(64)]);
    }

    /// Modify the route for target `index` (e.g. prepend on request).
    /// Merged with earlier modifications for the same target. Out-of-range
    /// indices are ignored. The modification is copied only if no target has
    /// an equal one yet, so passing the same one for every target is cheap.
    ///
    /// ```
    /// use kumo_sdk::{ExportVerdicts, Modification};
    /// let mut v = ExportVerdicts::new(2);
    /// let strip = Modification::new().prepend(1);
    /// v.modify(0, &strip);
    /// v.modify(1, &strip);
    /// assert_eq!(v.modification(1).unwrap().prepend, 1);
    /// ```
    pub fn modify(&mut self, index: usize, modification: &Modification) {
        if index >= self.len {
            return;
        }
        if self.modified.is_empty() {
            self.modified.resize(self.len, 0);
        }
        let Some(&current) = self.modified.get(index) else {
            return;
        };
        let slot = match current
            .checked_sub(1)
            .and_then(|k| self.modifications.get(usize::from(k)))
        {
            Some(earlier) => {
                let mut merged = earlier.clone();
                merged.merge(modification);
                self.intern(merged)
            }
            None => self.slot_of(modification),
        };
        if let (Some(k), Some(entry)) = (slot, self.modified.get_mut(index)) {
            // `intern` keeps k below u16::MAX.
            *entry = k as u16 + 1;
        }
    }

    /// [`ExportVerdicts::modify`] for every target of `targets`, the
    /// modification compared and stored once for all of them (the usual
    /// export answer: the same action communities stripped for every
    /// receiver). Targets modified before get theirs merged, as with
    /// `modify`; out-of-range indices are ignored.
    ///
    /// ```
    /// use kumo_sdk::{Community, ExportVerdicts, Modification};
    /// let strip = Modification::new().remove_community(Community::new(0, 6939));
    /// let mut v = ExportVerdicts::new(3);
    /// v.modify(2, &Modification::new().prepend(1));
    /// v.modify_each([0, 2, 7], &strip);
    /// assert_eq!(v.modification(0), Some(&strip));
    /// assert!(v.modification(1).is_none());
    /// let both = v.modification(2).unwrap();
    /// assert_eq!((both.prepend, both.remove_communities.len()), (1, 1));
    /// ```
    pub fn modify_each(&mut self, targets: impl IntoIterator<Item = usize>, modification: &Modification) {
        // The slot of `modification` once looked up (`None` inside: no room).
        let mut slot: Option<Option<usize>> = None;
        for index in targets {
            if index >= self.len {
                continue;
            }
            if self.modified.is_empty() {
                self.modified.resize(self.len, 0);
            }
            if self.modified.get(index).is_some_and(|&m| m != 0) {
                self.modify(index, modification);
                continue;
            }
            let k = *slot.get_or_insert_with(|| self.slot_of(modification));
            if let (Some(k), Some(entry)) = (k, self.modified.get_mut(index)) {
                // `intern` keeps k below u16::MAX.
                *entry = k as u16 + 1;
            }
        }
    }

    /// [`ExportVerdicts::intern`] for a borrowed modification: copied only
    /// if no equal one is stored yet.
    fn slot_of(&mut self, m: &Modification) -> Option<usize> {
        match self.modifications.iter().position(|seen| seen == m) {
            Some(k) => Some(k),
            None => self.intern(m.clone()),
        }
    }

    /// The index of `m` among the distinct modifications, added if new
    /// (`None` past 65,534 distinct ones: one per target is the most a call
    /// can need, and kumo never sends that many targets).
    fn intern(&mut self, m: Modification) -> Option<usize> {
        if let Some(k) = self.modifications.iter().position(|seen| *seen == m) {
            return Some(k);
        }
        if self.modifications.len() >= usize::from(u16::MAX - 1) {
            return None;
        }
        self.modifications.push(m);
        Some(self.modifications.len() - 1)
    }

    /// The modification for target `index`, if any.
    ///
    /// ```
    /// assert!(kumo_sdk::ExportVerdicts::new(1).modification(0).is_none());
    /// ```
    pub fn modification(&self, index: usize) -> Option<&Modification> {
        let k = self.modified.get(index)?.checked_sub(1)?;
        self.modifications.get(usize::from(k))
    }

    /// The raw form: `None` = all allowed, else the bitmap; (target, index)
    /// for the modified targets that are allowed, and the distinct
    /// modifications they index (only those in use). Used by the component
    /// glue.
    #[doc(hidden)]
    #[allow(clippy::type_complexity)]
    pub fn into_parts(self) -> (Option<Vec<u64>>, Vec<(u32, u16)>, Vec<Modification>) {
        let allowed = |t: usize| match &self.bitmap {
            None => true,
            Some(words) => words.get(t / 64).is_some_and(|w| w & (1 << (t % 64)) != 0),
        };
        // Old index -> new index (after dropping unused ones), 0 = not yet seen.
        let mut renumber: Vec<u16> = vec![0; self.modifications.len()];
        let mut used: Vec<usize> = Vec::new();
        let mut modified = Vec::with_capacity(self.modified.len());
        for (t, &entry) in self.modified.iter().enumerate() {
            let Some(k) = entry.checked_sub(1).map(usize::from) else {
                continue;
            };
            if !allowed(t) || k >= renumber.len() {
                continue;
            }
            if renumber[k] == 0 {
                used.push(k);
                renumber[k] = used.len() as u16;
            }
            modified.push((t as u32, renumber[k] - 1));
        }
        let mut modifications: Vec<Option<Modification>> = self.modifications.into_iter().map(Some).collect();
        let modifications = used
            .into_iter()
            .filter_map(|k| modifications.get_mut(k).and_then(Option::take))
            .collect();
        (self.bitmap, modified, modifications)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn reject_then_accept_keeps_distinct_outcomes() {
        let mut v = ImportVerdicts::new(4);
        v.reject(0, 2, "bogon");
        v.reject(3, 2, "bogon");
        v.reject(2, 13, "too long");
        let (indices, outcomes) = v.clone().into_parts();
        assert_eq!(outcomes.len(), 3);
        assert_eq!(indices, vec![1, 0, 2, 1]);
        v.set(0, Outcome::Accept);
        assert!(v.get(0).unwrap().is_accept());
        assert_eq!(v.accepted(), 2);
    }

    #[test]
    fn modify_all_skips_rejected() {
        let mut v = ImportVerdicts::new(2);
        v.reject(0, 1, "x");
        v.modify_all(&Modification::new().add_community(Community::new(1, 1)));
        assert!(v.get(0).unwrap().is_reject());
        assert_eq!(v.get(1).unwrap().modification().unwrap().add_communities.len(), 1);
    }

    #[test]
    fn an_empty_modification_keeps_the_shared_outcome() {
        let mut v = ImportVerdicts::new(3);
        v.modify(1, &Modification::new());
        assert_eq!(v.get(1), Some(&Outcome::Accept));
        // Still one distinct outcome: nothing was split off per prefix.
        let (indices, outcomes) = v.into_parts();
        assert!(indices.is_empty(), "{indices:?}");
        assert_eq!(outcomes, vec![Outcome::Accept]);
    }

    #[test]
    fn modify_each_is_modify_for_every_target() {
        let strip = Modification::new().remove_community(Community::new(0, 7));
        let prepend = Modification::new().prepend(2);
        for before in [vec![], vec![1], vec![0, 3]] {
            let (mut one_by_one, mut at_once) = (ExportVerdicts::new(70), ExportVerdicts::new(70));
            for v in [&mut one_by_one, &mut at_once] {
                v.deny(5);
                for &t in &before {
                    v.modify(t, &prepend);
                }
            }
            let targets = [0, 1, 2, 3, 5, 69, 70];
            for t in targets {
                one_by_one.modify(t, &strip);
            }
            at_once.modify_each(targets, &strip);
            assert_eq!(at_once, one_by_one, "{before:?}");
            assert_eq!(at_once.clone().into_parts(), one_by_one.clone().into_parts());
        }
    }

    #[test]
    fn out_of_range_is_ignored() {
        let mut v = ImportVerdicts::new(1);
        v.reject(5, 1, "x");
        assert_eq!(v.accepted(), 1);
        let mut e = ExportVerdicts::new(1);
        e.deny(1);
        e.modify(9, &Modification::new().prepend(1));
        assert_eq!(e.allowed(), 1);
        assert!(e.into_parts().1.is_empty());
    }

    #[test]
    fn export_bitmap_edges() {
        for len in [1usize, 63, 64, 65, 128, 130] {
            let mut v = ExportVerdicts::new(len);
            v.deny(len - 1);
            assert_eq!(v.allowed(), len - 1, "len {len}");
            let (bitmap, _, _) = v.into_parts();
            assert_eq!(bitmap.unwrap().len(), len.div_ceil(64));
        }
    }

    #[test]
    fn modifications_of_denied_targets_are_dropped() {
        let mut v = ExportVerdicts::new(2);
        v.modify(0, &Modification::new().prepend(1));
        v.modify(1, &Modification::new().prepend(2));
        v.deny(0);
        let (_, modified, modifications) = v.into_parts();
        assert_eq!(modified, vec![(1, 0)]);
        assert_eq!(modifications, vec![Modification::new().prepend(2)]);
    }

    #[test]
    fn equal_modifications_are_stored_once_and_merged_per_target() {
        let mut v = ExportVerdicts::new(4);
        let strip = Modification::new().remove_community(Community::new(0, 6939));
        for t in 0..4 {
            v.modify(t, &strip);
        }
        v.modify(2, &Modification::new().prepend(2));
        let (_, modified, modifications) = v.clone().into_parts();
        assert_eq!(modifications.len(), 2);
        assert_eq!(modified, vec![(0, 0), (1, 0), (2, 1), (3, 0)]);
        let merged = v.modification(2).unwrap();
        assert_eq!((merged.prepend, merged.remove_communities.len()), (2, 1));
        assert_eq!(v.modification(3), Some(&strip));
    }
}
