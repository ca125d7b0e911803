//! What the IRR and RPKI host imports cost a policy: `rs-standard` through
//! wasmtime on batches of 256 valid /24s, without look-ups, with RPKI
//! (`rpki-validate`, one host call per import call), and with IRR and RPKI
//! (`irr-check` too), against the look-ups alone called natively on the host.
//!
//! `cargo bench -p kumo-policy --bench route_data`
//!
//! The difference between "with look-ups" and "without", minus the native
//! look-ups, is what crossing the component boundary costs; it bounds what
//! handing the answers in with the prefixes (the alternative to host imports)
//! could save, since the host would still compute every answer.

#![allow(clippy::unwrap_used, missing_docs)]

/// The daemon's allocator (host/kumo/src/main.rs), so allocation costs what it costs there.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ipnet::IpNet;
use kumo_irr::{IrrDb, IrrPolicy, IrrSources, LengthBounds, PrefixScope};
use kumo_policy::*;
use kumo_rpki::{RoaTable, Vrp};
use kumo_wire::{AsPath, AsPathSegment, PathAttributes};

const BATCH: usize = 256;
const ORIGIN: u32 = 15169;

/// A /24 per `i`, from 5.0.0.0 up (outside bogon space).
fn net(i: u32) -> IpNet {
    IpNet::new(IpAddr::V4(Ipv4Addr::from(0x0500_0000u32 + (i << 8))), 24).unwrap()
}

/// 10,000 VRPs (every batch prefix covered, valid for ORIGIN) and an IRR
/// database with an AS-SET of 100 ASNs holding route objects for 10,000 /24s.
#[derive(Debug)]
struct Data {
    roas: RoaTable,
    irr: IrrDb,
}

impl RouteData for Data {
    fn rpki_validate(&self, prefixes: &[IpNet], origin: u32, out: &mut Vec<Rov>) {
        out.extend(prefixes.iter().map(|p| Rov::from(self.roas.validate(p, origin))));
    }

    fn irr_check(&self, as_set: &str, origin: u32, prefixes: &[IpNet], v4: u8, v6: u8) -> IrrAnswer {
        let policy = IrrPolicy {
            bounds: LengthBounds::up_to(v4, v6),
            scope: PrefixScope::AsSet,
        };
        self.irr.check_many(as_set, origin, prefixes, &policy).into()
    }
}

fn data() -> Data {
    let mut roas = RoaTable::new();
    for i in 0..10_000 {
        roas.insert(Vrp::new(net(i), 24, ORIGIN).unwrap());
    }
    let dir = std::env::temp_dir().join(format!("kumo-bench-irr-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut rpsl = String::from("as-set: AS-BENCH\nmembers: ");
    let members: Vec<String> = (0..100).map(|i| format!("AS{}", ORIGIN + i)).collect();
    rpsl.push_str(&members.join(", "));
    rpsl.push_str("\nsource: BENCH\n\n");
    for i in 0..10_000u32 {
        rpsl.push_str(&format!(
            "route: {}\norigin: AS{}\nsource: BENCH\n\n",
            net(i),
            ORIGIN + i % 100
        ));
    }
    let file = dir.join("bench.rpsl");
    std::fs::write(&file, rpsl).unwrap();
    let irr = IrrSources::new([&file]).load().unwrap();
    irr.prepare(&["AS-BENCH"]);
    std::fs::remove_dir_all(&dir).ok();
    Data { roas, irr }
}

fn attrs() -> PathAttributes {
    PathAttributes {
        origin: Some(kumo_wire::Origin::Igp),
        as_path: Some(AsPath::from(vec![AsPathSegment::Sequence(vec![
            3333, 6939, ORIGIN,
        ])])),
        next_hop: Some("192.0.2.1".parse().unwrap()),
        ..Default::default()
    }
}

fn bench(c: &mut Criterion) {
    let data = Arc::new(data());
    let engine = PolicyEngine::new(EngineOptions {
        route_data: data.clone(),
        ..EngineOptions::default()
    })
    .unwrap();
    let load = |filtering: serde_json::Value| {
        Arc::new(
            PolicyModule::load(
                &engine,
                "rs-standard",
                builtin::RS_STANDARD,
                Limits::default(),
                serde_json::json!({"rs_as": 64500, "filtering": filtering}),
            )
            .unwrap(),
        )
    };
    let rpki = serde_json::json!({"enabled": true, "reject_invalid": true});
    let variants = [
        ("rs-standard", load(serde_json::json!({}))),
        (
            "rs-standard+rpki",
            load(serde_json::json!({"rpki_bgp_origin_validation": rpki})),
        ),
        (
            "rs-standard+irr+rpki",
            load(serde_json::json!({"rpki_bgp_origin_validation": rpki, "irrdb": {"as_sets": ["AS-BENCH"]}})),
        ),
    ];
    let mut worker = engine.worker();
    worker.set_clients(&[ClientCtx {
        id: 1,
        name: "as3333".into(),
        asn: 3333,
        addresses: vec!["192.0.2.1".parse().unwrap()],
        params: serde_json::json!({}),
    }]);
    let attrs = attrs();
    let batch: Vec<IpNet> = (0..BATCH as u32).map(net).collect();
    for (name, module) in &variants {
        let out = worker.import(std::slice::from_ref(module), 1, &attrs, None, &batch);
        assert!(
            out.iter().all(ImportResult::is_accept),
            "{name}: every route is valid: {:?}",
            out.get(0)
        );
    }

    let mut group = c.benchmark_group("route_data");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30)
        .throughput(Throughput::Elements(BATCH as u64));
    for (name, module) in &variants {
        let chain = std::slice::from_ref(module);
        group.bench_function(BenchmarkId::new(*name, BATCH), |b| {
            b.iter(|| black_box(worker.import(chain, 1, black_box(&attrs), None, black_box(&batch))))
        });
    }
    group.bench_function(BenchmarkId::new("native-rpki-lookups", BATCH), |b| {
        b.iter(|| {
            let mut out = Vec::with_capacity(BATCH);
            data.rpki_validate(black_box(&batch), ORIGIN, &mut out);
            black_box(out)
        })
    });
    group.bench_function(BenchmarkId::new("native-irr-lookups", BATCH), |b| {
        b.iter(|| black_box(data.irr_check("AS-BENCH", ORIGIN, black_box(&batch), 24, 48)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
