//! The RTR client against a real cache: stayrtr (Debian package `stayrtr`) serving a JSON file
//! this test writes. Needs the `stayrtr` binary on PATH; set `KUMO_SKIP_STAYRTR=1` to skip on a
//! machine without it (the test fails otherwise, so a missing cache is never a silent pass).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ipnet::IpNet;
use kumo_rpki::{CacheStatus, RovState, RpkiSnapshot, RtrClient, RtrConfig, StaleData, Vrp};
use tokio::sync::watch;

const HOST: Ipv4Addr = Ipv4Addr::new(127, 0, 77, 1);
const WAIT: Duration = Duration::from_secs(15);

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn vrp(p: &str, max: u8, asn: u32) -> Vrp {
    Vrp::new(net(p), max, asn).unwrap()
}

fn free_port() -> u16 {
    TcpListener::bind((HOST, 0)).unwrap().local_addr().unwrap().port()
}

fn stayrtr_missing() -> bool {
    if Command::new("stayrtr").arg("-version").output().is_ok() {
        return false;
    }
    if std::env::var_os("KUMO_SKIP_STAYRTR").is_some() {
        eprintln!("stayrtr not installed and KUMO_SKIP_STAYRTR set: skipping");
        return true;
    }
    panic!("stayrtr not found: `apt-get install -y stayrtr` (or set KUMO_SKIP_STAYRTR=1)");
}

