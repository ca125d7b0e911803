//! A zero-allocation reader of received UPDATEs: only what the end condition
//! needs (prefixes announced and withdrawn, and their NEXT_HOP). The harness
//! receives tens of millions of routes per run; decoding every attribute
//! into owned values would make the clients, not the route server, the
//! bottleneck. Checked against kumo's full decoder in the tests below.

use std::net::{Ipv4Addr, Ipv6Addr};

/// One prefix, as family + network bits (left-aligned in a u128 for IPv6, in
/// the low 32 bits for IPv4) + length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawPrefix {
    pub v6: bool,
    pub bits: u128,
    pub len: u8,
}

/// What an UPDATE does to one prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// Announced with this NEXT_HOP (IPv4 NEXT_HOP attribute, or the global
    /// address of MP_REACH_NLRI).
    Announce {
        prefix: RawPrefix,
        next_hop: Option<NextHop>,
    },
    Withdraw {
        prefix: RawPrefix,
    },
}

/// A NEXT_HOP as found in the UPDATE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextHop {
    V4(Ipv4Addr),
    V6(Ipv6Addr),
}

/// Malformed UPDATE (the route server sent something the harness cannot read).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScanError {
    #[error("UPDATE truncated at {0}")]
    Truncated(&'static str),
    #[error("bad prefix length {0}")]
    PrefixLength(u8),
}

const HEADER_LEN: usize = 19;

