//! Host bindings generated from `wit/policy.wit` (world `policy-module`) and
//! `wit/static-hold.wit` (world `static-hold-module`).

#![allow(missing_docs, missing_debug_implementations, clippy::all)]

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "policy-module",
    // Equal modifications for several export targets are applied once.
    additional_derives: [PartialEq],
});

/// Host bindings of world `static-hold-module` (`wit/static-hold.wit`). The
/// host imports are the policy world's, so one `Host` implementation (and
/// one linker set-up) serves both kinds of module.
pub mod static_hold {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "static-hold-module",
        with: {
            "kumo:policy/types@0.1.0": crate::bindings::kumo::policy::types,
            "kumo:policy/host@0.1.0": crate::bindings::kumo::policy::host,
        },
    });
}
