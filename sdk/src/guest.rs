//! The component glue behind [`crate::export_policy!`] (wasm32 builds only).
//!
//! Converts between the WIT types and the SDK's, keeps the instance's policy
//! value and client table, and turns the SDK verdicts into the compact WIT
//! encodings. Not part of the public API.

#![allow(missing_docs)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

use crate::types::ClientTable;
use crate::verdict::{Modification, Outcome, Rejection};
use crate::{
    AsPath, Attributes, Client, Community, LargeCommunity, Origin, Policy, Segment, SegmentKind, Targets,
};

#[allow(unsafe_code, missing_docs, clippy::all)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "batched-policy-module",
        pub_export_macro: true,
        export_macro_name: "export",
        default_bindings_module: "kumo_sdk::guest::bindings",
    });
}

use bindings::kumo::policy::types as t;

/// Per-instance state: the policy (after `init`) and the client table.
#[derive(Debug)]
pub struct State<P> {
    policy: Option<P>,
    clients: ClientTable,
}

impl<P> Default for State<P> {
    fn default() -> Self {
        State {
            policy: None,
            clients: ClientTable::default(),
        }
    }
}

pub fn init<P: Policy>(state: &mut State<P>, config: &str) -> Result<(), String> {
    let config: crate::Config =
        serde_json::from_str(config).map_err(|e| format!("module configuration is not valid JSON: {e}"))?;
    state.policy = Some(P::new(&config)?);
    Ok(())
}

pub fn set_clients<P: Policy>(state: &mut State<P>, clients: Vec<t::Client>) {
    state.clients = ClientTable::new(clients.into_iter().map(client).collect());
    if let Some(policy) = state.policy.as_mut() {
        policy.clients_changed(&state.clients);
    }
}

/// Every prefix of a question rejected as a policy error.
fn policy_error(text: &'static str) -> Answer {
    Answer::Uniform(Outcome::Reject(Rejection::new(crate::reject::POLICY_ERROR, text)))
}

pub fn import_routes<P: Policy>(
    state: &State<P>,
    client_id: u32,
    attrs: t::Attributes,
    batch: t::PrefixBatch,
) -> t::ImportVerdicts {
    let attrs = attributes(attrs);
    let (prefixes, invalid) = decode_batch(&batch);
    match import_question(state, client_id, &attrs, &prefixes, &invalid) {
        Answer::Uniform(Outcome::Accept) => t::ImportVerdicts::AcceptAll,
        Answer::Uniform(Outcome::AcceptModified(m)) => t::ImportVerdicts::AcceptAllModified(modification(m)),
        Answer::Uniform(Outcome::Reject(r)) => t::ImportVerdicts::RejectAll(rejection(r)),
        Answer::Mixed(verdicts, outcomes) => t::ImportVerdicts::Mixed(t::MixedVerdicts {
            verdicts,
            outcomes: outcomes
                .into_iter()
                .map(|o| match o {
                    Outcome::Accept => t::Outcome::Accept,
                    Outcome::AcceptModified(m) => t::Outcome::AcceptModified(modification(m)),
                    Outcome::Reject(r) => t::Outcome::Reject(rejection(r)),
                })
                .collect(),
        }),
    }
}

/// The policy's answer to one import question, before its WIT encoding:
/// one outcome for every prefix, or an outcome index per prefix.
enum Answer {
    Uniform(Outcome),
    Mixed(Vec<u16>, Vec<Outcome>),
}

