//! Malformed input over real sessions: every case of the table is sent as raw
//! bytes by its own client (during the OPEN exchange or once Established), and
//! kumo's answer is checked against RFC 4271 / RFC 6608 / RFC 7606: the
//! NOTIFICATION code and subcode of a session reset, treat-as-withdraw,
//! attribute discard, or nothing at all. After each case the session state is
//! read from kumo, and two bystanders prove that nobody else was touched: an
//! announcer whose two routes must stay exactly as they were at a receiver.
//! The test prints the table (`cargo test -p kumo --test malformed -- --nocapture`).
#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use ipnet::IpNet;
use kumo::daemon::Daemon;
use kumo::speaker::{Speaker, SpeakerConfig, SpeakerError};
use kumo_session::State;
use kumo_wire::{
    AsPath, AsPathSegment, CodecContext, Message, Origin, PathAttributes, decode_message, frame,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const NET: u8 = 230;
const WAIT: Duration = Duration::from_secs(5);
/// The first victim's last address octet and AS number; case `i` uses `+ i`.
const VICTIM_HOST: u8 = 10;
const VICTIM_ASN: u32 = 65100;

/// What RFC 4271 / 6608 / 7606 say kumo must do.
#[derive(Debug, Clone)]
enum Expect {
    /// NOTIFICATION with this code and subcode, then the session is closed
    /// and the victim's routes are withdrawn from everyone.
    Reset(u8, u8),
    /// RFC 7606 treat-as-withdraw: the UPDATE's prefix is withdrawn, the session stays up.
    Withdraw,
    /// The UPDATE is accepted (an attribute may be discarded); the receiver's
    /// copy of the route must satisfy the check. The session stays up.
    Accept(fn(&PathAttributes) -> bool),
    /// Nothing happens: no NOTIFICATION, no route change, the session stays up.
    Ignore,
    /// The peer closed the session itself (its NOTIFICATION): kumo answers
    /// nothing, closes and withdraws the peer's routes.
    PeerClosed,
    /// OPEN exchange: kumo accepts the OPEN (answers KEEPALIVE).
    OpenAccepted,
}

impl Expect {
    fn describe(&self) -> String {
        match self {
            Expect::Reset(code, subcode) => format!("NOTIFICATION {code}/{subcode}"),
            Expect::Withdraw => "treat-as-withdraw".into(),
            Expect::Accept(_) => "accept".into(),
            Expect::Ignore => "ignore".into(),
            Expect::PeerClosed => "close, no answer".into(),
            Expect::OpenAccepted => "OPEN accepted".into(),
        }
    }
}

/// When the bytes are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// As the first message of a new connection (instead of the OPEN).
    Open,
    /// On an Established session, after one valid announcement.
    Established,
}

/// What a case's bytes may depend on: the victim's AS and its prefix (hex NLRI).
struct Victim {
    asn: u32,
    /// 10.i.0.0/16 as NLRI hex, e.g. `10 0a 05`.
    nlri: String,
}

impl Victim {
    /// ORIGIN IGP, AS_PATH (victim), NEXT_HOP 192.0.2.9 on a 4-octet session.
    fn base(&self) -> String {
        format!("{} | {} | {}", ORIGIN, self.as_path(), NEXT_HOP)
    }
    fn as_path(&self) -> String {
        format!("40 02 06 02 01 {:08x}", self.asn)
    }
}

const ORIGIN: &str = "40 01 01 00";
const NEXT_HOP: &str = "40 03 04 c0000209";

struct Case {
    name: &'static str,
    /// The bytes, in short, for the table.
    short: &'static str,
    /// The rule that decides the expected action.
    rfc: &'static str,
    phase: Phase,
    bytes: fn(&Victim) -> Vec<u8>,
    expect: Expect,
}

/// Hex to bytes; whitespace and `|` separators are ignored.
fn h(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(|b| b.is_ascii_hexdigit()).collect();
    assert!(digits.len().is_multiple_of(2), "odd hex length: {s}");
    digits
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
        .collect()
}

/// A full message: marker, length, type, body.
fn msg(msg_type: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![0xff; 16];
    m.extend_from_slice(&((19 + body.len()) as u16).to_be_bytes());
    m.push(msg_type);
    m.extend_from_slice(body);
    m
}

/// An UPDATE from its three parts, given as hex.
fn update(withdrawn: &str, attrs: &str, nlri: &str) -> Vec<u8> {
    let (withdrawn, attrs, nlri) = (h(withdrawn), h(attrs), h(nlri));
    let mut body = (withdrawn.len() as u16).to_be_bytes().to_vec();
    body.extend_from_slice(&withdrawn);
    body.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    body.extend_from_slice(&attrs);
    body.extend_from_slice(&nlri);
    msg(2, &body)
}

