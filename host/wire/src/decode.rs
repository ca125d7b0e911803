//! Message decoders. UPDATE errors follow RFC 7606: each malformed attribute
//! is handled by attribute discard, treat-as-withdraw or session reset, chosen
//! per attribute type.
//!
//! Error handling summary (RFC 7606 §3, §7; RFC 6793 §6; RFC 9234 §5):
//! - treat-as-withdraw: malformed ORIGIN, AS_PATH, NEXT_HOP, MED, COMMUNITIES,
//!   EXTENDED COMMUNITIES, LARGE COMMUNITIES, OTC; a missing mandatory attribute;
//!   an attribute that overruns the attribute list (§4: the NLRI field can still
//!   be found through the Total Path Attribute Length).
//! - attribute discard: malformed LOCAL_PREF, ATOMIC_AGGREGATE, AGGREGATOR,
//!   AS4_PATH, AS4_AGGREGATOR; AS4_* received on a 4-octet AS session; the
//!   second and later copies of a repeated attribute (§3 g); MP_REACH/MP_UNREACH
//!   of a family whose NLRI kumo cannot parse.
//! - session reset (the `Err` NOTIFICATION): inconsistent withdrawn/attribute
//!   lengths, a bad prefix in the withdrawn or NLRI field, a malformed or
//!   repeated MP_REACH_NLRI/MP_UNREACH_NLRI, an unrecognised well-known attribute.
//!
//! Wrong Optional/Transitive flags on a known attribute count as a malformation
//! of that attribute (§3 c).

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::nlri::{self, Family, NlriError};
use crate::notification::{code, header, open as open_err, update as update_err};
use crate::{
    AS_TRANS, AddPathMode, AfiSafi, Aggregator, AsPath, AsPathSegment, AsPathSegmentRef, Capability,
    CodecContext, GracefulRestartAfi, HEADER_LEN, LargeCommunity, LlgrAfi, MAX_EXTENDED_MESSAGE_LEN, Message,
    MpNextHop, MpReach, MpUnreach, Notification, Open, Origin, RawAttribute, Role, RouteRefresh,
    RouteRefreshSubtype, Update, attr_flags, attr_type, msg_type,
};

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
        self.errors
            .iter()
            .any(|e| e.action == AttrErrorAction::TreatAsWithdraw)
    }
}

/// Decode one whole message (header included, as returned by [`crate::frame()`]).
///
/// `Err` carries the NOTIFICATION to send before closing the session.
pub fn decode_message(message: &[u8], ctx: &CodecContext) -> Result<Decoded, Notification> {
    let Some(head) = message.get(..HEADER_LEN) else {
        let len = u16::try_from(message.len()).unwrap_or(u16::MAX);
        return Err(Notification::new(
            code::MESSAGE_HEADER_ERROR,
            header::BAD_MESSAGE_LENGTH,
            len.to_be_bytes().to_vec(),
        ));
    };
    // The size limit was enforced by `frame`; here only consistency matters.
    let len = crate::frame::check_header(head, MAX_EXTENDED_MESSAGE_LEN)?;
    if len != message.len() {
        return Err(Notification::new(
            code::MESSAGE_HEADER_ERROR,
            header::BAD_MESSAGE_LENGTH,
            head[16..18].to_vec(),
        ));
    }
    let body = &message[HEADER_LEN..];
    let plain = |message| {
        Ok(Decoded {
            message,
            errors: Vec::new(),
        })
    };
    match head[18] {
        msg_type::OPEN => plain(Message::Open(decode_open(body)?)),
        msg_type::UPDATE => {
            let mut errors = Vec::new();
            let update = decode_update(body, ctx, &mut errors)?;
            Ok(Decoded {
                message: Message::Update(update),
                errors,
            })
        }
        msg_type::NOTIFICATION => match body {
            [code, subcode, data @ ..] => plain(Message::Notification(Notification {
                code: *code,
                subcode: *subcode,
                data: data.to_vec(),
            })),
            _ => Err(bad_length(len)),
        },
        msg_type::KEEPALIVE => plain(Message::Keepalive),
        msg_type::ROUTE_REFRESH => match body {
            [afi_hi, afi_lo, subtype, safi] => plain(Message::RouteRefresh(RouteRefresh {
                afi_safi: AfiSafi::from_codes(u16::from_be_bytes([*afi_hi, *afi_lo]), *safi),
                subtype: RouteRefreshSubtype::from_code(*subtype),
            })),
            _ => Err(bad_length(len)),
        },
        other => Err(Notification::new(
            code::MESSAGE_HEADER_ERROR,
            header::BAD_MESSAGE_TYPE,
            vec![other],
        )),
    }
}

