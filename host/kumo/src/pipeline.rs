//! The policy stages of the route-server pipeline.
//!
//! Every path a client announces passes its **import** chain, called once
//! per attribute set with all of that set's prefixes (DESIGN §2: the call
//! shape that keeps WASM cheap). Every accepted path gets its export decision
//! from the **export** chains of the candidate receivers, one call per
//! distinct chain for all the receivers that share it (usually one call in
//! all). The RIB caches the decision with the path and never runs a policy.
//!
//! Chains name modules in the [`PolicyRegistry`]; they are resolved again
//! whenever the registry's generation changes (a hot swap), so a swapped
//! module serves the next call. The core owns the pipeline, and with it the
//! one [`PolicyWorker`] (wasmtime stores) that evaluates everything.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;
use kumo_config::{Client, Config};
use kumo_policy::{
    CallObserver, ClientCtx, ExportQuestion, ExportResults, ImportQuestion, ImportResult, ImportVerdicts,
    PolicyEngine, PolicyModule, PolicyRegistry, PolicyWorker,
};
use kumo_rib::{
    AttrInterner, Attrs, DEFAULT_LOCAL_PREF, ExportDecision, ExportPolicy, ExportSet, ExportTargets, FastMap,
    ImportVerdict, PeerId, PeerInfo, PeerSet, RejectReason, RouteAttrs,
};
use kumo_wire::{MpNextHop, Nlri, PathAttributes};

use crate::policies::LoadedPolicies;

/// A client's chains, by name and resolved.
#[derive(Debug, Clone)]
struct ClientChains {
    import_names: Vec<String>,
    export_names: Vec<String>,
    import: Vec<Arc<PolicyModule>>,
}

/// Receivers that share one export chain.
#[derive(Debug)]
struct ExportGroup {
    chain: Vec<Arc<PolicyModule>>,
    members: Vec<u32>,
}

/// The import and export stages for all clients.
pub struct Pipeline {
    registry: Arc<PolicyRegistry>,
    engine: PolicyEngine,
    /// Registry generation the chains were resolved for.
    generation: u64,
    /// By client id; `None` for ids of removed clients.
    clients: Vec<Option<ClientChains>>,
    export_groups: Vec<ExportGroup>,
    /// `RefCell`: the RIB asks for export decisions through `&self`
    /// ([`ExportPolicy`]); the core is single-threaded, so one borrow at a time.
    worker: RefCell<PolicyWorker>,
    /// For each source client: the clients that must not receive its paths.
    deny_from: FastMap<PeerId, PeerSet>,
    prefixes: Vec<IpNet>,
    /// The client table policies see (sources and targets).
    ctxs: Vec<ClientCtx>,
    observer: Option<CallObserver>,
    /// Shutting down with a drain: every exported route carries GRACEFUL_SHUTDOWN.
    draining: bool,
    /// Sources whose (held) routes go out with a community added (static-hold marking).
    marks: FastMap<PeerId, u32>,
    /// A candidate module standing in for the registry's module of its name
    /// (dry runs).
    candidate: Option<Arc<PolicyModule>>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("generation", &self.generation)
            .field("clients", &self.clients.len())
            .field("export_groups", &self.export_groups.len())
            .finish_non_exhaustive()
    }
}

/// What a policy sees of a configured client.
pub fn client_ctx(id: PeerId, client: &kumo_config::Client) -> ClientCtx {
    ClientCtx {
        id: id.0,
        name: client.name.clone(),
        asn: client.asn,
        addresses: client.ip.clone(),
        params: serde_json::to_value(&client.params).unwrap_or_else(|_| serde_json::json!({})),
    }
}

impl Pipeline {
    /// The pipeline for `config`'s clients (ids are their positions) with
    /// `policies` loaded from the same configuration.
    pub fn new(config: &Config, policies: &LoadedPolicies, observer: Option<CallObserver>) -> Self {
        let clients: Vec<(PeerId, &Client)> = config
            .clients
            .iter()
            .enumerate()
            .map(|(i, c)| (PeerId(i as u32), c))
            .collect();
        Self::for_clients(&clients, policies.registry.clone(), &policies.engine, observer)
    }

