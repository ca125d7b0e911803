//! Static-hold modules: components of world
//! `kumo:policy/static-hold-module@0.1.0` (`wit/static-hold.wit`) that decide
//! what happens to a client's routes when its session is lost.
//!
//! [`StaticHoldModule::load`] compiles, validates and initialises a module;
//! [`StaticHoldModule::decide`] asks it about one [`SessionLoss`]. Session
//! losses are rare, so a module keeps one instance behind a mutex (no
//! per-worker instances); a failed instance is dropped and a fresh one made
//! for the next call. Every failure fails closed: the caller withdraws
//! ([`StaticHoldModule::decide_or_withdraw`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use sha2::{Digest, Sha256};
use wasmtime::Store;
use wasmtime::component::HasSelf;

use crate::bindings::static_hold as b;
use crate::engine::{EngineShared, PolicyEngine};
use crate::error::{FailureKind, PolicyError, PolicyFailure};
use crate::module::{CallCtx, Limits, PolicyStats, StoreState, link, wrong_world};

use b::exports::kumo::policy::static_hold as w;

/// The world of static-hold modules.
const STATIC_HOLD_WORLD: &str = "kumo:policy/static-hold-module@0.1.0";

/// GRACEFUL_SHUTDOWN, 65535:0 (RFC 8326).
pub const GRACEFUL_SHUTDOWN: u32 = 0xFFFF_0000;
/// LLGR_STALE, 65535:6 (RFC 9494).
pub const LLGR_STALE: u32 = 0xFFFF_0006;

/// Why a session was lost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LossReason {
    /// The client sent a NOTIFICATION.
    NotificationReceived { code: u8, subcode: u8 },
    /// kumo sent the client a NOTIFICATION (max-prefix, malformed UPDATE...).
    NotificationSent { code: u8, subcode: u8 },
    /// The hold timer expired.
    HoldTimerExpired,
    /// The TCP connection was reset or closed without a NOTIFICATION.
    ConnectionLost,
    /// An operator shut the session down on kumo's side (admin API, reload,
    /// kumo stopping).
    AdminShutdown,
    /// Anything else, described.
    Other(String),
}

/// One lost session, as the core reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionLoss {
    /// The client's id (as in [`crate::ClientCtx::id`]).
    pub client_id: u32,
    /// The client's name from the configuration.
    pub client_name: String,
    /// The client's ASN.
    pub asn: u32,
    pub reason: LossReason,
    /// Seconds left in the client's declared maintenance window; `None` when
    /// no window is open.
    pub window: Option<u32>,
    /// The restart time the client advertised, if it negotiated Graceful
    /// Restart on the lost session.
    pub graceful_restart: Option<u16>,
    /// Routes in the client's Adj-RIB-In, IPv4 and IPv6.
    pub routes_ipv4: u32,
    pub routes_ipv6: u32,
}

/// How held routes are marked towards the other clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Marking {
    /// Unchanged.
    #[default]
    None,
    /// Add GRACEFUL_SHUTDOWN 65535:0.
    GracefulShutdown,
    /// Add LLGR_STALE 65535:6.
    LlgrStale,
}

impl Marking {
    /// The community to add to held routes (`asn << 16 | value`), if any.
    pub fn community(self) -> Option<u32> {
        match self {
            Marking::None => None,
            Marking::GracefulShutdown => Some(GRACEFUL_SHUTDOWN),
            Marking::LlgrStale => Some(LLGR_STALE),
        }
    }
}

/// What to do with a lost session's routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldDecision {
    /// Withdraw them now (no static-hold).
    WithdrawNow,
    /// Keep them exported for at most `seconds` (never 0), marked.
    Hold { seconds: u32, marking: Marking },
}

impl HoldDecision {
    /// Seconds of hold; 0 for [`HoldDecision::WithdrawNow`].
    pub fn seconds(&self) -> u32 {
        match *self {
            HoldDecision::WithdrawNow => 0,
            HoldDecision::Hold { seconds, .. } => seconds,
        }
    }
}

