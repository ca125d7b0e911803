//! NLRI prefix encoding (RFC 4271 §4.3, RFC 4760 §5, RFC 7911 §3): the tight
//! loops shared by the decoder and the encoder.

use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use crate::{Afi, AfiSafi, Nlri, Safi};

/// The address family of the prefixes in an NLRI field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    V4,
    V6,
}

impl Family {
    /// Families whose NLRI are plain prefixes: IPv4/IPv6 unicast and multicast.
    pub(crate) fn of(afi_safi: AfiSafi) -> Option<Family> {
        let plain = matches!(afi_safi.safi, Safi::Unicast | Safi::Other(2));
        match afi_safi.afi {
            Afi::Ipv4 if plain => Some(Family::V4),
            Afi::Ipv6 if plain => Some(Family::V6),
            _ => None,
        }
    }
}

/// Why an NLRI field could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NlriError {
    /// Prefix length above 32 (IPv4) or 128 (IPv6).
    PrefixLength(u8),
    /// The field ends inside a prefix or path identifier.
    Truncated,
}

impl std::fmt::Display for NlriError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NlriError::PrefixLength(len) => write!(f, "prefix length {len} too long"),
            NlriError::Truncated => f.write_str("NLRI field ends inside a prefix"),
        }
    }
}

/// Parse a whole NLRI (or withdrawn routes) field, appending to `out`.
/// Host bits beyond the prefix length are cleared.
pub(crate) fn parse(
    data: &[u8],
    family: Family,
    add_path: bool,
    out: &mut Vec<Nlri>,
) -> Result<(), NlriError> {
    // A typical prefix takes 4 (IPv4 /24) or 7 (IPv6 /48) octets: reserve for
    // that so a full UPDATE costs one or two allocations.
    out.reserve(data.len() / if family == Family::V4 { 4 } else { 7 });
    match family {
        Family::V4 => parse_v4(data, add_path, out),
        Family::V6 => parse_v6(data, add_path, out),
    }
}

#[inline]
fn take_path_id(data: &[u8], add_path: bool) -> Result<(Option<u32>, &[u8]), NlriError> {
    if !add_path {
        return Ok((None, data));
    }
    let (id, rest) = data.split_first_chunk::<4>().ok_or(NlriError::Truncated)?;
    Ok((Some(u32::from_be_bytes(*id)), rest))
}

fn parse_v4(mut data: &[u8], add_path: bool, out: &mut Vec<Nlri>) -> Result<(), NlriError> {
    while !data.is_empty() {
        let (path_id, rest) = take_path_id(data, add_path)?;
        let (&len, rest) = rest.split_first().ok_or(NlriError::Truncated)?;
        if len > 32 {
            return Err(NlriError::PrefixLength(len));
        }
        let octets = usize::from(len).div_ceil(8);
        let (bytes, after) = rest.split_at_checked(octets).ok_or(NlriError::Truncated)?;
        // Read a whole address at once when 4 octets follow the length (all but
        // the field's last prefixes): the octets past the prefix belong to the
        // next one and the mask clears them. Copying a variable number of
        // octets into a buffer instead costs a memcpy call and a stalled load
        // per prefix (most of the parse time in the `parse` benchmark).
        let addr = match rest.first_chunk::<4>() {
            Some(word) => *word,
            None => {
                let mut addr = [0u8; 4];
                addr[..octets].copy_from_slice(bytes);
                addr
            }
        };
        let rest = after;
        let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
        let addr = Ipv4Addr::from(u32::from_be_bytes(addr) & mask);
        let net = Ipv4Net::new(addr, len).map_err(|_| NlriError::PrefixLength(len))?;
        out.push(Nlri {
            prefix: IpNet::V4(net),
            path_id,
        });
        data = rest;
    }
    Ok(())
}