    /// The pipeline for `clients` (configured clients by id; ids of removed
    /// clients are simply absent).
    pub fn for_clients(
        clients: &[(PeerId, &Client)],
        registry: Arc<PolicyRegistry>,
        engine: &PolicyEngine,
        observer: Option<CallObserver>,
    ) -> Self {
        let index: HashMap<&str, PeerId> = clients.iter().map(|(id, c)| (c.name.as_str(), *id)).collect();
        let mut deny_from: FastMap<PeerId, PeerSet> = FastMap::default();
        for (id, client) in clients {
            for source in &client.test_export_deny_from {
                if let Some(source) = index.get(source.as_str()) {
                    deny_from.entry(*source).or_default().insert(*id);
                }
            }
        }
        let mut worker = engine.worker();
        if let Some(observer) = &observer {
            worker.set_observer(observer.clone());
        }
        let ctxs: Vec<ClientCtx> = clients.iter().map(|(id, c)| client_ctx(*id, c)).collect();
        worker.set_clients(&ctxs);
        let size = clients.iter().map(|(id, _)| id.0 as usize + 1).max().unwrap_or(0);
        let mut chains: Vec<Option<ClientChains>> = vec![None; size];
        for (id, c) in clients {
            if let Some(slot) = chains.get_mut(id.0 as usize) {
                *slot = Some(ClientChains {
                    import_names: c.import.clone(),
                    export_names: c.export.clone(),
                    import: Vec::new(),
                });
            }
        }
        let mut pipeline = Pipeline {
            registry,
            engine: engine.clone(),
            generation: u64::MAX,
            clients: chains,
            export_groups: Vec::new(),
            worker: RefCell::new(worker),
            deny_from,
            prefixes: Vec::new(),
            ctxs,
            observer: observer.clone(),
            draining: false,
            marks: FastMap::default(),
            candidate: None,
        };
        pipeline.refresh();
        pipeline
    }

    /// Make a route source that is not a configured client (kumo's own
    /// originated routes) known to the policies, so export chains can be
    /// asked about its routes. It has no import chain.
    pub fn add_source(&mut self, ctx: ClientCtx) {
        self.ctxs.retain(|c| c.id != ctx.id);
        self.ctxs.push(ctx);
        let ctxs = self.ctxs.clone();
        self.worker.get_mut().set_clients(&ctxs);
    }

    /// From now on, every route goes out with GRACEFUL_SHUTDOWN (65535:0,
    /// RFC 8326) added, so receivers prefer other paths while kumo drains.
    pub fn start_drain(&mut self) {
        self.draining = true;
    }

    /// Take over `old`'s drain and static-hold marks: a pipeline rebuilt for a
    /// reload must go on marking what the old one marked (a reload while a
    /// member's routes are held, or while kumo drains, must not send them
    /// out unmarked).
    pub fn keep_marks_of(&mut self, old: &Pipeline) {
        self.draining = old.draining;
        self.marks.clone_from(&old.marks);
    }

    /// Add `community` to every route of `source` that is exported from now
    /// on (static-hold marking, e.g. GRACEFUL_SHUTDOWN or LLGR_STALE);
    /// `None` stops it. Returns whether anything changed.
    pub fn mark_source(&mut self, source: PeerId, community: Option<u32>) -> bool {
        match community {
            Some(c) => self.marks.insert(source, c) != Some(c),
            None => self.marks.remove(&source).is_some(),
        }
    }

    /// Who is told about every policy call.
    pub fn observer(&self) -> Option<&CallObserver> {
        self.observer.as_ref()
    }

    /// The engine modules are instantiated with.
    pub fn engine(&self) -> &PolicyEngine {
        &self.engine
    }

    /// The registry the chains are resolved from.
    pub fn registry(&self) -> &Arc<PolicyRegistry> {
        &self.registry
    }