/// Counters of a static-hold module (relaxed atomics).
#[derive(Debug, Default)]
pub struct HoldStats {
    /// Decisions that held routes.
    pub holds: AtomicU64,
    /// Decisions that withdrew (the module's answer, or a failure).
    pub withdraws: AtomicU64,
}

/// A compiled, validated and initialised static-hold module.
pub struct StaticHoldModule {
    name: Arc<str>,
    sha256: String,
    loaded_at: SystemTime,
    limits: Limits,
    config_json: String,
    pre: b::StaticHoldModulePre<StoreState>,
    engine: Arc<EngineShared>,
    stats: PolicyStats,
    hold_stats: HoldStats,
    /// The live instance; `None` after a failure until the next call.
    instance: Mutex<Option<HoldInstance>>,
}

struct HoldInstance {
    store: Store<StoreState>,
    bindings: b::StaticHoldModule,
}

enum InitError {
    Refused(String),
    Failed(PolicyFailure),
}

impl StaticHoldModule {
    /// Compile and validate `wasm` as static-hold module `name`: it must be a
    /// component of world `kumo:policy/static-hold-module@0.1.0`, import
    /// nothing but `kumo:policy/host` (and `wasi:*`, stubbed with traps), and
    /// accept `config` (its table from kumo's configuration, as JSON) in
    /// `init`. The instance made here serves the first call.
    pub fn load(
        engine: &PolicyEngine,
        name: &str,
        wasm: &[u8],
        limits: Limits,
        config: serde_json::Value,
    ) -> Result<Self, PolicyError> {
        let shared = engine.shared.clone();
        let sha256 = crate::module::hex(&Sha256::digest(wasm));
        let instance_pre = link(&shared, name, &sha256, wasm, STATIC_HOLD_WORLD, |linker| {
            b::StaticHoldModule::add_to_linker::<StoreState, HasSelf<StoreState>>(linker, |state| state)
        })?;
        let pre = b::StaticHoldModulePre::new(instance_pre).map_err(wrong_world(name, STATIC_HOLD_WORLD))?;
        let module = StaticHoldModule {
            name: name.into(),
            sha256,
            loaded_at: SystemTime::now(),
            limits,
            config_json: config.to_string(),
            pre,
            engine: shared,
            stats: PolicyStats::default(),
            hold_stats: HoldStats::default(),
            instance: Mutex::new(None),
        };
        let instance = match module.instantiate() {
            Ok(instance) => instance,
            Err(InitError::Refused(message)) => {
                return Err(PolicyError::ConfigRefused {
                    module: name.to_owned(),
                    message,
                });
            }
            Err(InitError::Failed(f)) => {
                return Err(PolicyError::Instantiate {
                    module: name.to_owned(),
                    kind: f.kind,
                    message: f.message,
                });
            }
        };
        *module.lock() = Some(instance);
        Ok(module)
    }

