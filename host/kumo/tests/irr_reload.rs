//! IRR data re-read on reload: a route rejected because its prefix is not
//! registered (12) is accepted and announced once the RPSL file registers it
//! and kumo reloads; a broken IRR file refuses the reload and changes
//! nothing; no session is reset.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use ipnet::IpNet;
use kumo::daemon::ReloadError;
use kumo::speaker::Speaker;
use kumo_wire::{AsPath, AsPathSegment, Origin, PathAttributes};

mod common;
use common::{free_port, holds, speaker, start_from_file};

const WAIT: Duration = Duration::from_secs(10);
const NET: u8 = 222;

fn rpsl(extra_route: &str) -> String {
    format!(
        "as-set: AS-MEMBER\nmembers: AS3333\nsource: TEST\n\n\
         route: 193.0.0.0/21\norigin: AS3333\nsource: TEST\n\n{extra_route}"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_reads_the_irr_files_again_and_reevaluates() {
    let dir = std::env::temp_dir().join(format!("kumo-irr-reload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("ix.rpsl"), rpsl("")).unwrap();
    let port = free_port(NET);
    let path = dir.join("kumo.toml");
    std::fs::write(
        &path,
        format!(
            "[server]\nasn = 64500\nrouter_id = \"192.0.2.254\"\nlisten = [\"127.0.{NET}.1:{port}\"]\n\n\
             [irr]\nfiles = [\"ix.rpsl\"]\n\n\
             [policies.rs-standard.config]\nrs_as = 64500\n\n\
             [[clients]]\nname = \"a\"\nasn = 3333\nip = [\"127.0.{NET}.2\"]\n\
             import = [\"rs-standard\"]\nexport = [\"rs-standard\"]\n\
             params = {{ filtering = {{ next_hop = {{ policy = \"off\" }}, irrdb = {{ as_sets = [\"AS-MEMBER\"] }} }} }}\n\n\
             [[clients]]\nname = \"b\"\nasn = 6939\nip = [\"127.0.{NET}.3\"]\n\
             import = [\"rs-standard\"]\nexport = [\"rs-standard\"]\n"
        ),
    )
    .unwrap();
    let daemon = start_from_file(&path, None).await;
    let bgp = daemon.listening[0];
    let mut a = Speaker::connect(&speaker(NET, 2, 3333), bgp).await.unwrap();
    let mut b = Speaker::connect(&speaker(NET, 3, 6939), bgp).await.unwrap();
    let registered: IpNet = "193.0.0.0/21".parse().unwrap();
    let later: IpNet = "193.0.16.0/21".parse().unwrap();
    let attrs = PathAttributes {
        origin: Some(Origin::Igp),
        as_path: Some(AsPath::from(vec![AsPathSegment::Sequence(vec![3333])])),
        next_hop: Some("192.0.2.9".parse().unwrap()),
        ..Default::default()
    };
    a.announce(&attrs, None, &[registered, later]).await.unwrap();
    assert!(b.recv_until(WAIT, |s| holds(s, &registered)).await.unwrap());
    assert!(!holds(&b, &later), "an unregistered prefix passed the IRR step");
    let code = daemon
        .query(move |core| {
            core.rib()
                .paths(&later)
                .first()
                .and_then(|p| p.reject_reason().map(|r| r.code))
        })
        .await
        .unwrap();
    assert_eq!(code, Some(12));

    // A broken IRR file: the reload is refused, naming the key, and nothing changes.
    std::fs::write(
        dir.join("ix.rpsl"),
        "route: 193.0.16.0/33\norigin: AS3333\nsource: TEST\n",
    )
    .unwrap();
    match daemon.reload().await {
        Err(ReloadError::Invalid(message)) => assert!(message.contains("irr.files"), "{message}"),
        other => panic!("a broken IRR file was accepted: {other:?}"),
    }
    assert!(holds(&b, &registered));

    // The file registers the second prefix: after the reload, b receives it.
    std::fs::write(
        dir.join("ix.rpsl"),
        rpsl("route: 193.0.16.0/21\norigin: AS3333\nsource: TEST\n"),
    )
    .unwrap();
    daemon.reload().await.unwrap();
    assert!(b.recv_until(WAIT, |s| holds(s, &later)).await.unwrap());
    assert!(
        holds(&b, &registered),
        "the registered prefix was lost on the way"
    );
    // Same sessions throughout: neither speaker saw its session end.
    assert!(a.recv_until(Duration::from_millis(200), |_| false).await.is_ok());
    assert!(b.recv_until(Duration::from_millis(200), |_| false).await.is_ok());
    std::fs::remove_dir_all(&dir).ok();
}