fn bad_length(len: usize) -> Notification {
    let len = u16::try_from(len).unwrap_or(u16::MAX);
    Notification::new(
        code::MESSAGE_HEADER_ERROR,
        header::BAD_MESSAGE_LENGTH,
        len.to_be_bytes().to_vec(),
    )
}

// ---------------------------------------------------------------------------
// OPEN

/// Optional parameter type carrying capabilities (RFC 5492).
const PARAM_CAPABILITIES: u8 = 2;
/// Non-Ext OP Type marking RFC 9072 extended optional parameters.
const PARAM_EXTENDED_LENGTH: u8 = 255;

fn open_error(subcode: u8) -> Notification {
    Notification::new(code::OPEN_MESSAGE_ERROR, subcode, Vec::new())
}

fn decode_open(body: &[u8]) -> Result<Open, Notification> {
    let [
        version,
        as_hi,
        as_lo,
        hold_hi,
        hold_lo,
        id0,
        id1,
        id2,
        id3,
        opt_len,
        rest @ ..,
    ] = body
    else {
        return Err(bad_length(body.len() + HEADER_LEN));
    };
    // RFC 9072: Non-Ext OP Len 255 followed by Non-Ext OP Type 255 announces
    // 2-octet lengths for the parameter list and for each parameter.
    let (params, extended) = match rest {
        [PARAM_EXTENDED_LENGTH, len_hi, len_lo, params @ ..] if *opt_len == 255 => {
            if usize::from(u16::from_be_bytes([*len_hi, *len_lo])) != params.len() {
                return Err(open_error(0));
            }
            (params, true)
        }
        _ => {
            if usize::from(*opt_len) != rest.len() {
                return Err(open_error(0));
            }
            (rest, false)
        }
    };
    let mut capabilities = Vec::new();
    let mut params = params;
    while let Some((&param_type, rest)) = params.split_first() {
        let (len, rest) = if extended {
            let (len, rest) = rest.split_first_chunk::<2>().ok_or_else(|| open_error(0))?;
            (usize::from(u16::from_be_bytes(*len)), rest)
        } else {
            let (&len, rest) = rest.split_first().ok_or_else(|| open_error(0))?;
            (usize::from(len), rest)
        };
        let (value, rest) = rest.split_at_checked(len).ok_or_else(|| open_error(0))?;
        if param_type != PARAM_CAPABILITIES {
            return Err(open_error(open_err::UNSUPPORTED_OPTIONAL_PARAMETER));
        }
        decode_capabilities(value, &mut capabilities)?;
        params = rest;
    }
    Ok(Open {
        version: *version,
        my_as: u16::from_be_bytes([*as_hi, *as_lo]),
        hold_time: u16::from_be_bytes([*hold_hi, *hold_lo]),
        bgp_id: Ipv4Addr::new(*id0, *id1, *id2, *id3),
        capabilities,
    })
}

fn decode_capabilities(mut data: &[u8], out: &mut Vec<Capability>) -> Result<(), Notification> {
    while let [code, len, rest @ ..] = data {
        let (value, rest) = rest
            .split_at_checked(usize::from(*len))
            .ok_or_else(|| open_error(0))?;
        out.push(decode_capability(*code, value).ok_or_else(|| open_error(0))?);
        data = rest;
    }
    if data.is_empty() {
        Ok(())
    } else {
        Err(open_error(0))
    }
}

