//! Message encoders, and [`UpdatePacker`], which packs many prefixes sharing
//! one attribute set into as few UPDATEs as the negotiated size allows.
//!
//! Canonical form (what `encode(decode(x))` changes in `x`):
//! - MP_REACH_NLRI and MP_UNREACH_NLRI come first (RFC 7606 §5.1), then the other
//!   attributes in ascending type code, unknown raw attributes merged in by code;
//! - the Extended Length flag is set iff the value exceeds 255 octets;
//! - optional transitive raw attributes get the Partial bit (RFC 4271 §5); known
//!   attributes are sent with their standard flags and Partial clear;
//! - prefixes have their host bits cleared; the MP_REACH reserved octet is 0;
//! - all capabilities go in one Capabilities optional parameter (RFC 9072
//!   extended parameters when they do not fit in 255 octets);
//! - empty AS_PATH segments are left out, segments over 255 ASNs are split.

use ipnet::IpNet;

use crate::nlri::{self, Family};
use crate::{
    AS_TRANS, AddPathMode, AfiSafi, Aggregator, AsPathSegmentRef, Capability, CodecContext, HEADER_LEN,
    MARKER, MAX_MESSAGE_LEN, Message, MpNextHop, MpReach, MpUnreach, Nlri, Open, PathAttributes,
    RawAttribute, Update, attr_flags, attr_type, msg_type,
};

/// Encoding failures (only ever caused by kumo's own data, never by a peer).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("message of {len} octets exceeds the maximum of {max}")]
    TooLong { len: usize, max: usize },
    #[error("prefix {prefix} does not belong to {afi_safi}")]
    FamilyMismatch { afi_safi: AfiSafi, prefix: IpNet },
    #[error("no usable next hop to announce {afi_safi}")]
    MissingNextHop { afi_safi: AfiSafi },
    #[error("cannot encode prefixes of {afi_safi}")]
    UnsupportedFamily { afi_safi: AfiSafi },
    #[error("{what} of {len} octets does not fit its length field")]
    ValueTooLong { what: &'static str, len: usize },
}

/// Append the encoding of `msg` to `out`.
///
/// On error `out` is left as it was. OPEN is limited to 4096 octets whatever
/// was negotiated (RFC 8654 §4); other messages to `ctx.max_message_len()`.
pub fn encode_message(msg: &Message, ctx: &CodecContext, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let start = out.len();
    let (kind, max) = match msg {
        Message::Open(_) => (msg_type::OPEN, MAX_MESSAGE_LEN),
        Message::Update(_) => (msg_type::UPDATE, ctx.max_message_len()),
        Message::Notification(_) => (msg_type::NOTIFICATION, ctx.max_message_len()),
        Message::Keepalive => (msg_type::KEEPALIVE, ctx.max_message_len()),
        Message::RouteRefresh(_) => (msg_type::ROUTE_REFRESH, ctx.max_message_len()),
    };
    begin_message(out, kind);
    let written = match msg {
        Message::Open(open) => write_open(out, open),
        Message::Update(update) => write_update(out, update, ctx),
        Message::Notification(n) => {
            out.extend_from_slice(&[n.code, n.subcode]);
            out.extend_from_slice(&n.data);
            Ok(())
        }
        Message::Keepalive => Ok(()),
        Message::RouteRefresh(rr) => {
            out.extend_from_slice(&rr.afi_safi.afi.code().to_be_bytes());
            out.extend_from_slice(&[rr.subtype.code(), rr.afi_safi.safi.code()]);
            Ok(())
        }
    };
    let finished = written.and_then(|()| finish_message(out, start, max));
    if finished.is_err() {
        out.truncate(start);
    }
    finished
}

