//! A failing policy fails closed for its own calls only: a client whose
//! import policy loops, exhausts its memory or panics gets its routes
//! rejected with reason "policy error", and kumo keeps serving everyone else.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;
use kumo::daemon::Daemon;
use kumo::speaker::Speaker;
use kumo_policy::{POLICY_ERROR_CODE, POLICY_ERROR_TEXT};
use kumo_rib::PeerId;

mod common;
use common::{attrs, holds, http, speaker};

const WAIT: Duration = Duration::from_secs(15);
const NET: u8 = 223;

/// The hostile test component, built by host/policy/build.rs next to the others.
fn hostile_wasm() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    target.join("wasm/wasm32-wasip2/release/kumo_policy_hostile.wasm")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_policies_reject_only_their_own_calls() {
    let wasm = hostile_wasm();
    assert!(
        wasm.is_file(),
        "{} missing: cargo build -p kumo-policy",
        wasm.display()
    );
    let modes = ["loop", "memory", "panic"];
    let mut text = format!(
        "[server]\nasn = 64500\nrouter_id = \"192.0.2.254\"\nlisten = [\"127.0.{NET}.1:0\"]\n\n\
         [[clients]]\nname = \"watcher\"\nasn = 65001\nip = [\"127.0.{NET}.2\"]\n\n\
         [[clients]]\nname = \"healthy\"\nasn = 65002\nip = [\"127.0.{NET}.3\"]\n"
    );
    for (i, mode) in modes.iter().enumerate() {
        text.push_str(&format!(
            "\n[[clients]]\nname = \"{mode}\"\nasn = {}\nip = [\"127.0.{NET}.{}\"]\nimport = [\"hostile-{mode}\"]\n",
            65010 + i,
            4 + i
        ));
    }
    for mode in modes {
        text.push_str(&format!(
            "\n[policies.hostile-{mode}]\npath = \"{}\"\ndeadline_ms = 20\nmax_memory = 8388608\n\
             config = {{ mode = \"{mode}\" }}\n",
            wasm.display()
        ));
    }
    let daemon = Daemon::start(kumo_config::parse(&text).unwrap()).await.unwrap();
    let bgp = daemon.listening[0];

    let mut watcher = Speaker::connect(&speaker(NET, 2, 65001), bgp).await.unwrap();
    let mut healthy = Speaker::connect(&speaker(NET, 3, 65002), bgp).await.unwrap();
    let mut hostile = Vec::new();
    for (i, _) in modes.iter().enumerate() {
        let asn = 65010 + i as u32;
        let mut s = Speaker::connect(&speaker(NET, 4 + i as u8, asn), bgp)
            .await
            .unwrap();
        let prefix: IpNet = format!("10.{}.0.0/16", 10 + i).parse().unwrap();
        s.announce(&attrs(asn), None, &[prefix]).await.unwrap();
        hostile.push(s);
    }
    let good: Vec<IpNet> = ["198.51.100.0/24", "203.0.113.0/24"]
        .iter()
        .map(|p| p.parse().unwrap())
        .collect();
    healthy.announce(&attrs(65002), None, &good).await.unwrap();

    // The watcher gets exactly the healthy client's routes.
    assert!(
        watcher
            .recv_until(WAIT, |s| s.rib.len() == good.len()
                && good.iter().all(|p| holds(s, p)))
            .await
            .unwrap()
    );
    let extra = watcher
        .recv_until(Duration::from_millis(500), |s| s.rib.len() > good.len())
        .await;
    assert!(
        matches!(extra, Ok(false)),
        "a failing policy's route got through: {extra:?}"
    );

    // Each failing client's route is kept, rejected with "policy error".
    let reasons = daemon
        .query(|core| {
            (0..3)
                .map(|i| {
                    core.rib()
                        .adj_rib_in(PeerId(2 + i))
                        .map(|p| p.reject_reason().map(|r| (r.code, r.text.to_string())))
                        .collect::<Vec<_>>()
                })
                .collect::<Vec<_>>()
        })
        .await
        .unwrap();
    for (mode, reasons) in modes.iter().zip(reasons) {
        assert_eq!(
            reasons,
            vec![Some((POLICY_ERROR_CODE, POLICY_ERROR_TEXT.to_owned()))],
            "{mode}"
        );
    }
    // Every session is still up and the failing modules keep being contained:
    // a second route from each is rejected too, and the healthy client's next one passes.
    for (i, s) in hostile.iter_mut().enumerate() {
        let prefix: IpNet = format!("10.{}.1.0/24", 10 + i).parse().unwrap();
        s.announce(&attrs(65010 + i as u32), None, &[prefix])
            .await
            .unwrap();
    }
    let late: IpNet = "192.0.2.0/24".parse().unwrap();
    healthy.announce(&attrs(65002), None, &[late]).await.unwrap();
    assert!(watcher.recv_until(WAIT, |s| holds(s, &late)).await.unwrap());
    let held = daemon
        .query(|core| {
            (2..5)
                .map(|i| core.rib().counts(PeerId(i)).ipv4.received)
                .collect::<Vec<_>>()
        })
        .await
        .unwrap();
    assert_eq!(held, vec![2, 2, 2]);
    assert_eq!(watcher.rib.len(), good.len() + 1);

    // Each failure is counted by kind in the metrics, with the call durations.
    let metrics = daemon.metrics().encode();
    for (mode, kind) in [("loop", "deadline"), ("memory", "memory"), ("panic", "trap")] {
        let line = metrics
            .lines()
            .find(|l| {
                l.starts_with("kumo_policy_traps")
                    && l.contains(&format!("hostile-{mode}\""))
                    && l.contains(&format!("\"{kind}\""))
            })
            .unwrap_or_else(|| panic!("no {kind} count for hostile-{mode} in\n{metrics}"));
        assert!(line.ends_with(" 2"), "{line}");
    }
    assert!(
        metrics.contains("kumo_policy_call_duration_seconds_bucket"),
        "{metrics}"
    );
}

