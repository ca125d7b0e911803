//! Helpers shared by the integration tests.
#![allow(dead_code, clippy::unwrap_used)]

use kumo_wire::{AfiSafi, CodecContext};

/// Hex to bytes; whitespace and `|` separators are ignored so vectors can be
/// laid out field by field.
pub fn h(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(|b| b.is_ascii_hexdigit()).collect();
    assert!(digits.len().is_multiple_of(2), "odd hex length");
    digits
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
        .collect()
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A full message: marker, length, type, body.
pub fn msg(msg_type: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![0xff; 16];
    m.extend_from_slice(&((19 + body.len()) as u16).to_be_bytes());
    m.push(msg_type);
    m.extend_from_slice(body);
    m
}

/// An UPDATE from its three parts.
pub fn update(withdrawn: &[u8], attrs: &[u8], nlri: &[u8]) -> Vec<u8> {
    let mut body = (withdrawn.len() as u16).to_be_bytes().to_vec();
    body.extend_from_slice(withdrawn);
    body.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    body.extend_from_slice(attrs);
    body.extend_from_slice(nlri);
    msg(2, &body)
}

pub fn ctx4() -> CodecContext {
    CodecContext {
        four_octet_as: true,
        ..CodecContext::default()
    }
}

pub fn ctx2() -> CodecContext {
    CodecContext::default()
}

pub fn ctx_add_path() -> CodecContext {
    CodecContext {
        four_octet_as: true,
        add_path: vec![AfiSafi::IPV4_UNICAST, AfiSafi::IPV6_UNICAST],
        extended_message: false,
    }
}
