//! The wasmtime engine shared by every module and worker, the epoch ticker
//! thread that enforces per-call deadlines, and where modules are compiled
//! ([`Compiler`]: in this process, or in a child process that hands back
//! machine code).

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::error::PolicyError;
use crate::route_data::{NoRouteData, RouteData};
use crate::worker::PolicyWorker;

/// Engine-wide settings.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Epoch tick: the granularity of call deadlines. A call's CPU time is
    /// counted from its first tick, and it is stopped between its deadline
    /// and its deadline plus one tick of CPU time after that.
    pub epoch_tick: Duration,
    /// Write `/tmp/perf-PID.map` so `perf` can name the compiled guest
    /// functions (for profiling policies; off in production).
    pub perf_map: bool,
    /// What the host imports `rpki-validate` and `irr-check` answer from.
    /// The implementation swaps its own data (IRR reloads, RTR updates);
    /// the engine keeps this one handle for its lifetime.
    pub route_data: Arc<dyn RouteData>,
    /// Where modules are compiled.
    pub compiler: Compiler,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            epoch_tick: Duration::from_millis(1),
            perf_map: false,
            route_data: Arc::new(NoRouteData),
            compiler: Compiler::InProcess,
        }
    }
}

/// Where Cranelift turns a module into machine code.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Compiler {
    /// In this process (tests, tools, short-lived commands).
    #[default]
    InProcess,
    /// In a child process (see [`Compiler::subprocess`]). The daemon uses
    /// this: compiling touches ~4 MB of the binary's code and leaves ~14 MB
    /// of freed compiler heap, which a long-running route server would
    /// otherwise keep resident (P1: peak RSS 111 vs 128 MiB, BENCHMARKS.md,
    /// session 7); and a compiler that crashes or runs away on a hostile
    /// module is stopped with an error instead of taking kumo with it.
    Subprocess(ChildCompiler),
}

/// A program that compiles modules for [`Compiler::Subprocess`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildCompiler {
    program: PathBuf,
    args: Vec<OsString>,
    /// The program as messages name it.
    shown: String,
    deadline: Duration,
}

/// How long a child compiler may take before it is stopped (the standard
/// policy compiles in ~0.5 s; a module of the 16 MiB upload limit in well
/// under a minute).
pub const COMPILE_DEADLINE: Duration = Duration::from_secs(120);

impl Compiler {
    /// Compile in a child process: `program args...` reads the component on
    /// its standard input and writes the machine code on its standard
    /// output (the `kumo` binary: `kumo compile-policy`). It is stopped
    /// after [`COMPILE_DEADLINE`].
    ///
    /// # Safety
    ///
    /// What the program writes on success is loaded as machine code
    /// (wasmtime's `Component::deserialize`): it must be what [`precompile`]
    /// of this very build returns for its input, i.e. the program must be
    /// this executable's `compile-policy` (kumo) or another build of the
    /// same code. wasmtime refuses output of another wasmtime version or
    /// engine configuration, but cannot check the code itself.
    #[allow(unsafe_code)]
    pub unsafe fn subprocess(program: PathBuf, args: Vec<OsString>) -> Compiler {
        // /proc/self/exe means nothing to an operator reading an error.
        let shown = std::fs::canonicalize(&program)
            .unwrap_or_else(|_| program.clone())
            .display()
            .to_string();
        let shown = std::iter::once(shown)
            .chain(args.iter().map(|a| a.to_string_lossy().into_owned()))
            .collect::<Vec<_>>()
            .join(" ");
        Compiler::Subprocess(ChildCompiler {
            program,
            args,
            shown,
            deadline: COMPILE_DEADLINE,
        })
    }

    /// The same compiler with another deadline for child processes.
    pub fn with_deadline(self, deadline: Duration) -> Compiler {
        match self {
            Compiler::InProcess => Compiler::InProcess,
            Compiler::Subprocess(child) => Compiler::Subprocess(ChildCompiler { deadline, ..child }),
        }
    }
}

/// Why [`EngineShared::compile`] has no component.
#[derive(Debug)]
pub(crate) enum CompileFailure {
    /// The module does not compile (its bytes are at fault).
    Module(String),
    /// The compiler did not do its work (could not start, crashed, timed
    /// out, wrote what does not load): not the module's fault.
    Compiler(String),
}