fn parse_v6(mut data: &[u8], add_path: bool, out: &mut Vec<Nlri>) -> Result<(), NlriError> {
    while !data.is_empty() {
        let (path_id, rest) = take_path_id(data, add_path)?;
        let (&len, rest) = rest.split_first().ok_or(NlriError::Truncated)?;
        if len > 128 {
            return Err(NlriError::PrefixLength(len));
        }
        let octets = usize::from(len).div_ceil(8);
        let (bytes, after) = rest.split_at_checked(octets).ok_or(NlriError::Truncated)?;
        // As for IPv4: one 16-octet read when that many follow, masked.
        let addr = match rest.first_chunk::<16>() {
            Some(word) => *word,
            None => {
                let mut addr = [0u8; 16];
                addr[..octets].copy_from_slice(bytes);
                addr
            }
        };
        let rest = after;
        let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
        let addr = Ipv6Addr::from(u128::from_be_bytes(addr) & mask);
        let net = Ipv6Net::new(addr, len).map_err(|_| NlriError::PrefixLength(len))?;
        out.push(Nlri {
            prefix: IpNet::V6(net),
            path_id,
        });
        data = rest;
    }
    Ok(())
}

/// Encoded size of one NLRI.
#[inline]
pub(crate) fn encoded_len(nlri: &Nlri, add_path: bool) -> usize {
    let path_id = if add_path { 4 } else { 0 };
    path_id + 1 + usize::from(nlri.prefix.prefix_len()).div_ceil(8)
}

/// Append one NLRI. A missing path id on an ADD-PATH family is written as 0;
/// a path id on a non-ADD-PATH family is dropped (the peer cannot parse it).
#[inline]
pub(crate) fn write(out: &mut Vec<u8>, nlri: &Nlri, add_path: bool) {
    if add_path {
        out.extend_from_slice(&nlri.path_id.unwrap_or(0).to_be_bytes());
    }
    let len = nlri.prefix.prefix_len();
    let octets = usize::from(len).div_ceil(8);
    out.push(len);
    // Host bits are cleared so the encoding is canonical whatever the caller built.
    match nlri.prefix.trunc() {
        IpNet::V4(net) => out.extend_from_slice(&net.addr().octets()[..octets]),
        IpNet::V6(net) => out.extend_from_slice(&net.addr().octets()[..octets]),
    }
}

