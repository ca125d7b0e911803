//! [`PolicyWorker`]: the instances one thread uses, and the import/export
//! chains evaluated with them.
//!
//! Call shape (DESIGN.md §2): import lowers one attribute set and a flat list
//! of prefixes per module call; export evaluates one route for all candidate
//! targets at once. Within a chain, the prefixes (or targets) a module
//! accepted go on to the next module, grouped by their (possibly modified)
//! attributes, so a chain costs one call per module in the common case.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use ipnet::IpNet;
use kumo_wire::PathAttributes;
use smallvec::SmallVec;

use crate::bindings::kumo::policy::types as t;
use crate::convert;
use crate::engine::PolicyEngine;
use crate::error::{FailureKind, PolicyFailure};
use crate::module::{Instance, InstantiateError, PolicyModule};

/// The reject code kumo uses when a policy fails (trap, deadline, memory,
/// malformed answer): the call's routes are rejected with it.
pub const POLICY_ERROR_CODE: u16 = 65534;
/// The reject text that goes with [`POLICY_ERROR_CODE`].
pub const POLICY_ERROR_TEXT: &str = "policy error";

/// A route-server client as policies see it.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientCtx {
    /// kumo's id for the client; calls name clients by id.
    pub id: u32,
    pub name: String,
    pub asn: u32,
    pub addresses: Vec<IpAddr>,
    /// Per-client policy parameters from the configuration (AS-SET, limits,
    /// flags), handed to the guest as JSON text.
    pub params: serde_json::Value,
}

/// The verdict for one imported prefix.
#[derive(Debug, Clone, PartialEq)]
pub enum ImportResult {
    /// Accepted. `modified` is set when a policy changed the attributes; it
    /// is shared (`Arc`) by every prefix of the call modified the same way.
    Accept {
        modified: Option<Arc<PathAttributes>>,
        preference: Option<u32>,
        /// A policy replaced NEXT_HOP (import only: RFC 7999 blackholing).
        /// An IPv4 route's NEXT_HOP is already in `modified`; the caller
        /// applies this to MP_REACH_NLRI next hops.
        next_hop: Option<IpAddr>,
    },
    /// Rejected by `policy` with a reason code and text (`Arc` so the prefixes
    /// of one call share them). A failing policy gives code
    /// [`POLICY_ERROR_CODE`] and text [`POLICY_ERROR_TEXT`].
    Reject {
        code: u16,
        text: Arc<str>,
        policy: Arc<str>,
    },
}

impl ImportResult {
    /// Accepted?
    pub fn is_accept(&self) -> bool {
        matches!(self, ImportResult::Accept { .. })
    }
}

const PENDING: u32 = u32::MAX;

/// The verdicts of one import call: one [`ImportResult`] per prefix, stored
/// as the few distinct results plus one index per prefix, so that 256
/// prefixes accepted with the same tag cost 256 small integers, not 256
/// copies (or reference-count updates) of a result.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportVerdicts {
    outcomes: Vec<ImportResult>,
    index: Vec<u32>,
    /// Prefixes given a result so far (each is assigned once).
    assigned: usize,
}

impl ImportVerdicts {
    /// `len` prefixes, none given a result yet.
    fn pending(len: usize) -> Self {
        ImportVerdicts {
            outcomes: Vec::new(),
            index: vec![PENDING; len],
            assigned: 0,
        }
    }

    /// Every prefix still without a result is rejected as a policy error.
    /// Every prefix ends in a group or gets a verdict, so this does nothing
    /// unless that bookkeeping is wrong, when failing closed is the answer.
    fn reject_pending(&mut self) {
        if self.assigned == self.index.len() {
            return;
        }
        let pending: Vec<u32> = (0..self.index.len() as u32)
            .filter(|&i| self.index[i as usize] == PENDING)
            .collect();
        self.assign(
            &pending,
            ImportResult::Reject {
                code: POLICY_ERROR_CODE,
                text: POLICY_ERROR_TEXT.into(),
                policy: "kumo".into(),
            },
        );
    }

    /// Set the result of `members` (prefix positions) to `result`.
    fn assign(&mut self, members: &[u32], result: ImportResult) {
        if members.is_empty() {
            return;
        }
        let slot = self.outcomes.len() as u32;
        self.outcomes.push(result);
        self.assigned += members.len();
        for &i in members {
            if let Some(entry) = self.index.get_mut(i as usize) {
                *entry = slot;
            }
        }
    }

    /// Number of prefixes.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// No prefixes?
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// The result for prefix `i`.
    pub fn get(&self, i: usize) -> Option<&ImportResult> {
        self.index
            .get(i)
            .and_then(|&slot| self.outcomes.get(slot as usize))
    }

    /// The results, in prefix order.
    pub fn iter(&self) -> impl Iterator<Item = &ImportResult> + '_ {
        self.index
            .iter()
            .filter_map(|&slot| self.outcomes.get(slot as usize))
    }

    /// Index into [`ImportVerdicts::distinct`] of prefix `i`'s result.
    pub fn outcome_index(&self, i: usize) -> Option<usize> {
        self.index
            .get(i)
            .map(|&slot| slot as usize)
            .filter(|&slot| slot < self.outcomes.len())
    }

    /// The distinct results of the call (in no particular order).
    pub fn distinct(&self) -> &[ImportResult] {
        &self.outcomes
    }

    /// Number of accepted prefixes.
    pub fn accepted(&self) -> usize {
        self.iter().filter(|r| r.is_accept()).count()
    }

    /// One owned result per prefix.
    pub fn to_vec(&self) -> Vec<ImportResult> {
        self.iter().cloned().collect()
    }
}

impl std::ops::Index<usize> for ImportVerdicts {
    type Output = ImportResult;

    /// The result for prefix `i`. Panics when `i` is out of range, as slice
    /// indexing does; use [`ImportVerdicts::get`] otherwise.
    fn index(&self, i: usize) -> &ImportResult {
        match self.get(i) {
            Some(result) => result,
            None => panic!("prefix {i} out of range for {} verdicts", self.len()),
        }
    }
}

/// A set of positions in an export call's `targets`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetSet {
    len: usize,
    /// One bit per position; `None` while every position is in the set (the
    /// usual answer), so that answer costs no allocation.
    words: Option<Vec<u64>>,
}

impl TargetSet {
    fn full(len: usize) -> Self {
        TargetSet { len, words: None }
    }
    fn remove(&mut self, index: usize) {
        if index >= self.len {
            return;
        }
        let len = self.len;
        let words = self.words.get_or_insert_with(|| {
            let mut words = vec![u64::MAX; len.div_ceil(64)];
            if !len.is_multiple_of(64)
                && let Some(last) = words.last_mut()
            {
                *last = (1u64 << (len % 64)) - 1;
            }
            words
        });
        if let Some(w) = words.get_mut(index / 64) {
            *w &= !(1 << (index % 64));
        }
    }
    /// Is position `index` in the set?
    pub fn contains(&self, index: usize) -> bool {
        index < self.len
            && self.words.as_ref().is_none_or(|words| {
                words
                    .get(index / 64)
                    .is_some_and(|w| w & (1 << (index % 64)) != 0)
            })
    }
    /// Number of positions in the set.
    pub fn count(&self) -> usize {
        match &self.words {
            None => self.len,
            Some(words) => words.iter().map(|w| w.count_ones() as usize).sum(),
        }
    }
    /// Number of targets of the call (the set's universe).
    pub fn len(&self) -> usize {
        self.len
    }
    /// Is the universe empty?
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// The positions in the set, ascending.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.len).filter(|i| self.contains(*i))
    }
}

/// The verdict of one export call.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportResult {
    /// Positions in `targets` that may receive the route.
    pub receivers: TargetSet,
    /// Targets that receive modified attributes, one entry per attribute
    /// set (the usual modification, the same action communities stripped
    /// for every receiver, is one entry however many targets it has);
    /// a target in none receives the route as it is.
    pub modified: Vec<Modified>,
    /// Set when a module failed: the targets it was evaluating receive nothing.
    pub failure: Option<PolicyFailure>,
}

