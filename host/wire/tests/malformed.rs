//! Malformed input → expected outcome: a NOTIFICATION (session reset), or an
//! RFC 7606 treat-as-withdraw / attribute discard with the UPDATE still decoded.
#![allow(clippy::unwrap_used)]

mod common;

use common::{ctx2, ctx4, h, msg, update};
use kumo_wire::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Session reset with this NOTIFICATION code/subcode.
    Reset(u8, u8),
    /// Decoded; RFC 7606 treat-as-withdraw because of this attribute type.
    Withdraw(u8),
    /// Decoded; this attribute type discarded, the UPDATE otherwise kept.
    Discard(u8),
    /// Decoded without any error.
    Clean,
}
use Expect::*;

/// ORIGIN IGP, AS_PATH 65000, NEXT_HOP 192.0.2.1 (4-octet session encoding).
const BASE: &str = "40 01 01 00 | 40 02 06 02 01 0000fde8 | 40 03 04 c0000201";
const BASE_NO_ORIGIN: &str = "40 02 06 02 01 0000fde8 | 40 03 04 c0000201";
const BASE_NO_AS_PATH: &str = "40 01 01 00 | 40 03 04 c0000201";
const BASE_NO_NEXT_HOP: &str = "40 01 01 00 | 40 02 06 02 01 0000fde8";
const NLRI: &str = "18 c00002";
const V6_REACH: &str = "80 0e 1c 0002 01 10 20010db8000000000000000000000001 00 | 30 20010db80001";

/// An UPDATE with BASE attributes, `extra` appended, announcing 192.0.2.0/24.
fn with(extra: &str) -> Vec<u8> {
    update(&[], &h(&format!("{BASE} {extra}")), &h(NLRI))
}

/// An UPDATE with BASE attributes where `replace` stands for the attribute of `type_code`.
fn replacing(type_code: u8, replace: &str) -> Vec<u8> {
    let parts: Vec<&str> = BASE.split('|').collect();
    let mut attrs = String::new();
    for (i, part) in parts.iter().enumerate() {
        attrs.push_str(if i + 1 == usize::from(type_code) {
            replace
        } else {
            part
        });
        attrs.push(' ');
    }
    update(&[], &h(&attrs), &h(NLRI))
}

fn open(params: &str) -> Vec<u8> {
    let params = h(params);
    let mut body = h("04 fde8 005a c0000201");
    body.push(params.len() as u8);
    body.extend_from_slice(&params);
    msg(1, &body)
}

