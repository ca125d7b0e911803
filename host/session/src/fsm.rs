//! The RFC 4271 §8 session FSM, pure: [`Fsm::handle`] takes an [`Event`] and
//! returns the [`Action`]s the driver must carry out, in order. No sockets, no
//! clock: the driver owns the TCP connection and the timers and reports back.
//!
//! One `Fsm` drives one TCP connection at a time. Connection collisions
//! (RFC 4271 §6.8) are resolved by the driver with [`crate::collision`],
//! running a second `Fsm` ([`Fsm::with_connection`]) for the second connection
//! and dumping the loser with [`Event::OpenCollisionDump`].
//!
//! # Deviations and choices
//! - Timers: the FSM knows which timers it started. A timer event for a timer
//!   it does not consider running is stale (the driver raced a `StopTimer`)
//!   and ignored. `StopTimer` is only emitted for running timers.
//! - Connect + TcpConnectionFails goes to Active and retries after
//!   ConnectRetry (as BIRD and GoBGP do), instead of RFC 4271's Idle.
//! - Messages never arrive in Idle/Connect/Active (there is no connection) and
//!   are ignored there.
//! - The hold timer restarts on every KEEPALIVE, UPDATE and ROUTE-REFRESH in
//!   Established: any message proves the peer alive.
//!
//! # Restart after a failure (idle hold, peer oscillation damping)
//! When a session (or an attempt: OpenSent, OpenConfirm, or a stop in
//! Connect/Active) ends for any reason other than [`Event::ManualStop`], the FSM
//! goes to Idle and restarts by itself after an *idle hold*, timed with the
//! ConnectRetry timer (its expiry in Idle is the automatic start). With `n`
//! consecutive failures (`c` = `connect_retry`, capped at `max_idle_hold`):
//! - passive: first failure restarts at once (Active; a member rebooting its
//!   router reconnects immediately, and refusing it would make BIRD wait its
//!   own connect retry), then `c`, `2c`, `4c`, …
//! - active: `c`, `2c`, `4c`, … before the next connection attempt.
//!
//! The count returns to zero when a session has survived one keepalive
//! interval in Established (or on reaching Established when the hold time is
//! 0), and on [`Event::ManualStart`], which also cuts a running idle hold short.
//! A session that flaps right after coming up is thus damped like one that
//! never comes up. While in Idle, incoming connections are refused.

use std::fmt;
use std::time::Duration;

use kumo_wire::notification::{code, fsm as fsm_subcode};
use kumo_wire::{Message, Notification, msg_type};

use crate::config::SessionConfig;
use crate::negotiate::{Negotiated, local_open};

/// Hold timer while waiting for the peer's OPEN (RFC 4271 §8.2.2: "large value", 4 minutes).
pub const OPEN_SENT_HOLD_TIME: Duration = Duration::from_secs(240);

/// Session states (RFC 4271 §8.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    Idle,
    Connect,
    Active,
    OpenSent,
    OpenConfirm,
    Established,
}

impl State {
    /// The states in which a TCP connection exists.
    pub fn has_connection(self) -> bool {
        matches!(self, State::OpenSent | State::OpenConfirm | State::Established)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::Idle => "Idle",
            State::Connect => "Connect",
            State::Active => "Active",
            State::OpenSent => "OpenSent",
            State::OpenConfirm => "OpenConfirm",
            State::Established => "Established",
        })
    }
}

/// Inputs to the FSM (RFC 4271 §8.1, the subset kumo needs).
// Messages are moved in, once per message; boxing them would cost an
// allocation per received message for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    ManualStart,
    /// Stop and stay stopped, sending this NOTIFICATION (normally Cease /
    /// Administrative Shutdown) if a connection exists.
    ManualStop(Notification),
    /// Our outgoing connect succeeded, or an incoming connection was accepted for this peer.
    TcpConnectionConfirmed,
    /// The connect failed, or the transport was closed or reset by the peer.
    TcpConnectionFails,
    ConnectRetryTimerExpires,
    HoldTimerExpires,
    KeepaliveTimerExpires,
    MessageReceived(Message),
    /// The codec rejected a received message: send this NOTIFICATION and close.
    MessageError(Notification),
    /// kumo decided to stop the session (max-prefix, …): send this NOTIFICATION,
    /// close, and restart after the idle hold.
    AutomaticStop(Notification),
    /// This connection lost a collision (RFC 4271 Event 23): send Cease /
    /// Connection Collision Resolution, close, and stay Idle; the session goes
    /// on over the other connection. No `SessionDown` is emitted.
    OpenCollisionDump,
}

/// The three timers the driver runs for the FSM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Timer {
    ConnectRetry,
    Hold,
    Keepalive,
}

impl Timer {
    fn index(self) -> usize {
        match self {
            Timer::ConnectRetry => 0,
            Timer::Hold => 1,
            Timer::Keepalive => 2,
        }
    }
}

/// What the driver must do, in order.
#[allow(clippy::large_enum_variant)] // as for Event
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Open a TCP connection to the peer.
    Connect,
    Send(Message),
    /// Close the connection (flush what was sent first), or abort a connect in progress.
    CloseConnection,
    /// Start the timer, or restart it if running.
    StartTimer(Timer, Duration),
    StopTimer(Timer),
    /// The session reached Established with these parameters.
    SessionEstablished(Box<Negotiated>),
    /// An UPDATE or ROUTE-REFRESH received in Established.
    Deliver(Message),
    /// The session left Established, or an attempt in OpenSent/OpenConfirm failed.
    SessionDown(DownReason),
}

/// Why a session (or an attempt) ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownReason {
    /// kumo sent this NOTIFICATION (error detected, hold timer, stop).
    NotificationSent(Notification),
    /// The peer sent this NOTIFICATION.
    NotificationReceived(Notification),
    /// The transport failed or was closed without a NOTIFICATION.
    ConnectionLost,
}

impl DownReason {
    pub fn notification(&self) -> Option<&Notification> {
        match self {
            DownReason::NotificationSent(n) | DownReason::NotificationReceived(n) => Some(n),
            DownReason::ConnectionLost => None,
        }
    }
}

impl fmt::Display for DownReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DownReason::NotificationSent(n) => write!(f, "sent {}", n.describe()),
            DownReason::NotificationReceived(n) => write!(f, "received {}", n.describe()),
            DownReason::ConnectionLost => f.write_str("connection lost"),
        }
    }
}

/// The session FSM of one peer connection.
#[derive(Debug, Clone)]
pub struct Fsm {
    config: SessionConfig,
    state: State,
    /// Present in OpenConfirm and Established.
    negotiated: Option<Negotiated>,
    /// Which timers we started and did not stop, by [`Timer::index`].
    running: [bool; 3],
    /// Idle with an idle hold running: its expiry restarts the session.
    restart_pending: bool,
    /// Consecutive failures, for the idle hold back-off.
    failures: u32,
}