    /// Resolve the chains again if the registry changed since. Names the
    /// registry lacks are skipped (loading refused them already).
    pub fn refresh(&mut self) {
        let modules = self.registry.snapshot();
        if modules.generation() == self.generation {
            return;
        }
        self.generation = modules.generation();
        let candidate = self.candidate.clone();
        let resolve = |names: &[String]| -> Vec<Arc<PolicyModule>> {
            names
                .iter()
                .filter_map(|n| match &candidate {
                    Some(c) if c.name() == n => Some(c.clone()),
                    _ => modules.get(n).cloned(),
                })
                .collect()
        };
        let mut groups: Vec<(Vec<String>, ExportGroup)> = Vec::new();
        for (i, client) in self.clients.iter_mut().enumerate() {
            let Some(client) = client else { continue };
            client.import = resolve(&client.import_names);
            match groups.iter_mut().find(|(names, _)| *names == client.export_names) {
                Some((_, group)) => group.members.push(i as u32),
                None => groups.push((
                    client.export_names.clone(),
                    ExportGroup {
                        chain: resolve(&client.export_names),
                        members: vec![i as u32],
                    },
                )),
            }
        }
        self.export_groups = groups.into_iter().map(|(_, g)| g).collect();
        // Instances of modules no longer referenced are dropped.
        self.worker.get_mut().prune();
    }

    /// Resolve chains with `candidate` in place of the registry's module of
    /// the same name (a dry run), or with `None` as the registry says again.
    pub fn set_override(&mut self, candidate: Option<Arc<PolicyModule>>) {
        self.candidate = candidate;
        self.generation = u64::MAX;
        self.refresh();
    }

    /// Does a change of module `name` touch `peer`'s import chain?
    pub fn imports_with(&self, peer: PeerId, name: &str) -> bool {
        self.clients
            .get(peer.0 as usize)
            .and_then(Option::as_ref)
            .is_some_and(|c| c.import_names.iter().any(|n| n == name))
    }

    /// Does any client's export chain use module `name`?
    pub fn exports_with(&self, name: &str) -> bool {
        self.clients
            .iter()
            .flatten()
            .any(|c| c.export_names.iter().any(|n| n == name))
    }

    /// Import verdicts for attribute sets (of one or several clients), each
    /// with its prefixes: `out` gets one verdict list per ask, in order.
    /// Modified attribute sets are interned so equal results share storage.
    /// The sets go through their chains together, so a module that answers
    /// in batches is called once for all of them (one call per UPDATE cost
    /// more than the policy's own work: see BENCHMARKS.md).
    pub fn import_many(
        &mut self,
        asks: &[ImportAsk<'_>],
        interner: &mut AttrInterner,
        out: &mut Vec<Vec<ImportVerdict>>,
    ) {
        out.resize_with(asks.len(), Vec::new);
        out.iter_mut().for_each(Vec::clear);
        // Every asked prefix, flat; a question's prefixes are a range of it.
        self.prefixes.clear();
        let mut asked = Vec::with_capacity(asks.len());
        for (k, ask) in asks.iter().enumerate() {
            match self.clients.get(ask.peer.id.0 as usize).and_then(Option::as_ref) {
                Some(client) if !client.import.is_empty() => {
                    let start = self.prefixes.len();
                    self.prefixes.extend(ask.prefixes.iter().map(|n| n.prefix));
                    let range = start..self.prefixes.len();
                    asked.push((k, &client.import[..], range, ask.received.path_attributes()));
                }
                _ => out[k].extend(
                    ask.prefixes
                        .iter()
                        .map(|_| ImportVerdict::accept(ask.received.clone())),
                ),
            }
        }
        if asked.is_empty() {
            return;
        }
        let questions: Vec<ImportQuestion<'_>> = asked
            .iter()
            .map(|(k, chain, range, attrs)| {
                let ask = &asks[*k];
                let received = ask.received;
                ImportQuestion {
                    chain,
                    client: ask.peer.id.0,
                    attrs,
                    next_hop: match received.mp_next_hop() {
                        Some(MpNextHop::V6 { global, .. }) => Some(IpAddr::V6(global)),
                        Some(MpNextHop::V4(v4)) => Some(IpAddr::V4(v4)),
                        None => received.next_hop().map(IpAddr::V4),
                    },
                    prefixes: self.prefixes.get(range.clone()).unwrap_or_default(),
                }
            })
            .collect();
        let results = self.worker.get_mut().import_many(&questions);
        for ((k, _, _, _), results) in asked.iter().zip(&results) {
            let ask = &asks[*k];
            convert_verdicts(results, ask.received, ask.prefixes.len(), interner, &mut out[*k]);
        }
    }
}

/// One attribute set's prefixes from one client, to import (see
/// [`Pipeline::import_many`]).
#[derive(Debug, Clone, Copy)]
pub struct ImportAsk<'a> {
    pub peer: &'a PeerInfo,
    pub received: &'a Attrs,
    pub prefixes: &'a [Nlri],
}