/// One answer per question of `batch`, in order: what [`import_routes`]
/// answers for each question's client, attribute set and prefixes, with the
/// modifications and rejections of all of them listed once each. A question
/// whose ranges or attribute encoding cannot be read is rejected as a policy
/// error (never a panic, never a shorter list).
pub fn import_batch<P: Policy>(state: &State<P>, batch: t::ImportBatch) -> t::ImportAnswers {
    let prefix_count = batch.prefixes.lengths.len();
    // One attribute set and one prefix list, refilled for every question.
    let mut attrs = Attributes::default();
    let (mut prefixes, mut invalid) = (Vec::new(), Vec::new());
    let mut shared = Shared::default();
    let mut verdicts = Vec::with_capacity(batch.clients.len());
    for (i, &client) in batch.clients.iter().enumerate() {
        let question = read_set(
            (&batch.attrs, &batch.attr_ends, &batch.prefix_ends),
            prefix_count,
            i,
            &mut attrs,
        );
        let answer = match question {
            Some(range) => {
                decode_prefixes_into(&batch.prefixes, range, &mut prefixes, &mut invalid);
                import_question(state, client, &attrs, &prefixes, &invalid)
            }
            None => policy_error("unreadable import question"),
        };
        match shared.verdicts(answer) {
            Some(v) => verdicts.push(v),
            // More distinct outcomes than an index can name: an answer with
            // no verdicts fails the call, and kumo asks each question in a
            // call of its own, whose indices fit.
            None => {
                return t::ImportAnswers {
                    modifications: Vec::new(),
                    rejections: Vec::new(),
                    verdicts: Vec::new(),
                };
            }
        }
    }
    t::ImportAnswers {
        modifications: shared.modifications.into_iter().map(modification).collect(),
        rejections: shared.rejections.into_iter().map(rejection).collect(),
        verdicts,
    }
}

/// The distinct modifications and rejections of an `import-many` answer.
#[derive(Default)]
struct Shared {
    modifications: Vec<Modification>,
    rejections: Vec<Rejection>,
}

impl Shared {
    /// `answer` with its modification or rejection named by index; `None`
    /// past `u16::MAX` distinct ones.
    fn verdicts(&mut self, answer: Answer) -> Option<t::SharedImportVerdicts> {
        Some(match answer {
            Answer::Uniform(Outcome::Accept) => t::SharedImportVerdicts::AcceptAll,
            Answer::Uniform(Outcome::AcceptModified(m)) => {
                t::SharedImportVerdicts::AcceptAllModified(index_of(&mut self.modifications, m)?)
            }
            Answer::Uniform(Outcome::Reject(r)) => {
                t::SharedImportVerdicts::RejectAll(index_of(&mut self.rejections, r)?)
            }
            Answer::Mixed(verdicts, outcomes) => t::SharedImportVerdicts::Mixed(t::SharedMixedVerdicts {
                verdicts,
                outcomes: outcomes
                    .into_iter()
                    .map(|o| {
                        Some(match o {
                            Outcome::Accept => t::SharedOutcome::Accept,
                            Outcome::AcceptModified(m) => {
                                t::SharedOutcome::AcceptModified(index_of(&mut self.modifications, m)?)
                            }
                            Outcome::Reject(r) => {
                                t::SharedOutcome::Reject(index_of(&mut self.rejections, r)?)
                            }
                        })
                    })
                    .collect::<Option<_>>()?,
            }),
        })
    }
}

/// Past this many distinct entries a new one is added without looking for
/// an equal one: a call's distinct modifications and rejections are a
/// handful (a tag, a few reject reasons), but a policy that gives every
/// prefix its own text would make the search quadratic in the call's
/// prefixes.
const SHARED_SEARCH_MAX: usize = 64;

/// The index of `item` in `distinct`, added at the end if new (a linear
/// search: cheaper than hashing modifications for a handful); `None` past
/// the `u16` an answer names it with.
fn index_of<T: PartialEq>(distinct: &mut Vec<T>, item: T) -> Option<u16> {
    let found = distinct.iter().take(SHARED_SEARCH_MAX).position(|d| *d == item);
    let at = match found {
        Some(at) => at,
        None => {
            distinct.push(item);
            distinct.len() - 1
        }
    };
    u16::try_from(at).ok()
}

/// Question `i`'s range in a column of ends: `ends[i-1]..ends[i]`, or `None`
/// when the ends are out of order or past the column (`len`).
fn range(ends: &[u32], i: usize, len: usize) -> Option<std::ops::Range<usize>> {
    let start = match i {
        0 => 0,
        _ => *ends.get(i - 1)? as usize,
    };
    let end = *ends.get(i)? as usize;
    (start <= end && end <= len).then_some(start..end)
}

