//! Configuration reload: added clients start, removed ones get a Cease
//! (Peer De-configured), policy changes apply in place, untouched sessions
//! stay up, and a bad file changes nothing.
#![allow(clippy::unwrap_used)]

use std::net::Ipv4Addr;
use std::time::Duration;

use ipnet::IpNet;
use kumo::daemon::ReloadError;
use kumo::speaker::{Speaker, SpeakerError};

mod common;
use common::{attrs, holds, speaker, start_from_file};

const WAIT: Duration = Duration::from_secs(10);
const NET: u8 = 224;

fn config(port: u16, clients: &[(&str, u32, u8, &str)]) -> String {
    let mut text =
        format!("[server]\nasn = 64500\nrouter_id = \"192.0.2.254\"\nlisten = [\"127.0.{NET}.1:{port}\"]\n");
    for (name, asn, host, extra) in clients {
        text.push_str(&format!(
            "\n[[clients]]\nname = \"{name}\"\nasn = {asn}\nip = [\"127.0.{NET}.{host}\"]\n{extra}\n"
        ));
    }
    text
}

/// A scratch directory, the configuration file's path in it, and a free
/// port for the listen address (fixed: the reloaded file must name the same
/// listen address).
fn scratch(name: &str) -> (std::path::PathBuf, std::path::PathBuf, u16) {
    let dir = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("kumo.toml");
    let port = {
        let l = std::net::TcpListener::bind((Ipv4Addr::new(127, 0, NET, 1), 0)).unwrap();
        l.local_addr().unwrap().port()
    };
    (dir, path, port)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_adds_removes_and_changes_clients_without_touching_others() {
    let (dir, path, port) = scratch("kumo-reload");
    let first = config(
        port,
        &[("a", 65002, 2, ""), ("b", 65003, 3, ""), ("gone", 65009, 9, "")],
    );
    let daemon = start_from_file(&path, Some(&first)).await;
    let bgp = daemon.listening[0];
    let mut a = Speaker::connect(&speaker(NET, 2, 65002), bgp).await.unwrap();
    let mut b = Speaker::connect(&speaker(NET, 3, 65003), bgp).await.unwrap();
    let mut gone = Speaker::connect(&speaker(NET, 9, 65009), bgp).await.unwrap();
    let pa: IpNet = "198.51.100.0/24".parse().unwrap();
    let pgone: IpNet = "203.0.113.0/24".parse().unwrap();
    a.announce(&attrs(65002), None, &[pa]).await.unwrap();
    gone.announce(&attrs(65009), None, &[pgone]).await.unwrap();
    assert!(
        b.recv_until(WAIT, |s| holds(s, &pa) && holds(s, &pgone))
            .await
            .unwrap()
    );

    // A file that does not validate changes nothing.
    std::fs::write(&path, first.replace("asn = 65002", "asn = 0")).unwrap();
    assert!(matches!(daemon.reload().await, Err(ReloadError::Invalid(_))));
    // Neither does one naming a policy that does not exist.
    std::fs::write(&path, config(port, &[("a", 65002, 2, "import = [\"nope\"]")])).unwrap();
    assert!(matches!(daemon.reload().await, Err(ReloadError::Invalid(_))));
    // Nor a [server] change, which needs a restart.
    std::fs::write(
        &path,
        first.replace("router_id = \"192.0.2.254\"", "router_id = \"192.0.2.253\""),
    )
    .unwrap();
    assert!(matches!(daemon.reload().await, Err(ReloadError::NeedsRestart(_))));
    let quiet = b
        .recv_until(Duration::from_millis(300), |s| !holds(s, &pgone))
        .await;
    assert!(
        matches!(quiet, Ok(false)),
        "a refused reload changed routes: {quiet:?}"
    );

    // Add c, remove `gone`, give a an import policy that rejects its route
    // (rs-import: NEXT_HOP 192.0.2.9 is not a's address), leave b alone.
    std::fs::write(
        &path,
        config(
            port,
            &[
                ("a", 65002, 2, "import = [\"rs-import\"]"),
                ("b", 65003, 3, ""),
                ("c", 65004, 4, ""),
            ],
        ),
    )
    .unwrap();
    let report = daemon.reload().await.unwrap();
    assert_eq!(report.added, ["c"]);
    assert_eq!(report.removed, ["gone"]);
    assert_eq!(report.changed, ["a"]);
    assert_eq!(report.unchanged, ["b"]);

    match gone.recv_until(WAIT, |_| false).await {
        Err(SpeakerError::Notification(n)) => assert_eq!((n.code, n.subcode), (6, 3), "{n:?}"),
        other => panic!("expected Cease / Peer De-configured, got {other:?}"),
    }
    // b loses the removed client's route and a's (now rejected) one, on the same session.
    assert!(b.recv_until(WAIT, |s| s.rib.is_empty()).await.unwrap());
    // c is a new client: it can connect and announce, and b receives it.
    let mut c = Speaker::connect(&speaker(NET, 4, 65004), bgp).await.unwrap();
    let pc: IpNet = "192.0.2.0/24".parse().unwrap();
    c.announce(&attrs(65004), None, &[pc]).await.unwrap();
    assert!(b.recv_until(WAIT, |s| holds(s, &pc)).await.unwrap());
    // a kept its session through the change of its policy.
    let pa2: IpNet = "198.51.100.128/25".parse().unwrap();
    a.announce(&attrs(65002), None, &[pa2]).await.unwrap();
    let a_alive = a.recv_until(Duration::from_millis(300), |_| false).await;
    assert!(
        matches!(a_alive, Ok(false)),
        "a's session was touched: {a_alive:?}"
    );
    let a_routes = daemon
        .query(|core| core.rib().counts(kumo_rib::PeerId(0)).ipv4.received)
        .await
        .unwrap();
    assert_eq!(
        a_routes, 2,
        "a's session kept its Adj-RIB-In and takes new routes"
    );
    let status = daemon
        .query(|core| core.clients().iter().filter(|s| !s.removed).count())
        .await
        .unwrap();
    assert_eq!(status, 3);
    // The removed client's address is refused now.
    assert!(Speaker::connect(&speaker(NET, 9, 65009), bgp).await.is_err());
    let _ = std::fs::remove_dir_all(&dir);
}

/// A client added by a reload runs on the daemon's runtime like the others:
/// with `passive = false` kumo connects to it. (Its session task used to be
/// spawned from the core's thread, onto the core's own runtime, which has no
/// I/O driver: the connection attempt panicked the task.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_added_by_reload_is_connected_to() {
    let (dir, path, port) = scratch("kumo-reload-active");
    let first = config(port, &[("a", 65002, 2, "")]);
    let daemon = start_from_file(&path, Some(&first)).await;
    // The new client listens; kumo is to connect to it.
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::new(127, 0, NET, 20), 0))
        .await
        .unwrap();
    let client_port = listener.local_addr().unwrap().port();
    let active = format!("passive = false\nport = {client_port}");
    std::fs::write(
        &path,
        config(port, &[("a", 65002, 2, ""), ("active", 65020, 20, &active)]),
    )
    .unwrap();
    let report = daemon.reload().await.unwrap();
    assert_eq!(report.added, ["active"]);
    let (mut stream, from) = tokio::time::timeout(WAIT, listener.accept())
        .await
        .expect("kumo connects to the added client")
        .unwrap();
    assert_eq!(from.ip(), Ipv4Addr::new(127, 0, NET, 1));
    // ... and its session task carries on: kumo's OPEN arrives.
    let mut header = [0u8; 19];
    tokio::time::timeout(
        WAIT,
        tokio::io::AsyncReadExt::read_exact(&mut stream, &mut header),
    )
    .await
    .expect("an OPEN in time")
    .expect("an OPEN, not a closed connection");
    assert_eq!(header[18], 1, "message type OPEN");
    let _ = std::fs::remove_dir_all(&dir);
}
