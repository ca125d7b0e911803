//! Connection collision resolution (RFC 4271 §6.8, RFC 6286 §2.3), as pure
//! decisions for the driver.
//!
//! The driver runs one [`Fsm`](crate::Fsm) per TCP connection. For a peer:
//!
//! 1. When a connection arrives (or our connect succeeds) while the peer's
//!    FSM is in some state, [`incoming_connection`] says what to do with the
//!    new connection:
//!    - `Refuse`: close it silently (Idle: not started or in the idle hold;
//!      feeding `TcpConnectionConfirmed` to the FSM gives the same answer).
//!    - `Accept`: feed `TcpConnectionConfirmed` to the existing FSM (Connect or
//!      Active); abort our own connect attempt if one is in progress.
//!    - `Contend`: the existing FSM has a connection in OpenSent/OpenConfirm.
//!      Run the new connection with [`Fsm::with_connection`](crate::Fsm::with_connection)
//!      until an OPEN arrives on one of the two connections.
//!    - `Reject(n)`: the session is Established: send `n` (Cease / Connection
//!      Collision Resolution) on the new connection and close it.
//! 2. When an OPEN arrives on one of two contending connections, the peer's
//!    BGP Identifier (and ASN) is known; [`surviving_connection`] says which
//!    connection to keep: the one initiated by the speaker with the higher BGP
//!    Identifier (the same answer on both sides, so they agree). Feed the OPEN
//!    to the survivor if it is the one it arrived on, and
//!    [`Event::OpenCollisionDump`](crate::Event::OpenCollisionDump) to the
//!    loser, then drop the loser's FSM.

use std::net::Ipv4Addr;

use kumo_wire::Notification;
use kumo_wire::notification::{cease, code};

use crate::fsm::State;

/// Which side opened a TCP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Initiator {
    /// kumo connected to the peer (outgoing).
    Local,
    /// The peer connected to kumo (incoming).
    Remote,
}

/// What to do with a new connection for a peer that already has an FSM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IncomingConnection {
    /// Close it without a message.
    Refuse,
    /// Hand it to the existing FSM.
    Accept,
    /// Keep both until an OPEN tells which one survives.
    Contend,
    /// Send this NOTIFICATION on the new connection and close it.
    Reject(Notification),
}

/// Decides about a new connection given the state of the peer's existing FSM.
pub fn incoming_connection(existing: State) -> IncomingConnection {
    match existing {
        State::Idle => IncomingConnection::Refuse,
        State::Connect | State::Active => IncomingConnection::Accept,
        State::OpenSent | State::OpenConfirm => IncomingConnection::Contend,
        // RFC 4271 §6.8: a collision with an Established session closes the new connection.
        State::Established => IncomingConnection::Reject(collision_notification()),
    }
}

/// One end of the session, as identified in its OPEN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Speaker {
    pub bgp_id: Ipv4Addr,
    pub asn: u32,
}

/// Which of two colliding connections survives: the one initiated by the
/// speaker with the higher BGP Identifier (compared as unsigned 32-bit
/// integers, RFC 4271 §6.8); with equal identifiers, the one initiated by the
/// speaker with the larger ASN (RFC 6286 §2.3). Identical identifier and ASN
/// are refused earlier by OPEN validation (Bad BGP Identifier); they yield
/// `Local` here.
pub fn surviving_connection(local: Speaker, remote: Speaker) -> Initiator {
    let local_key = (u32::from(local.bgp_id), local.asn);
    let remote_key = (u32::from(remote.bgp_id), remote.asn);
    if local_key >= remote_key {
        Initiator::Local
    } else {
        Initiator::Remote
    }
}

/// Cease / Connection Collision Resolution, sent on the connection that is closed.
pub fn collision_notification() -> Notification {
    Notification::new(code::CEASE, cease::CONNECTION_COLLISION_RESOLUTION, Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn speaker(id: [u8; 4], asn: u32) -> Speaker {
        Speaker {
            bgp_id: Ipv4Addr::from(id),
            asn,
        }
    }

    #[test]
    fn higher_identifier_keeps_its_own_connection() {
        let kumo = speaker([192, 0, 2, 10], 64500);
        let low = speaker([192, 0, 2, 9], 65001);
        let high = speaker([192, 0, 2, 11], 65001);
        assert_eq!(surviving_connection(kumo, low), Initiator::Local);
        assert_eq!(surviving_connection(kumo, high), Initiator::Remote);
    }

    #[test]
    fn identifiers_compare_as_unsigned_integers_not_octet_strings_of_text() {
        // "10.0.0.2" < "9.0.0.1" as text, but 10.0.0.2 > 9.0.0.1 as a number;
        // 200.x must beat 100.x (no signed comparison).
        let kumo = speaker([10, 0, 0, 2], 64500);
        assert_eq!(
            surviving_connection(kumo, speaker([9, 0, 0, 1], 65001)),
            Initiator::Local
        );
        assert_eq!(
            surviving_connection(kumo, speaker([200, 0, 0, 1], 65001)),
            Initiator::Remote
        );
        assert_eq!(
            surviving_connection(speaker([200, 0, 0, 1], 1), speaker([100, 0, 0, 1], 2)),
            Initiator::Local
        );
    }

    #[test]
    fn both_sides_agree() {
        let a = speaker([192, 0, 2, 1], 64500);
        let b = speaker([192, 0, 2, 2], 65001);
        // Each side names the survivor by its initiator; a's Local is b's Remote.
        let from_a = surviving_connection(a, b);
        let from_b = surviving_connection(b, a);
        assert_ne!(from_a, from_b);
        assert_eq!(from_a, Initiator::Remote);
    }

    #[test]
    fn equal_identifiers_fall_back_to_the_larger_asn() {
        let id = [192, 0, 2, 1];
        assert_eq!(
            surviving_connection(speaker(id, 64500), speaker(id, 65001)),
            Initiator::Remote
        );
        assert_eq!(
            surviving_connection(speaker(id, 65001), speaker(id, 64500)),
            Initiator::Local
        );
    }

    #[test]
    fn new_connection_by_existing_state() {
        assert_eq!(incoming_connection(State::Idle), IncomingConnection::Refuse);
        assert_eq!(incoming_connection(State::Connect), IncomingConnection::Accept);
        assert_eq!(incoming_connection(State::Active), IncomingConnection::Accept);
        assert_eq!(incoming_connection(State::OpenSent), IncomingConnection::Contend);
        assert_eq!(
            incoming_connection(State::OpenConfirm),
            IncomingConnection::Contend
        );
        assert_eq!(
            incoming_connection(State::Established),
            IncomingConnection::Reject(Notification::new(6, 7, vec![]))
        );
    }
}
