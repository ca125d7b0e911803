//! Static-hold policies: what happens to a client's routes when its session
//! is lost (world `kumo:policy/static-hold-module`, `wit/static-hold.wit`).
//!
//! A static-hold policy is a type implementing [`StaticHold`];
//! [`export_static_hold!`](crate::export_static_hold) turns it into a
//! component (wasm32 builds) and expands to nothing otherwise, so the same
//! crate tests natively. kumo asks it once per lost session, with a
//! [`SessionLoss`]; it answers [`HoldDecision::WithdrawNow`] or
//! [`HoldDecision::Hold`] for some seconds, with a [`Marking`].
//!
//! ```
//! use kumo_sdk::static_hold::*;
//! use kumo_sdk::Config;
//!
//! /// Hold only inside a declared maintenance window, for what is left of it.
//! struct WindowOnly;
//!
//! impl StaticHold for WindowOnly {
//!     fn new(_config: &Config) -> Result<Self, String> {
//!         Ok(WindowOnly)
//!     }
//!     fn on_session_loss(&self, event: &SessionLoss) -> HoldDecision {
//!         match event.window {
//!             Some(seconds) => HoldDecision::hold(seconds, Marking::None),
//!             None => HoldDecision::WithdrawNow,
//!         }
//!     }
//! }
//! kumo_sdk::export_static_hold!(WindowOnly);
//!
//! let event = SessionLoss::test(1, 64501).window(600);
//! assert_eq!(WindowOnly.on_session_loss(&event), HoldDecision::hold(600, Marking::None));
//! assert!(WindowOnly.on_session_loss(&SessionLoss::test(1, 64501)).is_withdraw());
//! ```

use crate::{Community, Config};

/// NOTIFICATION error code Cease (RFC 4271 §4.5).
///
/// ```
/// assert_eq!(kumo_sdk::static_hold::CEASE, 6);
/// ```
pub const CEASE: u8 = 6;

/// Cease subcode Administrative Shutdown (RFC 4486): the peer's operator
/// turned the session off on purpose.
///
/// ```
/// use kumo_sdk::static_hold::*;
/// let r = LossReason::NotificationReceived { code: CEASE, subcode: ADMINISTRATIVE_SHUTDOWN };
/// assert!(r.is_cease(ADMINISTRATIVE_SHUTDOWN));
/// ```
pub const ADMINISTRATIVE_SHUTDOWN: u8 = 2;

/// Cease subcode Administrative Reset (RFC 4486): the peer's operator reset
/// the session (typically to come back at once).
///
/// ```
/// assert_eq!(kumo_sdk::static_hold::ADMINISTRATIVE_RESET, 4);
/// ```
pub const ADMINISTRATIVE_RESET: u8 = 4;

/// Why a session was lost.
///
/// ```
/// use kumo_sdk::static_hold::LossReason;
/// let r = LossReason::NotificationReceived { code: 6, subcode: 2 };
/// assert_eq!(r.name(), "notification-received");
/// assert!(r.is_cease(2));
/// assert!(!LossReason::HoldTimerExpired.is_cease(2));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LossReason {
    /// The client sent a NOTIFICATION.
    NotificationReceived {
        /// Error code (6 = Cease).
        code: u8,
        /// Error subcode.
        subcode: u8,
    },
    /// kumo sent the client a NOTIFICATION (max-prefix, malformed UPDATE...).
    NotificationSent {
        /// Error code.
        code: u8,
        /// Error subcode.
        subcode: u8,
    },
    /// The hold timer expired: no KEEPALIVE in time.
    HoldTimerExpired,
    /// The TCP connection was reset or closed without a NOTIFICATION.
    ConnectionLost,
    /// An operator shut the session down on kumo's side.
    AdminShutdown,
    /// Anything else, described.
    Other(String),
}