/// One capability; `None` when its length does not fit its code.
fn decode_capability(code: u8, value: &[u8]) -> Option<Capability> {
    let afi_safi = |afi: [u8; 2], safi: u8| AfiSafi::from_codes(u16::from_be_bytes(afi), safi);
    let cap = match (code, value) {
        (1, [a0, a1, _reserved, safi]) => Capability::Multiprotocol(afi_safi([*a0, *a1], *safi)),
        (2, []) => Capability::RouteRefresh,
        (6, []) => Capability::ExtendedMessage,
        (9, [role]) => Capability::Role(Role::from_code(*role)),
        (64, [f0, f1, afis @ ..]) if afis.len() % 4 == 0 => {
            let word = u16::from_be_bytes([*f0, *f1]);
            Capability::GracefulRestart {
                restarting: word & 0x8000 != 0,
                notification: word & 0x4000 != 0,
                restart_time: word & 0x0fff,
                afis: afis
                    .chunks_exact(4)
                    .map(|c| GracefulRestartAfi {
                        afi_safi: afi_safi([c[0], c[1]], c[2]),
                        forwarding_preserved: c[3] & 0x80 != 0,
                    })
                    .collect(),
            }
        }
        (65, [a, b, c, d]) => Capability::FourOctetAs(u32::from_be_bytes([*a, *b, *c, *d])),
        (69, entries) if entries.len() % 4 == 0 => {
            let mut modes = Vec::with_capacity(entries.len() / 4);
            for c in entries.chunks_exact(4) {
                let mode = match c[3] {
                    1 => AddPathMode::Receive,
                    2 => AddPathMode::Send,
                    3 => AddPathMode::Both,
                    // RFC 7911 §4: any other value means the capability is not understood.
                    _ => {
                        return Some(Capability::Unknown {
                            code,
                            data: value.to_vec(),
                        });
                    }
                };
                modes.push((afi_safi([c[0], c[1]], c[2]), mode));
            }
            Capability::AddPath(modes)
        }
        (70, []) => Capability::EnhancedRouteRefresh,
        (71, entries) if entries.len() % 7 == 0 => Capability::LongLivedGracefulRestart(
            entries
                .chunks_exact(7)
                .map(|c| LlgrAfi {
                    afi_safi: afi_safi([c[0], c[1]], c[2]),
                    forwarding_preserved: c[3] & 0x80 != 0,
                    stale_time: u32::from_be_bytes([0, c[4], c[5], c[6]]),
                })
                .collect(),
        ),
        (1 | 2 | 6 | 9 | 64 | 65 | 69 | 70 | 71, _) => return None,
        (code, data) => Capability::Unknown {
            code,
            data: data.to_vec(),
        },
    };
    Some(cap)
}

// ---------------------------------------------------------------------------
// UPDATE

fn update_error(subcode: u8, data: Vec<u8>) -> Notification {
    Notification::new(code::UPDATE_MESSAGE_ERROR, subcode, data)
}

fn malformed_attribute_list() -> Notification {
    update_error(update_err::MALFORMED_ATTRIBUTE_LIST, Vec::new())
}

fn invalid_network(_: NlriError) -> Notification {
    update_error(update_err::INVALID_NETWORK_FIELD, Vec::new())
}

fn decode_update(
    body: &[u8],
    ctx: &CodecContext,
    errors: &mut Vec<AttrError>,
) -> Result<Box<Update>, Notification> {
    let (withdrawn_len, rest) = body
        .split_first_chunk::<2>()
        .ok_or_else(malformed_attribute_list)?;
    let (withdrawn, rest) = rest
        .split_at_checked(usize::from(u16::from_be_bytes(*withdrawn_len)))
        .ok_or_else(malformed_attribute_list)?;
    let (attrs_len, rest) = rest
        .split_first_chunk::<2>()
        .ok_or_else(malformed_attribute_list)?;
    let (attrs, nlri) = rest
        .split_at_checked(usize::from(u16::from_be_bytes(*attrs_len)))
        .ok_or_else(malformed_attribute_list)?;

    // Filled in place once allocated: the 232 octets are not moved again.
    let mut update = Box::<Update>::default();
    let add_path_v4 = ctx.add_path_for(AfiSafi::IPV4_UNICAST);
    nlri::parse(withdrawn, Family::V4, add_path_v4, &mut update.withdrawn).map_err(invalid_network)?;
    nlri::parse(nlri, Family::V4, add_path_v4, &mut update.nlri).map_err(invalid_network)?;
    if !attrs.is_empty() {
        AttrDecoder {
            ctx,
            errors,
            update: &mut update,
            seen: [0; 4],
        }
        .run(attrs)?;
    }
    Ok(update)
}

/// Decoder state for one UPDATE's path attributes.
struct AttrDecoder<'a> {
    ctx: &'a CodecContext,
    errors: &'a mut Vec<AttrError>,
    update: &'a mut Update,
    /// Type codes seen so far (one bit per code), for RFC 7606 §3 g.
    seen: [u64; 4],
}

/// Expected Optional/Transitive flag bits of the attributes kumo interprets.
const WELL_KNOWN: u8 = attr_flags::TRANSITIVE;
const OPTIONAL_TRANSITIVE: u8 = attr_flags::OPTIONAL | attr_flags::TRANSITIVE;
const OPTIONAL_NON_TRANSITIVE: u8 = attr_flags::OPTIONAL;

