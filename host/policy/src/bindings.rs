//! Host bindings generated from `wit/policy.wit` (world `policy-module`).

#![allow(missing_docs, missing_debug_implementations, clippy::all)]

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "policy-module",
});