/// Append the End-of-RIB marker for `afi_safi` (RFC 4724 §2): an empty UPDATE
/// for IPv4 unicast, else an UPDATE with only an empty MP_UNREACH_NLRI.
pub fn encode_end_of_rib(afi_safi: AfiSafi, out: &mut Vec<u8>) {
    let start = out.len();
    begin_message(out, msg_type::UPDATE);
    out.extend_from_slice(&[0, 0]);
    if afi_safi == AfiSafi::IPV4_UNICAST {
        out.extend_from_slice(&[0, 0]);
    } else {
        out.extend_from_slice(&[0, 6, attr_flags::OPTIONAL, attr_type::MP_UNREACH_NLRI, 3]);
        out.extend_from_slice(&afi_safi.afi.code().to_be_bytes());
        out.push(afi_safi.safi.code());
    }
    set_length(out, start);
}

fn begin_message(out: &mut Vec<u8>, kind: u8) {
    out.extend_from_slice(&MARKER);
    out.extend_from_slice(&[0, 0, kind]);
}

/// Write the length field of the message starting at `start` (length checked by the caller).
fn set_length(out: &mut [u8], start: usize) {
    let len = u16::try_from(out.len() - start).unwrap_or(u16::MAX);
    out[start + 16..start + 18].copy_from_slice(&len.to_be_bytes());
}

fn finish_message(out: &mut [u8], start: usize, max: usize) -> Result<(), EncodeError> {
    let len = out.len() - start;
    if len > max {
        return Err(EncodeError::TooLong { len, max });
    }
    set_length(out, start);
    Ok(())
}

// ---------------------------------------------------------------------------
// OPEN

fn write_open(out: &mut Vec<u8>, open: &Open) -> Result<(), EncodeError> {
    out.push(open.version);
    out.extend_from_slice(&open.my_as.to_be_bytes());
    out.extend_from_slice(&open.hold_time.to_be_bytes());
    out.extend_from_slice(&open.bgp_id.octets());
    let mut caps = Vec::new();
    for cap in &open.capabilities {
        write_capability(&mut caps, cap)?;
    }
    if caps.is_empty() {
        out.push(0);
    } else if caps.len() <= 253 {
        // One Capabilities parameter: type, length, value.
        out.extend_from_slice(&[caps.len() as u8 + 2, 2, caps.len() as u8]);
        out.extend_from_slice(&caps);
    } else {
        // RFC 9072: Non-Ext OP Len 255, Non-Ext OP Type 255, 2-octet lengths.
        let param_len = u16::try_from(caps.len()).map_err(|_| too_long("capabilities", caps.len()))?;
        let total = u16::try_from(caps.len() + 3).map_err(|_| too_long("capabilities", caps.len()))?;
        out.extend_from_slice(&[255, 255]);
        out.extend_from_slice(&total.to_be_bytes());
        out.push(2);
        out.extend_from_slice(&param_len.to_be_bytes());
        out.extend_from_slice(&caps);
    }
    Ok(())
}

fn too_long(what: &'static str, len: usize) -> EncodeError {
    EncodeError::ValueTooLong { what, len }
}

fn put_afi_safi(out: &mut Vec<u8>, afi_safi: AfiSafi) {
    out.extend_from_slice(&afi_safi.afi.code().to_be_bytes());
    out.push(afi_safi.safi.code());
}