/// Whether `prefix` belongs to `family`.
pub(crate) fn matches_family(prefix: &IpNet, family: Family) -> bool {
    matches!(
        (prefix, family),
        (IpNet::V4(_), Family::V4) | (IpNet::V6(_), Family::V6)
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn round(data: &[u8], family: Family, add_path: bool) -> Result<Vec<Nlri>, NlriError> {
        let mut out = Vec::new();
        parse(data, family, add_path, &mut out).map(|()| out)
    }

    #[test]
    fn v4_prefixes_parse_and_host_bits_are_cleared() {
        let got = round(
            &[0, 8, 10, 24, 192, 0, 2, 31, 198, 51, 100, 255, 32, 1, 2, 3, 4],
            Family::V4,
            false,
        )
        .unwrap();
        let want: Vec<IpNet> = [
            "0.0.0.0/0",
            "10.0.0.0/8",
            "192.0.2.0/24",
            "198.51.100.254/31",
            "1.2.3.4/32",
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
        assert_eq!(got.iter().map(|n| n.prefix).collect::<Vec<_>>(), want);
        assert!(got.iter().all(|n| n.path_id.is_none()));
    }

    #[test]
    fn v6_prefix_and_path_id() {
        let got = round(&[0, 0, 0, 7, 33, 0x20, 0x01, 0x0d, 0xb8, 0x00], Family::V6, true).unwrap();
        assert_eq!(
            got,
            vec![Nlri {
                prefix: "2001:db8::/33".parse().unwrap(),
                path_id: Some(7)
            }]
        );
        // 0xff in the fifth octet: only its top bit is inside /33.
        let got = round(&[33, 0x20, 0x01, 0x0d, 0xb8, 0xff], Family::V6, false).unwrap();
        assert_eq!(got[0].prefix, "2001:db8:8000::/33".parse::<IpNet>().unwrap());
    }

    #[test]
    fn bad_lengths_and_truncation() {
        assert_eq!(
            round(&[33, 1, 2, 3, 4, 5], Family::V4, false),
            Err(NlriError::PrefixLength(33))
        );
        assert_eq!(
            round(&[129], Family::V6, false),
            Err(NlriError::PrefixLength(129))
        );
        assert_eq!(round(&[24, 10, 0], Family::V4, false), Err(NlriError::Truncated));
        assert_eq!(round(&[0, 0, 1], Family::V4, true), Err(NlriError::Truncated));
    }

    /// The prefix `len` bytes describe, computed bit by bit (no shortcut shared with `parse`).
    fn reference(len: u8, bytes: &[u8], width: usize) -> Vec<u8> {
        let mut addr = vec![0u8; width];
        for bit in 0..usize::from(len) {
            if bytes[bit / 8] & (0x80 >> (bit % 8)) != 0 {
                addr[bit / 8] |= 0x80 >> (bit % 8);
            }
        }
        addr
    }

    fn octets(prefix: &IpNet) -> Vec<u8> {
        match prefix {
            IpNet::V4(n) => n.addr().octets().to_vec(),
            IpNet::V6(n) => n.addr().octets().to_vec(),
        }
    }

    proptest::proptest! {
        /// A prefix followed by a whole address's worth of octets (read at
        /// once, the fast path) and the same prefix last in the field (copied
        /// octet by octet) decode alike: the next prefix's octets and the host
        /// bits never leak into the address.
        #[test]
        fn whole_word_read_matches_tail_copy(
            v6 in proptest::bool::ANY,
            len_seed in 0u8..=128,
            raw in proptest::collection::vec(proptest::num::u8::ANY, 16),
            next_raw in proptest::collection::vec(proptest::num::u8::ANY, 16),
            add_path in proptest::bool::ANY,
        ) {
            let (family, width, max) = if v6 { (Family::V6, 16, 128) } else { (Family::V4, 4, 32) };
            let len = len_seed % (max + 1);
            let n = usize::from(len).div_ceil(8);
            let encode = |buf: &mut Vec<u8>, len: u8, bytes: &[u8], id: u32| {
                if add_path {
                    buf.extend_from_slice(&id.to_be_bytes());
                }
                buf.push(len);
                buf.extend_from_slice(&bytes[..usize::from(len).div_ceil(8)]);
            };
            // [ours, a full-length next prefix, ours again last].
            let mut field = Vec::new();
            encode(&mut field, len, &raw, 1);
            encode(&mut field, max, &next_raw, 2);
            encode(&mut field, len, &raw, 3);
            let got = round(&field, family, add_path).unwrap();
            proptest::prop_assert_eq!(got.len(), 3);
            let want = reference(len, &raw[..n], width);
            proptest::prop_assert_eq!(octets(&got[0].prefix), want.clone());
            proptest::prop_assert_eq!(octets(&got[2].prefix), want);
            proptest::prop_assert_eq!(got[0].prefix, got[2].prefix);
            proptest::prop_assert_eq!(got[0].prefix.prefix_len(), len);
            proptest::prop_assert_eq!(octets(&got[1].prefix), next_raw[..width].to_vec());
            let ids: Vec<_> = got.iter().map(|n| n.path_id).collect();
            let want_ids = if add_path { vec![Some(1), Some(2), Some(3)] } else { vec![None; 3] };
            proptest::prop_assert_eq!(ids, want_ids);
        }
    }

    #[test]
    fn write_inverts_parse() {
        let nlri = [
            Nlri {
                prefix: "203.0.113.0/25".parse().unwrap(),
                path_id: Some(9),
            },
            Nlri {
                prefix: "0.0.0.0/0".parse().unwrap(),
                path_id: None,
            },
        ];
        let mut buf = Vec::new();
        for n in &nlri {
            write(&mut buf, n, true);
        }
        assert_eq!(
            buf.len(),
            nlri.iter().map(|n| encoded_len(n, true)).sum::<usize>()
        );
        let back = round(&buf, Family::V4, true).unwrap();
        assert_eq!(back[0], nlri[0]);
        assert_eq!(
            back[1],
            Nlri {
                prefix: nlri[1].prefix,
                path_id: Some(0)
            }
        );
    }
}
