//! OPEN handling: the OPEN kumo sends ([`local_open`]), validation of the
//! peer's OPEN ([`validate_open`], RFC 4271 §6.2, RFC 6286, RFC 6793, RFC 9234)
//! and what the two OPENs negotiate ([`Negotiated`]).

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::time::Duration;

use kumo_wire::notification::{code, open as open_subcode};
use kumo_wire::{
    AS_TRANS, AddPathMode, AfiSafi, Capability, CodecContext, GracefulRestartAfi, LlgrAfi, Notification,
    Open, Role,
};
use thiserror::Error;

use crate::config::{LocalCapabilities, SessionConfig};

/// The only BGP version kumo speaks.
pub const BGP_VERSION: u8 = 4;

/// The OPEN kumo sends on this session.
///
/// "My AS" is the local ASN when it fits in 2 octets, else AS_TRANS (RFC 6793
/// §4.1); the 4-octet AS capability is always included. With no families
/// configured, no Multiprotocol capability is sent, which the peer reads as
/// IPv4 unicast only (RFC 4760 §8).
pub fn local_open(config: &SessionConfig) -> Open {
    let caps = &config.capabilities;
    let mut capabilities: Vec<Capability> = caps
        .families
        .iter()
        .copied()
        .map(Capability::Multiprotocol)
        .collect();
    if caps.route_refresh {
        capabilities.push(Capability::RouteRefresh);
    }
    if caps.enhanced_route_refresh {
        capabilities.push(Capability::EnhancedRouteRefresh);
    }
    if caps.extended_message {
        capabilities.push(Capability::ExtendedMessage);
    }
    if let Some(role) = caps.role {
        capabilities.push(Capability::Role(role));
    }
    if let Some(gr) = &caps.graceful_restart {
        capabilities.push(Capability::GracefulRestart {
            restarting: gr.restarting,
            notification: gr.notification,
            restart_time: gr.restart_time,
            afis: gr.families.clone(),
        });
    }
    capabilities.push(Capability::FourOctetAs(config.local_asn));
    if !caps.add_path.is_empty() {
        capabilities.push(Capability::AddPath(caps.add_path.clone()));
    }
    if !caps.llgr.is_empty() {
        capabilities.push(Capability::LongLivedGracefulRestart(caps.llgr.clone()));
    }
    Open {
        version: BGP_VERSION,
        my_as: u16::try_from(config.local_asn).unwrap_or(AS_TRANS),
        hold_time: config.hold_time,
        bgp_id: config.local_id,
        capabilities,
    }
}

/// Why a peer's OPEN is refused. [`OpenError::notification`] gives the
/// NOTIFICATION to send.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum OpenError {
    #[error("unsupported BGP version {0}")]
    UnsupportedVersion(u8),
    #[error("bad peer AS: expected {expected}, OPEN says {received} (My AS {my_as})")]
    BadPeerAs {
        expected: u32,
        received: u32,
        my_as: u16,
    },
    #[error("unacceptable hold time {0}")]
    UnacceptableHoldTime(u16),
    #[error("bad BGP identifier {0}")]
    BadBgpIdentifier(Ipv4Addr),
    #[error("role mismatch: local role {local:?}, peer role {peer:?}")]
    RoleMismatch { local: Option<Role>, peer: Role },
    #[error("role mismatch: the peer sent conflicting roles {0:?} and {1:?}")]
    ConflictingRoles(Role, Role),
}

impl OpenError {
    /// The OPEN Message Error NOTIFICATION for this error.
    pub fn notification(&self) -> Notification {
        let (subcode, data) = match self {
            // RFC 4271 §6.2: the largest locally supported version, 2 octets.
            OpenError::UnsupportedVersion(_) => (
                open_subcode::UNSUPPORTED_VERSION_NUMBER,
                u16::from(BGP_VERSION).to_be_bytes().to_vec(),
            ),
            OpenError::BadPeerAs { .. } => (open_subcode::BAD_PEER_AS, Vec::new()),
            OpenError::UnacceptableHoldTime(_) => (open_subcode::UNACCEPTABLE_HOLD_TIME, Vec::new()),
            OpenError::BadBgpIdentifier(_) => (open_subcode::BAD_BGP_IDENTIFIER, Vec::new()),
            OpenError::RoleMismatch { .. } | OpenError::ConflictingRoles(..) => {
                (open_subcode::ROLE_MISMATCH, Vec::new())
            }
        };
        Notification::new(code::OPEN_MESSAGE_ERROR, subcode, data)
    }
}

