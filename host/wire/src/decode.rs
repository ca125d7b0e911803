//! Message decoders. UPDATE errors follow RFC 7606: each malformed attribute
//! is handled by attribute discard, treat-as-withdraw or session reset, chosen
//! per attribute type.

use crate::{CodecContext, Message, Notification};

/// How an attribute error was handled (RFC 7606 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrErrorAction {
    /// The attribute was dropped; the UPDATE is otherwise processed.
    AttributeDiscard,
    /// Every prefix of the UPDATE is to be handled as withdrawn.
    TreatAsWithdraw,
}

/// One attribute-level problem found while decoding an UPDATE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrError {
    pub type_code: u8,
    pub action: AttrErrorAction,
    pub reason: String,
}

/// A decoded message, with the RFC 7606 outcome for UPDATEs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    pub message: Message,
    /// Attribute errors that did not reset the session (empty for non-UPDATEs).
    pub errors: Vec<AttrError>,
}

impl Decoded {
    /// True when RFC 7606 says every prefix of this UPDATE (NLRI and MP_REACH) is
    /// to be treated as withdrawn.
    pub fn treat_as_withdraw(&self) -> bool {
        self.errors.iter().any(|e| e.action == AttrErrorAction::TreatAsWithdraw)
    }
}

/// Decode one whole message (header included, as returned by [`crate::frame`]).
///
/// `Err` carries the NOTIFICATION to send before closing the session.
pub fn decode_message(message: &[u8], ctx: &CodecContext) -> Result<Decoded, Notification> {
    let _ = (message, ctx);
    todo!("implemented by the codec work")
}