    fn ctx(&self) -> CallCtx<'_> {
        CallCtx {
            name: &self.name,
            limits: &self.limits,
            engine: &self.engine,
            stats: &self.stats,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<HoldInstance>> {
        // A panic while holding the lock cannot leave the instance half
        // updated in a way that matters: at worst it is replaced.
        self.instance
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn instantiate(&self) -> Result<HoldInstance, InitError> {
        let ctx = self.ctx();
        let mut store = ctx.new_store();
        let bindings = self
            .pre
            .instantiate(&mut store)
            .map_err(|e| InitError::Failed(ctx.classify(store.data(), e)))?;
        let config = &self.config_json;
        match ctx.setup_call(&mut store, &bindings, |b, s| {
            b.kumo_policy_static_hold().call_init(s, config)
        }) {
            Ok(Ok(())) => Ok(HoldInstance { store, bindings }),
            Ok(Err(message)) => Err(InitError::Refused(message)),
            Err(failure) => Err(InitError::Failed(failure)),
        }
    }

    /// Ask the module what to do with the routes of a lost session.
    ///
    /// An error means the module failed (trap, deadline, memory cap, a
    /// configuration it refused on re-instantiation): withdraw, as without
    /// static-hold. A hold of 0 seconds is returned as
    /// [`HoldDecision::WithdrawNow`].
    pub fn decide(&self, event: &SessionLoss) -> Result<HoldDecision, PolicyFailure> {
        self.stats.calls.fetch_add(1, Ordering::Relaxed);
        let mut slot = self.lock();
        let instance = match slot.as_mut() {
            Some(instance) => instance,
            None => match self.instantiate() {
                Ok(instance) => slot.insert(instance),
                Err(InitError::Failed(failure)) => return self.count(Err(failure)),
                Err(InitError::Refused(message)) => {
                    // It accepted the same configuration at load: a guest that
                    // changes its mind is broken.
                    self.stats.count_failure(FailureKind::InvalidResult);
                    return self.count(Err(PolicyFailure {
                        module: self.name.to_string(),
                        kind: FailureKind::InvalidResult,
                        message: format!("init refused its configuration on re-instantiation: {message}"),
                    }));
                }
            },
        };
        let wit_event = to_wit(event);
        let result = self.ctx().call(&mut instance.store, &instance.bindings, |b, s| {
            b.kumo_policy_static_hold().call_on_session_loss(s, &wit_event)
        });
        let decision = match result {
            Ok(decision) => Ok(from_wit(decision)),
            Err(failure) => {
                // A trapped component instance cannot be entered again.
                *slot = None;
                Err(failure)
            }
        };
        self.count(decision)
    }

    /// [`StaticHoldModule::decide`], failing closed: any failure is
    /// [`HoldDecision::WithdrawNow`] (the failure is logged and counted).
    pub fn decide_or_withdraw(&self, event: &SessionLoss) -> HoldDecision {
        self.decide(event).unwrap_or(HoldDecision::WithdrawNow)
    }

    fn count(&self, decision: Result<HoldDecision, PolicyFailure>) -> Result<HoldDecision, PolicyFailure> {
        let counter = match decision {
            Ok(HoldDecision::Hold { .. }) => &self.hold_stats.holds,
            _ => &self.hold_stats.withdraws,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        decision
    }

    /// The module's name (from the configuration).
    pub fn name(&self) -> &str {
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
    /// Call counters (calls, failures by kind, instantiations).
    pub fn stats(&self) -> &PolicyStats {
        &self.stats
    }
    /// Decision counters.
    pub fn hold_stats(&self) -> &HoldStats {
        &self.hold_stats
    }
}

impl std::fmt::Debug for StaticHoldModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticHoldModule")
            .field("name", &self.name)
            .field("sha256", &self.sha256)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

fn to_wit(event: &SessionLoss) -> w::SessionLoss {
    let reason = match &event.reason {
        LossReason::NotificationReceived { code, subcode } => {
            w::LossReason::NotificationReceived(w::Notification {
                code: *code,
                subcode: *subcode,
            })
        }
        LossReason::NotificationSent { code, subcode } => w::LossReason::NotificationSent(w::Notification {
            code: *code,
            subcode: *subcode,
        }),
        LossReason::HoldTimerExpired => w::LossReason::HoldTimerExpired,
        LossReason::ConnectionLost => w::LossReason::ConnectionLost,
        LossReason::AdminShutdown => w::LossReason::AdminShutdown,
        LossReason::Other(text) => w::LossReason::Other(text.clone()),
    };
    w::SessionLoss {
        client: w::HoldClient {
            id: event.client_id,
            name: event.client_name.clone(),
            asn: event.asn,
        },
        reason,
        maintenance_window: event.window.is_some(),
        window_remaining_seconds: event.window.unwrap_or(0),
        graceful_restart: event.graceful_restart.is_some(),
        graceful_restart_time: event.graceful_restart.unwrap_or(0),
        routes: w::RouteCounts {
            ipv4: event.routes_ipv4,
            ipv6: event.routes_ipv6,
        },
    }
}

fn from_wit(decision: w::HoldDecision) -> HoldDecision {
    match decision {
        w::HoldDecision::Hold(spec) if spec.seconds > 0 => HoldDecision::Hold {
            seconds: spec.seconds,
            marking: match spec.marking {
                w::Marking::None => Marking::None,
                w::Marking::GracefulShutdown => Marking::GracefulShutdown,
                w::Marking::LlgrStale => Marking::LlgrStale,
            },
        },
        _ => HoldDecision::WithdrawNow,
    }
}
