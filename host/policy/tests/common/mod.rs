//! Shared set-up for kumo-policy's integration tests.

#![allow(dead_code, clippy::unwrap_used)]

use std::net::IpAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use ipnet::IpNet;
use kumo_policy::*;
use kumo_wire::{AsPath, AsPathSegment, PathAttributes};

/// The hostile test guest (policies/testing/hostile), built by build.rs.
pub const HOSTILE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/hostile.wasm"));

/// One engine for the whole test binary (compiling is the slow part).
pub fn engine() -> &'static PolicyEngine {
    static ENGINE: OnceLock<PolicyEngine> = OnceLock::new();
    ENGINE.get_or_init(|| PolicyEngine::new(EngineOptions::default()).unwrap())
}

/// Limits for tests that are not about limits: a deadline long enough that a
/// loaded CI machine descheduling the test thread cannot trip it.
pub fn relaxed() -> Limits {
    Limits {
        deadline: Duration::from_millis(500),
        ..Limits::default()
    }
}

pub fn load(name: &str, wasm: &[u8], config: serde_json::Value) -> Arc<PolicyModule> {
    Arc::new(PolicyModule::load(engine(), name, wasm, relaxed(), config).unwrap())
}

/// The hostile guest in `loop-above` mode: a call of more than
/// `max_questions` questions never returns, stopped by a 20 ms deadline.
pub fn too_slow_above(max_questions: u32) -> Arc<PolicyModule> {
    let limits = Limits {
        deadline: Duration::from_millis(20),
        ..Limits::default()
    };
    let config = serde_json::json!({"mode": "loop-above", "max_questions": max_questions});
    Arc::new(PolicyModule::load(engine(), "hostile-loop-above", HOSTILE, limits, config).unwrap())
}

pub fn accept_all() -> Arc<PolicyModule> {
    load("accept-all", builtin::ACCEPT_ALL, serde_json::json!({}))
}

pub fn client(id: u32, asn: u32, address: &str) -> ClientCtx {
    ClientCtx {
        id,
        name: format!("as{asn}"),
        asn,
        addresses: vec![address.parse().unwrap()],
        params: serde_json::json!({}),
    }
}

/// Clients 1 (AS3333, 192.0.2.1), 2 (AS6939, 192.0.2.2), 3 (AS13335, 192.0.2.3): public ASNs, since
/// rs-import rejects documentation ASNs in the AS_PATH.
pub fn clients() -> Vec<ClientCtx> {
    vec![
        client(1, 3333, "192.0.2.1"),
        client(2, 6939, "192.0.2.2"),
        client(3, 13335, "192.0.2.3"),
    ]
}

pub fn attrs(path: &[u32], next_hop: &str) -> PathAttributes {
    PathAttributes {
        origin: Some(kumo_wire::Origin::Igp),
        as_path: Some(AsPath::from(vec![AsPathSegment::Sequence(path.to_vec())])),
        next_hop: Some(next_hop.parse().unwrap()),
        ..Default::default()
    }
}

pub fn prefixes(text: &[&str]) -> Vec<IpNet> {
    text.iter().map(|p| p.parse().unwrap()).collect()
}

pub fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

pub fn is_policy_error(result: &ImportResult, module: &str) -> bool {
    matches!(result, ImportResult::Reject { code, text, policy }
        if *code == POLICY_ERROR_CODE && &**text == POLICY_ERROR_TEXT && &**policy == module)
}
