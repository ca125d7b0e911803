//! Batched import (`batch-import`): many attribute sets in one call, with
//! the verdicts one `import-routes` call per set gives; a module without
//! the interface asked set by set; a failing set failing alone.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use ipnet::IpNet;
use kumo_policy::*;
use kumo_wire::PathAttributes;

/// policies/testing/by-length (SDK: exports `batch-import`).
const BY_LENGTH: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/by_length.wasm"));
/// policies/testing/single-import (world `policy-module` only, same import rule).
const SINGLE_IMPORT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/single_import.wasm"));

fn by_length() -> Arc<PolicyModule> {
    load("by-length", BY_LENGTH, serde_json::json!({}))
}

/// The hostile guest misbehaving (`mode`) for client `victim` only.
fn hostile(mode: &str, victim: u32) -> Arc<PolicyModule> {
    load(
        "hostile",
        HOSTILE,
        serde_json::json!({"mode": mode, "victims": [victim]}),
    )
}

fn single_import() -> Arc<PolicyModule> {
    load("single-import", SINGLE_IMPORT, serde_json::json!({}))
}

fn worker() -> PolicyWorker {
    let mut worker = engine().worker();
    worker.set_clients(&clients());
    worker
}

fn with_med(med: u32, path: &[u32]) -> PathAttributes {
    PathAttributes {
        med: Some(med),
        ..attrs(path, "192.0.2.1")
    }
}

/// Sets of every kind the rule tells apart: all accepted, all rejected by
/// MED, mixed lengths in both families (too long, at the edge: tagged,
/// shorter), from three clients.
fn sets() -> (Vec<(u32, PathAttributes)>, Vec<Vec<IpNet>>) {
    let sets = vec![
        (1, with_med(10, &[3333])),
        (2, with_med(666, &[6939])),
        (3, with_med(20, &[13335, 174])),
        (1, with_med(30, &[3333, 1299])),
        (2, with_med(40, &[6939, 3356])),
    ];
    let lists = vec![
        prefixes(&["10.0.0.0/16", "10.1.0.0/20"]),
        prefixes(&["192.0.2.0/24"]),
        prefixes(&[
            "198.51.100.0/24",
            "198.51.100.0/25",
            "10.2.0.0/16",
            "2001:db8::/48",
            "2001:db8::/64",
        ]),
        prefixes(&["2001:db8:1::/32"]),
        prefixes(&["203.0.113.0/26", "203.0.113.64/26"]),
    ];
    (sets, lists)
}

fn questions<'a>(
    chain: &'a [Arc<PolicyModule>],
    sets: &'a [(u32, PathAttributes)],
    lists: &'a [Vec<IpNet>],
) -> Vec<ImportQuestion<'a>> {
    sets.iter()
        .zip(lists)
        .map(|((client, attrs), prefixes)| ImportQuestion {
            chain,
            client: *client,
            attrs,
            next_hop: None,
            prefixes,
        })
        .collect()
}

