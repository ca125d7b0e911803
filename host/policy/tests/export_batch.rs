//! Batched export (`export-routes`): one call for the prefixes of an
//! attribute set, per-prefix verdicts through the SDK's glue, classes of
//! prefixes parting ways down a chain, and the same answers as one call per
//! prefix.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use common::*;
use kumo_policy::*;

/// policies/testing/by-length: export by prefix length (see its docs).
const BY_LENGTH: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/by_length.wasm"));

fn by_length() -> Arc<PolicyModule> {
    load("by-length", BY_LENGTH, serde_json::json!({}))
}

/// Targets: client 2 (AS6939, odd: prepended on /24 and /48) and client 4 (AS174, even).
const TARGETS: [u32; 2] = [2, 4];

fn worker() -> PolicyWorker {
    let mut worker = engine().worker();
    let mut all = clients();
    all.push(client(4, 174, "192.0.2.4"));
    worker.set_clients(&all);
    worker
}

fn path_len(result: &ExportResult, target: usize) -> Option<usize> {
    result
        .modified_for(target)
        .and_then(|a| a.as_path.as_ref())
        .map(|p| p.segments().map(|s| s.asns().len()).sum())
}

/// One question per `(source, attributes, targets)` set, with its list of prefixes.
fn questions<'a>(
    sets: &'a [(u32, kumo_wire::PathAttributes, &'a [u32])],
    lists: &'a [Vec<ipnet::IpNet>],
) -> Vec<ExportQuestion<'a>> {
    sets.iter()
        .zip(lists)
        .map(|((source, attrs, targets), prefixes)| ExportQuestion {
            source: *source,
            attrs,
            prefixes,
            targets,
        })
        .collect()
}

#[test]
fn one_call_answers_each_prefix_by_its_own_verdict() {
    let chain = [by_length()];
    let mut worker = worker();
    let p = prefixes(&[
        "11.0.0.0/24",
        "11.0.1.0/25",
        "11.0.0.0/16",
        "11.0.2.0/24",
        "2001:db8::/48",
        "2001:db8::/64",
    ]);
    let attrs = attrs(&[3333, 1299], "192.0.2.1");
    let calls_before = chain[0].stats().snapshot().calls;
    let out = worker.export_many(&chain, 1, &attrs, &p, &TARGETS);
    assert_eq!(
        chain[0].stats().snapshot().calls - calls_before,
        1,
        "one call for the batch"
    );
    assert_eq!(out.len(), 6);
    let r = |i: usize| out.get(i).unwrap();
    // Longer than /24 or /48: no one.
    assert_eq!(r(1).receivers.count(), 0);
    assert_eq!(r(5).receivers.count(), 0);
    // Shorter: everyone, unchanged.
    assert_eq!(r(2).receivers.count(), 2);
    assert!(r(2).modified.is_empty());
    // Exactly /24 or /48: everyone, the odd-ASN target with two more ASNs.
    for i in [0, 3, 4] {
        assert_eq!(r(i).receivers.count(), 2, "prefix {i}");
        assert_eq!(path_len(r(i), 0), Some(4), "prefix {i}");
        assert_eq!(path_len(r(i), 1), None, "prefix {i}");
    }
    // Equal verdicts share one result.
    assert_eq!(out.result_index(0), out.result_index(3));
    assert_eq!(out.result_index(1), out.result_index(5));
    assert!(out.distinct().len() <= 4);
    // The same answers as one call per prefix.
    for (i, prefix) in p.iter().enumerate() {
        let single = worker.export(&chain, 1, &attrs, prefix, &TARGETS);
        assert_eq!(single.receivers, r(i).receivers, "prefix {prefix}");
        assert_eq!(
            single.modified_targets().len(),
            r(i).modified_targets().len(),
            "prefix {prefix}"
        );
        for ((t1, a1), (t2, a2)) in single.modified_targets().into_iter().zip(r(i).modified_targets()) {
            assert_eq!((t1, &**a1), (t2, &**a2), "prefix {prefix}");
        }
    }
}

#[test]
fn classes_part_ways_down_a_chain() {
    // The second module sees what the first did: for the odd-ASN target the
    // path is prepended twice more on /24s; the /25 never reaches it.
    let chain = [by_length(), accept_all(), by_length()];
    let mut worker = worker();
    let p = prefixes(&["11.0.0.0/24", "11.0.1.0/25", "11.0.0.0/16"]);
    let out = worker.export_many(&chain, 1, &attrs(&[3333], "192.0.2.1"), &p, &TARGETS);
    let r = |i: usize| out.get(i).unwrap();
    assert_eq!(path_len(r(0), 0), Some(5));
    assert_eq!(path_len(r(0), 1), None);
    assert_eq!(r(0).receivers.count(), 2);
    assert_eq!(r(1).receivers.count(), 0);
    assert_eq!((r(2).receivers.count(), r(2).modified.len()), (2, 0));
    assert!(r(0).failure.is_none() && r(1).failure.is_none());
}