fn write_capability(out: &mut Vec<u8>, cap: &Capability) -> Result<(), EncodeError> {
    let start = out.len();
    out.extend_from_slice(&[0, 0]);
    let code = match cap {
        Capability::Multiprotocol(afi_safi) => {
            out.extend_from_slice(&afi_safi.afi.code().to_be_bytes());
            out.extend_from_slice(&[0, afi_safi.safi.code()]);
            1
        }
        Capability::RouteRefresh => 2,
        Capability::ExtendedMessage => 6,
        Capability::Role(role) => {
            out.push(role.code());
            9
        }
        Capability::GracefulRestart {
            restarting,
            notification,
            restart_time,
            afis,
        } => {
            let word =
                (u16::from(*restarting) << 15) | (u16::from(*notification) << 14) | (restart_time & 0x0fff);
            out.extend_from_slice(&word.to_be_bytes());
            for afi in afis {
                put_afi_safi(out, afi.afi_safi);
                out.push(if afi.forwarding_preserved { 0x80 } else { 0 });
            }
            64
        }
        Capability::FourOctetAs(asn) => {
            out.extend_from_slice(&asn.to_be_bytes());
            65
        }
        Capability::AddPath(modes) => {
            for (afi_safi, mode) in modes {
                put_afi_safi(out, *afi_safi);
                out.push(match mode {
                    AddPathMode::Receive => 1,
                    AddPathMode::Send => 2,
                    AddPathMode::Both => 3,
                });
            }
            69
        }
        Capability::EnhancedRouteRefresh => 70,
        Capability::LongLivedGracefulRestart(afis) => {
            for afi in afis {
                put_afi_safi(out, afi.afi_safi);
                out.push(if afi.forwarding_preserved { 0x80 } else { 0 });
                out.extend_from_slice(&afi.stale_time.to_be_bytes()[1..]);
            }
            71
        }
        Capability::Unknown { code, data } => {
            out.extend_from_slice(data);
            *code
        }
    };
    let len = out.len() - start - 2;
    out[start] = code;
    out[start + 1] = u8::try_from(len).map_err(|_| too_long("capability", len))?;
    Ok(())
}

// ---------------------------------------------------------------------------
// UPDATE

fn write_update(out: &mut Vec<u8>, update: &Update, ctx: &CodecContext) -> Result<(), EncodeError> {
    let add_path_v4 = ctx.add_path_for(AfiSafi::IPV4_UNICAST);
    let withdrawn_start = out.len();
    out.extend_from_slice(&[0, 0]);
    write_prefixes(
        out,
        &update.withdrawn,
        AfiSafi::IPV4_UNICAST,
        Family::V4,
        add_path_v4,
    )?;
    set_u16_len(out, withdrawn_start, "withdrawn routes")?;

    let attrs_start = out.len();
    out.extend_from_slice(&[0, 0]);
    if let Some(reach) = &update.mp_reach {
        write_mp_reach(out, reach, ctx)?;
    }
    if let Some(unreach) = &update.mp_unreach {
        write_mp_unreach(out, unreach, ctx)?;
    }
    write_attributes(out, &update.attributes, ctx, true)?;
    set_u16_len(out, attrs_start, "path attributes")?;

    write_prefixes(out, &update.nlri, AfiSafi::IPV4_UNICAST, Family::V4, add_path_v4)
}

/// Fill the 2-octet length field at `at` with the length of what follows it.
fn set_u16_len(out: &mut [u8], at: usize, what: &'static str) -> Result<(), EncodeError> {
    let len = out.len() - at - 2;
    let len16 = u16::try_from(len).map_err(|_| too_long(what, len))?;
    out[at..at + 2].copy_from_slice(&len16.to_be_bytes());
    Ok(())
}

fn write_prefixes(
    out: &mut Vec<u8>,
    prefixes: &[Nlri],
    afi_safi: AfiSafi,
    family: Family,
    add_path: bool,
) -> Result<(), EncodeError> {
    for n in prefixes {
        if !nlri::matches_family(&n.prefix, family) {
            return Err(EncodeError::FamilyMismatch {
                afi_safi,
                prefix: n.prefix,
            });
        }
        nlri::write(out, n, add_path);
    }
    Ok(())
}

/// Write one attribute whose value is produced by `value`. The Extended Length
/// flag is chosen from the value's size.
fn put_attr(
    out: &mut Vec<u8>,
    flags: u8,
    type_code: u8,
    value: impl FnOnce(&mut Vec<u8>) -> Result<(), EncodeError>,
) -> Result<(), EncodeError> {
    let start = out.len();
    // Reserve the extended header; shrink it afterwards when the value is short.
    out.extend_from_slice(&[flags | attr_flags::EXTENDED_LENGTH, type_code, 0, 0]);
    value(out)?;
    let len = out.len() - start - 4;
    if len <= 255 {
        out[start] = flags & !attr_flags::EXTENDED_LENGTH;
        out[start + 2] = len as u8;
        out.copy_within(start + 4.., start + 3);
        out.truncate(out.len() - 1);
    } else {
        let len16 = u16::try_from(len).map_err(|_| too_long("path attribute", len))?;
        out[start + 2..start + 4].copy_from_slice(&len16.to_be_bytes());
    }
    Ok(())
}