/// The one wasmtime configuration of every engine, so that what
/// [`precompile`] makes in a child process loads in the daemon's engine.
fn wasmtime_config(perf_map: bool) -> wasmtime::Config {
    let mut config = wasmtime::Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    if perf_map {
        config.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    config
}

/// Compile a component for an engine of [`EngineOptions`]' settings and
/// return the machine code in wasmtime's serialized form: the work of
/// [`Compiler::Subprocess`]'s child (`kumo compile-policy`).
pub fn precompile(wasm: &[u8]) -> Result<Vec<u8>, PolicyError> {
    let engine =
        wasmtime::Engine::new(&wasmtime_config(false)).map_err(|e| PolicyError::Engine(format!("{e:#}")))?;
    engine
        .precompile_component(wasm)
        .map_err(|e| PolicyError::Engine(format!("{e:#}")))
}

/// Exit status of `compile-policy` when the module does not compile (its
/// message on standard error); any other failure is the compiler's.
pub const MODULE_REFUSED: i32 = 1;

/// Run the child compiler on `wasm`; its output, or why there is none.
fn compile_in_child(child: &ChildCompiler, wasm: &[u8]) -> Result<Vec<u8>, CompileFailure> {
    let shown = &child.shown;
    let failed = |what: String| CompileFailure::Compiler(format!("policy compiler {shown}: {what}"));
    let mut process = Command::new(&child.program)
        .args(&child.args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| failed(format!("cannot start it: {e}")))?;
    let (stdin, stdout, stderr) = (process.stdin.take(), process.stdout.take(), process.stderr.take());
    let started = Instant::now();
    // Input and both outputs move on their own threads, so no pipe can fill
    // up and stall the child, whatever it writes when.
    let (written, output, errors, status) = std::thread::scope(|scope| {
        let writer = scope.spawn(move || stdin.map_or(Ok(()), |mut pipe| pipe.write_all(wasm)));
        let out = scope.spawn(move || read_all(stdout));
        let err = scope.spawn(move || read_all(stderr));
        let status = loop {
            match process.try_wait() {
                Ok(Some(status)) => break Ok(status),
                Ok(None) if started.elapsed() >= child.deadline => {
                    let _ = process.kill();
                    let _ = process.wait();
                    break Err(format!("did not finish within {:?}; stopped", child.deadline));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(2)),
                Err(e) => break Err(e.to_string()),
            }
        };
        (writer.join(), out.join(), err.join(), status)
    });
    let status = status.map_err(failed)?;
    let errors = match errors {
        Ok(Ok(bytes)) => String::from_utf8_lossy(&bytes).trim().to_owned(),
        _ => String::new(),
    };
    if status.code() == Some(MODULE_REFUSED) && !errors.is_empty() {
        return Err(CompileFailure::Module(errors));
    }
    if !status.success() {
        let detail = if errors.is_empty() {
            String::new()
        } else {
            format!(": {errors}")
        };
        return Err(failed(format!("failed ({status}){detail}")));
    }
    let code = match output {
        Ok(Ok(code)) if code.is_empty() => return Err(failed("exited without writing machine code".into())),
        Ok(Ok(code)) => code,
        Ok(Err(e)) => return Err(failed(format!("reading its output: {e}"))),
        Err(_) => return Err(failed("reading its output failed".into())),
    };
    // Machine code for a module it did not read in full is not loaded.
    match written {
        Ok(Ok(())) => Ok(code),
        Ok(Err(e)) => Err(failed(format!("writing the module to it: {e}"))),
        Err(_) => Err(failed("writing the module to it failed".into())),
    }
}

fn read_all(pipe: Option<impl Read>) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    if let Some(mut pipe) = pipe {
        pipe.read_to_end(&mut bytes)?;
    }
    Ok(bytes)
}

/// The wasmtime engine (one per kumo process), with a thread that advances
/// its epoch every tick.
///
/// Cloning is cheap; the ticker stops when the engine and every module built
/// on it are dropped.
#[derive(Debug, Clone)]
pub struct PolicyEngine {
    pub(crate) shared: Arc<EngineShared>,
}

