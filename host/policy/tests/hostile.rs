//! Hostile guests: whatever a module does, the host keeps running, that
//! call's routes are rejected with "policy error" (or sent to no one), the
//! failure is counted by kind, and other clients — on a healthy module and on
//! the same module — keep working.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use kumo_policy::*;

/// Client 1 is the victim; the module behaves for clients 2 and 3.
fn hostile(mode: &str, limits: Limits) -> Arc<PolicyModule> {
    let config = serde_json::json!({"mode": mode, "victims": [1]});
    Arc::new(PolicyModule::load(engine(), &format!("hostile-{mode}"), HOSTILE, limits, config).unwrap())
}

/// Run the hostile import for client 1, then check the fallout.
fn import_fails_closed(mode: &str, limits: Limits, kind: FailureKind) {
    let bad = hostile(mode, limits);
    let good = accept_all();
    let mut worker = engine().worker();
    worker.set_clients(&clients());
    let p = prefixes(&["8.8.8.0/24", "9.9.9.0/24", "2a00:1450::/32"]);

    let started = Instant::now();
    let out = worker.import(
        std::slice::from_ref(&bad),
        1,
        &attrs(&[3333], "192.0.2.1"),
        None,
        &p,
    );
    let took = started.elapsed();
    assert_eq!(out.len(), 3);
    for r in out.iter() {
        assert!(is_policy_error(r, bad.name()), "{mode}: {r:?}");
    }
    assert!(took < Duration::from_secs(2), "{mode}: took {took:?}");

    let stats = bad.stats().snapshot();
    let counted = match kind {
        FailureKind::Trap => stats.traps,
        FailureKind::Deadline => stats.deadline_hits,
        FailureKind::Memory => stats.memory_hits,
        FailureKind::InvalidResult => stats.invalid_results,
    };
    assert_eq!(counted, 1, "{mode}: {stats:?}");
    let total = stats.traps + stats.deadline_hits + stats.memory_hits + stats.invalid_results;
    assert_eq!(total, 1, "{mode}: counted under exactly one kind: {stats:?}");
    assert_eq!(stats.rejects, 3);

    // Another client on a healthy module, in the same worker.
    let out = worker.import(
        std::slice::from_ref(&good),
        2,
        &attrs(&[6939], "192.0.2.2"),
        None,
        &p,
    );
    assert!(out.iter().all(ImportResult::is_accept), "{mode}: {out:?}");
    // Another client on the same module (a fresh instance after a trap).
    let out = worker.import(
        std::slice::from_ref(&bad),
        2,
        &attrs(&[6939], "192.0.2.2"),
        None,
        &p,
    );
    assert!(out.iter().all(ImportResult::is_accept), "{mode}: {out:?}");
    // And the victim again: still fails closed, still counted.
    let out = worker.import(
        &[bad.clone(), good.clone()],
        1,
        &attrs(&[3333], "192.0.2.1"),
        None,
        &p,
    );
    assert!(
        out.iter().all(|r| is_policy_error(r, bad.name())),
        "{mode}: {out:?}"
    );
    assert_eq!(
        good.stats().snapshot().routes,
        3,
        "{mode}: nothing reached the next module after a failure"
    );
}

#[test]
fn infinite_loop_stops_at_the_deadline() {
    let limits = Limits {
        deadline: Duration::from_millis(20),
        ..Limits::default()
    };
    let bad = hostile("loop", limits.clone());
    let mut worker = engine().worker();
    worker.set_clients(&clients());
    let started = Instant::now();
    let out = worker.import(
        &[bad],
        1,
        &attrs(&[3333], "192.0.2.1"),
        None,
        &prefixes(&["8.8.8.0/24"]),
    );
    let took = started.elapsed();
    assert!(is_policy_error(&out[0], "hostile-loop"));
    // Stopped between the deadline and deadline + one tick (plus scheduling slack).
    assert!(
        took >= Duration::from_millis(19) && took < Duration::from_millis(500),
        "took {took:?}"
    );
    import_fails_closed("loop", limits, FailureKind::Deadline);
}

#[test]
fn memory_bomb_stops_at_the_cap() {
    import_fails_closed(
        "memory",
        Limits {
            max_memory: 8 << 20,
            // Generous, so that only the cap can stop it even on a loaded machine.
            deadline: Duration::from_secs(1),
            ..Limits::default()
        },
        FailureKind::Memory,
    );
}

#[test]
fn panic_traps() {
    import_fails_closed("panic", relaxed(), FailureKind::Trap);
}

#[test]
fn wrong_length_verdict_list_is_refused() {
    import_fails_closed("wrong-length", relaxed(), FailureKind::InvalidResult);
}

#[test]
fn out_of_range_outcome_index_is_refused() {
    import_fails_closed("bad-index", relaxed(), FailureKind::InvalidResult);
}

#[test]
fn export_failures_send_to_no_one() {
    for (mode, kind) in [
        ("loop", FailureKind::Deadline),
        ("panic", FailureKind::Trap),
        ("bad-bitmap", FailureKind::InvalidResult),
    ] {
        let bad = hostile(
            mode,
            Limits {
                deadline: Duration::from_millis(100),
                ..Limits::default()
            },
        );
        let mut worker = engine().worker();
        worker.set_clients(&clients());
        let p = prefixes(&["8.8.8.0/24"]);
        let out = worker.export(
            std::slice::from_ref(&bad),
            1,
            &attrs(&[3333], "192.0.2.1"),
            &p[0],
            &[2, 3],
        );
        assert_eq!(out.receivers.count(), 0, "{mode}");
        assert_eq!(
            out.failure.as_ref().map(|f| f.kind),
            Some(kind),
            "{mode}: {:?}",
            out.failure
        );
        // Source 2 is not a victim: the same module exports its route to everyone.
        let out = worker.export(
            std::slice::from_ref(&bad),
            2,
            &attrs(&[6939], "192.0.2.2"),
            &p[0],
            &[1, 3],
        );
        assert_eq!(out.receivers.count(), 2, "{mode}: {:?}", out.failure);
    }
}

#[test]
fn hostile_start_up_is_refused_at_load() {
    let e = engine();
    let load = |mode: &str| {
        let limits = Limits {
            deadline: Duration::from_millis(100),
            ..Limits::default()
        };
        PolicyModule::load(e, mode, HOSTILE, limits, serde_json::json!({"mode": mode})).unwrap_err()
    };
    assert!(
        matches!(load("init-error"), PolicyError::ConfigRefused { module, .. } if module == "init-error")
    );
    assert!(
        matches!(load("self-test-error"), PolicyError::SelfTest { module, .. } if module == "self-test-error")
    );
    let err = load("init-loop");
    assert!(
        matches!(&err, PolicyError::Instantiate { module, kind: FailureKind::Deadline, .. } if module == "init-loop"),
        "{err}"
    );
}