/// A scratch directory holding the cache's JSON file and log, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("kumo-rpki-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn vrps_file(&self) -> PathBuf {
        self.0.join("vrps.json")
    }

    /// Writes the cache file atomically so stayrtr never reads half of it.
    fn write_vrps(&self, roas: &[Vrp], aspas: &[(u32, &[u32])]) {
        let roas: Vec<_> = roas
            .iter()
            .map(|v| serde_json::json!({"prefix": v.prefix.to_string(), "maxLength": v.max_length, "asn": format!("AS{}", v.asn)}))
            .collect();
        let aspas: Vec<_> = aspas
            .iter()
            .map(|(customer, providers)| serde_json::json!({"customer_asid": customer, "expires": 4_102_444_800u64, "providers": providers}))
            .collect();
        // stayrtr 0.5's ASPA input is rpki-client's `provider_authorizations` per address family.
        let body =
            serde_json::json!({"roas": roas, "provider_authorizations": {"ipv4": aspas, "ipv6": aspas}});
        let tmp = self.0.join("vrps.json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(&body).unwrap()).unwrap();
        std::fs::rename(&tmp, self.vrps_file()).unwrap();
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running stayrtr; killed on drop, also when the test panics.
struct Stayrtr {
    child: Child,
    log: PathBuf,
}

impl Stayrtr {
    fn start(cache: &Path, port: u16, metrics_port: u16, extra: &[&str], log: PathBuf) -> Self {
        let log_file = std::fs::File::create(&log).unwrap();
        let child = Command::new("stayrtr")
            .arg("-cache")
            .arg(cache)
            .arg("-bind")
            .arg(format!("{HOST}:{port}"))
            .arg("-metrics.addr")
            .arg(format!("{HOST}:{metrics_port}"))
            .args(["-checktime=false", "-refresh", "1"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file)
            .spawn()
            .expect("spawn stayrtr");
        let server = Self { child, log };
        let deadline = Instant::now() + WAIT;
        while TcpStream::connect((HOST, port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "stayrtr did not listen:\n{}",
                server.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Stayrtr {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Waits until a published snapshot satisfies `done`.
async fn wait_for(
    rx: &mut watch::Receiver<Arc<RpkiSnapshot>>,
    what: &str,
    done: impl Fn(&RpkiSnapshot) -> bool,
) -> Arc<RpkiSnapshot> {
    let snapshot = tokio::time::timeout(WAIT, rx.wait_for(|s| done(s)))
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
        .expect("client task ended");
    snapshot.clone()
}

fn config(port: u16) -> RtrConfig {
    RtrConfig {
        backoff_initial: Duration::from_millis(200),
        backoff_max: Duration::from_secs(1),
        ..RtrConfig::new(format!("{HOST}:{port}"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_follows_stayrtr_changes_and_restarts() {
    if stayrtr_missing() {
        return;
    }
    let scratch = Scratch::new("follow");
    let (port, metrics_port) = (free_port(), free_port());
    let initial = [
        vrp("192.0.2.0/24", 24, 64500),
        vrp("198.51.100.0/22", 24, 64501),
        vrp("2001:db8::/32", 48, 64502),
    ];
    scratch.write_vrps(&initial, &[(64500, &[64502, 64501])]);
    let mut cache = Stayrtr::start(
        &scratch.vrps_file(),
        port,
        metrics_port,
        &[],
        scratch.0.join("stayrtr.log"),
    );

    let client = RtrClient::spawn(config(port));
    let mut rx = client.subscribe();
    let mut status = client.status();

    // 1. Initial load.
    let first = wait_for(&mut rx, "initial data", |s| s.roas().len() == 3).await;
    assert_eq!(first.status(), CacheStatus::Synced);
    let mut got: Vec<Vrp> = first.roas().iter().collect();
    got.sort();
    let mut want = initial.to_vec();
    want.sort();
    assert_eq!(got, want);
    let cases: &[(&str, u32, RovState)] = &[
        ("192.0.2.0/24", 64500, RovState::Valid),
        ("192.0.2.0/24", 64999, RovState::Invalid),
        ("192.0.2.0/25", 64500, RovState::Invalid),
        ("198.51.101.0/24", 64501, RovState::Valid),
        ("203.0.113.0/24", 64500, RovState::NotFound),
        ("2001:db8:1::/48", 64502, RovState::Valid),
        ("2001:db8:1::/49", 64502, RovState::Invalid),
    ];
    for (prefix, origin, want) in cases {
        assert_eq!(
            client.snapshot().validate(&net(prefix), *origin),
            *want,
            "{prefix} AS{origin}"
        );
    }
    // The default is RTR version 1 (RFC 8210), which has no ASPA.
    assert!(first.aspas().is_empty(), "{:?}", first.aspas());

    // 2. The cache's data changes: one ROA removed, one changed, one added.
    let changed = [
        vrp("198.51.100.0/22", 23, 64501),
        vrp("2001:db8::/32", 48, 64502),
        vrp("203.0.113.0/24", 24, 64503),
    ];
    let started = Instant::now();
    scratch.write_vrps(&changed, &[(64500, &[64502, 64501])]);
    let second = wait_for(&mut rx, "changed data", |s| {
        s.roas().len() == 3 && s.roas().contains(&vrp("203.0.113.0/24", 24, 64503))
    })
    .await;
    let propagation = started.elapsed();
    eprintln!("change propagated in {propagation:?}");
    assert!(propagation < Duration::from_secs(5), "took {propagation:?}");
    let delta = second.changes_since(&first);
    assert_eq!(
        delta.announced,
        vec![
            vrp("198.51.100.0/22", 23, 64501),
            vrp("203.0.113.0/24", 24, 64503)
        ]
    );
    assert_eq!(
        delta.withdrawn,
        vec![vrp("192.0.2.0/24", 24, 64500), vrp("198.51.100.0/22", 24, 64501)]
    );
    assert_eq!(
        delta.changed_prefixes(),
        vec![net("192.0.2.0/24"), net("198.51.100.0/22"), net("203.0.113.0/24")]
    );
    assert!(!delta.affects(&net("2001:db8::/48")));
    for (prefix, origin, want) in [
        ("192.0.2.0/24", 64500, RovState::NotFound),
        ("198.51.100.0/24", 64501, RovState::Invalid),
        ("198.51.100.0/23", 64501, RovState::Valid),
        ("203.0.113.0/24", 64503, RovState::Valid),
    ] {
        assert_eq!(
            client.snapshot().validate(&net(prefix), origin),
            want,
            "{prefix} AS{origin}"
        );
    }

    // 3. The cache dies: the client notices, keeps the data (KeepUntilExpire) and retries.
    cache.stop();
    tokio::time::timeout(WAIT, status.wait_for(|s| !s.connected && s.connects == 1))
        .await
        .expect("client did not notice the cache going away")
        .unwrap();
    assert_eq!(client.snapshot().roas().len(), 3);
    assert_eq!(client.snapshot().status(), CacheStatus::Synced);

    // 4. It comes back (new session id) with new data: the client reconnects and catches up.
    let restored = [changed.as_slice(), &[vrp("10.0.0.0/8", 8, 64504)]].concat();
    scratch.write_vrps(&restored, &[(64500, &[64502, 64501])]);
    let _cache = Stayrtr::start(
        &scratch.vrps_file(),
        port,
        metrics_port,
        &[],
        scratch.0.join("stayrtr2.log"),
    );
    let third = tokio::time::timeout(WAIT, rx.wait_for(|s| s.roas().len() == 4))
        .await
        .unwrap_or_else(|_| panic!("no data after reconnect; client status {:?}", *status.borrow()))
        .unwrap()
        .clone();
    assert!(status.borrow().connects >= 2, "{:?}", *status.borrow());
    let delta = third.changes_since(&second);
    assert_eq!(delta.announced, vec![vrp("10.0.0.0/8", 8, 64504)]);
    assert!(delta.withdrawn.is_empty(), "{delta:?}");
    assert_eq!(
        client.snapshot().validate(&net("10.1.0.0/16"), 64504),
        RovState::Invalid
    );
    assert_eq!(
        client.snapshot().validate(&net("10.0.0.0/8"), 64504),
        RovState::Valid
    );

    client.shutdown().await;
}

/// Version 2 proposed to stayrtr's default version 2: ROAs work. stayrtr 0.5.1 sends ASPA PDUs
/// in the draft-ietf-sidrops-8210bis-10 layout (flags, AFI and count in the body), which `rpki`
/// 0.20.1 (later draft: flags in the header) reads as withdrawals of a nonexistent customer, so
/// no ASPA record is stored rather than a wrong one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtr_version_2_with_stayrtr() {
    if stayrtr_missing() {
        return;
    }
    let scratch = Scratch::new("v2");
    let (port, metrics_port) = (free_port(), free_port());
    scratch.write_vrps(
        &[vrp("192.0.2.0/24", 24, 64500), vrp("2001:db8::/32", 48, 64501)],
        &[(64500, &[64501])],
    );
    let _cache = Stayrtr::start(
        &scratch.vrps_file(),
        port,
        metrics_port,
        &[],
        scratch.0.join("stayrtr.log"),
    );
    let client = RtrClient::spawn(RtrConfig {
        initial_version: 2,
        ..config(port)
    });
    let mut rx = client.subscribe();
    let snapshot = wait_for(&mut rx, "data over RTR v2", |s| s.status() == CacheStatus::Synced).await;
    assert_eq!(snapshot.roas().len(), 2);
    assert_eq!(snapshot.validate(&net("2001:db8::/48"), 64501), RovState::Valid);
    assert_eq!(snapshot.validate(&net("192.0.2.0/24"), 64501), RovState::Invalid);
    assert!(snapshot.aspas().is_empty(), "{:?}", snapshot.aspas());
}

/// An RFC 8210 (version 1) cache: the client proposes version 2 and falls back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_falls_back_to_rtr_version_1() {
    if stayrtr_missing() {
        return;
    }
    let scratch = Scratch::new("v1");
    let (port, metrics_port) = (free_port(), free_port());
    scratch.write_vrps(&[vrp("192.0.2.0/24", 24, 64500)], &[(64500, &[64501])]);
    let _cache = Stayrtr::start(
        &scratch.vrps_file(),
        port,
        metrics_port,
        &["-protocol", "1"],
        scratch.0.join("stayrtr.log"),
    );
    let client = RtrClient::spawn(RtrConfig {
        initial_version: 2,
        ..config(port)
    });
    let mut rx = client.subscribe();
    let snapshot = wait_for(&mut rx, "data over RTR v1", |s| s.status() == CacheStatus::Synced).await;
    assert_eq!(snapshot.roas().len(), 1);
    assert_eq!(snapshot.validate(&net("192.0.2.0/24"), 64500), RovState::Valid);
    // Version 1 has no ASPA PDU.
    assert!(snapshot.aspas().is_empty());
}

/// Nothing listens: the table stays empty (NotFound for everything) and the client keeps trying.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_cache_means_not_found() {
    let port = free_port();
    let client = RtrClient::spawn(config(port));
    let mut status = client.status();
    tokio::time::timeout(WAIT, status.wait_for(|s| s.last_error.is_some()))
        .await
        .expect("no connection attempt reported")
        .unwrap();
    let snapshot = client.snapshot();
    assert_eq!(snapshot.status(), CacheStatus::NeverSynced);
    assert_eq!(snapshot.validate(&net("192.0.2.0/24"), 64500), RovState::NotFound);
    assert_eq!(status.borrow().connects, 0);
}

/// Stale-data policies when the cache dies: drop at once, or keep until the cache's Expire
/// Interval (here 2 s via `-rtr.expire 2`) has passed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_data_policies_after_cache_loss() {
    if stayrtr_missing() {
        return;
    }
    let scratch = Scratch::new("stale");
    let (port, metrics_port) = (free_port(), free_port());
    let roa = vrp("192.0.2.0/24", 24, 64500);
    scratch.write_vrps(&[roa], &[]);
    let mut cache = Stayrtr::start(
        &scratch.vrps_file(),
        port,
        metrics_port,
        &["-rtr.expire", "2", "-rtr.retry", "1"],
        scratch.0.join("stayrtr.log"),
    );
    let keep = RtrClient::spawn(config(port));
    let discard = RtrClient::spawn(RtrConfig {
        stale: StaleData::DiscardOnDisconnect,
        ..config(port)
    });
    let (mut keep_rx, mut discard_rx) = (keep.subscribe(), discard.subscribe());
    wait_for(&mut keep_rx, "initial data (keep)", |s| s.roas().len() == 1).await;
    wait_for(&mut discard_rx, "initial data (discard)", |s| s.roas().len() == 1).await;

    cache.stop();
    let lost_at = Instant::now();
    let dropped = wait_for(&mut discard_rx, "discard on disconnect", |s| {
        s.status() == CacheStatus::Dropped
    })
    .await;
    assert!(dropped.roas().is_empty());
    assert_eq!(dropped.delta().withdrawn, vec![roa]);
    assert_eq!(dropped.validate(&net("192.0.2.0/24"), 64500), RovState::NotFound);
    // Meanwhile the other client still validates with the last data...
    if lost_at.elapsed() < Duration::from_millis(1500) {
        assert_eq!(
            keep.snapshot().validate(&net("192.0.2.0/24"), 64500),
            RovState::Valid
        );
    }
    // ...until the expire interval has passed.
    let expired = wait_for(&mut keep_rx, "expiry", |s| s.status() == CacheStatus::Dropped).await;
    assert!(
        lost_at.elapsed() >= Duration::from_millis(1000),
        "dropped after {:?}",
        lost_at.elapsed()
    );
    assert_eq!(expired.delta().withdrawn, vec![roa]);
    assert_eq!(expired.validate(&net("192.0.2.0/24"), 64500), RovState::NotFound);
}