/// The RIB's verdicts for `count` prefixes received with `received`, from
/// the worker's `results`.
fn convert_verdicts(
    results: &ImportVerdicts,
    received: &Attrs,
    count: usize,
    interner: &mut AttrInterner,
    verdicts: &mut Vec<ImportVerdict>,
) {
    // Convert each distinct outcome once (a call has a handful), then
    // hand out clones per prefix.
    let outcomes: Vec<ImportVerdict> = results
        .distinct()
        .iter()
        .map(|result| match result {
            ImportResult::Accept {
                modified,
                preference,
                next_hop,
            } => ImportVerdict::Accept {
                attrs: match modified {
                    Some(attrs) => interner.intern(RouteAttrs::new(
                        (**attrs).clone(),
                        rewritten_mp_next_hop(received.mp_next_hop(), *next_hop),
                    )),
                    None => received.clone(),
                },
                local_pref: preference.unwrap_or(DEFAULT_LOCAL_PREF),
            },
            ImportResult::Reject { code, text, policy } => ImportVerdict::reject(RejectReason {
                code: *code,
                text: text.clone(),
                policy: Some(policy.clone()),
            }),
        })
        .collect();
    verdicts.extend((0..count).map(|i| {
        match results.outcome_index(i).and_then(|k| outcomes.get(k)) {
            Some(verdict) => verdict.clone(),
            // The worker assigns every prefix; this is unreachable, and
            // failing closed is the safe answer if it ever is not.
            None => ImportVerdict::reject(RejectReason::new(
                kumo_policy::POLICY_ERROR_CODE,
                kumo_policy::POLICY_ERROR_TEXT,
            )),
        }
    }));
}

/// GRACEFUL_SHUTDOWN (RFC 8326).
const GRACEFUL_SHUTDOWN: u32 = 0xFFFF_0000;

fn with_community(attrs: &Attrs, community: u32) -> Attrs {
    if attrs.communities().contains(&community) {
        return attrs.clone();
    }
    let mut marked = attrs.to_route_attrs();
    marked.attrs.communities.push(community);
    Attrs::from(marked)
}

impl Pipeline {
    /// The one attribute set that `modified` (sorted by client) gives every
    /// client that may receive the path, if there is one: the decision then
    /// stores that set once instead of a list naming every client. Clients
    /// that are not configured, `source` and those in `denied` never receive
    /// the path, so their entries do not count; a configured client without
    /// an entry (e.g. in no export group) keeps the list.
    fn same_for_all(&self, source: PeerId, denied: &PeerSet, modified: &[(PeerId, Attrs)]) -> Option<Attrs> {
        let (_, first) = modified.first()?;
        let mut receivers = self
            .clients
            .iter()
            .enumerate()
            .filter(|(_, c)| c.is_some())
            .map(|(i, _)| PeerId(i as u32))
            .filter(|&id| id != source && !denied.contains(id));
        let same = receivers.all(|id| {
            modified
                .binary_search_by_key(&id, |(peer, _)| *peer)
                .is_ok_and(|k| modified.get(k).is_some_and(|(_, a)| Attrs::ptr_eq(a, first)))
        });
        same.then(|| first.clone())
    }

