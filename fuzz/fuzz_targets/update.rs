//! decode_message on UPDATE bodies. The first input octet chooses the session
//! context (2/4-octet AS, ADD-PATH on/off, extended messages), the rest is the body.
#![no_main]

use kumo_wire::{Message, decode_message, msg_type};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let ctx = kumo_wire_fuzz::ctx(selector);
    let Some(message) = kumo_wire_fuzz::message(msg_type::UPDATE, body) else {
        return;
    };
    if let Ok(decoded) = decode_message(&message, &ctx) {
        let Message::Update(update) = decoded.message else {
            panic!("UPDATE decoded as another message")
        };
        // Decoded prefixes are normalised.
        for n in update.nlri.iter().chain(&update.withdrawn) {
            assert_eq!(n.prefix, n.prefix.trunc());
        }
    }
});