/// The victim's base attributes plus `extra`, announcing its prefix.
fn with(v: &Victim, extra: &str) -> Vec<u8> {
    update("", &format!("{} {extra}", v.base()), &v.nlri)
}

/// OPEN with `version`, 2-octet AS field `my_as`, `hold`, `id` and these optional parameters.
fn open_msg(version: u8, my_as: u16, hold: u16, id: &str, params: &str) -> Vec<u8> {
    let params = h(params);
    let mut body = vec![version];
    body.extend_from_slice(&my_as.to_be_bytes());
    body.extend_from_slice(&hold.to_be_bytes());
    body.extend_from_slice(&h(id));
    body.push(params.len() as u8);
    body.extend_from_slice(&params);
    msg(1, &body)
}

/// Capabilities: IPv4 unicast and 4-octet AS `asn`.
fn caps(asn: u32) -> String {
    format!("02 06 01 04 0001 0001 | 02 06 41 04 {asn:08x}")
}

/// A valid OPEN of the victim with one field changed by the caller.
fn open_of(v: &Victim, version: u8, hold: u16, id: &str, extra_params: &str) -> Vec<u8> {
    open_msg(
        version,
        u16::try_from(v.asn).unwrap(),
        hold,
        id,
        &format!("{} {extra_params}", caps(v.asn)),
    )
}

