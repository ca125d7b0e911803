//! One compiled and validated policy component ([`PolicyModule`]), its
//! limits and counters, and the per-instance store state.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};
use wasmtime::component::{HasSelf, InstancePre, Linker};
use wasmtime::{Store, StoreContextMut};

use crate::bindings;
use crate::engine::{CompileFailure, EngineShared, PolicyEngine};
use crate::error::{FailureKind, PolicyError, PolicyFailure};

/// Per-module resource limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Longest a single call (or an instantiation with its `init`) may run.
    pub deadline: Duration,
    /// Largest linear memory an instance may have, in bytes.
    pub max_memory: usize,
    /// Log lines a guest may write per call; further lines are dropped.
    pub max_log_lines: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            deadline: Duration::from_millis(5),
            max_memory: 32 << 20,
            max_log_lines: 16,
        }
    }
}

/// Counters of one module, shared by every worker (relaxed atomics).
#[derive(Debug, Default)]
pub struct PolicyStats {
    /// Calls into the module (import and export).
    pub calls: AtomicU64,
    /// Prefixes evaluated on import, routes evaluated on export.
    pub routes: AtomicU64,
    /// Prefixes rejected on import by this module (policy errors included).
    pub rejects: AtomicU64,
    /// Calls that trapped.
    pub traps: AtomicU64,
    /// Calls stopped at the deadline.
    pub deadline_hits: AtomicU64,
    /// Calls stopped at the memory cap.
    pub memory_hits: AtomicU64,
    /// Calls that returned a malformed answer.
    pub invalid_results: AtomicU64,
    /// Instances created (one per worker, plus one after every failure).
    pub instantiations: AtomicU64,
}

/// A plain copy of [`PolicyStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    pub calls: u64,
    pub routes: u64,
    pub rejects: u64,
    pub traps: u64,
    pub deadline_hits: u64,
    pub memory_hits: u64,
    pub invalid_results: u64,
    pub instantiations: u64,
}