/// Checks the peer's OPEN against the session configuration, in the order of
/// RFC 4271 §6.2 (version, AS, hold time, identifier), then the BGP Role.
///
/// - The peer's ASN is the 4-octet AS capability when present, else My AS; a
///   2-octet peer configured with a 4-octet ASN therefore presents AS_TRANS and
///   is refused (RFC 6793 §4.1).
/// - The identifier must be non-zero (RFC 6286), not multicast and not
///   255.255.255.255 (RFC 4271 "syntactically incorrect"), and differ from ours
///   on an internal session (RFC 6286 §2.2). RFC 6286 would accept any non-zero
///   value; real speakers never use the others and they are a sign of garbage.
/// - Role (RFC 9234 §4.2): several Role capabilities must agree; when both
///   sides send one, the pair must be one of Provider/Customer,
///   RouteServer/RouteServerClient, Peer/Peer. A peer without a Role is
///   accepted (kumo does not implement strict mode).
pub fn validate_open(config: &SessionConfig, open: &Open) -> Result<(), OpenError> {
    if open.version != BGP_VERSION {
        return Err(OpenError::UnsupportedVersion(open.version));
    }
    let received = open.asn();
    if received != config.peer_asn {
        return Err(OpenError::BadPeerAs {
            expected: config.peer_asn,
            received,
            my_as: open.my_as,
        });
    }
    if open.hold_time == 1 || open.hold_time == 2 {
        return Err(OpenError::UnacceptableHoldTime(open.hold_time));
    }
    let id = open.bgp_id;
    if id.is_unspecified()
        || id.is_multicast()
        || id.is_broadcast()
        || (config.peer_asn == config.local_asn && id == config.local_id)
    {
        return Err(OpenError::BadBgpIdentifier(id));
    }
    if let Some(peer) = peer_role(open)?
        && let Some(local) = config.capabilities.role
        && !roles_match(local, peer)
    {
        return Err(OpenError::RoleMismatch {
            local: Some(local),
            peer,
        });
    }
    Ok(())
}

/// The peer's Role, refusing several Role capabilities with different values.
fn peer_role(open: &Open) -> Result<Option<Role>, OpenError> {
    let mut found: Option<Role> = None;
    for cap in &open.capabilities {
        if let Capability::Role(role) = cap {
            match found {
                Some(first) if first != *role => return Err(OpenError::ConflictingRoles(first, *role)),
                _ => found = Some(*role),
            }
        }
    }
    Ok(found)
}

/// RFC 9234 §4.2 table of allowed (local, remote) role pairs.
fn roles_match(local: Role, peer: Role) -> bool {
    matches!(
        (local, peer),
        (Role::Provider, Role::Customer)
            | (Role::Customer, Role::Provider)
            | (Role::RouteServer, Role::RouteServerClient)
            | (Role::RouteServerClient, Role::RouteServer)
            | (Role::Peer, Role::Peer)
    )
}

/// Graceful Restart as the peer announced it (RFC 4724, RFC 8538).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerGracefulRestart {
    /// How long to keep the peer's routes while it restarts, in seconds.
    pub restart_time: u16,
    /// R bit: the peer has just restarted.
    pub restarting: bool,
    /// N bit: the peer applies graceful restart to NOTIFICATIONs (RFC 8538).
    pub notification: bool,
    /// Families (among the negotiated ones) the peer preserves, with the F bit.
    pub families: Vec<GracefulRestartAfi>,
}

/// What the local configuration and the peer's OPEN negotiated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// min(local, peer) seconds; 0: no hold timer and no keepalives.
    pub hold_time: u16,
    /// hold_time / 3 seconds (RFC 4271 §10 suggests one third); 0 when hold_time is 0.
    pub keepalive_time: u16,
    pub peer_asn: u32,
    pub peer_id: Ipv4Addr,
    /// Both sides sent the 4-octet AS capability (kumo always does).
    pub four_octet_as: bool,
    /// Families both sides offered. A peer with no Multiprotocol capability at
    /// all supports IPv4 unicast only (RFC 4760 §8).
    pub families: Vec<AfiSafi>,
    /// Families where the peer sends path identifiers to kumo (we offered
    /// Receive/Both, the peer Send/Both).
    pub add_path_rx: Vec<AfiSafi>,
    /// Families where kumo sends path identifiers (we offered Send/Both, the peer Receive/Both).
    pub add_path_tx: Vec<AfiSafi>,
    pub route_refresh: bool,
    pub enhanced_route_refresh: bool,
    pub extended_message: bool,
    /// The peer's Graceful Restart, when both sides sent the capability (kumo
    /// sending it, even without families, is what makes kumo a helper).
    pub peer_graceful_restart: Option<PeerGracefulRestart>,
    /// Both sides set the N bit: graceful restart also covers NOTIFICATIONs (RFC 8538).
    pub graceful_notification: bool,
    /// The peer's Long-Lived Graceful Restart families (among the negotiated
    /// ones). Empty unless graceful restart is negotiated: RFC 9494 ignores LLGR
    /// without GR.
    pub peer_llgr: Vec<LlgrAfi>,
    pub peer_role: Option<Role>,
    /// The peer's OPEN as received.
    pub peer_open: Open,
}

