//! What a session looks like from outside: state, uptime, last error,
//! negotiated capabilities and message counters, written by the peer task and
//! read by the admin API and metrics without going through the core.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use kumo_session::{Negotiated, State};

/// Negotiated capabilities, summarised for operators: the admin API's own type,
/// so the session status and the API cannot drift apart.
pub use kumo_admin::dto::Capabilities as CapabilitySummary;

/// The operator's summary of what a session negotiated.
pub fn capability_summary(n: &Negotiated) -> CapabilitySummary {
    let names = |v: &[kumo_wire::AfiSafi]| v.iter().map(|f| family_name(*f)).collect();
    CapabilitySummary {
        peer_asn: n.peer_asn,
        peer_id: n.peer_id.to_string(),
        hold_time: n.hold_time,
        families: names(&n.families),
        add_path_tx: names(&n.add_path_tx),
        add_path_rx: names(&n.add_path_rx),
        four_octet_as: n.four_octet_as,
        route_refresh: n.route_refresh,
        extended_message: n.extended_message,
        graceful_restart: n.peer_graceful_restart.is_some(),
    }
}

/// `ipv4-unicast`, `ipv6-unicast`, or `afi/safi` numbers for anything else.
pub fn family_name(f: kumo_wire::AfiSafi) -> String {
    use kumo_wire::{Afi, Safi};
    match (f.afi, f.safi) {
        (Afi::Ipv4, Safi::Unicast) => "ipv4-unicast".into(),
        (Afi::Ipv6, Safi::Unicast) => "ipv6-unicast".into(),
        (afi, safi) => format!("{afi:?}/{safi:?}"),
    }
}

#[derive(Debug, Clone)]
struct Inner {
    state: State,
    established_at: Option<SystemTime>,
    last_change: SystemTime,
    last_error: Option<String>,
    capabilities: Option<CapabilitySummary>,
}

/// One session's status. Cheap to update from the peer task.
#[derive(Debug)]
pub struct SessionStatus {
    inner: Mutex<Inner>,
    pub updates_in: AtomicU64,
    pub updates_out: AtomicU64,
    pub flaps: AtomicU64,
}

/// A copy of the status at one moment.
#[derive(Debug, Clone)]
pub struct StatusSnapshot {
    pub state: State,
    pub established_at: Option<SystemTime>,
    pub last_change: SystemTime,
    pub last_error: Option<String>,
    pub capabilities: Option<CapabilitySummary>,
    pub updates_in: u64,
    pub updates_out: u64,
    pub flaps: u64,
}

impl Default for SessionStatus {
    fn default() -> Self {
        SessionStatus {
            inner: Mutex::new(Inner {
                state: State::Idle,
                established_at: None,
                last_change: SystemTime::now(),
                last_error: None,
                capabilities: None,
            }),
            updates_in: AtomicU64::new(0),
            updates_out: AtomicU64::new(0),
            flaps: AtomicU64::new(0),
        }
    }
}

impl SessionStatus {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Plain data: a poisoned lock still holds a usable value.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn set_state(&self, state: State) {
        let mut inner = self.lock();
        if inner.state != state {
            inner.state = state;
            inner.last_change = SystemTime::now();
        }
    }

    pub fn established(&self, capabilities: CapabilitySummary) {
        let mut inner = self.lock();
        inner.state = State::Established;
        inner.established_at = Some(SystemTime::now());
        inner.last_change = SystemTime::now();
        inner.capabilities = Some(capabilities);
    }

    pub fn down(&self, error: String) {
        let mut inner = self.lock();
        if inner.established_at.take().is_some() {
            self.flaps.fetch_add(1, Ordering::Relaxed);
        }
        inner.last_error = Some(error);
        inner.capabilities = None;
        inner.last_change = SystemTime::now();
    }

    pub fn snapshot(&self) -> StatusSnapshot {
        let inner = self.lock().clone();
        StatusSnapshot {
            state: inner.state,
            established_at: inner.established_at,
            last_change: inner.last_change,
            last_error: inner.last_error,
            capabilities: inner.capabilities,
            updates_in: self.updates_in.load(Ordering::Relaxed),
            updates_out: self.updates_out.load(Ordering::Relaxed),
            flaps: self.flaps.load(Ordering::Relaxed),
        }
    }
}