const WELL_KNOWN: u8 = attr_flags::TRANSITIVE;
const OPTIONAL_TRANSITIVE: u8 = attr_flags::OPTIONAL | attr_flags::TRANSITIVE;
const OPTIONAL_NON_TRANSITIVE: u8 = attr_flags::OPTIONAL;

fn write_mp_next_hop(out: &mut Vec<u8>, next_hop: &MpNextHop) {
    match next_hop {
        MpNextHop::V4(addr) => {
            out.push(4);
            out.extend_from_slice(&addr.octets());
        }
        MpNextHop::V6 { global, link_local } => {
            out.push(if link_local.is_some() { 32 } else { 16 });
            out.extend_from_slice(&global.octets());
            if let Some(ll) = link_local {
                out.extend_from_slice(&ll.octets());
            }
        }
    }
}

/// The family of an MP attribute's NLRI; families kumo cannot encode only
/// allow an empty NLRI list (an End-of-RIB).
fn mp_family(afi_safi: AfiSafi, nlri: &[Nlri]) -> Result<Option<Family>, EncodeError> {
    match Family::of(afi_safi) {
        Some(family) => Ok(Some(family)),
        None if nlri.is_empty() => Ok(None),
        None => Err(EncodeError::UnsupportedFamily { afi_safi }),
    }
}

fn write_mp_reach(out: &mut Vec<u8>, reach: &MpReach, ctx: &CodecContext) -> Result<(), EncodeError> {
    let family = mp_family(reach.afi_safi, &reach.nlri)?;
    put_attr(out, OPTIONAL_NON_TRANSITIVE, attr_type::MP_REACH_NLRI, |out| {
        put_afi_safi(out, reach.afi_safi);
        write_mp_next_hop(out, &reach.next_hop);
        out.push(0);
        match family {
            Some(family) => write_prefixes(
                out,
                &reach.nlri,
                reach.afi_safi,
                family,
                ctx.add_path_for(reach.afi_safi),
            ),
            None => Ok(()),
        }
    })
}

fn write_mp_unreach(out: &mut Vec<u8>, unreach: &MpUnreach, ctx: &CodecContext) -> Result<(), EncodeError> {
    let family = mp_family(unreach.afi_safi, &unreach.nlri)?;
    put_attr(out, OPTIONAL_NON_TRANSITIVE, attr_type::MP_UNREACH_NLRI, |out| {
        put_afi_safi(out, unreach.afi_safi);
        match family {
            Some(family) => write_prefixes(
                out,
                &unreach.nlri,
                unreach.afi_safi,
                family,
                ctx.add_path_for(unreach.afi_safi),
            ),
            None => Ok(()),
        }
    })
}

