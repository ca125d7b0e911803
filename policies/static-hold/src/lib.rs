//! `static-hold`: kumo's standard static-hold module. When a client's session
//! is lost, it decides whether the client's routes stay exported (held) for a
//! while or are withdrawn at once.
//!
//! By default it holds only inside a maintenance window an operator declared
//! (admin API `POST /api/v1/clients/{name}/hold`), for what is left of the
//! window, and leaves clients that negotiated Graceful Restart to the GR
//! helper. Configuration (`[policies.NAME.config]`, every key optional):
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `mode` | `"window-only"` | `"window-only"`: hold only in a declared window; `"always"`: also hold outside windows, for `max_seconds`; `"never"`: always withdraw |
//! | `max_seconds` | `3600` | the longest hold; a window's remaining time is cut to it |
//! | `marking` | `"none"` | `"graceful-shutdown"` adds 65535:0, `"llgr-stale"` adds 65535:6 to held routes |
//! | `hold_on_gr` | `false` | hold clients that negotiated Graceful Restart too (otherwise GR keeps their routes for their restart time) |
//! | `reasons` | every reason | the loss reasons that may hold: `notification-received`, `notification-sent`, `hold-timer-expired`, `connection-lost`, `admin-shutdown`, `other`; a notification reason may name its code, or code and subcode: `notification-received:6`, `notification-received:6:4` |
//! | `shutdown_needs_window` | `true` | after the client sent Cease / Administrative Shutdown (its operator turned the session off), hold only in a declared window |

use kumo_sdk::Config;
use kumo_sdk::static_hold::{
    ADMINISTRATIVE_SHUTDOWN, HoldDecision, LossReason, Marking, SessionLoss, StaticHold,
};
use serde::Deserialize;

/// When the module holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Hold only in a declared maintenance window.
    #[default]
    WindowOnly,
    /// Hold in a window (for its remaining time) and outside (for `max_seconds`).
    Always,
    /// Never hold.
    Never,
}

/// The configuration, as written in kumo's TOML.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawConfig {
    mode: Mode,
    max_seconds: u32,
    marking: String,
    hold_on_gr: bool,
    reasons: Option<Vec<String>>,
    shutdown_needs_window: bool,
}

impl Default for RawConfig {
    fn default() -> Self {
        RawConfig {
            mode: Mode::WindowOnly,
            max_seconds: 3600,
            marking: "none".to_owned(),
            hold_on_gr: false,
            reasons: None,
            shutdown_needs_window: true,
        }
    }
}

/// The reason names a `reasons` entry may start with.
const REASON_NAMES: &[&str] = &[
    "notification-received",
    "notification-sent",
    "hold-timer-expired",
    "connection-lost",
    "admin-shutdown",
    "other",
];

/// One `reasons` entry: a reason, optionally narrowed to a NOTIFICATION code
/// and subcode.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ReasonPattern {
    name: &'static str,
    code: Option<u8>,
    subcode: Option<u8>,
}

impl ReasonPattern {
    fn parse(text: &str) -> Result<Self, String> {
        let mut parts = text.split(':');
        let head = parts.next().unwrap_or_default();
        let Some(name) = REASON_NAMES.iter().copied().find(|n| *n == head) else {
            return Err(format!(
                "reasons: unknown loss reason {head:?} (expected one of {})",
                REASON_NAMES.join(", ")
            ));
        };
        let number = |part: Option<&str>, what: &str| -> Result<Option<u8>, String> {
            part.map(|p| {
                p.parse::<u8>()
                    .map_err(|_| format!("reasons: {text:?}: {what} {p:?} is not a number 0-255"))
            })
            .transpose()
        };
        let code = number(parts.next(), "code")?;
        let subcode = number(parts.next(), "subcode")?;
        if parts.next().is_some() {
            return Err(format!("reasons: {text:?}: expected name[:code[:subcode]]"));
        }
        if code.is_some() && !name.starts_with("notification-") {
            return Err(format!(
                "reasons: {text:?}: only notification reasons take a code"
            ));
        }
        Ok(ReasonPattern { name, code, subcode })
    }

    fn matches(&self, reason: &LossReason) -> bool {
        if self.name != reason.name() {
            return false;
        }
        match *reason {
            LossReason::NotificationReceived { code, subcode }
            | LossReason::NotificationSent { code, subcode } => {
                self.code.is_none_or(|c| c == code) && self.subcode.is_none_or(|s| s == subcode)
            }
            _ => true,
        }
    }
}

/// The module.
#[derive(Debug, Clone)]
pub struct StandardHold {
    mode: Mode,
    max_seconds: u32,
    marking: Marking,
    hold_on_gr: bool,
    /// `None`: every reason may hold.
    reasons: Option<Vec<ReasonPattern>>,
    shutdown_needs_window: bool,
}

impl StandardHold {
    fn reason_may_hold(&self, reason: &LossReason) -> bool {
        self.reasons
            .as_ref()
            .is_none_or(|patterns| patterns.iter().any(|p| p.matches(reason)))
    }
}