    /// Every receiver's attributes with `community` added (one shared copy
    /// for the receivers without a modification of their own).
    fn marked(
        &self,
        source: PeerId,
        denied: &PeerSet,
        attrs: &Attrs,
        modified: Vec<(PeerId, Attrs)>,
        community: u32,
    ) -> Vec<(PeerId, Attrs)> {
        let shared = with_community(attrs, community);
        let mut own: HashMap<PeerId, Attrs> = modified.into_iter().collect();
        let mut all: Vec<(PeerId, Attrs)> = self
            .clients
            .iter()
            .enumerate()
            .filter(|(_, c)| c.is_some())
            .map(|(i, _)| PeerId(i as u32))
            .filter(|id| *id != source && !denied.contains(*id))
            .map(|id| {
                let marked = own
                    .remove(&id)
                    .map_or_else(|| shared.clone(), |m| with_community(&m, community));
                (id, marked)
            })
            .collect();
        all.sort_by_key(|(peer, _)| *peer);
        all
    }
}

impl ExportPolicy for Pipeline {
    fn targets(&self, source: &PeerInfo, prefix: &IpNet, attrs: &Attrs) -> ExportDecision {
        let mut out = Vec::with_capacity(1);
        self.targets_many(source, std::slice::from_ref(prefix), attrs, &mut out);
        out.pop().unwrap_or_default()
    }

    fn targets_many(
        &self,
        source: &PeerInfo,
        prefixes: &[IpNet],
        attrs: &Attrs,
        out: &mut Vec<ExportDecision>,
    ) {
        self.targets_sets(
            &[ExportSet {
                source,
                attrs,
                prefixes,
            }],
            out,
        );
    }