impl PolicyStats {
    /// Read every counter.
    pub fn snapshot(&self) -> StatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StatsSnapshot {
            calls: get(&self.calls),
            routes: get(&self.routes),
            rejects: get(&self.rejects),
            traps: get(&self.traps),
            deadline_hits: get(&self.deadline_hits),
            memory_hits: get(&self.memory_hits),
            invalid_results: get(&self.invalid_results),
            instantiations: get(&self.instantiations),
        }
    }

    pub(crate) fn count_failure(&self, kind: FailureKind) {
        let counter = match kind {
            FailureKind::Trap => &self.traps,
            FailureKind::Deadline => &self.deadline_hits,
            FailureKind::Memory => &self.memory_hits,
            FailureKind::InvalidResult => &self.invalid_results,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

static NEXT_MODULE_ID: AtomicU64 = AtomicU64::new(1);

use bindings::batched::exports::kumo::policy::batch_import::{
    Guest as BatchImport, GuestIndices as BatchImportIndices,
};

/// One compiled, validated policy component, ready to instantiate.
///
/// Built once (off the hot path) and shared with `Arc` by every worker and
/// every client chain that names it. Per-client parameters are data handed to
/// the instance, so a thousand clients share one module and one instance per
/// worker.
pub struct PolicyModule {
    id: u64,
    name: Arc<str>,
    sha256: String,
    loaded_at: SystemTime,
    limits: Limits,
    config_json: String,
    pub(crate) pre: bindings::PolicyModulePre<StoreState>,
    /// `batch-import`, when the module exports it (the SDK's modules do;
    /// one built before the interface existed does not).
    batch_import: Option<BatchImportIndices>,
    pub(crate) engine: Arc<EngineShared>,
    stats: PolicyStats,
}

impl PolicyModule {
    /// Compile and validate `wasm` as module `name`: it must be a component
    /// of world `kumo:policy/policy-module@0.1.0`, import nothing but
    /// `kumo:policy/host` (and `wasi:*`, which kumo stubs with traps), accept
    /// `config` in `init` and pass its `self-test`.
    ///
    /// `config` is the module's free-form table from kumo's configuration,
    /// handed to the guest's `init` as JSON text.
    pub fn load(
        engine: &PolicyEngine,
        name: &str,
        wasm: &[u8],
        limits: Limits,
        config: serde_json::Value,
    ) -> Result<Self, PolicyError> {
        let shared = engine.shared.clone();
        let sha256 = hex(&Sha256::digest(wasm));
        let instance_pre = link(&shared, name, &sha256, wasm, POLICY_WORLD, |linker| {
            bindings::PolicyModule::add_to_linker::<StoreState, HasSelf<StoreState>>(linker, |state| state)
        })?;
        let batch_import = BatchImportIndices::new(&instance_pre).ok();
        let pre = bindings::PolicyModulePre::new(instance_pre).map_err(wrong_world(name, POLICY_WORLD))?;

        let module = PolicyModule {
            id: NEXT_MODULE_ID.fetch_add(1, Ordering::Relaxed),
            name: name.into(),
            sha256,
            loaded_at: SystemTime::now(),
            limits,
            config_json: config.to_string(),
            pre,
            batch_import,
            engine: shared,
            stats: PolicyStats::default(),
        };

        // A trial instance proves the configuration is accepted and runs the
        // module's self-test before anyone depends on it.
        let mut instance = match Instance::new(&module) {
            Ok(instance) => instance,
            Err(InstantiateError::Refused(message)) => {
                return Err(PolicyError::ConfigRefused {
                    module: name.to_owned(),
                    message,
                });
            }
            Err(InstantiateError::Failed(f)) => {
                return Err(PolicyError::Instantiate {
                    module: name.to_owned(),
                    kind: f.kind,
                    message: f.message,
                });
            }
        };
        let self_test = instance.setup_call(&module, |bindings, store| {
            bindings.kumo_policy_policy().call_self_test(store)
        });
        match self_test {
            Ok(Ok(())) => {}
            Ok(Err(message)) => {
                return Err(PolicyError::SelfTest {
                    module: name.to_owned(),
                    message,
                });
            }
            Err(f) => {
                return Err(PolicyError::SelfTest {
                    module: name.to_owned(),
                    message: format!("{}: {}", f.kind, f.message),
                });
            }
        }
        // The trial instance's instantiation is not a serving one.
        module.stats.instantiations.store(0, Ordering::Relaxed);
        Ok(module)
    }

    /// Process-unique id (workers key their instances by it).
    pub fn id(&self) -> u64 {
        self.id
    }
    /// Whether the module answers many attribute sets in one import call
    /// (`batch-import`); otherwise kumo calls `import-routes` per set.
    pub fn imports_in_batches(&self) -> bool {
        self.batch_import.is_some()
    }
    /// The module's name (from the configuration).
    pub fn name(&self) -> &str {
        &self.name
    }
    pub(crate) fn name_arc(&self) -> &Arc<str> {
        &self.name
    }
    /// SHA-256 of the component bytes, lowercase hex.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }
    /// When the module was loaded.
    pub fn loaded_at(&self) -> SystemTime {
        self.loaded_at
    }
    /// Its limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }
    /// The configuration handed to `init`, as JSON text.
    pub fn config_json(&self) -> &str {
        &self.config_json
    }
    /// Its counters.
    pub fn stats(&self) -> &PolicyStats {
        &self.stats
    }
    pub(crate) fn ctx(&self) -> CallCtx<'_> {
        CallCtx {
            name: &self.name,
            limits: &self.limits,
            engine: &self.engine,
            stats: &self.stats,
        }
    }
}

impl std::fmt::Debug for PolicyModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyModule")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("sha256", &self.sha256)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// The world of policy modules.
pub(crate) const POLICY_WORLD: &str = "kumo:policy/policy-module@0.1.0";

pub(crate) fn wrong_world(module: &str, world: &'static str) -> impl Fn(wasmtime::Error) -> PolicyError {
    move |e| PolicyError::WrongWorld {
        module: module.to_owned(),
        world,
        message: format!("{e:#}"),
    }
}

/// Compile `wasm` (SHA-256 `sha256`) as module `name`, refuse imports kumo
/// does not provide, link the host side of `world` (`add_world`) and
/// pre-instantiate it. Shared by every kind of module (policy, static-hold).
pub(crate) fn link(
    shared: &EngineShared,
    name: &str,
    sha256: &str,
    wasm: &[u8],
    world: &'static str,
    add_world: impl FnOnce(&mut Linker<StoreState>) -> wasmtime::Result<()>,
) -> Result<InstancePre<StoreState>, PolicyError> {
    let component = shared.compile(sha256, wasm).map_err(|e| match e {
        CompileFailure::Module(message) => PolicyError::Compile {
            module: name.to_owned(),
            message,
        },
        CompileFailure::Compiler(message) => PolicyError::Compiler {
            module: name.to_owned(),
            message,
        },
    })?;

    for (import, _) in component.component_type().imports(&shared.engine) {
        if !(import.starts_with("kumo:policy/") || import.starts_with("wasi:")) {
            return Err(PolicyError::UnsupportedImport {
                module: name.to_owned(),
                import: import.to_owned(),
            });
        }
    }

    let wrong_world = wrong_world(name, world);
    let mut linker: Linker<StoreState> = Linker::new(&shared.engine);
    add_world(&mut linker).map_err(&wrong_world)?;
    // Guests built with Rust std for wasm32-wasip2 import some WASI
    // interfaces (stderr for panic messages, environment, ...). kumo gives
    // policies no OS access: any such call traps, failing the call closed.
    linker
        .define_unknown_imports_as_traps(&component)
        .map_err(&wrong_world)?;
    linker.instantiate_pre(&component).map_err(wrong_world)
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// What each store carries: the module's name and limits, and what the
/// current call did (memory cap hit, log lines written).
#[derive(Debug)]
pub(crate) struct StoreState {
    module: Arc<str>,
    max_memory: usize,
    max_log_lines: u32,
    memory_cap_hit: bool,
    log_lines: u32,
    /// The running call's CPU time is counted from its first epoch tick
    /// (`cpu_start`, this thread's CPU clock then), not from its start:
    /// reading that clock is a system call (~0.5 µs here, a tenth of a
    /// typical call), and most calls end before any tick. A call may so use
    /// up to one tick more than its budget.
    ticked: bool,
    cpu_start: Option<std::time::Duration>,
    cpu_budget: std::time::Duration,
    /// The budget in ticks, from the first tick on (see `deadline_ticks`).
    budget_ticks: u64,
    /// Answers `rpki-validate` and `irr-check`.
    route_data: Arc<dyn crate::route_data::RouteData>,
}

/// CPU time the calling thread has used so far (`None` if the clock cannot be read).
fn thread_cpu_time() -> Option<std::time::Duration> {
    cpu_time::ThreadTime::try_now().ok().map(|t| t.as_duration())
}

/// Called when the epoch deadline passes (wall-clock): at the call's first
/// tick, starts counting its CPU time; afterwards the call goes on if its
/// thread has used less CPU time than its budget since then. The deadline
/// bounds what a policy costs, and a thread descheduled on a loaded machine
/// must not fail the call of a policy that did nothing wrong (measured on
/// this 2-core machine: accept-all calls interrupted at 5 ms wall-clock,
/// their routes rejected or not exported).
fn on_deadline(state: &mut StoreState) -> wasmtime::UpdateDeadline {
    // The callback runs on the thread executing the call.
    if !state.ticked {
        state.ticked = true;
        state.cpu_start = thread_cpu_time();
        return wasmtime::UpdateDeadline::Continue(state.budget_ticks);
    }
    let used = state
        .cpu_start
        .zip(thread_cpu_time())
        .map(|(start, now)| now.saturating_sub(start));
    match used {
        Some(used) if used < state.cpu_budget => wasmtime::UpdateDeadline::Continue(1),
        // Without a CPU clock the deadline is wall-clock.
        _ => wasmtime::UpdateDeadline::Interrupt,
    }
}

impl wasmtime::ResourceLimiter for StoreState {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_memory || maximum.is_some_and(|m| desired > m) {
            // Growth fails (memory.grow returns -1); a Rust guest then aborts
            // with a trap, which we classify as a memory failure by this flag.
            self.memory_cap_hit = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000 && maximum.is_none_or(|m| desired <= m))
    }
}

impl bindings::kumo::policy::types::Host for StoreState {}

impl bindings::kumo::policy::host::Host for StoreState {
    fn log(&mut self, level: bindings::kumo::policy::types::Level, message: String) {
        use bindings::kumo::policy::types::Level;
        if self.log_lines >= self.max_log_lines {
            return;
        }
        self.log_lines += 1;
        let mut end = message.len().min(512);
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        let message = message.get(..end).unwrap_or_default();
        let module = &*self.module;
        match level {
            Level::Debug => tracing::debug!(target: "kumo_policy::guest", policy = module, "{message}"),
            Level::Info => tracing::info!(target: "kumo_policy::guest", policy = module, "{message}"),
            Level::Warn => tracing::warn!(target: "kumo_policy::guest", policy = module, "{message}"),
            Level::Error => tracing::error!(target: "kumo_policy::guest", policy = module, "{message}"),
        }
    }

    fn rpki_validate(
        &mut self,
        prefixes: bindings::kumo::policy::types::PrefixBatch,
        origin: u32,
    ) -> Vec<u8> {
        use crate::route_data::{Rov, per_entry};
        per_entry(&prefixes, Rov::NotFound as u8, |valid| {
            let mut states = Vec::with_capacity(valid.len());
            self.route_data.rpki_validate(valid, origin, &mut states);
            states.into_iter().map(|s| s as u8).collect()
        })
    }

    fn irr_check(
        &mut self,
        as_set: String,
        origin: u32,
        prefixes: bindings::kumo::policy::types::PrefixBatch,
        max_len_v4: u8,
        max_len_v6: u8,
    ) -> bindings::kumo::policy::types::IrrAnswer {
        use crate::route_data::{IrrMatch, per_entry};
        let mut found = (false, false);
        let prefix_match = per_entry(&prefixes, IrrMatch::NotFound as u8, |valid| {
            let answer = self
                .route_data
                .irr_check(&as_set, origin, valid, max_len_v4, max_len_v6);
            found = (answer.as_set_found, answer.origin_in_set);
            answer.prefix_match.into_iter().map(|m| m as u8).collect()
        });
        bindings::kumo::policy::types::IrrAnswer {
            as_set_found: found.0,
            origin_in_set: found.1,
            prefix_match,
        }
    }
}

pub(crate) enum InstantiateError {
    /// `init` returned an error: the configuration is refused.
    Refused(String),
    Failed(PolicyFailure),
}

/// What a guest call needs from its module, whatever the module's world:
/// name (log, failures), limits, engine (deadline ticks) and counters.
pub(crate) struct CallCtx<'a> {
    pub(crate) name: &'a Arc<str>,
    pub(crate) limits: &'a Limits,
    pub(crate) engine: &'a EngineShared,
    pub(crate) stats: &'a PolicyStats,
}