/// Question `i` of a batch whose columns are (attribute bytes, their ends,
/// prefix ends), with `prefix_count` prefixes: its attribute set decoded
/// into `attrs`, and the range of its prefixes; `None` when a range or the
/// encoding cannot be read.
fn read_set(
    (attr_bytes, attr_ends, prefix_ends): (&[u8], &[u32], &[u32]),
    prefix_count: usize,
    i: usize,
    attrs: &mut Attributes,
) -> Option<std::ops::Range<usize>> {
    let bytes = attr_bytes.get(range(attr_ends, i, attr_bytes.len())?)?;
    crate::encoding::decode_attributes_into(bytes, attrs)?;
    range(prefix_ends, i, prefix_count)
}

/// The verdicts of one attribute set's prefixes from `client_id`
/// (`invalid`: positions that hold a placeholder, rejected).
fn import_question<P: Policy>(
    state: &State<P>,
    client_id: u32,
    attrs: &Attributes,
    prefixes: &[IpNet],
    invalid: &[usize],
) -> Answer {
    let Some(policy) = &state.policy else {
        return policy_error("policy not initialised");
    };
    let Some(client) = state.clients.get(client_id) else {
        return policy_error("unknown client");
    };
    let mut verdicts = crate::ImportVerdicts::new(prefixes.len());
    policy.import(client, attrs, prefixes, &mut verdicts);
    for &i in invalid {
        verdicts.reject(i, crate::reject::POLICY_ERROR, "invalid prefix");
    }
    let (indices, mut outcomes) = verdicts.into_parts();
    if indices.is_empty() && outcomes.len() <= 1 {
        return Answer::Uniform(outcomes.pop().unwrap_or(Outcome::Accept));
    }
    let indices = if indices.is_empty() {
        vec![0; prefixes.len()]
    } else {
        indices
    };
    Answer::Mixed(indices, outcomes)
}

/// The prefixes of a batch, and the positions of invalid entries (an unknown
/// family, a length out of range, or columns of unequal length: the missing
/// entries are invalid, never a panic), which hold a placeholder.
fn decode_batch(batch: &t::PrefixBatch) -> (Vec<IpNet>, Vec<usize>) {
    decode_prefixes(batch, 0..batch.lengths.len())
}

/// [`decode_batch`] for the entries `range` of the columns.
fn decode_prefixes(batch: &t::PrefixBatch, range: std::ops::Range<usize>) -> (Vec<IpNet>, Vec<usize>) {
    let mut prefixes = Vec::new();
    let mut invalid = Vec::new();
    decode_prefixes_into(batch, range, &mut prefixes, &mut invalid);
    (prefixes, invalid)
}

/// [`decode_prefixes`] into `prefixes` and `invalid` (emptied first, their
/// buffers kept: an export call decodes every question's prefixes into the
/// same two).
fn decode_prefixes_into(
    batch: &t::PrefixBatch,
    range: std::ops::Range<usize>,
    prefixes: &mut Vec<IpNet>,
    invalid: &mut Vec<usize>,
) {
    let count = range.len();
    prefixes.clear();
    invalid.clear();
    prefixes.reserve(count);
    // A column shorter than the range yields fewer entries: the rest are invalid.
    fn column<T>(c: &[T], range: std::ops::Range<usize>) -> &[T] {
        c.get(range.start.min(c.len())..range.end.min(c.len()))
            .unwrap_or_default()
    }
    let columns = column(&batch.high, range.clone())
        .iter()
        .zip(column(&batch.low, range.clone()))
        .zip(column(&batch.lengths, range.clone()))
        .zip(column(&batch.families, range.clone()));
    // `extend` over zipped slices writes without a capacity check per
    // prefix (measured: a third faster than pushing one by one).
    prefixes.extend(
        columns
            .enumerate()
            .map(|(i, (((&high, &low), &length), &family))| {
                batched_prefix(high, low, length, family).unwrap_or_else(|| {
                    invalid.push(i);
                    IpNet::V4(Default::default())
                })
            }),
    );
    for i in prefixes.len()..count {
        invalid.push(i);
        prefixes.push(IpNet::V4(Default::default()));
    }
}

/// The answer to a question the policy cannot read: no target receives it.
fn export_none() -> t::ExportVerdicts {
    t::ExportVerdicts::Uniform(t::ExportVerdict {
        receivers: t::Receivers::None,
        modifications: Vec::new(),
        modified_targets: Vec::new(),
        modified_by: Vec::new(),
    })
}

