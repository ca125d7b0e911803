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

/// Host bindings of world `batched-policy-module`: only its `batch-import`
/// export is used from these (the rest is `policy-module`'s). A module
/// without that export (built before the interface existed) is asked one
/// `import-routes` call per attribute set instead.
pub mod batched {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "batched-policy-module",
        with: {
            "kumo:policy/types@0.1.0": crate::bindings::kumo::policy::types,
            "kumo:policy/host@0.1.0": crate::bindings::kumo::policy::host,
            "kumo:policy/policy@0.1.0": crate::bindings::exports::kumo::policy::policy,
        },
    });
}