const API_NET: u8 = 232;
const TOKEN: &str = "hostile-token";

/// A policy component that imports `kumo:extra/thing`
/// (policies/testing/hostile-import), built with the others.
fn hostile_import_wasm() -> PathBuf {
    hostile_wasm().with_file_name("kumo_policy_hostile_import.wasm")
}

async fn get_json(api: std::net::SocketAddr, path: &str) -> serde_json::Value {
    let (status, body) = http(api, "GET", path, None, "application/json", b"").await;
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
}

fn policy<'a>(list: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    list["policies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {list}"))
}

/// The hostile policies, seen through the admin API: modules kumo
/// refuses at load say why in the 400 body (and nothing changes); modules
/// that fail at run time show their failures by kind in `GET
/// /api/v1/policies` and their clients' routes as filtered with reason
/// "policy error" in the route listing, while every session stays up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_policies_show_their_reason_in_the_api() {
    let wasm = hostile_wasm();
    let import_wasm = hostile_import_wasm();
    for file in [&wasm, &import_wasm] {
        assert!(
            file.is_file(),
            "{} missing: cargo build -p kumo-policy",
            file.display()
        );
    }
    // (client, module, module config): `grow` keeps 1 MiB per call under an
    // 8 MiB cap; `sockets` opens a TCP connection through WASI;
    // `wrong-length` answers one verdict too few.
    let hostile = [
        ("grower", "hostile-grow", "{ mode = \"grow\", grow_kib = 1024 }"),
        ("socketeer", "hostile-sockets", "{ mode = \"sockets\" }"),
        (
            "miscounter",
            "hostile-wrong-length",
            "{ mode = \"wrong-length\" }",
        ),
    ];
    let net = API_NET;
    let mut text = format!(
        "[server]\nasn = 64500\nrouter_id = \"192.0.2.254\"\nlisten = [\"127.0.{net}.1:0\"]\n\n\
         [admin]\nlisten = \"127.0.{net}.1:0\"\ntoken = \"{TOKEN}\"\n\n\
         [[clients]]\nname = \"watcher\"\nasn = 65001\nip = [\"127.0.{net}.2\"]\n\n\
         [[clients]]\nname = \"healthy\"\nasn = 65002\nip = [\"127.0.{net}.3\"]\n"
    );
    for (i, (client, module, config)) in hostile.iter().enumerate() {
        text.push_str(&format!(
            "\n[[clients]]\nname = \"{client}\"\nasn = {}\nip = [\"127.0.{net}.{}\"]\nimport = [\"{module}\"]\n\
             \n[policies.{module}]\npath = \"{}\"\ndeadline_ms = 200\nmax_memory = 8388608\nconfig = {config}\n",
            65010 + i,
            4 + i,
            wasm.display()
        ));
    }
    let daemon = std::sync::Arc::new(Daemon::start(kumo_config::parse(&text).unwrap()).await.unwrap());
    let bgp = daemon.listening[0];
    let api = kumo::admin::spawn(daemon.clone())
        .await
        .unwrap()
        .unwrap()
        .listening;

    // Refused at load: a component importing kumo:extra/thing, one of the
    // static-hold world, and bytes that are no component. Each 400 names
    // the module and the cause; the module in use does not change.
    let before = get_json(api, "/api/v1/policies").await;
    let imports = std::fs::read(&import_wasm).unwrap();
    for (what, bytes, cause) in [
        ("unsupported import", &imports[..], "kumo:extra/thing"),
        (
            "wrong world",
            kumo_policy::builtin::STATIC_HOLD,
            "does not implement world kumo:policy/policy-module@0.1.0",
        ),
        (
            "not a component",
            &b"\0asm\x01\0\0\0"[..],
            "not a loadable WebAssembly component",
        ),
    ] {
        let (status, body) = http(
            api,
            "PUT",
            "/api/v1/policies/hostile-grow",
            Some(TOKEN),
            "application/wasm",
            bytes,
        )
        .await;
        assert_eq!(status, 400, "{what}: {body}");
        let error: serde_json::Value = serde_json::from_str(&body).unwrap();
        let error = error["error"].as_str().unwrap();
        assert!(
            error.contains("\"hostile-grow\"") && error.contains(cause),
            "{what}: {error}"
        );
        println!("PUT {what}: 400 {error}");
    }
    let after = get_json(api, "/api/v1/policies").await;
    assert_eq!(
        policy(&after, "hostile-grow")["sha256"],
        policy(&before, "hostile-grow")["sha256"]
    );
    assert_eq!(policy(&after, "hostile-grow")["rollback_available"], false);

    // Run time. Every hostile client announces one route per UPDATE, each
    // with its own MED (its own attribute set, so one import call each).
    const ROUTES: u32 = 20;
    let mut watcher = Speaker::connect(&speaker(net, 2, 65001), bgp).await.unwrap();
    let mut healthy = Speaker::connect(&speaker(net, 3, 65002), bgp).await.unwrap();
    let mut speakers = Vec::new();
    for (i, _) in hostile.iter().enumerate() {
        let asn = 65010 + i as u32;
        let mut s = Speaker::connect(&speaker(net, 4 + i as u8, asn), bgp)
            .await
            .unwrap();
        for r in 0..ROUTES {
            let mut a = attrs(asn);
            a.med = Some(r);
            let prefix: IpNet = format!("10.{}.{r}.0/24", 10 + i).parse().unwrap();
            s.announce(&a, None, &[prefix]).await.unwrap();
        }
        speakers.push(s);
    }
    let good: IpNet = "198.51.100.0/24".parse().unwrap();
    healthy.announce(&attrs(65002), None, &[good]).await.unwrap();
    // The healthy route arrives after everything the hostile clients sent.
    assert!(watcher.recv_until(WAIT, |s| holds(s, &good)).await.unwrap());
    let received = |name: &'static str| {
        let path = format!("/api/v1/clients/{name}");
        async move {
            let client = get_json(api, &path).await;
            assert_eq!(client["state"], "established", "{name}: {client}");
            let v4 = client["prefixes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["afi"] == "ipv4")
                .unwrap()
                .clone();
            (
                v4["received"].as_u64().unwrap(),
                v4["accepted"].as_u64().unwrap(),
                v4["filtered"].as_u64().unwrap(),
            )
        }
    };
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let mut all = true;
        for (client, _, _) in hostile {
            all &= received(client).await.0 == u64::from(ROUTES);
        }
        if all {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "routes not all received");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let list = get_json(api, "/api/v1/policies").await;
    for (client, module, _) in hostile {
        let (received, accepted, filtered) = received(client).await;
        let p = policy(&list, module);
        let counted = |key: &str| p[key].as_u64().unwrap();
        // The filtered routes are listed with the reason and the module.
        let routes = get_json(api, &format!("/api/v1/clients/{client}/routes?view=filtered")).await;
        let routes = routes["routes"].as_array().unwrap_or_else(|| panic!("{routes}"));
        assert_eq!(routes.len() as u64, filtered, "{client}");
        for r in routes {
            assert_eq!(r["filtered"]["text"], POLICY_ERROR_TEXT, "{client}: {r}");
            assert_eq!(
                r["filtered"]["code"],
                u64::from(POLICY_ERROR_CODE),
                "{client}: {r}"
            );
            assert_eq!(r["filtered"]["policy"], module, "{client}: {r}");
        }
        println!(
            "{client} ({module}): received {received}, accepted {accepted}, filtered {filtered}; \
             API counters: calls {}, rejects {}, traps {}, deadline_hits {}, memory_hits {}, invalid_results {}",
            counted("calls"),
            counted("rejects"),
            counted("traps"),
            counted("deadline_hits"),
            counted("memory_hits"),
            counted("invalid_results"),
        );
        assert_eq!(received, u64::from(ROUTES), "{client}");
        assert_eq!(counted("rejects"), filtered, "{client}: {p}");
        match module {
            // Contained, not broken: the instance that hit the cap is
            // replaced, so calls pass again until it grows again.
            "hostile-grow" => {
                assert!(filtered >= 1 && accepted >= 1, "{client}: {accepted}/{filtered}");
                assert_eq!(counted("memory_hits"), filtered, "{p}");
                assert_eq!(counted("traps") + counted("invalid_results"), 0, "{p}");
                let accepted_routes =
                    get_json(api, &format!("/api/v1/clients/{client}/routes?view=accepted")).await;
                let med_of = |r: &serde_json::Value| r["med"].as_u64().unwrap();
                let first_failure = routes.iter().map(med_of).min().unwrap();
                assert!(
                    accepted_routes["routes"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|r| med_of(r) > first_failure),
                    "no call passed after the first failure: {accepted_routes}"
                );
            }
            "hostile-sockets" => {
                assert_eq!(filtered, u64::from(ROUTES));
                assert_eq!(counted("traps"), u64::from(ROUTES), "{p}");
            }
            _ => {
                assert_eq!(filtered, u64::from(ROUTES));
                assert_eq!(counted("invalid_results"), u64::from(ROUTES), "{p}");
            }
        }
    }
    // The watcher gets the healthy route and the grower's accepted ones
    // only. It reads its session only when asked to: wait for them (it
    // held what it had read when the healthy route came, a race).
    let (_, grown, _) = received("grower").await;
    let expected = 1 + grown as usize;
    assert!(
        watcher
            .recv_until(WAIT, |s| s.rib.len() >= expected)
            .await
            .unwrap(),
        "watcher holds {} routes, expected {expected}",
        watcher.rib.len()
    );
    assert_eq!(watcher.rib.len(), expected);
    // (Each client's session was checked "established" above; keep them to the end.)
    drop(speakers);
}

