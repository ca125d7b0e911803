//! Cost per route of a realistic import policy (`policies/rs-import`, which is
//! rs-standard's import with a fixed set of checks: NEXT_HOP = client
//! address, first AS = client AS, AS_PATH length, private/reserved ASN in
//! path, bogon prefix, prefix length bounds, a large-community tag),
//! as WASM through kumo-policy vs the same SDK code compiled natively.
//!
//! `cargo bench -p kumo-policy --bench policy_cost`
//!
//! - `wasm`: `PolicyWorker::import` — lowering, the guest call, lifting, and
//!   building one `ImportResult` per prefix (with the tagged attribute set
//!   applied once and shared).
//! - `wasm-accept-all`: the same through `accept-all`: the floor of the
//!   call shape (no policy logic).
//! - `native`: `RsImport::import` on SDK values built beforehand (the policy
//!   logic alone).
//! - `native+convert`: the same, plus converting the wire attributes and
//!   prefixes to SDK values per call, as a native policy inside the daemon
//!   would have to.
//!
//! Group `policy_cost_sets`, a burst of UPDATEs as the core imports it: 64
//! distinct attribute sets of 3 prefixes each (P1's shape), per route:
//! - `wasm-import-many`: `PolicyWorker::import_many`, one `import-many` call;
//! - `wasm-set-by-set`: `PolicyWorker::import` once per set (one
//!   `import-routes` call each, as before batched import);
//! - `native`: `RsImport::import` once per set on SDK values built beforehand.

#![allow(clippy::unwrap_used, missing_docs)]

/// The daemon's allocator (host/kumo/src/main.rs), so allocation costs what it costs there.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use std::hint::black_box;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ipnet::IpNet;
use kumo_policy::*;
use kumo_policy_rs_import::RsImport;
use kumo_sdk::{Attributes, Client, ImportVerdicts, Policy};
use kumo_wire::{AsPath, AsPathSegment, PathAttributes};

const BATCHES: [usize; 3] = [1, 16, 256];

fn config() -> serde_json::Value {
    serde_json::json!({"max_path_length": 32, "ipv4_length": [8, 24], "ipv6_length": [16, 48], "tag": "64500:1000:1"})
}

fn wire_attrs() -> PathAttributes {
    PathAttributes {
        origin: Some(kumo_wire::Origin::Igp),
        as_path: Some(AsPath::from(vec![AsPathSegment::Sequence(vec![
            3333, 1299, 174, 15169,
        ])])),
        next_hop: Some("192.0.2.1".parse().unwrap()),
        med: Some(10),
        communities: kumo_wire::thin_vec![(3333 << 16) | 100, (1299 << 16) | 2000],
        ..Default::default()
    }
}

/// Valid, distinct /24s outside bogon space.
fn prefixes(n: usize) -> Vec<IpNet> {
    (0..n as u32)
        .map(|i| {
            let addr = std::net::Ipv4Addr::from(0x0500_0000u32 + (i << 8));
            IpNet::new(IpAddr::V4(addr), 24).unwrap()
        })
        .collect()
}

fn sdk_attrs(a: &PathAttributes, next_hop: Option<IpAddr>) -> Attributes {
    Attributes {
        origin: Some(kumo_sdk::Origin::Igp),
        as_path: kumo_sdk::AsPath {
            segments: a
                .as_path
                .iter()
                .flat_map(|p| p.segments())
                .map(|s| kumo_sdk::Segment {
                    kind: kumo_sdk::SegmentKind::Sequence,
                    asns: s.asns().to_vec(),
                })
                .collect(),
        },
        next_hop: next_hop.or(a.next_hop.map(IpAddr::V4)),
        med: a.med,
        local_pref: a.local_pref,
        atomic_aggregate: a.atomic_aggregate,
        aggregator: None,
        communities: a.communities.iter().copied().map(kumo_sdk::Community).collect(),
        extended_communities: Vec::new(),
        large_communities: Vec::new(),
        otc: a.otc,
    }
}