fn cases() -> Vec<(&'static str, CodecContext, Vec<u8>, Expect)> {
    let mut bad_marker = msg(4, &[]);
    bad_marker[0] = 0xfe;
    let mut short_length = msg(4, &[]);
    short_length[17] = 18;
    let mut long_length = with("");
    long_length[17] += 1;
    vec![
        // --- Header (RFC 4271 §6.1)
        ("marker not all ones", ctx4(), bad_marker, Reset(1, 1)),
        ("length below 19", ctx4(), short_length, Reset(1, 2)),
        (
            "length field beyond the message",
            ctx4(),
            long_length,
            Reset(1, 2),
        ),
        ("unknown message type", ctx4(), msg(7, &[]), Reset(1, 3)),
        ("KEEPALIVE with a body", ctx4(), msg(4, &[0]), Reset(1, 2)),
        ("NOTIFICATION without subcode", ctx4(), msg(3, &[6]), Reset(1, 2)),
        (
            "ROUTE-REFRESH of 24 octets",
            ctx4(),
            msg(5, &h("0001 00 01 00")),
            Reset(1, 2),
        ),
        (
            "OPEN shorter than 29",
            ctx4(),
            msg(1, &h("04 fde8 005a c0000201")),
            Reset(1, 2),
        ),
        // --- OPEN (RFC 4271 §6.2, RFC 5492)
        (
            "OPEN unknown optional parameter",
            ctx4(),
            open("01 02 0000"),
            Reset(2, 4),
        ),
        (
            "OPEN capability overruns parameter",
            ctx4(),
            open("02 04 41 04 0000"),
            Reset(2, 0),
        ),
        (
            "OPEN 4-octet AS capability of 3 octets",
            ctx4(),
            open("02 05 41 03 00fde8"),
            Reset(2, 0),
        ),
        (
            "OPEN MP capability of 3 octets",
            ctx4(),
            open("02 05 01 03 000101"),
            Reset(2, 0),
        ),
        (
            "OPEN route refresh with data",
            ctx4(),
            open("02 03 02 01 00"),
            Reset(2, 0),
        ),
        (
            "OPEN graceful restart odd length",
            ctx4(),
            open("02 05 40 03 007800"),
            Reset(2, 0),
        ),
        (
            "OPEN parameters length mismatch",
            ctx4(),
            msg(1, &h("04 fde8 005a c0000201 05 02 02 02 00")),
            Reset(2, 0),
        ),
        // --- UPDATE framing (RFC 4271 §6.3)
        (
            "withdrawn length overruns",
            ctx4(),
            msg(2, &h("0005 18 0a00 0000")),
            Reset(3, 1),
        ),
        (
            "attribute length overruns",
            ctx4(),
            msg(2, &h("0000 0010 40 01 01 00")),
            Reset(3, 1),
        ),
        (
            "body shorter than its two lengths",
            ctx4(),
            msg(2, &h("00 00 00 00")[..3]),
            Reset(1, 2),
        ),
        (
            "withdrawn prefix length 33",
            ctx4(),
            update(&h("21 0a000000 00"), &[], &[]),
            Reset(3, 10),
        ),
        (
            "NLRI prefix truncated",
            ctx4(),
            update(&[], &h(BASE), &h("18 c000")),
            Reset(3, 10),
        ),
        (
            "NLRI prefix length 40",
            ctx4(),
            update(&[], &h(BASE), &h("28 c0000201 01")),
            Reset(3, 10),
        ),
        // --- Per attribute (RFC 7606 §7)
        ("ORIGIN value 3", ctx4(), replacing(1, "40 01 01 03"), Withdraw(1)),
        (
            "ORIGIN length 2",
            ctx4(),
            replacing(1, "40 01 02 0000"),
            Withdraw(1),
        ),
        (
            "ORIGIN with the optional flag",
            ctx4(),
            replacing(1, "c0 01 01 00"),
            Withdraw(1),
        ),
        (
            "AS_PATH segment type 0",
            ctx4(),
            replacing(2, "40 02 06 00 01 0000fde8"),
            Withdraw(2),
        ),
        (
            "AS_PATH segment type 5",
            ctx4(),
            replacing(2, "40 02 06 05 01 0000fde8"),
            Withdraw(2),
        ),
        (
            "AS_PATH zero-length segment",
            ctx4(),
            replacing(2, "40 02 02 02 00"),
            Withdraw(2),
        ),
        (
            "AS_PATH segment overrun",
            ctx4(),
            replacing(2, "40 02 06 02 02 0000fde8"),
            Withdraw(2),
        ),
        (
            "AS_PATH 2-octet ASNs on a 4-octet session",
            ctx4(),
            replacing(2, "40 02 04 02 01 fde8"),
            Withdraw(2),
        ),
        (
            "NEXT_HOP of 5 octets",
            ctx4(),
            replacing(3, "40 03 05 c000020100"),
            Withdraw(3),
        ),
        (
            "NEXT_HOP marked optional",
            ctx4(),
            replacing(3, "80 03 04 c0000201"),
            Withdraw(3),
        ),
        ("MED of 2 octets", ctx4(), with("80 04 02 0001"), Withdraw(4)),
        (
            "MED marked transitive",
            ctx4(),
            with("c0 04 04 00000001"),
            Withdraw(4),
        ),
        (
            "LOCAL_PREF of 3 octets",
            ctx4(),
            with("40 05 03 000001"),
            Discard(5),
        ),
        (
            "ATOMIC_AGGREGATE with a value",
            ctx4(),
            with("40 06 01 00"),
            Discard(6),
        ),
        (
            "AGGREGATOR of 7 octets",
            ctx4(),
            with("c0 07 07 0000fde8 c00002"),
            Discard(7),
        ),
        (
            "AGGREGATOR 4-octet form on a 2-octet session",
            ctx2(),
            update(
                &[],
                &h("40 01 01 00 | 40 02 04 02 01 fde8 | 40 03 04 c0000201 | c0 07 08 0000fde8 c0000201"),
                &h(NLRI),
            ),
            Discard(7),
        ),
        (
            "COMMUNITIES of 5 octets",
            ctx4(),
            with("c0 08 05 0000000100"),
            Withdraw(8),
        ),
        ("COMMUNITIES empty", ctx4(), with("c0 08 00"), Withdraw(8)),
        (
            "EXTENDED_COMMUNITIES of 7 octets",
            ctx4(),
            with("c0 10 07 00020000000001"),
            Withdraw(16),
        ),
        (
            "LARGE_COMMUNITIES of 11 octets",
            ctx4(),
            with("c0 20 0b 0000000100000002000000"),
            Withdraw(32),
        ),
        (
            "LARGE_COMMUNITIES non-transitive",
            ctx4(),
            with("80 20 0c 000000010000000200000003"),
            Withdraw(32),
        ),
        ("OTC of 3 octets", ctx4(), with("c0 23 03 00fde8"), Withdraw(35)),
        (
            "AS4_PATH malformed on a 2-octet session",
            ctx2(),
            update(
                &[],
                &h("40 01 01 00 | 40 02 04 02 01 5ba0 | 40 03 04 c0000201 | c0 11 06 02 02 00010001"),
                &h(NLRI),
            ),
            Discard(17),
        ),
        (
            "AS4_PATH with a confederation segment",
            ctx2(),
            update(
                &[],
                &h("40 01 01 00 | 40 02 04 02 01 5ba0 | 40 03 04 c0000201 | c0 11 06 03 01 00010001"),
                &h(NLRI),
            ),
            Discard(17),
        ),
        (
            "AS4_AGGREGATOR of 6 octets",
            ctx2(),
            update(
                &[],
                &h("40 01 01 00 | 40 02 04 02 01 fde8 | 40 03 04 c0000201 | c0 12 06 fde8 c0000201"),
                &h(NLRI),
            ),
            Discard(18),
        ),
        (
            "AS4_PATH on a 4-octet session",
            ctx4(),
            with("c0 11 06 02 01 00010001"),
            Discard(17),
        ),
        // --- List-level (RFC 7606 §3, §4)
        ("repeated ORIGIN", ctx4(), with("40 01 01 02"), Discard(1)),
        (
            "repeated MP_REACH_NLRI",
            ctx4(),
            update(
                &[],
                &h(&format!("{V6_REACH} | {V6_REACH} | {BASE_NO_NEXT_HOP}")),
                &[],
            ),
            Reset(3, 1),
        ),
        (
            "repeated MP_UNREACH_NLRI",
            ctx4(),
            update(&[], &h("80 0f 03 0002 01 | 80 0f 03 0002 01"), &[]),
            Reset(3, 1),
        ),
        (
            "last attribute overruns the list",
            ctx4(),
            with("c0 08 08 00000001"),
            Withdraw(8),
        ),
        (
            "two octets left at the end of the list",
            ctx4(),
            with("c0 08"),
            Withdraw(8),
        ),
        (
            "MP_REACH_NLRI overruns the list",
            ctx4(),
            update(
                &[],
                &h("80 0e 30 0002 01 10 20010db8000000000000000000000001 00"),
                &[],
            ),
            Reset(3, 1),
        ),
        (
            "missing ORIGIN",
            ctx4(),
            update(&[], &h(BASE_NO_ORIGIN), &h(NLRI)),
            Withdraw(1),
        ),
        (
            "missing AS_PATH",
            ctx4(),
            update(&[], &h(BASE_NO_AS_PATH), &h(NLRI)),
            Withdraw(2),
        ),
        (
            "missing NEXT_HOP with IPv4 NLRI",
            ctx4(),
            update(&[], &h(BASE_NO_NEXT_HOP), &h(NLRI)),
            Withdraw(3),
        ),
        (
            "missing ORIGIN with MP_REACH NLRI",
            ctx4(),
            update(&[], &h(&format!("{V6_REACH} | 40 02 06 02 01 0000fde8")), &[]),
            Withdraw(1),
        ),
        (
            "no NEXT_HOP needed for MP_REACH only",
            ctx4(),
            update(&[], &h(&format!("{V6_REACH} | {BASE_NO_NEXT_HOP}")), &[]),
            Clean,
        ),
        (
            "attributes without NLRI need no ORIGIN",
            ctx4(),
            update(&[], &h("c0 08 04 00000001"), &[]),
            Clean,
        ),
        (
            "unrecognised well-known attribute",
            ctx4(),
            with("40 32 02 abcd"),
            Reset(3, 2),
        ),
        (
            "unknown optional non-transitive is dropped",
            ctx4(),
            with("80 63 02 abcd"),
            Clean,
        ),
        // --- MP_REACH_NLRI / MP_UNREACH_NLRI (RFC 7606 §5.3, §7.11)
        (
            "MP_REACH next hop of 5 octets",
            ctx4(),
            update(
                &[],
                &h(&format!(
                    "80 0e 0e 0001 01 05 c000020100 00 18 c00002 | {BASE_NO_NEXT_HOP}"
                )),
                &[],
            ),
            Reset(3, 9),
        ),
        (
            "MP_REACH IPv6 with a 4-octet next hop",
            ctx4(),
            update(
                &[],
                &h(&format!(
                    "80 0e 0a 0002 01 04 c0000201 00 00 | {BASE_NO_NEXT_HOP}"
                )),
                &[],
            ),
            Reset(3, 9),
        ),
        (
            "MP_REACH next hop overruns",
            ctx4(),
            update(&[], &h("80 0e 06 0002 01 10 2001 00"), &[]),
            Reset(3, 9),
        ),
        (
            "MP_REACH NLRI overrun",
            ctx4(),
            update(
                &[],
                &h(&format!(
                    "80 0e 1a 0002 01 10 20010db8000000000000000000000001 00 | 30 20010db800 | {BASE_NO_NEXT_HOP}"
                )),
                &[],
            ),
            Reset(3, 10),
        ),
        (
            "MP_REACH IPv6 prefix length 129",
            ctx4(),
            update(
                &[],
                &h(&format!(
                    "80 0e 16 0002 01 10 20010db8000000000000000000000001 00 | 81 | {BASE_NO_NEXT_HOP}"
                )),
                &[],
            ),
            Reset(3, 10),
        ),
        (
            "MP_REACH with transitive flag",
            ctx4(),
            update(
                &[],
                &h(&format!(
                    "c0 0e 1c 0002 01 10 20010db8000000000000000000000001 00 | 30 20010db80001 | {BASE_NO_NEXT_HOP}"
                )),
                &[],
            ),
            Reset(3, 4),
        ),
        (
            "MP_UNREACH of 2 octets",
            ctx4(),
            update(&[], &h("80 0f 02 0002"), &[]),
            Reset(3, 9),
        ),
        (
            "MP_UNREACH IPv4 prefix length 33",
            ctx4(),
            update(&[], &h("80 0f 05 0001 01 21 0a"), &[]),
            Reset(3, 10),
        ),
        (
            "MP_REACH of an unsupported family",
            ctx4(),
            update(
                &[],
                &h(&format!(
                    "80 0e 0c 0019 46 04 c0000201 00 010203 | {BASE_NO_NEXT_HOP}"
                )),
                &[],
            ),
            Discard(14),
        ),
    ]
}