impl Negotiated {
    /// Validates the peer's OPEN ([`validate_open`]) and negotiates.
    pub fn new(config: &SessionConfig, peer_open: Open) -> Result<Self, OpenError> {
        validate_open(config, &peer_open)?;
        let local = &config.capabilities;
        let hold_time = config.hold_time.min(peer_open.hold_time);
        let families = common_families(local, &peer_open);
        let (add_path_rx, add_path_tx) = add_path(local, &peer_open, &families);

        let has = |wanted: &Capability| peer_open.capabilities.iter().any(|c| c == wanted);
        // Pre-RFC 2918 Cisco code 128 means the same as code 2.
        let peer_route_refresh = has(&Capability::RouteRefresh)
            || peer_open
                .capabilities
                .iter()
                .any(|c| matches!(c, Capability::Unknown { code: 128, .. }));
        let route_refresh = local.route_refresh && peer_route_refresh;
        // RFC 7313 §3: enhanced route refresh comes with route refresh.
        let enhanced_route_refresh =
            route_refresh && local.enhanced_route_refresh && has(&Capability::EnhancedRouteRefresh);

        let peer_gr = peer_open.capabilities.iter().find_map(|c| match c {
            Capability::GracefulRestart {
                restarting,
                notification,
                restart_time,
                afis,
            } => Some(PeerGracefulRestart {
                restart_time: *restart_time,
                restarting: *restarting,
                notification: *notification,
                families: afis
                    .iter()
                    .filter(|a| families.contains(&a.afi_safi))
                    .copied()
                    .collect(),
            }),
            _ => None,
        });
        let peer_graceful_restart = peer_gr.filter(|_| local.graceful_restart.is_some());
        let graceful_notification = peer_graceful_restart.as_ref().is_some_and(|p| p.notification)
            && local.graceful_restart.as_ref().is_some_and(|l| l.notification);
        let peer_llgr = if peer_graceful_restart.is_some() {
            peer_open
                .capabilities
                .iter()
                .filter_map(|c| match c {
                    Capability::LongLivedGracefulRestart(afis) => Some(afis),
                    _ => None,
                })
                .flatten()
                .filter(|a| families.contains(&a.afi_safi))
                .copied()
                .collect()
        } else {
            Vec::new()
        };

        Ok(Negotiated {
            hold_time,
            keepalive_time: hold_time / 3,
            peer_asn: peer_open.asn(),
            peer_id: peer_open.bgp_id,
            four_octet_as: peer_open
                .capabilities
                .iter()
                .any(|c| matches!(c, Capability::FourOctetAs(_))),
            families,
            add_path_rx,
            add_path_tx,
            route_refresh,
            enhanced_route_refresh,
            extended_message: local.extended_message && has(&Capability::ExtendedMessage),
            peer_graceful_restart,
            graceful_notification,
            peer_llgr,
            // validate_open has refused conflicting roles, so the first one is the role.
            peer_role: peer_open.capabilities.iter().find_map(|c| match c {
                Capability::Role(r) => Some(*r),
                _ => None,
            }),
            peer_open,
        })
    }

    /// The hold timer, or `None` when the negotiated hold time is 0.
    pub fn hold_timer(&self) -> Option<Duration> {
        (self.hold_time > 0).then(|| Duration::from_secs(u64::from(self.hold_time)))
    }

    /// The keepalive timer, or `None` when the negotiated hold time is 0.
    pub fn keepalive_timer(&self) -> Option<Duration> {
        (self.keepalive_time > 0).then(|| Duration::from_secs(u64::from(self.keepalive_time)))
    }