impl AttrDecoder<'_> {
    fn error(&mut self, type_code: u8, action: AttrErrorAction, reason: impl Into<String>) {
        self.errors.push(AttrError {
            type_code,
            action,
            reason: reason.into(),
        });
    }

    fn withdraw(&mut self, type_code: u8, reason: &str) {
        self.error(type_code, AttrErrorAction::TreatAsWithdraw, reason);
    }

    fn discard(&mut self, type_code: u8, reason: &str) {
        self.error(type_code, AttrErrorAction::AttributeDiscard, reason);
    }

    fn seen(&self, type_code: u8) -> bool {
        self.seen[usize::from(type_code >> 6)] & (1 << (type_code & 63)) != 0
    }

    fn run(mut self, mut attrs: &[u8]) -> Result<(), Notification> {
        let mut as4_path = None;
        let mut as4_aggregator = None;
        while !attrs.is_empty() {
            let Some((
                AttrSlice {
                    flags,
                    type_code,
                    value,
                    whole,
                },
                rest,
            )) = split_attribute(attrs)
            else {
                // RFC 7606 §4: the attribute overruns the list. The NLRI field is
                // still found through the total length, so treat-as-withdraw,
                // unless it is MP_(UN)REACH_NLRI, whose prefixes are then lost.
                let type_code = attrs.get(1).copied().unwrap_or(0);
                if matches!(type_code, attr_type::MP_REACH_NLRI | attr_type::MP_UNREACH_NLRI) {
                    return Err(malformed_attribute_list());
                }
                self.withdraw(type_code, "attribute overruns the path attribute list");
                break;
            };
            attrs = rest;
            if self.seen(type_code) {
                if matches!(type_code, attr_type::MP_REACH_NLRI | attr_type::MP_UNREACH_NLRI) {
                    return Err(malformed_attribute_list());
                }
                self.discard(type_code, "repeated attribute");
                continue;
            }
            self.seen[usize::from(type_code >> 6)] |= 1 << (type_code & 63);
            let category = flags & (attr_flags::OPTIONAL | attr_flags::TRANSITIVE);
            match type_code {
                attr_type::ORIGIN => match value {
                    [v @ 0..=2] if category == WELL_KNOWN => {
                        self.update.attributes.origin = Some(match v {
                            0 => Origin::Igp,
                            1 => Origin::Egp,
                            _ => Origin::Incomplete,
                        })
                    }
                    _ => self.withdraw(type_code, "malformed ORIGIN"),
                },
                attr_type::AS_PATH => {
                    let asn_len = if self.ctx.four_octet_as { 4 } else { 2 };
                    match decode_as_path(value, asn_len) {
                        Ok(path) if category == WELL_KNOWN => self.update.attributes.as_path = Some(path),
                        Ok(_) => self.withdraw(type_code, "AS_PATH with wrong flags"),
                        Err(reason) => self.withdraw(type_code, reason),
                    }
                }
                attr_type::NEXT_HOP => match value {
                    [a, b, c, d] if category == WELL_KNOWN => {
                        self.update.attributes.next_hop = Some(Ipv4Addr::new(*a, *b, *c, *d))
                    }
                    _ => self.withdraw(type_code, "malformed NEXT_HOP"),
                },
                attr_type::MULTI_EXIT_DISC => match value.first_chunk::<4>() {
                    Some(v) if value.len() == 4 && category == OPTIONAL_NON_TRANSITIVE => {
                        self.update.attributes.med = Some(u32::from_be_bytes(*v))
                    }
                    _ => self.withdraw(type_code, "malformed MULTI_EXIT_DISC"),
                },
                attr_type::LOCAL_PREF => match value.first_chunk::<4>() {
                    Some(v) if value.len() == 4 && category == WELL_KNOWN => {
                        self.update.attributes.local_pref = Some(u32::from_be_bytes(*v))
                    }
                    _ => self.discard(type_code, "malformed LOCAL_PREF"),
                },
                attr_type::ATOMIC_AGGREGATE => {
                    if value.is_empty() && category == WELL_KNOWN {
                        self.update.attributes.atomic_aggregate = true;
                    } else {
                        self.discard(type_code, "malformed ATOMIC_AGGREGATE");
                    }
                }
                attr_type::AGGREGATOR => {
                    let aggregator = match value {
                        [a, b, ip @ ..] if ip.len() == 4 && !self.ctx.four_octet_as => {
                            decode_aggregator(u32::from(u16::from_be_bytes([*a, *b])), ip)
                        }
                        [a, b, c, d, ip @ ..] if ip.len() == 4 && self.ctx.four_octet_as => {
                            decode_aggregator(u32::from_be_bytes([*a, *b, *c, *d]), ip)
                        }
                        _ => None,
                    };
                    match aggregator {
                        Some(agg) if category == OPTIONAL_TRANSITIVE => {
                            self.update.attributes.aggregator = Some(agg)
                        }
                        _ => self.discard(type_code, "malformed AGGREGATOR"),
                    }
                }
                attr_type::COMMUNITIES => {
                    if category == OPTIONAL_TRANSITIVE && !value.is_empty() && value.len() % 4 == 0 {
                        self.update.attributes.communities = value
                            .chunks_exact(4)
                            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
                            .collect();
                    } else {
                        self.withdraw(type_code, "malformed COMMUNITIES");
                    }
                }
                attr_type::EXTENDED_COMMUNITIES => {
                    if category == OPTIONAL_TRANSITIVE && !value.is_empty() && value.len() % 8 == 0 {
                        let (chunks, _) = value.as_chunks::<8>();
                        self.update.attributes.extended_communities = crate::ThinVec::from(chunks);
                    } else {
                        self.withdraw(type_code, "malformed EXTENDED_COMMUNITIES");
                    }
                }
                attr_type::LARGE_COMMUNITIES => {
                    if category == OPTIONAL_TRANSITIVE && !value.is_empty() && value.len() % 12 == 0 {
                        self.update.attributes.large_communities = value
                            .chunks_exact(12)
                            .map(|c| LargeCommunity {
                                global_admin: u32::from_be_bytes([c[0], c[1], c[2], c[3]]),
                                local_data1: u32::from_be_bytes([c[4], c[5], c[6], c[7]]),
                                local_data2: u32::from_be_bytes([c[8], c[9], c[10], c[11]]),
                            })
                            .collect();
                    } else {
                        self.withdraw(type_code, "malformed LARGE_COMMUNITIES");
                    }
                }
                attr_type::OTC => match value.first_chunk::<4>() {
                    Some(v) if value.len() == 4 && category == OPTIONAL_TRANSITIVE => {
                        self.update.attributes.otc = Some(u32::from_be_bytes(*v))
                    }
                    _ => self.withdraw(type_code, "malformed OTC"),
                },
                attr_type::AS4_PATH => {
                    if self.ctx.four_octet_as {
                        // RFC 6793 §4.1: a NEW speaker never sends it to a NEW speaker.
                        self.discard(type_code, "AS4_PATH on a 4-octet AS session");
                        continue;
                    }
                    match decode_as_path(value, 4) {
                        Ok(path) if category == OPTIONAL_TRANSITIVE => {
                            let confed = path.segments().any(|s| s.is_confed());
                            if confed {
                                self.discard(type_code, "AS4_PATH with confederation segments");
                            } else {
                                as4_path = Some(path);
                            }
                        }
                        Ok(_) => self.discard(type_code, "AS4_PATH with wrong flags"),
                        Err(reason) => self.discard(type_code, reason),
                    }
                }
                attr_type::AS4_AGGREGATOR => {
                    if self.ctx.four_octet_as {
                        self.discard(type_code, "AS4_AGGREGATOR on a 4-octet AS session");
                        continue;
                    }
                    let aggregator = match value {
                        [a, b, c, d, ip @ ..] if ip.len() == 4 && category == OPTIONAL_TRANSITIVE => {
                            decode_aggregator(u32::from_be_bytes([*a, *b, *c, *d]), ip)
                        }
                        _ => None,
                    };
                    match aggregator {
                        Some(agg) => as4_aggregator = Some(agg),
                        None => self.discard(type_code, "malformed AS4_AGGREGATOR"),
                    }
                }
                attr_type::MP_REACH_NLRI | attr_type::MP_UNREACH_NLRI => {
                    if category != OPTIONAL_NON_TRANSITIVE {
                        return Err(update_error(update_err::ATTRIBUTE_FLAGS_ERROR, whole.to_vec()));
                    }
                    if type_code == attr_type::MP_REACH_NLRI {
                        self.update.mp_reach = self.decode_mp_reach(value, whole)?;
                    } else {
                        self.update.mp_unreach = self.decode_mp_unreach(value, whole)?;
                    }
                }
                _ => {
                    if flags & attr_flags::OPTIONAL == 0 {
                        return Err(update_error(
                            update_err::UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE,
                            whole.to_vec(),
                        ));
                    }
                    // Optional non-transitive attributes we do not know are dropped
                    // silently (RFC 4271 §5); transitive ones are passed on.
                    if flags & attr_flags::TRANSITIVE != 0 {
                        self.update.attributes.unknown.push(RawAttribute {
                            flags: flags
                                & (attr_flags::OPTIONAL | attr_flags::TRANSITIVE | attr_flags::PARTIAL),
                            type_code,
                            value: value.to_vec(),
                        });
                    }
                }
            }
        }
        if !self.ctx.four_octet_as {
            self.reconcile_as4(as4_path, as4_aggregator);
        }
        self.check_mandatory();
        Ok(())
    }

    /// RFC 6793 §4.2.3: rebuild the 4-octet AS_PATH and AGGREGATOR from a 2-octet
    /// speaker's AS_PATH/AS4_PATH and AGGREGATOR/AS4_AGGREGATOR.
    fn reconcile_as4(&mut self, as4_path: Option<AsPath>, as4_aggregator: Option<Aggregator>) {
        let attrs = &mut self.update.attributes;
        let mut as4_path = as4_path;
        if let Some(as4_aggregator) = as4_aggregator {
            match attrs.aggregator {
                Some(agg) if agg.asn == u32::from(AS_TRANS) => attrs.aggregator = Some(as4_aggregator),
                // An aggregator with a real 2-octet ASN means an OLD speaker
                // aggregated after the AS4_* were made: both are stale.
                Some(_) => as4_path = None,
                None => {}
            }
        }
        let (Some(as4_path), Some(as_path)) = (as4_path, attrs.as_path.as_mut()) else {
            return;
        };
        let (len, len4) = (as_path.path_len(), as4_path.path_len());
        if len < len4 {
            return;
        }
        *as_path = merge_as4_path(as_path, as4_path, len - len4);
    }

    /// RFC 7606 §3 d: a missing mandatory attribute means treat-as-withdraw.
    /// Attributes that were present but malformed already recorded their error.
    fn check_mandatory(&mut self) {
        let ipv4_nlri = !self.update.nlri.is_empty();
        let mp_nlri = self.update.mp_reach.as_ref().is_some_and(|r| !r.nlri.is_empty());
        if !ipv4_nlri && !mp_nlri {
            return;
        }
        if !self.seen(attr_type::ORIGIN) {
            self.withdraw(attr_type::ORIGIN, "missing ORIGIN");
        }
        if !self.seen(attr_type::AS_PATH) {
            self.withdraw(attr_type::AS_PATH, "missing AS_PATH");
        }
        if ipv4_nlri && !self.seen(attr_type::NEXT_HOP) {
            self.withdraw(attr_type::NEXT_HOP, "missing NEXT_HOP");
        }
    }

    fn decode_mp_reach(&mut self, value: &[u8], whole: &[u8]) -> Result<Option<MpReach>, Notification> {
        let optional_error = || update_error(update_err::OPTIONAL_ATTRIBUTE_ERROR, whole.to_vec());
        let [afi_hi, afi_lo, safi, nh_len, rest @ ..] = value else {
            return Err(optional_error());
        };
        let afi_safi = AfiSafi::from_codes(u16::from_be_bytes([*afi_hi, *afi_lo]), *safi);
        let (next_hop, rest) = rest
            .split_at_checked(usize::from(*nh_len))
            .ok_or_else(optional_error)?;
        let (_reserved, nlri_bytes) = rest.split_first().ok_or_else(optional_error)?;
        let Some(family) = Family::of(afi_safi) else {
            self.discard(
                attr_type::MP_REACH_NLRI,
                &format!("MP_REACH_NLRI of unsupported family {afi_safi}"),
            );
            return Ok(None);
        };
        let next_hop = match (family, next_hop.len()) {
            (Family::V4, 4) => {
                let octets: [u8; 4] = next_hop.try_into().map_err(|_| optional_error())?;
                MpNextHop::V4(Ipv4Addr::from(octets))
            }
            // RFC 2545 (IPv6), RFC 8950 (IPv4 NLRI with an IPv6 next hop).
            (_, 16 | 32) => {
                let (global, link_local) = next_hop.split_first_chunk::<16>().ok_or_else(optional_error)?;
                let link_local = link_local.first_chunk::<16>().map(|ll| Ipv6Addr::from(*ll));
                MpNextHop::V6 {
                    global: Ipv6Addr::from(*global),
                    link_local,
                }
            }
            _ => return Err(optional_error()),
        };
        let mut nlri = Vec::new();
        nlri::parse(nlri_bytes, family, self.ctx.add_path_for(afi_safi), &mut nlri)
            .map_err(invalid_network)?;
        Ok(Some(MpReach {
            afi_safi,
            next_hop,
            nlri,
        }))
    }

    fn decode_mp_unreach(&mut self, value: &[u8], whole: &[u8]) -> Result<Option<MpUnreach>, Notification> {
        let [afi_hi, afi_lo, safi, nlri_bytes @ ..] = value else {
            return Err(update_error(update_err::OPTIONAL_ATTRIBUTE_ERROR, whole.to_vec()));
        };
        let afi_safi = AfiSafi::from_codes(u16::from_be_bytes([*afi_hi, *afi_lo]), *safi);
        let mut nlri = Vec::new();
        match Family::of(afi_safi) {
            Some(family) => nlri::parse(nlri_bytes, family, self.ctx.add_path_for(afi_safi), &mut nlri)
                .map_err(invalid_network)?,
            // An empty one is the End-of-RIB of that family: keep it.
            None if nlri_bytes.is_empty() => {}
            None => {
                self.discard(
                    attr_type::MP_UNREACH_NLRI,
                    &format!("MP_UNREACH_NLRI of unsupported family {afi_safi}"),
                );
                return Ok(None);
            }
        }
        Ok(Some(MpUnreach { afi_safi, nlri }))
    }
}

