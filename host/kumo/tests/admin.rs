//! The admin API on a running daemon: reads, auth, shutdown with a message,
//! and static-hold (a declared maintenance window keeps a client's routes).
#![allow(clippy::unwrap_used)]

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use kumo::daemon::{Daemon, StartOptions};
use kumo::speaker::{Speaker, SpeakerError};
use kumo_wire::AfiSafi;

mod common;
use common::{attrs, holds, speaker};

const WAIT: Duration = Duration::from_secs(10);
const TOKEN: &str = "s3cret";

async fn start(net: u8) -> (Arc<Daemon>, SocketAddr, SocketAddr) {
    start_with(net, "").await
}

/// The daemon with two clients, `watcher` and `member`; `member_extra` is
/// added to the member's table, and may open further tables after it.
async fn start_with(net: u8, member_extra: &str) -> (Arc<Daemon>, SocketAddr, SocketAddr) {
    let text = format!(
        r#"
[server]
asn = 64500
router_id = "192.0.2.254"
listen = ["127.0.{net}.1:0"]

[admin]
listen = "127.0.{net}.1:0"
token = "{TOKEN}"

[[clients]]
name = "watcher"
asn = 65002
ip = ["127.0.{net}.2"]

[[clients]]
name = "member"
asn = 65003
ip = ["127.0.{net}.3"]
{member_extra}
"#
    );
    let daemon = Arc::new(Daemon::start(kumo_config::parse(&text).unwrap()).await.unwrap());
    let bgp = daemon.listening[0];
    let admin = kumo::admin::spawn(daemon.clone()).await.unwrap().unwrap();
    (daemon, bgp, admin.listening)
}

/// One HTTP/1.1 request; returns (status, body).
async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: impl AsRef<[u8]>,
) -> (u16, String) {
    // Policy uploads carry a component; everything else JSON.
    let content_type = if method == "PUT" || path.ends_with("/dry-run") {
        "application/wasm"
    } else {
        "application/json"
    };
    common::http(addr, method, path, token, content_type, body.as_ref()).await
}