pub(crate) struct EngineShared {
    pub(crate) engine: wasmtime::Engine,
    pub(crate) tick: Duration,
    pub(crate) route_data: Arc<dyn RouteData>,
    compiler: Compiler,
    stop: Arc<AtomicBool>,
    ticker: Option<JoinHandle<()>>,
    /// Recently compiled components, by the SHA-256 of their bytes, newest
    /// last: loading bytes seen before (a rollback, one component under two
    /// names or with another configuration) skips Cranelift, which takes
    /// ~0.5 s for the standard policy.
    compiled: Mutex<VecDeque<(String, wasmtime::component::Component)>>,
}

/// Compiled components kept for reuse (each holds its machine code).
const COMPILED_KEEP: usize = 8;

impl std::fmt::Debug for EngineShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineShared")
            .field("tick", &self.tick)
            .finish_non_exhaustive()
    }
}

impl Drop for EngineShared {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(ticker) = self.ticker.take() {
            // The ticker exits within one tick; a panic in it is already reported.
            let _ = ticker.join();
        }
    }
}

impl EngineShared {
    /// `wasm` (whose SHA-256 is `sha256`) compiled, from the cache when these
    /// bytes were compiled recently.
    pub(crate) fn compile(
        &self,
        sha256: &str,
        wasm: &[u8],
    ) -> Result<wasmtime::component::Component, CompileFailure> {
        let cached = {
            let mut compiled = self.compiled.lock().unwrap_or_else(PoisonError::into_inner);
            let hit = compiled.iter().position(|(sha, _)| sha == sha256);
            hit.and_then(|i| compiled.remove(i))
                .inspect(|entry| compiled.push_back(entry.clone()))
        };
        if let Some((_, component)) = cached {
            return Ok(component);
        }
        // Compiled outside the lock: another load may compile meanwhile.
        let component = match &self.compiler {
            Compiler::InProcess => wasmtime::component::Component::new(&self.engine, wasm)
                .map_err(|e| CompileFailure::Module(format!("{e:#}")))?,
            Compiler::Subprocess(child) => {
                let code = compile_in_child(child, wasm)?;
                load_compiled(&self.engine, &code).map_err(|e| {
                    CompileFailure::Compiler(format!(
                        "policy compiler {}: its output does not load: {e:#}",
                        child.shown
                    ))
                })?
            }
        };
        let mut compiled = self.compiled.lock().unwrap_or_else(PoisonError::into_inner);
        if !compiled.iter().any(|(sha, _)| sha == sha256) {
            compiled.push_back((sha256.to_owned(), component.clone()));
            while compiled.len() > COMPILED_KEEP {
                compiled.pop_front();
            }
        }
        Ok(component)
    }