impl LossReason {
    /// The reason's name as written in WIT and in configurations
    /// (`notification-received`, `notification-sent`, `hold-timer-expired`,
    /// `connection-lost`, `admin-shutdown`, `other`).
    ///
    /// ```
    /// use kumo_sdk::static_hold::LossReason;
    /// assert_eq!(LossReason::ConnectionLost.name(), "connection-lost");
    /// assert_eq!(LossReason::Other("x".into()).name(), "other");
    /// ```
    pub fn name(&self) -> &'static str {
        match self {
            LossReason::NotificationReceived { .. } => "notification-received",
            LossReason::NotificationSent { .. } => "notification-sent",
            LossReason::HoldTimerExpired => "hold-timer-expired",
            LossReason::ConnectionLost => "connection-lost",
            LossReason::AdminShutdown => "admin-shutdown",
            LossReason::Other(_) => "other",
        }
    }

    /// Whether this is a NOTIFICATION Cease with `subcode`, in either
    /// direction.
    ///
    /// ```
    /// use kumo_sdk::static_hold::*;
    /// let sent = LossReason::NotificationSent { code: CEASE, subcode: ADMINISTRATIVE_RESET };
    /// assert!(sent.is_cease(ADMINISTRATIVE_RESET));
    /// assert!(!sent.is_cease(ADMINISTRATIVE_SHUTDOWN));
    /// ```
    pub fn is_cease(&self, subcode: u8) -> bool {
        match *self {
            LossReason::NotificationReceived { code, subcode: s }
            | LossReason::NotificationSent { code, subcode: s } => code == CEASE && s == subcode,
            _ => false,
        }
    }
}

/// One lost session, as kumo reports it to the policy.
///
/// Build test events with [`SessionLoss::test`] and the builder methods.
///
/// ```
/// use kumo_sdk::static_hold::*;
/// let e = SessionLoss::test(7, 64507)
///     .reason(LossReason::HoldTimerExpired)
///     .window(300)
///     .graceful_restart(120)
///     .routes(1000, 200);
/// assert_eq!(e.client_id, 7);
/// assert_eq!(e.window, Some(300));
/// assert_eq!(e.graceful_restart, Some(120));
/// assert_eq!(e.total_routes(), 1200);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionLoss {
    /// The client's id (as in [`Client::id`](crate::Client::id)).
    pub client_id: u32,
    /// The client's name from the configuration.
    pub client_name: String,
    /// The client's ASN.
    pub asn: u32,
    /// Why the session was lost.
    pub reason: LossReason,
    /// Seconds left in the maintenance window an operator declared for this
    /// client (admin API `POST /api/v1/clients/{name}/hold`); `None` when no
    /// window is open.
    pub window: Option<u32>,
    /// The restart time (seconds) the client advertised, when it negotiated
    /// Graceful Restart on the lost session; `None` without GR.
    pub graceful_restart: Option<u16>,
    /// IPv4 routes in the client's Adj-RIB-In.
    pub routes_ipv4: u32,
    /// IPv6 routes in the client's Adj-RIB-In.
    pub routes_ipv6: u32,
}

impl SessionLoss {
    /// A test event: client `id` named `as{asn}`, connection lost, no window,
    /// no Graceful Restart, no routes.
    ///
    /// ```
    /// use kumo_sdk::static_hold::*;
    /// let e = SessionLoss::test(1, 64501);
    /// assert_eq!(e.client_name, "as64501");
    /// assert_eq!(e.reason, LossReason::ConnectionLost);
    /// assert_eq!(e.window, None);
    /// ```
    pub fn test(id: u32, asn: u32) -> Self {
        SessionLoss {
            client_id: id,
            client_name: format!("as{asn}"),
            asn,
            reason: LossReason::ConnectionLost,
            window: None,
            graceful_restart: None,
            routes_ipv4: 0,
            routes_ipv6: 0,
        }
    }

    /// With this loss reason.
    ///
    /// ```
    /// use kumo_sdk::static_hold::*;
    /// let e = SessionLoss::test(1, 64501).reason(LossReason::AdminShutdown);
    /// assert_eq!(e.reason, LossReason::AdminShutdown);
    /// ```
    pub fn reason(mut self, reason: LossReason) -> Self {
        self.reason = reason;
        self
    }

    /// With a maintenance window declared, `remaining` seconds left.
    ///
    /// ```
    /// let e = kumo_sdk::static_hold::SessionLoss::test(1, 64501).window(90);
    /// assert_eq!(e.window, Some(90));
    /// ```
    pub fn window(mut self, remaining: u32) -> Self {
        self.window = Some(remaining);
        self
    }

    /// With Graceful Restart negotiated, restart time `seconds`.
    ///
    /// ```
    /// let e = kumo_sdk::static_hold::SessionLoss::test(1, 64501).graceful_restart(120);
    /// assert_eq!(e.graceful_restart, Some(120));
    /// ```
    pub fn graceful_restart(mut self, seconds: u16) -> Self {
        self.graceful_restart = Some(seconds);
        self
    }

