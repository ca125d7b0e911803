//! What the local side of one session is configured to do: [`SessionConfig`]
//! and the capabilities kumo offers in its OPEN ([`LocalCapabilities`]).

use std::net::Ipv4Addr;
use std::time::Duration;

use kumo_wire::{AddPathMode, AfiSafi, GracefulRestartAfi, LlgrAfi, Role};
use thiserror::Error;

/// RFC 4271 §10 suggested hold time.
pub const DEFAULT_HOLD_TIME: u16 = 90;
/// RFC 4271 §10 suggested ConnectRetryTime.
pub const DEFAULT_CONNECT_RETRY: Duration = Duration::from_secs(120);
/// Ceiling of the idle hold (restart back-off), the upper bound of BIRD's `error wait time`.
pub const DEFAULT_MAX_IDLE_HOLD: Duration = Duration::from_secs(300);

/// Configuration of one BGP session (one peer), as the FSM needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    pub local_asn: u32,
    /// Our BGP Identifier.
    pub local_id: Ipv4Addr,
    /// The ASN the peer must present in its OPEN.
    pub peer_asn: u32,
    /// Hold time offered in our OPEN: 0 (no keepalives) or at least 3 seconds.
    pub hold_time: u16,
    /// ConnectRetryTimer (RFC 4271 §8): interval between outgoing connection attempts,
    /// and the base of the idle hold after a failed session (see [`crate::fsm`]).
    pub connect_retry: Duration,
    /// Passive: never initiate the TCP connection, only accept the peer's.
    pub passive: bool,
    /// Upper bound of the idle hold back-off after repeated session failures.
    pub max_idle_hold: Duration,
    pub capabilities: LocalCapabilities,
}

impl SessionConfig {
    /// A configuration with RFC 4271 defaults (hold 90 s, ConnectRetry 120 s,
    /// active) and the default capabilities.
    pub fn new(local_asn: u32, local_id: Ipv4Addr, peer_asn: u32) -> Self {
        SessionConfig {
            local_asn,
            local_id,
            peer_asn,
            hold_time: DEFAULT_HOLD_TIME,
            connect_retry: DEFAULT_CONNECT_RETRY,
            passive: false,
            max_idle_hold: DEFAULT_MAX_IDLE_HOLD,
            capabilities: LocalCapabilities::default(),
        }
    }

    /// Checks what the FSM cannot repair by itself. The config crate should call
    /// this so that a bad value is reported with its key instead of being adjusted.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.hold_time == 1 || self.hold_time == 2 {
            return Err(ConfigError::HoldTime(self.hold_time));
        }
        if self.local_id.is_unspecified() {
            return Err(ConfigError::RouterId(self.local_id));
        }
        if self.local_asn == 0 || self.local_asn == u32::from(kumo_wire::AS_TRANS) {
            return Err(ConfigError::LocalAsn(self.local_asn));
        }
        if self.peer_asn == 0 || self.peer_asn == u32::from(kumo_wire::AS_TRANS) {
            return Err(ConfigError::PeerAsn(self.peer_asn));
        }
        if self.connect_retry.is_zero() {
            return Err(ConfigError::ConnectRetry);
        }
        if let Some(gr) = &self.capabilities.graceful_restart
            && gr.restart_time > 0x0fff
        {
            return Err(ConfigError::RestartTime(gr.restart_time));
        }
        if let Some(llgr) = self.capabilities.llgr.iter().find(|l| l.stale_time > 0x00ff_ffff) {
            return Err(ConfigError::LlgrStaleTime(llgr.stale_time));
        }
        Ok(())
    }
}

/// A session configuration the FSM refuses.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    #[error("hold time {0} is not allowed: use 0 or at least 3 seconds (RFC 4271 §4.2)")]
    HoldTime(u16),
    #[error("router id {0} is not a valid BGP Identifier")]
    RouterId(Ipv4Addr),
    #[error("local ASN {0} is reserved")]
    LocalAsn(u32),
    #[error("peer ASN {0} is reserved")]
    PeerAsn(u32),
    #[error("connect retry time must be greater than zero")]
    ConnectRetry,
    #[error("graceful restart time {0} does not fit in 12 bits (max 4095 s)")]
    RestartTime(u16),
    #[error("long-lived stale time {0} does not fit in 24 bits")]
    LlgrStaleTime(u32),
}