    /// Context for decoding what the peer sends.
    pub fn rx_codec(&self) -> CodecContext {
        CodecContext {
            four_octet_as: self.four_octet_as,
            add_path: self.add_path_rx.clone(),
            extended_message: self.extended_message,
        }
    }

    /// Context for encoding what kumo sends to the peer.
    pub fn tx_codec(&self) -> CodecContext {
        CodecContext {
            four_octet_as: self.four_octet_as,
            add_path: self.add_path_tx.clone(),
            extended_message: self.extended_message,
        }
    }
}

/// Local families (in configured order) that the peer also offered.
fn common_families(local: &LocalCapabilities, peer: &Open) -> Vec<AfiSafi> {
    // Without families we send no Multiprotocol capability: IPv4 unicast only.
    let ipv4_only = [AfiSafi::IPV4_UNICAST];
    let local_families: &[AfiSafi] = if local.families.is_empty() {
        &ipv4_only
    } else {
        &local.families
    };
    let mut peer_families: Vec<AfiSafi> = peer
        .capabilities
        .iter()
        .filter_map(|c| match c {
            Capability::Multiprotocol(f) => Some(*f),
            _ => None,
        })
        .collect();
    if peer_families.is_empty() {
        peer_families.push(AfiSafi::IPV4_UNICAST);
    }
    let mut common = Vec::new();
    for f in local_families {
        if peer_families.contains(f) && !common.contains(f) {
            common.push(*f);
        }
    }
    common
}