#[test]
fn malformed_table() {
    let cases = cases();
    assert!(cases.len() >= 30);
    for (name, ctx, bytes, expect) in cases {
        // Framing first, as the session does; then decoding.
        let outcome = match frame(&bytes, ctx.max_message_len()) {
            Err(n) => Err(n),
            // The length field promises more than there is: only decode_message can tell.
            Ok(None) => decode_message(&bytes, &ctx),
            Ok(Some(f)) => decode_message(f.message, &ctx),
        };
        match (expect, outcome) {
            (Reset(code, subcode), Err(n)) => {
                assert_eq!(
                    (n.code, n.subcode),
                    (code, subcode),
                    "{name}: got {}",
                    n.describe()
                )
            }
            (Reset(..), Ok(d)) => panic!("{name}: expected a session reset, decoded {d:?}"),
            (_, Err(n)) => panic!("{name}: unexpected session reset {}", n.describe()),
            (Withdraw(type_code), Ok(d)) => {
                assert!(
                    d.treat_as_withdraw(),
                    "{name}: not treat-as-withdraw: {:?}",
                    d.errors
                );
                assert!(
                    d.errors
                        .iter()
                        .any(|e| e.type_code == type_code && e.action == AttrErrorAction::TreatAsWithdraw),
                    "{name}: {:?}",
                    d.errors
                );
            }
            (Discard(type_code), Ok(d)) => {
                assert!(
                    !d.treat_as_withdraw(),
                    "{name}: unexpected treat-as-withdraw {:?}",
                    d.errors
                );
                assert!(
                    d.errors
                        .iter()
                        .any(|e| e.type_code == type_code && e.action == AttrErrorAction::AttributeDiscard),
                    "{name}: {:?}",
                    d.errors
                );
            }
            (Clean, Ok(d)) => assert_eq!(d.errors, vec![], "{name}"),
        }
    }
}