fn cases() -> Vec<Case> {
    use Expect::*;
    use Phase::*;
    vec![
        // --- OPEN exchange (RFC 4271 §6.2, RFC 5492, RFC 6608)
        Case {
            name: "OPEN version 3",
            short: "OPEN 03 ...",
            rfc: "4271 §6.2: Unsupported Version Number, data = 4",
            phase: Open,
            bytes: |v| open_of(v, 3, 90, "0a000001", ""),
            expect: Reset(2, 1),
        },
        Case {
            name: "OPEN hold time 1",
            short: "OPEN hold 0001",
            rfc: "4271 §6.2: Unacceptable Hold Time",
            phase: Open,
            bytes: |v| open_of(v, 4, 1, "0a000001", ""),
            expect: Reset(2, 6),
        },
        Case {
            name: "OPEN hold time 2",
            short: "OPEN hold 0002",
            rfc: "4271 §6.2: Unacceptable Hold Time",
            phase: Open,
            bytes: |v| open_of(v, 4, 2, "0a000001", ""),
            expect: Reset(2, 6),
        },
        Case {
            name: "OPEN BGP identifier 0.0.0.0",
            short: "OPEN id 00000000",
            rfc: "4271 §6.2 / 6286: Bad BGP Identifier",
            phase: Open,
            bytes: |v| open_of(v, 4, 90, "00000000", ""),
            expect: Reset(2, 3),
        },
        Case {
            name: "OPEN unsupported optional parameter",
            short: "OPEN param 01 02 0000",
            rfc: "4271 §6.2: Unsupported Optional Parameter",
            phase: Open,
            bytes: |v| open_of(v, 4, 90, "0a000001", "01 02 0000"),
            expect: Reset(2, 4),
        },
        Case {
            name: "OPEN wrong peer AS",
            short: "OPEN AS 65099, cap 41 65099",
            rfc: "4271 §6.2: Bad Peer AS",
            phase: Open,
            bytes: |_| open_msg(4, 65099, 90, "0a000001", &caps(65099)),
            expect: Reset(2, 2),
        },
        Case {
            name: "OPEN unknown capability",
            short: "OPEN cap ee 02 abcd",
            rfc: "5492 §5: ignore an unknown capability",
            phase: Open,
            bytes: |v| open_of(v, 4, 90, "0a000001", "02 04 ee 02 abcd"),
            expect: OpenAccepted,
        },
        Case {
            name: "OPEN shorter than 29 octets",
            short: "OPEN len 28",
            rfc: "4271 §6.1: Bad Message Length",
            phase: Open,
            bytes: |_| msg(1, &h("04 fde8 005a c0000201")),
            expect: Reset(1, 2),
        },
        Case {
            name: "OPEN with a bad marker",
            short: "fe ff.. OPEN",
            rfc: "4271 §6.1: Connection Not Synchronized",
            phase: Open,
            bytes: |v| {
                let mut m = open_of(v, 4, 90, "0a000001", "");
                m[3] = 0;
                m
            },
            expect: Reset(1, 1),
        },
        Case {
            name: "UPDATE before OPEN",
            short: "UPDATE in OpenSent",
            rfc: "6608: FSM Error, unexpected message in OpenSent",
            phase: Open,
            bytes: |v| with(v, ""),
            expect: Reset(5, 1),
        },
        // --- Header (RFC 4271 §6.1) on an Established session
        Case {
            name: "marker not all ones",
            short: "KEEPALIVE, marker[0]=fe",
            rfc: "4271 §6.1: Connection Not Synchronized",
            phase: Established,
            bytes: |_| {
                let mut m = msg(4, &[]);
                m[0] = 0xfe;
                m
            },
            expect: Reset(1, 1),
        },
        Case {
            name: "length 18",
            short: "len 0012 type 4",
            rfc: "4271 §6.1: Bad Message Length",
            phase: Established,
            bytes: |_| {
                let mut m = msg(4, &[]);
                m[17] = 18;
                m
            },
            expect: Reset(1, 2),
        },
        Case {
            name: "length 4097 without Extended Message",
            short: "len 1001 type 2",
            rfc: "4271 §6.1, 8654: Bad Message Length",
            phase: Established,
            bytes: |_| msg(2, &vec![0; 4097 - 19]),
            expect: Reset(1, 2),
        },
        Case {
            name: "unknown message type",
            short: "type 07",
            rfc: "4271 §6.1: Bad Message Type",
            phase: Established,
            bytes: |_| msg(7, &[]),
            expect: Reset(1, 3),
        },
        Case {
            name: "KEEPALIVE with a body",
            short: "type 4 len 20",
            rfc: "4271 §6.1: Bad Message Length (KEEPALIVE is 19)",
            phase: Established,
            bytes: |_| msg(4, &[0]),
            expect: Reset(1, 2),
        },
        Case {
            name: "OPEN on an Established session",
            short: "OPEN in Established",
            rfc: "6608: FSM Error, unexpected message in Established",
            phase: Established,
            bytes: |v| open_of(v, 4, 90, "0a000001", ""),
            expect: Reset(5, 3),
        },
        Case {
            name: "NOTIFICATION from the peer",
            short: "NOTIFICATION 06 02",
            rfc: "4271 §6.4, §8.2.2: close, answer nothing",
            phase: Established,
            bytes: |_| msg(3, &[6, 2]),
            expect: PeerClosed,
        },
        Case {
            name: "ROUTE-REFRESH for an unnegotiated family",
            short: "ROUTE-REFRESH 0001 00 02",
            rfc: "2918 §4 / 7313 §4: ignore",
            phase: Established,
            bytes: |_| msg(5, &h("0001 00 02")),
            expect: Ignore,
        },
        Case {
            name: "ROUTE-REFRESH of 24 octets",
            short: "ROUTE-REFRESH 0001 00 01 00",
            rfc: "4271 §6.1: Bad Message Length",
            phase: Established,
            bytes: |_| msg(5, &h("0001 00 01 00")),
            expect: Reset(1, 2),
        },
        // --- UPDATE framing (RFC 4271 §6.3, RFC 7606 §4, §5.3)
        Case {
            name: "withdrawn length overrun",
            short: "UPDATE wlen 0005, 4 left",
            rfc: "4271 §6.3 / 7606 §4: Malformed Attribute List",
            phase: Established,
            bytes: |_| msg(2, &h("0005 18 0a00 0000")),
            expect: Reset(3, 1),
        },
        Case {
            name: "path attribute length overrun",
            short: "UPDATE alen 0010, 4 left",
            rfc: "4271 §6.3 / 7606 §4: Malformed Attribute List",
            phase: Established,
            bytes: |_| msg(2, &h("0000 0010 40 01 01 00")),
            expect: Reset(3, 1),
        },
        Case {
            name: "NLRI prefix length 33",
            short: "NLRI 21 0a000000 00",
            rfc: "4271 §6.3 / 7606 §5.3: Invalid Network Field",
            phase: Established,
            bytes: |v| update("", &v.base(), "21 0a000000 00"),
            expect: Reset(3, 10),
        },
        Case {
            name: "NLRI overrun",
            short: "NLRI 18 0a00 (3rd octet missing)",
            rfc: "4271 §6.3 / 7606 §5.3: Invalid Network Field",
            phase: Established,
            bytes: |v| update("", &v.base(), "18 0a00"),
            expect: Reset(3, 10),
        },
        Case {
            name: "withdrawn prefix length 33",
            short: "withdrawn 21 0a000000 00",
            rfc: "4271 §6.3 / 7606 §5.3: Invalid Network Field",
            phase: Established,
            bytes: |_| update("21 0a000000 00", "", ""),
            expect: Reset(3, 10),
        },
        Case {
            name: "ADD-PATH path id without ADD-PATH",
            short: "NLRI 00000001 18 c00002",
            rfc: "7911 not negotiated: NLRI unparsable, 7606 §5.3",
            phase: Established,
            bytes: |v| update("", &v.base(), "00000001 18 c00002"),
            expect: Reset(3, 10),
        },
        // --- Per attribute (RFC 7606 §3, §7)
        Case {
            name: "ORIGIN with the optional flag",
            short: "c0 01 01 00",
            rfc: "7606 §3(c): treat-as-withdraw",
            phase: Established,
            bytes: |v| {
                update(
                    "",
                    &format!("c0 01 01 00 | {} | {NEXT_HOP}", v.as_path()),
                    &v.nlri,
                )
            },
            expect: Withdraw,
        },
        Case {
            name: "ORIGIN of length 2",
            short: "40 01 02 0000",
            rfc: "7606 §7.1: treat-as-withdraw",
            phase: Established,
            bytes: |v| {
                update(
                    "",
                    &format!("40 01 02 0000 | {} | {NEXT_HOP}", v.as_path()),
                    &v.nlri,
                )
            },
            expect: Withdraw,
        },
        Case {
            name: "ORIGIN value 5",
            short: "40 01 01 05",
            rfc: "7606 §7.1: treat-as-withdraw",
            phase: Established,
            bytes: |v| {
                update(
                    "",
                    &format!("40 01 01 05 | {} | {NEXT_HOP}", v.as_path()),
                    &v.nlri,
                )
            },
            expect: Withdraw,
        },
        Case {
            name: "NEXT_HOP of length 5",
            short: "40 03 05 c000020900",
            rfc: "7606 §7.3: treat-as-withdraw",
            phase: Established,
            bytes: |v| {
                update(
                    "",
                    &format!("{ORIGIN} | {} | 40 03 05 c000020900", v.as_path()),
                    &v.nlri,
                )
            },
            expect: Withdraw,
        },
        Case {
            name: "AS_PATH segment type 5",
            short: "40 02 06 05 01 ...",
            rfc: "7606 §7.2: treat-as-withdraw",
            phase: Established,
            bytes: |v| {
                update(
                    "",
                    &format!("{ORIGIN} | 40 02 06 05 01 {:08x} | {NEXT_HOP}", v.asn),
                    &v.nlri,
                )
            },
            expect: Withdraw,
        },
        Case {
            name: "AS_PATH segment overrun",
            short: "40 02 06 02 02 <one ASN>",
            rfc: "7606 §7.2: treat-as-withdraw",
            phase: Established,
            bytes: |v| {
                update(
                    "",
                    &format!("{ORIGIN} | 40 02 06 02 02 {:08x} | {NEXT_HOP}", v.asn),
                    &v.nlri,
                )
            },
            expect: Withdraw,
        },
        Case {
            name: "AS_PATH of 2-octet ASNs on a 4-octet session",
            short: "40 02 04 02 01 fde8",
            rfc: "7606 §7.2: treat-as-withdraw",
            phase: Established,
            bytes: |v| {
                update(
                    "",
                    &format!("{ORIGIN} | 40 02 04 02 01 fde8 | {NEXT_HOP}"),
                    &v.nlri,
                )
            },
            expect: Withdraw,
        },
        Case {
            name: "missing ORIGIN",
            short: "AS_PATH, NEXT_HOP, NLRI",
            rfc: "7606 §3(d): treat-as-withdraw",
            phase: Established,
            bytes: |v| update("", &format!("{} | {NEXT_HOP}", v.as_path()), &v.nlri),
            expect: Withdraw,
        },
        Case {
            name: "missing AS_PATH",
            short: "ORIGIN, NEXT_HOP, NLRI",
            rfc: "7606 §3(d): treat-as-withdraw",
            phase: Established,
            bytes: |v| update("", &format!("{ORIGIN} | {NEXT_HOP}"), &v.nlri),
            expect: Withdraw,
        },
        Case {
            name: "missing NEXT_HOP with NLRI",
            short: "ORIGIN, AS_PATH, NLRI",
            rfc: "7606 §3(d): treat-as-withdraw",
            phase: Established,
            bytes: |v| update("", &format!("{ORIGIN} | {}", v.as_path()), &v.nlri),
            expect: Withdraw,
        },
        Case {
            name: "duplicate ORIGIN",
            short: "40 01 01 00 .. 40 01 01 02",
            rfc: "7606 §3(g): keep the first, discard the rest",
            phase: Established,
            bytes: |v| with(v, "40 01 01 02"),
            expect: Accept(|a| a.origin == Some(Origin::Igp)),
        },
        Case {
            name: "MED of length 2",
            short: "80 04 02 0001",
            rfc: "7606 §7.4: treat-as-withdraw",
            phase: Established,
            bytes: |v| with(v, "80 04 02 0001"),
            expect: Withdraw,
        },
        Case {
            name: "ATOMIC_AGGREGATE with a value",
            short: "40 06 01 00",
            rfc: "7606 §7.6: attribute discard",
            phase: Established,
            bytes: |v| with(v, "40 06 01 00"),
            expect: Accept(|a| !a.atomic_aggregate),
        },
        Case {
            name: "AGGREGATOR of length 7",
            short: "c0 07 07 ...",
            rfc: "7606 §7.7: attribute discard",
            phase: Established,
            bytes: |v| with(v, "c0 07 07 0000fde8 c00002"),
            expect: Accept(|a| a.aggregator.is_none()),
        },
        Case {
            name: "COMMUNITIES length not a multiple of 4",
            short: "c0 08 05 ...",
            rfc: "7606 §7.8: treat-as-withdraw",
            phase: Established,
            bytes: |v| with(v, "c0 08 05 0000000100"),
            expect: Withdraw,
        },
        Case {
            name: "EXTENDED_COMMUNITIES length not a multiple of 8",
            short: "c0 10 07 ...",
            rfc: "7606 §7.14: treat-as-withdraw",
            phase: Established,
            bytes: |v| with(v, "c0 10 07 00020000000001"),
            expect: Withdraw,
        },
        Case {
            name: "LARGE_COMMUNITIES length not a multiple of 12",
            short: "c0 20 0b ...",
            rfc: "8092 §6: treat-as-withdraw",
            phase: Established,
            bytes: |v| with(v, "c0 20 0b 0000000100000002000000"),
            expect: Withdraw,
        },
        Case {
            name: "unrecognised well-known attribute",
            short: "40 32 02 abcd",
            rfc: "4271 §6.3: Unrecognized Well-known Attribute",
            phase: Established,
            bytes: |v| with(v, "40 32 02 abcd"),
            expect: Reset(3, 2),
        },
        Case {
            name: "unknown optional transitive attribute",
            short: "c0 63 02 abcd",
            rfc: "4271 §5 / 7947 §2.3: pass on unchanged",
            phase: Established,
            bytes: |v| with(v, "c0 63 02 abcd"),
            expect: Accept(|a| {
                a.unknown
                    .iter()
                    .any(|u| u.type_code == 0x63 && u.value == [0xab, 0xcd])
            }),
        },
        Case {
            name: "unknown optional non-transitive attribute",
            short: "80 64 02 abcd",
            rfc: "4271 §5: ignore, do not pass on",
            phase: Established,
            bytes: |v| with(v, "80 64 02 abcd"),
            expect: Accept(|a| a.unknown.iter().all(|u| u.type_code != 0x64)),
        },
        // --- MP_REACH_NLRI / MP_UNREACH_NLRI (RFC 4760, RFC 7606 §5.3, §7.11)
        Case {
            name: "MP_REACH next hop length 5",
            short: "80 0e .. 0001 01 05 ...",
            rfc: "7606 §7.11: session reset (Optional Attribute Error)",
            phase: Established,
            bytes: |v| {
                update(
                    "",
                    &format!(
                        "80 0e 0e 0001 01 05 c000020900 00 18 c00002 | {ORIGIN} | {}",
                        v.as_path()
                    ),
                    "",
                )
            },
            expect: Reset(3, 9),
        },
        Case {
            name: "MP_REACH IPv6 with a 4-octet next hop",
            short: "80 0e .. 0002 01 04 ...",
            rfc: "7606 §7.11: session reset (Optional Attribute Error)",
            phase: Established,
            bytes: |v| {
                update(
                    "",
                    &format!("80 0e 0a 0002 01 04 c0000209 00 00 | {ORIGIN} | {}", v.as_path()),
                    "",
                )
            },
            expect: Reset(3, 9),
        },
        Case {
            name: "MP_REACH IPv6 prefix length 129",
            short: "80 0e .. 81",
            rfc: "7606 §5.3: session reset (Invalid Network Field)",
            phase: Established,
            bytes: |v| {
                update(
                    "",
                    &format!(
                        "80 0e 16 0002 01 10 20010db8000000000000000000000009 00 81 | {ORIGIN} | {}",
                        v.as_path()
                    ),
                    "",
                )
            },
            expect: Reset(3, 10),
        },
        Case {
            name: "repeated MP_UNREACH_NLRI",
            short: "80 0f 03 .., 80 0f 03 ..",
            rfc: "7606 §3(g): Malformed Attribute List",
            phase: Established,
            bytes: |_| update("", "80 0f 03 0002 01 | 80 0f 03 0002 01", ""),
            expect: Reset(3, 1),
        },
    ]
}

