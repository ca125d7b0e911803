//! NOTIFICATION error codes and subcodes (RFC 4271 §4.5, RFC 4486, RFC 8203/9003)
//! and constructors for the NOTIFICATIONs kumo sends.

use crate::Notification;

pub mod code {
    pub const MESSAGE_HEADER_ERROR: u8 = 1;
    pub const OPEN_MESSAGE_ERROR: u8 = 2;
    pub const UPDATE_MESSAGE_ERROR: u8 = 3;
    pub const HOLD_TIMER_EXPIRED: u8 = 4;
    pub const FSM_ERROR: u8 = 5;
    pub const CEASE: u8 = 6;
    pub const ROUTE_REFRESH_MESSAGE_ERROR: u8 = 7;
}

/// Message Header Error subcodes.
pub mod header {
    pub const CONNECTION_NOT_SYNCHRONIZED: u8 = 1;
    pub const BAD_MESSAGE_LENGTH: u8 = 2;
    pub const BAD_MESSAGE_TYPE: u8 = 3;
}

/// OPEN Message Error subcodes.
pub mod open {
    pub const UNSUPPORTED_VERSION_NUMBER: u8 = 1;
    pub const BAD_PEER_AS: u8 = 2;
    pub const BAD_BGP_IDENTIFIER: u8 = 3;
    pub const UNSUPPORTED_OPTIONAL_PARAMETER: u8 = 4;
    pub const UNACCEPTABLE_HOLD_TIME: u8 = 6;
    pub const UNSUPPORTED_CAPABILITY: u8 = 7;
    pub const ROLE_MISMATCH: u8 = 11;
}

/// UPDATE Message Error subcodes.
pub mod update {
    pub const MALFORMED_ATTRIBUTE_LIST: u8 = 1;
    pub const UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE: u8 = 2;
    pub const MISSING_WELL_KNOWN_ATTRIBUTE: u8 = 3;
    pub const ATTRIBUTE_FLAGS_ERROR: u8 = 4;
    pub const ATTRIBUTE_LENGTH_ERROR: u8 = 5;
    pub const INVALID_ORIGIN_ATTRIBUTE: u8 = 6;
    pub const INVALID_NEXT_HOP_ATTRIBUTE: u8 = 8;
    pub const OPTIONAL_ATTRIBUTE_ERROR: u8 = 9;
    pub const INVALID_NETWORK_FIELD: u8 = 10;
    pub const MALFORMED_AS_PATH: u8 = 11;
}

/// FSM Error subcodes (RFC 6608).
pub mod fsm {
    pub const UNSPECIFIED: u8 = 0;
    pub const UNEXPECTED_IN_OPENSENT: u8 = 1;
    pub const UNEXPECTED_IN_OPENCONFIRM: u8 = 2;
    pub const UNEXPECTED_IN_ESTABLISHED: u8 = 3;
}

/// Cease subcodes (RFC 4486, RFC 8538).
pub mod cease {
    pub const MAXIMUM_NUMBER_OF_PREFIXES_REACHED: u8 = 1;
    pub const ADMINISTRATIVE_SHUTDOWN: u8 = 2;
    pub const PEER_DE_CONFIGURED: u8 = 3;
    pub const ADMINISTRATIVE_RESET: u8 = 4;
    pub const CONNECTION_REJECTED: u8 = 5;
    pub const OTHER_CONFIGURATION_CHANGE: u8 = 6;
    pub const CONNECTION_COLLISION_RESOLUTION: u8 = 7;
    pub const OUT_OF_RESOURCES: u8 = 8;
    pub const HARD_RESET: u8 = 9;
}

impl Notification {
    pub fn new(code: u8, subcode: u8, data: Vec<u8>) -> Self {
        Notification { code, subcode, data }
    }

    /// Cease / Administrative Shutdown with an RFC 9003 shutdown communication
    /// (UTF-8, at most 255 octets; longer messages are cut at a character boundary).
    pub fn admin_shutdown(message: &str) -> Self {
        Self::cease_with_message(cease::ADMINISTRATIVE_SHUTDOWN, message)
    }

    /// Cease / Administrative Reset with an RFC 9003 shutdown communication.
    pub fn admin_reset(message: &str) -> Self {
        Self::cease_with_message(cease::ADMINISTRATIVE_RESET, message)
    }

    fn cease_with_message(subcode: u8, message: &str) -> Self {
        let mut end = message.len().min(255);
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        let mut data = Vec::with_capacity(end + 1);
        data.push(end as u8);
        data.extend_from_slice(&message.as_bytes()[..end]);
        Notification::new(code::CEASE, subcode, data)
    }

    /// Cease / Maximum Number of Prefixes Reached (RFC 4486: AFI, SAFI, limit).
    pub fn max_prefix(afi: u16, safi: u8, limit: u32) -> Self {
        let mut data = Vec::with_capacity(7);
        data.extend_from_slice(&afi.to_be_bytes());
        data.push(safi);
        data.extend_from_slice(&limit.to_be_bytes());
        Notification::new(code::CEASE, cease::MAXIMUM_NUMBER_OF_PREFIXES_REACHED, data)
    }

    pub fn hold_timer_expired() -> Self {
        Notification::new(code::HOLD_TIMER_EXPIRED, 0, Vec::new())
    }

