//! Lifecycle: the configuration file watched for changes (a ConfigMap's
//! symlink swap), the decommission drain (GRACEFUL_SHUTDOWN, then Cease), and
//! static hold (held routes marked, also across a reload).
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use kumo::daemon::Daemon;
use kumo::speaker::{Speaker, SpeakerError};

mod common;
use common::{attrs, free_port, holds, speaker, start_from_file};

const WAIT: Duration = Duration::from_secs(10);
const GRACEFUL_SHUTDOWN: u32 = 0xFFFF_0000;

fn config(net: u8, port: u16, server_extra: &str, clients: &[(&str, u32, u8)]) -> String {
    let mut text = format!(
        "[server]\nasn = 64500\nrouter_id = \"192.0.2.254\"\nlisten = [\"127.0.{net}.1:{port}\"]\n{server_extra}\n"
    );
    for (name, asn, host) in clients {
        text.push_str(&format!(
            "\n[[clients]]\nname = \"{name}\"\nasn = {asn}\nip = [\"127.0.{net}.{host}\"]\n"
        ));
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watched_config_reloads_on_a_symlink_swap() {
    const NET: u8 = 226;
    let dir = std::env::temp_dir().join(format!("kumo-watch-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_port(NET);
    let server = "watch_config = true";
    // Like a ConfigMap volume: kumo.toml -> ..data/kumo.toml, ..data -> a versioned directory.
    for (version, clients) in [
        ("v1", vec![("a", 65002, 2)]),
        ("v2", vec![("a", 65002, 2), ("b", 65003, 3)]),
    ] {
        std::fs::create_dir_all(dir.join(version)).unwrap();
        std::fs::write(
            dir.join(version).join("kumo.toml"),
            config(NET, port, server, &clients),
        )
        .unwrap();
    }
    std::os::unix::fs::symlink("v1", dir.join("..data")).unwrap();
    std::os::unix::fs::symlink("..data/kumo.toml", dir.join("kumo.toml")).unwrap();
    let path = dir.join("kumo.toml");
    let daemon = Arc::new(start_from_file(&path, None).await);
    let watcher = daemon.watch_config(Duration::from_millis(100)).unwrap();
    let bgp = daemon.listening[0];
    let mut a = Speaker::connect(&speaker(NET, 2, 65002), bgp).await.unwrap();
    assert!(
        Speaker::connect(&speaker(NET, 3, 65003), bgp).await.is_err(),
        "b is not configured yet"
    );

    // The atomic swap: a new ..data link renamed over the old one.
    std::os::unix::fs::symlink("v2", dir.join("..data_tmp")).unwrap();
    std::fs::rename(dir.join("..data_tmp"), dir.join("..data")).unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut b = loop {
        if let Ok(b) = Speaker::connect(&speaker(NET, 3, 65003), bgp).await {
            break b;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "b never became configured"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // a kept its session: its route reaches the new client.
    let p: IpNet = "198.51.100.0/24".parse().unwrap();
    a.announce(&attrs(65002), None, &[p]).await.unwrap();
    assert!(b.recv_until(WAIT, |s| holds(s, &p)).await.unwrap());
    watcher.abort();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drains_with_graceful_shutdown_then_ceases() {
    const NET: u8 = 227;
    let port = free_port(NET);
    let text = config(
        NET,
        port,
        "shutdown_drain = 1",
        &[("a", 65002, 2), ("b", 65003, 3)],
    );
    let daemon = Arc::new(Daemon::start(kumo_config::parse(&text).unwrap()).await.unwrap());
    let bgp = daemon.listening[0];
    let mut a = Speaker::connect(&speaker(NET, 2, 65002), bgp).await.unwrap();
    let mut b = Speaker::connect(&speaker(NET, 3, 65003), bgp).await.unwrap();
    let p: IpNet = "198.51.100.0/24".parse().unwrap();
    a.announce(&attrs(65002), None, &[p]).await.unwrap();
    assert!(b.recv_until(WAIT, |s| holds(s, &p)).await.unwrap());
    assert!(!b.rib.values().any(|r| r.communities.contains(&GRACEFUL_SHUTDOWN)));

    let stopping = tokio::spawn({
        let daemon = daemon.clone();
        async move { daemon.shutdown("decommissioned").await }
    });
    // First the route again, marked; the session is still up.
    assert!(
        b.recv_until(WAIT, |s| s
            .rib
            .values()
            .any(|r| r.communities.contains(&GRACEFUL_SHUTDOWN)))
            .await
            .unwrap()
    );
    // Then the Cease with the message.
    match b.recv_until(WAIT, |_| false).await {
        Err(SpeakerError::Notification(n)) => {
            assert_eq!((n.code, n.subcode), (6, 2));
            assert_eq!(n.shutdown_message().as_deref(), Some("decommissioned"));
        }
        other => panic!("expected Administrative Shutdown, got {other:?}"),
    }
    stopping.await.unwrap();
    drop(a);
}

/// `[server]` and `[policies]` lines for a static-hold module that holds every
/// lost session (no window) and marks the held routes with GRACEFUL_SHUTDOWN.
const HOLD_ALWAYS: (&str, &str) = (
    "static_hold = \"hold-always\"",
    "\n[policies.hold-always]\nbuiltin = \"static-hold\"\n\
     config = { mode = \"always\", max_seconds = 60, marking = \"graceful-shutdown\" }\n",
);

fn marked(s: &Speaker) -> bool {
    s.rib.values().any(|r| r.communities.contains(&GRACEFUL_SHUTDOWN))
}

/// Client a (127.0.`net`.2) announces `p` to b (.3), unmarked; then a's
/// session drops (no NOTIFICATION) and b gets `p` again, marked. Returns b.
async fn announce_then_lose(net: u8, bgp: std::net::SocketAddr, p: IpNet) -> Speaker {
    let mut a = Speaker::connect(&speaker(net, 2, 65002), bgp).await.unwrap();
    let mut b = Speaker::connect(&speaker(net, 3, 65003), bgp).await.unwrap();
    a.announce(&attrs(65002), None, &[p]).await.unwrap();
    assert!(b.recv_until(WAIT, |s| holds(s, &p)).await.unwrap());
    assert!(!marked(&b));
    drop(a);
    assert!(b.recv_until(WAIT, marked).await.unwrap());
    b
}

/// The static-hold module decides: here one configured to hold every lost
/// session (no window) and mark the held routes with GRACEFUL_SHUTDOWN.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_static_hold_module_holds_and_marks_a_lost_sessions_routes() {
    const NET: u8 = 228;
    let port = free_port(NET);
    let (server, policy) = HOLD_ALWAYS;
    let text = config(NET, port, server, &[("a", 65002, 2), ("b", 65003, 3)]) + policy;
    let daemon = Daemon::start(kumo_config::parse(&text).unwrap()).await.unwrap();
    let bgp = daemon.listening[0];
    let p: IpNet = "198.51.100.0/24".parse().unwrap();

    // a's session drops (no NOTIFICATION, no window): held, and re-sent marked.
    let mut b = announce_then_lose(NET, bgp, p).await;
    let still = b
        .recv_until(Duration::from_millis(500), |s| s.rib.is_empty())
        .await;
    assert!(
        matches!(still, Ok(false)),
        "the held route was withdrawn: {still:?}"
    );

    // a is back and announces again: the route goes out unmarked.
    let mut a = Speaker::connect(&speaker(NET, 2, 65002), bgp).await.unwrap();
    a.announce(&attrs(65002), None, &[p]).await.unwrap();
    assert!(
        b.recv_until(WAIT, |s| !marked(s) && s.rib.len() == 1)
            .await
            .unwrap()
    );
}

/// A configuration reload while a lost session's routes are held (here one
/// that adds a client) keeps them held and marked: the rebuilt policy
/// pipeline takes over the marks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_keeps_held_routes_marked() {
    const NET: u8 = 227;
    let dir = std::env::temp_dir().join(format!("kumo-hold-reload-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("kumo.toml");
    let port = free_port(NET);
    let (server, policy) = HOLD_ALWAYS;
    let before = config(NET, port, server, &[("a", 65002, 2), ("b", 65003, 3)]) + policy;
    let daemon = start_from_file(&path, Some(&before)).await;
    let p: IpNet = "198.51.100.0/24".parse().unwrap();
    let mut b = announce_then_lose(NET, daemon.listening[0], p).await;

    let clients = [("a", 65002, 2), ("b", 65003, 3), ("c", 65004, 4)];
    std::fs::write(&path, config(NET, port, server, &clients) + policy).unwrap();
    daemon.reload().await.unwrap();
    // Whatever the reload re-sends, b must go on holding the route, marked.
    let unmarked = b
        .recv_until(Duration::from_millis(700), |s| !marked(s) || !holds(s, &p))
        .await;
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        matches!(unmarked, Ok(false)),
        "after the reload the held route lost its mark or went away: {unmarked:?} {:?}",
        b.rib
    );
}

/// A failing static-hold module fails closed: the routes are withdrawn.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_static_hold_module_withdraws() {
    const NET: u8 = 229;
    let wasm = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/wasm/wasm32-wasip2/release/kumo_policy_hostile_hold.wasm");
    assert!(wasm.is_file(), "{} missing", wasm.display());
    let port = free_port(NET);
    // The hostile module spares client id 0 (its own test aid): a is id 1.
    let mut text = config(
        NET,
        port,
        "static_hold = \"boom\"",
        &[("b", 65003, 3), ("a", 65002, 2)],
    );
    text.push_str(&format!(
        "\n[policies.boom]\npath = \"{}\"\nconfig = {{ mode = \"panic\" }}\n",
        wasm.display()
    ));
    let daemon = Daemon::start(kumo_config::parse(&text).unwrap()).await.unwrap();
    let bgp = daemon.listening[0];
    let mut a = Speaker::connect(&speaker(NET, 2, 65002), bgp).await.unwrap();
    let mut b = Speaker::connect(&speaker(NET, 3, 65003), bgp).await.unwrap();
    let p: IpNet = "198.51.100.0/24".parse().unwrap();
    a.announce(&attrs(65002), None, &[p]).await.unwrap();
    assert!(b.recv_until(WAIT, |s| holds(s, &p)).await.unwrap());
    drop(a);
    assert!(b.recv_until(WAIT, |s| s.rib.is_empty()).await.unwrap());
}