/// Graceful Restart (RFC 4724) as kumo offers it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GracefulRestartOffer {
    /// Restart time in seconds (12 bits).
    pub restart_time: u16,
    /// R bit: kumo has just restarted and the peer should keep our routes.
    pub restarting: bool,
    /// N bit (RFC 8538): graceful restart also applies to NOTIFICATIONs other than Hard Reset.
    pub notification: bool,
    /// Families for which kumo preserves state across its own restart (F bit per family).
    /// Empty: kumo is a helper only (retains the peer's routes when the peer restarts).
    pub families: Vec<GracefulRestartAfi>,
}

/// The capabilities kumo puts in its OPEN (RFC 5492). The 4-octet AS capability
/// (RFC 6793) is always sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalCapabilities {
    /// Multiprotocol families offered (RFC 4760).
    pub families: Vec<AfiSafi>,
    /// ADD-PATH (RFC 7911) as kumo offers it, per family.
    pub add_path: Vec<(AfiSafi, AddPathMode)>,
    pub route_refresh: bool,
    pub enhanced_route_refresh: bool,
    pub extended_message: bool,
    pub graceful_restart: Option<GracefulRestartOffer>,
    /// Long-Lived Graceful Restart (RFC 9494) families; empty: not offered.
    pub llgr: Vec<LlgrAfi>,
    /// BGP Role (RFC 9234); kumo offers [`Role::RouteServer`] when configured.
    pub role: Option<Role>,
}

impl Default for LocalCapabilities {
    /// IPv4 and IPv6 unicast, route refresh (plain and enhanced), extended
    /// messages; no ADD-PATH, no graceful restart, no role.
    fn default() -> Self {
        LocalCapabilities {
            families: vec![AfiSafi::IPV4_UNICAST, AfiSafi::IPV6_UNICAST],
            add_path: Vec::new(),
            route_refresh: true,
            enhanced_route_refresh: true,
            extended_message: true,
            graceful_restart: None,
            llgr: Vec::new(),
            role: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> SessionConfig {
        SessionConfig::new(64500, Ipv4Addr::new(192, 0, 2, 1), 65001)
    }

    #[test]
    fn defaults_are_valid() {
        assert_eq!(config().validate(), Ok(()));
    }

    #[test]
    fn hold_time_one_and_two_are_refused_zero_and_three_accepted() {
        for (hold, ok) in [(0, true), (1, false), (2, false), (3, true), (65535, true)] {
            let mut c = config();
            c.hold_time = hold;
            assert_eq!(c.validate().is_ok(), ok, "hold time {hold}");
        }
    }

    #[test]
    fn reserved_values_are_refused() {
        let mut c = config();
        c.local_id = Ipv4Addr::UNSPECIFIED;
        assert_eq!(c.validate(), Err(ConfigError::RouterId(Ipv4Addr::UNSPECIFIED)));
        let mut c = config();
        c.peer_asn = 23456;
        assert_eq!(c.validate(), Err(ConfigError::PeerAsn(23456)));
        let mut c = config();
        c.local_asn = 0;
        assert_eq!(c.validate(), Err(ConfigError::LocalAsn(0)));
        let mut c = config();
        c.connect_retry = Duration::ZERO;
        assert_eq!(c.validate(), Err(ConfigError::ConnectRetry));
        let mut c = config();
        c.capabilities.graceful_restart = Some(GracefulRestartOffer {
            restart_time: 4096,
            ..Default::default()
        });
        assert_eq!(c.validate(), Err(ConfigError::RestartTime(4096)));
        let mut c = config();
        c.capabilities.llgr = vec![LlgrAfi {
            afi_safi: AfiSafi::IPV4_UNICAST,
            forwarding_preserved: false,
            stale_time: 1 << 24,
        }];
        assert_eq!(c.validate(), Err(ConfigError::LlgrStaleTime(1 << 24)));
    }
}