/// Write every attribute of `attrs` (not MP_REACH/MP_UNREACH) in ascending type
/// order, raw attributes merged in by type code.
fn write_attributes(
    out: &mut Vec<u8>,
    attrs: &PathAttributes,
    ctx: &CodecContext,
    with_next_hop: bool,
) -> Result<(), EncodeError> {
    let mut raw: Vec<&RawAttribute> = attrs.unknown.iter().collect();
    raw.sort_by_key(|r| r.type_code);
    let mut raw = raw.into_iter().peekable();
    let mut raw_below = |out: &mut Vec<u8>, type_code: u8| -> Result<(), EncodeError> {
        while let Some(r) = raw.next_if(|r| r.type_code < type_code) {
            write_raw(out, r)?;
        }
        Ok(())
    };

    if let Some(origin) = attrs.origin {
        raw_below(out, attr_type::ORIGIN)?;
        put_attr(out, WELL_KNOWN, attr_type::ORIGIN, |out| {
            out.push(origin as u8);
            Ok(())
        })?;
    }
    // AS4_PATH/AS4_AGGREGATOR are built along the way for 2-octet sessions.
    let mut as4_path = None;
    if let Some(path) = &attrs.as_path {
        raw_below(out, attr_type::AS_PATH)?;
        put_attr(out, WELL_KNOWN, attr_type::AS_PATH, |out| {
            write_as_path(out, path.segments(), ctx.four_octet_as);
            Ok(())
        })?;
        if !ctx.four_octet_as && path.asns().any(|asn| asn > u32::from(u16::MAX)) {
            as4_path = Some(path);
        }
    }
    if let Some(next_hop) = attrs.next_hop.filter(|_| with_next_hop) {
        raw_below(out, attr_type::NEXT_HOP)?;
        put_attr(out, WELL_KNOWN, attr_type::NEXT_HOP, |out| {
            out.extend_from_slice(&next_hop.octets());
            Ok(())
        })?;
    }
    if let Some(med) = attrs.med {
        raw_below(out, attr_type::MULTI_EXIT_DISC)?;
        put_attr(out, OPTIONAL_NON_TRANSITIVE, attr_type::MULTI_EXIT_DISC, |out| {
            out.extend_from_slice(&med.to_be_bytes());
            Ok(())
        })?;
    }
    if let Some(local_pref) = attrs.local_pref {
        raw_below(out, attr_type::LOCAL_PREF)?;
        put_attr(out, WELL_KNOWN, attr_type::LOCAL_PREF, |out| {
            out.extend_from_slice(&local_pref.to_be_bytes());
            Ok(())
        })?;
    }
    if attrs.atomic_aggregate {
        raw_below(out, attr_type::ATOMIC_AGGREGATE)?;
        put_attr(out, WELL_KNOWN, attr_type::ATOMIC_AGGREGATE, |_| Ok(()))?;
    }
    let mut as4_aggregator = None;
    if let Some(agg) = attrs.aggregator {
        raw_below(out, attr_type::AGGREGATOR)?;
        put_attr(out, OPTIONAL_TRANSITIVE, attr_type::AGGREGATOR, |out| {
            if ctx.four_octet_as {
                out.extend_from_slice(&agg.asn.to_be_bytes());
            } else {
                out.extend_from_slice(&as2(agg.asn).to_be_bytes());
            }
            out.extend_from_slice(&agg.address.octets());
            Ok(())
        })?;
        if !ctx.four_octet_as && agg.asn > u32::from(u16::MAX) {
            as4_aggregator = Some(agg);
        }
    }
    if !attrs.communities.is_empty() {
        raw_below(out, attr_type::COMMUNITIES)?;
        put_attr(out, OPTIONAL_TRANSITIVE, attr_type::COMMUNITIES, |out| {
            for c in &attrs.communities {
                out.extend_from_slice(&c.to_be_bytes());
            }
            Ok(())
        })?;
    }
    if !attrs.extended_communities.is_empty() {
        raw_below(out, attr_type::EXTENDED_COMMUNITIES)?;
        put_attr(out, OPTIONAL_TRANSITIVE, attr_type::EXTENDED_COMMUNITIES, |out| {
            out.extend_from_slice(attrs.extended_communities.as_flattened());
            Ok(())
        })?;
    }
    if let Some(path) = as4_path {
        raw_below(out, attr_type::AS4_PATH)?;
        put_attr(out, OPTIONAL_TRANSITIVE, attr_type::AS4_PATH, |out| {
            // RFC 6793 §3: no confederation segments in AS4_PATH.
            write_as_path(out, path.segments().filter(|s| !s.is_confed()), true);
            Ok(())
        })?;
    }
    if let Some(agg) = as4_aggregator {
        raw_below(out, attr_type::AS4_AGGREGATOR)?;
        put_attr(out, OPTIONAL_TRANSITIVE, attr_type::AS4_AGGREGATOR, |out| {
            write_aggregator4(out, &agg);
            Ok(())
        })?;
    }
    if !attrs.large_communities.is_empty() {
        raw_below(out, attr_type::LARGE_COMMUNITIES)?;
        put_attr(out, OPTIONAL_TRANSITIVE, attr_type::LARGE_COMMUNITIES, |out| {
            for lc in &attrs.large_communities {
                out.extend_from_slice(&lc.global_admin.to_be_bytes());
                out.extend_from_slice(&lc.local_data1.to_be_bytes());
                out.extend_from_slice(&lc.local_data2.to_be_bytes());
            }
            Ok(())
        })?;
    }
    if let Some(otc) = attrs.otc {
        raw_below(out, attr_type::OTC)?;
        put_attr(out, OPTIONAL_TRANSITIVE, attr_type::OTC, |out| {
            out.extend_from_slice(&otc.to_be_bytes());
            Ok(())
        })?;
    }
    raw_below(out, u8::MAX)?;
    if let Some(r) = raw.next() {
        // Only a raw attribute of type 255 can be left.
        write_raw(out, r)?;
    }
    Ok(())
}