    /// With these route counts.
    ///
    /// ```
    /// let e = kumo_sdk::static_hold::SessionLoss::test(1, 64501).routes(10, 2);
    /// assert_eq!((e.routes_ipv4, e.routes_ipv6), (10, 2));
    /// ```
    pub fn routes(mut self, ipv4: u32, ipv6: u32) -> Self {
        self.routes_ipv4 = ipv4;
        self.routes_ipv6 = ipv6;
        self
    }

    /// With this client name.
    ///
    /// ```
    /// let e = kumo_sdk::static_hold::SessionLoss::test(1, 64501).name("acme");
    /// assert_eq!(e.client_name, "acme");
    /// ```
    pub fn name(mut self, name: &str) -> Self {
        self.client_name = name.to_owned();
        self
    }

    /// All routes of the client, IPv4 and IPv6 (saturating).
    ///
    /// ```
    /// let e = kumo_sdk::static_hold::SessionLoss::test(1, 64501).routes(3, 4);
    /// assert_eq!(e.total_routes(), 7);
    /// ```
    pub fn total_routes(&self) -> u32 {
        self.routes_ipv4.saturating_add(self.routes_ipv6)
    }
}

/// How held routes are marked towards the other clients.
///
/// ```
/// use kumo_sdk::static_hold::Marking;
/// use kumo_sdk::Community;
/// assert_eq!(Marking::GracefulShutdown.community(), Some(Community::GRACEFUL_SHUTDOWN));
/// assert_eq!(Marking::LlgrStale.community(), Some(Community::new(65535, 6)));
/// assert_eq!(Marking::None.community(), None);
/// assert_eq!("llgr-stale".parse::<Marking>(), Ok(Marking::LlgrStale));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Marking {
    /// Unchanged.
    #[default]
    None,
    /// Add GRACEFUL_SHUTDOWN 65535:0 (RFC 8326): others lower the routes'
    /// preference.
    GracefulShutdown,
    /// Add LLGR_STALE 65535:6 (RFC 9494).
    LlgrStale,
}

impl Marking {
    /// The community the host adds, if any.
    ///
    /// ```
    /// use kumo_sdk::static_hold::Marking;
    /// assert_eq!(Marking::LlgrStale.community().map(|c| c.to_string()).as_deref(), Some("65535:6"));
    /// ```
    pub fn community(self) -> Option<Community> {
        match self {
            Marking::None => None,
            Marking::GracefulShutdown => Some(Community::GRACEFUL_SHUTDOWN),
            Marking::LlgrStale => Some(Community::new(0xFFFF, 6)),
        }
    }

    /// The marking's name as written in WIT and configurations.
    ///
    /// ```
    /// assert_eq!(kumo_sdk::static_hold::Marking::GracefulShutdown.name(), "graceful-shutdown");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Marking::None => "none",
            Marking::GracefulShutdown => "graceful-shutdown",
            Marking::LlgrStale => "llgr-stale",
        }
    }
}

impl std::str::FromStr for Marking {
    type Err = String;

    /// `none`, `graceful-shutdown` or `llgr-stale`.
    ///
    /// ```
    /// use kumo_sdk::static_hold::Marking;
    /// assert_eq!("none".parse::<Marking>(), Ok(Marking::None));
    /// assert!("stale".parse::<Marking>().is_err());
    /// ```
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "none" => Ok(Marking::None),
            "graceful-shutdown" => Ok(Marking::GracefulShutdown),
            "llgr-stale" => Ok(Marking::LlgrStale),
            other => Err(format!(
                "unknown marking {other:?} (expected \"none\", \"graceful-shutdown\" or \"llgr-stale\")"
            )),
        }
    }
}

/// The answer for one lost session.
///
/// ```
/// use kumo_sdk::static_hold::*;
/// let d = HoldDecision::hold(600, Marking::GracefulShutdown);
/// assert_eq!(d.seconds(), 600);
/// assert!(!d.is_withdraw());
/// // A hold of 0 seconds is a withdraw.
/// assert!(HoldDecision::hold(0, Marking::None).is_withdraw());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldDecision {
    /// Withdraw the client's routes now.
    WithdrawNow,
    /// Keep them exported, for at most `seconds`.
    Hold {
        /// How long.
        seconds: u32,
        /// How they are marked meanwhile.
        marking: Marking,
    },
}