/// ADD-PATH directions per family (RFC 7911 §5), limited to negotiated families.
fn add_path(local: &LocalCapabilities, peer: &Open, families: &[AfiSafi]) -> (Vec<AfiSafi>, Vec<AfiSafi>) {
    // Several ADD-PATH capabilities may be sent; the last entry for a family wins.
    let mut peer_modes: HashMap<AfiSafi, AddPathMode> = HashMap::new();
    for cap in &peer.capabilities {
        if let Capability::AddPath(entries) = cap {
            peer_modes.extend(entries.iter().copied());
        }
    }
    let receives = |m: AddPathMode| matches!(m, AddPathMode::Receive | AddPathMode::Both);
    let sends = |m: AddPathMode| matches!(m, AddPathMode::Send | AddPathMode::Both);
    let (mut rx, mut tx) = (Vec::new(), Vec::new());
    for &(family, ours) in &local.add_path {
        let Some(&theirs) = peer_modes.get(&family) else {
            continue;
        };
        if !families.contains(&family) {
            continue;
        }
        if receives(ours) && sends(theirs) && !rx.contains(&family) {
            rx.push(family);
        }
        if sends(ours) && receives(theirs) && !tx.contains(&family) {
            tx.push(family);
        }
    }
    (rx, tx)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::config::GracefulRestartOffer;
    use kumo_wire::{Afi, Safi};

    const LOCAL_ID: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    const PEER_ID: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
    const L2VPN: AfiSafi = AfiSafi {
        afi: Afi::Other(25),
        safi: Safi::Other(70),
    };

    fn config() -> SessionConfig {
        SessionConfig::new(64500, LOCAL_ID, 65001)
    }

    fn peer_open(caps: Vec<Capability>) -> Open {
        Open {
            version: 4,
            my_as: 65001,
            hold_time: 90,
            bgp_id: PEER_ID,
            capabilities: caps,
        }
    }

    fn modern_caps() -> Vec<Capability> {
        vec![
            Capability::Multiprotocol(AfiSafi::IPV4_UNICAST),
            Capability::Multiprotocol(AfiSafi::IPV6_UNICAST),
            Capability::RouteRefresh,
            Capability::FourOctetAs(65001),
        ]
    }

    fn notif(subcode: u8, data: &[u8]) -> Notification {
        Notification::new(2, subcode, data.to_vec())
    }

    fn refusal(config: &SessionConfig, open: &Open) -> Notification {
        validate_open(config, open).unwrap_err().notification()
    }

    #[test]
    fn local_open_carries_configured_capabilities() {
        let mut c = config();
        c.hold_time = 180;
        c.capabilities.role = Some(Role::RouteServer);
        c.capabilities.add_path = vec![(AfiSafi::IPV4_UNICAST, AddPathMode::Send)];
        let open = local_open(&c);
        assert_eq!(open.version, 4);
        assert_eq!(open.my_as, 64500);
        assert_eq!(open.hold_time, 180);
        assert_eq!(open.bgp_id, LOCAL_ID);
        assert_eq!(
            open.capabilities,
            vec![
                Capability::Multiprotocol(AfiSafi::IPV4_UNICAST),
                Capability::Multiprotocol(AfiSafi::IPV6_UNICAST),
                Capability::RouteRefresh,
                Capability::EnhancedRouteRefresh,
                Capability::ExtendedMessage,
                Capability::Role(Role::RouteServer),
                Capability::FourOctetAs(64500),
                Capability::AddPath(vec![(AfiSafi::IPV4_UNICAST, AddPathMode::Send)]),
            ]
        );
    }

    #[test]
    fn local_open_uses_as_trans_for_four_octet_asn() {
        let mut c = config();
        c.local_asn = 4_200_000_000;
        let open = local_open(&c);
        assert_eq!(open.my_as, AS_TRANS);
        assert_eq!(open.asn(), 4_200_000_000);
    }

    #[test]
    fn valid_open_is_accepted() {
        assert_eq!(validate_open(&config(), &peer_open(modern_caps())), Ok(()));
    }

    #[test]
    fn unsupported_version_sends_version_4() {
        let mut open = peer_open(modern_caps());
        open.version = 3;
        assert_eq!(refusal(&config(), &open), notif(1, &[0, 4]));
        open.version = 5;
        assert_eq!(
            validate_open(&config(), &open),
            Err(OpenError::UnsupportedVersion(5))
        );
    }

    #[test]
    fn version_is_checked_before_the_asn() {
        let mut open = peer_open(vec![]);
        open.version = 3;
        open.my_as = 1;
        assert_eq!(refusal(&config(), &open), notif(1, &[0, 4]));
    }

    #[test]
    fn wrong_two_octet_asn_is_bad_peer_as() {
        let mut open = peer_open(vec![]);
        open.my_as = 65002;
        assert_eq!(refusal(&config(), &open), notif(2, &[]));
    }

    #[test]
    fn four_octet_capability_decides_over_my_as() {
        let mut c = config();
        c.peer_asn = 4_200_000_001;
        let mut open = peer_open(vec![Capability::FourOctetAs(4_200_000_001)]);
        open.my_as = AS_TRANS;
        assert_eq!(validate_open(&c, &open), Ok(()));

        // A 2-octet speaker (no capability) presenting AS_TRANS is not 4200000001.
        let open = Open {
            capabilities: vec![],
            ..open
        };
        assert_eq!(
            validate_open(&c, &open),
            Err(OpenError::BadPeerAs {
                expected: 4_200_000_001,
                received: 23456,
                my_as: 23456
            })
        );
        assert_eq!(refusal(&c, &open), notif(2, &[]));

        // The capability is authoritative even when My AS would match.
        let open = peer_open(vec![Capability::FourOctetAs(65099)]);
        assert_eq!(refusal(&config(), &open), notif(2, &[]));
    }

    #[test]
    fn hold_time_one_and_two_are_unacceptable() {
        for (hold, ok) in [(0, true), (1, false), (2, false), (3, true)] {
            let mut open = peer_open(modern_caps());
            open.hold_time = hold;
            match validate_open(&config(), &open) {
                Ok(()) => assert!(ok, "hold {hold} accepted"),
                Err(e) => {
                    assert!(!ok, "hold {hold} refused");
                    assert_eq!(e.notification(), notif(6, &[]));
                }
            }
        }
    }

    #[test]
    fn bad_bgp_identifiers() {
        for id in [
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::new(224, 0, 0, 5),
            Ipv4Addr::new(239, 255, 255, 255),
            Ipv4Addr::BROADCAST,
        ] {
            let mut open = peer_open(modern_caps());
            open.bgp_id = id;
            assert_eq!(refusal(&config(), &open), notif(3, &[]), "{id}");
        }
    }

    #[test]
    fn same_identifier_is_refused_only_on_internal_sessions() {
        let mut open = peer_open(modern_caps());
        open.bgp_id = LOCAL_ID;
        assert_eq!(
            validate_open(&config(), &open),
            Ok(()),
            "eBGP may share the identifier (RFC 6286)"
        );
        let mut c = config();
        c.local_asn = 65001;
        assert_eq!(refusal(&c, &open), notif(3, &[]));
    }

    #[test]
    fn role_pairs() {
        let cases = [
            (Role::RouteServer, Role::RouteServerClient, true),
            (Role::RouteServer, Role::RouteServer, false),
            (Role::RouteServer, Role::Peer, false),
            (Role::RouteServer, Role::Customer, false),
            (Role::RouteServer, Role::Other(9), false),
            (Role::Provider, Role::Customer, true),
            (Role::Customer, Role::Provider, true),
            (Role::RouteServerClient, Role::RouteServer, true),
            (Role::Peer, Role::Peer, true),
            (Role::Peer, Role::Provider, false),
        ];
        for (local, peer, ok) in cases {
            let mut c = config();
            c.capabilities.role = Some(local);
            let mut caps = modern_caps();
            caps.push(Capability::Role(peer));
            let result = validate_open(&c, &peer_open(caps));
            if ok {
                assert_eq!(result, Ok(()), "{local:?}/{peer:?}");
            } else {
                let e = result.unwrap_err();
                assert_eq!(
                    e,
                    OpenError::RoleMismatch {
                        local: Some(local),
                        peer
                    }
                );
                assert_eq!(e.notification(), notif(11, &[]));
            }
        }
    }

    #[test]
    fn missing_role_is_accepted_and_local_none_accepts_any_role() {
        let mut c = config();
        c.capabilities.role = Some(Role::RouteServer);
        assert_eq!(validate_open(&c, &peer_open(modern_caps())), Ok(()));
        let mut caps = modern_caps();
        caps.push(Capability::Role(Role::Provider));
        assert_eq!(validate_open(&config(), &peer_open(caps)), Ok(()));
    }

    #[test]
    fn conflicting_roles_are_a_mismatch() {
        let mut caps = modern_caps();
        caps.push(Capability::Role(Role::RouteServerClient));
        caps.push(Capability::Role(Role::RouteServerClient));
        assert_eq!(
            validate_open(&config(), &peer_open(caps.clone())),
            Ok(()),
            "repeated equal roles are fine"
        );
        caps.push(Capability::Role(Role::Peer));
        assert_eq!(refusal(&config(), &peer_open(caps)), notif(11, &[]));
    }

    #[test]
    fn hold_time_is_the_minimum_and_keepalive_a_third() {
        for (local, peer, hold, keepalive) in [
            (90, 180, 90, 30),
            (240, 10, 10, 3),
            (90, 0, 0, 0),
            (0, 90, 0, 0),
            (3, 3, 3, 1),
            (100, 200, 100, 33),
        ] {
            let mut c = config();
            c.hold_time = local;
            let mut open = peer_open(modern_caps());
            open.hold_time = peer;
            let n = Negotiated::new(&c, open).unwrap();
            assert_eq!(
                (n.hold_time, n.keepalive_time),
                (hold, keepalive),
                "local {local} peer {peer}"
            );
            assert_eq!(
                n.hold_timer(),
                (hold > 0).then(|| Duration::from_secs(u64::from(hold)))
            );
            assert_eq!(
                n.keepalive_timer(),
                (keepalive > 0).then(|| Duration::from_secs(u64::from(keepalive)))
            );
        }
    }

    #[test]
    fn families_are_the_intersection_in_local_order() {
        let mut c = config();
        c.capabilities.families = vec![AfiSafi::IPV6_UNICAST, AfiSafi::IPV4_UNICAST];
        let n = Negotiated::new(
            &c,
            peer_open(vec![
                Capability::Multiprotocol(L2VPN),
                Capability::Multiprotocol(AfiSafi::IPV4_UNICAST),
                Capability::Multiprotocol(AfiSafi::IPV6_UNICAST),
            ]),
        )
        .unwrap();
        assert_eq!(n.families, vec![AfiSafi::IPV6_UNICAST, AfiSafi::IPV4_UNICAST]);

        let n = Negotiated::new(
            &config(),
            peer_open(vec![Capability::Multiprotocol(AfiSafi::IPV6_UNICAST)]),
        )
        .unwrap();
        assert_eq!(n.families, vec![AfiSafi::IPV6_UNICAST]);
    }

    #[test]
    fn peer_without_multiprotocol_is_ipv4_unicast_only() {
        let n = Negotiated::new(&config(), peer_open(vec![Capability::RouteRefresh])).unwrap();
        assert_eq!(n.families, vec![AfiSafi::IPV4_UNICAST]);
        let mut c = config();
        c.capabilities.families = vec![AfiSafi::IPV6_UNICAST];
        let n = Negotiated::new(&c, peer_open(vec![])).unwrap();
        assert_eq!(n.families, Vec::<AfiSafi>::new());
    }

    #[test]
    fn two_octet_peer_has_no_four_octet_as_in_either_direction() {
        let n = Negotiated::new(&config(), peer_open(vec![])).unwrap();
        assert!(!n.four_octet_as);
        assert!(!n.rx_codec().four_octet_as);
        assert!(!n.tx_codec().four_octet_as);
        assert_eq!(n.peer_asn, 65001);
        let n = Negotiated::new(&config(), peer_open(modern_caps())).unwrap();
        assert!(n.four_octet_as && n.rx_codec().four_octet_as && n.tx_codec().four_octet_as);
    }

    #[test]
    fn add_path_directions() {
        use AddPathMode::{Both, Receive, Send};
        // (ours, theirs, rx, tx)
        let cases = [
            (Both, Both, true, true),
            (Both, Send, true, false),
            (Both, Receive, false, true),
            (Receive, Send, true, false),
            (Receive, Receive, false, false),
            (Send, Receive, false, true),
            (Send, Send, false, false),
            (Send, Both, false, true),
            (Receive, Both, true, false),
        ];
        for (ours, theirs, rx, tx) in cases {
            let mut c = config();
            c.capabilities.add_path = vec![(AfiSafi::IPV4_UNICAST, ours)];
            let mut caps = modern_caps();
            caps.push(Capability::AddPath(vec![(AfiSafi::IPV4_UNICAST, theirs)]));
            let n = Negotiated::new(&c, peer_open(caps)).unwrap();
            let v4 = vec![AfiSafi::IPV4_UNICAST];
            assert_eq!(
                n.add_path_rx,
                if rx { v4.clone() } else { vec![] },
                "{ours:?}/{theirs:?} rx"
            );
            assert_eq!(
                n.add_path_tx,
                if tx { v4.clone() } else { vec![] },
                "{ours:?}/{theirs:?} tx"
            );
            assert_eq!(n.rx_codec().add_path_for(AfiSafi::IPV4_UNICAST), rx);
            assert_eq!(n.tx_codec().add_path_for(AfiSafi::IPV4_UNICAST), tx);
        }
    }

    #[test]
    fn add_path_needs_the_family_on_both_sides() {
        let mut c = config();
        c.capabilities.add_path = vec![
            (AfiSafi::IPV4_UNICAST, AddPathMode::Both),
            (AfiSafi::IPV6_UNICAST, AddPathMode::Both),
        ];
        // Peer offers ADD-PATH for IPv6 but only negotiates IPv4; and nothing for IPv4.
        let n = Negotiated::new(
            &c,
            peer_open(vec![
                Capability::Multiprotocol(AfiSafi::IPV4_UNICAST),
                Capability::AddPath(vec![(AfiSafi::IPV6_UNICAST, AddPathMode::Both)]),
            ]),
        )
        .unwrap();
        assert!(n.add_path_rx.is_empty() && n.add_path_tx.is_empty());
        // Nothing offered locally: nothing negotiated even if the peer offers.
        let mut caps = modern_caps();
        caps.push(Capability::AddPath(vec![(
            AfiSafi::IPV4_UNICAST,
            AddPathMode::Both,
        )]));
        let n = Negotiated::new(&config(), peer_open(caps)).unwrap();
        assert!(n.add_path_rx.is_empty() && n.add_path_tx.is_empty());
    }

    #[test]
    fn extended_message_and_route_refresh_need_both_sides() {
        let mut caps = modern_caps();
        caps.push(Capability::ExtendedMessage);
        caps.push(Capability::EnhancedRouteRefresh);
        let n = Negotiated::new(&config(), peer_open(caps.clone())).unwrap();
        assert!(n.extended_message && n.route_refresh && n.enhanced_route_refresh);
        assert_eq!(n.rx_codec().max_message_len(), 65535);
        assert_eq!(n.tx_codec().max_message_len(), 65535);

        let mut c = config();
        c.capabilities.extended_message = false;
        c.capabilities.enhanced_route_refresh = false;
        let n = Negotiated::new(&c, peer_open(caps)).unwrap();
        assert!(!n.extended_message && n.route_refresh && !n.enhanced_route_refresh);
        assert_eq!(n.rx_codec().max_message_len(), 4096);

        let n = Negotiated::new(&config(), peer_open(vec![])).unwrap();
        assert!(!n.extended_message && !n.route_refresh && !n.enhanced_route_refresh);

        // Enhanced route refresh without plain route refresh is not negotiated.
        let n = Negotiated::new(&config(), peer_open(vec![Capability::EnhancedRouteRefresh])).unwrap();
        assert!(!n.enhanced_route_refresh);

        // Cisco's pre-standard code 128.
        let n = Negotiated::new(
            &config(),
            peer_open(vec![Capability::Unknown {
                code: 128,
                data: vec![],
            }]),
        )
        .unwrap();
        assert!(n.route_refresh);
    }

    fn gr_caps() -> Vec<Capability> {
        let mut caps = modern_caps();
        caps.push(Capability::GracefulRestart {
            restarting: true,
            notification: true,
            restart_time: 120,
            afis: vec![
                GracefulRestartAfi {
                    afi_safi: AfiSafi::IPV4_UNICAST,
                    forwarding_preserved: true,
                },
                GracefulRestartAfi {
                    afi_safi: AfiSafi::IPV6_UNICAST,
                    forwarding_preserved: false,
                },
                GracefulRestartAfi {
                    afi_safi: L2VPN,
                    forwarding_preserved: true,
                },
            ],
        });
        caps.push(Capability::LongLivedGracefulRestart(vec![
            LlgrAfi {
                afi_safi: AfiSafi::IPV6_UNICAST,
                forwarding_preserved: false,
                stale_time: 86400,
            },
            LlgrAfi {
                afi_safi: L2VPN,
                forwarding_preserved: false,
                stale_time: 10,
            },
        ]));
        caps
    }

    #[test]
    fn graceful_restart_and_llgr_of_the_peer() {
        let mut c = config();
        c.capabilities.graceful_restart = Some(GracefulRestartOffer {
            notification: true,
            ..Default::default()
        });
        let n = Negotiated::new(&c, peer_open(gr_caps())).unwrap();
        assert_eq!(
            n.peer_graceful_restart,
            Some(PeerGracefulRestart {
                restart_time: 120,
                restarting: true,
                notification: true,
                families: vec![
                    GracefulRestartAfi {
                        afi_safi: AfiSafi::IPV4_UNICAST,
                        forwarding_preserved: true
                    },
                    GracefulRestartAfi {
                        afi_safi: AfiSafi::IPV6_UNICAST,
                        forwarding_preserved: false
                    },
                ],
            })
        );
        assert!(n.graceful_notification);
        assert_eq!(
            n.peer_llgr,
            vec![LlgrAfi {
                afi_safi: AfiSafi::IPV6_UNICAST,
                forwarding_preserved: false,
                stale_time: 86400
            }]
        );

        // N bit only counts when both sides set it.
        c.capabilities.graceful_restart = Some(GracefulRestartOffer::default());
        let n = Negotiated::new(&c, peer_open(gr_caps())).unwrap();
        assert!(n.peer_graceful_restart.is_some() && !n.graceful_notification);
    }

    #[test]
    fn graceful_restart_needs_both_sides_and_llgr_needs_gr() {
        // kumo not offering GR: the peer's GR and LLGR are not in effect.
        let n = Negotiated::new(&config(), peer_open(gr_caps())).unwrap();
        assert_eq!(n.peer_graceful_restart, None);
        assert!(n.peer_llgr.is_empty());

        // LLGR without GR from the peer is ignored.
        let mut c = config();
        c.capabilities.graceful_restart = Some(GracefulRestartOffer::default());
        let caps: Vec<Capability> = gr_caps()
            .into_iter()
            .filter(|cap| !matches!(cap, Capability::GracefulRestart { .. }))
            .collect();
        let n = Negotiated::new(&c, peer_open(caps)).unwrap();
        assert_eq!(n.peer_graceful_restart, None);
        assert!(n.peer_llgr.is_empty());
    }

    #[test]
    fn peer_identity_role_and_open_are_kept() {
        let mut caps = modern_caps();
        caps.push(Capability::Role(Role::RouteServerClient));
        let open = peer_open(caps);
        let n = Negotiated::new(&config(), open.clone()).unwrap();
        assert_eq!(n.peer_id, PEER_ID);
        assert_eq!(n.peer_asn, 65001);
        assert_eq!(n.peer_role, Some(Role::RouteServerClient));
        assert_eq!(n.peer_open, open);
    }

    #[test]
    fn negotiation_refuses_an_invalid_open() {
        let mut open = peer_open(modern_caps());
        open.hold_time = 2;
        assert_eq!(
            Negotiated::new(&config(), open),
            Err(OpenError::UnacceptableHoldTime(2))
        );
    }
}
