//! Message framing: find one complete message at the front of a receive buffer.

use crate::Notification;

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
pub fn frame(buf: &[u8], max_len: usize) -> Result<Option<Frame<'_>>, Notification> {
    let _ = (buf, max_len);
    todo!("implemented by the codec work")
}
