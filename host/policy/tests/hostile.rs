//! Hostile guests: whatever a module does, the host keeps running, that
//! call's routes are rejected with "policy error" (or sent to no one), the
//! failure is counted by kind, and other clients — on a healthy module and on
//! the same module — keep working.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;
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
    // Stopped between the deadline and deadline + two ticks (CPU time counts
    // from the first tick), plus scheduling slack.
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
        ("bad-index", FailureKind::InvalidResult),
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

/// A component of kumo's policy world that also imports `kumo:extra/thing`
/// (policies/testing/hostile-import), built by build.rs with the rest of the
/// policies workspace into `<target>/wasm`.
fn hostile_import_wasm() -> Vec<u8> {
    let out_dir = PathBuf::from(env!("OUT_DIR"));
    let target = out_dir
        .ancestors()
        .find(|dir| dir.file_name().is_some_and(|name| name == "build"))
        .and_then(|build| build.parent())
        .and_then(|profile| profile.parent())
        .map(PathBuf::from)
        .unwrap();
    let path = target.join("wasm/wasm32-wasip2/release/kumo_policy_hostile_import.wasm");
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn a_module_importing_what_kumo_does_not_offer_is_refused_at_load() {
    let err = PolicyModule::load(
        engine(),
        "needs-more",
        &hostile_import_wasm(),
        relaxed(),
        serde_json::json!({}),
    )
    .unwrap_err();
    assert!(
        matches!(&err, PolicyError::UnsupportedImport { module, import }
            if module == "needs-more" && import.starts_with("kumo:extra/thing")),
        "{err:?}"
    );
    // The message an operator sees names the module and the import.
    let text = err.to_string();
    assert!(
        text.contains("\"needs-more\"") && text.contains("kumo:extra/thing"),
        "{text}"
    );
}

#[test]
fn a_component_of_another_world_is_refused_at_load() {
    // The static-hold module is a real component, of kumo's other world.
    let err = PolicyModule::load(
        engine(),
        "not-a-policy",
        builtin::STATIC_HOLD,
        relaxed(),
        serde_json::json!({}),
    )
    .unwrap_err();
    assert!(
        matches!(&err, PolicyError::WrongWorld { module, world, .. }
            if module == "not-a-policy" && *world == "kumo:policy/policy-module@0.1.0"),
        "{err:?}"
    );
    assert!(err.to_string().contains("does not implement world"), "{err}");
    // And the other way round: a policy module is no static-hold module.
    let err = StaticHoldModule::load(
        engine(),
        "not-a-hold",
        builtin::ACCEPT_ALL,
        relaxed(),
        serde_json::json!({}),
    )
    .unwrap_err();
    assert!(
        matches!(&err, PolicyError::WrongWorld { module, .. } if module == "not-a-hold"),
        "{err:?}"
    );
    // Bytes that are no component at all (a bare core module header, text).
    for (what, bytes) in [
        ("core module", &b"\0asm\x01\0\0\0"[..]),
        ("text", &b"(component)"[..]),
    ] {
        let err = PolicyModule::load(engine(), what, bytes, relaxed(), serde_json::json!({})).unwrap_err();
        assert!(
            matches!(&err, PolicyError::Compile { module, .. } if module == what),
            "{what}: {err:?}"
        );
    }
}

#[test]
fn using_wasi_for_real_traps_at_call_time() {
    // Guests built with std import some wasi:* interfaces, so they load; kumo
    // links every one of them as a trap, so real use fails the call closed.
    for mode in ["sockets", "files"] {
        import_fails_closed(mode, relaxed(), FailureKind::Trap);
    }
}

#[test]
fn state_growing_across_calls_is_contained_by_the_memory_cap() {
    const CAP: usize = 8 << 20;
    let bad = Arc::new(
        PolicyModule::load(
            engine(),
            "hostile-grow",
            HOSTILE,
            Limits {
                max_memory: CAP,
                deadline: Duration::from_secs(1),
                ..Limits::default()
            },
            serde_json::json!({"mode": "grow", "victims": [1], "grow_kib": 1024}),
        )
        .unwrap(),
    );
    let mut worker = engine().worker();
    worker.set_clients(&clients());
    let p = prefixes(&["8.8.8.0/24", "9.9.9.0/24"]);
    let mut call = || {
        worker.import(
            std::slice::from_ref(&bad),
            1,
            &attrs(&[3333], "192.0.2.1"),
            None,
            &p,
        )
    };

    // Each call keeps 1 MiB: some calls pass, then one hits the 8 MiB cap.
    let mut outcomes = Vec::new();
    for _ in 0..40 {
        let out = call();
        let accepted = out.iter().all(ImportResult::is_accept);
        if !accepted {
            assert!(out.iter().all(|r| is_policy_error(r, "hostile-grow")), "{out:?}");
        }
        outcomes.push(accepted);
    }
    let first_failure = outcomes.iter().position(|ok| !ok).unwrap();
    assert!(
        (2..8).contains(&first_failure),
        "1 MiB per call under an 8 MiB cap: {outcomes:?}"
    );
    // After each failure the instance is replaced: the next call passes again,
    // and the cycle repeats with the same period (fresh state every time).
    let failures: Vec<usize> = outcomes
        .iter()
        .enumerate()
        .filter(|(_, ok)| !**ok)
        .map(|(i, _)| i)
        .collect();
    assert!(failures.len() >= 4, "{outcomes:?}");
    for pair in failures.windows(2) {
        assert_eq!(
            pair[1] - pair[0],
            first_failure + 1,
            "a fresh instance after every failure: {outcomes:?}"
        );
    }
    let stats = bad.stats().snapshot();
    assert_eq!(stats.memory_hits, failures.len() as u64, "{stats:?}");
    assert_eq!(
        stats.traps + stats.deadline_hits + stats.invalid_results,
        0,
        "{stats:?}"
    );
    // One instance to begin with, one more after every failure.
    assert_eq!(stats.instantiations, failures.len() as u64 + 1, "{stats:?}");
    println!(
        "grow: 1 MiB per call, cap {} MiB: fails every {} calls, {} failures in 40 calls, {stats:?}",
        CAP >> 20,
        first_failure + 1,
        failures.len()
    );
}

/// One call answers many questions; when it fails because of one question,
/// each is asked again alone, so only that question's route goes to no one.
#[test]
fn a_failing_question_in_a_batch_costs_only_its_own_route() {
    for (mode, kind) in [
        ("loop", FailureKind::Deadline),
        ("panic", FailureKind::Trap),
        ("wrong-count", FailureKind::InvalidResult),
        ("bad-index", FailureKind::InvalidResult),
    ] {
        let bad = hostile(
            mode,
            Limits {
                deadline: Duration::from_millis(20),
                ..Limits::default()
            },
        );
        let mut worker = engine().worker();
        worker.set_clients(&clients());
        let p = prefixes(&["8.8.8.0/24", "9.9.9.0/24"]);
        let (a2, a1, a3) = (
            attrs(&[6939], "192.0.2.2"),
            attrs(&[3333], "192.0.2.1"),
            attrs(&[174], "192.0.2.3"),
        );
        let question = |source, attrs, targets| ExportQuestion {
            source,
            attrs,
            prefixes: &p,
            targets,
        };
        // Client 1 (the victim) in the middle of the batch.
        let questions = [
            question(2, &a2, &[1, 3]),
            question(1, &a1, &[2, 3]),
            question(3, &a3, &[1, 2]),
        ];
        let calls_before = bad.stats().snapshot().calls;
        let out = worker.export_batch(std::slice::from_ref(&bad), &questions);
        assert_eq!(out.len(), 3, "{mode}");
        for (n, results) in out.iter().enumerate() {
            for i in 0..p.len() {
                let result = results.get(i).unwrap();
                if n == 1 {
                    assert_eq!(result.receivers.count(), 0, "{mode}: the victim's route");
                    assert_eq!(result.failure.as_ref().map(|f| f.kind), Some(kind), "{mode}");
                } else {
                    assert_eq!(
                        result.receivers.count(),
                        2,
                        "{mode}: question {n}: {:?}",
                        result.failure
                    );
                    assert!(result.failure.is_none(), "{mode}");
                }
            }
        }
        let stats = bad.stats().snapshot();
        let calls = stats.calls - calls_before;
        // bad-index is a malformed verdict for one question: the batch's
        // other answers stand, no retry. The others fail the whole call.
        let expected = if mode == "bad-index" { 1 } else { 4 };
        assert_eq!(calls, expected, "{mode}: calls");
        // Only the victim's own failure is counted (the failed batch is not),
        // and every route once.
        let failures = stats.traps + stats.deadline_hits + stats.memory_hits + stats.invalid_results;
        assert_eq!(failures, 1, "{mode}: {stats:?}");
        assert_eq!(stats.routes, 6, "{mode}: {stats:?}");
    }
}

/// A module too slow to answer many questions in one call's time (here: it
/// never returns from a call of more than 8): its failed calls are not
/// counted, every question is answered alone, and its next calls carry
/// fewer questions instead of failing the same way again.
#[test]
fn a_module_too_slow_for_many_questions_gets_fewer_per_call() {
    let slow = too_slow_above(8);
    let mut worker = engine().worker();
    worker.set_clients(&clients());
    let p = prefixes(&["8.8.8.0/24"]);
    let sets: Vec<_> = (0..40).map(|i| attrs(&[6939, 1000 + i], "192.0.2.2")).collect();
    let questions: Vec<ExportQuestion<'_>> = sets
        .iter()
        .map(|a| ExportQuestion {
            source: 2,
            attrs: a,
            prefixes: &p,
            targets: &[1, 3],
        })
        .collect();
    let mut calls = Vec::new();
    for round in 0..3 {
        let before = slow.stats().snapshot().calls;
        let out = worker.export_batch(std::slice::from_ref(&slow), &questions);
        calls.push(slow.stats().snapshot().calls - before);
        for results in &out {
            let r = results.get(0).unwrap();
            assert_eq!(r.receivers.count(), 2, "round {round}: {:?}", r.failure);
        }
    }
    let stats = slow.stats().snapshot();
    assert_eq!(stats.deadline_hits, 0, "{stats:?}");
    // Round 1: one call of 40 (too many), then 40 alone.
    assert_eq!(calls[0], 41);
    // Later rounds: fewer questions per call, so fewer calls than that.
    assert!(
        calls[1] < calls[0] && calls[2] < calls[1],
        "calls per round: {calls:?}"
    );
}