    /// The RFC 8203/9003 shutdown communication, if this is a Cease with one.
    pub fn shutdown_message(&self) -> Option<String> {
        if self.code != code::CEASE
            || !matches!(
                self.subcode,
                cease::ADMINISTRATIVE_SHUTDOWN | cease::ADMINISTRATIVE_RESET
            )
        {
            return None;
        }
        let (&len, rest) = self.data.split_first()?;
        let text = rest.get(..usize::from(len))?;
        std::str::from_utf8(text).ok().map(str::to_owned)
    }

    /// Human-readable name of the code and subcode, for logs and the API.
    pub fn describe(&self) -> String {
        let name = match (self.code, self.subcode) {
            (code::MESSAGE_HEADER_ERROR, header::CONNECTION_NOT_SYNCHRONIZED) => {
                "Message Header Error / Connection Not Synchronized"
            }
            (code::MESSAGE_HEADER_ERROR, header::BAD_MESSAGE_LENGTH) => {
                "Message Header Error / Bad Message Length"
            }
            (code::MESSAGE_HEADER_ERROR, header::BAD_MESSAGE_TYPE) => {
                "Message Header Error / Bad Message Type"
            }
            (code::MESSAGE_HEADER_ERROR, _) => "Message Header Error",
            (code::OPEN_MESSAGE_ERROR, open::UNSUPPORTED_VERSION_NUMBER) => {
                "OPEN Message Error / Unsupported Version Number"
            }
            (code::OPEN_MESSAGE_ERROR, open::BAD_PEER_AS) => "OPEN Message Error / Bad Peer AS",
            (code::OPEN_MESSAGE_ERROR, open::BAD_BGP_IDENTIFIER) => "OPEN Message Error / Bad BGP Identifier",
            (code::OPEN_MESSAGE_ERROR, open::UNSUPPORTED_OPTIONAL_PARAMETER) => {
                "OPEN Message Error / Unsupported Optional Parameter"
            }
            (code::OPEN_MESSAGE_ERROR, open::UNACCEPTABLE_HOLD_TIME) => {
                "OPEN Message Error / Unacceptable Hold Time"
            }
            (code::OPEN_MESSAGE_ERROR, open::UNSUPPORTED_CAPABILITY) => {
                "OPEN Message Error / Unsupported Capability"
            }
            (code::OPEN_MESSAGE_ERROR, open::ROLE_MISMATCH) => "OPEN Message Error / Role Mismatch",
            (code::OPEN_MESSAGE_ERROR, _) => "OPEN Message Error",
            (code::UPDATE_MESSAGE_ERROR, update::MALFORMED_ATTRIBUTE_LIST) => {
                "UPDATE Message Error / Malformed Attribute List"
            }
            (code::UPDATE_MESSAGE_ERROR, update::UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE) => {
                "UPDATE Message Error / Unrecognized Well-known Attribute"
            }
            (code::UPDATE_MESSAGE_ERROR, update::MISSING_WELL_KNOWN_ATTRIBUTE) => {
                "UPDATE Message Error / Missing Well-known Attribute"
            }
            (code::UPDATE_MESSAGE_ERROR, update::ATTRIBUTE_FLAGS_ERROR) => {
                "UPDATE Message Error / Attribute Flags Error"
            }
            (code::UPDATE_MESSAGE_ERROR, update::ATTRIBUTE_LENGTH_ERROR) => {
                "UPDATE Message Error / Attribute Length Error"
            }
            (code::UPDATE_MESSAGE_ERROR, update::INVALID_NETWORK_FIELD) => {
                "UPDATE Message Error / Invalid Network Field"
            }
            (code::UPDATE_MESSAGE_ERROR, update::MALFORMED_AS_PATH) => {
                "UPDATE Message Error / Malformed AS_PATH"
            }
            (code::UPDATE_MESSAGE_ERROR, update::OPTIONAL_ATTRIBUTE_ERROR) => {
                "UPDATE Message Error / Optional Attribute Error"
            }
            (code::UPDATE_MESSAGE_ERROR, _) => "UPDATE Message Error",
            (code::HOLD_TIMER_EXPIRED, _) => "Hold Timer Expired",
            (code::FSM_ERROR, _) => "Finite State Machine Error",
            (code::CEASE, cease::MAXIMUM_NUMBER_OF_PREFIXES_REACHED) => {
                "Cease / Maximum Number of Prefixes Reached"
            }
            (code::CEASE, cease::ADMINISTRATIVE_SHUTDOWN) => "Cease / Administrative Shutdown",
            (code::CEASE, cease::PEER_DE_CONFIGURED) => "Cease / Peer De-configured",
            (code::CEASE, cease::ADMINISTRATIVE_RESET) => "Cease / Administrative Reset",
            (code::CEASE, cease::CONNECTION_REJECTED) => "Cease / Connection Rejected",
            (code::CEASE, cease::OTHER_CONFIGURATION_CHANGE) => "Cease / Other Configuration Change",
            (code::CEASE, cease::CONNECTION_COLLISION_RESOLUTION) => {
                "Cease / Connection Collision Resolution"
            }
            (code::CEASE, cease::OUT_OF_RESOURCES) => "Cease / Out of Resources",
            (code::CEASE, cease::HARD_RESET) => "Cease / Hard Reset",
            (code::CEASE, _) => "Cease",
            (code::ROUTE_REFRESH_MESSAGE_ERROR, _) => "ROUTE-REFRESH Message Error",
            _ => "Unknown error code",
        };
        match self.shutdown_message() {
            Some(msg) => format!("{name} ({}/{}): \"{msg}\"", self.code, self.subcode),
            None => format!("{name} ({}/{})", self.code, self.subcode),
        }
    }
}
