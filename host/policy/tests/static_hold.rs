//! Static-hold modules through wasmtime: the embedded standard module decides
//! from the maintenance window, and a failing module fails closed (withdraw).

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use kumo_policy::static_hold::{GRACEFUL_SHUTDOWN, LLGR_STALE};
use kumo_policy::*;

/// The misbehaving static-hold guest (policies/testing/hostile-hold).
const HOSTILE_HOLD: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/hostile_hold.wasm"));

fn standard(config: serde_json::Value) -> StaticHoldModule {
    StaticHoldModule::load(engine(), "static-hold", builtin::STATIC_HOLD, relaxed(), config).unwrap()
}

fn loss(id: u32, reason: LossReason) -> SessionLoss {
    SessionLoss {
        client_id: id,
        client_name: format!("client{id}"),
        asn: 64500 + id,
        reason,
        window: None,
        graceful_restart: None,
        routes_ipv4: 120,
        routes_ipv6: 30,
    }
}

const SHUTDOWN_RECEIVED: LossReason = LossReason::NotificationReceived { code: 6, subcode: 2 };

#[test]
fn window_holds_for_the_remaining_seconds() {
    let module = standard(serde_json::json!({}));
    for reason in [
        LossReason::ConnectionLost,
        SHUTDOWN_RECEIVED,
        LossReason::Other("bfd down".into()),
    ] {
        let event = SessionLoss {
            window: Some(437),
            ..loss(1, reason.clone())
        };
        assert_eq!(
            module.decide(&event),
            Ok(HoldDecision::Hold {
                seconds: 437,
                marking: Marking::None
            }),
            "{reason:?}"
        );
    }
    assert_eq!(
        module
            .hold_stats()
            .holds
            .load(std::sync::atomic::Ordering::Relaxed),
        3
    );
}

#[test]
fn no_window_withdraws() {
    let module = standard(serde_json::json!({}));
    for reason in [
        LossReason::ConnectionLost,
        LossReason::HoldTimerExpired,
        LossReason::AdminShutdown,
        LossReason::NotificationSent { code: 6, subcode: 1 },
        SHUTDOWN_RECEIVED,
    ] {
        assert_eq!(
            module.decide(&loss(2, reason.clone())),
            Ok(HoldDecision::WithdrawNow),
            "{reason:?}"
        );
    }
}

#[test]
fn configuration_reaches_the_module() {
    // Every field of the event crosses the boundary: GR (left to GR by
    // default), the window (cut to max_seconds), the reason with its codes.
    let gr = SessionLoss {
        window: Some(600),
        graceful_restart: Some(120),
        ..loss(3, LossReason::ConnectionLost)
    };
    assert_eq!(
        standard(serde_json::json!({})).decide(&gr),
        Ok(HoldDecision::WithdrawNow)
    );
    let module = standard(serde_json::json!({
        "mode": "always", "max_seconds": 300, "marking": "llgr-stale", "hold_on_gr": true,
        "reasons": ["connection-lost", "notification-received:6"],
    }));
    assert_eq!(
        module.decide(&gr),
        Ok(HoldDecision::Hold {
            seconds: 300,
            marking: Marking::LlgrStale
        })
    );
    let reset = LossReason::NotificationReceived { code: 6, subcode: 4 };
    assert_eq!(module.decide(&loss(3, reset)).map(|d| d.seconds()), Ok(300));
    // Outside a window, the client's own Administrative Shutdown does not hold.
    assert_eq!(
        module.decide(&loss(3, SHUTDOWN_RECEIVED)),
        Ok(HoldDecision::WithdrawNow)
    );
    assert_eq!(
        module.decide(&loss(3, LossReason::HoldTimerExpired)),
        Ok(HoldDecision::WithdrawNow)
    );

    let marked = standard(serde_json::json!({"marking": "graceful-shutdown"}));
    let d = marked.decide(&SessionLoss {
        window: Some(5),
        ..loss(4, LossReason::ConnectionLost)
    });
    assert_eq!(
        d,
        Ok(HoldDecision::Hold {
            seconds: 5,
            marking: Marking::GracefulShutdown
        })
    );
    assert_eq!(Marking::GracefulShutdown.community(), Some(GRACEFUL_SHUTDOWN));
    assert_eq!(Marking::LlgrStale.community(), Some(LLGR_STALE));
}

#[test]
fn bad_configuration_is_refused_at_load() {
    let err = StaticHoldModule::load(
        engine(),
        "sh",
        builtin::STATIC_HOLD,
        relaxed(),
        serde_json::json!({"mode": "sometimes"}),
    )
    .unwrap_err();
    assert!(
        matches!(&err, PolicyError::ConfigRefused { module, message } if module == "sh" && message.contains("sometimes")),
        "{err}"
    );
}