/// One path attribute as found in the list.
struct AttrSlice<'a> {
    flags: u8,
    type_code: u8,
    value: &'a [u8],
    /// Header and value, for NOTIFICATION data.
    whole: &'a [u8],
}

/// Split one attribute off the front of the list; `None` when it overruns the list.
#[inline]
fn split_attribute(attrs: &[u8]) -> Option<(AttrSlice<'_>, &[u8])> {
    let (len, header_len) = match attrs {
        [flags, _, hi, lo, ..] if flags & attr_flags::EXTENDED_LENGTH != 0 => {
            (u16::from_be_bytes([*hi, *lo]), 4)
        }
        [flags, _, len, ..] if flags & attr_flags::EXTENDED_LENGTH == 0 => (u16::from(*len), 3),
        _ => return None,
    };
    let (whole, rest) = attrs.split_at_checked(header_len + usize::from(len))?;
    Some((
        AttrSlice {
            flags: whole[0],
            type_code: whole[1],
            value: &whole[header_len..],
            whole,
        },
        rest,
    ))
}

fn decode_aggregator(asn: u32, ip: &[u8]) -> Option<Aggregator> {
    let octets: [u8; 4] = ip.try_into().ok()?;
    Some(Aggregator {
        asn,
        address: Ipv4Addr::from(octets),
    })
}