#[test]
fn batches_beyond_the_call_limit_are_sliced() {
    let chain = [by_length()];
    let mut worker = worker();
    let n = EXPORT_BATCH_MAX + 904;
    let p: Vec<ipnet::IpNet> = (0..n as u32)
        .map(|i| {
            let len = if i % 2 == 0 { 24 } else { 25 };
            ipnet::IpNet::new(std::net::Ipv4Addr::from(0x0b00_0000 + (i << 8)).into(), len).unwrap()
        })
        .collect();
    let out = worker.export_many(&chain, 1, &attrs(&[3333], "192.0.2.1"), &p, &TARGETS);
    assert_eq!(out.len(), n);
    for i in 0..n {
        let expected = if i % 2 == 0 { 2 } else { 0 };
        assert_eq!(out.get(i).unwrap().receivers.count(), expected, "prefix {i}");
    }
}

#[test]
fn a_malformed_batch_answer_sends_to_no_one() {
    // `bad-index` answers a verdict index past its table for source 1.
    let bad = Arc::new(
        PolicyModule::load(
            engine(),
            "hostile-bad-index",
            HOSTILE,
            relaxed(),
            serde_json::json!({"mode": "bad-index", "victims": [1]}),
        )
        .unwrap(),
    );
    let chain = [bad];
    let mut worker = worker();
    let p = prefixes(&["11.0.0.0/24", "11.0.1.0/24"]);
    let out = worker.export_many(&chain, 1, &attrs(&[3333], "192.0.2.1"), &p, &TARGETS);
    for i in 0..2 {
        let r = out.get(i).unwrap();
        assert_eq!(r.receivers.count(), 0);
        assert_eq!(
            r.failure.as_ref().map(|f| f.kind),
            Some(FailureKind::InvalidResult)
        );
    }
    // Another source is served by the same module.
    let out = worker.export_many(&chain, 2, &attrs(&[6939], "192.0.2.2"), &p, &[1, 4]);
    assert!((0..2).all(|i| out.get(i).unwrap().receivers.count() == 2));
}

/// Many questions (attribute sets, sources, prefixes) in one call per
/// module: the same answers as one question per call.
#[test]
fn many_questions_in_one_call_answer_as_one_question_per_call() {
    let chain = [by_length(), accept_all(), by_length()];
    let mut worker = worker();
    let sets = [
        (1, attrs(&[3333], "192.0.2.1"), &TARGETS[..]),
        (2, attrs(&[6939, 1299], "192.0.2.2"), &[1, 4][..]),
        (1, attrs(&[3333, 3333], "192.0.2.1"), &TARGETS[..]),
        (4, attrs(&[174], "192.0.2.4"), &[1, 2][..]),
    ];
    let lists = [
        prefixes(&["11.0.0.0/24", "11.0.1.0/25", "11.0.0.0/16"]),
        prefixes(&["2001:db8::/48", "2001:db8::/64"]),
        prefixes(&["12.0.0.0/8"]),
        prefixes(&["13.0.0.0/24", "13.0.0.0/24", "13.0.0.0/23", "2001:db8:1::/48"]),
    ];
    let questions = questions(&sets, &lists);
    let calls = |chain: &[Arc<PolicyModule>]| {
        chain
            .iter()
            .map(|m| m.stats().snapshot().calls)
            .collect::<Vec<_>>()
    };
    let before = calls(&chain);
    let batched = worker.export_batch(&chain, &questions);
    let after = calls(&chain);
    for (m, (a, b)) in after.iter().zip(&before).enumerate() {
        assert_eq!(a - b, 1, "one call for module {m} of the chain");
    }
    assert_eq!(batched.len(), questions.len());
    for (q, results) in questions.iter().zip(&batched) {
        let alone = worker.export_many(&chain, q.source, q.attrs, q.prefixes, q.targets);
        assert_eq!(results.len(), q.prefixes.len());
        for i in 0..q.prefixes.len() {
            let (a, b) = (results.get(i).unwrap(), alone.get(i).unwrap());
            assert_eq!(
                a.receivers, b.receivers,
                "source {} prefix {}",
                q.source, q.prefixes[i]
            );
            assert_eq!(
                a.modified_targets(),
                b.modified_targets(),
                "source {} prefix {}",
                q.source,
                q.prefixes[i]
            );
            assert!(a.failure.is_none());
        }
    }
    // The /24 from an odd-ASN source's set: prepended twice per by-length towards AS6939.
    assert_eq!(path_len(batched[0].get(0).unwrap(), 0), Some(5));
    // Questions beyond the per-call limit take another call.
    let many: Vec<ExportQuestion<'_>> = (0..EXPORT_QUESTIONS_MAX + 1).map(|_| questions[2]).collect();
    let before = calls(&chain);
    let out = worker.export_batch(&chain[..1], &many);
    assert_eq!(calls(&chain)[0] - before[0], 2);
    assert!(out.iter().all(|r| r.get(0).unwrap().receivers.count() == 2));
}

