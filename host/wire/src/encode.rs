//! Message encoders, and [`UpdatePacker`], which packs many prefixes sharing
//! one attribute set into as few UPDATEs as the negotiated size allows.

use crate::{AfiSafi, CodecContext, Message, MpNextHop, Nlri, PathAttributes};

/// Encoding failures (only ever caused by kumo's own data, never by a peer).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("message of {len} octets exceeds the maximum of {max}")]
    TooLong { len: usize, max: usize },
}

/// Append the encoding of `msg` to `out`.
pub fn encode_message(msg: &Message, ctx: &CodecContext, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let _ = (msg, ctx, out);
    todo!("implemented by the codec work")
}

/// Packs announcements and withdrawals into UPDATE messages.
#[derive(Debug)]
pub struct UpdatePacker<'a> {
    ctx: &'a CodecContext,
}

impl<'a> UpdatePacker<'a> {
    pub fn new(ctx: &'a CodecContext) -> Self {
        UpdatePacker { ctx }
    }

    /// Append to `out` as many UPDATE messages as needed to announce `nlri`
    /// (all of family `afi_safi`) with `attrs`. IPv4 unicast uses the NLRI field
    /// and `attrs.next_hop`; other families use MP_REACH_NLRI with `mp_next_hop`.
    pub fn announce(
        &self,
        attrs: &PathAttributes,
        afi_safi: AfiSafi,
        mp_next_hop: Option<MpNextHop>,
        nlri: &[Nlri],
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        let _ = (attrs, afi_safi, mp_next_hop, nlri, out, self.ctx);
        todo!("implemented by the codec work")
    }

    /// Append UPDATE messages withdrawing `nlri` of family `afi_safi`.
    pub fn withdraw(&self, afi_safi: AfiSafi, nlri: &[Nlri], out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let _ = (afi_safi, nlri, out);
        todo!("implemented by the codec work")
    }

    /// Append the End-of-RIB marker for `afi_safi` (RFC 4724 §2).
    pub fn end_of_rib(&self, afi_safi: AfiSafi, out: &mut Vec<u8>) {
        let _ = (afi_safi, out);
        todo!("implemented by the codec work")
    }
}
