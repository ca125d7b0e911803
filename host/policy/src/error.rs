//! Errors of loading policy modules and of policy calls.

use std::fmt;

/// Why an engine could not be built or a module was refused. Every
/// module-related variant names the module.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The wasmtime engine could not be configured.
    #[error("policy engine: {0}")]
    Engine(String),
    /// The bytes are not a valid WebAssembly component (or do not compile).
    #[error("policy module {module:?}: not a loadable WebAssembly component: {message}")]
    Compile { module: String, message: String },
    /// The child process that compiles modules did not do its work (could
    /// not start, crashed, ran past its deadline, wrote what does not
    /// load): kumo's fault, not the module's.
    #[error("policy module {module:?}: cannot be compiled now: {message}")]
    Compiler { module: String, message: String },
    /// The component imports something kumo does not provide.
    #[error(
        "policy module {module:?}: imports {import:?}, which kumo does not provide (only kumo:policy/host and wasi:*)"
    )]
    UnsupportedImport { module: String, import: String },
    /// The component does not implement the world kumo expects of it
    /// (`world`: `kumo:policy/policy-module@0.1.0` for policies,
    /// `kumo:policy/static-hold-module@0.1.0` for static-hold modules):
    /// missing export, wrong signature, other WIT version.
    #[error("policy module {module:?}: does not implement world {world}: {message}")]
    WrongWorld {
        module: String,
        world: &'static str,
        message: String,
    },
    /// Instantiating the component failed (a trap in its start-up, memory cap).
    #[error("policy module {module:?}: instantiation failed ({kind}): {message}")]
    Instantiate {
        module: String,
        kind: FailureKind,
        message: String,
    },
    /// The module's `init` refused its configuration.
    #[error("policy module {module:?}: configuration refused: {message}")]
    ConfigRefused { module: String, message: String },
    /// The module's `self-test` failed.
    #[error("policy module {module:?}: self-test failed: {message}")]
    SelfTest { module: String, message: String },
}

/// How a policy call failed. Every failure fails closed: the call's routes are
/// rejected with reason "policy error" (import) or sent to no one (export).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureKind {
    /// The guest trapped (panic, unreachable, out-of-bounds, a WASI call).
    Trap,
    /// The per-call deadline passed (epoch interruption).
    Deadline,
    /// The guest tried to grow its memory past the module's cap.
    Memory,
    /// The guest returned a malformed answer (wrong length, bad index).
    InvalidResult,
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FailureKind::Trap => "trap",
            FailureKind::Deadline => "deadline exceeded",
            FailureKind::Memory => "memory cap exceeded",
            FailureKind::InvalidResult => "invalid result",
        })
    }
}

/// A failed policy call: which module, how, and the detail for the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("policy {module:?} failed ({kind}): {message}")]
pub struct PolicyFailure {
    pub module: String,
    pub kind: FailureKind,
    pub message: String,
}
