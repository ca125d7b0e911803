//! Builds the policy components in `policies/` for wasm32-wasip2 and copies
//! them into OUT_DIR, where `src/builtin.rs` (and the tests) `include_bytes!`
//! them. A plain `cargo build`/`cargo test` of the workspace thus does all
//! the set-up.
//!
//! `policies/` is its own cargo workspace with its own target directory
//! (`<target>/wasm`), so this nested cargo never waits on the host build's
//! lock, and its output survives `cargo clean -p kumo-policy`.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// (cargo artefact name, name in OUT_DIR)
const MODULES: &[(&str, &str)] = &[
    ("kumo_policy_accept_all", "accept_all.wasm"),
    ("kumo_policy_rs_import", "rs_import.wasm"),
    ("kumo_policy_rs_standard", "rs_standard.wasm"),
    ("kumo_policy_hostile", "hostile.wasm"),
    ("origin_tagger", "origin_tagger.wasm"),
    ("kumo_policy_static_hold", "static_hold.wasm"),
    ("kumo_policy_hostile_hold", "hostile_hold.wasm"),
    ("kumo_policy_by_length", "by_length.wasm"),
    ("kumo_policy_single_import", "single_import.wasm"),
];

/// Cargo workspaces to build, relative to the repository root: the shipped
/// and test modules, and the SDK example (a standalone crate, as an author's
/// would be; the host tests load it to prove the example works as a component).
const WORKSPACES: &[&str] = &["policies", "examples/policies/origin-tagger"];

fn main() {
    let manifest_dir =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let root = manifest_dir.join("../..");
    for watched in ["policies", "examples/policies", "sdk", "wit"] {
        println!("cargo::rerun-if-changed={}", root.join(watched).display());
    }

    let target_dir = wasm_target_dir(&out_dir, &root);
    for workspace in WORKSPACES {
        build_workspace(&root.join(workspace), &target_dir);
    }
    let built = target_dir.join("wasm32-wasip2/release");
    for (artefact, name) in MODULES {
        let from = built.join(format!("{artefact}.wasm"));
        std::fs::copy(&from, out_dir.join(name))
            .unwrap_or_else(|e| panic!("policy component {} missing after build: {e}", from.display()));
    }
}

fn build_workspace(dir: &Path, target_dir: &Path) {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(dir)
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--manifest-path",
        ])
        .arg(dir.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(target_dir);
    // The outer build's flags and wrappers (clippy, coverage, sccache,
    // target-cpu) are meant for the host crate, not for the wasm guests.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_MAKEFLAGS",
        "MAKEFLAGS",
        "MFLAGS",
    ] {
        command.env_remove(var);
    }
    let status = command
        .status()
        .unwrap_or_else(|e| panic!("cannot run cargo to build {}: {e}", dir.display()));
    if !status.success() {
        panic!(
            "building the policy components in {} failed ({status}); is the wasm32-wasip2 target installed? \
             (`rustup target add wasm32-wasip2`)",
            dir.display()
        );
    }
}

/// `<cargo target dir>/wasm`, found from OUT_DIR
/// (`<target>/<profile>/build/<pkg>-<hash>/out`, possibly with a target
/// triple before the profile); falls back to `<workspace>/target/wasm`.
fn wasm_target_dir(out_dir: &Path, root: &Path) -> PathBuf {
    out_dir
        .ancestors()
        .find(|dir| dir.file_name().is_some_and(|name| name == "build"))
        .and_then(|build| build.parent())
        .and_then(|profile| profile.parent())
        .map(|target| target.join("wasm"))
        .unwrap_or_else(|| root.join("target/wasm"))
}