/// One `export-verdicts` per question of `batch`, in order.
pub fn export_routes<P: Policy>(state: &State<P>, batch: t::ExportBatch) -> Vec<t::ExportVerdicts> {
    let prefix_count = batch.prefixes.lengths.len();
    // One attribute set and one prefix list, refilled for every question:
    // a call of many questions allocates them once.
    let mut attrs = Attributes::default();
    let (mut prefixes, mut invalid) = (Vec::new(), Vec::new());
    let mut out = Vec::with_capacity(batch.sources.len());
    for (i, &source) in batch.sources.iter().enumerate() {
        let question = (|| {
            let columns = (&batch.attrs[..], &batch.attr_ends[..], &batch.prefix_ends[..]);
            let prefixes = read_set(columns, prefix_count, i, &mut attrs)?;
            let targets = batch
                .targets
                .get(range(&batch.target_ends, i, batch.targets.len())?)?;
            Some((prefixes, targets))
        })();
        out.push(match question {
            Some((range, targets)) => {
                decode_prefixes_into(&batch.prefixes, range, &mut prefixes, &mut invalid);
                export_question(state, source, &attrs, (&prefixes, &invalid), targets)
            }
            None => export_none(),
        });
    }
    out
}

fn export_question<P: Policy>(
    state: &State<P>,
    source_id: u32,
    attrs: &Attributes,
    (prefixes, invalid): (&[IpNet], &[usize]),
    target_ids: &[u32],
) -> t::ExportVerdicts {
    let (Some(policy), Some(source)) = (&state.policy, state.clients.get(source_id)) else {
        return export_none();
    };
    // Verdict indices are u16: kumo never sends a batch that large.
    if prefixes.len() > usize::from(u16::MAX) {
        return export_none();
    }
    let targets = Targets::new(target_ids, &state.clients);
    let unknown: Vec<usize> = targets.unknown().collect();
    let evaluate = |prefix: &IpNet| {
        let mut verdicts = crate::ExportVerdicts::new(targets.len());
        policy.export(source, attrs, prefix, &targets, &mut verdicts);
        // Fail closed towards targets this instance does not know.
        unknown.iter().for_each(|&k| verdicts.deny(k));
        verdicts
    };
    // One verdict for the whole set when the policy says the prefix does
    // not matter (and every prefix is valid).
    let per_set = !policy.export_uses_prefix() && invalid.is_empty();
    if let (true, Some(prefix)) = (per_set, prefixes.first()) {
        return t::ExportVerdicts::Uniform(export_verdict(evaluate(prefix), target_ids.len()));
    }
    let mut distinct: Vec<crate::ExportVerdicts> = Vec::new();
    let mut indices: Vec<u16> = Vec::with_capacity(prefixes.len());
    for (i, prefix) in prefixes.iter().enumerate() {
        let verdicts = if invalid.contains(&i) {
            let mut none = crate::ExportVerdicts::new(targets.len());
            none.deny_all();
            none
        } else {
            evaluate(prefix)
        };
        let k = match distinct.iter().position(|d| *d == verdicts) {
            Some(k) => k,
            None => {
                distinct.push(verdicts);
                distinct.len() - 1
            }
        };
        indices.push(k as u16);
    }
    let mut distinct: Vec<t::ExportVerdict> = distinct
        .into_iter()
        .map(|v| export_verdict(v, target_ids.len()))
        .collect();
    match distinct.len() {
        0 => export_none(),
        1 => t::ExportVerdicts::Uniform(distinct.remove(0)),
        _ => t::ExportVerdicts::Mixed(t::MixedExportVerdicts {
            verdicts: indices,
            distinct,
        }),
    }
}

fn export_verdict(verdicts: crate::ExportVerdicts, targets: usize) -> t::ExportVerdict {
    let allowed = verdicts.allowed();
    let (bitmap, modified, modifications) = verdicts.into_parts();
    let receivers = match bitmap {
        _ if allowed == 0 => t::Receivers::None,
        None => t::Receivers::All,
        Some(_) if allowed == targets => t::Receivers::All,
        Some(words) => t::Receivers::Bitmap(words),
    };
    let (modified_targets, modified_by) = modified.into_iter().unzip();
    t::ExportVerdict {
        receivers,
        modifications: modifications.into_iter().map(modification).collect(),
        modified_targets,
        modified_by,
    }
}

