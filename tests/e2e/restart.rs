//! Upgrading kumo itself without losing routes: Graceful Restart with kumo as
//! the restarting speaker (RFC 4724), between two real BIRD 2 clients.
//!
//! kumo gets SIGTERM (the upgrade exit: sessions closed without NOTIFICATION),
//! stays down a while, and starts again with `--graceful-restart`. Meanwhile
//! each BIRD keeps the other's routes (stale); after kumo is back they are
//! refreshed, and a route withdrawn while kumo was down is gone after kumo's
//! End-of-RIB. The control: without Graceful Restart on the clients, the
//! same restart loses the routes.
//!
//! Needs the kumo binary (`cargo build -p kumo`) and `bird`/`birdc`.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use anyhow::ensure;
use kumo_e2e::{Announce, Bird, BirdConfig, Ix, TIMEOUT, eventually, prefix};

fn held(b: &Bird, p: &str) -> bool {
    b.routes().is_ok_and(|r| r.iter().any(|r| r.prefix == prefix(p)))
}

/// Polls `check` every 50 ms for `duration`; returns the first failure.
fn always(duration: Duration, mut check: impl FnMut() -> bool) -> Result<(), Duration> {
    let start = Instant::now();
    while start.elapsed() < duration {
        if !check() {
            return Err(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

#[test]
fn clients_keep_routes_while_kumo_restarts_gracefully() {
    let ix = Ix::new();
    let mut kumo = ix.kumo(vec![ix.client(2, 65002), ix.client(3, 65003)]);
    let a_routes = [Announce::new("10.20.1.0/24"), Announce::new("10.20.2.0/24")];
    let mut a = Bird::start(
        a_routes
            .iter()
            .cloned()
            .fold(ix.bird(2, 65002), BirdConfig::route)
            .graceful_restart(true),
    )
    .unwrap();
    let b = Bird::start(
        ix.bird(3, 65003)
            .route(Announce::new("10.30.1.0/24"))
            .graceful_restart(true),
    )
    .unwrap();
    a.wait_established(TIMEOUT).unwrap();
    b.wait_established(TIMEOUT).unwrap();
    eventually("both clients to hold the other's routes", || {
        Ok(held(&b, "10.20.1.0/24") && held(&b, "10.20.2.0/24") && held(&a, "10.30.1.0/24"))
    })
    .unwrap();

    // The upgrade: SIGTERM, a few seconds down, then back with --graceful-restart.
    let status = kumo.stop().unwrap();
    assert!(status.success(), "kumo exited with {status}");
    let down = always(Duration::from_secs(3), || {
        held(&b, "10.20.1.0/24") && held(&b, "10.20.2.0/24") && held(&a, "10.30.1.0/24")
    });
    assert!(
        down.is_ok(),
        "a client lost routes {:?} after kumo stopped",
        down.err()
    );
    // A withdraws one route while kumo is away: it must be gone once kumo is back.
    a.withdraw(&prefix("10.20.2.0/24")).unwrap();
    kumo.start_again(&["--graceful-restart"]).unwrap();
    let back = always(Duration::from_secs(2), || {
        held(&b, "10.20.1.0/24") && held(&a, "10.30.1.0/24")
    });
    assert!(
        back.is_ok(),
        "a client lost routes {:?} while kumo came back",
        back.err()
    );
    a.wait_established(TIMEOUT).unwrap();
    b.wait_established(TIMEOUT).unwrap();
    eventually("the routes refreshed and the withdrawn one gone", || {
        let at_b = b.routes()?;
        ensure!(
            !at_b.iter().any(|r| r.prefix == prefix("10.20.2.0/24")),
            "B still holds the route A withdrew while kumo was down: {at_b:#?}"
        );
        Ok(held(&b, "10.20.1.0/24") && held(&a, "10.30.1.0/24"))
    })
    .unwrap();
    kumo.check_running().unwrap();
}

#[test]
fn without_graceful_restart_clients_lose_routes_when_kumo_restarts() {
    let ix = Ix::new();
    let mut kumo = ix.kumo(vec![ix.client(2, 65002), ix.client(3, 65003)]);
    let a = Bird::start(ix.bird(2, 65002).route(Announce::new("10.21.1.0/24"))).unwrap();
    let b = Bird::start(ix.bird(3, 65003)).unwrap();
    a.wait_established(TIMEOUT).unwrap();
    b.wait_established(TIMEOUT).unwrap();
    eventually("B to hold A's route", || Ok(held(&b, "10.21.1.0/24"))).unwrap();
    kumo.stop().unwrap();
    eventually("B to drop A's route once kumo is gone", || {
        Ok(!held(&b, "10.21.1.0/24"))
    })
    .unwrap();
    kumo.start_again(&["--graceful-restart"]).unwrap();
    eventually("B to learn A's route again", || Ok(held(&b, "10.21.1.0/24"))).unwrap();
}

/// Long-Lived Graceful Restart (RFC 9494): a kumo restart that outlasts the
/// Graceful Restart time (2 s here) still keeps the routes at clients that
/// support LLGR, for the long-lived stale time kumo offered.
#[test]
fn llgr_clients_keep_routes_past_the_graceful_restart_time() {
    let ix = Ix::new();
    let config = ix
        .config(vec![ix.client(2, 65002), ix.client(3, 65003)])
        .server_line("restart_time = 2")
        .server_line("llgr_stale_time = 300");
    let mut kumo = kumo_e2e::Kumo::start_with(&config).unwrap();
    let a = Bird::start(
        ix.bird(2, 65002)
            .route(Announce::new("10.22.1.0/24"))
            .long_lived_graceful_restart(),
    )
    .unwrap();
    let b = Bird::start(ix.bird(3, 65003).long_lived_graceful_restart()).unwrap();
    a.wait_established(TIMEOUT).unwrap();
    b.wait_established(TIMEOUT).unwrap();
    eventually("B to hold A's route", || Ok(held(&b, "10.22.1.0/24"))).unwrap();

    kumo.stop().unwrap();
    // Well past the 2 s Graceful Restart time: only LLGR keeps the route now.
    let down = always(Duration::from_secs(5), || held(&b, "10.22.1.0/24"));
    assert!(
        down.is_ok(),
        "B lost A's route {:?} after kumo stopped",
        down.err()
    );
    kumo.start_again(&["--graceful-restart"]).unwrap();
    a.wait_established(TIMEOUT).unwrap();
    b.wait_established(TIMEOUT).unwrap();
    eventually("B to hold A's route, refreshed", || Ok(held(&b, "10.22.1.0/24"))).unwrap();
    kumo.check_running().unwrap();
}

/// The control for the LLGR test: the same long restart with Graceful Restart
/// alone loses the route once the GR time has run out.
#[test]
fn gr_alone_loses_routes_when_the_restart_outlasts_it() {
    let ix = Ix::new();
    let config = ix
        .config(vec![ix.client(2, 65002), ix.client(3, 65003)])
        .server_line("restart_time = 2");
    let mut kumo = kumo_e2e::Kumo::start_with(&config).unwrap();
    let a = Bird::start(
        ix.bird(2, 65002)
            .route(Announce::new("10.23.1.0/24"))
            .graceful_restart(true),
    )
    .unwrap();
    let b = Bird::start(ix.bird(3, 65003).graceful_restart(true)).unwrap();
    a.wait_established(TIMEOUT).unwrap();
    b.wait_established(TIMEOUT).unwrap();
    eventually("B to hold A's route", || Ok(held(&b, "10.23.1.0/24"))).unwrap();
    kumo.stop().unwrap();
    eventually("B to drop A's route after the GR time", || {
        Ok(!held(&b, "10.23.1.0/24"))
    })
    .unwrap();
    kumo.start_again(&["--graceful-restart"]).unwrap();
    eventually("B to learn A's route again", || Ok(held(&b, "10.23.1.0/24"))).unwrap();
}
