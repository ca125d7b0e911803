//! Route-server reject reason codes.
//!
//! The numbering is the one IX route servers built with arouteserver use (and
//! Alice-LG displays), so operators and looking glasses see familiar codes.
//! kumo attaches the code to filtered routes as the large community
//! `rs-asn:1101:code`. Policies may use their own codes above 1000.
//!
//! ```
//! assert_eq!(kumo_sdk::reject::RPKI_INVALID, 14);
//! assert_eq!(kumo_sdk::reject::describe(kumo_sdk::reject::BOGON_PREFIX), Some("prefix is bogon"));
//! ```

/// Invalid AS_PATH length.
pub const AS_PATH_LENGTH: u16 = 1;
/// Prefix is bogon.
pub const BOGON_PREFIX: u16 = 2;
/// Prefix is in the global blocklist.
pub const GLOBAL_BLOCKLIST: u16 = 3;
/// Invalid AFI.
pub const INVALID_AFI: u16 = 4;
/// Invalid NEXT_HOP.
pub const INVALID_NEXT_HOP: u16 = 5;
/// Invalid left-most ASN.
pub const INVALID_FIRST_AS: u16 = 6;
/// Invalid (bogon, private, reserved) ASN in AS_PATH.
pub const INVALID_ASN_IN_PATH: u16 = 7;
/// Transit-free ASN in AS_PATH.
pub const TRANSIT_FREE_ASN: u16 = 8;
/// Origin ASN not in the client's IRR AS-SET.
pub const IRR_ORIGIN: u16 = 9;
/// IPv6 prefix not in global unicast space.
pub const IPV6_NOT_GLOBAL: u16 = 10;
/// Prefix is in the client's blocklist.
pub const CLIENT_BLOCKLIST: u16 = 11;
/// Prefix not in the client's IRR route objects.
pub const IRR_PREFIX: u16 = 12;
/// Invalid prefix length.
pub const PREFIX_LENGTH: u16 = 13;
/// RPKI INVALID.
pub const RPKI_INVALID: u16 = 14;
/// A never-via-route-servers ASN in AS_PATH.
pub const NEVER_VIA_RS: u16 = 15;
/// The policy failed (trap, deadline, memory cap, malformed answer): kumo
/// rejects the call's routes with this code (fail closed).
pub const POLICY_ERROR: u16 = 65534;

/// The standard text for a code, if it is one of the above.
///
/// ```
/// assert_eq!(kumo_sdk::reject::describe(65534), Some("policy error"));
/// assert_eq!(kumo_sdk::reject::describe(999), None);
/// ```
pub fn describe(code: u16) -> Option<&'static str> {
    Some(match code {
        AS_PATH_LENGTH => "invalid AS_PATH length",
        BOGON_PREFIX => "prefix is bogon",
        GLOBAL_BLOCKLIST => "prefix is in global blocklist",
        INVALID_AFI => "invalid AFI",
        INVALID_NEXT_HOP => "invalid NEXT_HOP",
        INVALID_FIRST_AS => "invalid left-most ASN",
        INVALID_ASN_IN_PATH => "invalid ASN in AS_PATH",
        TRANSIT_FREE_ASN => "transit-free ASN in AS_PATH",
        IRR_ORIGIN => "origin ASN not in IRR AS-SET",
        IPV6_NOT_GLOBAL => "IPv6 prefix not in global unicast space",
        CLIENT_BLOCKLIST => "prefix is in client blocklist",
        IRR_PREFIX => "prefix not in IRR route objects",
        PREFIX_LENGTH => "invalid prefix length",
        RPKI_INVALID => "RPKI INVALID",
        NEVER_VIA_RS => "never-via-route-servers ASN in AS_PATH",
        POLICY_ERROR => "policy error",
        _ => return None,
    })
}