impl Fsm {
    /// A stopped FSM (Idle); [`Event::ManualStart`] starts it.
    ///
    /// Values [`SessionConfig::validate`] refuses are made safe rather than
    /// trusted: a hold time of 1 or 2 becomes 3, a zero ConnectRetry 1 second.
    pub fn new(mut config: SessionConfig) -> Self {
        if config.hold_time == 1 || config.hold_time == 2 {
            config.hold_time = 3;
        }
        if config.connect_retry.is_zero() {
            config.connect_retry = Duration::from_secs(1);
        }
        Fsm {
            config,
            state: State::Idle,
            negotiated: None,
            running: [false; 3],
            restart_pending: false,
            failures: 0,
        }
    }

    /// A started FSM for a connection the driver has already accepted (the
    /// second connection of a collision): it is in OpenSent, and the returned
    /// actions send our OPEN and start the hold timer. Should the session
    /// later fail, it restarts as configured (active or passive).
    pub fn with_connection(config: SessionConfig) -> (Self, Vec<Action>) {
        let mut fsm = Fsm::new(config);
        let mut out = Vec::new();
        fsm.connection_up(&mut out);
        (fsm, out)
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// What was negotiated, in OpenConfirm and Established.
    pub fn negotiated(&self) -> Option<&Negotiated> {
        self.negotiated.as_ref()
    }

    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// Consecutive failed sessions or attempts since the last stable session.
    pub fn consecutive_failures(&self) -> u32 {
        self.failures
    }

    /// Runs one event and returns the actions to carry out, in order.
    pub fn handle(&mut self, event: Event) -> Vec<Action> {
        let mut out = Vec::new();
        self.handle_into(event, &mut out);
        out
    }

    /// As [`Fsm::handle`], appending to `out` (saves an allocation per event).
    pub fn handle_into(&mut self, event: Event, out: &mut Vec<Action>) {
        let fired = match event {
            Event::ConnectRetryTimerExpires => Some(Timer::ConnectRetry),
            Event::HoldTimerExpires => Some(Timer::Hold),
            Event::KeepaliveTimerExpires => Some(Timer::Keepalive),
            _ => None,
        };
        if let Some(timer) = fired {
            if !self.running[timer.index()] {
                return;
            }
            self.running[timer.index()] = false;
        }
        match event {
            Event::ManualStart => self.manual_start(out),
            Event::ManualStop(n) => self.manual_stop(n, out),
            Event::AutomaticStop(n) => self.stop_with(n, true, out),
            Event::OpenCollisionDump => self.collision_dump(out),
            Event::TcpConnectionConfirmed => self.connection_confirmed(out),
            Event::TcpConnectionFails => self.connection_fails(out),
            Event::ConnectRetryTimerExpires => self.connect_retry_expires(out),
            Event::HoldTimerExpires => {
                if self.state.has_connection() {
                    let n = Notification::hold_timer_expired();
                    self.session_down(Some(n.clone()), DownReason::NotificationSent(n), true, out);
                }
            }
            Event::KeepaliveTimerExpires => self.keepalive_expires(out),
            Event::MessageReceived(message) => self.message(message, out),
            Event::MessageError(n) => {
                if self.state.has_connection() {
                    self.session_down(Some(n.clone()), DownReason::NotificationSent(n), true, out);
                }
            }
        }
    }

    fn manual_start(&mut self, out: &mut Vec<Action>) {
        if self.state != State::Idle {
            return;
        }
        self.failures = 0;
        if self.restart_pending {
            self.restart_pending = false;
            self.stop_timer(Timer::ConnectRetry, out);
        }
        self.start(out);
    }

    /// Idle → Active (passive) or Connect (active).
    fn start(&mut self, out: &mut Vec<Action>) {
        if self.config.passive {
            self.state = State::Active;
        } else {
            self.start_timer(Timer::ConnectRetry, self.config.connect_retry, out);
            out.push(Action::Connect);
            self.state = State::Connect;
        }
    }

    fn manual_stop(&mut self, notification: Notification, out: &mut Vec<Action>) {
        if self.state == State::Idle {
            if self.restart_pending {
                self.restart_pending = false;
                self.stop_timer(Timer::ConnectRetry, out);
            }
            return;
        }
        self.stop_with(notification, false, out);
    }

    /// Stop from any state but Idle, sending `notification` if connected.
    fn stop_with(&mut self, notification: Notification, restart: bool, out: &mut Vec<Action>) {
        match self.state {
            State::Idle => {}
            State::Connect | State::Active => self.abandon_connect(restart, out),
            State::OpenSent | State::OpenConfirm | State::Established => {
                let reason = DownReason::NotificationSent(notification.clone());
                self.session_down(Some(notification), reason, restart, out);
            }
        }
    }

    fn collision_dump(&mut self, out: &mut Vec<Action>) {
        match self.state {
            State::Idle => {}
            State::Connect | State::Active => self.abandon_connect(false, out),
            State::OpenSent | State::OpenConfirm | State::Established => {
                out.push(Action::Send(Message::Notification(
                    crate::collision::collision_notification(),
                )));
                out.push(Action::CloseConnection);
                self.stop_all_timers(out);
                self.negotiated = None;
                self.state = State::Idle;
            }
        }
    }

    fn connection_confirmed(&mut self, out: &mut Vec<Action>) {
        match self.state {
            // Not started, or in the idle hold: refuse.
            State::Idle => out.push(Action::CloseConnection),
            State::Connect | State::Active => self.connection_up(out),
            // A second connection is the driver's to resolve (crate::collision).
            State::OpenSent | State::OpenConfirm | State::Established => {}
        }
    }

    fn connection_up(&mut self, out: &mut Vec<Action>) {
        self.stop_timer(Timer::ConnectRetry, out);
        out.push(Action::Send(Message::Open(local_open(&self.config))));
        self.start_timer(Timer::Hold, OPEN_SENT_HOLD_TIME, out);
        self.state = State::OpenSent;
    }

    fn connection_fails(&mut self, out: &mut Vec<Action>) {
        match self.state {
            State::Idle | State::Active => {}
            State::Connect => {
                // Keep listening; try again after ConnectRetry.
                self.start_timer(Timer::ConnectRetry, self.config.connect_retry, out);
                self.state = State::Active;
            }
            State::OpenSent | State::OpenConfirm | State::Established => {
                self.session_down(None, DownReason::ConnectionLost, true, out);
            }
        }
    }

    fn connect_retry_expires(&mut self, out: &mut Vec<Action>) {
        match self.state {
            State::Idle => {
                if self.restart_pending {
                    self.restart_pending = false;
                    self.start(out);
                }
            }
            State::Connect => {
                // The attempt is taking too long: abort it and try again.
                out.push(Action::CloseConnection);
                self.start_timer(Timer::ConnectRetry, self.config.connect_retry, out);
                out.push(Action::Connect);
            }
            State::Active => {
                if !self.config.passive {
                    self.start_timer(Timer::ConnectRetry, self.config.connect_retry, out);
                    out.push(Action::Connect);
                    self.state = State::Connect;
                }
            }
            // The timer is stopped on leaving Connect/Active: unreachable.
            State::OpenSent | State::OpenConfirm | State::Established => {}
        }
    }

    fn keepalive_expires(&mut self, out: &mut Vec<Action>) {
        if !matches!(self.state, State::OpenConfirm | State::Established) {
            return;
        }
        out.push(Action::Send(Message::Keepalive));
        if let Some(keepalive) = self.negotiated.as_ref().and_then(Negotiated::keepalive_timer) {
            self.start_timer(Timer::Keepalive, keepalive, out);
        }
        if self.state == State::Established {
            // Survived a keepalive interval: stable, stop damping.
            self.failures = 0;
        }
    }

    fn message(&mut self, message: Message, out: &mut Vec<Action>) {
        match self.state {
            State::Idle | State::Connect | State::Active => {}
            State::OpenSent => match message {
                Message::Open(open) => self.open_received(open, out),
                Message::Notification(n) => {
                    self.session_down(None, DownReason::NotificationReceived(n), true, out);
                }
                other => self.fsm_error(fsm_subcode::UNEXPECTED_IN_OPENSENT, &other, out),
            },
            State::OpenConfirm => match message {
                Message::Keepalive => self.established(out),
                Message::Notification(n) => {
                    self.session_down(None, DownReason::NotificationReceived(n), true, out);
                }
                other => self.fsm_error(fsm_subcode::UNEXPECTED_IN_OPENCONFIRM, &other, out),
            },
            State::Established => match message {
                Message::Keepalive => self.restart_hold_timer(out),
                Message::Update(_) => {
                    self.restart_hold_timer(out);
                    out.push(Action::Deliver(message));
                }
                Message::RouteRefresh(refresh) => {
                    self.restart_hold_timer(out);
                    // RFC 7313 §5: ignore unknown subtypes; RFC 2918 §4: ignore
                    // families not negotiated.
                    let known_subtype = !matches!(refresh.subtype, kumo_wire::RouteRefreshSubtype::Other(_));
                    let negotiated_family = self
                        .negotiated
                        .as_ref()
                        .is_some_and(|n| n.families.contains(&refresh.afi_safi));
                    if known_subtype && negotiated_family {
                        out.push(Action::Deliver(Message::RouteRefresh(refresh)));
                    }
                }
                Message::Notification(n) => {
                    self.session_down(None, DownReason::NotificationReceived(n), true, out);
                }
                other @ Message::Open(_) => {
                    self.fsm_error(fsm_subcode::UNEXPECTED_IN_ESTABLISHED, &other, out);
                }
            },
        }
    }

    fn open_received(&mut self, open: kumo_wire::Open, out: &mut Vec<Action>) {
        match Negotiated::new(&self.config, open) {
            Err(error) => {
                let n = error.notification();
                self.session_down(Some(n.clone()), DownReason::NotificationSent(n), true, out);
            }
            Ok(negotiated) => {
                out.push(Action::Send(Message::Keepalive));
                match (negotiated.hold_timer(), negotiated.keepalive_timer()) {
                    (Some(hold), Some(keepalive)) => {
                        self.start_timer(Timer::Hold, hold, out);
                        self.start_timer(Timer::Keepalive, keepalive, out);
                    }
                    // Hold time 0: neither timer runs (RFC 4271 §4.4).
                    _ => self.stop_timer(Timer::Hold, out),
                }
                self.negotiated = Some(negotiated);
                self.state = State::OpenConfirm;
            }
        }
    }

    fn established(&mut self, out: &mut Vec<Action>) {
        let Some(negotiated) = self.negotiated.clone() else {
            // OpenConfirm always holds a negotiation; refuse to go on without one.
            let n = Notification::new(code::FSM_ERROR, fsm_subcode::UNSPECIFIED, Vec::new());
            self.session_down(Some(n.clone()), DownReason::NotificationSent(n), true, out);
            return;
        };
        self.restart_hold_timer(out);
        if negotiated.hold_timer().is_none() {
            // No keepalives to prove stability: count reaching Established.
            self.failures = 0;
        }
        self.state = State::Established;
        out.push(Action::SessionEstablished(Box::new(negotiated)));
    }

    fn restart_hold_timer(&mut self, out: &mut Vec<Action>) {
        if let Some(hold) = self.negotiated.as_ref().and_then(Negotiated::hold_timer) {
            self.start_timer(Timer::Hold, hold, out);
        }
    }

    /// RFC 6608: FSM Error with the state's subcode; the data is the type of the
    /// unexpected message.
    fn fsm_error(&mut self, subcode: u8, message: &Message, out: &mut Vec<Action>) {
        let n = Notification::new(code::FSM_ERROR, subcode, vec![message_type(message)]);
        self.session_down(Some(n.clone()), DownReason::NotificationSent(n), true, out);
    }

    /// Ends a session or attempt in OpenSent/OpenConfirm/Established.
    fn session_down(
        &mut self,
        send: Option<Notification>,
        reason: DownReason,
        restart: bool,
        out: &mut Vec<Action>,
    ) {
        if let Some(n) = send {
            out.push(Action::Send(Message::Notification(n)));
        }
        out.push(Action::CloseConnection);
        self.stop_all_timers(out);
        self.negotiated = None;
        self.state = State::Idle;
        out.push(Action::SessionDown(reason));
        if restart {
            self.schedule_restart(out);
        }
    }

    /// Leaves Connect/Active for Idle.
    fn abandon_connect(&mut self, restart: bool, out: &mut Vec<Action>) {
        if self.state == State::Connect {
            out.push(Action::CloseConnection);
        }
        self.stop_all_timers(out);
        self.state = State::Idle;
        if restart {
            self.schedule_restart(out);
        }
    }

    fn schedule_restart(&mut self, out: &mut Vec<Action>) {
        self.failures = self.failures.saturating_add(1);
        let hold = idle_hold(&self.config, self.failures);
        if hold.is_zero() {
            self.start(out);
        } else {
            self.restart_pending = true;
            self.start_timer(Timer::ConnectRetry, hold, out);
        }
    }

    fn start_timer(&mut self, timer: Timer, duration: Duration, out: &mut Vec<Action>) {
        self.running[timer.index()] = true;
        out.push(Action::StartTimer(timer, duration));
    }

    fn stop_timer(&mut self, timer: Timer, out: &mut Vec<Action>) {
        if std::mem::replace(&mut self.running[timer.index()], false) {
            out.push(Action::StopTimer(timer));
        }
    }

    fn stop_all_timers(&mut self, out: &mut Vec<Action>) {
        for timer in [Timer::ConnectRetry, Timer::Hold, Timer::Keepalive] {
            self.stop_timer(timer, out);
        }
    }
}

/// The idle hold before the automatic restart after `failures` (≥ 1)
/// consecutive failures; see the module documentation.
pub fn idle_hold(config: &SessionConfig, failures: u32) -> Duration {
    let doublings = if config.passive {
        match failures.checked_sub(2) {
            Some(d) => d,
            None => return Duration::ZERO,
        }
    } else {
        failures.saturating_sub(1)
    };
    let factor = 1u32.checked_shl(doublings).unwrap_or(u32::MAX);
    config
        .connect_retry
        .saturating_mul(factor)
        .min(config.max_idle_hold)
}

fn message_type(message: &Message) -> u8 {
    match message {
        Message::Open(_) => msg_type::OPEN,
        Message::Update(_) => msg_type::UPDATE,
        Message::Notification(_) => msg_type::NOTIFICATION,
        Message::Keepalive => msg_type::KEEPALIVE,
        Message::RouteRefresh(_) => msg_type::ROUTE_REFRESH,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::net::Ipv4Addr;

    use kumo_wire::{
        AfiSafi, Capability, Open, RouteRefresh, RouteRefreshSubtype,
        notification::{cease, open as open_subcode},
    };

    use super::*;
    use crate::config::DEFAULT_CONNECT_RETRY;

    const CR: Duration = DEFAULT_CONNECT_RETRY;
    const S90: Duration = Duration::from_secs(90);
    const S30: Duration = Duration::from_secs(30);

    fn config(passive: bool) -> SessionConfig {
        let mut c = SessionConfig::new(64500, Ipv4Addr::new(192, 0, 2, 1), 65001);
        c.passive = passive;
        c
    }

    fn peer_open(hold_time: u16) -> Open {
        Open {
            version: 4,
            my_as: 65001,
            hold_time,
            bgp_id: Ipv4Addr::new(192, 0, 2, 2),
            capabilities: vec![
                Capability::Multiprotocol(AfiSafi::IPV4_UNICAST),
                Capability::RouteRefresh,
                Capability::FourOctetAs(65001),
            ],
        }
    }

    fn open_msg() -> Event {
        Event::MessageReceived(Message::Open(peer_open(90)))
    }

    fn update() -> Message {
        Message::Update(Box::default())
    }

    fn cease_shutdown() -> Notification {
        Notification::admin_shutdown("maintenance")
    }

    fn send_notification(code: u8, subcode: u8, data: &[u8]) -> Action {
        Action::Send(Message::Notification(Notification::new(
            code,
            subcode,
            data.to_vec(),
        )))
    }

    /// Drives a fresh FSM to `state`; Active is reached by a failed connect for
    /// an active FSM.
    fn fsm_in(state: State, passive: bool) -> Fsm {
        fsm_with(config(passive), state, 90)
    }

    fn fsm_with(config: SessionConfig, state: State, peer_hold: u16) -> Fsm {
        let passive = config.passive;
        let mut fsm = Fsm::new(config);
        if state == State::Idle {
            return fsm;
        }
        fsm.handle(Event::ManualStart);
        if state == State::Connect || (state == State::Active && !passive) {
            assert_eq!(fsm.state(), State::Connect);
            if state == State::Active {
                fsm.handle(Event::TcpConnectionFails);
            }
            assert_eq!(fsm.state(), state);
            return fsm;
        }
        if state == State::Active {
            assert_eq!(fsm.state(), State::Active);
            return fsm;
        }
        fsm.handle(Event::TcpConnectionConfirmed);
        if state != State::OpenSent {
            fsm.handle(Event::MessageReceived(Message::Open(peer_open(peer_hold))));
            if state == State::Established {
                fsm.handle(Event::MessageReceived(Message::Keepalive));
            }
        }
        assert_eq!(fsm.state(), state);
        fsm
    }

    fn all_events() -> Vec<(&'static str, Event)> {
        vec![
            ("ManualStart", Event::ManualStart),
            ("ManualStop", Event::ManualStop(cease_shutdown())),
            ("TcpConnectionConfirmed", Event::TcpConnectionConfirmed),
            ("TcpConnectionFails", Event::TcpConnectionFails),
            ("ConnectRetryTimerExpires", Event::ConnectRetryTimerExpires),
            ("HoldTimerExpires", Event::HoldTimerExpires),
            ("KeepaliveTimerExpires", Event::KeepaliveTimerExpires),
            ("OPEN", open_msg()),
            ("UPDATE", Event::MessageReceived(update())),
            ("KEEPALIVE", Event::MessageReceived(Message::Keepalive)),
            (
                "NOTIFICATION",
                Event::MessageReceived(Message::Notification(cease_shutdown())),
            ),
            (
                "ROUTE-REFRESH",
                Event::MessageReceived(Message::RouteRefresh(RouteRefresh {
                    afi_safi: AfiSafi::IPV4_UNICAST,
                    subtype: RouteRefreshSubtype::Normal,
                })),
            ),
            (
                "MessageError",
                Event::MessageError(Notification::new(3, 1, vec![])),
            ),
            (
                "AutomaticStop",
                Event::AutomaticStop(Notification::max_prefix(1, 1, 100)),
            ),
            ("OpenCollisionDump", Event::OpenCollisionDump),
        ]
    }

    #[test]
    fn next_state_table() {
        use State::{
            Active as Act, Connect as Con, Established as Est, Idle as Idl, OpenConfirm as OpC,
            OpenSent as OpS,
        };
        // Next state for each (state, event) of an active FSM; columns follow all_events():
        // ManualStart/Stop, TCP up/down, timers, OPEN, UPDATE, KEEPALIVE, NOTIFICATION,
        // ROUTE-REFRESH, MessageError, AutomaticStop, OpenCollisionDump.
        #[rustfmt::skip]
        let table: [(State, [State; 15]); 6] = [
            //    Sta  Stp  TcU  TcD  CRx  Hld  KAx  Opn  Upd  KA   Ntf  RR   Err  Aut  Dmp
            (Idl, [Con, Idl, Idl, Idl, Idl, Idl, Idl, Idl, Idl, Idl, Idl, Idl, Idl, Idl, Idl]),
            (Con, [Con, Idl, OpS, Act, Con, Con, Con, Con, Con, Con, Con, Con, Con, Idl, Idl]),
            (Act, [Act, Idl, OpS, Act, Con, Act, Act, Act, Act, Act, Act, Act, Act, Idl, Idl]),
            (OpS, [OpS, Idl, OpS, Idl, OpS, Idl, OpS, OpC, Idl, Idl, Idl, Idl, Idl, Idl, Idl]),
            (OpC, [OpC, Idl, OpC, Idl, OpC, Idl, OpC, Idl, Idl, Est, Idl, Idl, Idl, Idl, Idl]),
            (Est, [Est, Idl, Est, Idl, Est, Idl, Est, Idl, Est, Est, Idl, Est, Idl, Idl, Idl]),
        ];
        for (from, expected) in table {
            for ((name, event), to) in all_events().into_iter().zip(expected) {
                let mut fsm = fsm_in(from, false);
                fsm.handle(event);
                assert_eq!(fsm.state(), to, "{from} + {name}");
                assert_eq!(
                    fsm.negotiated().is_some(),
                    matches!(to, OpC | Est),
                    "{from} + {name}"
                );
            }
        }
    }

    #[test]
    fn active_start_connects_and_starts_connect_retry() {
        let mut fsm = Fsm::new(config(false));
        assert_eq!(fsm.state(), State::Idle);
        assert_eq!(
            fsm.handle(Event::ManualStart),
            vec![Action::StartTimer(Timer::ConnectRetry, CR), Action::Connect]
        );
        assert_eq!(fsm.state(), State::Connect);
    }

    #[test]
    fn passive_start_waits_without_timers() {
        let mut fsm = Fsm::new(config(true));
        assert_eq!(fsm.handle(Event::ManualStart), vec![]);
        assert_eq!(fsm.state(), State::Active);
        // Nothing is running, so a timer event is stale and never makes a passive FSM connect.
        assert_eq!(fsm.handle(Event::ConnectRetryTimerExpires), vec![]);
        assert_eq!(fsm.state(), State::Active);
    }

    #[test]
    fn connection_sends_open_with_the_large_hold_timer() {
        let mut fsm = fsm_in(State::Connect, false);
        let open = local_open(fsm.config());
        assert_eq!(
            fsm.handle(Event::TcpConnectionConfirmed),
            vec![
                Action::StopTimer(Timer::ConnectRetry),
                Action::Send(Message::Open(open.clone())),
                Action::StartTimer(Timer::Hold, Duration::from_secs(240)),
            ]
        );
        let mut fsm = fsm_in(State::Active, true);
        assert_eq!(
            fsm.handle(Event::TcpConnectionConfirmed),
            vec![
                Action::Send(Message::Open(open)),
                Action::StartTimer(Timer::Hold, Duration::from_secs(240))
            ]
        );
        assert_eq!(fsm.state(), State::OpenSent);
    }

    #[test]
    fn failed_connect_waits_in_active_then_retries() {
        let mut fsm = fsm_in(State::Connect, false);
        assert_eq!(
            fsm.handle(Event::TcpConnectionFails),
            vec![Action::StartTimer(Timer::ConnectRetry, CR)]
        );
        assert_eq!(fsm.state(), State::Active);
        assert_eq!(
            fsm.handle(Event::ConnectRetryTimerExpires),
            vec![Action::StartTimer(Timer::ConnectRetry, CR), Action::Connect]
        );
        assert_eq!(fsm.state(), State::Connect);
    }

    #[test]
    fn slow_connect_is_aborted_and_retried() {
        let mut fsm = fsm_in(State::Connect, false);
        assert_eq!(
            fsm.handle(Event::ConnectRetryTimerExpires),
            vec![
                Action::CloseConnection,
                Action::StartTimer(Timer::ConnectRetry, CR),
                Action::Connect
            ]
        );
        assert_eq!(fsm.state(), State::Connect);
    }

    #[test]
    fn valid_open_sends_keepalive_and_starts_negotiated_timers() {
        let mut fsm = fsm_in(State::OpenSent, false);
        assert_eq!(
            fsm.handle(open_msg()),
            vec![
                Action::Send(Message::Keepalive),
                Action::StartTimer(Timer::Hold, S90),
                Action::StartTimer(Timer::Keepalive, S30),
            ]
        );
        assert_eq!(fsm.state(), State::OpenConfirm);
        let n = fsm.negotiated().unwrap();
        assert_eq!((n.hold_time, n.keepalive_time, n.peer_asn), (90, 30, 65001));
    }

    #[test]
    fn negotiated_hold_is_the_smaller_offer() {
        let mut c = config(false);
        c.hold_time = 240;
        let mut fsm = fsm_with(c, State::OpenSent, 90);
        let actions = fsm.handle(Event::MessageReceived(Message::Open(peer_open(9))));
        assert_eq!(
            actions,
            vec![
                Action::Send(Message::Keepalive),
                Action::StartTimer(Timer::Hold, Duration::from_secs(9)),
                Action::StartTimer(Timer::Keepalive, Duration::from_secs(3)),
            ]
        );
    }

    #[test]
    fn hold_time_zero_runs_no_timers() {
        let mut fsm = fsm_with(config(false), State::OpenSent, 0);
        assert_eq!(
            fsm.handle(Event::MessageReceived(Message::Open(peer_open(0)))),
            vec![Action::Send(Message::Keepalive), Action::StopTimer(Timer::Hold)]
        );
        let negotiated = fsm.negotiated().cloned().unwrap();
        assert_eq!(
            fsm.handle(Event::MessageReceived(Message::Keepalive)),
            vec![Action::SessionEstablished(Box::new(negotiated))]
        );
        assert_eq!(fsm.handle(Event::MessageReceived(Message::Keepalive)), vec![]);
        assert_eq!(
            fsm.handle(Event::MessageReceived(update())),
            vec![Action::Deliver(update())]
        );
        // No timer runs, so timer events are stale.
        assert_eq!(fsm.handle(Event::HoldTimerExpires), vec![]);
        assert_eq!(fsm.handle(Event::KeepaliveTimerExpires), vec![]);
        assert_eq!(fsm.state(), State::Established);
    }

    #[test]
    fn local_hold_time_zero_also_disables_timers() {
        let mut c = config(false);
        c.hold_time = 0;
        let mut fsm = fsm_with(c, State::OpenSent, 90);
        assert_eq!(
            fsm.handle(open_msg()),
            vec![Action::Send(Message::Keepalive), Action::StopTimer(Timer::Hold)]
        );
    }

    #[test]
    fn keepalive_in_openconfirm_establishes() {
        let mut fsm = fsm_in(State::OpenConfirm, false);
        let negotiated = fsm.negotiated().cloned().unwrap();
        assert_eq!(
            fsm.handle(Event::MessageReceived(Message::Keepalive)),
            vec![
                Action::StartTimer(Timer::Hold, S90),
                Action::SessionEstablished(Box::new(negotiated))
            ]
        );
        assert_eq!(fsm.state(), State::Established);
    }

    #[test]
    fn keepalive_timer_sends_keepalives_in_openconfirm_and_established() {
        for state in [State::OpenConfirm, State::Established] {
            let mut fsm = fsm_in(state, false);
            assert_eq!(
                fsm.handle(Event::KeepaliveTimerExpires),
                vec![
                    Action::Send(Message::Keepalive),
                    Action::StartTimer(Timer::Keepalive, S30)
                ],
                "{state}"
            );
        }
    }

    #[test]
    fn established_messages_restart_the_hold_timer() {
        let mut fsm = fsm_in(State::Established, false);
        assert_eq!(
            fsm.handle(Event::MessageReceived(Message::Keepalive)),
            vec![Action::StartTimer(Timer::Hold, S90)]
        );
        assert_eq!(
            fsm.handle(Event::MessageReceived(update())),
            vec![Action::StartTimer(Timer::Hold, S90), Action::Deliver(update())]
        );
    }

    #[test]
    fn route_refresh_is_delivered_only_for_known_subtypes_and_negotiated_families() {
        let rr = |afi_safi, subtype| Message::RouteRefresh(RouteRefresh { afi_safi, subtype });
        let mut fsm = fsm_in(State::Established, false);
        for subtype in [
            RouteRefreshSubtype::Normal,
            RouteRefreshSubtype::BoRR,
            RouteRefreshSubtype::EoRR,
        ] {
            let msg = rr(AfiSafi::IPV4_UNICAST, subtype);
            assert_eq!(
                fsm.handle(Event::MessageReceived(msg.clone())),
                vec![Action::StartTimer(Timer::Hold, S90), Action::Deliver(msg)]
            );
        }
        // The peer only negotiated IPv4 unicast.
        let msg = rr(AfiSafi::IPV6_UNICAST, RouteRefreshSubtype::Normal);
        assert_eq!(
            fsm.handle(Event::MessageReceived(msg)),
            vec![Action::StartTimer(Timer::Hold, S90)]
        );
        let msg = rr(AfiSafi::IPV4_UNICAST, RouteRefreshSubtype::Other(7));
        assert_eq!(
            fsm.handle(Event::MessageReceived(msg)),
            vec![Action::StartTimer(Timer::Hold, S90)]
        );
        assert_eq!(fsm.state(), State::Established);
    }

    #[test]
    fn open_errors_send_the_exact_notification_and_close() {
        let cases: Vec<(Open, Action)> = vec![
            (
                Open {
                    version: 3,
                    ..peer_open(90)
                },
                send_notification(2, 1, &[0, 4]),
            ),
            (
                Open {
                    my_as: 65002,
                    capabilities: vec![],
                    ..peer_open(90)
                },
                send_notification(2, 2, &[]),
            ),
            (
                Open {
                    hold_time: 2,
                    ..peer_open(90)
                },
                send_notification(2, 6, &[]),
            ),
            (
                Open {
                    bgp_id: Ipv4Addr::UNSPECIFIED,
                    ..peer_open(90)
                },
                send_notification(2, 3, &[]),
            ),
            (
                Open {
                    bgp_id: Ipv4Addr::new(224, 0, 0, 1),
                    ..peer_open(90)
                },
                send_notification(2, 3, &[]),
            ),
        ];
        for (open, notification) in cases {
            let mut fsm = fsm_in(State::OpenSent, false);
            let Action::Send(Message::Notification(sent)) = notification.clone() else {
                unreachable!()
            };
            assert_eq!(
                fsm.handle(Event::MessageReceived(Message::Open(open.clone()))),
                vec![
                    notification,
                    Action::CloseConnection,
                    Action::StopTimer(Timer::Hold),
                    Action::SessionDown(DownReason::NotificationSent(sent)),
                    Action::StartTimer(Timer::ConnectRetry, CR),
                ],
                "{open:?}"
            );
            assert_eq!(fsm.state(), State::Idle);
        }
    }

    #[test]
    fn role_mismatch_for_a_route_server() {
        let mut c = config(true);
        c.capabilities.role = Some(kumo_wire::Role::RouteServer);
        let mut fsm = fsm_with(c, State::OpenSent, 90);
        let mut open = peer_open(90);
        open.capabilities.push(Capability::Role(kumo_wire::Role::Peer));
        let actions = fsm.handle(Event::MessageReceived(Message::Open(open)));
        assert_eq!(actions[0], send_notification(2, open_subcode::ROLE_MISMATCH, &[]));
        assert_eq!(
            fsm.state(),
            State::Active,
            "passive: first failure restarts at once"
        );
    }

    #[test]
    fn unexpected_messages_are_fsm_errors_with_rfc6608_subcodes() {
        let rr = Message::RouteRefresh(RouteRefresh {
            afi_safi: AfiSafi::IPV4_UNICAST,
            subtype: RouteRefreshSubtype::Normal,
        });
        let cases = [
            (State::OpenSent, Message::Keepalive, 1, 4),
            (State::OpenSent, update(), 1, 2),
            (State::OpenSent, rr.clone(), 1, 5),
            (State::OpenConfirm, Message::Open(peer_open(90)), 2, 1),
            (State::OpenConfirm, update(), 2, 2),
            (State::OpenConfirm, rr, 2, 5),
            (State::Established, Message::Open(peer_open(90)), 3, 1),
        ];
        for (state, message, subcode, msg_type) in cases {
            let mut fsm = fsm_in(state, false);
            let actions = fsm.handle(Event::MessageReceived(message));
            let n = Notification::new(5, subcode, vec![msg_type]);
            let mut expected = vec![
                Action::Send(Message::Notification(n.clone())),
                Action::CloseConnection,
            ];
            expected.push(Action::StopTimer(Timer::Hold));
            if state != State::OpenSent {
                expected.push(Action::StopTimer(Timer::Keepalive));
            }
            expected.push(Action::SessionDown(DownReason::NotificationSent(n)));
            expected.push(Action::StartTimer(Timer::ConnectRetry, CR));
            assert_eq!(actions, expected, "{state} type {msg_type}");
            assert_eq!(fsm.state(), State::Idle);
        }
    }

    #[test]
    fn notification_received_closes_without_answering() {
        for state in [State::OpenSent, State::OpenConfirm, State::Established] {
            let mut fsm = fsm_in(state, true);
            let n = Notification::new(6, cease::ADMINISTRATIVE_RESET, vec![0]);
            let actions = fsm.handle(Event::MessageReceived(Message::Notification(n.clone())));
            let mut expected = vec![Action::CloseConnection, Action::StopTimer(Timer::Hold)];
            if state != State::OpenSent {
                expected.push(Action::StopTimer(Timer::Keepalive));
            }
            expected.push(Action::SessionDown(DownReason::NotificationReceived(n)));
            assert_eq!(actions, expected, "{state}");
            assert_eq!(fsm.state(), State::Active, "{state}: passive restarts at once");
            assert_eq!(fsm.negotiated(), None);
        }
    }

    #[test]
    fn hold_timer_expiry_sends_hold_timer_expired() {
        for state in [State::OpenSent, State::OpenConfirm, State::Established] {
            let mut fsm = fsm_in(state, false);
            let actions = fsm.handle(Event::HoldTimerExpires);
            let n = Notification::new(4, 0, vec![]);
            let mut expected = vec![
                Action::Send(Message::Notification(n.clone())),
                Action::CloseConnection,
            ];
            if state != State::OpenSent {
                // The hold timer has fired; only the keepalive timer is still running.
                expected.push(Action::StopTimer(Timer::Keepalive));
            }
            expected.push(Action::SessionDown(DownReason::NotificationSent(n)));
            expected.push(Action::StartTimer(Timer::ConnectRetry, CR));
            assert_eq!(actions, expected, "{state}");
        }
    }

    #[test]
    fn connection_loss() {
        let mut fsm = fsm_in(State::Established, false);
        assert_eq!(
            fsm.handle(Event::TcpConnectionFails),
            vec![
                Action::CloseConnection,
                Action::StopTimer(Timer::Hold),
                Action::StopTimer(Timer::Keepalive),
                Action::SessionDown(DownReason::ConnectionLost),
                Action::StartTimer(Timer::ConnectRetry, CR),
            ]
        );
        assert_eq!(fsm.state(), State::Idle);
        // The idle hold expires: connect again.
        assert_eq!(
            fsm.handle(Event::ConnectRetryTimerExpires),
            vec![Action::StartTimer(Timer::ConnectRetry, CR), Action::Connect]
        );
        assert_eq!(fsm.state(), State::Connect);
    }

    #[test]
    fn codec_error_sends_the_codec_notification() {
        let mut fsm = fsm_in(State::Established, true);
        let n = Notification::new(3, 11, vec![]);
        let actions = fsm.handle(Event::MessageError(n.clone()));
        assert_eq!(
            actions,
            vec![
                Action::Send(Message::Notification(n.clone())),
                Action::CloseConnection,
                Action::StopTimer(Timer::Hold),
                Action::StopTimer(Timer::Keepalive),
                Action::SessionDown(DownReason::NotificationSent(n)),
            ]
        );
    }

    #[test]
    fn manual_stop_in_each_state() {
        let n = cease_shutdown();
        let sent = |n: &Notification| Action::Send(Message::Notification(n.clone()));
        let down = |n: &Notification| Action::SessionDown(DownReason::NotificationSent(n.clone()));
        let cases: Vec<(State, bool, Vec<Action>)> = vec![
            (State::Idle, false, vec![]),
            (
                State::Connect,
                false,
                vec![Action::CloseConnection, Action::StopTimer(Timer::ConnectRetry)],
            ),
            (State::Active, false, vec![Action::StopTimer(Timer::ConnectRetry)]),
            (State::Active, true, vec![]),
            (
                State::OpenSent,
                false,
                vec![
                    sent(&n),
                    Action::CloseConnection,
                    Action::StopTimer(Timer::Hold),
                    down(&n),
                ],
            ),
            (
                State::OpenConfirm,
                false,
                vec![
                    sent(&n),
                    Action::CloseConnection,
                    Action::StopTimer(Timer::Hold),
                    Action::StopTimer(Timer::Keepalive),
                    down(&n),
                ],
            ),
            (
                State::Established,
                true,
                vec![
                    sent(&n),
                    Action::CloseConnection,
                    Action::StopTimer(Timer::Hold),
                    Action::StopTimer(Timer::Keepalive),
                    down(&n),
                ],
            ),
        ];
        for (state, passive, expected) in cases {
            let mut fsm = fsm_in(state, passive);
            assert_eq!(
                fsm.handle(Event::ManualStop(n.clone())),
                expected,
                "{state} passive={passive}"
            );
            assert_eq!(fsm.state(), State::Idle);
            // Stopped stays stopped: connections are refused, no restart.
            assert_eq!(
                fsm.handle(Event::TcpConnectionConfirmed),
                vec![Action::CloseConnection]
            );
            assert_eq!(fsm.handle(Event::ConnectRetryTimerExpires), vec![]);
            assert_eq!(fsm.state(), State::Idle);
        }
    }

    #[test]
    fn manual_stop_cancels_a_pending_restart() {
        let mut fsm = fsm_in(State::Established, false);
        fsm.handle(Event::TcpConnectionFails);
        assert_eq!(
            fsm.handle(Event::ManualStop(cease_shutdown())),
            vec![Action::StopTimer(Timer::ConnectRetry)]
        );
        assert_eq!(fsm.handle(Event::ConnectRetryTimerExpires), vec![]);
        assert_eq!(fsm.state(), State::Idle);
    }

    #[test]
    fn automatic_stop_sends_and_restarts_later() {
        let n = Notification::max_prefix(1, 1, 100);
        let mut fsm = fsm_in(State::Established, true);
        assert_eq!(
            fsm.handle(Event::AutomaticStop(n.clone())),
            vec![
                Action::Send(Message::Notification(n.clone())),
                Action::CloseConnection,
                Action::StopTimer(Timer::Hold),
                Action::StopTimer(Timer::Keepalive),
                Action::SessionDown(DownReason::NotificationSent(n.clone())),
            ]
        );
        assert_eq!(fsm.state(), State::Active);

        let mut fsm = fsm_in(State::Connect, false);
        assert_eq!(
            fsm.handle(Event::AutomaticStop(n)),
            vec![
                Action::CloseConnection,
                Action::StopTimer(Timer::ConnectRetry),
                Action::StartTimer(Timer::ConnectRetry, CR),
            ]
        );
        assert_eq!(fsm.state(), State::Idle);
    }

    #[test]
    fn idle_hold_backs_off_and_is_capped() {
        let active = config(false);
        let passive = config(true);
        let s = Duration::from_secs;
        let expected_active = [s(120), s(240), s(300), s(300)];
        let expected_passive = [s(0), s(120), s(240), s(300), s(300)];
        for (i, d) in expected_active.iter().enumerate() {
            assert_eq!(idle_hold(&active, i as u32 + 1), *d, "active failure {}", i + 1);
        }
        for (i, d) in expected_passive.iter().enumerate() {
            assert_eq!(idle_hold(&passive, i as u32 + 1), *d, "passive failure {}", i + 1);
        }
        assert_eq!(idle_hold(&active, u32::MAX), s(300));
        let mut short = config(false);
        short.connect_retry = s(5);
        assert_eq!(
            (1..=4).map(|n| idle_hold(&short, n)).collect::<Vec<_>>(),
            vec![s(5), s(10), s(20), s(40)]
        );
    }

    /// Brings an FSM to OpenSent and has the peer refuse it.
    fn fail_attempt(fsm: &mut Fsm) -> Vec<Action> {
        let n = Notification::new(6, cease::CONNECTION_REJECTED, vec![]);
        fsm.handle(Event::TcpConnectionConfirmed);
        assert_eq!(fsm.state(), State::OpenSent);
        fsm.handle(Event::MessageReceived(Message::Notification(n)))
    }

    #[test]
    fn passive_peer_restarts_at_once_then_is_damped() {
        let mut fsm = fsm_in(State::Active, true);
        let actions = fail_attempt(&mut fsm);
        assert_eq!(
            actions.last(),
            Some(&Action::SessionDown(DownReason::NotificationReceived(
                Notification::new(6, 5, vec![])
            )))
        );
        assert_eq!(fsm.state(), State::Active);
        assert_eq!(fsm.consecutive_failures(), 1);

        let actions = fail_attempt(&mut fsm);
        assert_eq!(actions.last(), Some(&Action::StartTimer(Timer::ConnectRetry, CR)));
        assert_eq!(fsm.state(), State::Idle);
        // In the idle hold, the peer is refused.
        assert_eq!(
            fsm.handle(Event::TcpConnectionConfirmed),
            vec![Action::CloseConnection]
        );
        assert_eq!(fsm.handle(Event::ConnectRetryTimerExpires), vec![]);
        assert_eq!(fsm.state(), State::Active);

        let actions = fail_attempt(&mut fsm);
        assert_eq!(
            actions.last(),
            Some(&Action::StartTimer(Timer::ConnectRetry, 2 * CR))
        );
        assert_eq!(fsm.consecutive_failures(), 3);
    }

    #[test]
    fn manual_start_cuts_the_idle_hold_short_and_resets_damping() {
        let mut fsm = fsm_in(State::Active, true);
        fail_attempt(&mut fsm);
        fail_attempt(&mut fsm);
        assert_eq!(fsm.state(), State::Idle);
        assert_eq!(
            fsm.handle(Event::ManualStart),
            vec![Action::StopTimer(Timer::ConnectRetry)]
        );
        assert_eq!(fsm.state(), State::Active);
        assert_eq!(fsm.consecutive_failures(), 0);
        // The old idle hold timer fires late: stale.
        assert_eq!(fsm.handle(Event::ConnectRetryTimerExpires), vec![]);
        assert_eq!(fsm.state(), State::Active);
    }

    #[test]
    fn damping_resets_only_after_a_keepalive_interval_in_established() {
        let mut fsm = fsm_in(State::Active, true);
        fail_attempt(&mut fsm);
        assert_eq!(fsm.consecutive_failures(), 1);
        fsm.handle(Event::TcpConnectionConfirmed);
        fsm.handle(open_msg());
        fsm.handle(Event::MessageReceived(Message::Keepalive));
        assert_eq!(fsm.state(), State::Established);
        assert_eq!(
            fsm.consecutive_failures(),
            1,
            "flapping right after Established still counts"
        );
        fsm.handle(Event::KeepaliveTimerExpires);
        assert_eq!(fsm.consecutive_failures(), 0);
        fsm.handle(Event::TcpConnectionFails);
        assert_eq!(
            fsm.state(),
            State::Active,
            "first failure after a stable session: at once"
        );
    }

    #[test]
    fn stale_timer_events_are_ignored() {
        let mut fsm = fsm_in(State::Established, false);
        assert_eq!(fsm.handle(Event::ConnectRetryTimerExpires), vec![]);
        let mut fsm = fsm_in(State::OpenSent, false);
        assert_eq!(fsm.handle(Event::KeepaliveTimerExpires), vec![]);
        assert_eq!(fsm.handle(Event::ConnectRetryTimerExpires), vec![]);
        assert_eq!(fsm.state(), State::OpenSent);
    }

    #[test]
    fn second_connection_is_left_to_the_driver() {
        for state in [State::OpenSent, State::OpenConfirm, State::Established] {
            let mut fsm = fsm_in(state, true);
            assert_eq!(fsm.handle(Event::TcpConnectionConfirmed), vec![], "{state}");
            assert_eq!(fsm.state(), state);
        }
    }

    #[test]
    fn collision_dump_sends_cease_and_stays_idle_without_session_down() {
        let mut fsm = fsm_in(State::OpenConfirm, false);
        assert_eq!(
            fsm.handle(Event::OpenCollisionDump),
            vec![
                send_notification(6, cease::CONNECTION_COLLISION_RESOLUTION, &[]),
                Action::CloseConnection,
                Action::StopTimer(Timer::Hold),
                Action::StopTimer(Timer::Keepalive),
            ]
        );
        assert_eq!(fsm.state(), State::Idle);
        assert_eq!(fsm.handle(Event::ConnectRetryTimerExpires), vec![]);
        assert_eq!(fsm.state(), State::Idle);
    }

    #[test]
    fn with_connection_starts_in_opensent_and_restarts_as_configured() {
        let (mut fsm, actions) = Fsm::with_connection(config(false));
        assert_eq!(
            actions,
            vec![
                Action::Send(Message::Open(local_open(fsm.config()))),
                Action::StartTimer(Timer::Hold, Duration::from_secs(240)),
            ]
        );
        assert_eq!(fsm.state(), State::OpenSent);
        fsm.handle(open_msg());
        fsm.handle(Event::MessageReceived(Message::Keepalive));
        assert_eq!(fsm.state(), State::Established);
        let actions = fsm.handle(Event::TcpConnectionFails);
        assert_eq!(actions.last(), Some(&Action::StartTimer(Timer::ConnectRetry, CR)));
        assert_eq!(
            fsm.handle(Event::ConnectRetryTimerExpires),
            vec![Action::StartTimer(Timer::ConnectRetry, CR), Action::Connect]
        );
    }

    #[test]
    fn invalid_configured_hold_time_is_raised_to_three() {
        let mut c = config(false);
        c.hold_time = 1;
        let fsm = Fsm::new(c);
        assert_eq!(local_open(fsm.config()).hold_time, 3);
    }

    #[test]
    fn down_reason_text() {
        assert_eq!(DownReason::ConnectionLost.to_string(), "connection lost");
        assert_eq!(
            DownReason::NotificationReceived(Notification::new(4, 0, vec![])).to_string(),
            "received Hold Timer Expired (4/0)"
        );
        assert_eq!(DownReason::ConnectionLost.notification(), None);
    }
}