pub fn self_test<P: Policy>(state: &State<P>) -> Result<(), String> {
    match &state.policy {
        Some(policy) => policy.self_test(),
        None => Err("policy not initialised".to_owned()),
    }
}

fn ip(address: &t::IpAddress) -> IpAddr {
    match *address {
        t::IpAddress::V4(a) => IpAddr::V4(Ipv4Addr::from(a)),
        t::IpAddress::V6((hi, lo)) => IpAddr::V6(Ipv6Addr::from((u128::from(hi) << 64) | u128::from(lo))),
    }
}

/// One prefix of a batch; `None` for an unknown family or a length out of
/// range for it.
#[inline]
fn batched_prefix(high: u64, low: u64, length: u8, family: u8) -> Option<IpNet> {
    match family {
        4 => ipnet::Ipv4Net::new(Ipv4Addr::from(u32::try_from(low).ok()?), length)
            .ok()
            .map(IpNet::V4),
        6 => ipnet::Ipv6Net::new(Ipv6Addr::from((u128::from(high) << 64) | u128::from(low)), length)
            .ok()
            .map(IpNet::V6),
        _ => None,
    }
}

fn client(c: t::Client) -> Client {
    Client {
        id: c.id,
        name: c.name,
        asn: c.asn,
        addresses: c.addresses.iter().map(ip).collect(),
        // Params the host hands over are valid JSON; anything else reads as null.
        params: serde_json::from_str(&c.params).unwrap_or(crate::Config::Null),
    }
}

fn attributes(a: t::Attributes) -> Attributes {
    Attributes {
        origin: a.origin.map(|o| match o {
            t::Origin::Igp => Origin::Igp,
            t::Origin::Egp => Origin::Egp,
            t::Origin::Incomplete => Origin::Incomplete,
        }),
        as_path: AsPath {
            segments: a
                .as_path
                .into_iter()
                .map(|s| Segment {
                    kind: match s.kind {
                        t::SegmentKind::Sequence => SegmentKind::Sequence,
                        t::SegmentKind::Set => SegmentKind::Set,
                        t::SegmentKind::ConfedSequence => SegmentKind::ConfedSequence,
                        t::SegmentKind::ConfedSet => SegmentKind::ConfedSet,
                    },
                    asns: s.asns,
                })
                .collect(),
        },
        next_hop: a.next_hop.as_ref().map(ip),
        med: a.med,
        local_pref: a.local_pref,
        atomic_aggregate: a.atomic_aggregate,
        aggregator: a.aggregator.map(|g| (g.asn, Ipv4Addr::from(g.address))),
        communities: a.communities.into_iter().map(Community).collect(),
        extended_communities: a.extended_communities,
        large_communities: a
            .large_communities
            .into_iter()
            .map(|c| LargeCommunity::new(c.global_admin, c.local_data1, c.local_data2))
            .collect(),
        otc: a.otc,
    }
}

fn large(c: LargeCommunity) -> t::LargeCommunity {
    t::LargeCommunity {
        global_admin: c.global,
        local_data1: c.data1,
        local_data2: c.data2,
    }
}

fn modification(m: Modification) -> t::Modification {
    t::Modification {
        add_communities: m.add_communities.into_iter().map(|c| c.0).collect(),
        remove_communities: m.remove_communities.into_iter().map(|c| c.0).collect(),
        add_large_communities: m.add_large_communities.into_iter().map(large).collect(),
        remove_large_communities: m.remove_large_communities.into_iter().map(large).collect(),
        prepend: m.prepend,
        preference: m.preference,
        next_hop: m.next_hop.map(ip_address),
    }
}

fn ip_address(address: IpAddr) -> t::IpAddress {
    match address {
        IpAddr::V4(a) => t::IpAddress::V4(u32::from(a)),
        IpAddr::V6(a) => {
            let bits = u128::from(a);
            t::IpAddress::V6(((bits >> 64) as u64, bits as u64))
        }
    }
}

fn rejection(r: Rejection) -> t::Rejection {
    t::Rejection {
        code: r.code,
        text: r.text.into_owned(),
    }
}