/// Targets of an [`ExportResult`] that receive one modified attribute set.
#[derive(Debug, Clone, PartialEq)]
pub struct Modified {
    /// What they receive.
    pub attrs: Arc<PathAttributes>,
    /// Their positions in the call's `targets`, ascending.
    pub targets: Vec<u32>,
}

impl ExportResult {
    /// Every target with modified attributes and what it receives, by
    /// position.
    pub fn modified_targets(&self) -> Vec<(usize, &Arc<PathAttributes>)> {
        let mut all: Vec<(usize, &Arc<PathAttributes>)> = self
            .modified
            .iter()
            .flat_map(|m| m.targets.iter().map(move |&k| (k as usize, &m.attrs)))
            .collect();
        all.sort_by_key(|(k, _)| *k);
        all
    }

    /// The attributes target `k` receives modified, if any.
    pub fn modified_for(&self, k: usize) -> Option<&Arc<PathAttributes>> {
        self.modified
            .iter()
            .find(|m| m.targets.binary_search(&(k as u32)).is_ok())
            .map(|m| &m.attrs)
    }
}

/// Most prefixes in one export call (verdict indices are `u16`).
pub const EXPORT_BATCH_MAX: usize = 4096;

/// The verdicts of one batched export: the distinct results and one index
/// per prefix, like [`ImportVerdicts`].
#[derive(Debug, Clone, PartialEq)]
pub struct ExportResults {
    /// Number of prefixes.
    len: usize,
    /// Per prefix, its result's position in `results`; empty while every
    /// prefix has the first result (the usual answer: no list at all).
    index: Vec<u32>,
    /// Usually one: inline, no allocation per question.
    results: SmallVec<[ExportResult; 1]>,
}

impl ExportResult {
    /// Every target receives the route unmodified.
    fn everyone(targets: usize) -> Self {
        ExportResult {
            receivers: TargetSet::full(targets),
            modified: Vec::new(),
            failure: None,
        }
    }
}

impl ExportResults {
    /// No prefixes; the one result lets every target receive.
    fn everyone(targets: usize) -> Self {
        ExportResults {
            len: 0,
            index: Vec::new(),
            results: smallvec::smallvec![ExportResult::everyone(targets)],
        }
    }

    /// One per question, each prefix still without its result.
    fn unanswered(questions: &[ExportQuestion<'_>]) -> Vec<Self> {
        questions
            .iter()
            .map(|q| ExportResults {
                len: q.prefixes.len(),
                index: Vec::new(),
                results: SmallVec::new(),
            })
            .collect()
    }

    /// `result` is the answer for the prefixes at `prefixes`.
    fn push(&mut self, prefixes: impl IntoIterator<Item = usize>, result: ExportResult) {
        let slot = self.results.len() as u32;
        // Every prefix starts at the first result: only a second one needs
        // the per-prefix list.
        if slot > 0 {
            if self.index.is_empty() {
                self.index = vec![0; self.len];
            }
            for i in prefixes {
                if let Some(entry) = self.index.get_mut(i) {
                    *entry = slot;
                }
            }
        }
        self.results.push(result);
    }

    /// `class`'s result is the answer for its prefixes.
    fn push_class(&mut self, mut class: ExportClass<'_>) {
        let prefixes = std::mem::take(&mut class.prefixes);
        self.push(prefixes.into_iter().map(|i| i as usize), class.into_result());
    }

    /// A question without prefixes gets the answer for its attribute set alone.
    fn finish(out: &mut [Self], questions: &[ExportQuestion<'_>]) {
        for (results, question) in out.iter_mut().zip(questions) {
            if results.results.is_empty() {
                results
                    .results
                    .push(ExportResult::everyone(question.targets.len()));
            }
        }
    }

    /// Number of prefixes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// No prefixes?
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The result for prefix `i`.
    pub fn get(&self, i: usize) -> Option<&ExportResult> {
        self.result_index(i).and_then(|k| self.results.get(k))
    }

    /// Index into [`ExportResults::distinct`] of prefix `i`'s result.
    pub fn result_index(&self, i: usize) -> Option<usize> {
        if i >= self.len {
            return None;
        }
        Some(self.index.get(i).map_or(0, |&k| k as usize))
    }

    /// The distinct results of the call (in no particular order).
    pub fn distinct(&self) -> &[ExportResult] {
        &self.results
    }
}

struct Slot {
    module: Arc<PolicyModule>,
    instance: Option<Instance>,
}

/// Told about every call into a module (for metrics): the module's name,
/// how long the call took, and how it failed, if it did.
pub type CallObserver = Arc<dyn Fn(&str, std::time::Duration, Option<FailureKind>) + Send + Sync>;

/// A worker's instances: one store and instance per module, created on first
/// use, reused across calls and clients, and replaced after a failure.
///
/// Not `Sync`: each thread that evaluates policies owns one.
pub struct PolicyWorker {
    slots: HashMap<u64, Slot>,
    clients: Vec<t::Client>,
    client_ids: HashMap<u32, usize>,
    clients_generation: u64,
    /// Reused between calls: the columns of the prefixes being lowered.
    batch: t::PrefixBatch,
    /// Reused between export calls (taken out while a call runs).
    export_batch: Option<t::ExportBatch>,
    /// Reused between batched import calls (taken out while a call runs).
    import_batch: Option<t::ImportBatch>,
    /// Questions per export call, per module.
    export_sizes: CallSizes,
    /// Questions per `import-many` call, per module.
    import_sizes: CallSizes,
    observer: Option<CallObserver>,
}

impl std::fmt::Debug for PolicyWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyWorker")
            .field("instances", &self.slots.len())
            .field("clients", &self.clients.len())
            .finish_non_exhaustive()
    }
}

/// A group of prefixes (import) or targets (export) that share attributes
/// while going down a chain.
#[derive(Clone)]
struct Group<'a> {
    attrs: GroupAttrs<'a>,
    preference: Option<u32>,
    /// NEXT_HOP as replaced by a module of the chain.
    next_hop: Option<IpAddr>,
    members: Vec<u32>,
}

/// A group's attribute set: the question's own, or one a module of the
/// chain modified. Shared, not copied: groups are moved and split at every
/// step of a chain (an owned set made a `Group` 144 octets, copied whole at
/// each move, 9 % of an import burst in memmove), and the result holds the
/// modified set in an `Arc` anyway.
#[derive(Clone)]
enum GroupAttrs<'a> {
    Given(&'a PathAttributes),
    Modified(Arc<PathAttributes>),
}

impl std::ops::Deref for GroupAttrs<'_> {
    type Target = PathAttributes;
    fn deref(&self) -> &PathAttributes {
        match self {
            GroupAttrs::Given(attrs) => attrs,
            GroupAttrs::Modified(attrs) => attrs,
        }
    }
}

impl GroupAttrs<'_> {
    /// The set a module of the chain made, if any.
    fn modified(self) -> Option<Arc<PathAttributes>> {
        match self {
            GroupAttrs::Given(_) => None,
            GroupAttrs::Modified(attrs) => Some(attrs),
        }
    }
}

impl PolicyWorker {
    /// A worker with no instances and no clients.
    pub fn new(_engine: &PolicyEngine) -> Self {
        PolicyWorker {
            slots: HashMap::new(),
            clients: Vec::new(),
            client_ids: HashMap::new(),
            clients_generation: 0,
            batch: convert::empty_prefix_batch(),
            export_batch: None,
            import_batch: None,
            export_sizes: CallSizes::new(EXPORT_QUESTIONS_MAX),
            import_sizes: CallSizes::new(IMPORT_QUESTIONS_MAX),
            observer: None,
        }
    }

    /// Report every call to `observer` from now on.
    pub fn set_observer(&mut self, observer: CallObserver) {
        self.observer = Some(observer);
    }

    /// Replace the client table. Each instance receives it (once) before its
    /// next call. Per-client parameters are data, not instances.
    pub fn set_clients(&mut self, clients: &[ClientCtx]) {
        self.clients = clients
            .iter()
            .map(|c| t::Client {
                id: c.id,
                name: c.name.clone(),
                asn: c.asn,
                addresses: c.addresses.iter().copied().map(convert::ip).collect(),
                params: if c.params.is_null() {
                    "{}".to_owned()
                } else {
                    c.params.to_string()
                },
            })
            .collect();
        self.client_ids = clients.iter().enumerate().map(|(i, c)| (c.id, i)).collect();
        self.clients_generation += 1;
    }