impl HoldDecision {
    /// A hold of `seconds` (0 is [`HoldDecision::WithdrawNow`]).
    ///
    /// ```
    /// use kumo_sdk::static_hold::*;
    /// assert_eq!(HoldDecision::hold(0, Marking::LlgrStale), HoldDecision::WithdrawNow);
    /// ```
    pub fn hold(seconds: u32, marking: Marking) -> Self {
        if seconds == 0 {
            HoldDecision::WithdrawNow
        } else {
            HoldDecision::Hold { seconds, marking }
        }
    }

    /// Whether the routes are withdrawn now.
    ///
    /// ```
    /// assert!(kumo_sdk::static_hold::HoldDecision::WithdrawNow.is_withdraw());
    /// ```
    pub fn is_withdraw(&self) -> bool {
        self.seconds() == 0
    }

    /// Seconds of hold; 0 for a withdraw.
    ///
    /// ```
    /// use kumo_sdk::static_hold::*;
    /// assert_eq!(HoldDecision::WithdrawNow.seconds(), 0);
    /// ```
    pub fn seconds(&self) -> u32 {
        match *self {
            HoldDecision::WithdrawNow => 0,
            HoldDecision::Hold { seconds, .. } => seconds,
        }
    }
}

/// A static-hold policy.
///
/// One value is built per instance from the module's configuration
/// ([`StaticHold::new`]) and then answers [`StaticHold::on_session_loss`]
/// once per lost session.
///
/// ```
/// use kumo_sdk::static_hold::*;
/// use kumo_sdk::Config;
///
/// /// Hold every lost session for a fixed time, marked GRACEFUL_SHUTDOWN.
/// struct Fixed(u32);
///
/// impl StaticHold for Fixed {
///     fn new(config: &Config) -> Result<Self, String> {
///         let seconds = config.get("seconds").and_then(|s| s.as_u64()).unwrap_or(60);
///         Ok(Fixed(u32::try_from(seconds).map_err(|_| "seconds: too large")?))
///     }
///     fn on_session_loss(&self, _event: &SessionLoss) -> HoldDecision {
///         HoldDecision::hold(self.0, Marking::GracefulShutdown)
///     }
/// }
///
/// let policy: Fixed = kumo_sdk::static_hold::load(r#"{"seconds": 30}"#).unwrap();
/// assert_eq!(policy.on_session_loss(&SessionLoss::test(1, 64501)).seconds(), 30);
/// ```
pub trait StaticHold: Sized + 'static {
    /// Build the policy from its configuration table (`[policies.NAME.config]`
    /// in kumo's TOML, as JSON; `{}` when absent). An error refuses the module
    /// with that text.
    fn new(config: &Config) -> Result<Self, String>;

    /// Decide what happens to the routes of a lost session.
    fn on_session_loss(&self, event: &SessionLoss) -> HoldDecision;
}

/// Build a policy from configuration JSON text exactly as the component's
/// `init` does (so a native test sees the same errors as kumo at load).
///
/// ```
/// use kumo_sdk::static_hold::*;
/// struct Never;
/// impl StaticHold for Never {
///     fn new(_: &kumo_sdk::Config) -> Result<Self, String> { Ok(Never) }
///     fn on_session_loss(&self, _: &SessionLoss) -> HoldDecision { HoldDecision::WithdrawNow }
/// }
/// assert!(load::<Never>("{}").is_ok());
/// assert!(load::<Never>("{not json").is_err());
/// ```
pub fn load<P: StaticHold>(config: &str) -> Result<P, String> {
    let config: Config =
        serde_json::from_str(config).map_err(|e| format!("module configuration is not valid JSON: {e}"))?;
    P::new(&config)
}