fn config(n: usize) -> String {
    let mut text = format!(
        "[server]\nasn = 64500\nrouter_id = \"192.0.2.254\"\nlisten = [\"127.0.{NET}.1:0\"]\nhold_time = 30\n\n\
         [[clients]]\nname = \"announcer\"\nasn = 65002\nip = [\"127.0.{NET}.2\"]\n\n\
         [[clients]]\nname = \"receiver\"\nasn = 65003\nip = [\"127.0.{NET}.3\"]\n"
    );
    for i in 0..n {
        text.push_str(&format!(
            "\n[[clients]]\nname = \"victim{i}\"\nasn = {}\nip = [\"127.0.{NET}.{}\"]\n",
            VICTIM_ASN + i as u32,
            usize::from(VICTIM_HOST) + i
        ));
    }
    text
}

fn speaker(host: u8, asn: u32) -> SpeakerConfig {
    SpeakerConfig {
        hold_time: 30,
        ..SpeakerConfig::new(
            IpAddr::V4(Ipv4Addr::new(127, 0, NET, host)),
            asn,
            Ipv4Addr::new(10, 0, 0, host),
        )
    }
}

fn attrs(asn: u32, med: u32) -> PathAttributes {
    PathAttributes {
        origin: Some(Origin::Igp),
        as_path: Some(AsPath::from(vec![AsPathSegment::Sequence(vec![asn])])),
        next_hop: Some(Ipv4Addr::new(192, 0, 2, 9)),
        med: Some(med),
        communities: kumo_wire::thin_vec![(asn << 16) | 1],
        ..Default::default()
    }
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn get(s: &Speaker, prefix: IpNet) -> Option<&PathAttributes> {
    s.rib.iter().find(|(n, _)| n.prefix == prefix).map(|(_, a)| a)
}

async fn state_of(daemon: &Daemon, name: &str) -> State {
    let (id, _) = daemon.peer_by_name(name).unwrap();
    daemon
        .query(move |core| core.clients()[id.0 as usize].status.snapshot().state)
        .await
        .unwrap()
}

/// Read messages from a raw connection until a NOTIFICATION, the connection's
/// end or `timeout`: returns the messages' names and the NOTIFICATION, if any.
async fn read_raw(
    stream: &mut TcpStream,
    timeout: Duration,
) -> (Vec<&'static str>, Option<(u8, u8, Vec<u8>)>) {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut buf = Vec::new();
    let mut seen = Vec::new();
    let ctx = CodecContext::default();
    loop {
        while let Ok(Some(f)) = frame(&buf, kumo_wire::MAX_MESSAGE_LEN) {
            let len = f.message.len();
            match decode_message(f.message, &ctx).map(|d| d.message) {
                Ok(Message::Open(_)) => seen.push("OPEN"),
                Ok(Message::Keepalive) => seen.push("KEEPALIVE"),
                Ok(Message::Notification(n)) => return (seen, Some((n.code, n.subcode, n.data))),
                Ok(_) => seen.push("other"),
                Err(_) => seen.push("undecodable"),
            }
            buf.drain(..len);
        }
        let mut chunk = [0u8; 4096];
        match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                seen.push("EOF");
                return (seen, None);
            }
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => return (seen, None),
        }
    }
}