    /// Drop the instances of modules nobody else holds any more (after a hot
    /// swap replaced them).
    pub fn prune(&mut self) {
        self.slots.retain(|_, slot| Arc::strong_count(&slot.module) > 1);
        let slots = &self.slots;
        self.export_sizes.retain(|id| slots.contains_key(id));
        self.import_sizes.retain(|id| slots.contains_key(id));
    }

    /// Number of live instances (for metrics and tests).
    pub fn live_instances(&self) -> usize {
        self.slots.values().filter(|s| s.instance.is_some()).count()
    }

    /// Run `f` on `module`'s instance, creating it (and handing it the client
    /// table) as needed. On failure the instance is dropped. A failure of a
    /// call that is not `recorded` (a batch whose questions are asked again
    /// one by one) is not reported to the observer: the retries are.
    fn with_instance<R>(
        &mut self,
        module: &Arc<PolicyModule>,
        recorded: bool,
        f: impl FnOnce(&mut Instance, &PolicyModule, &t::PrefixBatch) -> Result<R, PolicyFailure>,
    ) -> Result<R, PolicyFailure> {
        let slot = self.slots.entry(module.id()).or_insert_with(|| Slot {
            module: module.clone(),
            instance: None,
        });
        let instance = match &mut slot.instance {
            Some(instance) => instance,
            empty @ None => match Instance::new(module) {
                Ok(instance) => empty.insert(instance),
                Err(InstantiateError::Failed(failure)) => return Err(failure),
                Err(InstantiateError::Refused(message)) => {
                    // Accepted at load time, refused now: treat as a trap.
                    module.stats().count_failure(FailureKind::Trap);
                    return Err(PolicyFailure {
                        module: module.name().to_owned(),
                        kind: FailureKind::Trap,
                        message: format!("configuration refused on instantiation: {message}"),
                    });
                }
            },
        };
        let result = (|| {
            if instance.clients_generation != Some(self.clients_generation) {
                let clients = &self.clients;
                instance.setup_call(module, |b, s| b.kumo_policy_policy().call_set_clients(s, clients))?;
                instance.clients_generation = Some(self.clients_generation);
            }
            module.stats().calls.fetch_add(1, Ordering::Relaxed);
            let started = self.observer.is_some().then(std::time::Instant::now);
            let result = f(instance, module, &self.batch);
            if let (Some(observer), Some(started)) = (&self.observer, started)
                && (recorded || result.is_ok())
            {
                let failure = result.as_ref().err().map(|f| f.kind);
                observer(module.name(), started.elapsed(), failure);
            }
            result
        })();
        if let Err(failure) = &result
            && failure.kind != FailureKind::InvalidResult
        {
            slot.instance = None;
        }
        result
    }

    /// For the asks of a call to `module`, given as (client, routes): counts
    /// their routes, fills `out` with one entry per ask (an ask from a client
    /// not in the client table fails alone, the others are `None` for now),
    /// and returns the positions of the asks from known clients.
    fn known_sources<A>(
        &self,
        module: &PolicyModule,
        sources: impl ExactSizeIterator<Item = (u32, usize)>,
        out: &mut Vec<Option<Result<A, PolicyFailure>>>,
    ) -> Vec<usize> {
        out.clear();
        let mut known = Vec::with_capacity(sources.len());
        for (n, (client, routes)) in sources.enumerate() {
            module.stats().routes.fetch_add(routes as u64, Ordering::Relaxed);
            if self.client_ids.contains_key(&client) {
                known.push(n);
                out.push(None);
            } else {
                module.stats().count_failure(FailureKind::InvalidResult);
                out.push(Some(Err(Self::unknown_client(module, client))));
            }
        }
        known
    }

    fn unknown_client(module: &PolicyModule, id: u32) -> PolicyFailure {
        invalid_result(module, format!("client id {id} is not in the client table"))
    }

    /// Import: one attribute set, many prefixes from client `client`, through
    /// `chain` in order; one verdict per prefix, in order (see
    /// [`ImportVerdicts`]). An empty chain accepts everything.
    pub fn import(
        &mut self,
        chain: &[Arc<PolicyModule>],
        client: u32,
        attrs: &PathAttributes,
        next_hop: Option<IpAddr>,
        prefixes: &[IpNet],
    ) -> ImportVerdicts {
        let question = ImportQuestion {
            chain,
            client,
            attrs,
            next_hop,
            prefixes,
        };
        let mut out = self.import_many(std::slice::from_ref(&question));
        out.pop()
            .unwrap_or_else(|| ImportVerdicts::pending(prefixes.len()))
    }

