//! Helpers shared by the fuzz targets.

use kumo_wire::{AfiSafi, CodecContext, HEADER_LEN, MARKER, MAX_EXTENDED_MESSAGE_LEN};

/// A message of `msg_type` around `body` (None when it would be too long).
pub fn message(msg_type: u8, body: &[u8]) -> Option<Vec<u8>> {
    let len = u16::try_from(HEADER_LEN + body.len()).ok()?;
    let mut m = Vec::with_capacity(usize::from(len));
    m.extend_from_slice(&MARKER);
    m.extend_from_slice(&len.to_be_bytes());
    m.push(msg_type);
    m.extend_from_slice(body);
    Some(m)
}

/// A session context chosen by the low bits of `selector`: bit 0 4-octet AS,
/// bit 1 ADD-PATH for IPv4 and IPv6 unicast, bit 2 extended messages.
pub fn ctx(selector: u8) -> CodecContext {
    CodecContext {
        four_octet_as: selector & 1 != 0,
        add_path: if selector & 2 != 0 {
            vec![AfiSafi::IPV4_UNICAST, AfiSafi::IPV6_UNICAST]
        } else {
            vec![]
        },
        extended_message: selector & 4 != 0,
    }
}

/// Fix the length field of a whole message so mutations reach the body decoders.
pub fn fix_length(message: &mut [u8]) {
    if message.len() >= HEADER_LEN && message.len() <= MAX_EXTENDED_MESSAGE_LEN {
        let len = message.len() as u16;
        message[16..18].copy_from_slice(&len.to_be_bytes());
    }
}