struct Bystanders {
    announcer: Speaker,
    receiver: Speaker,
    prefixes: Vec<IpNet>,
    sent: PathAttributes,
}

impl Bystanders {
    /// The receiver still has exactly the announcer's routes, unchanged, and
    /// neither session got a NOTIFICATION.
    async fn untouched(&mut self) -> bool {
        // Keep both sessions read (KEEPALIVEs answered, victims' routes consumed).
        let a = self
            .announcer
            .recv_until(Duration::from_millis(20), |_| false)
            .await;
        let r = self
            .receiver
            .recv_until(Duration::from_millis(20), |_| false)
            .await;
        matches!(a, Ok(false))
            && matches!(r, Ok(false))
            && self
                .prefixes
                .iter()
                .all(|p| get(&self.receiver, *p) == Some(&self.sent))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_input_table_over_real_sessions() {
    let cases = cases();
    assert!(cases.len() >= 30, "only {} cases", cases.len());
    let daemon = Daemon::start(kumo_config::parse(&config(cases.len())).unwrap())
        .await
        .unwrap();
    let bgp: SocketAddr = daemon.listening[0];

    let mut announcer = Speaker::connect(&speaker(2, 65002), bgp).await.unwrap();
    let mut receiver = Speaker::connect(&speaker(3, 65003), bgp).await.unwrap();
    let prefixes = vec![net("198.51.100.0/24"), net("203.0.113.0/24")];
    let sent = attrs(65002, 42);
    announcer.announce(&sent, None, &prefixes).await.unwrap();
    assert!(
        receiver
            .recv_until(WAIT, |s| prefixes.iter().all(|p| get(s, *p).is_some()))
            .await
            .unwrap()
    );
    let mut by = Bystanders {
        announcer,
        receiver,
        prefixes,
        sent,
    };
    assert!(by.untouched().await);

    println!("| case | bytes | expected (RFC) | kumo | state after | others untouched |");
    println!("|---|---|---|---|---|---|");
    let mut failures = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let host = VICTIM_HOST + i as u8;
        let asn = VICTIM_ASN + i as u32;
        let prefix = net(&format!("10.{i}.0.0/16"));
        let victim = Victim {
            asn,
            nlri: format!("10 0a {i:02x}"),
        };
        let bytes = (case.bytes)(&victim);
        let name = format!("victim{i}");
        // The state is read by the runners while the victim's connection is still open.
        let (observed, state) = match case.phase {
            Phase::Open => run_open_case(&daemon, &name, bgp, host, &bytes, &case.expect).await,
            Phase::Established => {
                let v = (&daemon, name.as_str(), host, asn, prefix);
                run_established_case(bgp, v, &bytes, &case.expect, &mut by).await
            }
        };
        let state_ok = match (&case.expect, case.phase) {
            (Expect::Reset(..) | Expect::PeerClosed, _) | (_, Phase::Open) => state != State::Established,
            _ => state == State::Established,
        };
        let untouched = by.untouched().await;
        let (kumo, ok) = match observed {
            Ok(what) => (what, true),
            Err(what) => (what, false),
        };
        println!(
            "| {} | `{}` | {} ({}) | {} | {:?} | {} |",
            case.name,
            case.short,
            case.rfc,
            case.expect.describe(),
            kumo,
            state,
            if untouched { "yes" } else { "NO" }
        );
        if !(ok && state_ok && untouched) {
            failures.push(format!(
                "{}: {kumo}, state {state:?}, untouched {untouched}",
                case.name
            ));
        }
    }
    assert!(failures.is_empty(), "failed cases:\n{}", failures.join("\n"));

    // Both bystanders still converge on new routes after the whole table.
    let late = net("192.0.2.0/24");
    by.announcer.announce(&by.sent, None, &[late]).await.unwrap();
    assert!(
        by.receiver
            .recv_until(WAIT, |s| get(s, late).is_some())
            .await
            .unwrap()
    );
    assert_eq!(state_of(&daemon, "announcer").await, State::Established);
    assert_eq!(state_of(&daemon, "receiver").await, State::Established);
    // The announcer's session never went down.
    let (id, _) = daemon.peer_by_name("announcer").unwrap();
    let flaps = daemon
        .query(move |core| core.clients()[id.0 as usize].status.snapshot().flaps)
        .await
        .unwrap();
    assert_eq!(flaps, 0);
}

/// A new connection whose first message is `bytes`; the outcome and the session state after.
async fn run_open_case(
    daemon: &Daemon,
    name: &str,
    bgp: SocketAddr,
    host: u8,
    bytes: &[u8],
    expect: &Expect,
) -> (Result<String, String>, State) {
    let socket = TcpSocket::new_v4().unwrap();
    socket
        .bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, NET, host)), 0))
        .unwrap();
    let mut stream = socket.connect(bgp).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    let (seen, notification) = read_raw(&mut stream, WAIT).await;
    let state = state_of(daemon, name).await;
    (open_outcome(expect, seen, notification), state)
}

