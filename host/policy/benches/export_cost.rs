//! Cost of one export decision through `rs-standard` as WASM, for a route
//! offered to 49 targets (P1's shape: 50 clients, the source excluded),
//! against the same policy code called natively.
//!
//! `cargo bench -p kumo-policy --bench export_cost`
//!
//! - `wasm/plain`: a route with no action community (rs-standard answers
//!   "all targets, unmodified" after reading the communities).
//! - `wasm/action`: a route carrying `0:peer` for one target: one target
//!   denied, the action community stripped for the 48 others (one equal
//!   modification per target).
//! - `wasm-batch-of-3/*`: one `export-routes` call for three prefixes of
//!   the attribute set (P1's average), through `PolicyWorker::export_many`.
//! - `wasm-128-sets-of-3/*`: one `export-routes` call for 128 attribute
//!   sets of three prefixes each (`PolicyWorker::export_batch`, as after a
//!   policy change); divide by 128 for the cost per set.
//! - `native/*`: `RsStandard::export` on SDK values built beforehand.

#![allow(clippy::unwrap_used, missing_docs)]

/// The daemon's allocator (host/kumo/src/main.rs), so allocation costs what it costs there.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use ipnet::IpNet;
use kumo_policy::*;
use kumo_policy_rs_standard_core::RsStandard;
use kumo_sdk::types::ClientTable;
use kumo_sdk::{Attributes, Client, ExportVerdicts, Policy, Targets};
use kumo_wire::{AsPath, AsPathSegment, PathAttributes};

const CLIENTS: u32 = 50;
const RS_AS: u32 = 64500;

fn asn(id: u32) -> u32 {
    10_000 + id
}

fn address(id: u32) -> Ipv4Addr {
    Ipv4Addr::new(198, 18, 0, 10 + id as u8)
}

fn wire_attrs(action: bool) -> PathAttributes {
    let mut communities = vec![(asn(0) << 16) | 100, (asn(0) << 16) | 200];
    if action {
        communities.push(asn(7)); // 0:peer — do not announce to client 7
    }
    PathAttributes {
        origin: Some(kumo_wire::Origin::Igp),
        as_path: Some(AsPath::from(vec![AsPathSegment::Sequence(vec![
            asn(0),
            1299,
            174,
            15169,
        ])])),
        next_hop: Some(address(0)),
        med: Some(10),
        communities: communities.into(),
        ..Default::default()
    }
}

fn sdk_attrs(a: &PathAttributes) -> Attributes {
    let mut attrs = Attributes::test();
    attrs.as_path = kumo_sdk::AsPath {
        segments: vec![kumo_sdk::Segment {
            kind: kumo_sdk::SegmentKind::Sequence,
            asns: a.as_path.iter().flat_map(|p| p.asns()).collect(),
        }],
    };
    attrs.next_hop = a.next_hop.map(IpAddr::V4);
    attrs.med = a.med;
    attrs.communities = a.communities.iter().copied().map(kumo_sdk::Community).collect();
    attrs
}

fn bench(c: &mut Criterion) {
    let config = serde_json::json!({"rs_as": RS_AS});
    // KUMO_POLICY_PERF_MAP=1: name the guest functions for `perf report`.
    let engine = PolicyEngine::new(EngineOptions {
        perf_map: std::env::var_os("KUMO_POLICY_PERF_MAP").is_some(),
        ..EngineOptions::default()
    })
    .unwrap();
    let module = Arc::new(
        PolicyModule::load(
            &engine,
            "rs-standard",
            builtin::RS_STANDARD,
            Limits::default(),
            config.clone(),
        )
        .unwrap(),
    );
    let chain = [module];
    let mut worker = engine.worker();
    let contexts: Vec<ClientCtx> = (0..CLIENTS)
        .map(|id| ClientCtx {
            id,
            name: format!("as{}", asn(id)),
            asn: asn(id),
            addresses: vec![IpAddr::V4(address(id))],
            params: serde_json::json!({}),
        })
        .collect();
    worker.set_clients(&contexts);
    let clients: Vec<Client> = (0..CLIENTS)
        .map(|id| Client::test(id, asn(id)).with_address(address(id).octets()))
        .collect();
    let table = ClientTable::new(clients.clone());
    let mut native = RsStandard::new(&config).unwrap();
    native.clients_changed(&table);
    let targets: Vec<u32> = (1..CLIENTS).collect();
    let prefix: IpNet = "5.0.0.0/24".parse().unwrap();

    let mut group = c.benchmark_group("export_cost");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
    for (name, action) in [("plain", false), ("action", true)] {
        let attrs = wire_attrs(action);
        let sdk = sdk_attrs(&attrs);
        // The same answer both ways before timing anything.
        let wasm = worker.export(&chain, 0, &attrs, &prefix, &targets);
        let mut native_out = ExportVerdicts::new(targets.len());
        native.export(
            &clients[0],
            &sdk,
            &prefix,
            &Targets::new(&targets, &table),
            &mut native_out,
        );
        let expected = if action { targets.len() - 1 } else { targets.len() };
        assert_eq!(wasm.receivers.count(), expected);
        assert_eq!(native_out.allowed(), expected);
        assert_eq!(wasm.modified_targets().len(), if action { expected } else { 0 });

        group.bench_function(format!("wasm/{name}"), |b| {
            b.iter(|| black_box(worker.export(&chain, 0, black_box(&attrs), &prefix, black_box(&targets))))
        });
        // P1's shape: about three prefixes per attribute set.
        let three = [
            prefix,
            "5.0.1.0/24".parse().unwrap(),
            "5.0.2.0/24".parse().unwrap(),
        ];
        group.bench_function(format!("wasm-batch-of-3/{name}"), |b| {
            b.iter(|| {
                black_box(worker.export_many(&chain, 0, black_box(&attrs), &three, black_box(&targets)))
            })
        });
        // P3's shape after a policy change: many attribute sets per call,
        // here 128 (EXPORT_QUESTIONS_MAX) of three prefixes; the time is for
        // all 128.
        let sets: Vec<PathAttributes> = (0..EXPORT_QUESTIONS_MAX as u32)
            .map(|i| {
                let mut a = attrs.clone();
                a.med = Some(i);
                a
            })
            .collect();
        let questions: Vec<ExportQuestion<'_>> = sets
            .iter()
            .map(|a| ExportQuestion {
                source: 0,
                attrs: a,
                prefixes: &three,
                targets: &targets,
            })
            .collect();
        group.bench_function(format!("wasm-128-sets-of-3/{name}"), |b| {
            b.iter(|| black_box(worker.export_batch(&chain, black_box(&questions))))
        });
        group.bench_function(format!("native/{name}"), |b| {
            b.iter(|| {
                let mut v = ExportVerdicts::new(targets.len());
                native.export(
                    &clients[0],
                    black_box(&sdk),
                    &prefix,
                    &Targets::new(&targets, &table),
                    &mut v,
                );
                black_box(v)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
