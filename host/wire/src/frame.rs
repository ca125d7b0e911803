//! Message framing: find one complete message at the front of a receive buffer.

use crate::notification::{code, header};
use crate::{HEADER_LEN, MARKER, Notification, msg_type};

/// One complete message found at the start of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    pub msg_type: u8,
    /// The whole message, header included.
    pub message: &'a [u8],
}

/// Look for a complete message at the start of `buf`.
///
/// Returns `Ok(None)` when more bytes are needed, `Ok(Some(frame))` when a
/// whole message is there (`frame.message.len()` bytes are to be consumed), and
/// `Err(notification)` for a bad marker (Message Header Error / Connection Not
/// Synchronized), a bad length or an unknown type (RFC 4271 §6.1).
///
/// The header is checked as soon as its 19 octets are there, so a bad length or
/// type is reported without waiting for a body that may never come.
pub fn frame(buf: &[u8], max_len: usize) -> Result<Option<Frame<'_>>, Notification> {
    let Some(head) = buf.get(..HEADER_LEN) else {
        // Report a broken marker early too: a peer speaking something else
        // should not leave us waiting for 19 octets.
        if buf.iter().take(MARKER.len()).any(|&b| b != 0xff) {
            return Err(not_synchronized());
        }
        return Ok(None);
    };
    let len = check_header(head, max_len)?;
    Ok(buf.get(..len).map(|message| Frame {
        msg_type: head[18],
        message,
    }))
}

/// Check the 19-octet header; return the message length.
pub(crate) fn check_header(head: &[u8], max_len: usize) -> Result<usize, Notification> {
    let (marker, rest) = head.split_at_checked(16).ok_or_else(not_synchronized)?;
    if marker != MARKER {
        return Err(not_synchronized());
    }
    let &[len_hi, len_lo, msg_type, ..] = rest else {
        return Err(not_synchronized());
    };
    let len = usize::from(u16::from_be_bytes([len_hi, len_lo]));
    let bad_length = || {
        Notification::new(
            code::MESSAGE_HEADER_ERROR,
            header::BAD_MESSAGE_LENGTH,
            vec![len_hi, len_lo],
        )
    };
    if len < HEADER_LEN || len > max_len {
        return Err(bad_length());
    }
    let length_ok = match msg_type {
        msg_type::OPEN => len >= 29,
        msg_type::UPDATE => len >= 23,
        msg_type::NOTIFICATION => len >= 21,
        msg_type::KEEPALIVE => len == HEADER_LEN,
        msg_type::ROUTE_REFRESH => len == 23,
        other => {
            return Err(Notification::new(
                code::MESSAGE_HEADER_ERROR,
                header::BAD_MESSAGE_TYPE,
                vec![other],
            ));
        }
    };
    if !length_ok {
        return Err(bad_length());
    }
    Ok(len)
}

fn not_synchronized() -> Notification {
    Notification::new(
        code::MESSAGE_HEADER_ERROR,
        header::CONNECTION_NOT_SYNCHRONIZED,
        Vec::new(),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn message(len: u16, msg_type: u8) -> Vec<u8> {
        let mut m = MARKER.to_vec();
        m.extend_from_slice(&len.to_be_bytes());
        m.push(msg_type);
        m.resize(usize::from(len).max(HEADER_LEN), 0);
        m
    }

    #[test]
    fn keepalive_is_framed_and_rest_left() {
        let mut buf = message(19, 4);
        buf.extend_from_slice(&[0xff; 5]);
        let f = frame(&buf, 4096).unwrap().unwrap();
        assert_eq!(f.msg_type, 4);
        assert_eq!(f.message.len(), 19);
    }

    #[test]
    fn partial_header_and_partial_body_need_more() {
        let buf = message(30, 2);
        assert_eq!(frame(&buf[..10], 4096), Ok(None));
        assert_eq!(frame(&buf[..25], 4096), Ok(None));
        assert!(frame(&buf, 4096).unwrap().is_some());
    }

    #[test]
    fn bad_marker_is_connection_not_synchronized() {
        let mut buf = message(19, 4);
        buf[3] = 0;
        let n = frame(&buf, 4096).unwrap_err();
        assert_eq!((n.code, n.subcode), (1, 1));
        // Even before the header is complete.
        assert_eq!(frame(&buf[..5], 4096).unwrap_err().subcode, 1);
    }

    #[test]
    fn lengths_and_types_are_checked() {
        for (len, t, subcode) in [
            (18u16, 4u8, 2u8),
            (4097, 2, 2),
            (20, 4, 2),
            (28, 1, 2),
            (22, 2, 2),
            (20, 3, 2),
            (24, 5, 2),
            (19, 6, 3),
            (19, 0, 3),
        ] {
            let n = frame(&message(len, t), 4096).unwrap_err();
            assert_eq!((n.code, n.subcode), (1, subcode), "len {len} type {t}");
            if subcode == 2 {
                assert_eq!(n.data, len.to_be_bytes().to_vec());
            } else {
                assert_eq!(n.data, vec![t]);
            }
        }
        assert!(frame(&message(4097, 2), 65535).unwrap().is_some());
    }
}