impl StaticHold for StandardHold {
    fn new(config: &Config) -> Result<Self, String> {
        let raw: RawConfig =
            serde_json::from_value(config.clone()).map_err(|e| format!("static-hold configuration: {e}"))?;
        let marking = raw
            .marking
            .parse::<Marking>()
            .map_err(|e| format!("static-hold configuration: marking: {e}"))?;
        let reasons = raw
            .reasons
            .map(|list| {
                list.iter()
                    .map(|r| ReasonPattern::parse(r))
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()
            .map_err(|e| format!("static-hold configuration: {e}"))?;
        if raw.max_seconds == 0 && raw.mode != Mode::Never {
            return Err(
                "static-hold configuration: max_seconds must be above 0 (or mode = \"never\")".to_owned(),
            );
        }
        Ok(StandardHold {
            mode: raw.mode,
            max_seconds: raw.max_seconds,
            marking,
            hold_on_gr: raw.hold_on_gr,
            reasons,
            shutdown_needs_window: raw.shutdown_needs_window,
        })
    }

    fn on_session_loss(&self, event: &SessionLoss) -> HoldDecision {
        if self.mode == Mode::Never || !self.reason_may_hold(&event.reason) {
            return HoldDecision::WithdrawNow;
        }
        // GR-capable clients: the GR helper already keeps their routes for
        // their restart time; a second, longer hold would mask a real outage.
        if event.graceful_restart.is_some() && !self.hold_on_gr {
            return HoldDecision::WithdrawNow;
        }
        let seconds = match event.window {
            Some(remaining) => remaining.min(self.max_seconds),
            None if self.mode == Mode::WindowOnly => 0,
            // The client's operator turned the session off on purpose: without
            // a window nobody said it is coming back.
            None if self.shutdown_needs_window
                && matches!(event.reason, LossReason::NotificationReceived { .. })
                && event.reason.is_cease(ADMINISTRATIVE_SHUTDOWN) =>
            {
                0
            }
            None => self.max_seconds,
        };
        HoldDecision::hold(seconds, self.marking)
    }
}

kumo_sdk::export_static_hold!(StandardHold);

#[cfg(test)]
mod tests {
    use super::*;
    use kumo_sdk::static_hold::{ADMINISTRATIVE_RESET, CEASE, load};

    fn module(config: &str) -> StandardHold {
        match load::<StandardHold>(config) {
            Ok(m) => m,
            Err(e) => panic!("config {config}: {e}"),
        }
    }

    fn shutdown_received() -> LossReason {
        LossReason::NotificationReceived {
            code: CEASE,
            subcode: ADMINISTRATIVE_SHUTDOWN,
        }
    }

    #[test]
    fn default_holds_for_the_remaining_window() {
        let m = module("{}");
        let event = SessionLoss::test(1, 64501).window(420).routes(100, 10);
        assert_eq!(
            m.on_session_loss(&event),
            HoldDecision::Hold {
                seconds: 420,
                marking: Marking::None
            }
        );
    }

    #[test]
    fn default_withdraws_without_a_window() {
        let m = module("{}");
        for reason in [
            LossReason::ConnectionLost,
            LossReason::HoldTimerExpired,
            LossReason::AdminShutdown,
            shutdown_received(),
        ] {
            let event = SessionLoss::test(1, 64501).reason(reason.clone()).routes(5, 0);
            assert_eq!(m.on_session_loss(&event), HoldDecision::WithdrawNow, "{reason:?}");
        }
    }

    #[test]
    fn default_holds_any_reason_in_a_window() {
        let m = module("{}");
        for reason in [
            shutdown_received(),
            LossReason::NotificationSent { code: 4, subcode: 0 },
            LossReason::Other("x".into()),
        ] {
            let event = SessionLoss::test(1, 64501).reason(reason.clone()).window(60);
            assert_eq!(m.on_session_loss(&event).seconds(), 60, "{reason:?}");
        }
    }

    #[test]
    fn window_is_cut_to_max_seconds() {
        let m = module(r#"{"max_seconds": 300}"#);
        assert_eq!(
            m.on_session_loss(&SessionLoss::test(1, 1).window(7200)).seconds(),
            300
        );
        assert_eq!(
            m.on_session_loss(&SessionLoss::test(1, 1).window(200)).seconds(),
            200
        );
    }

    #[test]
    fn window_with_no_time_left_withdraws() {
        let m = module("{}");
        assert!(
            m.on_session_loss(&SessionLoss::test(1, 1).window(0))
                .is_withdraw()
        );
    }

    #[test]
    fn always_holds_outside_windows_except_after_a_shutdown() {
        let m = module(r#"{"mode": "always", "max_seconds": 900}"#);
        assert_eq!(m.on_session_loss(&SessionLoss::test(1, 1)).seconds(), 900);
        let reset = LossReason::NotificationReceived {
            code: CEASE,
            subcode: ADMINISTRATIVE_RESET,
        };
        assert_eq!(
            m.on_session_loss(&SessionLoss::test(1, 1).reason(reset))
                .seconds(),
            900
        );
        assert!(
            m.on_session_loss(&SessionLoss::test(1, 1).reason(shutdown_received()))
                .is_withdraw()
        );
        // Inside a window the shutdown holds, for the window.
        assert_eq!(
            m.on_session_loss(&SessionLoss::test(1, 1).reason(shutdown_received()).window(120))
                .seconds(),
            120
        );
        // Sent by kumo, it is not the client's operator speaking.
        let sent = LossReason::NotificationSent {
            code: CEASE,
            subcode: ADMINISTRATIVE_SHUTDOWN,
        };
        assert_eq!(
            m.on_session_loss(&SessionLoss::test(1, 1).reason(sent)).seconds(),
            900
        );

        let lax = module(r#"{"mode": "always", "shutdown_needs_window": false}"#);
        assert_eq!(
            lax.on_session_loss(&SessionLoss::test(1, 1).reason(shutdown_received()))
                .seconds(),
            3600
        );
    }

    #[test]
    fn never_withdraws_even_in_a_window() {
        let m = module(r#"{"mode": "never"}"#);
        assert!(
            m.on_session_loss(&SessionLoss::test(1, 1).window(600))
                .is_withdraw()
        );
    }

    #[test]
    fn graceful_restart_clients_are_left_to_gr_unless_configured() {
        let event = SessionLoss::test(1, 1).window(600).graceful_restart(120);
        assert!(module("{}").on_session_loss(&event).is_withdraw());
        assert_eq!(
            module(r#"{"hold_on_gr": true}"#)
                .on_session_loss(&event)
                .seconds(),
            600
        );
    }

    #[test]
    fn marking_is_applied_to_holds() {
        for (text, marking) in [
            ("graceful-shutdown", Marking::GracefulShutdown),
            ("llgr-stale", Marking::LlgrStale),
            ("none", Marking::None),
        ] {
            let m = module(&format!(r#"{{"marking": "{text}"}}"#));
            assert_eq!(
                m.on_session_loss(&SessionLoss::test(1, 1).window(30)),
                HoldDecision::Hold { seconds: 30, marking }
            );
        }
    }

    #[test]
    fn reasons_restrict_which_losses_hold() {
        let m = module(r#"{"reasons": ["connection-lost", "notification-received:6:4"]}"#);
        let hold = |reason: LossReason| {
            m.on_session_loss(&SessionLoss::test(1, 1).reason(reason).window(60))
                .seconds()
        };
        assert_eq!(hold(LossReason::ConnectionLost), 60);
        assert_eq!(
            hold(LossReason::NotificationReceived {
                code: CEASE,
                subcode: ADMINISTRATIVE_RESET
            }),
            60
        );
        assert_eq!(hold(shutdown_received()), 0);
        assert_eq!(hold(LossReason::HoldTimerExpired), 0);
        assert_eq!(
            hold(LossReason::NotificationSent {
                code: CEASE,
                subcode: ADMINISTRATIVE_RESET
            }),
            0
        );

        let by_code = module(r#"{"reasons": ["notification-sent:6"]}"#);
        let sent = |subcode| LossReason::NotificationSent { code: CEASE, subcode };
        assert_eq!(
            by_code
                .on_session_loss(&SessionLoss::test(1, 1).reason(sent(9)).window(5))
                .seconds(),
            5
        );
        assert!(
            by_code
                .on_session_loss(
                    &SessionLoss::test(1, 1)
                        .reason(LossReason::NotificationSent { code: 3, subcode: 1 })
                        .window(5)
                )
                .is_withdraw()
        );
    }

    #[test]
    fn bad_configurations_are_refused_with_the_key() {
        for (config, needle) in [
            (r#"{"mode": "sometimes"}"#, "sometimes"),
            (r#"{"marking": "purple"}"#, "marking"),
            (r#"{"reasons": ["cosmic-rays"]}"#, "cosmic-rays"),
            (r#"{"reasons": ["connection-lost:6"]}"#, "only notification"),
            (r#"{"reasons": ["notification-sent:600"]}"#, "600"),
            (
                r#"{"reasons": ["notification-sent:6:2:1"]}"#,
                "name[:code[:subcode]]",
            ),
            (r#"{"max_seconds": 0}"#, "max_seconds"),
            (r#"{"max_seconds": -1}"#, "static-hold configuration"),
            (r#"{"hold_for": 5}"#, "hold_for"),
        ] {
            match load::<StandardHold>(config) {
                Ok(_) => panic!("{config} accepted"),
                Err(e) => assert!(e.contains(needle), "{config}: {e}"),
            }
        }
        assert!(load::<StandardHold>(r#"{"mode": "never", "max_seconds": 0}"#).is_ok());
    }
}