fn open_outcome(
    expect: &Expect,
    seen: Vec<&'static str>,
    notification: Option<(u8, u8, Vec<u8>)>,
) -> Result<String, String> {
    match (expect, notification) {
        (Expect::Reset(code, subcode), Some((c, s, data))) => {
            let what = format!("NOTIFICATION {c}/{s} data {data:02x?}");
            if (c, s) == (*code, *subcode) {
                // RFC 4271 §6.2: the version subcode carries the largest supported version.
                if *code == 2 && *subcode == 1 && data != [0, 4] {
                    return Err(format!("{what}, data should be 00 04"));
                }
                Ok(what)
            } else {
                Err(what)
            }
        }
        (Expect::OpenAccepted, None) if seen.contains(&"KEEPALIVE") => {
            Ok(format!("accepted: {}", seen.join(", ")))
        }
        (_, n) => Err(format!("got {seen:?} {n:?}")),
    }
}

/// The victim: kumo, its client name, address, AS and prefix.
type VictimRef<'a> = (&'a Daemon, &'a str, u8, u32, IpNet);

/// An Established session that announced `prefix` (MED 7) and then sends
/// `bytes`; the outcome and the session state after.
async fn run_established_case(
    bgp: SocketAddr,
    (daemon, name, host, asn, prefix): VictimRef<'_>,
    bytes: &[u8],
    expect: &Expect,
    by: &mut Bystanders,
) -> (Result<String, String>, State) {
    let mut victim = Speaker::connect(&speaker(host, asn), bgp).await.unwrap();
    let outcome = established_outcome(&mut victim, prefix, asn, bytes, expect, by).await;
    (outcome, state_of(daemon, name).await)
}