#[test]
fn worlds_are_not_interchangeable() {
    let err = StaticHoldModule::load(
        engine(),
        "aa",
        builtin::ACCEPT_ALL,
        relaxed(),
        serde_json::json!({}),
    )
    .unwrap_err();
    assert!(
        matches!(&err, PolicyError::WrongWorld { module, world, .. }
            if module == "aa" && *world == "kumo:policy/static-hold-module@0.1.0"),
        "{err}"
    );
    let err = PolicyModule::load(
        engine(),
        "sh",
        builtin::STATIC_HOLD,
        relaxed(),
        serde_json::json!({}),
    )
    .unwrap_err();
    assert!(
        matches!(&err, PolicyError::WrongWorld { world, .. } if *world == "kumo:policy/policy-module@0.1.0"),
        "{err}"
    );
}

#[test]
fn the_standard_component_exports_only_static_hold() {
    // The SDK links the policy world's import glue into static-hold modules;
    // its exports must not leak in.
    let engine = wasmtime::Engine::default();
    let component = wasmtime::component::Component::new(&engine, builtin::STATIC_HOLD).unwrap();
    let ty = component.component_type();
    let exports: Vec<&str> = ty.exports(&engine).map(|(name, _)| name).collect();
    assert_eq!(exports, ["kumo:policy/static-hold@0.1.0"]);
    for (import, _) in ty.imports(&engine) {
        assert!(
            import.starts_with("kumo:policy/") || import.starts_with("wasi:"),
            "{import}"
        );
    }
}

fn hostile(mode: &str, limits: Limits) -> StaticHoldModule {
    StaticHoldModule::load(
        engine(),
        &format!("hostile-hold-{mode}"),
        HOSTILE_HOLD,
        limits,
        serde_json::json!({"mode": mode}),
    )
    .unwrap()
}

/// A failing call is an error (the caller withdraws), counted by kind; the
/// next call gets a fresh instance.
fn fails_closed(mode: &str, limits: Limits, kind: FailureKind) {
    let module = hostile(mode, limits);
    let started = Instant::now();
    let failure = module.decide(&loss(1, LossReason::ConnectionLost)).unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{mode}: took {:?}",
        started.elapsed()
    );
    assert_eq!(failure.kind, kind, "{mode}: {failure}");
    assert_eq!(failure.module, format!("hostile-hold-{mode}"));
    assert_eq!(
        module.decide_or_withdraw(&SessionLoss {
            window: Some(600),
            ..loss(1, LossReason::ConnectionLost)
        }),
        HoldDecision::WithdrawNow,
        "{mode}"
    );
    let stats = module.stats().snapshot();
    let counted = match kind {
        FailureKind::Trap => stats.traps,
        FailureKind::Deadline => stats.deadline_hits,
        FailureKind::Memory => stats.memory_hits,
        FailureKind::InvalidResult => stats.invalid_results,
    };
    assert_eq!(counted, 2, "{mode}: {stats:?}");
    assert_eq!(stats.calls, 2);
    // Client 0 gets the well-behaved answer, from a fresh instance.
    assert_eq!(
        module.decide(&loss(0, LossReason::ConnectionLost)),
        Ok(HoldDecision::Hold {
            seconds: 999,
            marking: Marking::GracefulShutdown
        }),
        "{mode}"
    );
    assert_eq!(
        module.stats().snapshot().instantiations,
        3,
        "{mode}: load, then one after each failure"
    );
    let holds = module.hold_stats();
    assert_eq!(holds.withdraws.load(std::sync::atomic::Ordering::Relaxed), 2);
    assert_eq!(holds.holds.load(std::sync::atomic::Ordering::Relaxed), 1);
}

#[test]
fn trapping_module_withdraws() {
    fails_closed("panic", relaxed(), FailureKind::Trap);
}

#[test]
fn looping_module_withdraws_at_the_deadline() {
    let limits = Limits {
        deadline: Duration::from_millis(50),
        ..Limits::default()
    };
    fails_closed("loop", limits, FailureKind::Deadline);
}

#[test]
fn memory_hungry_module_withdraws() {
    let limits = Limits {
        max_memory: 4 << 20,
        ..relaxed()
    };
    fails_closed("memory", limits, FailureKind::Memory);
}

#[test]
fn well_behaved_hostile_guest_holds() {
    // The control for the tests above: the same guest, no misbehaviour.
    let module = hostile("hold", relaxed());
    assert_eq!(
        module
            .decide(&loss(1, LossReason::ConnectionLost))
            .map(|d| d.seconds()),
        Ok(999)
    );
    let err = StaticHoldModule::load(
        engine(),
        "ie",
        HOSTILE_HOLD,
        relaxed(),
        serde_json::json!({"mode": "init-error"}),
    )
    .unwrap_err();
    assert!(
        matches!(&err, PolicyError::ConfigRefused { module, .. } if module == "ie"),
        "{err}"
    );
}
