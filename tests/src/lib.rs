//! kumo-e2e: a harness that runs real BGP daemons (BIRD 2, GoBGP) on loopback addresses as
//! kumo's clients, and the end-to-end tests built on it (in `e2e/`).
//!
//! Module map:
//! - [`net`]: leases a `127.0.N.0/24` block per test and finds free ports; documentation next
//!   hops (`192.0.2.N`, `2001:db8::N`) for announcing clients.
//! - [`process`]: child daemons with log files and scratch directories; everything is killed
//!   on drop, and log tails are printed when a test panics.
//! - [`route`]: [`Announce`] (what a client sends) and [`Route`] (what it received).
//! - [`bird`]: [`Bird`], a BIRD 2 instance driven through `birdc`.
//! - [`gobgp`]: [`Gobgp`], a GoBGP instance driven through the `gobgp` CLI's JSON output.
//! - [`kumo`]: [`Kumo`], the daemon under test, and [`KumoConfig`] to write its config.
//! - [`api`]: [`Api`], a blocking HTTP/1.1 client for kumo's admin API.
//! - [`frr`]: [`Frr`], an FRR `bgpd` run standalone (no zebra) as a client.
//! - [`stayrtr`]: [`Stayrtr`], a real RPKI cache serving ROAs from a file the test writes.
//!
//! Everything talks over 127/8 only. IPv6 routes are carried over the IPv4 sessions
//! (MP-BGP), so no address has to be added to `lo`.

pub mod api;
pub mod bird;
pub mod frr;
pub mod gobgp;
pub mod ix;
pub mod kumo;
pub mod net;
pub mod process;
pub mod route;
pub mod stayrtr;

use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

pub use api::{ADMIN_TOKEN, Api};
pub use bird::{AddPath, Bird, BirdConfig, BirdNeighbor};
pub use frr::{Frr, FrrConfig};
pub use gobgp::{Gobgp, GobgpConfig, GobgpNeighbor};
pub use ix::Ix;
pub use kumo::{KUMO_ASN, Kumo, KumoClient, KumoConfig, policy_component};
pub use net::TestNet;
pub use route::{Announce, Community, ExtCommunity, LargeCommunity, Route, paths_for, prefix};
pub use stayrtr::{Roa, Stayrtr};

/// A BGP session's FSM state as a client daemon reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionState {
    Idle,
    Connect,
    Active,
    OpenSent,
    OpenConfirm,
    Established,
    /// Anything else the daemon prints (BIRD: `Down`, ...).
    Other(String),
}

impl SessionState {
    /// From a state name as BIRD or GoBGP print it (case-insensitive, `BGP_FSM_` prefix ok).
    pub fn parse(name: &str) -> Self {
        let n = name.trim().to_ascii_lowercase();
        match n.strip_prefix("bgp_fsm_").unwrap_or(&n) {
            "idle" => Self::Idle,
            "connect" => Self::Connect,
            "active" => Self::Active,
            "opensent" => Self::OpenSent,
            "openconfirm" => Self::OpenConfirm,
            "established" => Self::Established,
            _ => Self::Other(name.trim().to_owned()),
        }
    }
}

/// The default patience of the end-to-end tests: generous, because CI machines are slow,
/// while a passing test returns as soon as its condition holds.
pub const TIMEOUT: Duration = Duration::from_secs(30);
/// How often conditions are polled.
pub const POLL: Duration = Duration::from_millis(200);

/// Polls `check` every `poll` until it returns `Ok(true)` or `timeout` passes.
///
/// `Ok(false)` and `Err(_)` both mean "not yet"; the last error is reported on timeout, so a
/// check should say what it saw (`bail!("GoBGP has {routes:?}")`) rather than return false.
pub fn wait_until<F>(timeout: Duration, poll: Duration, mut check: F) -> Result<()>
where
    F: FnMut() -> Result<bool>,
{
    let started = Instant::now();
    let mut polls = 0u32;
    loop {
        polls += 1;
        let last = match check() {
            Ok(true) => return Ok(()),
            Ok(false) => "the check returned false".to_owned(),
            Err(e) => format!("{e:#}"),
        };
        if started.elapsed() >= timeout {
            bail!("condition not met within {timeout:?} ({polls} polls); last state: {last}");
        }
        thread::sleep(poll);
    }
}

/// [`wait_until`] with [`TIMEOUT`] and [`POLL`], naming what was awaited in the error.
pub fn eventually<F>(what: &str, check: F) -> Result<()>
where
    F: FnMut() -> Result<bool>,
{
    wait_until(TIMEOUT, POLL, check).map_err(|e| e.context(format!("waiting for {what}")))
}

/// Holds for the whole of `duration`: polls `check` and fails at the first `Ok(false)` or
/// error. For "this must not happen" assertions (no withdraw, no extra path).
pub fn always_for<F>(duration: Duration, poll: Duration, mut check: F) -> Result<()>
where
    F: FnMut() -> Result<bool>,
{
    let started = Instant::now();
    while started.elapsed() < duration {
        if !check()? {
            bail!("condition broke after {:?}", started.elapsed());
        }
        thread::sleep(poll);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn wait_until_returns_when_condition_holds() {
        let mut n = 0;
        wait_until(Duration::from_secs(5), Duration::from_millis(1), || {
            n += 1;
            Ok(n >= 3)
        })
        .unwrap();
        assert_eq!(n, 3);
    }

    #[test]
    fn wait_until_times_out_with_last_error() {
        let err = wait_until(Duration::from_millis(50), Duration::from_millis(5), || {
            bail!("saw 2 routes, want 3")
        })
        .unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("saw 2 routes, want 3"), "{msg}");
        assert!(msg.contains("not met within"), "{msg}");
    }

    #[test]
    fn always_for_fails_when_condition_breaks() {
        let mut n = 0;
        let r = always_for(Duration::from_secs(5), Duration::from_millis(1), || {
            n += 1;
            Ok(n < 3)
        });
        assert!(r.is_err());
        assert!(always_for(Duration::from_millis(20), Duration::from_millis(5), || Ok(true)).is_ok());
    }

    #[test]
    fn session_state_names() {
        assert_eq!(SessionState::parse("Established"), SessionState::Established);
        assert_eq!(
            SessionState::parse("BGP_FSM_OPENCONFIRM"),
            SessionState::OpenConfirm
        );
        assert_eq!(SessionState::parse("Down"), SessionState::Other("Down".into()));
    }
}