    /// [`PolicyWorker::import`] for many questions at once, one result per
    /// question, in order, with the same verdicts. At each step of the
    /// chains, the groups every module has to evaluate go to it together:
    /// a module that exports `batch-import` answers them in calls of up to
    /// [`IMPORT_QUESTIONS_MAX`] (a call that fails is asked again one
    /// `import-routes` call per group, whose outcome counts, so a trap or
    /// the deadline fails only its own routes); one that does not is asked
    /// one `import-routes` call per group.
    pub fn import_many(&mut self, questions: &[ImportQuestion<'_>]) -> Vec<ImportVerdicts> {
        let mut out: Vec<ImportVerdicts> = questions
            .iter()
            .map(|q| ImportVerdicts::pending(q.prefixes.len()))
            .collect();
        // The groups still going down their question's chain, by question.
        let mut groups: Vec<Vec<Group<'_>>> = questions
            .iter()
            .map(|q| {
                vec![Group {
                    attrs: GroupAttrs::Given(q.attrs),
                    preference: None,
                    next_hop: None,
                    members: (0..q.prefixes.len() as u32).collect(),
                }]
            })
            .collect();
        let depth = questions.iter().map(|q| q.chain.len()).max().unwrap_or(0);
        for step in 0..depth {
            // The modules of this step, each with its questions, in order of
            // first appearance (usually one: every client's chain alike).
            let mut modules: Vec<(&Arc<PolicyModule>, Vec<usize>)> = Vec::new();
            for (q, question) in questions.iter().enumerate() {
                let Some(module) = question.chain.get(step) else {
                    continue;
                };
                match modules.iter_mut().find(|(m, _)| Arc::ptr_eq(m, module)) {
                    Some((_, asked)) => asked.push(q),
                    None => modules.push((module, vec![q])),
                }
            }
            for (module, asked) in modules {
                let asks: Vec<(usize, Group<'_>)> = asked
                    .iter()
                    .flat_map(|&q| std::mem::take(&mut groups[q]).into_iter().map(move |g| (q, g)))
                    .filter(|(_, g)| !g.members.is_empty())
                    .collect();
                let answers = self.import_calls(module, questions, &asks);
                for ((q, group), answer) in asks.into_iter().zip(answers) {
                    settle_import(module, group, answer, &mut out[q], &mut groups[q]);
                }
            }
        }
        for (results, groups) in out.iter_mut().zip(groups) {
            for group in groups {
                let modified = group.attrs.modified();
                results.assign(
                    &group.members,
                    ImportResult::Accept {
                        modified,
                        preference: group.preference,
                        next_hop: group.next_hop,
                    },
                );
            }
            results.reject_pending();
        }
        out
    }

    /// `module`'s answers to `asks` (question index, group), one per ask.
    fn import_calls(
        &mut self,
        module: &Arc<PolicyModule>,
        questions: &[ImportQuestion<'_>],
        asks: &[(usize, Group<'_>)],
    ) -> Vec<Result<ImportAnswer, PolicyFailure>> {
        let mut out = Vec::new();
        let sources = asks
            .iter()
            .map(|(q, group)| (questions[*q].client, group.members.len()));
        let known = self.known_sources(module, sources, &mut out);
        let batches = module.imports_in_batches();
        let mut rest = &known[..];
        while !rest.is_empty() {
            let limit = if batches {
                self.import_sizes.limit(module.id())
            } else {
                1
            };
            // At most `limit` questions and (past the first) IMPORT_BATCH_MAX
            // prefixes: one deadline and one memory cap serve the whole call.
            let mut prefixes = 0;
            let take = rest
                .iter()
                .take(limit.max(1))
                .take_while(|&&n| {
                    prefixes += asks[n].1.members.len();
                    prefixes <= IMPORT_BATCH_MAX
                })
                .count()
                .max(1);
            let (chunk, tail) = rest.split_at(take);
            rest = tail;
            if let [n] = *chunk {
                let (q, group) = &asks[n];
                let answer = self.import_one(module, &questions[*q], group);
                if batches {
                    self.import_sizes.record(module.id(), 1, answer.is_err());
                }
                out[n] = Some(answer);
                continue;
            }
            let answers = self.import_call(module, questions, asks, chunk);
            self.import_sizes
                .record(module.id(), chunk.len(), answers.is_err());
            // Questions left unanswered (the call failed, or their attribute
            // set could not go into a batch) are asked one call each.
            let mut answers = answers.ok().map(Vec::into_iter);
            for &n in chunk {
                let answer = match answers.as_mut().and_then(Iterator::next).flatten() {
                    Some(verdicts) => Ok(verdicts),
                    None => {
                        let (q, group) = &asks[n];
                        self.import_one(module, &questions[*q], group)
                    }
                };
                out[n] = Some(answer);
            }
        }
        out.into_iter()
            .map(|answer| answer.unwrap_or_else(|| Err(invalid_result(module, "import answer missing"))))
            .collect()
    }

    /// One `import-routes` call of `module` for `group` of `question`; a
    /// failure counts and is logged.
    fn import_one(
        &mut self,
        module: &Arc<PolicyModule>,
        question: &ImportQuestion<'_>,
        group: &Group<'_>,
    ) -> Result<ImportAnswer, PolicyFailure> {
        convert::fill_batch(&mut self.batch, question.prefixes, &group.members);
        // A module later in the chain sees the NEXT_HOP an earlier one set.
        let wit_attrs = convert::attributes(&group.attrs, group.next_hop.or(question.next_hop));
        let client = question.client;
        self.with_instance(module, true, |instance, module, prefixes| {
            instance.call(module, |b, s| {
                b.kumo_policy_policy()
                    .call_import_routes(s, client, &wit_attrs, prefixes)
            })
        })
        .map(ImportAnswer::from)
    }

    /// One `import-many` call of `module` for the asks at `chosen`: per ask
    /// its answer (`None` for an attribute set the batch encoding cannot
    /// carry, to be asked in a call of its own, where it can), or the
    /// failure of the whole call, which is neither counted nor logged (its
    /// questions are asked again one by one).
    fn import_call(
        &mut self,
        module: &Arc<PolicyModule>,
        questions: &[ImportQuestion<'_>],
        asks: &[(usize, Group<'_>)],
        chosen: &[usize],
    ) -> Result<Vec<Option<ImportAnswer>>, PolicyFailure> {
        let mut batch = self
            .import_batch
            .take()
            .unwrap_or_else(convert::empty_import_batch);
        convert::clear_import_batch(&mut batch);
        let sent: Vec<bool> = chosen
            .iter()
            .map(|&n| {
                let (q, group) = &asks[n];
                let question = &questions[*q];
                convert::push_import_question(
                    &mut batch,
                    question.client,
                    &group.attrs,
                    group.next_hop.or(question.next_hop),
                    question.prefixes,
                    &group.members,
                )
                .is_some()
            })
            .collect();
        let count = batch.clients.len();
        let answers = self.with_instance(module, false, |instance, module, _| {
            instance
                .import_many(module, &batch)
                .unwrap_or_else(|| Err(invalid_result(module, "module has no batch-import")))
        });
        self.import_batch = Some(batch);
        let answers = ImportAnswer::all_of(answers?).map_err(|message| invalid_result(module, message))?;
        if answers.len() != count {
            let message = format!(
                "import answer: {} verdicts for {} questions",
                answers.len(),
                count
            );
            return Err(invalid_result(module, message));
        }
        let mut answers = answers.into_iter();
        Ok(sent
            .into_iter()
            .map(|sent| if sent { answers.next() } else { None })
            .collect())
    }

    /// Export: the route for `prefix` from client `source`, evaluated once for
    /// every candidate target (client ids) through `chain`. Targets a module
    /// accepts go on to the next one.
    pub fn export(
        &mut self,
        chain: &[Arc<PolicyModule>],
        source: u32,
        attrs: &PathAttributes,
        prefix: &IpNet,
        targets: &[u32],
    ) -> ExportResult {
        let mut results = self.export_many(chain, source, attrs, std::slice::from_ref(prefix), targets);
        results.results.swap_remove(0)
    }

    /// Export of many prefixes from client `source` sharing the attribute set
    /// `attrs`, towards every candidate target at once: one question of
    /// [`PolicyWorker::export_batch`].
    pub fn export_many(
        &mut self,
        chain: &[Arc<PolicyModule>],
        source: u32,
        attrs: &PathAttributes,
        prefixes: &[IpNet],
        targets: &[u32],
    ) -> ExportResults {
        let question = ExportQuestion {
            source,
            attrs,
            prefixes,
            targets,
        };
        let mut results = self.export_batch(chain, std::slice::from_ref(&question));
        results
            .pop()
            .unwrap_or_else(|| ExportResults::everyone(targets.len()))
    }

    /// Export of many questions (each: the prefixes of one attribute set
    /// from one source, towards its candidate targets) through `chain`: per
    /// module, one WebAssembly call for up to [`EXPORT_QUESTIONS_MAX`]
    /// questions, so the cost of entering the guest is paid once for many
    /// attribute sets. Targets a module accepts go on to the next one;
    /// prefixes whose verdicts differ part ways. A question's prefixes go
    /// in slices of at most [`EXPORT_BATCH_MAX`] (verdict indices are `u16`
    /// in the WIT). One result per question, in order.
    ///
    /// Failure isolation: if a call for several questions fails (a trap,
    /// the deadline, an answer of the wrong length), each of its questions
    /// is asked again in a call of its own, so that one question's failure
    /// costs only its own routes.
    pub fn export_batch(
        &mut self,
        chain: &[Arc<PolicyModule>],
        questions: &[ExportQuestion<'_>],
    ) -> Vec<ExportResults> {
        if let [module] = chain {
            return self.export_by_one(module, questions);
        }
        // The classes of every question's prefixes (in slices of at most
        // EXPORT_BATCH_MAX), each with its question's index, in question
        // order: one flat list, so that a question answered alike for all
        // its prefixes (the usual case) costs no list of its own.
        let mut classes: Vec<(usize, ExportClass<'_>)> = slices(questions)
            .map(|(q, range, question)| (q, ExportClass::start(range, question)))
            .collect();
        let mut evaluated = Vec::new();
        for module in chain {
            // Every group still to evaluate by `module`, in class and group order.
            let mut asks = Vec::with_capacity(classes.len());
            for (q, class) in &classes {
                let question = &questions[*q];
                for group in class.pending.iter().filter(|g| !g.members.is_empty()) {
                    asks.push(Ask {
                        source: question.source,
                        attrs: &group.attrs,
                        positions: &class.prefixes,
                        prefixes: question.prefixes,
                        members: &group.members,
                        targets: question.targets,
                    });
                }
            }
            let answers = self.export_calls(module, &asks);
            drop(asks);
            let mut answers = answers.into_iter();
            let mut next = Vec::with_capacity(classes.len());
            for (q, mut class) in classes.drain(..) {
                let groups = std::mem::take(&mut class.pending);
                for group in groups.into_iter().filter(|g| !g.members.is_empty()) {
                    let answer = answers.next().unwrap_or_else(|| Err(Self::lost_answer(module)));
                    evaluated.push((group, answer));
                }
                class.split(&mut evaluated, q, &mut next);
            }
            classes = next;
        }
        let mut out = ExportResults::unanswered(questions);
        for (q, class) in classes {
            if let Some(results) = out.get_mut(q) {
                results.push_class(class);
            }
        }
        ExportResults::finish(&mut out, questions);
        out
    }

    /// [`PolicyWorker::export_batch`] through a chain of one `module` (the
    /// usual export chain), with the same results: a slice whose answer is
    /// the usual one (every target, unchanged, for all its prefixes) gets
    /// its result directly; the others go through the classes as in the
    /// general case. Building and parting a class for every slice was a
    /// tenth of the core's time in a policy change (P3's profile).
    fn export_by_one(
        &mut self,
        module: &Arc<PolicyModule>,
        questions: &[ExportQuestion<'_>],
    ) -> Vec<ExportResults> {
        // Positions 0, 1, 2, ...: the slices' prefix positions and the
        // questions' members (every target) are ranges of it.
        let longest = questions
            .iter()
            .map(|q| q.prefixes.len().max(q.targets.len()))
            .max()
            .unwrap_or(0);
        let ids: Vec<u32> = (0..longest as u32).collect();
        // The slices of a question without targets are not asked (there is
        // no one to evaluate), as in the general case.
        let asks: Vec<Ask<'_>> = slices(questions)
            .filter(|(_, _, question)| !question.targets.is_empty())
            .filter_map(|(_, range, question)| {
                Some(Ask {
                    source: question.source,
                    attrs: question.attrs,
                    positions: ids.get(range)?,
                    prefixes: question.prefixes,
                    members: ids.get(..question.targets.len())?,
                    targets: question.targets,
                })
            })
            .collect();
        let mut answers = self.export_calls(module, &asks).into_iter();
        drop(asks);
        let mut out = ExportResults::unanswered(questions);
        let mut evaluated = Vec::with_capacity(1);
        let mut parts = Vec::new();
        for (q, range, question) in slices(questions) {
            let Some(results) = out.get_mut(q) else { continue };
            let answer = (!question.targets.is_empty())
                .then(|| answers.next().unwrap_or_else(|| Err(Self::lost_answer(module))));
            let usual = match &answer {
                None => true,
                Some(Ok((None, distinct))) => distinct.first().is_some_and(everyone_unchanged),
                Some(_) => false,
            };
            if usual {
                results.push(range, ExportResult::everyone(question.targets.len()));
                continue;
            }
            let mut class = ExportClass::start(range, question);
            evaluated.extend(class.pending.pop().zip(answer));
            class.split(&mut evaluated, q, &mut parts);
            for (_, part) in parts.drain(..) {
                results.push_class(part);
            }
        }
        ExportResults::finish(&mut out, questions);
        out
    }

    /// `module`'s answers to `asks`, one per ask: an ask from a source not
    /// in the client table fails alone; the others go in calls of up to
    /// [`EXPORT_QUESTIONS_MAX`] questions. A call of several questions that
    /// fails is not counted as a failure: each of its questions is asked
    /// again in a call of its own, whose outcome counts. When such a call
    /// failed on the deadline (a module slow enough that many questions do
    /// not fit in one call's time), the module's next calls carry fewer
    /// questions; successful calls let the number grow back.
    fn export_calls(&mut self, module: &Arc<PolicyModule>, asks: &[Ask<'_>]) -> Vec<ExportAnswer> {
        let mut out = Vec::new();
        let sources = asks.iter().map(|ask| (ask.source, ask.positions.len()));
        let known = self.known_sources(module, sources, &mut out);
        let mut rest = &known[..];
        while !rest.is_empty() {
            let limit = self.export_sizes.limit(module.id());
            let (chunk, tail) = rest.split_at(limit.clamp(1, rest.len()));
            rest = tail;
            let answers = self.export_call(module, asks, chunk);
            self.export_sizes
                .record(module.id(), chunk.len(), answers.is_err());
            match answers {
                Ok(answers) => {
                    for (&n, answer) in chunk.iter().zip(answers) {
                        out[n] = Some(answer);
                    }
                }
                Err(_) => {
                    for &n in chunk {
                        let answer = self
                            .export_call(module, asks, &[n])
                            .and_then(|mut one| one.pop().unwrap_or_else(|| Err(Self::lost_answer(module))));
                        out[n] = Some(answer);
                    }
                }
            }
        }
        out.into_iter()
            .map(|answer| answer.unwrap_or_else(|| Err(Self::lost_answer(module))))
            .collect()
    }

    /// One call of `module` for the asks at `chosen` (known sources): per
    /// ask its checked answer (a malformed verdict fails that ask only), or
    /// the failure of the whole call. A call of one question counts and
    /// logs its failure; a call of several leaves that to the retries.
    fn export_call(
        &mut self,
        module: &Arc<PolicyModule>,
        asks: &[Ask<'_>],
        chosen: &[usize],
    ) -> Result<Vec<ExportAnswer>, PolicyFailure> {
        let mut batch = self
            .export_batch
            .take()
            .unwrap_or_else(convert::empty_export_batch);
        convert::clear_export_batch(&mut batch);
        // (ask, number of targets sent) per question of the call; `None` for
        // an attribute set that cannot be encoded, which fails alone.
        let mut sent: Vec<Option<usize>> = Vec::with_capacity(chosen.len());
        for ask in chosen.iter().filter_map(|&n| asks.get(n)) {
            sent.push(convert::push_question(
                &mut batch,
                ask.source,
                ask.attrs,
                ask.prefixes,
                ask.positions,
                ask.members,
                ask.targets,
            ));
        }
        let questions = batch.sources.len();
        let several = chosen.len() > 1;
        let answers = if questions == 0 {
            Ok(Vec::new())
        } else {
            self.with_instance(module, !several, |instance, module, _| {
                let call = |b: &crate::bindings::PolicyModule, s: wasmtime::StoreContextMut<'_, _>| {
                    b.kumo_policy_policy().call_export_routes(s, &batch)
                };
                if several {
                    instance.call_unrecorded(module, call)
                } else {
                    instance.call(module, call)
                }
            })
        };
        self.export_batch = Some(batch);
        let answers = answers?;
        if answers.len() != questions {
            let message = format!(
                "export answer: {} verdicts for {} questions",
                answers.len(),
                questions
            );
            let failure = invalid_result(module, message);
            if !several {
                module.stats().count_failure(FailureKind::InvalidResult);
                tracing::warn!(policy = %module.name(), error = %failure.message, "policy answered a malformed verdict");
            }
            return Err(failure);
        }
        let mut answers = answers.into_iter();
        let mut out = Vec::with_capacity(chosen.len());
        for (&n, sent) in chosen.iter().zip(sent) {
            let positions = asks.get(n).map_or(0, |a| a.positions.len());
            out.push(match sent {
                Some(targets) => match answers.next() {
                    Some(verdicts) => check_export(module, verdicts, positions, targets),
                    None => Err(Self::lost_answer(module)),
                },
                None => {
                    module.stats().count_failure(FailureKind::InvalidResult);
                    Err(invalid_result(
                        module,
                        "attribute set too large to hand to a policy",
                    ))
                }
            });
        }
        Ok(out)
    }

    /// An answer the bookkeeping lost, which cannot happen; failing closed
    /// is the safe answer if it ever does.
    fn lost_answer(module: &PolicyModule) -> PolicyFailure {
        invalid_result(module, "export answer missing")
    }
}

/// Most questions in one export call: enough to make the cost of entering
/// the guest small against the questions' own (measured: see
/// BENCHMARKS.md), few enough that a failed call retried question by
/// question stays cheap.
pub const EXPORT_QUESTIONS_MAX: usize = 128;

/// Most prefixes in one `import-many` call (past its first question): a
/// burst of UPDATEs of extended length (RFC 8654) could otherwise hand one
/// call a million prefixes under one deadline and one memory cap.
pub const IMPORT_BATCH_MAX: usize = 4096;

/// Most questions (attribute sets) in one `import-many` call: a burst of
/// UPDATEs is a few hundred sets; a failed call retried set by set stays
/// cheap.
pub const IMPORT_QUESTIONS_MAX: usize = 128;

/// Successful full calls in a row after which a module that had to carry
/// fewer questions per call tries twice as many.
const GROW_AFTER: u32 = 16;

/// How many questions each module's next batched call carries: at most
/// `max`. After a call of several questions failed (a module slow enough
/// that many questions do not fit in one call's time or memory, or one
/// that fails on some route in every burst), a quarter of that call's; a run of [`GROW_AFTER`] full calls doubles it
/// back.
#[derive(Debug)]
struct CallSizes {
    max: usize,
    /// Per module (by id) that had to carry fewer than `max`: how many, and
    /// how many full calls in a row have succeeded with that many.
    reduced: HashMap<u64, (usize, u32)>,
}

impl CallSizes {
    fn new(max: usize) -> Self {
        CallSizes {
            max,
            reduced: HashMap::new(),
        }
    }

    fn limit(&self, module: u64) -> usize {
        self.reduced.get(&module).map_or(self.max, |&(limit, _)| limit)
    }

    /// After a call of `sent` questions, `failed` or not. Whatever the
    /// failure (a deadline or the memory cap a smaller call may not meet, a
    /// trap or a malformed answer that costs every question of the call a
    /// retry and the instance its life), the next calls risk fewer questions.
    fn record(&mut self, module: u64, sent: usize, failed: bool) {
        match failed {
            true => {
                if sent > 1 {
                    self.reduced.insert(module, ((sent / 4).max(1), 0));
                }
            }
            false => {
                let Some(&(limit, streak)) = self.reduced.get(&module) else {
                    return;
                };
                if sent == limit {
                    // Try more questions again after a run of full calls.
                    if streak + 1 >= GROW_AFTER {
                        let grown = (limit * 2).min(self.max);
                        if grown == self.max {
                            self.reduced.remove(&module);
                        } else {
                            self.reduced.insert(module, (grown, 0));
                        }
                    } else {
                        self.reduced.insert(module, (limit, streak + 1));
                    }
                }
            }
        }
    }

    fn retain(&mut self, keep: impl Fn(&u64) -> bool) {
        self.reduced.retain(|id, _| keep(id));
    }
}

/// One import question: the prefixes `prefixes`, all announced by client
/// `client` with `attrs` (and `next_hop`, from MP_REACH_NLRI, if any), to run
/// through `chain`.
#[derive(Debug, Clone, Copy)]
pub struct ImportQuestion<'a> {
    pub chain: &'a [Arc<PolicyModule>],
    pub client: u32,
    pub attrs: &'a PathAttributes,
    pub next_hop: Option<IpAddr>,
    pub prefixes: &'a [IpNet],
}

/// One export question: the routes for `prefixes` from client `source`, all
/// with the attribute set `attrs`, towards the candidate `targets` (client
/// ids).
#[derive(Debug, Clone, Copy)]
pub struct ExportQuestion<'a> {
    pub source: u32,
    pub attrs: &'a PathAttributes,
    pub prefixes: &'a [IpNet],
    pub targets: &'a [u32],
}

/// The slices of the questions' prefixes (at most [`EXPORT_BATCH_MAX`]
/// each: verdict indices are `u16`), in question order: each with its
/// question's index, its range of the question's prefixes and the question.
fn slices<'q, 'a>(
    questions: &'q [ExportQuestion<'a>],
) -> impl Iterator<Item = (usize, std::ops::Range<usize>, &'q ExportQuestion<'a>)> {
    questions.iter().enumerate().flat_map(|(q, question)| {
        let count = question.prefixes.len();
        (0..count)
            .step_by(EXPORT_BATCH_MAX)
            .map(move |first| (q, first..count.min(first + EXPORT_BATCH_MAX), question))
    })
}

/// The usual export verdict: every target, the route unchanged.
fn everyone_unchanged(verdict: &t::ExportVerdict) -> bool {
    matches!(verdict.receivers, t::Receivers::All) && verdict.modified_targets.is_empty()
}

/// One group of one class, as a question for one module.
struct Ask<'a> {
    source: u32,
    attrs: &'a PathAttributes,
    /// The class's prefixes: positions in `prefixes`.
    positions: &'a [u32],
    prefixes: &'a [IpNet],
    /// The group's targets: positions in `targets` (client ids).
    members: &'a [u32],
    targets: &'a [u32],
}

/// A module's checked answer to one ask: per-prefix verdict indices
/// (`None`: the same for all) and the distinct verdicts.
type ExportAnswer = Result<(Option<Vec<u16>>, SmallVec<[t::ExportVerdict; 1]>), PolicyFailure>;

/// A policy's answer kumo cannot use (or a question it could not ask),
/// blamed on `module`.
fn invalid_result(module: &PolicyModule, message: impl Into<String>) -> PolicyFailure {
    PolicyFailure {
        module: module.name().to_owned(),
        kind: FailureKind::InvalidResult,
        message: message.into(),
    }
}

/// A module's answer to one import question, from either call: an
/// `import-routes` answer, or one of an `import-many` call's answers, whose
/// modifications and rejections are shared by the call's questions (lifted
/// and counted once, however many attribute sets they apply to).
#[derive(Debug)]
enum ImportAnswer {
    AcceptAll,
    AcceptAllModified(Arc<t::Modification>),
    RejectAll(SharedRejection),
    Mixed(MixedAnswer),
}

#[derive(Debug)]
struct MixedAnswer {
    verdicts: Vec<u16>,
    outcomes: Vec<AnswerOutcome>,
}

#[derive(Debug)]
enum AnswerOutcome {
    Accept,
    AcceptModified(Arc<t::Modification>),
    Reject(SharedRejection),
}

#[derive(Debug, Clone)]
struct SharedRejection {
    code: u16,
    text: Arc<str>,
}

impl From<t::Rejection> for SharedRejection {
    fn from(r: t::Rejection) -> Self {
        SharedRejection {
            code: r.code,
            text: r.text.into(),
        }
    }
}

impl From<t::ImportVerdicts> for ImportAnswer {
    fn from(verdicts: t::ImportVerdicts) -> Self {
        match verdicts {
            t::ImportVerdicts::AcceptAll => ImportAnswer::AcceptAll,
            t::ImportVerdicts::AcceptAllModified(m) => ImportAnswer::AcceptAllModified(Arc::new(m)),
            t::ImportVerdicts::RejectAll(r) => ImportAnswer::RejectAll(r.into()),
            t::ImportVerdicts::Mixed(m) => ImportAnswer::Mixed(MixedAnswer {
                verdicts: m.verdicts,
                outcomes: m
                    .outcomes
                    .into_iter()
                    .map(|o| match o {
                        t::Outcome::Accept => AnswerOutcome::Accept,
                        t::Outcome::AcceptModified(m) => AnswerOutcome::AcceptModified(Arc::new(m)),
                        t::Outcome::Reject(r) => AnswerOutcome::Reject(r.into()),
                    })
                    .collect(),
            }),
        }
    }
}

impl ImportAnswer {
    /// The answers of an `import-many` call, one per question; an index
    /// outside the call's modifications or rejections fails the call.
    fn all_of(answers: t::ImportAnswers) -> Result<Vec<ImportAnswer>, String> {
        let modifications: Vec<Arc<t::Modification>> =
            answers.modifications.into_iter().map(Arc::new).collect();
        let rejections: Vec<SharedRejection> = answers
            .rejections
            .into_iter()
            .map(SharedRejection::from)
            .collect();
        fn named<T: Clone>(list: &[T], i: u16, what: &str) -> Result<T, String> {
            list.get(usize::from(i))
                .cloned()
                .ok_or_else(|| format!("import answer: {what} {i} of {}", list.len()))
        }
        let modification = |i| named(&modifications, i, "modification");
        let rejection = |i| named(&rejections, i, "rejection");
        answers
            .verdicts
            .into_iter()
            .map(|v| {
                Ok(match v {
                    t::SharedImportVerdicts::AcceptAll => ImportAnswer::AcceptAll,
                    t::SharedImportVerdicts::AcceptAllModified(i) => {
                        ImportAnswer::AcceptAllModified(modification(i)?)
                    }
                    t::SharedImportVerdicts::RejectAll(i) => ImportAnswer::RejectAll(rejection(i)?),
                    t::SharedImportVerdicts::Mixed(m) => ImportAnswer::Mixed(MixedAnswer {
                        verdicts: m.verdicts,
                        outcomes: m
                            .outcomes
                            .into_iter()
                            .map(|o| {
                                Ok(match o {
                                    t::SharedOutcome::Accept => AnswerOutcome::Accept,
                                    t::SharedOutcome::AcceptModified(i) => {
                                        AnswerOutcome::AcceptModified(modification(i)?)
                                    }
                                    t::SharedOutcome::Reject(i) => AnswerOutcome::Reject(rejection(i)?),
                                })
                            })
                            .collect::<Result<_, String>>()?,
                    }),
                })
            })
            .collect()
    }
}

/// Apply `module`'s `answer` for `group`: rejected members get their
/// results in `results`, accepted ones go on (in `next`) to the chain's next
/// module, grouped by their attributes. A failure or a malformed answer
/// rejects the whole group with [`POLICY_ERROR_CODE`].
fn settle_import<'a>(
    module: &Arc<PolicyModule>,
    group: Group<'a>,
    answer: Result<ImportAnswer, PolicyFailure>,
    results: &mut ImportVerdicts,
    next: &mut Vec<Group<'a>>,
) {
    let policy: Arc<str> = module.name_arc().clone();
    let reject_members = |results: &mut ImportVerdicts, members: &[u32], code: u16, text: Arc<str>| {
        results.assign(
            members,
            ImportResult::Reject {
                code,
                text,
                policy: policy.clone(),
            },
        );
        module
            .stats()
            .rejects
            .fetch_add(members.len() as u64, Ordering::Relaxed);
    };
    let verdicts = match answer {
        Ok(v) => v,
        Err(_) => {
            return reject_members(
                results,
                &group.members,
                POLICY_ERROR_CODE,
                POLICY_ERROR_TEXT.into(),
            );
        }
    };
    match verdicts {
        ImportAnswer::AcceptAll => next.push(group),
        ImportAnswer::AcceptAllModified(m) => next.push(modified_group(
            group.attrs,
            group.preference,
            Some(group.next_hop),
            &m,
            group.members,
        )),
        ImportAnswer::RejectAll(r) => reject_members(results, &group.members, r.code, r.text),
        ImportAnswer::Mixed(mixed) => {
            if mixed.verdicts.len() != group.members.len()
                || mixed
                    .verdicts
                    .iter()
                    .any(|&k| usize::from(k) >= mixed.outcomes.len())
            {
                let failure = invalid_result(
                    module,
                    format!(
                        "import verdicts: {} entries for {} prefixes, {} outcomes",
                        mixed.verdicts.len(),
                        group.members.len(),
                        mixed.outcomes.len()
                    ),
                );
                module.stats().count_failure(FailureKind::InvalidResult);
                tracing::warn!(policy = %module.name(), error = %failure.message, "policy answered a malformed verdict; its routes are rejected");
                return reject_members(
                    results,
                    &group.members,
                    POLICY_ERROR_CODE,
                    POLICY_ERROR_TEXT.into(),
                );
            }
            let mut buckets: Vec<Vec<u32>> = vec![Vec::new(); mixed.outcomes.len()];
            for (&member, &k) in group.members.iter().zip(&mixed.verdicts) {
                if let Some(bucket) = buckets.get_mut(usize::from(k)) {
                    bucket.push(member);
                }
            }
            for (outcome, members) in mixed.outcomes.iter().zip(buckets) {
                if members.is_empty() {
                    continue;
                }
                match outcome {
                    AnswerOutcome::Accept => next.push(Group {
                        attrs: group.attrs.clone(),
                        preference: group.preference,
                        next_hop: group.next_hop,
                        members,
                    }),
                    AnswerOutcome::AcceptModified(m) => next.push(modified_group(
                        group.attrs.clone(),
                        group.preference,
                        Some(group.next_hop),
                        m,
                        members,
                    )),
                    AnswerOutcome::Reject(r) => reject_members(results, &members, r.code, r.text.clone()),
                }
            }
        }
    }
}

fn modified_group<'a>(
    attrs: GroupAttrs<'a>,
    preference: Option<u32>,
    // `Some` on import (the NEXT_HOP a previous module set, if any); `None`
    // on export, where a NEXT_HOP change is ignored.
    import_next_hop: Option<Option<IpAddr>>,
    m: &t::Modification,
    members: Vec<u32>,
) -> Group<'a> {
    let group_next_hop = import_next_hop.flatten();
    let next_hop = m
        .next_hop
        .filter(|_| import_next_hop.is_some())
        .map(convert::address);
    let mut attrs = convert::apply(&attrs, m);
    if let Some(IpAddr::V4(v4)) = next_hop
        && attrs.next_hop.is_some()
    {
        // IPv4 in the classic NEXT_HOP attribute; MP_REACH next hops are the caller's.
        attrs.next_hop = Some(v4);
    }
    Group {
        attrs: GroupAttrs::Modified(Arc::new(attrs)),
        preference: m.preference.or(preference),
        next_hop: next_hop.or(group_next_hop),
        members,
    }
}

/// The verdicts of one export call, checked: one index per prefix within
/// range, bitmaps of the right size, modifications naming a target and a
/// modification that exist. Anything else is a policy error.
#[allow(clippy::type_complexity)]
fn check_export(
    module: &PolicyModule,
    verdicts: t::ExportVerdicts,
    prefixes: usize,
    targets: usize,
) -> ExportAnswer {
    let (indices, distinct): (_, SmallVec<[t::ExportVerdict; 1]>) = match verdicts {
        t::ExportVerdicts::Uniform(v) => (None, smallvec::smallvec![v]),
        t::ExportVerdicts::Mixed(m) => (Some(m.verdicts), SmallVec::from_vec(m.distinct)),
    };
    let problem = match &indices {
        Some(indices) if indices.len() != prefixes => Some(format!(
            "export verdicts: {} entries for {} prefixes",
            indices.len(),
            prefixes
        )),
        Some(indices) if indices.iter().any(|&k| usize::from(k) >= distinct.len()) => Some(format!(
            "export verdicts: an index past the {} distinct verdicts",
            distinct.len()
        )),
        _ => distinct.iter().find_map(|verdict| match &verdict.receivers {
            t::Receivers::Bitmap(words) if words.len() != targets.div_ceil(64) => Some(format!(
                "export bitmap has {} words for {} targets",
                words.len(),
                targets
            )),
            _ if verdict.modified_targets.len() != verdict.modified_by.len() => Some(format!(
                "export modifications: {} targets for {} indices",
                verdict.modified_targets.len(),
                verdict.modified_by.len()
            )),
            _ => verdict
                .modified_targets
                .iter()
                .zip(&verdict.modified_by)
                .find(|&(&target, &by)| {
                    target as usize >= targets || usize::from(by) >= verdict.modifications.len()
                })
                .map(|(target, by)| {
                    format!(
                        "export modification {} of {} for target {} of {}",
                        by,
                        verdict.modifications.len(),
                        target,
                        targets
                    )
                }),
        }),
    };
    match problem {
        None => Ok((indices, distinct)),
        Some(message) => {
            module.stats().count_failure(FailureKind::InvalidResult);
            tracing::warn!(policy = %module.name(), error = %message, "policy answered a malformed verdict; the route is sent to no one");
            Err(invalid_result(module, message))
        }
    }
}

/// Prefixes that share a verdict so far down an export chain, with the
/// groups of targets still to evaluate by the current module (`pending`)
/// and those that passed it (`done`).
#[derive(Clone)]
struct ExportClass<'a> {
    prefixes: Vec<u32>,
    receivers: TargetSet,
    failure: Option<PolicyFailure>,
    pending: Vec<Group<'a>>,
    done: Vec<Group<'a>>,
}

impl<'a> ExportClass<'a> {
    /// The prefixes `range` of `question`, every target still to evaluate.
    fn start(range: std::ops::Range<usize>, question: &ExportQuestion<'a>) -> Self {
        ExportClass {
            prefixes: (range.start as u32..range.end as u32).collect(),
            receivers: TargetSet::full(question.targets.len()),
            failure: None,
            pending: vec![Group {
                attrs: GroupAttrs::Given(question.attrs),
                preference: None,
                next_hop: None,
                members: (0..question.targets.len() as u32).collect(),
            }],
            done: Vec::new(),
        }
    }

    /// One module's answers for this class's groups: a failed group's
    /// targets receive nothing; the prefixes part ways by the combination
    /// of their verdicts (one class each), and each part applies its
    /// verdicts. The parts go to `out`, tagged with `question`, ready for
    /// the next module. `evaluated` is drained (a buffer the caller reuses).
    fn split(
        mut self,
        evaluated: &mut Vec<(Group<'a>, ExportAnswer)>,
        question: usize,
        out: &mut Vec<(usize, ExportClass<'a>)>,
    ) {
        let uniform = evaluated
            .iter()
            .all(|(_, answer)| matches!(answer, Ok((None, _)) | Err(_)));
        if self.prefixes.is_empty() || uniform {
            // Every answer is the same for all the prefixes (the usual case),
            // or there are none to part: the class stays whole.
            for (group, answer) in evaluated.drain(..) {
                match answer {
                    Ok((_, distinct)) => {
                        if let Some(verdict) = distinct.first() {
                            self.apply(group, verdict);
                        }
                    }
                    Err(failure) => self.fail(&group, failure),
                }
            }
            self.pending = std::mem::take(&mut self.done);
            out.push((question, self));
            return;
        }
        let mut answered = Vec::with_capacity(evaluated.len());
        for (group, answer) in evaluated.drain(..) {
            match answer {
                Ok((indices, distinct)) => answered.push((group, indices, distinct)),
                Err(failure) => self.fail(&group, failure),
            }
        }
        // The prefixes of each distinct combination of verdict indices.
        let mut parts: Vec<(Vec<u16>, Vec<u32>)> = Vec::new();
        let mut key = Vec::with_capacity(answered.len());
        for (n, &p) in self.prefixes.iter().enumerate() {
            key.clear();
            key.extend(
                answered
                    .iter()
                    .map(|(_, indices, _)| indices.as_ref().and_then(|v| v.get(n)).copied().unwrap_or(0)),
            );
            match parts.iter_mut().find(|(k, _)| *k == key) {
                Some((_, members)) => members.push(p),
                None => parts.push((key.clone(), vec![p])),
            }
        }
        let count = parts.len();
        for (n, (key, prefixes)) in parts.into_iter().enumerate() {
            // The last part keeps the class itself.
            let mut part = if n + 1 == count {
                std::mem::replace(&mut self, ExportClass::empty())
            } else {
                self.clone()
            };
            part.prefixes = prefixes;
            if n + 1 == count {
                // The last part takes the groups themselves.
                for ((group, _, distinct), &k) in answered.drain(..).zip(&key) {
                    if let Some(verdict) = distinct.get(usize::from(k)) {
                        part.apply(group, verdict);
                    }
                }
            } else {
                for ((group, _, distinct), &k) in answered.iter().zip(&key) {
                    if let Some(verdict) = distinct.get(usize::from(k)) {
                        part.apply(group.clone(), verdict);
                    }
                }
            }
            part.pending = std::mem::take(&mut part.done);
            out.push((question, part));
        }
    }

    /// `group`'s targets receive nothing: its module failed.
    fn fail(&mut self, group: &Group<'a>, failure: PolicyFailure) {
        for &i in &group.members {
            self.receivers.remove(i as usize);
        }
        self.failure.get_or_insert(failure);
    }

    fn empty() -> Self {
        ExportClass {
            prefixes: Vec::new(),
            receivers: TargetSet::full(0),
            failure: None,
            pending: Vec::new(),
            done: Vec::new(),
        }
    }

    /// `verdict` for `group`: targets it denies leave the receivers; the
    /// others pass on, those given equal modifications in one group each.
    fn apply(&mut self, mut group: Group<'a>, verdict: &t::ExportVerdict) {
        if everyone_unchanged(verdict) {
            self.done.push(group);
            return;
        }
        // Modification index per target position (checked in range by
        // `check_export`); none in the common case, and then no look-ups.
        let mut modified: Vec<Option<u16>> = Vec::new();
        if !verdict.modified_targets.is_empty() {
            modified.resize(group.members.len(), None);
            for (&target, &by) in verdict.modified_targets.iter().zip(&verdict.modified_by) {
                if let Some(slot) = modified.get_mut(target as usize) {
                    *slot = Some(by);
                }
            }
        }
        let mut kept = Vec::with_capacity(group.members.len());
        let mut split: Vec<(u16, Vec<u32>)> = Vec::new();
        for (k, &member) in group.members.iter().enumerate() {
            let allowed = match &verdict.receivers {
                t::Receivers::All => true,
                t::Receivers::None => false,
                t::Receivers::Bitmap(words) => words.get(k / 64).is_some_and(|w| w & (1 << (k % 64)) != 0),
            };
            if !allowed {
                self.receivers.remove(member as usize);
            } else if let Some(m) = modified.get(k).copied().flatten() {
                match split.iter_mut().find(|(seen, _)| *seen == m) {
                    Some((_, members)) => members.push(member),
                    None => split.push((m, vec![member])),
                }
            } else {
                kept.push(member);
            }
        }
        for (m, members) in split {
            if let Some(m) = verdict.modifications.get(usize::from(m)) {
                self.done
                    .push(modified_group(group.attrs.clone(), None, None, m, members));
            }
        }
        group.members = kept;
        self.done.push(group);
    }

    fn into_result(self) -> ExportResult {
        let mut modified: Vec<Modified> = self
            .pending
            .into_iter()
            .filter(|group| !group.members.is_empty())
            .filter_map(|group| {
                let attrs = group.attrs.modified()?;
                let mut targets = group.members;
                targets.sort_unstable();
                Some(Modified { attrs, targets })
            })
            .collect();
        // Groups in the order of their first target: equal answers compare equal.
        modified.sort_by_key(|m| m.targets.first().copied());
        ExportResult {
            receivers: self.receivers,
            modified,
            failure: self.failure,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn target_set_bits() {
        let mut set = TargetSet::full(70);
        assert_eq!(set.count(), 70);
        set.remove(69);
        set.remove(0);
        assert!(!set.contains(0) && set.contains(1) && !set.contains(69) && !set.contains(70));
        assert_eq!(set.iter().count(), 68);
        assert_eq!(TargetSet::full(0).count(), 0);
        assert_eq!(TargetSet::full(64).count(), 64);
        // Full without a bitmap, up to its universe and not past it.
        let full = TargetSet::full(130);
        assert!(full.contains(129) && !full.contains(130));
        assert_eq!(full.iter().collect::<Vec<_>>(), (0..130).collect::<Vec<_>>());
        // A position outside the universe changes nothing.
        let mut set = TargetSet::full(3);
        set.remove(3);
        assert_eq!(set, TargetSet::full(3));
        set.remove(1);
        assert_eq!((set.count(), set.iter().collect::<Vec<_>>()), (2, vec![0, 2]));
    }

    #[test]
    fn export_results_keep_a_list_per_prefix_only_for_a_second_result() {
        let attrs = PathAttributes::default();
        let question = ExportQuestion {
            source: 0,
            attrs: &attrs,
            prefixes: &[
                "192.0.2.0/24".parse().unwrap(),
                "198.51.100.0/24".parse().unwrap(),
                "203.0.113.0/24".parse().unwrap(),
            ],
            targets: &[1, 2],
        };
        let mut one = ExportResults::unanswered(std::slice::from_ref(&question)).remove(0);
        assert_eq!((one.len(), one.get(0)), (3, None));
        one.push([0, 1, 2], ExportResult::everyone(2));
        assert!(one.index.is_empty());
        assert_eq!(
            (0..4).map(|i| one.result_index(i)).collect::<Vec<_>>(),
            [Some(0), Some(0), Some(0), None]
        );

        let mut two = ExportResults::unanswered(std::slice::from_ref(&question)).remove(0);
        let mut nobody = ExportResult::everyone(2);
        nobody.receivers.remove(0);
        nobody.receivers.remove(1);
        two.push([1], nobody.clone());
        two.push([0, 2], ExportResult::everyone(2));
        assert_eq!(
            (0..3).map(|i| two.result_index(i)).collect::<Vec<_>>(),
            [Some(1), Some(0), Some(1)]
        );
        assert_eq!(two.get(0).map(|r| r.receivers.count()), Some(2));
        assert_eq!(two.get(1), Some(&nobody));
        assert_eq!(two.distinct().len(), 2);
    }
}
