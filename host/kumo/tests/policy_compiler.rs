//! Policy modules compiled in a child process (`kumo compile-policy`, what
//! `kumo run` and `kumo check` use) behave as modules compiled in process,
//! and a compiler that fails is reported under the module's name.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::Arc;

use ipnet::IpNet;
use kumo_policy::{
    ClientCtx, Compiler, EngineOptions, ImportResult, Limits, PolicyEngine, PolicyError, PolicyModule,
    builtin,
};
use kumo_wire::{AsPath, AsPathSegment, Origin, PathAttributes};

fn engine(compiler: Compiler) -> PolicyEngine {
    PolicyEngine::new(EngineOptions {
        compiler,
        ..EngineOptions::default()
    })
    .unwrap()
}

fn kumo_compiler() -> Compiler {
    // SAFETY: the kumo binary of this very build; its `compile-policy`
    // writes only `kumo_policy::precompile`'s output.
    #[allow(unsafe_code)]
    unsafe {
        Compiler::subprocess(
            PathBuf::from(env!("CARGO_BIN_EXE_kumo")),
            vec!["compile-policy".into()],
        )
    }
}

/// A compiler that never writes machine code (it fails, or never finishes).
fn broken_compiler(program: &str, args: &[&str]) -> Compiler {
    // SAFETY: these programs write nothing on standard output, so nothing
    // is ever loaded as machine code.
    #[allow(unsafe_code)]
    unsafe {
        Compiler::subprocess(PathBuf::from(program), args.iter().map(Into::into).collect())
    }
}

fn load(engine: &PolicyEngine, wasm: &[u8]) -> Result<PolicyModule, PolicyError> {
    let config = serde_json::json!({"max_path_length": 4});
    PolicyModule::load(engine, "rs-import", wasm, Limits::default(), config)
}

/// rs-import's verdicts on routes it accepts and rejects for several reasons.
fn verdicts(engine: &PolicyEngine) -> Vec<ImportResult> {
    let module = Arc::new(load(engine, builtin::RS_IMPORT).unwrap());
    let mut worker = engine.worker();
    worker.set_clients(&[ClientCtx {
        id: 1,
        name: "as3333".into(),
        asn: 3333,
        addresses: vec!["192.0.2.1".parse().unwrap()],
        params: serde_json::json!({}),
    }]);
    let prefixes: Vec<IpNet> = ["193.0.0.0/21", "10.0.0.0/8", "193.0.0.0/28", "0.0.0.0/0"]
        .iter()
        .map(|p| p.parse().unwrap())
        .collect();
    let mut out = Vec::new();
    for path in [&[3333, 1299][..], &[3333, 1, 2, 3, 4, 5], &[6939]] {
        let attrs = PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(AsPath::from(vec![AsPathSegment::Sequence(path.to_vec())])),
            next_hop: Some("192.0.2.1".parse().unwrap()),
            ..Default::default()
        };
        let answer = worker.import(std::slice::from_ref(&module), 1, &attrs, None, &prefixes);
        out.extend((0..answer.len()).map(|i| answer.get(i).unwrap().clone()));
    }
    out
}

#[test]
fn a_module_compiled_by_kumo_compile_policy_gives_the_same_verdicts() {
    let in_process = verdicts(&engine(Compiler::InProcess));
    let in_child = verdicts(&engine(kumo_compiler()));
    assert_eq!(in_child, in_process);
    assert!(
        in_process
            .iter()
            .any(|v| matches!(v, ImportResult::Accept { .. }))
    );
    assert!(
        in_process
            .iter()
            .any(|v| matches!(v, ImportResult::Reject { .. }))
    );
}

#[test]
fn bytes_that_do_not_compile_get_the_in_process_message() {
    let bad = b"\0asm\x0d\0\x01\0garbage";
    let in_process = load(&engine(Compiler::InProcess), bad).unwrap_err().to_string();
    let in_child = load(&engine(kumo_compiler()), bad).unwrap_err().to_string();
    assert_eq!(in_child, in_process);
    assert!(in_child.starts_with("policy module \"rs-import\": not a loadable WebAssembly component: "));
}

#[test]
fn a_compiler_that_cannot_run_fails_or_runs_away_is_named_and_not_blamed_on_the_module() {
    let compiler_failure = |compiler: Compiler| match load(&engine(compiler), builtin::RS_IMPORT) {
        Err(e @ PolicyError::Compiler { .. }) => e.to_string(),
        other => panic!("expected a compiler failure, got {:?}", other.map(|_| ())),
    };
    let message = compiler_failure(broken_compiler("/nonexistent/kumo", &[]));
    assert!(
        message.starts_with("policy module \"rs-import\": cannot be compiled now: ")
            && message.contains("policy compiler /nonexistent/kumo: cannot start it"),
        "{message}"
    );
    let message = compiler_failure(broken_compiler("false", &[]));
    assert!(
        message.contains("policy compiler false: failed (exit status: 1)"),
        "{message}"
    );
    let message = compiler_failure(broken_compiler("true", &[]));
    assert!(
        message.contains("policy compiler true: exited without writing machine code"),
        "{message}"
    );
    let started = std::time::Instant::now();
    let slow = broken_compiler("sleep", &["30"]).with_deadline(std::time::Duration::from_millis(300));
    let message = compiler_failure(slow);
    assert!(
        message.contains("policy compiler sleep 30: did not finish within 300ms; stopped"),
        "{message}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "the runaway compiler was stopped"
    );
}