/// Export a [`StaticHold`] type as kumo's `static-hold-module` component.
///
/// In a `wasm32` build this generates the component exports; in any other
/// build it expands to nothing, so the same crate tests natively. Use it once,
/// at the crate root, in a `cdylib` crate (not in the same crate as
/// [`export_policy!`](crate::export_policy): one component is one world).
///
/// ```
/// use kumo_sdk::static_hold::*;
/// struct Never;
/// impl StaticHold for Never {
///     fn new(_: &kumo_sdk::Config) -> Result<Self, String> { Ok(Never) }
///     fn on_session_loss(&self, _: &SessionLoss) -> HoldDecision { HoldDecision::WithdrawNow }
/// }
/// kumo_sdk::export_static_hold!(Never);
/// ```
#[macro_export]
macro_rules! export_static_hold {
    ($policy:ty) => {
        // Named at the call site so the type path resolves where it was written.
        #[cfg(target_arch = "wasm32")]
        #[doc(hidden)]
        type __KumoStaticHold = $policy;

        #[cfg(target_arch = "wasm32")]
        #[doc(hidden)]
        mod __kumo_static_hold_export {
            use super::__KumoStaticHold;
            use $crate::static_hold::guest::bindings::exports::kumo::policy::static_hold as wit;

            ::std::thread_local! {
                static STATE: ::std::cell::RefCell<::std::option::Option<__KumoStaticHold>> =
                    const { ::std::cell::RefCell::new(::std::option::Option::None) };
            }

            struct Exports;

            impl wit::Guest for Exports {
                fn init(config: String) -> Result<(), String> {
                    STATE.with(|s| $crate::static_hold::guest::init(&mut s.borrow_mut(), &config))
                }
                fn on_session_loss(event: wit::SessionLoss) -> wit::HoldDecision {
                    STATE.with(|s| $crate::static_hold::guest::on_session_loss(&s.borrow(), event))
                }
            }

            $crate::static_hold::guest::bindings::export!(Exports with_types_in $crate::static_hold::guest::bindings);
        }
    };
}

/// The component glue behind [`export_static_hold!`](crate::export_static_hold)
/// (wasm32 builds only). Not part of the public API.
#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
#[allow(missing_docs)]
pub mod guest {
    use super::{HoldDecision, LossReason, Marking, SessionLoss, StaticHold};

    #[allow(unsafe_code, missing_docs, clippy::all)]
    pub mod bindings {
        wit_bindgen::generate!({
            path: "../wit",
            world: "static-hold-module",
            // The host imports are the policy world's: one set of import glue
            // for both kinds of module (and for `kumo_sdk::log`).
            with: {
                "kumo:policy/types@0.1.0": crate::guest::bindings::kumo::policy::types,
                "kumo:policy/host@0.1.0": crate::guest::bindings::kumo::policy::host,
            },
            pub_export_macro: true,
            export_macro_name: "export",
            default_bindings_module: "kumo_sdk::static_hold::guest::bindings",
        });
    }

    use bindings::exports::kumo::policy::static_hold as w;

    pub fn init<P: StaticHold>(state: &mut Option<P>, config: &str) -> Result<(), String> {
        *state = Some(super::load(config)?);
        Ok(())
    }

    pub fn on_session_loss<P: StaticHold>(state: &Option<P>, event: w::SessionLoss) -> w::HoldDecision {
        // Fail closed: without a policy, routes are withdrawn as without static-hold.
        let Some(policy) = state else {
            return w::HoldDecision::WithdrawNow;
        };
        let reason = match event.reason {
            w::LossReason::NotificationReceived(n) => LossReason::NotificationReceived {
                code: n.code,
                subcode: n.subcode,
            },
            w::LossReason::NotificationSent(n) => LossReason::NotificationSent {
                code: n.code,
                subcode: n.subcode,
            },
            w::LossReason::HoldTimerExpired => LossReason::HoldTimerExpired,
            w::LossReason::ConnectionLost => LossReason::ConnectionLost,
            w::LossReason::AdminShutdown => LossReason::AdminShutdown,
            w::LossReason::Other(text) => LossReason::Other(text),
        };
        let event = SessionLoss {
            client_id: event.client.id,
            client_name: event.client.name,
            asn: event.client.asn,
            reason,
            window: event.maintenance_window.then_some(event.window_remaining_seconds),
            graceful_restart: event.graceful_restart.then_some(event.graceful_restart_time),
            routes_ipv4: event.routes.ipv4,
            routes_ipv6: event.routes.ipv6,
        };
        match policy.on_session_loss(&event) {
            HoldDecision::Hold { seconds, marking } if seconds > 0 => w::HoldDecision::Hold(w::HoldSpec {
                seconds,
                marking: match marking {
                    Marking::None => w::Marking::None,
                    Marking::GracefulShutdown => w::Marking::GracefulShutdown,
                    Marking::LlgrStale => w::Marking::LlgrStale,
                },
            }),
            _ => w::HoldDecision::WithdrawNow,
        }
    }
}