fn write_raw(out: &mut Vec<u8>, raw: &RawAttribute) -> Result<(), EncodeError> {
    let mut flags = raw.flags & (attr_flags::OPTIONAL | attr_flags::TRANSITIVE | attr_flags::PARTIAL);
    if flags & OPTIONAL_TRANSITIVE == OPTIONAL_TRANSITIVE {
        // RFC 4271 §5: passed on without being recognised.
        flags |= attr_flags::PARTIAL;
    }
    put_attr(out, flags, raw.type_code, |out| {
        out.extend_from_slice(&raw.value);
        Ok(())
    })
}

/// The 2-octet form of an ASN: AS_TRANS when it does not fit (RFC 6793 §4.2.2).
fn as2(asn: u32) -> u16 {
    u16::try_from(asn).unwrap_or(AS_TRANS)
}

fn write_aggregator4(out: &mut Vec<u8>, agg: &Aggregator) {
    out.extend_from_slice(&agg.asn.to_be_bytes());
    out.extend_from_slice(&agg.address.octets());
}

fn write_as_path<'a>(
    out: &mut Vec<u8>,
    segments: impl Iterator<Item = AsPathSegmentRef<'a>>,
    four_octet: bool,
) {
    for segment in segments {
        for chunk in segment.asns().chunks(255) {
            out.extend_from_slice(&[segment.type_code(), chunk.len() as u8]);
            for &asn in chunk {
                if four_octet {
                    out.extend_from_slice(&asn.to_be_bytes());
                } else {
                    out.extend_from_slice(&as2(asn).to_be_bytes());
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// UpdatePacker

/// Packs announcements and withdrawals into UPDATE messages.
#[derive(Debug)]
pub struct UpdatePacker<'a> {
    ctx: &'a CodecContext,
}

/// Where the prefixes of a packed UPDATE go.
enum Slot<'a> {
    /// IPv4 NLRI field (announce) after the attributes.
    Nlri { attrs: &'a [u8] },
    /// IPv4 withdrawn routes field.
    Withdrawn,
    /// An MP_REACH_NLRI (first) or MP_UNREACH_NLRI attribute whose fixed part is
    /// `mp_head`, followed by the other attributes `attrs`.
    Mp {
        type_code: u8,
        mp_head: &'a [u8],
        attrs: &'a [u8],
    },
}

impl<'a> UpdatePacker<'a> {
    pub fn new(ctx: &'a CodecContext) -> Self {
        UpdatePacker { ctx }
    }

    /// Append to `out` as many UPDATE messages as needed to announce `nlri`
    /// (all of family `afi_safi`) with `attrs`. IPv4 unicast uses the NLRI field
    /// and `attrs.next_hop`; other families use MP_REACH_NLRI with `mp_next_hop`.
    ///
    /// IPv4 unicast given an `mp_next_hop` is announced in MP_REACH_NLRI too
    /// (e.g. an IPv6 next hop, RFC 8950), without a NEXT_HOP attribute. On error
    /// `out` is left as it was.
    pub fn announce(
        &self,
        attrs: &PathAttributes,
        afi_safi: AfiSafi,
        mp_next_hop: Option<MpNextHop>,
        nlri: &[Nlri],
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        if nlri.is_empty() {
            return Ok(());
        }
        let family = Family::of(afi_safi).ok_or(EncodeError::UnsupportedFamily { afi_safi })?;
        let nlri_field = afi_safi == AfiSafi::IPV4_UNICAST && mp_next_hop.is_none();
        // The attribute set is encoded once for all the messages.
        let mut attr_bytes = Vec::with_capacity(128);
        write_attributes(&mut attr_bytes, attrs, self.ctx, nlri_field)?;
        if nlri_field {
            if attrs.next_hop.is_none() {
                return Err(EncodeError::MissingNextHop { afi_safi });
            }
            return self.pack(out, afi_safi, family, nlri, Slot::Nlri { attrs: &attr_bytes });
        }
        let next_hop = mp_next_hop.ok_or(EncodeError::MissingNextHop { afi_safi })?;
        if family == Family::V6 && matches!(next_hop, MpNextHop::V4(_)) {
            return Err(EncodeError::MissingNextHop { afi_safi });
        }
        let mut mp_head = Vec::with_capacity(37);
        put_afi_safi(&mut mp_head, afi_safi);
        write_mp_next_hop(&mut mp_head, &next_hop);
        mp_head.push(0);
        let slot = Slot::Mp {
            type_code: attr_type::MP_REACH_NLRI,
            mp_head: &mp_head,
            attrs: &attr_bytes,
        };
        self.pack(out, afi_safi, family, nlri, slot)
    }

    /// Append UPDATE messages withdrawing `nlri` of family `afi_safi`: the
    /// withdrawn routes field for IPv4 unicast, MP_UNREACH_NLRI otherwise.
    pub fn withdraw(&self, afi_safi: AfiSafi, nlri: &[Nlri], out: &mut Vec<u8>) -> Result<(), EncodeError> {
        if nlri.is_empty() {
            return Ok(());
        }
        let family = Family::of(afi_safi).ok_or(EncodeError::UnsupportedFamily { afi_safi })?;
        if afi_safi == AfiSafi::IPV4_UNICAST {
            return self.pack(out, afi_safi, family, nlri, Slot::Withdrawn);
        }
        let mut mp_head = Vec::with_capacity(3);
        put_afi_safi(&mut mp_head, afi_safi);
        self.pack(
            out,
            afi_safi,
            family,
            nlri,
            Slot::Mp {
                type_code: attr_type::MP_UNREACH_NLRI,
                mp_head: &mp_head,
                attrs: &[],
            },
        )
    }

    /// Append the End-of-RIB marker for `afi_safi` (RFC 4724 §2).
    pub fn end_of_rib(&self, afi_safi: AfiSafi, out: &mut Vec<u8>) {
        encode_end_of_rib(afi_safi, out);
    }

    fn pack(
        &self,
        out: &mut Vec<u8>,
        afi_safi: AfiSafi,
        family: Family,
        nlri: &[Nlri],
        slot: Slot<'_>,
    ) -> Result<(), EncodeError> {
        let start_all = out.len();
        let result = self.pack_inner(out, afi_safi, family, nlri, &slot);
        if result.is_err() {
            out.truncate(start_all);
        }
        result
    }

    fn pack_inner(
        &self,
        out: &mut Vec<u8>,
        afi_safi: AfiSafi,
        family: Family,
        nlri: &[Nlri],
        slot: &Slot<'_>,
    ) -> Result<(), EncodeError> {
        let max = self.ctx.max_message_len();
        let add_path = self.ctx.add_path_for(afi_safi);
        // Header, withdrawn routes length, total path attribute length.
        let base = HEADER_LEN + 4;
        let mut rest = nlri;
        while !rest.is_empty() {
            let start = out.len();
            let (count, prefix_bytes) = match slot {
                Slot::Nlri { attrs } => {
                    let fixed = base + attrs.len();
                    let (count, bytes) = fitting(rest, add_path, max.saturating_sub(fixed));
                    if count == 0 {
                        return Err(self.too_long(fixed, &rest[0], add_path));
                    }
                    begin_message(out, msg_type::UPDATE);
                    out.extend_from_slice(&[0, 0]);
                    out.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
                    out.extend_from_slice(attrs);
                    (count, bytes)
                }
                Slot::Withdrawn => {
                    let (count, bytes) = fitting(rest, add_path, max.saturating_sub(base));
                    if count == 0 {
                        return Err(self.too_long(base, &rest[0], add_path));
                    }
                    begin_message(out, msg_type::UPDATE);
                    out.extend_from_slice(&(bytes as u16).to_be_bytes());
                    (count, bytes)
                }
                Slot::Mp {
                    type_code,
                    mp_head,
                    attrs,
                } => {
                    let fixed = base + attrs.len() + mp_head.len();
                    let room = max.saturating_sub(fixed);
                    // Extended-length header (4 octets) unless the value fits in
                    // 255 octets, when the 3-octet header leaves room for more.
                    let (mut count, mut bytes) = fitting(rest, add_path, room.saturating_sub(4));
                    let mut extended = mp_head.len() + bytes > 255;
                    if !extended {
                        let short_room = room.saturating_sub(3).min(255 - mp_head.len().min(255));
                        (count, bytes) = fitting(rest, add_path, short_room);
                        extended = mp_head.len() + bytes > 255;
                    }
                    if count == 0 {
                        return Err(self.too_long(fixed + 4, &rest[0], add_path));
                    }
                    let value_len = mp_head.len() + bytes;
                    let attr_len = if extended { 4 } else { 3 } + value_len + attrs.len();
                    begin_message(out, msg_type::UPDATE);
                    out.extend_from_slice(&[0, 0]);
                    out.extend_from_slice(&(attr_len as u16).to_be_bytes());
                    if extended {
                        out.extend_from_slice(&[
                            OPTIONAL_NON_TRANSITIVE | attr_flags::EXTENDED_LENGTH,
                            *type_code,
                        ]);
                        out.extend_from_slice(&(value_len as u16).to_be_bytes());
                    } else {
                        out.extend_from_slice(&[OPTIONAL_NON_TRANSITIVE, *type_code, value_len as u8]);
                    }
                    out.extend_from_slice(mp_head);
                    (count, bytes)
                }
            };
            let before = out.len();
            write_prefixes(out, &rest[..count], afi_safi, family, add_path)?;
            debug_assert_eq!(out.len() - before, prefix_bytes);
            match slot {
                // Total path attribute length 0 after the withdrawn routes.
                Slot::Withdrawn => out.extend_from_slice(&[0, 0]),
                // The other attributes follow MP_(UN)REACH_NLRI (RFC 7606 §5.1).
                Slot::Mp { attrs, .. } => out.extend_from_slice(attrs),
                Slot::Nlri { .. } => {}
            }
            finish_message(out, start, max)?;
            rest = &rest[count..];
        }
        Ok(())
    }

    fn too_long(&self, fixed: usize, first: &Nlri, add_path: bool) -> EncodeError {
        EncodeError::TooLong {
            len: fixed + nlri::encoded_len(first, add_path),
            max: self.ctx.max_message_len(),
        }
    }
}

/// How many of the leading `nlri` fit in `room` octets, and their size.
fn fitting(nlri: &[Nlri], add_path: bool, room: usize) -> (usize, usize) {
    let mut used = 0;
    for (i, n) in nlri.iter().enumerate() {
        let len = nlri::encoded_len(n, add_path);
        if used + len > room {
            return (i, used);
        }
        used += len;
    }
    (nlri.len(), used)
}