#[test]
fn a_chain_of_one_module_answers_as_the_general_case() {
    // A chain of one module takes its own path (the usual answer without
    // classes); `accept-all` after it changes no answer but takes the
    // general one. Questions: mixed verdicts and modifications, no
    // targets, no prefixes, an unknown source (fails alone), and more
    // prefixes than one slice holds.
    let one = [by_length()];
    let two = [one[0].clone(), accept_all()];
    let mut worker = worker();
    let sets = [
        (1, attrs(&[3333], "192.0.2.1"), &TARGETS[..]),
        (2, attrs(&[6939, 1299], "192.0.2.2"), &[1, 4][..]),
        (1, attrs(&[3333, 3333], "192.0.2.1"), &[][..]),
        (4, attrs(&[174], "192.0.2.4"), &[1, 2][..]),
        (99, attrs(&[64999], "192.0.2.99"), &TARGETS[..]),
        (2, attrs(&[6939], "192.0.2.2"), &[1, 4][..]),
        (1, attrs(&[3333, 1299], "192.0.2.1"), &TARGETS[..]),
    ];
    let many: Vec<ipnet::IpNet> = (0..EXPORT_BATCH_MAX as u32 + 10)
        .map(|i| {
            ipnet::IpNet::new(
                std::net::Ipv4Addr::from(0x0b00_0000 + (i << 9)).into(),
                24 - (i % 2) as u8,
            )
            .unwrap()
        })
        .collect();
    let lists = [
        prefixes(&["11.0.0.0/24", "11.0.1.0/25", "11.0.0.0/16"]),
        prefixes(&["2001:db8::/48", "2001:db8::/64"]),
        prefixes(&["12.0.0.0/24"]),
        prefixes(&[]),
        prefixes(&["13.0.0.0/24"]),
        many,
        prefixes(&["14.0.0.0/24", "14.0.1.0/24"]),
    ];
    let questions = questions(&sets, &lists);
    let by_one = worker.export_batch(&one, &questions);
    let by_two = worker.export_batch(&two, &questions);
    assert_eq!(by_one.len(), questions.len());
    for (q, ((a, b), question)) in by_one.iter().zip(&by_two).zip(&questions).enumerate() {
        assert_eq!(a.len(), question.prefixes.len(), "question {q}");
        assert_eq!(a.len(), b.len(), "question {q}");
        for i in 0..a.len().max(1) {
            assert_eq!(a.get(i), b.get(i), "question {q} prefix {i}");
        }
    }
    // What the questions were there for: a modification (/24 towards
    // AS6939), a denial (/25), the usual answer (/16); an empty target
    // list; the unknown source's failure; both slices of the long list; one
    // answer for all of a set's prefixes that is not the usual one.
    let (q0, q5) = (&by_one[0], &by_one[5]);
    let usual = |r: &ExportResult| r.receivers.count() == 2 && r.modified.is_empty() && r.failure.is_none();
    assert_eq!(q0.get(0).unwrap().modified_targets().len(), 1);
    assert_eq!(q0.get(1).unwrap().receivers.count(), 0);
    assert!(usual(q0.get(2).unwrap()));
    assert_eq!(by_one[2].get(0).unwrap().receivers.count(), 0);
    assert!(by_one[4].get(0).unwrap().failure.is_some());
    assert_eq!(q5.get(EXPORT_BATCH_MAX).unwrap().modified_targets().len(), 1);
    assert!(usual(q5.get(EXPORT_BATCH_MAX + 1).unwrap()));
    assert_eq!(by_one[6].get(1).unwrap().modified_targets().len(), 1);
}