/// The number of segment headers in an AS_PATH (stopping at an overrun,
/// which the decoder then reports).
fn count_segments(mut data: &[u8], asn_len: usize) -> usize {
    let mut n = 0;
    while let [_, count, rest @ ..] = data {
        n += 1;
        data = rest.get(usize::from(*count) * asn_len..).unwrap_or_default();
    }
    n
}

/// Decode AS_PATH or AS4_PATH with `asn_len`-octet ASNs (RFC 4271 §4.3, RFC 7606 §7.2).
fn decode_as_path(mut data: &[u8], asn_len: usize) -> Result<AsPath, &'static str> {
    // Sized exactly: a route server keeps every distinct AS_PATH. One header
    // word per segment plus one word per ASN.
    let segments = count_segments(data, asn_len);
    let asns = data.len().saturating_sub(2 * segments) / asn_len;
    let mut path = AsPath::with_capacity(segments + asns);
    while let [seg_type, count, rest @ ..] = data {
        if *count == 0 {
            return Err("zero-length AS_PATH segment");
        }
        if !(1..=4).contains(seg_type) {
            return Err("bad AS_PATH segment type");
        }
        let (asns, rest) = rest
            .split_at_checked(usize::from(*count) * asn_len)
            .ok_or("AS_PATH segment overrun")?;
        path.words.push((u32::from(*seg_type) << 16) | u32::from(*count));
        if asn_len == 4 {
            path.words.extend(
                asns.chunks_exact(4)
                    .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]])),
            );
        } else {
            path.words.extend(
                asns.chunks_exact(2)
                    .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]]))),
            );
        }
        data = rest;
    }
    if data.is_empty() {
        Ok(path)
    } else {
        Err("AS_PATH segment overrun")
    }
}