/// The least time instantiation and the set-up calls (`init`, `self-test`,
/// `set-clients`) get. They run once per instance, off the route path, and
/// the deadline is wall-clock time: a thread descheduled on a loaded machine
/// must not fail a module at load (measured: 5 ms failed instantiations on
/// a 2-core machine running several builds). Route calls keep their own
/// deadline.
pub(crate) const SETUP_DEADLINE: std::time::Duration = std::time::Duration::from_secs(1);

impl CallCtx<'_> {
    /// A store for one instance: memory cap, epoch deadline, guest log.
    pub(crate) fn new_store(&self) -> Store<StoreState> {
        let mut store = Store::new(
            &self.engine.engine,
            StoreState {
                module: self.name.clone(),
                max_memory: self.limits.max_memory,
                max_log_lines: self.limits.max_log_lines,
                memory_cap_hit: false,
                log_lines: 0,
                ticked: false,
                cpu_start: None,
                cpu_budget: self.limits.deadline.max(SETUP_DEADLINE),
                budget_ticks: self
                    .engine
                    .deadline_ticks(self.limits.deadline.max(SETUP_DEADLINE)),
                route_data: self.engine.route_data.clone(),
            },
        );
        store.limiter(|state| state);
        store.epoch_deadline_callback(|mut ctx| Ok(on_deadline(ctx.data_mut())));
        // Instantiation runs the guest's start-up code under this deadline.
        store.set_epoch_deadline(1);
        self.stats.instantiations.fetch_add(1, Ordering::Relaxed);
        store
    }

    /// Run one guest call under the module's deadline, classifying failures.
    /// After a failure the instance must be dropped (a trapped component
    /// instance cannot be entered again).
    pub(crate) fn call<B, R>(
        &self,
        store: &mut Store<StoreState>,
        bindings: &B,
        f: impl FnOnce(&B, StoreContextMut<'_, StoreState>) -> wasmtime::Result<R>,
    ) -> Result<R, PolicyFailure> {
        self.call_within(self.limits.deadline, store, bindings, f)
    }

    /// [`CallCtx::call`] for a set-up call (`init`, `self-test`,
    /// `set-clients`): at least [`SETUP_DEADLINE`].
    pub(crate) fn setup_call<B, R>(
        &self,
        store: &mut Store<StoreState>,
        bindings: &B,
        f: impl FnOnce(&B, StoreContextMut<'_, StoreState>) -> wasmtime::Result<R>,
    ) -> Result<R, PolicyFailure> {
        self.call_within(self.limits.deadline.max(SETUP_DEADLINE), store, bindings, f)
    }

    fn call_within<B, R>(
        &self,
        deadline: std::time::Duration,
        store: &mut Store<StoreState>,
        bindings: &B,
        f: impl FnOnce(&B, StoreContextMut<'_, StoreState>) -> wasmtime::Result<R>,
    ) -> Result<R, PolicyFailure> {
        self.try_call_within(deadline, store, bindings, f)
            .inspect_err(|failure| self.record(failure))
    }

    /// [`CallCtx::call_within`] without counting or logging a failure: for
    /// a call whose questions are asked again one by one if it fails.
    fn try_call_within<B, R>(
        &self,
        deadline: std::time::Duration,
        store: &mut Store<StoreState>,
        bindings: &B,
        f: impl FnOnce(&B, StoreContextMut<'_, StoreState>) -> wasmtime::Result<R>,
    ) -> Result<R, PolicyFailure> {
        let data = store.data_mut();
        data.memory_cap_hit = false;
        data.log_lines = 0;
        data.ticked = false;
        data.cpu_start = None;
        data.cpu_budget = deadline;
        data.budget_ticks = self.engine.deadline_ticks(deadline);
        store.set_epoch_deadline(1);
        match f(bindings, store.as_context_mut()) {
            Ok(r) => Ok(r),
            Err(e) => Err(self.failure(store.data(), e)),
        }
    }

    /// The failure `error` is, counted and logged.
    pub(crate) fn classify(&self, state: &StoreState, error: wasmtime::Error) -> PolicyFailure {
        let failure = self.failure(state, error);
        self.record(&failure);
        failure
    }

    fn failure(&self, state: &StoreState, error: wasmtime::Error) -> PolicyFailure {
        let kind = if state.memory_cap_hit {
            FailureKind::Memory
        } else if error.downcast_ref::<wasmtime::Trap>() == Some(&wasmtime::Trap::Interrupt) {
            FailureKind::Deadline
        } else {
            FailureKind::Trap
        };
        PolicyFailure {
            module: self.name.to_string(),
            kind,
            message: format!("{error:#}"),
        }
    }

    fn record(&self, failure: &PolicyFailure) {
        self.stats.count_failure(failure.kind);
        tracing::warn!(policy = %self.name, kind = %failure.kind, error = %failure.message, "policy call failed; it fails closed");
    }
}

/// A live instance of a module in its own store. One store per (worker,
/// module): a failed instance is dropped with its store (and its memory)
/// without touching the worker's other instances.
pub(crate) struct Instance {
    store: Store<StoreState>,
    bindings: bindings::PolicyModule,
    batch_import: Option<BatchImport>,
    /// Which client table generation the guest has.
    pub(crate) clients_generation: Option<u64>,
}

impl Instance {
    pub(crate) fn new(module: &PolicyModule) -> Result<Self, InstantiateError> {
        let ctx = module.ctx();
        let mut store = ctx.new_store();
        let instantiated = module
            .pre
            .instance_pre()
            .instantiate(&mut store)
            .and_then(|instance| {
                let bindings = bindings::PolicyModule::new(&mut store, &instance)?;
                let batch_import = match &module.batch_import {
                    Some(indices) => Some(indices.load(&mut store, &instance)?),
                    None => None,
                };
                Ok((bindings, batch_import))
            });
        let (bindings, batch_import) = match instantiated {
            Ok(both) => both,
            Err(e) => return Err(InstantiateError::Failed(ctx.classify(store.data(), e))),
        };
        let mut instance = Instance {
            store,
            bindings,
            batch_import,
            clients_generation: None,
        };
        let config = module.config_json.clone();
        match instance.setup_call(module, |b, s| b.kumo_policy_policy().call_init(s, &config)) {
            Ok(Ok(())) => Ok(instance),
            Ok(Err(message)) => Err(InstantiateError::Refused(message)),
            Err(failure) => Err(InstantiateError::Failed(failure)),
        }
    }

    /// Run one guest call under the module's deadline, classifying failures.
    /// After a failure the instance must be dropped (a trapped component
    /// instance cannot be entered again).
    pub(crate) fn call<R>(
        &mut self,
        module: &PolicyModule,
        f: impl FnOnce(&bindings::PolicyModule, StoreContextMut<'_, StoreState>) -> wasmtime::Result<R>,
    ) -> Result<R, PolicyFailure> {
        module.ctx().call(&mut self.store, &self.bindings, f)
    }

    /// [`Instance::call`] for a call answering several questions, each of
    /// which is asked again alone if the call fails: a failure is neither
    /// counted nor logged here (the questions' own calls are). The deadline
    /// is the module's per-call deadline, not scaled: a question passes in a
    /// batch only if the whole batch took less than a question alone may,
    /// so batching never lets through what a call of its own would stop.
    pub(crate) fn call_unrecorded<R>(
        &mut self,
        module: &PolicyModule,
        f: impl FnOnce(&bindings::PolicyModule, StoreContextMut<'_, StoreState>) -> wasmtime::Result<R>,
    ) -> Result<R, PolicyFailure> {
        let ctx = module.ctx();
        ctx.try_call_within(ctx.limits.deadline, &mut self.store, &self.bindings, f)
    }

    /// `import-many` over `batch`, like [`Instance::call_unrecorded`] (its
    /// questions are asked again one by one if it fails); `None` when the
    /// module does not export `batch-import`.
    pub(crate) fn import_many(
        &mut self,
        module: &PolicyModule,
        batch: &bindings::kumo::policy::types::ImportBatch,
    ) -> Option<Result<bindings::kumo::policy::types::ImportAnswers, PolicyFailure>> {
        let guest = self.batch_import.as_ref()?;
        let ctx = module.ctx();
        // The log-line cap is per question, as when each is a call of its own.
        let questions = u32::try_from(batch.clients.len()).unwrap_or(u32::MAX).max(1);
        self.store.data_mut().max_log_lines = ctx.limits.max_log_lines.saturating_mul(questions);
        let answers = ctx.try_call_within(ctx.limits.deadline, &mut self.store, guest, |g, s| {
            g.call_import_many(s, batch)
        });
        self.store.data_mut().max_log_lines = ctx.limits.max_log_lines;
        Some(answers)
    }

    /// [`Instance::call`] for a set-up call (see [`SETUP_DEADLINE`]).
    pub(crate) fn setup_call<R>(
        &mut self,
        module: &PolicyModule,
        f: impl FnOnce(&bindings::PolicyModule, StoreContextMut<'_, StoreState>) -> wasmtime::Result<R>,
    ) -> Result<R, PolicyFailure> {
        module.ctx().setup_call(&mut self.store, &self.bindings, f)
    }
}

use wasmtime::AsContextMut;