fn json(body: &str) -> serde_json::Value {
    // Bodies may be chunked; take the JSON object inside.
    let start = body.find('{').unwrap_or(0);
    let end = body.rfind('}').map(|e| e + 1).unwrap_or(body.len());
    serde_json::from_str(&body[start..end]).unwrap_or_else(|e| panic!("{e}: {body}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_show_sessions_and_routes_and_mutations_need_the_token() {
    let (_daemon, bgp, api) = start(221).await;
    let mut watcher = Speaker::connect(&speaker(221, 2, 65002), bgp).await.unwrap();
    let mut member = Speaker::connect(&speaker(221, 3, 65003), bgp).await.unwrap();
    member
        .announce(
            &attrs(65003),
            None,
            &["198.51.100.0/24".parse::<IpNet>().unwrap()],
        )
        .await
        .unwrap();
    assert!(watcher.recv_until(WAIT, |s| s.rib.len() == 1).await.unwrap());

    let (status, body) = http(api, "GET", "/api/v1/clients/member", None, "").await;
    assert_eq!(status, 200, "{body}");
    let client = json(&body);
    assert_eq!(client["state"], "established", "{client}");
    let v4 = client["prefixes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["afi"] == "ipv4")
        .unwrap()
        .clone();
    assert_eq!(
        (v4["received"].as_u64(), v4["accepted"].as_u64()),
        (Some(1), Some(1)),
        "{client}"
    );

    // What kumo counts as sent is what the watcher received (the route and
    // the End-of-RIB markers): counted when a shared segment is encoded,
    // not by walking what is written.
    let mut sent_and_received = (None, 0);
    for _ in 0..50 {
        watcher
            .recv_until(Duration::from_millis(100), |_| false)
            .await
            .unwrap();
        let (_, body) = http(api, "GET", "/api/v1/clients/watcher", None, "").await;
        sent_and_received = (json(&body)["updates_sent"].as_u64(), watcher.updates_received);
        if sent_and_received.0 == Some(sent_and_received.1) && !watcher.end_of_rib.is_empty() {
            break;
        }
    }
    assert_eq!(sent_and_received.0, Some(sent_and_received.1));
    assert!(sent_and_received.1 >= 2, "{sent_and_received:?}");

    let (status, body) = http(
        api,
        "GET",
        "/api/v1/clients/member/routes?view=received",
        None,
        "",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("198.51.100.0/24"), "{body}");
    let (status, body) = http(
        api,
        "GET",
        "/api/v1/clients/watcher/routes?view=exported",
        None,
        "",
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        body.contains("198.51.100.0/24") && body.contains("member"),
        "{body}"
    );

    let (status, body) = http(api, "GET", "/api/v1/routes/198.51.100.0/24", None, "").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"exported\":true"), "{body}");

    let (status, _) = http(api, "GET", "/api/v1/clients/nobody", None, "").await;
    assert_eq!(status, 404);

    // A mutation without or with a wrong token changes nothing.
    let shutdown = r#"{"message": "maintenance: replacing the line card"}"#;
    assert_eq!(
        http(api, "POST", "/api/v1/clients/member/shutdown", None, shutdown)
            .await
            .0,
        401
    );
    assert_eq!(
        http(
            api,
            "POST",
            "/api/v1/clients/member/shutdown",
            Some("wrong"),
            shutdown
        )
        .await
        .0,
        401
    );
    let still = member.recv_until(Duration::from_millis(300), |_| false).await;
    assert!(
        matches!(still, Ok(false)),
        "session affected by a refused request: {still:?}"
    );

    // With the token: Cease / Administrative Shutdown with the message (RFC 8203).
    let (status, body) = http(
        api,
        "POST",
        "/api/v1/clients/member/shutdown",
        Some(TOKEN),
        shutdown,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    match member.recv_until(WAIT, |_| false).await {
        Err(SpeakerError::Notification(n)) => {
            assert_eq!((n.code, n.subcode), (6, 2));
            assert_eq!(
                n.shutdown_message().as_deref(),
                Some("maintenance: replacing the line card")
            );
        }
        other => panic!("expected Administrative Shutdown, got {other:?}"),
    }
    assert!(watcher.recv_until(WAIT, |s| s.rib.is_empty()).await.unwrap());
    // Shut down means refused until enabled.
    assert!(Speaker::connect(&speaker(221, 3, 65003), bgp).await.is_err());
    let (status, body) = http(api, "POST", "/api/v1/clients/member/enable", Some(TOKEN), "{}").await;
    assert_eq!(status, 200, "{body}");
    Speaker::connect(&speaker(221, 3, 65003), bgp)
        .await
        .expect("session after enable");

    let (status, metrics) = http(api, "GET", "/metrics", None, "").await;
    assert_eq!(status, 200);
    assert!(metrics.contains("kumo_"), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_hold_keeps_routes_through_a_declared_maintenance() {
    let (_daemon, bgp, api) = start(222).await;
    let mut watcher = Speaker::connect(&speaker(222, 2, 65002), bgp).await.unwrap();
    let member_cfg = speaker(222, 3, 65003); // no Graceful Restart capability
    let mut member = Speaker::connect(&member_cfg, bgp).await.unwrap();
    let routes: Vec<IpNet> = vec![
        "198.51.100.0/24".parse().unwrap(),
        "203.0.113.0/24".parse().unwrap(),
    ];
    member.announce(&attrs(65003), None, &routes).await.unwrap();
    assert!(watcher.recv_until(WAIT, |s| s.rib.len() == 2).await.unwrap());

    let (status, body) = http(
        api,
        "POST",
        "/api/v1/clients/member/hold",
        Some(TOKEN),
        r#"{"seconds": 60}"#,
    )
    .await;
    assert_eq!(status, 200, "{body}");

    // The member's router restarts: TCP closes without NOTIFICATION, and it has no GR.
    drop(member);
    let lost = watcher
        .recv_until(Duration::from_secs(2), |s| s.rib.len() < 2)
        .await
        .unwrap();
    assert!(!lost, "held routes were withdrawn: {:?}", watcher.rib.keys());
    let (_, body) = http(api, "GET", "/api/v1/clients/member", None, "").await;
    let client = json(&body);
    assert_eq!(client["hold"]["holding"], true, "{client}");
    assert_eq!(client["hold"]["held_routes"], 2, "{client}");

    // Back up: it re-announces one route and End-of-RIB; the other is withdrawn then.
    let mut member = Speaker::connect(&member_cfg, bgp).await.unwrap();
    member.announce(&attrs(65003), None, &routes[..1]).await.unwrap();
    member.end_of_rib(AfiSafi::IPV4_UNICAST).await.unwrap();
    assert!(
        watcher.recv_until(WAIT, |s| s.rib.len() == 1).await.unwrap(),
        "{:?}",
        watcher.rib.keys()
    );

    // Cancelled window: the next loss withdraws at once.
    assert_eq!(
        http(api, "DELETE", "/api/v1/clients/member/hold", Some(TOKEN), "")
            .await
            .0,
        200
    );
    drop(member);
    assert!(watcher.recv_until(WAIT, |s| s.rib.is_empty()).await.unwrap());
}

/// Hot swap: a module replaced through the API re-evaluates the retained
/// routes, sends only the difference, resets no session, and rolls back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_swap_dry_run_and_rollback_keep_sessions_up() {
    // `gate` starts as accept-all; rs-import (uploaded below) rejects the
    // member's route: its NEXT_HOP 192.0.2.3 is not the member's address.
    let (_daemon, bgp, api) = start_with(
        222,
        "import = [\"gate\"]\n\n[policies.gate]\nbuiltin = \"accept-all\"",
    )
    .await;
    let mut watcher = Speaker::connect(&speaker(222, 2, 65002), bgp).await.unwrap();
    let mut member = Speaker::connect(&speaker(222, 3, 65003), bgp).await.unwrap();
    let p1: IpNet = "198.51.100.0/24".parse().unwrap();
    member.announce(&attrs(65003), None, &[p1]).await.unwrap();
    assert!(watcher.recv_until(WAIT, |s| holds(s, &p1)).await.unwrap());

    let (status, body) = http(api, "GET", "/api/v1/policies", None, "").await;
    assert_eq!(status, 200, "{body}");
    let before = json(&body);
    let gate = |list: &serde_json::Value| {
        list["policies"]
            .as_array()
            .and_then(|a| a.iter().find(|p| p["name"] == "gate").cloned())
            .unwrap_or_else(|| panic!("no gate in {list}"))
    };
    assert_eq!(gate(&before)["rollback_available"], false, "{before}");

    let candidate = kumo_policy::builtin::RS_IMPORT;
    // Bad uploads change nothing: no token, not wasm, unknown module.
    assert_eq!(
        http(api, "PUT", "/api/v1/policies/gate", None, candidate).await.0,
        401
    );
    let (status, body) = http(api, "PUT", "/api/v1/policies/gate", Some(TOKEN), b"not wasm").await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = http(api, "PUT", "/api/v1/policies/nope", Some(TOKEN), candidate).await;
    assert_eq!(status, 404, "{body}");

    // Dry run: one route would flip to reject; nothing changes.
    let (status, body) = http(
        api,
        "POST",
        "/api/v1/policies/gate/dry-run",
        Some(TOKEN),
        candidate,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let dry = json(&body);
    assert_eq!(
        (dry["routes_reevaluated"].as_u64(), dry["changed"].as_u64()),
        (Some(1), Some(1)),
        "{dry}"
    );
    assert_eq!(dry["clients"][0]["client"], "member", "{dry}");
    assert_eq!(dry["clients"][0]["to_reject"], 1, "{dry}");
    assert_eq!(dry["clients"][0]["examples"][0]["reason"]["code"], 5, "{dry}");
    let quiet = watcher
        .recv_until(Duration::from_millis(300), |s| !holds(s, &p1))
        .await;
    assert!(matches!(quiet, Ok(false)), "a dry run changed routes: {quiet:?}");

    // The swap: the route is withdrawn from the watcher, sessions stay up.
    let (status, body) = http(api, "PUT", "/api/v1/policies/gate", Some(TOKEN), candidate).await;
    assert_eq!(status, 200, "{body}");
    let swap = json(&body);
    assert_eq!(
        (swap["routes_reevaluated"].as_u64(), swap["changed"].as_u64()),
        (Some(1), Some(1)),
        "{swap}"
    );
    assert!(watcher.recv_until(WAIT, |s| s.rib.is_empty()).await.unwrap());
    let (_, body) = http(
        api,
        "GET",
        "/api/v1/clients/member/routes?view=filtered",
        None,
        "",
    )
    .await;
    assert!(
        body.contains("\"policy\":\"gate\"") && body.contains("\"code\":5"),
        "{body}"
    );
    let (_, body) = http(api, "GET", "/api/v1/policies", None, "").await;
    let after = json(&body);
    assert_ne!(gate(&after)["sha256"], gate(&before)["sha256"], "{after}");
    assert_eq!(gate(&after)["rollback_available"], true, "{after}");

    // Rollback: the route comes back, on the same sessions.
    let (status, body) = http(api, "POST", "/api/v1/policies/gate/rollback", Some(TOKEN), "{}").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["sha256"], gate(&before)["sha256"], "{body}");
    assert!(watcher.recv_until(WAIT, |s| holds(s, &p1)).await.unwrap());
    let (status, body) = http(api, "POST", "/api/v1/policies/gate/rollback", Some(TOKEN), "{}").await;
    assert_eq!(status, 409, "{body}");
    // Both sessions are the ones opened at the start: still usable.
    let p2: IpNet = "203.0.113.0/24".parse().unwrap();
    member.announce(&attrs(65003), None, &[p2]).await.unwrap();
    assert!(watcher.recv_until(WAIT, |s| holds(s, &p2)).await.unwrap());
    let (_, body) = http(api, "GET", "/api/v1/clients/member", None, "").await;
    assert_eq!(json(&body)["state"], "established", "{body}");
}

/// Routes kumo originates itself go out through the receivers' export chains.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn originated_routes_pass_export_policies_and_can_be_withdrawn() {
    let (_daemon, bgp, api) = start_with(
        225,
        "export = [\"rs-standard\"]\n\n[policies.rs-standard.config]\nrs_as = 64500",
    )
    .await;
    let mut watcher = Speaker::connect(&speaker(225, 2, 65002), bgp).await.unwrap();
    let mut member = Speaker::connect(&speaker(225, 3, 65003), bgp).await.unwrap();
    let both: IpNet = "198.51.100.0/24".parse().unwrap();
    let not_member: IpNet = "203.0.113.0/24".parse().unwrap();

    let body = r#"{"prefix": "198.51.100.0/24", "next_hop": "192.0.2.77", "as_path": [64500],
                   "communities": ["65001:1"], "large_communities": ["65001:7:8"], "med": 5}"#;
    assert_eq!(http(api, "POST", "/api/v1/routes", None, body).await.0, 401);
    let (status, reply) = http(api, "POST", "/api/v1/routes", Some(TOKEN), body).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(json(&reply)["originated"], true, "{reply}");
    // Euro-IX "do not announce to AS65003": the member's rs-standard export chain honours it.
    let tagged = r#"{"prefix": "203.0.113.0/24", "next_hop": "192.0.2.77", "communities": ["0:65003"]}"#;
    let (status, reply) = http(api, "POST", "/api/v1/routes", Some(TOKEN), tagged).await;
    assert_eq!(status, 200, "{reply}");

    assert!(
        watcher
            .recv_until(WAIT, |s| holds(s, &both) && holds(s, &not_member))
            .await
            .unwrap()
    );
    assert!(member.recv_until(WAIT, |s| holds(s, &both)).await.unwrap());
    let extra = member
        .recv_until(Duration::from_millis(300), |s| holds(s, &not_member))
        .await;
    assert!(
        matches!(extra, Ok(false)),
        "the member got a route it was not to get: {extra:?}"
    );
    let route = watcher
        .rib
        .iter()
        .find(|(n, _)| n.prefix == both)
        .map(|(_, a)| a.clone())
        .unwrap();
    assert_eq!(route.next_hop, Some(Ipv4Addr::new(192, 0, 2, 77)));
    assert_eq!(route.med, Some(5));
    assert_eq!(route.communities, vec![(65001 << 16) | 1]);
    assert_eq!(route.large_communities.len(), 1);

    // Bad requests change nothing.
    let wrong_family = r#"{"prefix": "198.51.100.0/24", "next_hop": "2001:db8::1"}"#;
    assert_eq!(
        http(api, "POST", "/api/v1/routes", Some(TOKEN), wrong_family)
            .await
            .0,
        400
    );
    let unknown = r#"{"prefix": "192.0.2.0/24"}"#;
    assert_eq!(
        http(api, "DELETE", "/api/v1/routes", Some(TOKEN), unknown)
            .await
            .0,
        404
    );

    let (status, reply) = http(
        api,
        "DELETE",
        "/api/v1/routes",
        Some(TOKEN),
        r#"{"prefix": "198.51.100.0/24"}"#,
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(json(&reply)["originated"], false, "{reply}");
    assert!(
        watcher
            .recv_until(WAIT, |s| !holds(s, &both) && holds(s, &not_member))
            .await
            .unwrap()
    );
    assert!(member.recv_until(WAIT, |s| s.rib.is_empty()).await.unwrap());
}

/// A dry run of an export policy names the receivers that would lose paths.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_dry_run_lists_the_receivers_that_would_lose_paths() {
    let (_daemon, bgp, api) = start_with(
        226,
        "export = [\"gate\"]\n\n[policies.gate]\nbuiltin = \"accept-all\"\nconfig = { rs_as = 64500 }",
    )
    .await;
    let mut watcher = Speaker::connect(&speaker(226, 2, 65002), bgp).await.unwrap();
    let mut member = Speaker::connect(&speaker(226, 3, 65003), bgp).await.unwrap();
    // Euro-IX "do not announce to AS65003", which accept-all ignores and rs-standard honours.
    let mut tagged = attrs(65002);
    tagged.communities = kumo_wire::thin_vec![65003];
    let p: IpNet = "198.51.100.0/24".parse().unwrap();
    watcher.announce(&tagged, None, &[p]).await.unwrap();
    assert!(member.recv_until(WAIT, |s| holds(s, &p)).await.unwrap());

    let candidate = kumo_policy::builtin::RS_STANDARD;
    let (status, body) = http(
        api,
        "POST",
        "/api/v1/policies/gate/dry-run",
        Some(TOKEN),
        candidate,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let dry = json(&body);
    assert_eq!(dry["changed"], 1, "{dry}");
    let member_flips = dry["clients"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["client"] == "member").cloned())
        .unwrap_or_else(|| panic!("no flips for the member: {dry}"));
    assert_eq!(
        (
            member_flips["to_reject"].as_u64(),
            member_flips["to_accept"].as_u64()
        ),
        (Some(1), Some(0)),
        "{dry}"
    );
    assert_eq!(member_flips["examples"][0]["prefix"], "198.51.100.0/24", "{dry}");
    // Nothing was swapped: the member still has the path.
    let quiet = member
        .recv_until(Duration::from_millis(300), |s| s.rib.is_empty())
        .await;
    assert!(matches!(quiet, Ok(false)), "a dry run changed routes: {quiet:?}");
}

/// An upload that kumo cannot compile because its compiler fails (not the
/// module's fault) is a 500 naming the compiler, changes nothing, and the
/// same upload passes once the compiler works again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_the_compiler_fails_on_is_a_server_error_not_a_bad_module() {
    let flag = std::env::temp_dir().join(format!("kumo-compiler-broken-{}", std::process::id()));
    let _ = std::fs::remove_file(&flag);
    // kumo's own compile-policy, except while `flag` exists.
    let script = format!(
        "test -e '{}' && exit 3; exec '{}' compile-policy",
        flag.display(),
        env!("CARGO_BIN_EXE_kumo")
    );
    // SAFETY: the script writes what `kumo compile-policy` of this build
    // writes, or nothing.
    #[allow(unsafe_code)]
    let compiler =
        unsafe { kumo_policy::Compiler::subprocess("sh".into(), vec!["-c".into(), script.into()]) };
    let text = format!(
        r#"
[server]
asn = 64500
router_id = "192.0.2.254"
listen = ["127.0.223.1:0"]

[admin]
listen = "127.0.223.1:0"
token = "{TOKEN}"

[[clients]]
name = "member"
asn = 65003
ip = ["127.0.223.3"]
import = ["gate"]

[policies.gate]
builtin = "accept-all"
"#
    );
    let options = StartOptions {
        compiler,
        ..StartOptions::default()
    };
    let daemon = Arc::new(
        Daemon::start_with(kumo_config::parse(&text).unwrap(), options)
            .await
            .unwrap(),
    );
    let api = kumo::admin::spawn(daemon.clone())
        .await
        .unwrap()
        .unwrap()
        .listening;
    let sha = |body: &str| {
        json(body)["policies"]
            .as_array()
            .and_then(|a| a.iter().find(|p| p["name"] == "gate"))
            .map(|p| p["sha256"].clone())
            .unwrap()
    };
    let before = sha(&http(api, "GET", "/api/v1/policies", None, "").await.1);

    std::fs::write(&flag, b"").unwrap();
    // rs-import is not among the compiled modules, so the compiler runs.
    let candidate = kumo_policy::builtin::RS_IMPORT;
    let (status, body) = http(api, "PUT", "/api/v1/policies/gate", Some(TOKEN), candidate).await;
    assert_eq!(status, 500, "{body}");
    assert!(
        body.contains("cannot be compiled now")
            && body.contains("policy compiler sh -c")
            && body.contains("exit status: 3"),
        "{body}"
    );
    assert_eq!(
        sha(&http(api, "GET", "/api/v1/policies", None, "").await.1),
        before
    );

    std::fs::remove_file(&flag).unwrap();
    let (status, body) = http(api, "PUT", "/api/v1/policies/gate", Some(TOKEN), candidate).await;
    assert_eq!(status, 200, "{body}");
    assert_ne!(
        sha(&http(api, "GET", "/api/v1/policies", None, "").await.1),
        before
    );
}