    /// How many compiled components are kept for reuse.
    #[cfg(test)]
    pub(crate) fn compiled_kept(&self) -> usize {
        self.compiled.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// Epoch ticks to allow for a call of at most `deadline`.
    pub(crate) fn deadline_ticks(&self, deadline: Duration) -> u64 {
        let tick = self.tick.as_nanos().max(1);
        // +1: the first tick may come at any moment after the call starts.
        u64::try_from(deadline.as_nanos().div_ceil(tick))
            .unwrap_or(u64::MAX / 2)
            .max(1)
            + 1
    }
}

/// Machine code from [`Compiler::Subprocess`]'s child, loaded into `engine`.
// One of the few places with `unsafe` (workspace lint `unsafe_code = "deny"`,
// allowed where it is needed only), for the memory it saves (see
// `Compiler::Subprocess`).
// SAFETY: `Component::deserialize` requires bytes that wasmtime's compiler
// produced and nobody altered. A `ChildCompiler` exists only through the
// `unsafe` `Compiler::subprocess`, whose caller promises that its program
// writes what `precompile` of this build returns (kumo: its own executable,
// /proc/self/exe, so the running build even after an upgrade replaced the
// file); the bytes travel over a pipe only kumo and that child hold.
// wasmtime itself refuses output of another wasmtime version or of an
// incompatible configuration (`wasmtime_config` is shared by both sides; the
// profiler setting, which differs, is not part of that check and applies
// when code is loaded).
#[allow(unsafe_code)]
fn load_compiled(engine: &wasmtime::Engine, code: &[u8]) -> wasmtime::Result<wasmtime::component::Component> {
    unsafe { wasmtime::component::Component::deserialize(engine, code) }
}

impl PolicyEngine {
    /// Build the engine (component model, Cranelift, epoch interruption; no
    /// WASI) and start its epoch ticker.
    pub fn new(options: EngineOptions) -> Result<Self, PolicyError> {
        if options.epoch_tick.is_zero() {
            return Err(PolicyError::Engine("epoch_tick must be positive".into()));
        }
        let engine = wasmtime::Engine::new(&wasmtime_config(options.perf_map))
            .map_err(|e| PolicyError::Engine(format!("{e:#}")))?;
        let stop = Arc::new(AtomicBool::new(false));
        let ticker = {
            let engine = engine.clone();
            let stop = stop.clone();
            let tick = options.epoch_tick;
            std::thread::Builder::new()
                .name("kumo-policy-epoch".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(tick);
                        engine.increment_epoch();
                    }
                })
                .map_err(|e| PolicyError::Engine(format!("cannot start the epoch ticker thread: {e}")))?
        };
        Ok(PolicyEngine {
            shared: Arc::new(EngineShared {
                engine,
                tick: options.epoch_tick,
                route_data: options.route_data,
                compiler: options.compiler,
                stop,
                ticker: Some(ticker),
                compiled: Mutex::default(),
            }),
        })
    }

    /// A new worker: one per thread that evaluates policies.
    pub fn worker(&self) -> PolicyWorker {
        PolicyWorker::new(self)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn deadline_ticks_round_up_and_add_one() {
        let engine = PolicyEngine::new(EngineOptions::default()).unwrap();
        assert_eq!(engine.shared.deadline_ticks(Duration::from_millis(5)), 6);
        assert_eq!(engine.shared.deadline_ticks(Duration::from_micros(1500)), 3);
        assert_eq!(engine.shared.deadline_ticks(Duration::ZERO), 2);
    }

    #[test]
    fn the_same_bytes_are_compiled_once_and_the_cache_is_bounded() {
        use crate::{Limits, PolicyModule, StaticHoldModule, builtin};
        let engine = PolicyEngine::new(EngineOptions::default()).unwrap();
        let load = |name: &str, wasm: &[u8]| {
            PolicyModule::load(&engine, name, wasm, Limits::default(), serde_json::json!({})).unwrap()
        };
        let a = load("a", builtin::ACCEPT_ALL);
        let b = load("b", builtin::ACCEPT_ALL);
        assert_eq!(a.sha256(), b.sha256());
        assert_eq!(engine.shared.compiled_kept(), 1, "one compilation for both names");
        // A cached component serves a kind of module with another world too:
        // linking, not compiling, checks the world.
        StaticHoldModule::load(
            &engine,
            "hold",
            builtin::STATIC_HOLD,
            Limits::default(),
            serde_json::json!({}),
        )
        .unwrap();
        assert_eq!(engine.shared.compiled_kept(), 2);
        let err = PolicyModule::load(
            &engine,
            "c",
            builtin::STATIC_HOLD,
            Limits::default(),
            serde_json::json!({}),
        )
        .unwrap_err();
        assert!(matches!(err, PolicyError::WrongWorld { .. }), "{err}");
        // Bounded: modified bytes (a custom section appended) are new components.
        for i in 0..COMPILED_KEEP + 2 {
            let mut wasm = builtin::ACCEPT_ALL.to_vec();
            // A component-level custom section: id 0, size, name "x", payload byte i.
            wasm.extend_from_slice(&[0, 3, 1, b'x', i as u8]);
            load(&format!("m{i}"), &wasm);
        }
        assert_eq!(engine.shared.compiled_kept(), COMPILED_KEEP);
    }

    #[test]
    fn zero_tick_is_refused() {
        let err = PolicyEngine::new(EngineOptions {
            epoch_tick: Duration::ZERO,
            ..EngineOptions::default()
        })
        .unwrap_err();
        assert!(err.to_string().contains("epoch_tick"));
    }
}
