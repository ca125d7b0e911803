//! kumo-wire: the BGP-4 message codec. Pure functions over byte slices, no
//! sockets, no async, so every decoder can be fuzzed and tested byte for byte.
//!
//! Module map:
//! - [`types`]: decoded messages, attributes, capabilities (the contract with the rest of kumo).
//! - [`frame`](mod@frame): message framing (marker, length, type) over a byte buffer.
//! - [`decode`]: message decoders, with RFC 7606 revised error handling for UPDATE.
//! - [`encode`]: message encoders, and UPDATE packing for the route-server output.
//! - `nlri` (private): the prefix parsing/writing loops shared by both directions.
//! - [`notification`]: NOTIFICATION codes, subcodes and constructors (RFC 4271 §4.5, RFC 8203/9003).
//! - `testing` (tests and the `test-support` feature only): proptest
//!   strategies for attribute sets, shared with kumo-policy's and kumo-rib's tests.
//!
//! Tests: unit tests sit next to the code; `tests/vectors.rs` (byte-exact
//! vectors, several captured from BIRD), `tests/malformed.rs` (RFC 7606 outcome
//! table), `tests/roundtrip.rs` (proptest), `tests/packer.rs`; fuzz targets in
//! the repository's `fuzz/` directory.
//!
//! Transparency (RFC 7947): attributes kumo does not interpret are kept as raw
//! bytes in [`RawAttribute`] and re-encoded unchanged, with the Partial bit set
//! on optional transitive ones.

pub mod decode;
pub mod encode;
pub mod frame;
mod nlri;
pub mod notification;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;
pub mod types;

pub use decode::{AttrError, AttrErrorAction, Decoded, decode_message};
pub use encode::{EncodeError, UpdatePacker, encode_end_of_rib, encode_message};
pub use frame::{Frame, frame};
pub use types::*;

/// Length of the BGP message header: marker (16) + length (2) + type (1).
pub const HEADER_LEN: usize = 19;
/// Smallest valid message (a KEEPALIVE).
pub const MIN_MESSAGE_LEN: usize = HEADER_LEN;
/// Largest message without the extended message capability.
pub const MAX_MESSAGE_LEN: usize = 4096;
/// Largest message with the extended message capability (RFC 8654).
pub const MAX_EXTENDED_MESSAGE_LEN: usize = 65535;
/// The all-ones marker.
pub const MARKER: [u8; 16] = [0xff; 16];
/// AS_TRANS (RFC 6793).
pub const AS_TRANS: u16 = 23456;

/// Message type codes.
pub mod msg_type {
    pub const OPEN: u8 = 1;
    pub const UPDATE: u8 = 2;
    pub const NOTIFICATION: u8 = 3;
    pub const KEEPALIVE: u8 = 4;
    pub const ROUTE_REFRESH: u8 = 5;
}

/// Path attribute type codes.
pub mod attr_type {
    pub const ORIGIN: u8 = 1;
    pub const AS_PATH: u8 = 2;
    pub const NEXT_HOP: u8 = 3;
    pub const MULTI_EXIT_DISC: u8 = 4;
    pub const LOCAL_PREF: u8 = 5;
    pub const ATOMIC_AGGREGATE: u8 = 6;
    pub const AGGREGATOR: u8 = 7;
    pub const COMMUNITIES: u8 = 8;
    pub const MP_REACH_NLRI: u8 = 14;
    pub const MP_UNREACH_NLRI: u8 = 15;
    pub const EXTENDED_COMMUNITIES: u8 = 16;
    pub const AS4_PATH: u8 = 17;
    pub const AS4_AGGREGATOR: u8 = 18;
    pub const LARGE_COMMUNITIES: u8 = 32;
    pub const OTC: u8 = 35;
}

/// Attribute flag bits.
pub mod attr_flags {
    pub const OPTIONAL: u8 = 0x80;
    pub const TRANSITIVE: u8 = 0x40;
    pub const PARTIAL: u8 = 0x20;
    pub const EXTENDED_LENGTH: u8 = 0x10;
}