fn decode_update(bytes: &[u8], ctx: &CodecContext) -> (Update, Vec<AttrError>) {
    let d = decode_message(bytes, ctx).unwrap();
    let Message::Update(u) = d.message else {
        panic!("not an UPDATE")
    };
    (*u, d.errors)
}

#[test]
fn discarded_attributes_are_absent_and_the_rest_is_kept() {
    let (u, _) = decode_update(&with("40 05 03 000001 | c0 08 04 00000001"), &ctx4());
    assert_eq!(u.attributes.local_pref, None);
    assert_eq!(u.attributes.communities, vec![1]);
    assert_eq!(u.nlri.len(), 1);
    // The first of repeated attributes wins.
    let (u, _) = decode_update(&with("40 01 01 02"), &ctx4());
    assert_eq!(u.attributes.origin, Some(Origin::Igp));
}

#[test]
fn treat_as_withdraw_still_returns_the_prefixes() {
    let (u, errors) = decode_update(&replacing(1, "40 01 01 07"), &ctx4());
    assert_eq!(errors.len(), 1);
    assert_eq!(
        u.nlri,
        vec![Nlri {
            prefix: "192.0.2.0/24".parse().unwrap(),
            path_id: None
        }]
    );
    // Attributes after an overrun are lost, the NLRI field is still found.
    let (u, _) = decode_update(&with("c0 08 08 00000001"), &ctx4());
    assert_eq!(u.nlri.len(), 1);
}

