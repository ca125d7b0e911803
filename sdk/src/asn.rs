//! ASN classification (IANA special-purpose AS numbers registry, RFC 6996,
//! RFC 7300, RFC 5398, RFC 6793).
//!
//! ```
//! use kumo_sdk::asn;
//! assert!(asn::is_private(64512));
//! assert!(asn::is_reserved(23456));
//! assert!(!asn::is_bogon(3356));
//! ```

/// Private use: 64512–65534 (RFC 6996) and 4200000000–4294967294.
///
/// ```
/// assert!(kumo_sdk::asn::is_private(4_200_000_000));
/// assert!(!kumo_sdk::asn::is_private(65535));
/// ```
pub const fn is_private(asn: u32) -> bool {
    matches!(asn, 64512..=65534 | 4_200_000_000..=4_294_967_294)
}

/// Reserved or documentation: 0 (RFC 7607), AS_TRANS 23456 (RFC 6793),
/// 64496–64511 and 65536–65551 (documentation, RFC 5398), 65535 and
/// 4294967295 (RFC 7300), 65552–131071 (IANA reserved).
///
/// ```
/// assert!(kumo_sdk::asn::is_reserved(0));
/// assert!(kumo_sdk::asn::is_reserved(65551));
/// assert!(!kumo_sdk::asn::is_reserved(131072));
/// ```
pub const fn is_reserved(asn: u32) -> bool {
    matches!(asn, 0 | 23456 | 64496..=64511 | 65535 | 65536..=131071 | 4_294_967_295)
}

/// Private or reserved: never valid in a route on the Internet.
///
/// ```
/// assert!(kumo_sdk::asn::is_bogon(65000));
/// assert!(!kumo_sdk::asn::is_bogon(13335));
/// ```
pub const fn is_bogon(asn: u32) -> bool {
    is_private(asn) || is_reserved(asn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries() {
        assert!(!is_bogon(1));
        assert!(!is_bogon(64495));
        assert!(is_bogon(64496));
        assert!(!is_private(64511) && is_private(64512));
        assert!(is_private(65534) && !is_private(65535));
        assert!(!is_bogon(131072) && !is_bogon(4_199_999_999));
        assert!(is_bogon(u32::MAX));
    }
}
