//! decode_message on a NOTIFICATION whose body is the fuzz input.
#![no_main]

use kumo_wire::{CodecContext, decode_message, msg_type};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let Some(message) = kumo_wire_fuzz::message(msg_type::NOTIFICATION, body) else {
        return;
    };
    let _ = decode_message(&message, &CodecContext::default());
});