fn bench(c: &mut Criterion) {
    // KUMO_POLICY_PERF_MAP=1: name the guest functions for `perf report`.
    let perf_map = std::env::var_os("KUMO_POLICY_PERF_MAP").is_some();
    let engine = PolicyEngine::new(EngineOptions {
        perf_map,
        ..EngineOptions::default()
    })
    .unwrap();
    let module = Arc::new(
        PolicyModule::load(
            &engine,
            "rs-import",
            builtin::RS_IMPORT,
            Limits::default(),
            config(),
        )
        .unwrap(),
    );
    let chain = [module];
    let floor = [Arc::new(
        PolicyModule::load(
            &engine,
            "accept-all",
            builtin::ACCEPT_ALL,
            Limits::default(),
            serde_json::json!({}),
        )
        .unwrap(),
    )];
    let mut worker = engine.worker();
    worker.set_clients(&[ClientCtx {
        id: 1,
        name: "as3333".into(),
        asn: 3333,
        addresses: vec!["192.0.2.1".parse().unwrap()],
        params: serde_json::json!({}),
    }]);
    let mut native = RsImport::new(&config()).unwrap();
    let client = Client::test(1, 3333).with_address([192, 0, 2, 1]);
    // As the component glue does on set-clients: per-client settings are
    // resolved once, not per call.
    native.clients_changed(&kumo_sdk::types::ClientTable::new(vec![client.clone()]));
    let attrs = wire_attrs();
    let all = prefixes(*BATCHES.iter().max().unwrap());

    // Same answers both ways before timing anything.
    let wasm_out = worker.import(&chain, 1, &attrs, None, &all);
    let mut native_out = ImportVerdicts::new(all.len());
    native.import(&client, &sdk_attrs(&attrs, None), &all, &mut native_out);
    assert!(wasm_out.iter().all(ImportResult::is_accept) && native_out.accepted() == all.len());

    let mut group = c.benchmark_group("policy_cost");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
    for n in BATCHES {
        let batch = &all[..n];
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("wasm", n), batch, |b, batch| {
            b.iter(|| black_box(worker.import(&chain, 1, black_box(&attrs), None, black_box(batch))))
        });
        group.bench_with_input(BenchmarkId::new("wasm-accept-all", n), batch, |b, batch| {
            b.iter(|| black_box(worker.import(&floor, 1, black_box(&attrs), None, black_box(batch))))
        });
        let sdk = sdk_attrs(&attrs, None);
        group.bench_with_input(BenchmarkId::new("native", n), batch, |b, batch| {
            b.iter(|| {
                let mut v = ImportVerdicts::new(batch.len());
                native.import(&client, black_box(&sdk), black_box(batch), &mut v);
                black_box(v)
            })
        });
        group.bench_with_input(BenchmarkId::new("native+convert", n), batch, |b, batch| {
            b.iter(|| {
                let sdk = sdk_attrs(black_box(&attrs), None);
                let prefixes: Vec<IpNet> = black_box(batch).to_vec();
                let mut v = ImportVerdicts::new(prefixes.len());
                native.import(&client, &sdk, &prefixes, &mut v);
                black_box(v)
            })
        });
    }
    group.finish();

    // A burst: 64 distinct sets (the second AS varies) of 3 prefixes.
    const SETS: usize = 64;
    let burst: Vec<(PathAttributes, Vec<IpNet>)> = (0..SETS)
        .map(|k| {
            let mut a = wire_attrs();
            a.as_path = Some(AsPath::from(vec![AsPathSegment::Sequence(vec![
                3333,
                1299,
                2000 + k as u32,
            ])]));
            (a, all[3 * k..3 * k + 3].to_vec())
        })
        .collect();
    let questions: Vec<ImportQuestion<'_>> = burst
        .iter()
        .map(|(attrs, prefixes)| ImportQuestion {
            chain: &chain,
            client: 1,
            attrs,
            next_hop: None,
            prefixes,
        })
        .collect();
    let sdk_burst: Vec<(Attributes, &[IpNet])> =
        burst.iter().map(|(a, p)| (sdk_attrs(a, None), &p[..])).collect();
    let batched = worker.import_many(&questions);
    assert!(batched.iter().all(|v| v.iter().all(ImportResult::is_accept)));
    let mut group = c.benchmark_group("policy_cost_sets");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30)
        .throughput(Throughput::Elements(3 * SETS as u64));
    let id = format!("{SETS}x3");
    group.bench_function(BenchmarkId::new("wasm-import-many", &id), |b| {
        b.iter(|| black_box(worker.import_many(black_box(&questions))))
    });
    group.bench_function(BenchmarkId::new("wasm-set-by-set", &id), |b| {
        b.iter(|| {
            for q in &questions {
                black_box(worker.import(q.chain, q.client, black_box(q.attrs), None, black_box(q.prefixes)));
            }
        })
    });
    group.bench_function(BenchmarkId::new("native", &id), |b| {
        b.iter(|| {
            for (sdk, prefixes) in &sdk_burst {
                let mut v = ImportVerdicts::new(prefixes.len());
                native.import(&client, black_box(sdk), black_box(prefixes), &mut v);
                black_box(v);
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
