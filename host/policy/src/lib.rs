//! kumo's WebAssembly policy host.
//!
//! Policies are WebAssembly components of the world
//! `kumo:policy/policy-module@0.1.0` (`wit/policy.wit`), run with wasmtime.
//! The host hands them data and gets verdicts back; a failing policy fails
//! closed and never affects another client.
//!
//! Module map:
//! - [`engine`]: [`PolicyEngine`] — the wasmtime engine, the epoch ticker
//!   that enforces per-call deadlines, and where modules are compiled
//!   ([`Compiler`]; [`precompile`] is the child compiler's work).
//! - [`module`]: [`PolicyModule`] — one compiled, validated component
//!   (`InstancePre`), its [`Limits`] and [`PolicyStats`]; per-instance store
//!   state (memory cap, guest log).
//! - [`worker`]: [`PolicyWorker`] — one store and instance per module for one
//!   thread; import and export chains, many questions per call
//!   ([`PolicyWorker::import_many`], [`PolicyWorker::export_batch`]);
//!   [`ImportResult`], [`ExportResult`].
//! - [`registry`]: [`PolicyRegistry`] — loaded modules by name, swapped
//!   atomically (`ArcSwap`), with the previous versions kept for rollback.
//! - [`static_hold`]: [`StaticHoldModule`] — a static-hold component (world
//!   `static-hold-module`): on a lost session, hold the client's routes or
//!   withdraw them ([`SessionLoss`] → [`HoldDecision`]).
//! - [`builtin`]: the shipped modules (`accept-all`, `rs-import`), built from
//!   `policies/` by `build.rs` and embedded.
//! - [`route_data`]: [`RouteData`] — the IRR and RPKI look-ups behind the
//!   host imports `rpki-validate` and `irr-check` (the daemon implements it).
//! - [`error`]: [`PolicyError`] (load) and [`PolicyFailure`] (call).
//! - `convert`: wire types to WIT types, applying modifications.
//! - `bindings`: `wasmtime::component::bindgen!` output.
//!
//! ```no_run
//! use std::sync::Arc;
//! use kumo_policy::*;
//!
//! let engine = PolicyEngine::new(EngineOptions::default())?;
//! let module = Arc::new(PolicyModule::load(&engine, "rs-import", builtin::RS_IMPORT,
//!     Limits::default(), serde_json::json!({"max_path_length": 24}))?);
//! let mut worker = engine.worker();
//! worker.set_clients(&[ClientCtx { id: 1, name: "as64501".into(), asn: 64501,
//!     addresses: vec!["192.0.2.1".parse().unwrap()], params: serde_json::json!({}) }]);
//! let attrs = kumo_wire::PathAttributes::default();
//! let verdicts = worker.import(&[module], 1, &attrs, None, &["198.51.100.0/24".parse().unwrap()]);
//! assert_eq!(verdicts.len(), 1);
//! # Ok::<(), PolicyError>(())
//! ```

mod bindings;
pub mod builtin;
mod convert;
pub mod engine;
pub mod error;
pub mod module;
pub mod registry;
pub mod route_data;
pub mod static_hold;
pub mod worker;

pub use engine::{
    COMPILE_DEADLINE, ChildCompiler, Compiler, EngineOptions, MODULE_REFUSED, PolicyEngine, precompile,
};
pub use error::{FailureKind, PolicyError, PolicyFailure};
pub use module::{Limits, PolicyModule, PolicyStats, StatsSnapshot};
pub use registry::{Modules, PolicyRegistry, RegistryError};
pub use route_data::{IrrAnswer, IrrMatch, NoRouteData, RouteData, Rov};
pub use static_hold::{HoldDecision, LossReason, Marking, SessionLoss, StaticHoldModule};
pub use worker::{
    CallObserver, ClientCtx, EXPORT_BATCH_MAX, EXPORT_QUESTIONS_MAX, ExportQuestion, ExportResult,
    ExportResults, IMPORT_BATCH_MAX, IMPORT_QUESTIONS_MAX, ImportQuestion, ImportResult, ImportVerdicts,
    Modified, POLICY_ERROR_CODE, POLICY_ERROR_TEXT, PolicyWorker, TargetSet,
};