/// Concurrent uploads to one policy name, good and bad mixed, are serialised:
/// every good one is swapped in whole (its own hash reported), every bad one
/// is refused and changes nothing, the module left in use is one of the
/// uploaded ones, the rollback history holds only uploaded modules, and the
/// sessions and routes never notice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_policy_uploads_are_serialised() {
    let net = API_NET;
    let text = format!(
        "[server]\nasn = 64500\nrouter_id = \"192.0.2.254\"\nlisten = [\"127.0.{net}.1:0\"]\n\n\
         [admin]\nlisten = \"127.0.{net}.1:0\"\ntoken = \"{TOKEN}\"\n\n\
         [policies.gate]\nbuiltin = \"accept-all\"\n\n\
         [[clients]]\nname = \"watcher\"\nasn = 65001\nip = [\"127.0.{net}.20\"]\n\n\
         [[clients]]\nname = \"member\"\nasn = 65002\nip = [\"127.0.{net}.21\"]\nimport = [\"gate\"]\n"
    );
    let daemon = std::sync::Arc::new(Daemon::start(kumo_config::parse(&text).unwrap()).await.unwrap());
    let bgp = daemon.listening[0];
    let api = kumo::admin::spawn(daemon.clone())
        .await
        .unwrap()
        .unwrap()
        .listening;
    let mut watcher = Speaker::connect(&speaker(net, 20, 65001), bgp).await.unwrap();
    let mut member = Speaker::connect(&speaker(net, 21, 65002), bgp).await.unwrap();
    let route: IpNet = "198.51.100.0/24".parse().unwrap();
    member.announce(&attrs(65002), None, &[route]).await.unwrap();
    assert!(watcher.recv_until(WAIT, |s| holds(s, &route)).await.unwrap());

    // Two good modules (both accept everything with the gate's `{}` config),
    // and two bad ones, four uploads of each, all at once.
    let good_a = kumo_policy::builtin::ACCEPT_ALL.to_vec();
    let good_b = std::fs::read(hostile_wasm()).unwrap();
    let bad_world = kumo_policy::builtin::STATIC_HOLD.to_vec();
    let bad_bytes = b"\0asm\x0d\0\x01\0garbage".to_vec();
    let mut uploads = tokio::task::JoinSet::new();
    for round in 0..4 {
        for (kind, body) in [
            ("a", good_a.clone()),
            ("b", good_b.clone()),
            ("world", bad_world.clone()),
            ("bytes", bad_bytes.clone()),
        ] {
            uploads.spawn(async move {
                let (status, body) = http(
                    api,
                    "PUT",
                    "/api/v1/policies/gate",
                    Some(TOKEN),
                    "application/wasm",
                    &body,
                )
                .await;
                (round, kind, status, body)
            });
        }
    }
    // The hash each good module is reported under, per kind.
    let mut hashes: [std::collections::BTreeSet<String>; 2] = Default::default();
    while let Some(done) = uploads.join_next().await {
        let (round, kind, status, body) = done.unwrap();
        let reply: serde_json::Value = serde_json::from_str(&body).unwrap();
        match kind {
            "a" | "b" => {
                assert_eq!(status, 200, "{round} {kind}: {body}");
                hashes[usize::from(kind == "b")].insert(reply["sha256"].as_str().unwrap().to_owned());
            }
            _ => {
                assert_eq!(status, 400, "{round} {kind}: {body}");
                assert!(reply["error"].as_str().unwrap().contains("\"gate\""), "{body}");
            }
        }
    }
    // Each swap reports its own module's hash, never the other's.
    assert!(hashes.iter().all(|h| h.len() == 1), "{hashes:?}");
    let known: Vec<String> = hashes.iter().flatten().cloned().collect();
    assert_eq!(known.len(), 2, "{known:?}");

    // The module in use is one of the uploads, and the history behind it
    // holds only uploaded modules or the original accept-all.
    let list = get_json(api, "/api/v1/policies").await;
    let current = policy(&list, "gate")["sha256"].as_str().unwrap().to_owned();
    assert!(known.contains(&current), "{current}");
    let status = get_json(api, "/api/v1/status").await;
    assert!(
        status["policies"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "gate" && p["sha256"] == current.as_str()),
        "status and policy list disagree: {status}"
    );
    let mut history = Vec::new();
    loop {
        let (status, body) = http(
            api,
            "POST",
            "/api/v1/policies/gate/rollback",
            Some(TOKEN),
            "application/json",
            b"{}",
        )
        .await;
        if status == 409 {
            break;
        }
        assert_eq!(status, 200, "{body}");
        let reply: serde_json::Value = serde_json::from_str(&body).unwrap();
        history.push(reply["sha256"].as_str().unwrap().to_owned());
        assert!(history.len() <= 8, "{history:?}");
    }
    assert!(!history.is_empty());
    assert!(
        history.iter().all(|h| known.contains(h)),
        "{history:?} vs {known:?}"
    );
    println!(
        "16 concurrent uploads (8 good, 8 bad): 8 swapped, 8 refused; in use {current}; {} earlier versions, all uploaded ones",
        history.len()
    );

    // Nothing noticed: the route is still at the watcher, both sessions up.
    let late: IpNet = "203.0.113.0/24".parse().unwrap();
    member.announce(&attrs(65002), None, &[late]).await.unwrap();
    assert!(
        watcher
            .recv_until(WAIT, |s| holds(s, &route) && holds(s, &late))
            .await
            .unwrap()
    );
    for name in ["watcher", "member"] {
        let client = get_json(api, &format!("/api/v1/clients/{name}")).await;
        assert_eq!(client["state"], "established", "{client}");
    }
}