#[test]
fn unrecognised_well_known_attribute_is_returned_in_the_notification() {
    let n = decode_message(&with("40 32 02 abcd"), &ctx4()).unwrap_err();
    assert_eq!(n.data, h("40 32 02 abcd"));
}

#[test]
fn unknown_optional_attributes() {
    let (u, errors) = decode_update(&with("80 63 02 abcd | d0 64 0003 010203"), &ctx4());
    assert!(errors.is_empty());
    // Non-transitive dropped; transitive kept without the Extended Length bit.
    assert_eq!(
        u.attributes.unknown,
        vec![RawAttribute {
            flags: 0xc0,
            type_code: 100,
            value: vec![1, 2, 3]
        }]
    );
}

#[test]
fn as4_reconciliation_rules() {
    let base2 = "40 01 01 00 | 40 03 04 c0000201";
    // AGGREGATOR with a real 2-octet ASN: AS4_AGGREGATOR and AS4_PATH are stale.
    let bytes = update(
        &[],
        &h(&format!(
            "{base2} | 40 02 06 02 02 fde8 5ba0 | c0 07 06 fde9 c0000201 \
                     | c0 11 06 02 01 00010001 | c0 12 08 00010002 c0000201"
        )),
        &h(NLRI),
    );
    let (u, errors) = decode_update(&bytes, &ctx2());
    assert!(errors.is_empty());
    assert_eq!(u.attributes.aggregator.unwrap().asn, 65001);
    assert_eq!(
        u.attributes.as_path.unwrap().to_segments(),
        vec![AsPathSegment::Sequence(vec![65000, 23456])]
    );
    // AS4_PATH longer than AS_PATH is ignored.
    let bytes = update(
        &[],
        &h(&format!(
            "{base2} | 40 02 04 02 01 5ba0 | c0 11 0a 02 02 00010001 00010002"
        )),
        &h(NLRI),
    );
    let (u, _) = decode_update(&bytes, &ctx2());
    assert_eq!(
        u.attributes.as_path.unwrap().to_segments(),
        vec![AsPathSegment::Sequence(vec![23456])]
    );
    // AS_SET counts as one ASN when comparing lengths.
    let bytes = update(
        &[],
        &h(&format!(
            "{base2} | 40 02 0a 02 01 fde8 01 02 5ba0 5ba0 | c0 11 0a 01 02 00010001 00010002"
        )),
        &h(NLRI),
    );
    let (u, _) = decode_update(&bytes, &ctx2());
    assert_eq!(
        u.attributes.as_path.unwrap().to_segments(),
        vec![
            AsPathSegment::Sequence(vec![65000]),
            AsPathSegment::Set(vec![65537, 65538])
        ]
    );
}

#[test]
fn arbitrary_truncations_of_a_valid_update_never_panic() {
    let full = with("80 04 04 00000001 | c0 08 04 00000001 | c0 20 0c 000000010000000200000003");
    for cut in 0..full.len() {
        let mut m = full[..cut].to_vec();
        if m.len() >= 18 {
            m[16..18].copy_from_slice(&(cut as u16).to_be_bytes());
        }
        let _ = decode_message(&m, &ctx4());
        let _ = decode_message(&m, &ctx2());
    }
}