/// RFC 6793 §4.2.3: the leading `keep` ASes of the 2-octet AS_PATH (an AS_SET
/// counting as one, confederation segments as none) followed by AS4_PATH.
fn merge_as4_path(as_path: &AsPath, as4_path: AsPath, keep: usize) -> AsPath {
    let mut segments: Vec<AsPathSegment> =
        Vec::with_capacity(as_path.segment_count() + as4_path.segment_count());
    let mut remaining = keep;
    for segment in as_path.segments() {
        match segment {
            // Confederation segments are not in AS4_PATH: keep them as they are.
            AsPathSegmentRef::ConfedSequence(_) | AsPathSegmentRef::ConfedSet(_) => {
                segments.push(segment.to_owned())
            }
            _ if remaining == 0 => break,
            AsPathSegmentRef::Sequence(asns) => {
                let take = remaining.min(asns.len());
                segments.push(AsPathSegment::Sequence(asns[..take].to_vec()));
                remaining -= take;
            }
            AsPathSegmentRef::Set(_) => {
                segments.push(segment.to_owned());
                remaining -= 1;
            }
        }
    }
    let mut as4_segments = as4_path.segments().peekable();
    // Join the kept head and AS4_PATH into one sequence where they meet, as the
    // original 4-octet path had it.
    if let (Some(AsPathSegment::Sequence(head)), Some(AsPathSegmentRef::Sequence(tail))) =
        (segments.last_mut(), as4_segments.peek())
    {
        head.extend_from_slice(tail);
        as4_segments.next();
    }
    segments.extend(as4_segments.map(|s| s.to_owned()));
    AsPath::from_segments(segments)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn seq(asns: &[u32]) -> AsPathSegment {
        AsPathSegment::Sequence(asns.to_vec())
    }

    #[test]
    fn decoded_as_paths_hold_no_spare_capacity() {
        // One SEQUENCE of 2 four-octet ASNs; then a SET of 1 after it.
        let one = [2, 2, 0, 0, 0xfd, 0xe9, 0, 0, 0xfd, 0xea];
        let path = decode_as_path(&one, 4).unwrap();
        assert_eq!((path.words.len(), path.words.capacity()), (3, 3));
        let two = [&one[..], &[1, 1, 0, 0, 0, 7]].concat();
        let path = decode_as_path(&two, 4).unwrap();
        assert_eq!((path.words.len(), path.words.capacity()), (5, 5));
        assert_eq!(path.to_segments()[1], AsPathSegment::Set(vec![7]));
        // An overrun is still an error, not a short count.
        assert!(decode_as_path(&two[..two.len() - 1], 4).is_err());
    }

    #[test]
    fn as4_merge_keeps_the_leading_2_octet_ases() {
        let as_path = AsPath::from(vec![seq(&[65001, 23456, 23456]), AsPathSegment::Set(vec![1, 2])]);
        let as4 = AsPath::from(vec![
            seq(&[4200000001, 4200000002]),
            AsPathSegment::Set(vec![1, 2]),
        ]);
        // AS_PATH length 4, AS4_PATH length 3: keep one leading ASN.
        let merged = merge_as4_path(&as_path, as4, 1);
        assert_eq!(
            merged.to_segments(),
            vec![
                seq(&[65001, 4200000001, 4200000002]),
                AsPathSegment::Set(vec![1, 2])
            ]
        );
    }

    #[test]
    fn as4_merge_with_confed_head() {
        let as_path = AsPath::from(vec![AsPathSegment::ConfedSequence(vec![64512]), seq(&[23456])]);
        let as4 = AsPath::from(vec![seq(&[4200000001])]);
        let merged = merge_as4_path(&as_path, as4, 0);
        assert_eq!(
            merged.to_segments(),
            vec![AsPathSegment::ConfedSequence(vec![64512]), seq(&[4200000001])]
        );
    }

    #[test]
    fn as_path_rejects_bad_segments() {
        assert!(decode_as_path(&[2, 0], 4).is_err());
        assert!(decode_as_path(&[0, 1, 0, 0, 0, 1], 4).is_err());
        assert!(decode_as_path(&[5, 1, 0, 0, 0, 1], 4).is_err());
        assert!(decode_as_path(&[2, 2, 0, 0, 0, 1], 4).is_err());
        assert!(decode_as_path(&[2, 1, 0, 0, 0, 1, 2], 4).is_err());
        assert_eq!(
            decode_as_path(&[2, 2, 0, 1, 0, 2], 2).unwrap().to_segments(),
            vec![seq(&[1, 2])]
        );
        assert_eq!(decode_as_path(&[], 4).unwrap(), AsPath::default());
    }

    #[test]
    fn capability_lengths_are_checked() {
        assert_eq!(
            decode_capability(65, &[0, 0, 0xfd, 0xe8]),
            Some(Capability::FourOctetAs(65000))
        );
        assert_eq!(decode_capability(65, &[0, 0, 0xfd]), None);
        assert_eq!(decode_capability(2, &[0]), None);
        assert_eq!(decode_capability(64, &[0]), None);
        assert_eq!(decode_capability(71, &[0; 6]), None);
        // An ADD-PATH mode outside 1..=3 makes the capability not understood.
        assert_eq!(
            decode_capability(69, &[0, 1, 1, 4]),
            Some(Capability::Unknown {
                code: 69,
                data: vec![0, 1, 1, 4]
            })
        );
        assert_eq!(
            decode_capability(200, &[1, 2]),
            Some(Capability::Unknown {
                code: 200,
                data: vec![1, 2]
            })
        );
    }
}