    /// One batched call per export group (clients sharing an export chain)
    /// for all the sets and their prefixes; the prefixes of a set given the
    /// same results by every group share one decision, built once.
    fn targets_sets(&self, sets: &[ExportSet<'_>], out: &mut Vec<ExportDecision>) {
        let no_one = PeerSet::default();
        let base = |source: PeerId| self.deny_from.get(&source).unwrap_or(&no_one);
        let mut worker = self.worker.borrow_mut();
        // Per export group that ran: its targets per source, and per set its results.
        let mut answers: Vec<GroupAnswers> = Vec::new();
        for group in &self.export_groups {
            if group.chain.is_empty() {
                continue;
            }
            // The group's targets per source (sets from one source share them).
            let mut targets: FastMap<PeerId, Vec<u32>> = FastMap::default();
            for set in sets {
                let source = set.source.id;
                targets.entry(source).or_insert_with(|| {
                    let denied = base(source);
                    group
                        .members
                        .iter()
                        .copied()
                        .filter(|&id| id != source.0 && !denied.contains(PeerId(id)))
                        .collect()
                });
            }
            let asked: Vec<usize> = (0..sets.len())
                .filter(|&n| targets.get(&sets[n].source.id).is_some_and(|t| !t.is_empty()))
                .collect();
            // Policies read the owned form; an interned set is compact.
            let owned: Vec<PathAttributes> = asked.iter().map(|&n| sets[n].attrs.path_attributes()).collect();
            let questions: Vec<ExportQuestion<'_>> = asked
                .iter()
                .zip(&owned)
                .map(|(&n, attrs)| ExportQuestion {
                    source: sets[n].source.id.0,
                    attrs,
                    prefixes: sets[n].prefixes,
                    targets: targets.get(&sets[n].source.id).map_or(&[][..], |t| &t[..]),
                })
                .collect();
            let results = worker.export_batch(&group.chain, &questions);
            drop(questions);
            let mut per_set: Vec<Option<ExportResults>> = (0..sets.len()).map(|_| None).collect();
            for (&n, results) in asked.iter().zip(results) {
                if let Some(slot) = per_set.get_mut(n) {
                    *slot = Some(results);
                }
            }
            answers.push((targets, per_set));
        }
        drop(worker);
        let mut set_answers: Vec<(&[u32], &ExportResults)> = Vec::with_capacity(answers.len());
        let mut scratch = DecideScratch::default();
        for (n, set) in sets.iter().enumerate() {
            set_answers.clear();
            for (targets, per_set) in &answers {
                if let (Some(Some(results)), Some(targets)) = (per_set.get(n), targets.get(&set.source.id)) {
                    set_answers.push((targets, results));
                }
            }
            self.decide(set, base(set.source.id), &set_answers, &mut scratch, out);
        }
    }
}

impl Pipeline {
    /// The decisions for `set`'s prefixes from the export groups' answers
    /// (`(targets, results)` per group that ran), appended to `out`.
    fn decide(
        &self,
        set: &ExportSet<'_>,
        base: &PeerSet,
        answers: &[(&[u32], &ExportResults)],
        scratch: &mut DecideScratch,
        out: &mut Vec<ExportDecision>,
    ) {
        let ExportSet {
            source,
            attrs,
            prefixes,
        } = *set;
        let mark = if self.draining {
            Some(GRACEFUL_SHUTDOWN)
        } else {
            self.marks.get(&source.id).copied()
        };
        // Decisions by the tuple of result indices (one per group); the
        // tuple is built in one reused buffer, copied only for a new decision.
        let DecideScratch { built, key, shared } = scratch;
        built.clear();
        shared.clear();
        for i in 0..prefixes.len() {
            key.clear();
            key.extend(
                answers
                    .iter()
                    .map(|(_, results)| results.result_index(i).unwrap_or(usize::MAX)),
            );
            if let Some((_, decision)) = built.iter().find(|(k, _)| *k == *key) {
                out.push(decision.clone());
                continue;
            }
            let mut denied = base.clone();
            let mut modified = Vec::new();
            for (targets, results) in answers {
                let Some(result) = results.get(i) else { continue };
                for (k, &id) in targets.iter().enumerate() {
                    if !result.receivers.contains(k) {
                        denied.insert(PeerId(id));
                    }
                }
                for changed in &result.modified {
                    // One stored attribute set per distinct modification,
                    // shared by its targets (so their output segments are too).
                    let attrs = match shared
                        .iter()
                        .find(|(seen, _)| std::ptr::eq(*seen, Arc::as_ptr(&changed.attrs)))
                    {
                        Some((_, a)) => a.clone(),
                        None => {
                            let a =
                                Attrs::from(RouteAttrs::new((*changed.attrs).clone(), attrs.mp_next_hop()));
                            shared.push((Arc::as_ptr(&changed.attrs), a.clone()));
                            a
                        }
                    };
                    for &k in &changed.targets {
                        let Some(&id) = targets.get(k as usize) else {
                            continue;
                        };
                        modified.push((PeerId(id), attrs.clone()));
                    }
                }
            }
            modified.sort_by_key(|(peer, _)| *peer);
            if let Some(community) = mark {
                modified = self.marked(source.id, &denied, attrs, modified, community);
            }
            let modified_all = self.same_for_all(source.id, &denied, &modified);
            if modified_all.is_some() {
                modified = Vec::new();
            }
            let decision = ExportDecision {
                targets: ExportTargets::AllExcept(denied),
                modified,
                modified_all,
            };
            built.push((key.clone(), decision.clone()));
            out.push(decision);
        }
    }
}

/// Buffers of [`Pipeline::decide`], reused from one set to the next (most
/// sets need one decision, and these would be allocated for it each time).
#[derive(Default)]
struct DecideScratch {
    /// The decisions built for the current set, by their tuple of result indices.
    built: Vec<(Vec<usize>, ExportDecision)>,
    key: Vec<usize>,
    /// One stored attribute set per distinct modification of the current set.
    shared: Vec<(*const PathAttributes, Attrs)>,
}

/// One export group's answers to a [`ExportPolicy::targets_sets`] question:
/// its targets per source, and per set its results (`None`: not asked).
type GroupAnswers = (FastMap<PeerId, Vec<u32>>, Vec<Option<ExportResults>>);

/// MP_REACH_NLRI's next hop after a policy replaced NEXT_HOP (RFC 7999
/// blackholing): an address of the route's own family replaces it, with no
/// link-local address; one of the other family is ignored.
fn rewritten_mp_next_hop(received: Option<MpNextHop>, policy: Option<IpAddr>) -> Option<MpNextHop> {
    match (received, policy) {
        (Some(MpNextHop::V6 { .. }), Some(IpAddr::V6(global))) => Some(MpNextHop::V6 {
            global,
            link_local: None,
        }),
        (Some(MpNextHop::V4(_)), Some(IpAddr::V4(address))) => Some(MpNextHop::V4(address)),
        (received, _) => received,
    }
}