/// What `import` (one question per call) answers for each question.
fn one_by_one(worker: &mut PolicyWorker, questions: &[ImportQuestion<'_>]) -> Vec<Vec<ImportResult>> {
    questions
        .iter()
        .map(|q| {
            worker
                .import(q.chain, q.client, q.attrs, q.next_hop, q.prefixes)
                .to_vec()
        })
        .collect()
}

fn all_results(results: &[ImportVerdicts]) -> Vec<Vec<ImportResult>> {
    results.iter().map(|r| r.to_vec()).collect()
}

fn calls(module: &PolicyModule) -> u64 {
    module.stats().snapshot().calls
}

#[test]
fn one_call_answers_every_set_as_a_call_of_its_own_would() {
    let module = by_length();
    assert!(module.imports_in_batches());
    let chain = [module.clone()];
    let (sets, lists) = sets();
    let questions = questions(&chain, &sets, &lists);
    let mut worker = worker();
    let before = calls(&module);
    let batched = all_results(&worker.import_many(&questions));
    assert_eq!(calls(&module) - before, 1, "one call for five sets");
    let alone = one_by_one(&mut worker, &questions);
    assert_eq!(batched, alone);

    // The rule itself, so that equal answers are not equally wrong.
    assert!(batched[0].iter().all(ImportResult::is_accept));
    assert!(
        batched[1]
            .iter()
            .all(|r| matches!(r, ImportResult::Reject { code: 77, .. }))
    );
    let mixed = &batched[2];
    assert!(
        matches!(&mixed[0], ImportResult::Accept { modified: Some(a), preference: Some(200), .. }
        if a.communities.contains(&((65000 << 16) | 24)))
    );
    assert!(matches!(&mixed[1], ImportResult::Reject { code: 9, .. }));
    assert!(matches!(
        &mixed[2],
        ImportResult::Accept {
            modified: None,
            preference: None,
            ..
        }
    ));
    assert!(matches!(&mixed[3], ImportResult::Accept { modified: Some(a), .. }
        if a.communities.contains(&((65000 << 16) | 48))));
    assert!(matches!(&mixed[4], ImportResult::Reject { code: 9, .. }));
    assert!(
        batched[4]
            .iter()
            .all(|r| matches!(r, ImportResult::Reject { code: 9, .. }))
    );
}

#[test]
fn a_module_without_batch_import_is_asked_set_by_set_with_the_same_verdicts() {
    let legacy = single_import();
    assert!(!legacy.imports_in_batches());
    let batched_module = by_length();
    let (sets, lists) = sets();
    let mut worker = worker();

    let chain = [legacy.clone()];
    let before = calls(&legacy);
    let legacy_results = all_results(&worker.import_many(&questions(&chain, &sets, &lists)));
    assert_eq!(
        calls(&legacy) - before,
        sets.len() as u64,
        "one import-routes call per set"
    );

    let chain = [batched_module];
    let sdk_results = all_results(&worker.import_many(&questions(&chain, &sets, &lists)));
    // Same rule, written twice (WIT by hand, and the SDK): same verdicts,
    // up to the rejecting module's name.
    let unnamed = |results: Vec<Vec<ImportResult>>| -> Vec<Vec<ImportResult>> {
        results
            .into_iter()
            .map(|r| {
                r.into_iter()
                    .map(|v| match v {
                        ImportResult::Reject { code, text, .. } => ImportResult::Reject {
                            code,
                            text,
                            policy: "".into(),
                        },
                        accept => accept,
                    })
                    .collect()
            })
            .collect()
    };
    assert_eq!(unnamed(legacy_results), unnamed(sdk_results));
}

#[test]
fn a_chain_of_batched_and_unbatched_modules_sees_earlier_modifications() {
    // by-length tags /24s; accept-all passes; single-import tags them again
    // (the same community, not added twice) and rejects nothing new.
    let chain = [by_length(), accept_all(), single_import(), by_length()];
    let (sets, lists) = sets();
    let questions = questions(&chain, &sets, &lists);
    let mut worker = worker();
    let batched = all_results(&worker.import_many(&questions));
    let alone = one_by_one(&mut worker, &questions);
    assert_eq!(batched, alone);
    assert!(batched[2][0].is_accept());
}

#[test]
fn a_set_that_traps_fails_alone() {
    let hostile = hostile("panic", 3);
    let chain = [hostile.clone()];
    let (sets, lists) = sets();
    let questions = questions(&chain, &sets, &lists);
    let mut worker = worker();
    let out = worker.import_many(&questions);
    for (q, results) in out.iter().enumerate() {
        for r in results.iter() {
            if questions[q].client == 3 {
                assert!(is_policy_error(r, "hostile"), "set {q}: {r:?}");
            } else {
                assert!(r.is_accept(), "set {q}: {r:?}");
            }
        }
    }
    // The failed batch is not counted; the victim's own call is, once.
    assert_eq!(hostile.stats().snapshot().traps, 1);
}

/// The hostile guest in `mode` for client 2 answers a batch unusably: one
/// `import-many` call, then one `import-routes` call per set, whose answers
/// count (none of them invalid).
fn asked_again_set_by_set(mode: &str) -> Vec<Vec<ImportResult>> {
    let hostile = hostile(mode, 2);
    let chain = [hostile.clone()];
    let (sets, lists) = sets();
    let questions = questions(&chain, &sets, &lists);
    let mut worker = worker();
    let before = calls(&hostile);
    let out = worker.import_many(&questions);
    assert_eq!(calls(&hostile) - before, 1 + sets.len() as u64, "{mode}");
    assert_eq!(hostile.stats().snapshot().invalid_results, 0, "{mode}");
    all_results(&out)
}

#[test]
fn a_batch_missing_answers_is_asked_again_set_by_set() {
    let out = asked_again_set_by_set("wrong-count");
    assert!(out.iter().all(|r| r.iter().all(ImportResult::is_accept)));
}

#[test]
fn a_batch_naming_a_modification_it_does_not_list_is_asked_again_set_by_set() {
    // Client 2's answers name modification 1 of a list of one: the whole
    // answer is unusable, and no set may take the modification listed.
    let out = asked_again_set_by_set("bad-shared-index");
    assert!(out.iter().all(|r| {
        r.iter()
            .all(|r| matches!(r, ImportResult::Accept { modified: None, .. }))
    }));
}

#[test]
fn a_module_too_slow_for_many_sets_gets_fewer_per_call() {
    let slow = too_slow_above(8);
    let chain = [slow.clone()];
    let p = prefixes(&["8.8.8.0/24"]);
    let sets: Vec<_> = (0..40).map(|i| attrs(&[6939, 1000 + i], "192.0.2.2")).collect();
    let questions: Vec<ImportQuestion<'_>> = sets
        .iter()
        .map(|a| ImportQuestion {
            chain: &chain,
            client: 2,
            attrs: a,
            next_hop: None,
            prefixes: &p,
        })
        .collect();
    let mut worker = worker();
    let mut calls = Vec::new();
    for round in 0..3 {
        let before = slow.stats().snapshot().calls;
        let out = worker.import_many(&questions);
        calls.push(slow.stats().snapshot().calls - before);
        assert!(
            out.iter().all(|r| r.iter().all(ImportResult::is_accept)),
            "round {round}"
        );
    }
    assert_eq!(slow.stats().snapshot().deadline_hits, 0);
    // Round 1: one call of 40 (too many), then 40 alone.
    assert_eq!(calls[0], 41);
    assert!(
        calls[1] < calls[0] && calls[2] < calls[1],
        "calls per round: {calls:?}"
    );
}

#[test]
fn an_unknown_client_fails_only_its_own_set() {
    let module = by_length();
    let chain = [module.clone()];
    let (mut sets, lists) = sets();
    sets[0].0 = 99;
    let mut worker = worker();
    let out = worker.import_many(&questions(&chain, &sets, &lists));
    assert!(out[0].iter().all(|r| is_policy_error(r, "by-length")));
    assert!(out[3].iter().all(ImportResult::is_accept));
}

#[test]
fn a_call_carries_a_bounded_number_of_prefixes() {
    let module = by_length();
    let chain = [module.clone()];
    // Ten sets of 1,000 /24s: at most IMPORT_BATCH_MAX (4,096) prefixes a call.
    let all: Vec<IpNet> = (0..10_000u32)
        .map(|i| IpNet::new(std::net::Ipv4Addr::from(0x0500_0000 + (i << 8)).into(), 24).unwrap())
        .collect();
    let sets: Vec<(u32, PathAttributes)> = (0..10).map(|k| (1, with_med(k, &[3333]))).collect();
    let lists: Vec<Vec<IpNet>> = all.chunks(1000).map(<[IpNet]>::to_vec).collect();
    let questions = questions(&chain, &sets, &lists);
    let mut worker = worker();
    let before = calls(&module);
    let batched = all_results(&worker.import_many(&questions));
    assert_eq!(calls(&module) - before, 3, "4 + 4 + 2 sets");
    assert_eq!(batched, one_by_one(&mut worker, &questions));
    assert!(batched.iter().flatten().all(|r| matches!(
        r,
        ImportResult::Accept {
            modified: Some(_),
            ..
        }
    )));
}

#[test]
fn a_failed_batch_is_reported_once_through_its_failing_set() {
    let hostile = hostile("panic", 3);
    let chain = [hostile];
    let (sets, lists) = sets();
    let questions = questions(&chain, &sets, &lists);
    let reported = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut worker = worker();
    worker.set_observer({
        let reported = reported.clone();
        Arc::new(move |_: &str, _: Duration, failure: Option<FailureKind>| {
            reported.lock().unwrap().push(failure);
        })
    });
    worker.import_many(&questions);
    let reported = reported.lock().unwrap();
    let failures: Vec<_> = reported.iter().flatten().collect();
    // The batch's failure is not reported; its sets' own calls are (5).
    assert_eq!(failures, [&FailureKind::Trap], "{reported:?}");
    assert_eq!(reported.len(), sets.len());
}

#[test]
fn a_module_failing_in_every_batch_gets_fewer_sets_per_call() {
    let hostile = hostile("panic", 3);
    let chain = [hostile.clone()];
    let (sets, lists) = sets();
    let questions = questions(&chain, &sets, &lists);
    let mut worker = worker();
    let mut calls = Vec::new();
    for _ in 0..2 {
        let before = hostile.stats().snapshot().calls;
        let out = worker.import_many(&questions);
        calls.push(hostile.stats().snapshot().calls - before);
        assert!(out[2].iter().all(|r| is_policy_error(r, "hostile")));
        assert!(out[4].iter().all(ImportResult::is_accept));
    }
    // Round 1: a batch of five (it traps), then five alone; round 2: one
    // set a call, no batch to fail.
    assert_eq!(calls, [6, 5]);
}

/// Counts the guest log lines kumo writes (target `kumo_policy::guest`).
struct GuestLines(Arc<std::sync::atomic::AtomicUsize>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for GuestLines {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target() == "kumo_policy::guest" {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

#[test]
fn a_call_logs_at_most_the_cap_times_its_questions() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tracing_subscriber::layer::SubscriberExt;

    // 100 lines per question; 3 allowed per call of one question, 3 times
    // the questions for an import-many call (one budget for the call).
    let limits = Limits {
        max_log_lines: 3,
        ..relaxed()
    };
    let chatty = Arc::new(
        PolicyModule::load(
            engine(),
            "chatty",
            HOSTILE,
            limits,
            serde_json::json!({"mode": "chatty"}),
        )
        .unwrap(),
    );
    assert!(chatty.imports_in_batches());
    let chain = [chatty.clone()];
    let (sets, lists) = sets();
    let questions = questions(&chain, &sets, &lists);
    let lines = Arc::new(AtomicUsize::new(0));
    let subscriber = tracing_subscriber::registry().with(GuestLines(lines.clone()));
    tracing::subscriber::with_default(subscriber, || {
        let mut worker = worker();
        let q = &questions[0];
        worker.import(q.chain, q.client, q.attrs, q.next_hop, q.prefixes);
        assert_eq!(
            lines.swap(0, Ordering::Relaxed),
            3,
            "one question in a call of its own"
        );
        worker.import(q.chain, q.client, q.attrs, q.next_hop, q.prefixes);
        assert_eq!(
            lines.swap(0, Ordering::Relaxed),
            3,
            "the count starts again each call"
        );

        let before = calls(&chatty);
        let out = worker.import_many(&questions);
        assert_eq!(calls(&chatty) - before, 1, "one import-many call");
        assert_eq!(
            lines.load(Ordering::Relaxed),
            3 * sets.len(),
            "{} questions in one call",
            sets.len()
        );
        assert!(out.iter().all(|r| r.iter().all(ImportResult::is_accept)));
    });
}