async fn established_outcome(
    victim: &mut Speaker,
    prefix: IpNet,
    asn: u32,
    bytes: &[u8],
    expect: &Expect,
    by: &mut Bystanders,
) -> Result<String, String> {
    victim.announce(&attrs(asn, 7), None, &[prefix]).await.unwrap();
    let arrived = by
        .receiver
        .recv_until(WAIT, |s| get(s, prefix).is_some_and(|a| a.med == Some(7)))
        .await;
    if !matches!(arrived, Ok(true)) {
        return Err(format!("the victim's valid route did not arrive: {arrived:?}"));
    }
    victim.send_raw(bytes).await.unwrap();

    match expect {
        Expect::Reset(code, subcode) => {
            let got = victim.recv_until(WAIT, |_| false).await;
            let withdrawn = by.receiver.recv_until(WAIT, |s| get(s, prefix).is_none()).await;
            match got {
                Err(SpeakerError::Notification(n)) => {
                    let what = format!(
                        "NOTIFICATION {}/{}, routes withdrawn: {}",
                        n.code,
                        n.subcode,
                        matches!(withdrawn, Ok(true))
                    );
                    if (n.code, n.subcode) == (*code, *subcode) && matches!(withdrawn, Ok(true)) {
                        Ok(what)
                    } else {
                        Err(what)
                    }
                }
                other => Err(format!("no NOTIFICATION: {other:?}")),
            }
        }
        Expect::PeerClosed => {
            let got = victim.recv_until(WAIT, |_| false).await;
            let withdrawn = by.receiver.recv_until(WAIT, |s| get(s, prefix).is_none()).await;
            match got {
                Err(SpeakerError::Io(e))
                    if e.kind() == std::io::ErrorKind::UnexpectedEof && matches!(withdrawn, Ok(true)) =>
                {
                    Ok("closed without answering, routes withdrawn".to_string())
                }
                other => Err(format!("{other:?}, withdrawn {withdrawn:?}")),
            }
        }
        Expect::Withdraw | Expect::Accept(_) | Expect::Ignore => {
            let what = match expect {
                Expect::Withdraw => {
                    let gone = by.receiver.recv_until(WAIT, |s| get(s, prefix).is_none()).await;
                    if !matches!(gone, Ok(true)) {
                        return Err(format!("not withdrawn: {gone:?}"));
                    }
                    "treat-as-withdraw".to_string()
                }
                Expect::Accept(check) => {
                    // The malformed UPDATE carries no MED: wait for it to replace the MED 7 copy.
                    let replaced = by
                        .receiver
                        .recv_until(WAIT, |s| get(s, prefix).is_some_and(|a| a.med.is_none()))
                        .await;
                    if !matches!(replaced, Ok(true)) {
                        return Err(format!("UPDATE not accepted: {replaced:?}"));
                    }
                    if !check(get(&by.receiver, prefix).unwrap()) {
                        return Err(format!("accepted, but {:?}", get(&by.receiver, prefix)));
                    }
                    "accepted as expected".to_string()
                }
                _ => "ignored".to_string(),
            };
            // The session still works: a valid UPDATE after the bad one gets through,
            // and no NOTIFICATION came before it.
            victim.announce(&attrs(asn, 99), None, &[prefix]).await.unwrap();
            let after = by
                .receiver
                .recv_until(WAIT, |s| get(s, prefix).is_some_and(|a| a.med == Some(99)))
                .await;
            let quiet = victim.recv_until(Duration::from_millis(50), |_| false).await;
            match (after, quiet) {
                (Ok(true), Ok(false)) => Ok(format!("{what}; session up")),
                (after, quiet) => Err(format!("{what}, then {after:?} / {quiet:?}")),
            }
        }
        Expect::OpenAccepted => unreachable!("an OPEN-phase expectation"),
    }
}
