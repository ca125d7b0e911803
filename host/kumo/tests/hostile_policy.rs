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
use common::{attrs, holds, speaker};

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