/// Walk one whole UPDATE message (header included), calling `visit` for every
/// prefix it announces or withdraws. ADD-PATH is never negotiated by the harness.
pub fn scan_update(message: &[u8], mut visit: impl FnMut(Event)) -> Result<(), ScanError> {
    let body = message.get(HEADER_LEN..).ok_or(ScanError::Truncated("header"))?;
    let wlen = usize::from(u16_at(body, 0).ok_or(ScanError::Truncated("withdrawn length"))?);
    let withdrawn = body.get(2..2 + wlen).ok_or(ScanError::Truncated("withdrawn"))?;
    let alen_at = 2 + wlen;
    let alen = usize::from(u16_at(body, alen_at).ok_or(ScanError::Truncated("attributes length"))?);
    let attrs = body
        .get(alen_at + 2..alen_at + 2 + alen)
        .ok_or(ScanError::Truncated("attributes"))?;
    let nlri = &body[alen_at + 2 + alen..];

    prefixes(withdrawn, false, |prefix| visit(Event::Withdraw { prefix }))?;

    // First pass over the attributes: the next hops.
    let mut next_hop_v4 = None;
    let mut mp_reach: Option<(&[u8], bool, Option<NextHop>)> = None;
    let mut mp_unreach: Option<(&[u8], bool)> = None;
    let mut rest = attrs;
    while !rest.is_empty() {
        let flags = rest[0];
        let type_code = *rest.get(1).ok_or(ScanError::Truncated("attribute type"))?;
        let (len, head) = if flags & 0x10 != 0 {
            (
                usize::from(u16_at(rest, 2).ok_or(ScanError::Truncated("attribute length"))?),
                4,
            )
        } else {
            (
                usize::from(*rest.get(2).ok_or(ScanError::Truncated("attribute length"))?),
                3,
            )
        };
        let value = rest
            .get(head..head + len)
            .ok_or(ScanError::Truncated("attribute"))?;
        rest = &rest[head + len..];
        match type_code {
            3 if value.len() == 4 => {
                next_hop_v4 = Some(Ipv4Addr::new(value[0], value[1], value[2], value[3]));
            }
            14 => {
                let afi = u16_at(value, 0).ok_or(ScanError::Truncated("MP_REACH"))?;
                let nh_len = usize::from(*value.get(3).ok_or(ScanError::Truncated("MP_REACH"))?);
                let nh = value
                    .get(4..4 + nh_len)
                    .ok_or(ScanError::Truncated("MP_REACH next hop"))?;
                let next_hop = match nh.len() {
                    4 => Some(NextHop::V4(Ipv4Addr::new(nh[0], nh[1], nh[2], nh[3]))),
                    16 | 32 => {
                        let mut a = [0u8; 16];
                        a.copy_from_slice(&nh[..16]);
                        Some(NextHop::V6(Ipv6Addr::from(a)))
                    }
                    _ => None,
                };
                // 1 reserved octet after the next hop.
                let list = value
                    .get(5 + nh_len..)
                    .ok_or(ScanError::Truncated("MP_REACH NLRI"))?;
                mp_reach = Some((list, afi == 2, next_hop));
            }
            15 => {
                let afi = u16_at(value, 0).ok_or(ScanError::Truncated("MP_UNREACH"))?;
                let list = value.get(3..).ok_or(ScanError::Truncated("MP_UNREACH"))?;
                mp_unreach = Some((list, afi == 2));
            }
            _ => {}
        }
    }
    if let Some((list, v6)) = mp_unreach {
        prefixes(list, v6, |prefix| visit(Event::Withdraw { prefix }))?;
    }
    if let Some((list, v6, next_hop)) = mp_reach {
        prefixes(list, v6, |prefix| visit(Event::Announce { prefix, next_hop }))?;
    }
    let next_hop = next_hop_v4.map(NextHop::V4);
    prefixes(nlri, false, |prefix| visit(Event::Announce { prefix, next_hop }))
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

/// Walk a list of (length, prefix) NLRI entries.
fn prefixes(mut list: &[u8], v6: bool, mut each: impl FnMut(RawPrefix)) -> Result<(), ScanError> {
    let max = if v6 { 128 } else { 32 };
    while let Some((&len, rest)) = list.split_first() {
        if len > max {
            return Err(ScanError::PrefixLength(len));
        }
        let n = usize::from(len).div_ceil(8);
        let bytes = rest.get(..n).ok_or(ScanError::Truncated("prefix"))?;
        let mut full = [0u8; 16];
        full[..n].copy_from_slice(bytes);
        let mut bits = u128::from_be_bytes(full);
        // Clear host bits, as kumo's decoder does.
        bits &= if len == 0 {
            0
        } else {
            u128::MAX << (128 - u32::from(len))
        };
        if !v6 {
            bits >>= 96;
        }
        each(RawPrefix { v6, bits, len });
        list = &rest[n..];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ipnet::IpNet;
    use kumo_wire::{
        AfiSafi, AsPath, AsPathSegment, CodecContext, Message, MpNextHop, Nlri, PathAttributes, UpdatePacker,
        decode_message, frame,
    };

    fn raw(p: &IpNet) -> RawPrefix {
        match p {
            IpNet::V4(p) => RawPrefix {
                v6: false,
                bits: u128::from(u32::from(p.network())),
                len: p.prefix_len(),
            },
            IpNet::V6(p) => RawPrefix {
                v6: true,
                bits: u128::from(p.network()),
                len: p.prefix_len(),
            },
        }
    }

    /// Every message of `bytes`, scanned, must list exactly what kumo's decoder lists.
    fn agree(bytes: &[u8]) -> usize {
        let ctx = CodecContext {
            four_octet_as: true,
            ..Default::default()
        };
        let mut at = 0;
        let mut seen = 0;
        while let Some(f) = frame(&bytes[at..], 4096).expect("frame") {
            let len = f.message.len();
            let mut scanned = Vec::new();
            scan_update(f.message, |e| scanned.push(e)).expect("scan");
            let Message::Update(u) = decode_message(f.message, &ctx).expect("decode").message else {
                panic!("not an UPDATE");
            };
            let mut decoded = Vec::new();
            for n in &u.withdrawn {
                decoded.push(Event::Withdraw {
                    prefix: raw(&n.prefix),
                });
            }
            if let Some(un) = &u.mp_unreach {
                for n in &un.nlri {
                    decoded.push(Event::Withdraw {
                        prefix: raw(&n.prefix),
                    });
                }
            }
            if let Some(r) = &u.mp_reach {
                let next_hop = match r.next_hop {
                    MpNextHop::V4(a) => NextHop::V4(a),
                    MpNextHop::V6 { global, .. } => NextHop::V6(global),
                };
                for n in &r.nlri {
                    decoded.push(Event::Announce {
                        prefix: raw(&n.prefix),
                        next_hop: Some(next_hop),
                    });
                }
            }
            for n in &u.nlri {
                decoded.push(Event::Announce {
                    prefix: raw(&n.prefix),
                    next_hop: u.attributes.next_hop.map(NextHop::V4),
                });
            }
            assert_eq!(scanned, decoded);
            seen += scanned.len();
            at += len;
        }
        assert_eq!(at, bytes.len());
        seen
    }

    #[test]
    fn agrees_with_kumo_decoder() {
        let ctx = CodecContext {
            four_octet_as: true,
            ..Default::default()
        };
        let packer = UpdatePacker::new(&ctx);
        let attrs = PathAttributes {
            as_path: Some(AsPath::from(vec![AsPathSegment::Sequence(vec![10001, 200_000])])),
            next_hop: Some(Ipv4Addr::new(127, 1, 0, 10)),
            communities: kumo_wire::thin_vec![10001 << 16 | 5],
            ..Default::default()
        };
        let v4: Vec<Nlri> = ["11.0.0.0/24", "11.0.4.0/22", "12.0.0.0/8", "11.1.128.0/17"]
            .iter()
            .map(|p| Nlri {
                prefix: p.parse().expect("prefix"),
                path_id: None,
            })
            .collect();
        let v6: Vec<Nlri> = ["2a00::/48", "2a00:1::/32", "2a00:2:8000::/33"]
            .iter()
            .map(|p| Nlri {
                prefix: p.parse().expect("prefix"),
                path_id: None,
            })
            .collect();
        let mut bytes = Vec::new();
        packer
            .announce(&attrs, AfiSafi::IPV4_UNICAST, None, &v4, &mut bytes)
            .expect("v4");
        let nh6 = MpNextHop::V6 {
            global: "2001:7f8:ffff::10".parse().expect("addr"),
            link_local: None,
        };
        packer
            .announce(&attrs, AfiSafi::IPV6_UNICAST, Some(nh6), &v6, &mut bytes)
            .expect("v6");
        packer
            .withdraw(AfiSafi::IPV4_UNICAST, &v4[1..], &mut bytes)
            .expect("w4");
        packer
            .withdraw(AfiSafi::IPV6_UNICAST, &v6[..2], &mut bytes)
            .expect("w6");
        packer.end_of_rib(AfiSafi::IPV6_UNICAST, &mut bytes);
        assert_eq!(agree(&bytes), 4 + 3 + 3 + 2);
    }

    #[test]
    fn many_prefixes_split_over_messages() {
        let ctx = CodecContext {
            four_octet_as: true,
            ..Default::default()
        };
        let attrs = PathAttributes {
            as_path: Some(AsPath::from(vec![AsPathSegment::Sequence(vec![10001])])),
            next_hop: Some(Ipv4Addr::new(127, 1, 0, 10)),
            ..Default::default()
        };
        let nlri: Vec<Nlri> = (0..3000u32)
            .map(|i| Nlri {
                prefix: IpNet::V4(
                    ipnet::Ipv4Net::new(Ipv4Addr::from((11u32 << 24) + (i << 8)), 24).expect("net"),
                ),
                path_id: None,
            })
            .collect();
        let mut bytes = Vec::new();
        UpdatePacker::new(&ctx)
            .announce(&attrs, AfiSafi::IPV4_UNICAST, None, &nlri, &mut bytes)
            .expect("pack");
        assert_eq!(agree(&bytes), 3000);
    }

    #[test]
    fn truncated_update_is_an_error() {
        // Header + withdrawn length 5 but nothing follows.
        let mut m = vec![0xff; 16];
        m.extend_from_slice(&[0, 23, 2, 0, 5]);
        assert!(scan_update(&m, |_| {}).is_err());
    }
}
