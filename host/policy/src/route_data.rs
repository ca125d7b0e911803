//! The data services policies query through the host imports `rpki-validate`
//! and `irr-check` ([`RouteData`]), and the batch decoding they share.
//!
//! The policy crate does not know where IRR and RPKI data come from: the
//! daemon implements [`RouteData`] over its IRR snapshot and RTR client and
//! hands it to the engine ([`crate::EngineOptions::route_data`]). Tests hand
//! in doubles. Without one, every look-up answers "no data" ([`NoRouteData`]).

use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use crate::bindings::kumo::policy::types as t;

/// RFC 6811 origin validation state, as policies receive it (`rov-states`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Rov {
    /// No VRP covers the prefix (or there is no RPKI data).
    NotFound = 0,
    /// A VRP covers the prefix, matches the origin and allows the length.
    Valid = 1,
    /// VRPs cover the prefix and none matches.
    Invalid = 2,
}

/// How an AS-SET's route objects cover a prefix (`irr-answer.prefix-match`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum IrrMatch {
    /// Not covered.
    NotFound = 0,
    /// A more specific of a registered prefix, within the bounds.
    MoreSpecific = 1,
    /// Exactly registered.
    Exact = 2,
}

impl From<kumo_rpki::RovState> for Rov {
    fn from(state: kumo_rpki::RovState) -> Self {
        match state {
            kumo_rpki::RovState::Valid => Rov::Valid,
            kumo_rpki::RovState::Invalid => Rov::Invalid,
            kumo_rpki::RovState::NotFound => Rov::NotFound,
        }
    }
}

impl From<kumo_irr::RouteObjectMatch> for IrrMatch {
    fn from(m: kumo_irr::RouteObjectMatch) -> Self {
        match m {
            kumo_irr::RouteObjectMatch::Exact => IrrMatch::Exact,
            kumo_irr::RouteObjectMatch::MoreSpecificWithinBounds => IrrMatch::MoreSpecific,
            kumo_irr::RouteObjectMatch::NotFound => IrrMatch::NotFound,
        }
    }
}

impl From<kumo_irr::IrrBatchVerdict> for IrrAnswer {
    fn from(v: kumo_irr::IrrBatchVerdict) -> Self {
        IrrAnswer {
            as_set_found: v.as_set_found,
            origin_in_set: v.origin_in_set,
            prefix_match: v.prefix_match.into_iter().map(IrrMatch::from).collect(),
        }
    }
}

/// The answer to one IRR check of a batch.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IrrAnswer {
    /// The AS-SET is known.
    pub as_set_found: bool,
    /// The origin AS is a member of the expanded AS-SET.
    pub origin_in_set: bool,
    /// Per prefix of the batch, in order.
    pub prefix_match: Vec<IrrMatch>,
}

impl IrrAnswer {
    /// No such AS-SET, nothing covered: the answer without IRR data.
    pub fn not_found(prefixes: usize) -> Self {
        IrrAnswer {
            as_set_found: false,
            origin_in_set: false,
            prefix_match: vec![IrrMatch::NotFound; prefixes],
        }
    }
}

/// IRR and RPKI look-ups for policies. Called on the thread running the
/// policy, inside the guest's call (so inside its deadline): keep it to
/// in-memory look-ups.
pub trait RouteData: Send + Sync + std::fmt::Debug {
    /// RFC 6811 state of each prefix of `prefixes` originated by `origin`
    /// (0: NONE, matches no VRP), appended to `out` in order.
    fn rpki_validate(&self, prefixes: &[IpNet], origin: u32, out: &mut Vec<Rov>);

    /// Is `origin` in AS-SET `as_set`, and how do its route objects cover
    /// each prefix (more specifics up to `/max_len_v4` and `/max_len_v6`)?
    fn irr_check(
        &self,
        as_set: &str,
        origin: u32,
        prefixes: &[IpNet],
        max_len_v4: u8,
        max_len_v6: u8,
    ) -> IrrAnswer;
}

/// No IRR or RPKI data: every prefix not-found, no AS-SET known.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoRouteData;

impl RouteData for NoRouteData {
    fn rpki_validate(&self, prefixes: &[IpNet], _origin: u32, out: &mut Vec<Rov>) {
        out.extend(prefixes.iter().map(|_| Rov::NotFound));
    }

    fn irr_check(&self, _: &str, _: u32, prefixes: &[IpNet], _: u8, _: u8) -> IrrAnswer {
        IrrAnswer::not_found(prefixes.len())
    }
}

/// The prefixes of a guest's batch, one per entry of `lengths` (the answer
/// has one byte per entry). Entries the guest got wrong (columns too short,
/// a length beyond the family's, an unknown family) become `None`: they are
/// answered "not found", never trusted and never a trap.
pub(crate) fn batch_prefixes(batch: &t::PrefixBatch) -> Vec<Option<IpNet>> {
    (0..batch.lengths.len())
        .map(|i| {
            let length = batch.lengths[i];
            let high = *batch.high.get(i)?;
            let low = *batch.low.get(i)?;
            match batch.families.get(i)? {
                4 => Ipv4Net::new(Ipv4Addr::from(u32::try_from(low).ok()?), length)
                    .ok()
                    .map(|n| IpNet::V4(n.trunc())),
                6 => {
                    let bits = (u128::from(high) << 64) | u128::from(low);
                    Ipv6Net::new(Ipv6Addr::from(bits), length)
                        .ok()
                        .map(|n| IpNet::V6(n.trunc()))
                }
                _ => None,
            }
        })
        .collect()
}

/// Run `lookup` over the valid prefixes of `batch` and spread its per-prefix
/// answers back over every entry, `missing` where an entry was invalid.
pub(crate) fn per_entry<A: Copy>(
    batch: &t::PrefixBatch,
    missing: A,
    lookup: impl FnOnce(&[IpNet]) -> Vec<A>,
) -> Vec<A> {
    let entries = batch_prefixes(batch);
    let valid: Vec<IpNet> = entries.iter().flatten().copied().collect();
    let mut answers = lookup(&valid).into_iter();
    entries
        .iter()
        .map(|e| match e {
            Some(_) => answers.next().unwrap_or(missing),
            None => missing,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::{empty_prefix_batch, push_prefix};

    fn batch(prefixes: &[&str]) -> t::PrefixBatch {
        let mut b = empty_prefix_batch();
        for p in prefixes {
            push_prefix(&mut b, &p.parse().expect("test prefix"));
        }
        b
    }

    #[test]
    fn batches_decode_to_what_was_encoded() {
        let b = batch(&["192.0.2.0/24", "2001:db8:1::/48", "0.0.0.0/0"]);
        let decoded: Vec<_> = batch_prefixes(&b)
            .into_iter()
            .flatten()
            .map(|p| p.to_string())
            .collect();
        assert_eq!(decoded, ["192.0.2.0/24", "2001:db8:1::/48", "0.0.0.0/0"]);
    }

    #[test]
    fn bad_entries_are_answered_missing() {
        let mut b = batch(&["192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"]);
        b.lengths[0] = 33; // beyond IPv4
        b.families[1] = 5; // no such family
        b.lengths.push(24); // columns of unequal length
        let answers = per_entry(&b, 0u8, |valid| {
            assert_eq!(valid.len(), 1);
            vec![7; valid.len()]
        });
        assert_eq!(answers, [0, 0, 7, 0]);
    }
}
